"""The prediction model stored as JSON in a release and read back: the same predictions to 1e-12, no
patient rows, deterministic bytes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from openhsct.decision.prediction import fit_prediction_model, predict_individual
from openhsct.decision.stored import model_from_dict, model_to_dict
from openhsct.releases.build import canonical_json
from tests.decision.test_prediction import PERSON, simulated_cohort

MEASURES = ("pfs_5y", "pfs_5y_lower", "pfs_5y_upper", "trm", "trm_lower", "trm_upper", "c_index",
            "calibration_slope")


def _round_trip(model, counts=None):
    return model_from_dict(json.loads(canonical_json(model_to_dict(model, counts))))


@pytest.mark.parametrize("trm_events", [3, 25])  # pooled TRM rate; Firth on age and EDSS
def test_loaded_model_predicts_as_the_fitted_one(trm_events):
    cohort, _ = simulated_cohort(n=900, seed=2, trm_events=trm_events)
    model = fit_prediction_model(cohort, n_bootstrap=5)
    loaded = _round_trip(model, {"RRMS|0-3.5": 40})
    assert loaded.trm.method == model.trm.method == ("pooled" if trm_events == 3 else "firth")
    for person in (PERSON, {**PERSON, "age_years": 45, "edss": 5.0, "sex": "M"}):
        a, b = predict_individual(model, person), predict_individual(loaded, person)
        for k in MEASURES:
            assert b[k] == pytest.approx(a[k], rel=1e-12, abs=1e-12), k
        np.testing.assert_allclose(b.survival_curve.to_numpy(), a.survival_curve.to_numpy(), rtol=1e-12, atol=0)
    assert loaded.training is None
    assert predict_individual(loaded, PERSON).n_similar == 40
    assert predict_individual(loaded, {**PERSON, "edss": 6.0}).n_similar is None


def test_stored_model_holds_no_patient_rows_nor_thin_baseline_steps():
    cohort, _ = simulated_cohort(n=900, seed=2)
    model = fit_prediction_model(cohort, n_bootstrap=0)
    stored = model_to_dict(model)
    assert "training" not in stored
    assert min(stored["baseline"]["n_risk"]) >= 10
    assert len(stored["xbar"]) == len(stored["baseline"]["time"]) < len(model.baseline)
    assert all(set(c) == {"input", "level", "supported"} for c in stored["categories"])
    assert canonical_json(stored) == canonical_json(model_to_dict(fit_prediction_model(cohort, n_bootstrap=0)))


def test_refusal_from_a_loaded_model_names_the_input_without_counts():
    from openhsct.decision.prediction import OutsideTrainingData

    cohort, _ = simulated_cohort(n=900, seed=2)
    cohort = cohort.loc[cohort["phenotype"] != "PPMS"].reset_index(drop=True)
    loaded = _round_trip(fit_prediction_model(cohort, n_bootstrap=0))
    with pytest.raises(OutsideTrainingData) as err:
        predict_individual(loaded, {**PERSON, "phenotype": "PPMS", "age_years": 99})
    text = str(err.value)
    assert "phenotype = PPMS: too few patients or events" in text and "age_years = 99" in text
