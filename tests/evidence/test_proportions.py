import numpy as np
import pytest

from openhsct.errors import ValidationError
from openhsct.evidence.effects import transf_ilogit
from openhsct.evidence.meta import rma
from openhsct.evidence.proportions import rma_prop

OUTCOMES = ["trm", "pfs_5y", "neda_5y", "rfs_5y"]
KEYS = [f"{ms}_{m}_{t}" for ms in ("PLO", "PFT") for m in ("DL", "REML", "PM") for t in ("z", "knha")]


@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("key", KEYS)
def test_ahsct_proportions_match_metafor(goldens, outcome, key):
    d = goldens["ahsct"][outcome]
    g = d[key]
    measure, method, test = key.split("_")
    res = rma_prop(d["xi"], d["ni"], measure=measure, method=method, test=test)
    np.testing.assert_allclose(res.fit.yi, g["yi"], atol=1e-12)
    np.testing.assert_allclose(res.fit.vi, g["vi"], atol=1e-12)
    for ours, theirs in [
        (res.estimate, "coef"),
        (res.se, "se"),
        (res.tau2, "tau2"),
        (res.i2, "I2"),
        (res.fit.q, "QE"),
        (res.proportion, "pred"),
        (res.ci_lower, "pred_ci_lb"),
        (res.ci_upper, "pred_ci_ub"),
        (res.pi_lower, "pi_lb"),
        (res.pi_upper, "pi_ub"),
    ]:
        assert ours == pytest.approx(g[theirs], abs=1e-6), theirs


def test_logit_back_transformation_by_hand():
    res = rma_prop([5, 10], [50, 50], measure="PLO", method="FE")
    y = np.log(np.array([5 / 45, 10 / 40]))
    w = 1 / np.array([1 / 5 + 1 / 45, 1 / 10 + 1 / 40])
    assert res.proportion == pytest.approx(transf_ilogit(np.sum(w * y) / w.sum()))
    assert res.ci_lower < res.proportion < res.ci_upper
    assert res.to_frame().loc[0, "proportion"] == res.proportion


def test_all_zero_studies_pool_to_near_zero_with_pft():
    res = rma_prop([0, 0, 0], [55, 174, 418], measure="PFT")
    assert res.proportion == 0.0
    assert res.ci_lower == 0.0 and res.ci_upper > 0
    assert rma(res.fit.yi, res.fit.vi).tau2 == res.tau2


def test_unknown_measure():
    with pytest.raises(ValidationError):
        rma_prop([1], [10], measure="PAS")
