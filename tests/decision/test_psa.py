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
