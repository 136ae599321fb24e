import numpy as np
import pytest

from openhsct.errors import ValidationError
from openhsct.evidence.glmm import loglik, rma_glmm

FIELDS = [
    ("estimate", "coef"),
    ("se", "se"),
    ("ci_lower", "ci_lb"),
    ("ci_upper", "ci_ub"),
    ("tau2", "tau2"),
    ("pi_lower", "pi_lb"),
    ("pi_upper", "pi_ub"),
]


def _cases(goldens):
    yield "pritz1997", goldens["pritz1997"]
    yield from goldens["ahsct"].items()


@pytest.mark.parametrize("nagq", [7, 1])
def test_matches_tightly_converged_lme4(goldens, nagq):
    """Against glmer run to a tight optimum: the same likelihood, so agreement to ~1e-6."""
    checked = 0
    for name, d in _cases(goldens):
        g = d.get(f"GLMM_tight_nAGQ{nagq}")
        integer = np.allclose(d["xi"], np.round(d["xi"]))
        if g is None or (nagq == 1 and not integer):
            # lme4's Laplace deviance treats non-integer binomial counts differently (it warns); the
            # effective counts from KM percentages are checked with nAGQ = 7 only
            continue
        res = rma_glmm(d["xi"], d["ni"], nAGQ=nagq)
        for ours, theirs in FIELDS:
            # estimate and tau2 to 2e-5; SE-based limits also carry lme4's finite-difference Hessian
            tol = 2e-5 if ours in ("estimate", "tau2") else 1e-4
            assert getattr(res, ours) == pytest.approx(g[theirs], abs=tol), (name, theirs)
        assert res.i2 == pytest.approx(g["I2"], abs=1e-4), name
        checked += 1
    assert checked >= (4 if nagq == 7 else 2)


def test_matches_metafor_defaults(goldens):
    """metafor's default rma.glmm (nAGQ = 7): lme4 stops at a deviance tolerance of 1e-5, so the
    coefficients agree to 1e-4 and our log-likelihood is never below the one at metafor's optimum."""
    for name, d in _cases(goldens):
        g = d["GLMM_nAGQ7"]
        res = rma_glmm(d["xi"], d["ni"])
        for ours, theirs in FIELDS:
            assert getattr(res, ours) == pytest.approx(g[theirs], abs=1e-4), (name, theirs)
        assert res.i2 == pytest.approx(g["I2"], abs=1e-3), name
        x, n = np.asarray(d["xi"], float), np.asarray(d["ni"], float)
        assert res.loglik >= loglik(g["coef"], np.sqrt(g["tau2"]), x, n) - 1e-9


def test_heterogeneity_lrt_matches_metafor_for_counts(goldens):
    for d in (goldens["pritz1997"], goldens["ahsct"]["trm"]):
        res = rma_glmm(d["xi"], d["ni"])
        assert res.q_lrt == pytest.approx(d["GLMM_nAGQ7"]["QE_LRT"], abs=1e-6)
        assert res.q_lrt_p == pytest.approx(d["GLMM_nAGQ7"]["QEp_LRT"], abs=1e-6)


def test_one_node_is_the_laplace_approximation():
    x, n = np.array([2.0, 7.0, 1.0]), np.array([40.0, 60.0, 30.0])
    beta, tau = -2.0, 0.7
    # log of the integrand at its mode plus the Gaussian normalising term, per study
    total = 0.0
    for xi, ni in zip(x, n, strict=True):
        m = 0.0
        for _ in range(50):  # Newton on h'(b) = x - n expit(beta + b) - b / tau^2
            p = 1 / (1 + np.exp(-(beta + m)))
            m += (xi - ni * p - m / tau**2) / (ni * p * (1 - p) + 1 / tau**2)
        p = 1 / (1 + np.exp(-(beta + m)))
        h = xi * (beta + m) - ni * np.logaddexp(0, beta + m) - m**2 / (2 * tau**2) - np.log(tau)
        h -= 0.5 * np.log(2 * np.pi)
        total += h + 0.5 * np.log(2 * np.pi / (ni * p * (1 - p) + 1 / tau**2))
    assert loglik(beta, tau, x, n, nagq=1) == pytest.approx(total, abs=1e-6)


def test_many_nodes_converge_to_the_integral():
    x, n = np.array([3.0, 0.0, 12.0]), np.array([50.0, 20.0, 80.0])
    b = np.linspace(-15, 15, 300_001)
    db = b[1] - b[0]
    beta, tau = -2.5, 1.3
    exact = 0.0
    for xi, ni in zip(x, n, strict=True):
        eta = beta + b
        h = xi * eta - ni * np.logaddexp(0, eta) - b**2 / (2 * tau**2) - np.log(tau) - 0.5 * np.log(2 * np.pi)
        exact += np.log(np.sum(np.exp(h)) * db)
    assert loglik(beta, tau, x, n, nagq=41) == pytest.approx(exact, abs=1e-9)
    assert abs(loglik(beta, tau, x, n, nagq=7) - exact) > 1e-6  # few nodes: visibly approximate


def test_homogeneous_data_give_tau2_zero_and_glm_estimate():
    x, n = np.array([10.0, 20.0, 30.0]), np.array([100.0, 200.0, 300.0])
    res = rma_glmm(x, n)
    assert res.tau2 == pytest.approx(0, abs=1e-8)
    assert res.proportion == pytest.approx(0.1, abs=1e-6)
    assert res.se == pytest.approx(np.sqrt(1 / (600 * 0.1 * 0.9)), rel=1e-4)


def test_single_study_and_no_events():
    res = rma_glmm([5], [50])
    assert res.tau2 == 0 and res.proportion == pytest.approx(0.1, abs=1e-7)
    with pytest.raises(ValidationError):
        rma_glmm([0, 0], [10, 20])
    with pytest.raises(ValidationError):
        rma_glmm([5], [3])
