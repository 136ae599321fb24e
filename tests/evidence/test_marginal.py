"""The population-averaged proportion of the binomial-normal model, the crude rate and one-study results:
hand-computed cases first, then R (lme4 + integrate, binom.test) in glmm_marginal_goldens.json."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import expit

from openhsct.errors import ValidationError
from openhsct.evidence.glmm import marginal_parts, marginal_proportion, rma_glmm, rma_glmm_mods
from openhsct.evidence.pooling import SINGLE_STUDY, outcome_studies, pool_studies, pooled_outcome
from openhsct.evidence.rates import clopper_pearson, crude_rate
from openhsct.outcomes.binomial import binomial_ci

from .conftest import GOLDENS

CASES = ["pritz1997", "small", "trm_main", "trm_ascertainment", "trm_largest_per_group"]


@pytest.fixture(scope="module")
def r_marginal() -> dict:
    return json.loads((GOLDENS / "glmm_marginal_goldens.json").read_text())


def test_no_heterogeneity_gives_the_conditional_proportion():
    vcov = np.array([[0.04, 0.0], [0.0, 0.0]])
    m = marginal_proportion(-3.0, 0.0, vcov)
    assert m.estimate == m.conditional == pytest.approx(expit(-3.0), abs=1e-15)
    z = stats.norm.isf(0.025)
    assert (m.lower, m.upper) == pytest.approx((expit(-3.0 - z * 0.2), expit(-3.0 + z * 0.2)), abs=1e-12)


def test_symmetry_at_one_half():
    m, d_eta, d_tau = marginal_parts(0.0, 2.3)
    assert m == pytest.approx(0.5, abs=1e-13) and d_tau == pytest.approx(0.0, abs=1e-13)


def test_marginal_is_the_integral_over_the_random_effect():
    """Against a plain Riemann sum of expit(eta + tau z) phi(z) on a fine grid, and its derivatives
    against central differences."""
    eta, tau = -4.0, 1.6
    z = np.linspace(-14, 14, 400_001)
    w = stats.norm.pdf(z) * (z[1] - z[0])
    m, d_eta, d_tau = marginal_parts(eta, tau)
    assert m == pytest.approx(np.sum(expit(eta + tau * z) * w), abs=1e-11)
    h = 1e-5
    assert d_eta == pytest.approx(
        (marginal_parts(eta + h, tau)[0] - marginal_parts(eta - h, tau)[0]) / (2 * h), abs=1e-8
    )
    assert d_tau == pytest.approx(
        (marginal_parts(eta, tau + h)[0] - marginal_parts(eta, tau - h)[0]) / (2 * h), abs=1e-8
    )
    # rare events: the population average is well above the median study (here about 2.4 times)
    assert m > 2 * expit(eta)


def test_delta_method_interval_by_hand():
    eta, tau = -4.0, 1.2
    vcov = np.array([[0.09, -0.02], [-0.02, 0.05]])
    m, d_eta, d_tau = marginal_parts(eta, tau)
    g = np.array([d_eta, d_tau])
    se_logit = np.sqrt(g @ vcov @ g) / (m * (1 - m))
    z = stats.norm.isf(0.05)
    res = marginal_proportion(eta, tau, vcov, level=90)
    lg = np.log(m / (1 - m))
    assert (res.lower, res.upper) == pytest.approx(
        (expit(lg - z * se_logit), expit(lg + z * se_logit)), rel=1e-12
    )
    assert res.conf_level == 0.9 and res.lower < res.estimate < res.upper
    with pytest.raises(ValidationError):
        marginal_proportion(eta, tau, vcov, x=[1.0, 2.0])


def test_clopper_pearson_by_hand_and_against_outcomes():
    none = clopper_pearson(0, 10)
    assert (none.lower, none.upper) == pytest.approx((0.0, 1 - 0.025 ** (1 / 10)), abs=1e-12)
    for k, n in ((0, 48), (3, 210), (8, 1527), (30, 30)):
        ours, theirs = clopper_pearson(k, n), binomial_ci(k, n)
        assert (ours.estimate, ours.lower, ours.upper) == pytest.approx(
            (theirs.estimate, theirs.lower, theirs.upper)
        )
    c = crude_rate([3, 0, 5], [210, 48, 364])
    assert (c.events, c.n, c.estimate) == (8.0, 622, pytest.approx(8 / 622))
    assert c.method == "Clopper-Pearson" and c.conf_level == 0.95
    with pytest.raises(ValidationError):
        clopper_pearson(5, 3)


@pytest.mark.parametrize("case", CASES)
def test_marginal_matches_r(r_marginal, case):
    """lme4 glmer (nAGQ = 7, tight) + integrate; vcov from optimHess of glmer's deviance function."""
    g = r_marginal[case]
    fit = rma_glmm(g["xi"], g["ni"])
    assert fit.estimate == pytest.approx(g["coef"], abs=2e-6)
    assert fit.tau2 == pytest.approx(g["tau2"], abs=2e-6)
    np.testing.assert_allclose(fit.vcov, np.array(g["vcov"]), atol=2e-5, rtol=1e-4)
    m = fit.marginal()
    assert m.estimate == pytest.approx(g["marginal"]["estimate"], abs=1e-6)
    assert m.lower == pytest.approx(g["marginal"]["lower"], abs=1e-6)
    assert m.upper == pytest.approx(g["marginal"]["upper"], abs=1e-6)
    assert m.conditional == pytest.approx(g["marginal"]["conditional"], abs=1e-6)
    crude = crude_rate(g["xi"], g["ni"])
    assert (crude.estimate, crude.lower, crude.upper) == pytest.approx(
        (g["crude"]["estimate"], g["crude"]["lower"], g["crude"]["upper"]), abs=1e-12
    )


