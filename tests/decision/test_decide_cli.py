"""``openhsct decide`` on a small synthetic registry: the prediction, the cost-effectiveness table, the
CEAC/EVPI summary, the unverified inputs and the note; ``--json`` and ``--report``; the refusal; user errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from openhsct.cli import app

runner = CliRunner()
PERSON_ARGS = ["--sex", "F", "--phenotype", "RRMS", "--edss", "3.5", "--duration", "6", "--relapses", "2",
               "--gd", "3", "--prior-dmts", "2"]
FAST = ["--patients", "1000", "--comparator", "ocrelizumab", "--currency", "RUB",
        "--rate", "EUR=100", "--rate", "GBP=118"]


def _decide(*args):
    return runner.invoke(app, ["decide", *args])


def test_decide_prints_everything_and_writes_json_and_report(decide_registry, db, tmp_path):
    from tests.decision.conftest import release_prediction

    out, html = tmp_path / "aid.json", tmp_path / "aid.html"
    result = _decide("--age", "34", *PERSON_ARGS, *FAST, "--price", "1500000", "--psa", "12",
                     "--psa-patients", "40", "--workers", "1", "--wtp", "1000000", "--wtp", "3000000",
                     "--json", str(out), "--report", str(html))
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # Rich wraps lines at the terminal's width
    for needle in (f"Prediction model of data release {decide_registry.release}", "Individual prediction from the registry", "Progression-free at 5 years", "Death by day 100",
                   "aHSCT against ocrelizumab", "ICER", "Net monetary benefit", "CEAC and EVPI from 12 PSA samples",
                   "not verified against their source", "Not medical advice", "1 EUR = 100 RUB"):
        assert needle in text, needle
    data = json.loads(out.read_text())
    person = {"age_years": 34, "sex": "F", "phenotype": "RRMS", "edss": 3.5, "disease_duration_years": 6,
              "relapses_12m": 2, "gd_lesions": 3, "prior_dmts": 2}
    expected = release_prediction(person)
    assert data["prediction"]["pfs_5y"] == pytest.approx(expected["pfs_5y"], rel=1e-12)
    assert data["prediction"]["trm"] == pytest.approx(expected["trm"], rel=1e-12)
    assert data["refusal"] is None and data["settings"]["ahsct_efficacy"] == "registry"
    totals = {r["strategy"]: r for r in data["totals"]}
    assert set(totals) == {"ahsct", "dmt"}
    for row in data["nmb"]:
        for s in ("ahsct", "dmt"):
            assert row[s] == pytest.approx(row["wtp"] * totals[s]["qaly"] - totals[s]["cost"])
    assert [r["wtp"] for r in data["ceac"]] == [1_000_000, 3_000_000]
    for r in data["ceac"]:
        assert r["ahsct"] + r["dmt"] == pytest.approx(1.0)
    assert all(r["evpi"] is None or r["evpi"] > -1e-6 for r in data["evpi"])
    assert len(data["psa"]) == 2 * 12 and data["unverified_inputs"] and data["not_medical_advice"]
    assert data["rates"] == {"EUR": 100.0}
    page = html.read_text()
    assert page.count("<svg") == 5 and "Out of 100 people like you" in page and "Not medical advice" in page


def test_decide_refuses_a_person_outside_the_registry_and_models_with_mist(decide_registry, db):
    result = _decide("--age", "79", *PERSON_ARGS, *FAST, "--psa", "0")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("│", " ").split())
    assert "No individual prediction" in text
    assert "age_years = 79 is outside the training range" in text
    assert "aHSCT effect: mist" in text and "No PSA was run" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--edss", "3.2"], "edss: must be 0 to 9.5 in steps of 0.5"),
        (["--sex", "X"], "sex: must be one of F/M"),
        (["--comparator", "aspirin"], "--comparator 'aspirin': not in the parameter file"),
        (["--rate", "EUR"], "use CODE=NUMBER"),
        (["--currency", "RU"], "ISO 4217"),
        (["--psa", "-1"], "--psa -1: must be >= 0"),
    ],
)
def test_user_errors_exit_2_without_traceback(decide_registry, db, change, message):
    args = ["--age", "34", *PERSON_ARGS, *FAST, "--psa", "0", *change]
    result = _decide(*args)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert message in text and "Traceback" not in text


def test_nmb_grid_without_thresholds(decide_registry, db, tmp_path):
    out = tmp_path / "aid.json"
    result = _decide("--age", "40", *PERSON_ARGS, *FAST, "--psa", "0", "--json", str(out))
    assert result.exit_code == 0, result.output
    assert "give --wtp" in " ".join(result.output.split())
    data = json.loads(out.read_text())
    assert data["wtp"] == [] and len(data["nmb"]) >= 3 and np.isclose(data["nmb"][0]["wtp"], 0)


def test_decide_uses_the_chosen_release_and_says_when_none_is_published(decide_registry, db):
    from openhsct.releases import store
    from openhsct.releases.models import Release

    args = ["--age", "34", *PERSON_ARGS, *FAST, "--psa", "0"]
    result = _decide(*args, "--release", decide_registry.release)
    assert result.exit_code == 0, result.output
    assert f"data release {decide_registry.release}" in " ".join(result.output.split())
    result = _decide(*args, "--release", "0000000000000000")
    assert result.exit_code == 2 and "no such release" in result.output
    Release.objects.filter(pk=decide_registry.release).update(state=Release.State.DRAFT)
    store._forget_latest()
    try:
        result = _decide(*args)
        text = " ".join(result.output.split())
        assert result.exit_code == 2 and "no data release has been published yet" in text, text
        assert "Traceback" not in text
    finally:
        Release.objects.filter(pk=decide_registry.release).update(state=Release.State.PUBLISHED)
        store._forget_latest()
