"""Cox model with Efron ties: hand-computed, R coxph goldens, derivatives, lifelines agreement."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openhsct.outcomes.cox import _efron, _risk_structure, cox_ph

GOLDENS = Path(__file__).parent / "goldens"
TOL = 1e-6


def test_null_loglik_by_hand():
    # At b = 0 the Efron denominators are n_j - l: t = 1 has 2 tied deaths among 4, t = 2 one among 2.
    data = pd.DataFrame({"t": [1, 1, 2, 3], "e": [1, 1, 1, 0], "x": [0.0, 1.0, 0.0, 1.0]})
    fit = cox_ph(data, "t", "e")
    assert fit.loglik_null == pytest.approx(-(math.log(4) + math.log(3) + math.log(2)), abs=1e-14)
    assert fit.loglik >= fit.loglik_null
    assert fit.n == 4 and fit.n_event == 3


def test_efron_score_and_information_are_the_derivatives():
    rng = np.random.default_rng(7)
    n = 60
    time = rng.integers(1, 12, n).astype(float)  # many ties
    event = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 3))
    risk = _risk_structure(time, event, x)
    beta = np.array([0.3, -0.2, 0.5])
    _, score, info = _efron(beta, risk)
    h = 1e-6
    for k in range(3):
        step = np.zeros(3)
        step[k] = h
        up, s_up, _ = _efron(beta + step, risk)
        down, s_down, _ = _efron(beta - step, risk)
        assert score[k] == pytest.approx((up - down) / (2 * h), abs=1e-6)
        np.testing.assert_allclose(info[:, k], -(s_up - s_down) / (2 * h), atol=1e-6)


@pytest.mark.reference
@pytest.mark.parametrize("name", ["lung", "veteran", "random1", "random2", "random3"])
def test_matches_r_coxph_efron(name):
    data = pd.read_csv(GOLDENS / f"cox_data_{name}.csv")
    ref = pd.read_csv(GOLDENS / f"cox_{name}.csv").set_index("covariate")
    fit = cox_ph(data, "time", "status")
    assert fit.coef.index.tolist() == ref.index.tolist()
    np.testing.assert_allclose(fit.coef, ref["coef"], rtol=0, atol=TOL)
    np.testing.assert_allclose(fit.se, ref["se"], rtol=0, atol=TOL)
    np.testing.assert_allclose(fit.z, ref["z"], rtol=TOL, atol=TOL)
    np.testing.assert_allclose(fit.p, ref["p"], rtol=0, atol=TOL)
    np.testing.assert_allclose(fit.hazard_ratio, ref["hazard_ratio"], rtol=TOL)
    np.testing.assert_allclose(fit.hr_lower, ref["hr_lower"], rtol=TOL)
    np.testing.assert_allclose(fit.hr_upper, ref["hr_upper"], rtol=TOL)
    assert fit.loglik == pytest.approx(ref["loglik"].iloc[0], abs=TOL)
    assert fit.loglik_null == pytest.approx(ref["loglik_null"].iloc[0], abs=TOL)
    assert (fit.n, fit.n_event) == (ref["n"].iloc[0], ref["n_event"].iloc[0])
    assert fit.to_frame().shape == (len(ref), 7)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_agrees_with_lifelines(seed):
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(seed)
    n = 80
    x = rng.normal(size=(n, 2))
    time = np.ceil(rng.exponential(10 * np.exp(-0.5 * x[:, 0]))).astype(float)
    data = pd.DataFrame(
        {"time": time, "event": (rng.random(n) < 0.7).astype(int), "a": x[:, 0], "b": x[:, 1]}
    )
    if data["event"].sum() < 5:
        return
    ours = cox_ph(data, "time", "event")
    ref = CoxPHFitter().fit(data, "time", "event", fit_options={"precision": 1e-12, "max_steps": 200})
    np.testing.assert_allclose(ours.coef, ref.params_.loc[["a", "b"]], atol=1e-6)
    np.testing.assert_allclose(ours.se, ref.standard_errors_.loc[["a", "b"]], atol=1e-6)
    assert ours.loglik == pytest.approx(ref.log_likelihood_, abs=1e-6)


def test_bad_input_is_refused():
    ok = pd.DataFrame({"t": [1.0, 2, 3, 4], "e": [1, 0, 1, 1], "x": [0.1, 0.5, -1, 2]})
    with pytest.raises(ValueError, match="not in the data"):
        cox_ph(ok, "time", "e")
    with pytest.raises(ValueError, match="missing or infinite"):
        cox_ph(ok.assign(x=[0.1, np.nan, 1, 2]), "t", "e")
    with pytest.raises(ValueError, match="numeric"):
        cox_ph(ok.assign(x=["a", "b", "c", "d"]), "t", "e")
    with pytest.raises(ValueError, match="non-negative"):
        cox_ph(ok.assign(t=[1.0, -2, 3, 4]), "t", "e")
    with pytest.raises(ValueError, match="0 \\(censored\\) or 1"):
        cox_ph(ok.assign(e=[1, 2, 0, 1]), "t", "e")
    with pytest.raises(ValueError, match="singular"):
        cox_ph(ok.assign(x=[1.0, 1, 1, 1]), "t", "e")
    with pytest.raises(ValueError, match="no events"):
        cox_ph(ok.assign(e=0), "t", "e")
