"""Exports are safe to open: no text cell starts a formula, and import of an export is the identity."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openhsct.registry.csvsafe import (
    TRIGGERS,
    csv_response,
    csv_text,
    escape_cell,
    unescape_cell,
    unescape_text,
)
from openhsct.registry.formats import split_csv

PIECES = st.sampled_from(["=", "+", "-", "@", "\t", "\r", "\n", "'", ",", '"', ";", " ", "a", "1", "é", "漢",
                          "\u202e", "=cmd|' /C calc'!A0", "HYPERLINK(", "\u00a0", "0"])
TEXT = st.lists(st.one_of(PIECES, st.text(max_size=4)), max_size=8).map("".join)


def _parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@settings(max_examples=300, deadline=None)
@given(values=st.lists(TEXT, min_size=1, max_size=6), numbers=st.lists(st.floats(allow_nan=False,
       allow_infinity=False, width=32), min_size=1, max_size=6))
def test_no_text_cell_starts_with_a_trigger_and_the_round_trip_is_exact(values, numbers):
    n = min(len(values), len(numbers))
    frame = pd.DataFrame({"note": values[:n], "dose": numbers[:n]})
    text = csv_text(frame, numeric=["dose"])
    rows = _parse(text)
    assert rows[0] == ["note", "dose"]
    for (note, dose), value, number in zip(rows[1:], values, numbers, strict=False):
        assert not note.startswith(TRIGGERS[:-1]) or note == ""  # starts with ' at most
        assert unescape_cell(note) == value  # the escape is undone exactly
        assert float(dose) == pytest.approx(float(number)) and (number >= 0 or dose.startswith("-"))


@given(value=TEXT)
def test_escape_adds_one_quote_exactly_for_triggers(value):
    escaped = escape_cell(value)
    assert escaped == ("'" + value if value[:1] in TRIGGERS and value else value)
    assert unescape_cell(escaped) == value


def test_owasp_worked_examples():
    """OWASP "CSV Injection": ``=1+2";=1+2`` and ``=1+2'" ;,=1+2`` become quoted, escaped cells."""
    text = csv_text(pd.DataFrame({"c": ['=1+2";=1+2', "=1+2'\" ;,=1+2"]}))
    assert text.splitlines()[1:] == ['"\'=1+2"";=1+2"', '"\'=1+2\'"" ;,=1+2"']
    assert [r[0] for r in _parse(text)[1:]] == ["'=1+2\";=1+2", "'=1+2'\" ;,=1+2"]


def test_strict_reader_reads_what_the_writer_writes():
    frame = pd.DataFrame({"a": ["=x", 'q"uote', "plain", "-1"], "b": ["1", "2", "3", "4"]})
    split = split_csv(csv_text(frame, numeric=[]))
    assert not split.faults
    assert [unescape_cell(r[0]) for _, r in split.records] == list(frame["a"])


def test_import_removes_exactly_one_quote_from_text():
    s = pd.Series(["'=1", "''x", "plain", "'  spaced"])
    assert list(unescape_text(s)) == ["=1", "'x", "plain", "spaced"]


def test_download_headers():
    response = csv_response("a\n1\n", "table.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="table.csv"'
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_exchange_export_escapes_formula_text_and_reimports_it_exactly(tmp_path):
    from openhsct.registry import models as m
    from openhsct.registry.exchange import tables
    from openhsct.registry.exporter import export_bundle
    from openhsct.registry.importer import import_bundle
    from tests.registry.bundle_factory import small_bundle, write

    bundle = small_bundle()
    bundle["eligibility"][1]["reason"] = "=HYPERLINK(\"http://example.org\",\"x\")"
    bundle["deaths"][0]["cause"] = "+cmd|' /C calc'!A0"
    import_bundle(write(bundle, tmp_path / "in"))
    export_bundle(tmp_path / "out")
    for f in (tmp_path / "out").glob("*.csv"):
        for row in _parse(f.read_text(encoding="utf-8"))[1:]:
            for cell in row:
                assert not cell.startswith(TRIGGERS[:-1]) or cell.lstrip("-").replace(".", "").isdigit()
    assert "'=HYPERLINK" in (tmp_path / "out" / "eligibility.csv").read_text(encoding="utf-8")
    model = tables()["eligibility"].model
    stored = model.objects.get(patient__patient_code="P002").reason
    import_bundle(tmp_path / "out")  # unchanged: nothing updated
    assert model.objects.get(patient__patient_code="P002").reason == stored == bundle["eligibility"][1]["reason"]
    assert m.AuditEvent.objects.filter(action="update").count() == 0


#: Files that write CSV other than through the one writer, each with its reason.
OTHER_CSV_WRITERS = {
    "releases/cut.py": "hashes tables for a release's digest; nothing is written for people",
    "interop/redcap.py": "REDCap's Data Import Tool reads raw values (docs/redcap.md)",
    "commands/audit.py": "streams millions of audit rows, each text cell through escape_cell",
    "registry/synth.py": "synthetic tables hold no text that needs the escape (checked below), written fast",
}


def test_every_csv_file_is_written_by_the_one_writer():
    """No module of the package writes CSV with pandas' ``to_csv`` or Python's ``csv.writer`` except
    ``csvsafe.py`` itself and the files listed, each with its reason; a new one fails here."""
    from pathlib import Path

    import openhsct

    root = Path(openhsct.__file__).parent
    found = {str(p.relative_to(root)) for p in root.rglob("*.py")
             if any(s in p.read_text(encoding="utf-8") for s in (".to_csv(", "csv.writer(", "csv.DictWriter("))}
    assert found - {"registry/csvsafe.py"} == set(OTHER_CSV_WRITERS), sorted(found)


def test_synthetic_bundles_hold_no_text_that_needs_the_escape(tmp_path):
    """``openhsct synth`` writes its CSV files without the escape (for speed): that is exact only while
    no cell it generates begins with a trigger or a quote, which this checks on a generated bundle."""
    from openhsct.registry.synth import generate, write_bundle

    for f in write_bundle(generate(centres=3, patients=300, seed=5), tmp_path):
        for row in _parse(f.read_text(encoding="utf-8"))[1:]:
            assert not any(cell.startswith(TRIGGERS) for cell in row), (f.name, row)