def test_r_used_the_studies_we_pool(r_marginal):
    studies, _ = outcome_studies("trm")
    assert studies["key"].tolist() == r_marginal["trm_main"]["key"]
    pooled = pooled_outcome("trm")
    g = r_marginal["trm_main"]["marginal"]
    assert pooled.proportion == pooled.marginal.estimate == pytest.approx(g["estimate"], abs=1e-6)
    assert (pooled.ci_lower, pooled.ci_upper) == pytest.approx((g["lower"], g["upper"]), abs=1e-6)
    assert pooled.median_study.estimate == pytest.approx(g["conditional"], abs=1e-6)
    assert pooled.crude.estimate == pytest.approx(pooled.events / pooled.n_total)


def test_meta_regression_matches_lme4_and_metafor(r_marginal):
    g = r_marginal["trm_era"]
    reg = rma_glmm_mods(g["xi"], g["ni"], pd.DataFrame({"decade": g["mods"]}))
    np.testing.assert_allclose(reg.coef, g["coef"], atol=1e-5)
    np.testing.assert_allclose(reg.coef, g["metafor"]["coef"], atol=1e-5)
    np.testing.assert_allclose(reg.se, g["metafor"]["se"], atol=1e-4)
    assert reg.tau2 == pytest.approx(g["tau2"], abs=1e-5)
    assert reg.qm == pytest.approx(g["metafor"]["QM"], abs=1e-4)
    assert reg.to_frame().index.tolist() == ["intrcpt", "decade"]
    for at, ref in zip(g["at"], g["marginal_at"], strict=True):
        m = reg.marginal_at([at])
        assert (m.estimate, m.lower, m.upper) == pytest.approx(
            (ref["estimate"], ref["lower"], ref["upper"]), abs=1e-6
        )


def test_meta_regression_needs_enough_studies():
    with pytest.raises(ValidationError):
        rma_glmm_mods([1, 2], [10, 10], [0.0, 1.0])


def test_one_study_is_never_pooled():
    table = pd.DataFrame({"key": ["a"], "events": [3.0], "n": [40], "observed": [3 / 40]})
    res = pool_studies(table, "trm")
    own = clopper_pearson(3, 40)
    assert res.kind == SINGLE_STUDY and res.k == 1 and res.fit is None
    assert (res.proportion, res.ci_lower, res.ci_upper) == (own.estimate, own.lower, own.upper)
    assert np.isnan(res.pi_lower) and np.isnan(res.pi_upper) and res.marginal is None
    zero = pool_studies(table.assign(events=[0.0], observed=[0.0]), "trm")
    assert zero.proportion == 0 and zero.ci_upper == pytest.approx(1 - 0.025 ** (1 / 40))
    assert pooled_outcome("pfs_2y").kind == SINGLE_STUDY


@settings(max_examples=40, deadline=None)
@given(eta=st.floats(-9.0, 3.0), tau=st.floats(0.0, 4.0))
def test_marginal_properties(eta, tau):
    """Against a dense Riemann sum; shrunk towards 1/2 relative to the median study (Zeger et al. 1988)."""
    z = np.linspace(-12, 12, 48_001)
    w = stats.norm.pdf(z) * (z[1] - z[0])
    m, d_eta, d_tau = marginal_parts(eta, tau)
    assert m == pytest.approx(np.sum(expit(eta + tau * z) * w), abs=1e-9)
    assert d_eta == pytest.approx(np.sum(expit(eta + tau * z) * expit(-(eta + tau * z)) * w), abs=1e-9)
    assert abs(m - 0.5) <= abs(expit(eta) - 0.5) + 1e-12
