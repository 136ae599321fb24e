"""``openhsct progression``: CSV in, pymsprog-shaped events CSV out, errors as FILE:ROW:COLUMN lines."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from openhsct.cli import app

VISITS = """id,date,EDSS
A,2020-01-01,2.0
A,2020-04-01,3.0
A,2020-07-01,3.0
A,2020-10-01,3.0
B,2020-01-01,4.0
B,2020-04-01,4.0
B,2020-07-01,4.0
C,2020-01-01,3.0
C,2020-03-01,4.5
C,2020-06-01,4.5
"""
RELAPSES = """id,date
C,2020-02-15
"""


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_writes_events_like_pymsprog_results(tmp_path):
    visits, relapses = _write(tmp_path, "v.csv", VISITS), _write(tmp_path, "r.csv", RELAPSES)
    out = tmp_path / "events.csv"
    result = CliRunner().invoke(
        app,
        [
            "progression",
            str(visits),
            "--relapses",
            str(relapses),
            "--out",
            str(out),
            "--event",
            "multiple",
            "--raw-pira",
        ],
    )
    assert result.exit_code == 0, result.output
    events = pd.read_csv(out, keep_default_na=False)  # blanks stay "" (so bl2event reads as text)
    assert list(events.columns) == ["id", "nevent", "event_type", "CDW_type", "time2event", "bl2event"]
    # A: 2 -> 3 at day 91, confirmed 91 days later, no relapse: PIRA. B: stable (nevent 0, time2event = follow-up).
    # C: 3 -> 4.5 at day 60, 15 days after a relapse (within relapse_assoc = 90): RAW.
    assert events.to_dict("records") == [
        {"id": "A", "nevent": 1, "event_type": "CDW", "CDW_type": "PIRA", "time2event": 91, "bl2event": "91"},
        {"id": "B", "nevent": 0, "event_type": "", "CDW_type": "", "time2event": 182, "bl2event": ""},
        {"id": "C", "nevent": 1, "event_type": "CDW", "CDW_type": "RAW", "time2event": 60, "bl2event": "60"},
    ]
    assert "subjects" in result.output and "PIRA events" in result.output


def test_without_raw_pira_has_no_cdw_type(tmp_path):
    out = tmp_path / "events.csv"
    result = CliRunner().invoke(
        app,
        [
            "progression",
            str(_write(tmp_path, "v.csv", VISITS)),
            "--out",
            str(out),
            "--conf-days",
            "168",
            "--conf-tol-days",
            "7",
            "--conf-tol-days",
            "inf",
        ],
    )
    assert result.exit_code == 0, result.output
    events = pd.read_csv(out)
    assert list(events.columns) == ["id", "nevent", "event_type", "time2event", "bl2event"]
    # With 168-day confirmation A's worsening (day 91) is confirmed at day 274; C's at day 153 is too early.
    assert events.loc[events["id"] == "A", "event_type"].tolist() == ["CDW"]
    assert events.loc[events["id"] == "C", "nevent"].tolist() == [0]


def test_bad_rows_are_reported_by_file_row_column(tmp_path):
    visits = _write(tmp_path, "v.csv", "id,date,EDSS\nA,2020-01-01,2\nA,2020-13-01,3\n,2020-02-01,11\n")
    result = CliRunner().invoke(app, ["progression", str(visits), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert f"{visits}:3:date: ISO date YYYY-MM-DD ('2020-13-01')" in result.output
    assert f"{visits}:4:id: non-empty subject id ('')" in result.output
    assert f"{visits}:4:EDSS: EDSS between 0 and 10 ('11')" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o.csv").exists()


def test_unsupported_argument_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "progression",
            str(_write(tmp_path, "v.csv", VISITS)),
            "--out",
            str(tmp_path / "o.csv"),
            "--impute-last-visit",
            "0.5",
        ],
    )
    assert result.exit_code == 2
    assert "impute_last_visit" in result.output


def test_missing_column(tmp_path):
    visits = _write(tmp_path, "v.csv", "id,day,EDSS\nA,2020-01-01,2\n")
    result = CliRunner().invoke(app, ["progression", str(visits), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert f"{visits}:1:date: required column (missing)" in result.output


def test_the_events_file_is_safe_to_open_in_a_spreadsheet(tmp_path):
    """An id that begins with a formula character is written with one leading ``'`` (the project's one
    CSV writer); the numbers stay plain numbers."""
    visits = _write(tmp_path, "v.csv", VISITS.replace("\nA,", "\n=A,"))
    out = tmp_path / "events.csv"
    result = CliRunner().invoke(app, ["progression", str(visits), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith("'=A,1,CDW,91,") and not any(line.startswith("=") for line in lines)
