"""``openhsct compare-treatments`` and the evidence page's registry comparison, on an imported synthetic
registry with DMT-treated comparators."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from openhsct.cli import app
from openhsct.registry import synth
from openhsct.registry.importer import import_bundle
from openhsct.registry.synth_comparators import add_comparators

pytestmark = pytest.mark.django_db(transaction=True)
runner = CliRunner()


@pytest.fixture
def registry(tmp_path):
    folder = tmp_path / "bundle"
    synth.write_bundle(add_comparators(synth.generate(centres=3, patients=200, seed=5), 200, 5), folder)
    import_bundle(folder)


def test_compare_treatments_prints_balance_and_results(registry, tmp_path):
    out, report = tmp_path / "c.json", tmp_path / "c.html"
    result = runner.invoke(app, ["compare-treatments", "--comparator", "natalizumab", "--json", str(out),
                                 "--report", str(report)])
    assert result.exit_code == 0, result.output
    for text in ("Balance", "Hazard ratios", "annualised relapse rate", "E-value", "no unmeasured confounding"):
        assert text in result.output, text
    data = json.loads(out.read_text())
    assert data["cohort"]["n_treated"] > 0 and data["cohort"]["n_control"] >= 10
    assert data["effects"]["cdw"]["matched"]["estimate"] > 0
    html = report.read_text()
    assert "MIST" in html and "<svg" in html and "What this comparison assumes" in html
    # User errors exit 2 with a message, never a traceback (one registry import for all of them).
    for args, message in (
        (["--country", "XXX"], "no comparison possible"),
        (["--centre", "SYN01", "--country", "GBR"], "not both"),
        (["--centre", "NOPE"], "no centre 'NOPE'"),
        (["--comparator", "aspirin"], "'aspirin' is not one of"),
    ):
        result = runner.invoke(app, ["compare-treatments", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output, args


def test_evidence_page_shows_the_registry_beside_mist_and_published(registry, client):
    from tests.portal.registry_builder import clear_releases, publish_release

    clear_releases()
    publish_release()  # the public pages show the comparison as built into the published release
    html = client.get("/evidence/?comparator=natalizumab").content.decode()
    assert "This registry (matched)" in html and "This registry (weighted)" in html
    assert "0.07" in html and "Burt RK" in html  # MIST
    assert "Kalincik" in html  # the published observational comparisons
    assert "no unmeasured confounding" in html.lower() and "positivity" in html.lower()
    html = client.get("/evidence/?comparator=alemtuzumab").content.decode()
    assert "aHSCT compared with alemtuzumab" in html
    assert "not shown" in html
