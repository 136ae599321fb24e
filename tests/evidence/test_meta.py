import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openhsct.errors import ValidationError
from openhsct.evidence.meta import RMAControl, regtest, rma, rma_by, zeroin

TOL = 1e-6  # agreement with metafor (goldens have 15 significant digits)


def _check(res, g):
    ct = res.coef_table
    pairs = {
        "coef": ct["estimate"],
        "se": ct["se"],
        "pval": ct["pval"],
        "ci_lb": ct["ci_lower"],
        "ci_ub": ct["ci_upper"],
        "tau2": res.tau2,
        "I2": res.i2,
        "H2": res.h2,
        "QE": res.q,
        "QEp": res.q_p,
        "QM": res.qm,
        "QMp": res.qm_p,
    }
    if res.p == 1 and "pi_lb" in g:
        pairs.update(pi_lb=res.pi_lower, pi_ub=res.pi_upper)
    if res.r2 is not None:
        pairs["R2"] = res.r2
    for name, ours in pairs.items():
        np.testing.assert_allclose(
            np.asarray(ours, float), np.asarray(g[name], float), atol=TOL, rtol=0, err_msg=name
        )


def test_dl_by_hand_two_studies():
    # y = (0, 1), v = (1, 1): Q = 0.5, tr(P) = 2 - 2/2 = 1, tau2 = (0.5 - 1)/1 < 0 -> 0
    res = rma([0.0, 1.0], [1.0, 1.0], method="DL")
    assert res.tau2 == 0
    assert res.estimate == pytest.approx(0.5)
    assert res.se == pytest.approx(np.sqrt(0.5))
    # y = (0, 3), v = (1, 1): Q = 4.5, tau2 = 3.5, w = 1/4.5 each
    res = rma([0.0, 3.0], [1.0, 1.0], method="DL")
    assert res.tau2 == pytest.approx(3.5)
    assert res.se == pytest.approx(np.sqrt(4.5 / 2))
    assert res.i2 == pytest.approx(100 * 3.5 / 4.5)


@pytest.mark.parametrize("key", ["DL_z", "DL_knha", "REML_z", "REML_knha", "PM_z", "PM_knha", "FE_z"])
def test_bcg_matches_metafor(bcg, goldens, key):
    method, test = key.split("_")
    _check(rma(bcg.yi, bcg.vi, method=method, test=test), goldens["bcg"][key])


@pytest.mark.parametrize("key", ["DL_z", "DL_knha", "REML_z", "REML_knha", "PM_z", "PM_knha", "FE_z"])
def test_bcg_meta_regression_matches_metafor(bcg, goldens, key):
    method, test = key.split("_")
    res = rma(bcg.yi, bcg.vi, method=method, test=test, mods=bcg[["ablat", "year"]])
    _check(res, goldens["bcg_mods"][key])
    assert list(res.coef.index) == ["intrcpt", "ablat", "year"]


def test_predict_new_moderators_matches_metafor(bcg, goldens):
    g = goldens["bcg_mods_predict"]
    res = rma(bcg.yi, bcg.vi, method="REML", test="knha", mods=bcg[["ablat", "year"]])
    pr = res.predict(np.column_stack([g["ablat"], g["year"]]))
    for ours, theirs in [
        ("pred", "pred"),
        ("ci_lower", "ci_lb"),
        ("ci_upper", "ci_ub"),
        ("pi_lower", "pi_lb"),
        ("pi_upper", "pi_ub"),
    ]:
        np.testing.assert_allclose(pr[ours], g[theirs], atol=TOL)


def test_random_sets_match_metafor(random_sets, goldens):
    checked = 0
    for s, fits in goldens["random"].items():
        d = random_sets[random_sets.set == int(s)]
        for key, g in fits.items():
            parts = key.split("_")
            res = rma(d.yi, d.vi, method=parts[0], test=parts[1], mods=d[["x1"]] if len(parts) == 3 else None)
            _check(res, g)
            checked += 1
    assert checked > 80


@pytest.mark.parametrize("key", ["REML_z", "REML_knha", "DL_z", "DL_knha"])
def test_regtest_matches_metafor(bcg, goldens, key):
    method, test = key.split("_")
    g = goldens["regtest"][key]
    res = regtest(bcg.yi, bcg.vi, method=method, test=test)
    for ours, theirs in [
        (res.zval, "zval"),
        (res.pval, "pval"),
        (res.est, "est"),
        (res.ci_lower, "ci_lb"),
        (res.ci_upper, "ci_ub"),
    ]:
        assert ours == pytest.approx(g[theirs], abs=TOL)
    assert res.to_frame().shape == (1, 9)


def test_knha_scale_factor_is_not_truncated():
    # homogeneous studies: s2w < 1, so knha SE is smaller than the z SE (metafor's 'knha', not 'adhoc')
    y = np.array([0.10, 0.11, 0.09, 0.10])
    v = np.full(4, 0.04)
    z, k = rma(y, v, method="REML"), rma(y, v, method="REML", test="knha")
    assert k.s2w < 1
    assert k.se == pytest.approx(z.se * np.sqrt(k.s2w))
    assert k.ddf == 3


