
import numpy as np

from openhsct.evidence.meta import rma
from openhsct.evidence.plots import forest_chart_svg, forest_data, funnel_data
from openhsct.evidence.pooling import pooled_outcome


def test_forest_data_has_studies_then_the_pooled_row():
    res = pooled_outcome("pfs_5y", model="logit")
    f = forest_data(res)
    assert f["key"].tolist() == [*res.studies["key"], "pooled"]
    assert (f["ci_lower"] <= f["proportion"]).all() and (f["proportion"] <= f["ci_upper"]).all()
    last = f.iloc[-1]
    assert (last.proportion, last.pi_lower) == (res.proportion, res.pi_lower)


def test_funnel_region_is_centred_on_the_estimate(bcg):
    fit = rma(bcg.yi, bcg.vi)
    studies, region = funnel_data(fit)
    np.testing.assert_allclose(studies["sei"], np.sqrt(bcg.vi))
    np.testing.assert_allclose((region["lower"] + region["upper"]) / 2, fit.estimate)
    assert region["sei"].iloc[0] == 0


def test_forest_chart_is_svg():
    svg = forest_chart_svg(pooled_outcome("trm", model="logit"))
    assert svg.startswith("<svg") and "Muraro 2025 (UK, n = 364)" in svg and "uk2025_realworld" not in svg


def test_a_single_study_has_no_pooled_row_and_keeps_its_exact_interval():
    res = pooled_outcome("pfs_2y")
    f = forest_data(res)
    assert f["key"].tolist() == res.studies["key"].tolist()
    assert (f.loc[0, "ci_lower"], f.loc[0, "ci_upper"]) == (res.ci_lower, res.ci_upper)
