"""``openhsct outcomes`` against a small imported registry."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from openhsct.cli import app
from openhsct.registry.importer import import_bundle
from tests.registry.bundle_factory import small_bundle, write

pytestmark = pytest.mark.django_db(transaction=True)
runner = CliRunner()


@pytest.fixture
def registry(tmp_path):
    import_bundle(write(small_bundle(), tmp_path / "bundle"))


def test_centre_summary_prints_and_writes_json(registry, tmp_path):
    out = tmp_path / "nrt.json"
    result = runner.invoke(app, ["outcomes", "--centre", "NRT", "--json", str(out), "--currency", "GBP"])
    assert result.exit_code == 0, result.output
    assert "Northwind Synthetic Centre" in result.output and "Overall" in result.output, result.output
    summary = json.loads(out.read_text())
    assert summary["n_patients"] == 2 and summary["centre"]["synthetic"] is True
    # P002 died on day 40 of a transplant-related infection: TRM 1 of 2 by day 100.
    assert summary["trm"]["deaths"] == 1 and summary["trm"]["day100"]["estimate"] == pytest.approx(0.5)
    assert summary["costs"]["currency"] == "GBP" and summary["costs"]["n_patients"] == 2
    assert "P001" not in out.read_text() and "P002" not in out.read_text()


def test_all_centres(registry, tmp_path):
    out = tmp_path / "all.json"
    result = runner.invoke(app, ["outcomes", "--all", "--json", str(out), "--as-of", "2024-06-30"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["all_centres"]["as_of"] == "2024-06-30"
    assert set(data["centres"]) == {"NRT"} and data["comparison"][0]["n"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--centre", "XXX"], "no centre 'XXX'"),
        ([], "either --centre CODE or --all"),
        (["--centre", "NRT", "--currency", "ABC"], "unknown currency"),
        (["--centre", "NRT", "--as-of", "not-a-date"], "not a date"),
        (["--centre", "NRT", "--trm", "other"], "'other' is not one of"),
        (["--centre", "NRT", "--definition", "x"], "'x' is not one of"),
    ],
)
def test_user_errors_exit_2_without_traceback(registry, args, message):
    result = runner.invoke(app, ["outcomes", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