def test_prediction_interval_wider_than_ci_and_centred(bcg):
    res = rma(bcg.yi, bcg.vi)
    assert res.pi_lower < res.ci_lower < res.estimate < res.ci_upper < res.pi_upper
    assert res.estimate == pytest.approx((res.pi_lower + res.pi_upper) / 2)


def test_large_k_runs_with_diagonal_weights():
    rng = np.random.default_rng(1)
    k = 20_000
    v = rng.uniform(0.01, 0.5, k)
    y = rng.normal(0.2, np.sqrt(v + 0.1))
    res = rma(y, v, method="REML", mods=rng.normal(size=(k, 2)))
    assert res.k == k
    assert res.tau2 == pytest.approx(0.1, rel=0.1)


def test_single_study_and_fe():
    res = rma([0.4], [0.04])
    assert res.tau2 == 0 and res.k == 1
    assert res.estimate == pytest.approx(0.4)
    assert rma([0.1, 0.5], [0.1, 0.1], method="FE").tau2 == 0


def test_bad_input_is_reported():
    with pytest.raises(ValidationError):
        rma([0.1, 0.2], [0.1, -0.1])
    with pytest.raises(ValidationError):
        rma([0.1, 0.2], [0.1])
    with pytest.raises(ValidationError):
        rma([0.1, 0.2], [0.1, 0.1], method="XX")
    with pytest.raises(ValidationError):
        rma([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], mods=np.column_stack([[1, 2, 3], [2, 4, 6]]))


def test_zeroin_finds_a_root():
    root = zeroin(lambda x: x**3 - 2, 0.0, 2.0, -2.0, 6.0, 1e-12, 100)
    assert root == pytest.approx(2 ** (1 / 3), abs=1e-10)


def test_control_threshold_changes_reml_iterations(bcg):
    loose = rma(bcg.yi, bcg.vi, control=RMAControl(threshold=1e-2))
    tight = rma(bcg.yi, bcg.vi, control=RMAControl(threshold=1e-12))
    assert loose.tau2 == pytest.approx(tight.tau2, abs=1e-2)


def test_subgroups_fit_each_level(bcg):
    by = np.where(bcg.ablat > 30, "far", "near")
    res = rma_by(bcg.yi, bcg.vi, by)
    for g in ("far", "near"):
        sel = by == g
        assert res.groups[g].estimate == pytest.approx(rma(bcg.yi[sel], bcg.vi[sel]).estimate)
    assert res.q_between_df == 1
    assert isinstance(res.to_frame(), pd.DataFrame)


def test_to_frame_has_the_summary(bcg):
    f = rma(bcg.yi, bcg.vi).to_frame()
    assert {"estimate", "ci_lower", "pi_upper", "tau2", "i2", "q_p", "method"} <= set(f.columns)


def _dense_p(X, w):
    """metafor's P = W - WX(X'WX)^-1X'W, formed densely (the reference for the O(k) traces)."""
    W = np.diag(w)
    return W - W @ X @ np.linalg.inv(X.T @ W @ X) @ X.T @ W


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(min_value=4, max_value=40),
    seed=st.integers(min_value=0, max_value=10_000),
    with_mods=st.booleans(),
)
def test_diagonal_formulas_equal_the_dense_matrix_formulas(k, seed, with_mods):
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 1.0, k)
    x = rng.normal(size=k)
    y = 0.3 * x + rng.normal(0, np.sqrt(v + rng.uniform(0, 0.5)))
    mods = x[:, None] if with_mods else None
    X = np.column_stack([np.ones(k), x]) if with_mods else np.ones((k, 1))
    p = X.shape[1]
    yc = y - y.mean()
    P0 = _dense_p(X, 1 / v)
    q = yc @ P0 @ yc
    dl = rma(y, v, method="DL", mods=mods)
    assert dl.q == pytest.approx(q, rel=1e-9)
    assert dl.tau2 == pytest.approx(max(0.0, (q - (k - p)) / np.trace(P0)), rel=1e-9, abs=1e-12)
    vt = (k - p) / np.trace(P0)
    assert dl.i2 == pytest.approx(100 * dl.tau2 / (vt + dl.tau2), abs=1e-9)
    # Fisher scoring can oscillate on some data (metafor then stops with "did not converge" and suggests
    # a smaller step): halve the step here, since this test checks the trace formulas, not the iteration.
    reml = rma(y, v, method="REML", mods=mods, control=RMAControl(threshold=1e-10, maxiter=100_000, stepadj=0.5))
    if reml.tau2 > 1e-6:  # interior optimum: the REML estimating equation y'PPy = tr(P) holds
        P = _dense_p(X, 1 / (v + reml.tau2))
        assert yc @ P @ P @ yc == pytest.approx(np.trace(P), rel=1e-6)
    pm = rma(y, v, method="PM", mods=mods)
    if pm.tau2 > 0:  # generalised Q equals its expectation k - p (to uniroot's tolerance in tau2)
        P = _dense_p(X, 1 / (v + pm.tau2))
        assert yc @ P @ yc == pytest.approx(k - p, rel=1e-3)
