"""PSA: distributions fitted as dampack does, draws independent of chunking, identical tables for 1 and
2 Dask workers."""

import numpy as np
import pytest
from scipy import stats

from openhsct.decision.parameters import load_parameters
from openhsct.decision.psa import (
    beta_params,
    gamma_params,
    lnorm_from_ci,
    lnorm_params,
    params_for_draw,
    psa,
    sample_parameters,
)


def test_fitted_moments():
    a, b = beta_params(0.021, 0.005)
    assert stats.beta(a, b).mean() == pytest.approx(0.021)
    assert stats.beta(a, b).std() == pytest.approx(0.005)
    shape, scale = gamma_params(66304, 1380)
    assert stats.gamma(shape, scale=scale).mean() == pytest.approx(66304)
    assert stats.gamma(shape, scale=scale).std() == pytest.approx(1380)
    mu, sd = lnorm_params(2.0, 0.25)
    assert stats.lognorm(sd, scale=np.exp(mu)).mean() == pytest.approx(2.0)
    assert stats.lognorm(sd, scale=np.exp(mu)).var() == pytest.approx(0.25)
    mu, sd = lnorm_from_ci(0.07, 0.02, 0.24)
    assert np.exp(mu) == pytest.approx(0.07)
    # log-symmetric: the fitted 97.5th percentile is the estimate times sqrt(high / low)
    assert np.exp(mu + 1.959963984540054 * sd) == pytest.approx(0.07 * np.sqrt(0.24 / 0.02))


def test_draws_do_not_depend_on_chunking():
    params = load_parameters()
    whole = sample_parameters(params, 6, seed=3)
    parts = [sample_parameters(params, 3, seed=3, first=0), sample_parameters(params, 3, seed=3, first=3)]
    assert whole.equals(parts[0].combine_first(parts[1]).loc[:, whole.columns])
    assert "ahsct_trm" in whole.columns and "utility_edss4" not in whole.columns
    assert whole["ahsct_trm"].between(0, 1).all()


def test_dirichlet_rows_sum_to_one():
    params = load_parameters()
    transitions = params.transitions.assign(n_for_dirichlet=200.0)
    from dataclasses import replace

    draws = sample_parameters(replace(params, transitions=transitions), 4, seed=1)
    one = params_for_draw(params, draws.iloc[0].to_dict())
    np.testing.assert_allclose(one.transition_matrix().sum(axis=1), 1.0)
    assert not np.allclose(one.transition_matrix(), params.transition_matrix())


def test_identical_for_one_and_two_workers():
    person = {"age_years": 45, "sex": "M", "phenotype": "RRMS", "edss": 4.0}
    kwargs = dict(n_samples=4, n_patients=50, seed=7, processes=False, horizon_years=3, rates={"EUR": 100.0})
    one = psa(person, load_parameters(), n_workers=1, chunk_size=4, **kwargs)
    two = psa(person, load_parameters(), n_workers=2, chunk_size=1, **kwargs)
    assert list(one.columns) == ["sample", "strategy", "cost", "qaly"]
    assert len(one) == 8
    assert one.equals(two)
    assert one["cost"].nunique() > 2


def _prediction():
    import pandas as pd

    t = np.arange(0, 8.0)
    s = np.exp(-0.05 * t)
    # a log(-log) interval of half-width 0.3 (on that scale) at every time after 0
    eta = np.log(-np.log(np.where(t > 0, s, 0.5)))
    lower = np.where(t > 0, np.exp(-np.exp(eta + 0.3)), 1.0)
    upper = np.where(t > 0, np.exp(-np.exp(eta - 0.3)), 1.0)
    curve = pd.DataFrame({"time": t, "survival": s, "lower": lower, "upper": upper})
    return {"survival_curve": curve, "trm": 0.02, "trm_lower": 0.01, "trm_upper": 0.035}


def test_prediction_draws_follow_its_interval():
    from openhsct.decision.psa import draw_prediction

    pred = _prediction()
    rng = np.random.default_rng(4)
    draws = [draw_prediction(pred, rng) for _ in range(2000)]
    at5 = np.array([d["survival_curve"]["survival"].iloc[5] for d in draws])
    trm = np.array([d["trm"] for d in draws])
    s5 = pred["survival_curve"]["survival"].iloc[5]
    assert np.median(at5) == pytest.approx(s5, abs=0.005)
    inside = (at5 >= pred["survival_curve"]["lower"].iloc[5]) & (
        at5 <= pred["survival_curve"]["upper"].iloc[5]
    )
    # the interval is ±0.3 on the log(-log) scale, i.e. ±1.96 σ with σ = 0.3/1.96: 95 % inside
    assert inside.mean() == pytest.approx(0.95, abs=0.02)
    assert trm.mean() == pytest.approx(0.02, abs=0.001)
    for d in draws[:20]:
        s = d["survival_curve"]["survival"].to_numpy()
        assert s[0] == 1.0 and (np.diff(s) <= 0).all()


def test_psa_with_a_prediction_is_worker_independent():
    person = {"age_years": 45, "sex": "M", "phenotype": "RRMS", "edss": 4.0}
    kwargs = dict(
        n_samples=3,
        n_patients=40,
        seed=2,
        processes=False,
        horizon_years=3,
        rates={"EUR": 100.0},
        prediction=_prediction(),
        strategies=("ahsct",),
    )
    one = psa(person, load_parameters(), n_workers=1, chunk_size=3, **kwargs)
    two = psa(person, load_parameters(), n_workers=2, chunk_size=1, **kwargs)
    assert one.equals(two)
    assert one["qaly"].nunique() == 3
