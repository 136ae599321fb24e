"""The individual prediction: hand-derived cases first (Firth's intercept-only estimate), then the
references (R survfit for the Breslow curve and its log(-log) limits, lifelines for Harrell's C, an
independent penalised-likelihood maximisation for Firth), then a synthetic cohort drawn from a known Cox
model, the registry's training table, and the refusal cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from openhsct.decision.firth import firth_logistic
from openhsct.decision.prediction import (
    PERSON_KEYS,
    InvalidPerson,
    OutsideTrainingData,
    breslow_survival,
    cohort_from_registry,
    fit_prediction_model,
    fit_trm_model,
    predict_individual,
)
from openhsct.decision.validation import harrell_c

GOLDENS = Path(__file__).parent / "goldens"
TRUE_BETA = {"age_years": 0.03, "edss": 0.3, "sex=M": 0.4, "phenotype=SPMS": 0.5}
PERSON = {
    "age_years": 34,
    "sex": "F",
    "phenotype": "RRMS",
    "edss": 3.5,
    "disease_duration_years": 6,
    "relapses_12m": 2,
    "gd_lesions": 3,
    "prior_dmts": 2,
}


def simulated_cohort(n: int = 1500, seed: int = 11, trm_events: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """A cohort whose PFS follows a known Cox model (exponential baseline, log-HRs ``TRUE_BETA``), censored
    uniformly between 2 and 12 years; with the true linear predictor."""
    rng = np.random.default_rng(seed)
    c = pd.DataFrame(
        {
            "age_years": rng.integers(20, 61, n).astype(float),
            "sex": rng.choice(["F", "M"], n, p=[0.65, 0.35]),
            "phenotype": rng.choice(["RRMS", "SPMS"], n, p=[0.7, 0.3]),
            "edss": rng.integers(0, 15, n) / 2.0,
            "disease_duration_years": rng.uniform(1, 20, n),
            "relapses_12m": rng.poisson(1.0, n).astype(float),
            "gd_lesions": rng.poisson(1.5, n).astype(float),
            "prior_dmts": rng.integers(0, 5, n).astype(float),
        }
    )
    lp = (
        TRUE_BETA["age_years"] * c["age_years"]
        + TRUE_BETA["edss"] * c["edss"]
        + TRUE_BETA["sex=M"] * (c["sex"] == "M")
        + TRUE_BETA["phenotype=SPMS"] * (c["phenotype"] == "SPMS")
    ).to_numpy()
    t = rng.exponential(1.0 / (0.02 * np.exp(lp)))
    censor = rng.uniform(2, 12, n)
    c["pfs_years"] = np.minimum(t, censor)
    c["pfs_event"] = (t <= censor).astype(float)
    trm = np.zeros(n)
    trm[rng.choice(n, trm_events, replace=False)] = 1
    c["trm_event"] = trm
    return c, lp


@pytest.fixture(scope="module")
def known():
    cohort, lp = simulated_cohort()
    return cohort, lp, fit_prediction_model(cohort, n_bootstrap=25, seed=3)


# ---- Firth -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "n"), [(0, 40), (1, 40), (3, 250), (20, 20)])
def test_firth_intercept_only_is_k_plus_half_over_n_plus_one(k, n):
    data = pd.DataFrame({"trm_event": [1.0] * k + [0.0] * (n - k)})
    fit = firth_logistic(data, "trm_event")
    p = 1 / (1 + np.exp(-fit.coef.iloc[0]))
    assert p == pytest.approx((k + 0.5) / (n + 1), rel=1e-9)


def test_firth_maximises_the_penalised_likelihood_computed_independently():
    import statsmodels.api as sm
    from scipy.optimize import minimize

    rng = np.random.default_rng(5)
    x = np.column_stack([rng.normal(40, 10, 120), rng.integers(0, 14, 120) / 2])
    y = (rng.uniform(size=120) < 1 / (1 + np.exp(-(-6 + 0.05 * x[:, 0] + 0.3 * x[:, 1])))).astype(float)
    y[np.argmax(x[:, 1])] = 1.0  # at least one event at the top of the EDSS range
    design = sm.add_constant(x)
    logit = sm.Logit(y, design)

    def minus_penalised(b):
        return -(logit.loglike(b) + 0.5 * np.linalg.slogdet(-logit.hessian(b))[1])

    ref = minimize(minus_penalised, np.zeros(3), method="BFGS", options={"gtol": 1e-9}).x
    fit = firth_logistic(pd.DataFrame({"age": x[:, 0], "edss": x[:, 1], "trm_event": y}), "trm_event")
    assert fit.coef.to_numpy() == pytest.approx(ref, abs=1e-4)
    assert fit.loglik_penalised == pytest.approx(-minus_penalised(ref), abs=1e-8)
    assert fit.se.to_numpy() == pytest.approx(np.sqrt(np.diag(np.linalg.inv(-logit.hessian(fit.coef.to_numpy())))))


def test_firth_is_finite_under_complete_separation():
    data = pd.DataFrame({"edss": [1, 2, 3, 4, 5, 6, 7, 8.0], "trm_event": [0, 0, 0, 0, 1, 1, 1, 1.0]})
    fit = firth_logistic(data, "trm_event")
    assert np.isfinite(fit.coef).all() and fit.coef["edss"] > 0
    p, lo, hi = fit.predict({"edss": 8.0})
    assert lo < p < hi and p > 0.5


# ---- Harrell's C and the Breslow curve -------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_harrell_c_equals_lifelines_with_ties(seed):
    from lifelines.utils import concordance_index

    rng = np.random.default_rng(seed)
    n = 80 + 20 * seed
    time = rng.integers(1, 30, n).astype(float)  # many tied times
    event = rng.uniform(size=n) < 0.6
    risk = rng.integers(0, 8, n).astype(float)  # and tied risks
    assert harrell_c(time, risk, event) == pytest.approx(concordance_index(time, -risk, event), abs=1e-12)


def test_harrell_c_hand_case():
    # events at 1 (risk 3) and 2 (risk 1); censored at 2 (risk 2) and 3 (risk 1).
    # usable pairs: (1,2e) (1,2c) (1,3c) concordant all three; (2e,2c): risk 1 < 2 discordant; (2e,3c): tie.
    c = harrell_c([1, 2, 2, 3], [3, 1, 2, 1], [1, 1, 0, 0])
    assert c == pytest.approx((3 + 0 + 0.5) / 5)


@pytest.mark.reference
def test_breslow_survival_equals_r_survfit_ctype1_loglog():
    data = pd.read_csv(GOLDENS / "cox_survival_data.csv")
    newdata = pd.read_csv(GOLDENS / "cox_survival_newdata.csv")
    ref = pd.read_csv(GOLDENS / "cox_survival.csv")
    ours = breslow_survival(data, "time", "status", newdata, sorted(ref["time"].unique()))
    both = ours.merge(ref, on=["row", "time"], suffixes=("", "_r"))
    assert len(both) == len(ref)
    for col in ("survival", "std_err", "lower", "upper"):
        assert both[col].to_numpy() == pytest.approx(both[f"{col}_r"].to_numpy(), rel=1e-8, abs=1e-10)


# ---- a cohort from a known model -------------------------------------------------------------------


def test_known_model_recovers_coefficients_c_index_and_calibration(known):
    cohort, lp, model = known
    coef = model.to_frame()
    for name, value in TRUE_BETA.items():
        assert abs(coef.loc[name, "coef"] - value) < 3.5 * coef.loc[name, "se"], name
    for name in ("disease_duration_years", "relapses_12m", "gd_lesions", "prior_dmts"):
        assert abs(coef.loc[name, "coef"]) < 3.5 * coef.loc[name, "se"], name
    true_c = harrell_c(cohort["pfs_years"], lp, cohort["pfs_event"])
    assert abs(model.c_index_apparent - true_c) < 0.01
    assert 0 < model.c_index_apparent - model.c_index < 0.02  # a little optimism, corrected
    assert model.calibration_slope_apparent == pytest.approx(1.0, abs=1e-6)
    assert abs(model.calibration_slope - 1) < 0.1
    cal = model.calibration
    assert list(cal["group"]) == [1, 2, 3, 4, 5] and cal["n"].sum() == model.n_patients
    assert (cal["predicted"].diff().dropna() < 0).all()  # risk quintiles, lowest risk first
    inside = (cal["observed_lower"] - 0.03 <= cal["predicted"]) & (cal["predicted"] <= cal["observed_upper"] + 0.03)
    assert inside.all()
    assert model.n_patients == len(cohort) and model.n_events == int(cohort["pfs_event"].sum())


def test_prediction_has_the_issue_keys_and_a_consistent_curve(known):
    _, _, model = known
    pred = predict_individual(model, PERSON)
    for key in ("pfs_5y", "pfs_5y_lower", "pfs_5y_upper", "trm", "trm_lower", "trm_upper", "survival_curve",
                "n_similar", "c_index", "calibration_slope"):
        assert key in pred
    assert pred["pfs_5y_lower"] < pred["pfs_5y"] < pred["pfs_5y_upper"]
    curve = pred["survival_curve"]
    assert list(curve.columns) == ["time", "survival", "lower", "upper"]
    assert curve["survival"].iloc[0] == 1.0 and (np.diff(curve["survival"]) <= 0).all()
    assert ((curve["lower"] <= curve["survival"] + 1e-12) & (curve["survival"] <= curve["upper"] + 1e-12)).all()
    at5 = curve.loc[curve["time"] <= 5, "survival"].iloc[-1]
    assert pred["pfs_5y"] == pytest.approx(at5)
    older = predict_individual(model, {**PERSON, "age_years": 55, "edss": 6.0})
    assert older["pfs_5y"] < pred["pfs_5y"]
    training = model.training
    same = (training["phenotype"] == "RRMS") & (training["edss"] <= 3.5)
    assert pred["n_similar"] == int(same.sum())
    assert pred["c_index"] == model.c_index and pred["calibration_slope"] == model.calibration_slope
    assert pred.to_dict()["survival_curve"][0]["survival"] == 1.0


def test_landmark_keeps_the_event_free_and_restarts_the_clock():
    cohort, _ = simulated_cohort(n=900, seed=4)
    model = fit_prediction_model(cohort, horizon_years=3.0, landmark_years=2.0, n_bootstrap=0)
    alive = cohort.loc[cohort["pfs_years"] > 2.0]
    assert model.n_patients == len(alive)
    assert model.n_events == int(alive["pfs_event"].sum())
    assert model.baseline["time"].min() == pytest.approx((alive.loc[alive["pfs_event"] == 1, "pfs_years"] - 2).min())
    assert model.landmark_years == 2.0


# ---- TRM -------------------------------------------------------------------------------------------


def test_trm_pooled_below_ten_events_per_covariate():
    from openhsct.outcomes.binomial import binomial_ci

    cohort, _ = simulated_cohort(n=400, trm_events=9)
    trm = fit_trm_model(cohort)
    ref = binomial_ci(9, 400, method="exact")
    assert trm.method == "pooled" and trm.covariates == ()
    assert (trm.estimate, trm.lower, trm.upper) == pytest.approx((ref.estimate, ref.lower, ref.upper))
    assert "fewer than 10 events per covariate" in trm.note


@pytest.mark.parametrize(("events", "covariates"), [(10, ("age_years",)), (25, ("age_years", "edss"))])
def test_trm_firth_with_at_most_one_covariate_per_ten_events(events, covariates):
    cohort, _ = simulated_cohort(n=600, trm_events=events)
    trm = fit_trm_model(cohort)
    assert trm.method == "firth" and trm.covariates == covariates
    assert list(trm.firth.coef.index) == ["(Intercept)", *covariates]


# ---- the registry's training table -----------------------------------------------------------------


def test_cohort_from_registry_follows_the_outcomes_engine():
    from openhsct.outcomes.endpoints import registry_outcomes
    from tests.portal.registry_builder import synth_tables

    tables = synth_tables(centres=2, patients=120, seed=3)
    outcomes = registry_outcomes(tables)
    cohort = cohort_from_registry(tables, outcomes=outcomes)
    p = outcomes.patients
    assert list(cohort.columns) == [*PERSON_KEYS, "pfs_years", "pfs_event", "trm_event"]
    assert len(cohort) == len(p)
    assert np.allclose(cohort["pfs_years"] * 365.25, p["pfs_time"], equal_nan=True)
    died_early = p["death_day"].to_numpy() <= 100
    assert (cohort.loc[died_early, "trm_event"] == 1).all()
    assert (cohort.loc[~died_early, "trm_event"].fillna(0) == 0).all()
    assert set(cohort["sex"].dropna()) <= {"F", "M"}
    assert np.allclose(cohort["edss"], p["baseline_edss"], equal_nan=True)
    assert (cohort["disease_duration_years"].dropna() >= 0).all()
    assert cohort["relapses_12m"].notna().mean() > 0.9


# ---- refusal ---------------------------------------------------------------------------------------


def test_refusal_names_each_numeric_input_outside_the_training_range(known):
    _, _, model = known
    lo, hi = model.ranges["age_years"]
    with pytest.raises(OutsideTrainingData) as err:
        predict_individual(model, {**PERSON, "age_years": hi + 5, "gd_lesions": 40})
    msg = str(err.value)
    assert isinstance(err.value, ValueError)
    assert f"age_years = {hi + 5:g} is outside the training range {lo:g} to {hi:g}" in msg
    assert "gd_lesions = 40" in msg and len(err.value.problems) == 2


def test_refusal_for_a_category_with_too_few_patients_or_events():
    cohort, _ = simulated_cohort(n=1200, seed=8)
    ppms = cohort.index[:12]
    cohort.loc[ppms, "phenotype"] = "PPMS"  # 12 patients
    model = fit_prediction_model(cohort, n_bootstrap=0)
    with pytest.raises(OutsideTrainingData, match=r"phenotype = PPMS: 12 patients .*at least 20 patients"):
        predict_individual(model, {**PERSON, "phenotype": "PPMS"})
    assert "phenotype=PPMS" not in model.covariates
    men = cohort["sex"] == "M"
    cohort.loc[men, "pfs_event"] = 0.0
    cohort.loc[cohort.index[men][:3], "pfs_event"] = 1.0  # many men, 3 events
    model = fit_prediction_model(cohort, n_bootstrap=0)
    with pytest.raises(OutsideTrainingData, match=r"sex = M: \d+ patients and 3 events"):
        predict_individual(model, {**PERSON, "sex": "M"})
    assert predict_individual(model, PERSON)["pfs_5y"] > 0


def test_refusal_when_the_model_rests_on_fewer_than_50_events():
    cohort, _ = simulated_cohort(n=1200, seed=9)
    events = cohort.index[cohort["pfs_event"] == 1]
    cohort.loc[events[49:], "pfs_event"] = 0.0
    model = fit_prediction_model(cohort, n_bootstrap=0)
    assert model.n_events == 49
    with pytest.raises(OutsideTrainingData, match="fitted on 49 progression events; at least 50"):
        predict_individual(model, PERSON)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"edss": 3.2}, "edss: must be 0 to 9.5 in steps of 0.5"),
        ({"edss": 10}, "edss: must be 0 to 9.5"),
        ({"sex": "X"}, "sex: must be one of F/M"),
        ({"phenotype": "CIS"}, "phenotype: must be one of RRMS/SPMS/PPMS"),
        ({"relapses_12m": 1.5}, "relapses_12m: must be a whole number"),
        ({"age_years": -3}, "age_years: must be a finite number >= 0"),
        ({"gd_lesions": "many"}, "gd_lesions: a number is needed"),
    ],
)
def test_invalid_inputs_are_named(known, change, needle):
    _, _, model = known
    with pytest.raises(InvalidPerson, match=needle.replace("(", r"\(")):
        predict_individual(model, {**PERSON, **change})


def test_missing_input_is_named(known):
    _, _, model = known
    person = dict(PERSON)
    del person["prior_dmts"]
    with pytest.raises(InvalidPerson, match="prior_dmts: missing"):
        predict_individual(model, person)


def test_curve_stops_at_the_last_event_with_ten_at_risk():
    cohort, _ = simulated_cohort(n=600, seed=12)
    late = cohort.index[:3]
    cohort.loc[late, "pfs_years"] = [40.0, 41.0, 42.0]  # three late events with 3, 2 and 1 at risk
    cohort.loc[late, "pfs_event"] = 1.0
    model = fit_prediction_model(cohort, n_bootstrap=0)
    b = model.baseline
    t = model.training["pfs_years"].to_numpy()
    assert list(b["n_risk"]) == [int((t >= x).sum()) for x in b["time"]]
    curve = predict_individual(model, PERSON)["survival_curve"]
    assert curve["time"].iloc[-1] == b.loc[b["n_risk"] >= 10, "time"].max() < 40.0
