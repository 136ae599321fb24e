"""The exchange formats through the command line: export/import --format, redcap dictionary, clear errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from openhsct.cli import app
from tests.registry.bundle_factory import small_bundle, write

pytestmark = pytest.mark.django_db(transaction=True)
runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_fhir_redcap_ebmt_through_the_cli(tmp_path):
    assert _run("import", str(write(small_bundle(), tmp_path / "in"))).exit_code == 0
    r = _run("export", "--format", "fhir", "--out", str(tmp_path / "fhir"))
    assert r.exit_code == 0 and "FHIR R4" in r.output
    r = _run("export", "--format", "ebmt", "--out", str(tmp_path / "ebmt.csv"))
    assert r.exit_code == 0 and "not certified" in r.output and (tmp_path / "ebmt.csv").exists()
    assert _run("export", "--format", "redcap", "--out", str(tmp_path / "rc.csv")).exit_code == 0
    assert _run("redcap", "dictionary", "--out", str(tmp_path / "dd.csv")).exit_code == 0
    r = _run("import", "--format", "fhir", "--dry-run", str(tmp_path / "fhir"))
    assert r.exit_code == 0, r.output
    r = _run("import", "--format", "redcap", "--dry-run", str(tmp_path / "rc.csv"))
    assert r.exit_code == 0, r.output


def test_unknown_format_is_a_clear_error(tmp_path):
    r = runner.invoke(app, ["export", "--format", "xml", "--out", str(tmp_path / "x")])
    assert r.exit_code == 1 and "use one of csv, parquet, fhir, ebmt, redcap" in r.output
    r = runner.invoke(app, ["import", "--format", "hl7", str(tmp_path)])
    assert r.exit_code == 1 and "Traceback" not in r.output
