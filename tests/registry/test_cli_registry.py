"""The registry through the command line: synth → import → export reproduces the tables; errors exit 2
with FILE:ROW:COLUMN lines and never a traceback."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from openhsct.cli import app
from openhsct.registry import models as m
from tests.registry.bundle_factory import small_bundle, write

pytestmark = pytest.mark.django_db(transaction=True)
runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_help_lists_the_commands():
    result = _run("--help")
    assert result.exit_code == 0
    for command in ("synth", "import", "export", "demo", "serve", "dictionary"):
        assert command in result.output


def test_synth_import_export_reproduces_the_tables(tmp_path):
    bundle, out = tmp_path / "bundle", tmp_path / "out"
    assert _run("synth", "--centres", "2", "--patients", "120", "--seed", "5", "--out", str(bundle)).exit_code == 0
    result = _run("import", str(bundle))
    assert result.exit_code == 0, result.output
    assert m.Patient.objects.count() == 120
    assert _run("export", "--out", str(out)).exit_code == 0
    files = sorted(p.name for p in bundle.glob("*.csv"))
    assert files == sorted(p.name for p in out.glob("*.csv"))
    for name in files:
        a = pd.read_csv(bundle / name, dtype=str, keep_default_na=False)
        b = pd.read_csv(out / name, dtype=str, keep_default_na=False)
        pd.testing.assert_frame_equal(a, b, obj=name)
    again = _run("import", str(out))
    assert again.exit_code == 0 and m.Patient.objects.count() == 120
    assert m.AuditEvent.objects.filter(action="export").count() == 1
    imports = m.AuditEvent.objects.filter(action="import")
    assert imports.count() == 4  # two imports, each recorded in both centres' histories
    assert sorted(set(imports.values_list("centre_code", flat=True))) == ["SYN01", "SYN02"]


def test_parquet_export_imports_back(tmp_path):
    bundle, pq = tmp_path / "bundle", tmp_path / "pq"
    _run("synth", "--centres", "1", "--patients", "30", "--seed", "2", "--out", str(bundle))
    _run("import", str(bundle))
    assert _run("export", "--out", str(pq), "--format", "parquet").exit_code == 0
    assert (pq / "edss_visits.parquet").exists()
    dry = _run("import", "--dry-run", str(pq))
    assert dry.exit_code == 0, dry.output


def test_bad_bundle_exits_2_lists_every_problem_and_writes_nothing(tmp_path):
    bundle = small_bundle()
    bundle["edss_visits"][0]["edss"] = "12"
    bundle["adverse_events"][0]["grade"] = "7"
    result = runner.invoke(app, ["import", str(write(bundle, tmp_path / "bad"))])
    assert result.exit_code == 2
    text = result.output
    assert "edss_visits.csv:2:edss:" in text and "adverse_events.csv:2:grade:" in text
    assert "Traceback" not in text
    assert m.Patient.objects.count() == 0


def test_missing_folder_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["import", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "no such folder" in " ".join(result.output.split())
