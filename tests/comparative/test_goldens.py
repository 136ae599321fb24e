"""openhsct.comparative against R: glm, MatchIt 4.5.1, summary(), coxph(cluster), svycoxph, glm.nb."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from openhsct.comparative.balance import balance_table
from openhsct.comparative.effects import cox_treatment_effect, negative_binomial_rate_ratio, pairwise_censor
from openhsct.comparative.matching import match_nearest
from openhsct.comparative.propensity import MSBASE_COVARIATES, propensity_score
from openhsct.comparative.weighting import iptw

pytestmark = pytest.mark.reference
HERE = Path(__file__).parent / "goldens"
GOLDEN = json.loads((HERE / "comparative_goldens.json").read_text())
DATA = pd.read_csv(HERE / "comparison.csv")
TOL = 1e-6


@pytest.fixture(scope="module")
def ps():
    return propensity_score(DATA, covariates=MSBASE_COVARIATES)


def _close(ours: float, ref: float, tol: float = TOL) -> None:
    assert abs(ours - ref) <= tol * max(1.0, abs(ref)), (ours, ref)


def test_propensity_score_equals_glm(ps):
    np.testing.assert_allclose(ps.ps, GOLDEN["glm"]["ps"], rtol=0, atol=TOL)
    for name, value in GOLDEN["glm"]["coef"].items():
        _close(ps.coef[name], value)


@pytest.mark.parametrize("spec", GOLDEN["matches"], ids=lambda s: f"ratio{s['ratio']}-{s['link']}")
def test_matched_sets_equal_matchit_4_5_1_call(ps, spec):
    """The plain matchit() call, defects of 4.5.1 included: identical subclasses and weights."""
    m = match_nearest(ps.distance(spec["link"]), DATA["treat"], ratio=spec["ratio"], caliper=0.1, compat="4.5.1")
    np.testing.assert_array_equal(m.subclass, spec["subclass_unscaled"])
    np.testing.assert_allclose(m.weights, spec["weights_unscaled"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("spec", [s for s in GOLDEN["matches"] if s["ratio"] == 1], ids=lambda s: s["link"])
def test_caliper_matching_equals_matchit(ps, spec):
    """1:1 with a 0.1 SD caliper as MatchIt intends it (distance scaled so 4.5.1's int abs() is moot)."""
    m = match_nearest(ps.distance(spec["link"]), DATA["treat"], ratio=1, caliper=0.1)
    _close(m.caliper, spec["caliper"])
    np.testing.assert_array_equal(m.subclass, spec["subclass"])
    np.testing.assert_allclose(m.weights, spec["weights"], rtol=0, atol=1e-12)
    assert m.n_treated_unmatched > 0  # the caliper binds on these data


@pytest.mark.parametrize("spec", GOLDEN["matches"], ids=lambda s: f"ratio{s['ratio']}-{s['link']}")
def test_balance_equals_matchit_summary(spec):
    b = balance_table(DATA, DATA["treat"], MSBASE_COVARIATES, weights=spec["weights"], distance=spec["distance"])
    assert list(b.table.index) == spec["balance_rows"]
    for label, cols in (("balance_all", "_un"), ("balance_matched", "_adj")):
        ref = pd.DataFrame(spec[label]).T.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        ours = b.table[[f"mean_treated{cols}", f"mean_control{cols}", f"smd{cols}", f"var_ratio{cols}"]].to_numpy()
        # The distance row's means are on R's 1e8-scaled distance; its SMD and variance ratio are scale-free.
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
        np.testing.assert_allclose(ours[1:], ref[1:], rtol=TOL, atol=TOL, equal_nan=True)
        np.testing.assert_allclose(ours[0, 2:], ref[0, 2:], rtol=TOL, atol=TOL, equal_nan=True)


@pytest.mark.parametrize("spec", GOLDEN["matches"], ids=lambda s: f"ratio{s['ratio']}-{s['link']}")
def test_matched_cox_and_negative_binomial_equal_r(spec):
    """On R's matched sets: coxph(weights, cluster = subclass), pairwise censoring, glm.nb + CR0."""
    sub = np.asarray(spec["subclass"])
    w = np.asarray(spec["weights"])
    keep = w > 0
    d = DATA.loc[keep]
    hr = cox_treatment_effect(d["time"], d["event"], d["treat"], w[keep], sub[keep])
    _close(hr.coef, spec["cox"]["coef"])
    _close(hr.se, spec["cox"]["se"])
    _close(hr.se_naive, spec["cox"]["se_naive"])
    t2, e2 = pairwise_censor(d["time"], d["event"], sub[keep])
    pw = cox_treatment_effect(t2, e2, d["treat"], w[keep], sub[keep])
    _close(pw.coef, spec["cox_pairwise"]["coef"])
    _close(pw.se, spec["cox_pairwise"]["se"])
    nb = negative_binomial_rate_ratio(d["relapses"], d["fu_years"], d["treat"], w[keep], sub[keep])
    _close(nb.coef, spec["nb"]["coef"])
    _close(nb.se, spec["nb"]["se"])
    _close(nb.theta, spec["nb"]["theta"])


@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
def test_iptw_cox_equals_svycoxph(ps, estimand):
    ref = GOLDEN["iptw"][estimand.lower()]
    w = iptw(ps.ps, DATA["treat"], estimand=estimand)
    np.testing.assert_allclose(w.weights, ref["weights"], rtol=TOL)
    hr = cox_treatment_effect(DATA["time"], DATA["event"], DATA["treat"], w.weights, variance="survey")
    _close(hr.coef, ref["coef"])
    _close(hr.se, ref["se"])
