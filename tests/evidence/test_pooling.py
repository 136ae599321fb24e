import numpy as np
import pytest

from openhsct.errors import ValidationError
from openhsct.evidence.glmm import rma_glmm
from openhsct.evidence.pooling import outcome_studies, pooled_outcome, pooled_outcome_by
from openhsct.evidence.proportions import rma_prop

PORTAL_OUTCOMES = ["trm", "pfs_2y", "pfs_5y", "neda_2y", "neda_5y"]


def test_trm_counts_come_from_the_table(goldens):
    studies, excluded = outcome_studies("trm")
    g = goldens["ahsct"]["trm"]
    assert studies["key"].tolist() == g["key"]
    assert studies["events"].tolist() == g["xi"]
    assert studies["n"].tolist() == g["ni"]
    uk = studies.set_index("key").loc["uk2025_realworld"]
    assert (uk.events, uk.n) == (5, 364)
    assert "silfverberg2024_sweden" in excluded["key"].tolist()


def test_percent_outcomes_become_effective_counts():
    studies, _ = outcome_studies("pfs_5y")
    uk = studies.set_index("key").loc["uk2025_realworld"]
    assert uk.n == 271
    assert uk.events == pytest.approx(0.624 * 271)
    assert uk.observed == pytest.approx(0.624)


@pytest.mark.parametrize("outcome", PORTAL_OUTCOMES)
@pytest.mark.parametrize("model", ["glmm", "logit", "ft"])
def test_pooled_outcome_for_the_portal(outcome, model):
    res = pooled_outcome(outcome, model=model)
    assert 0 <= res.ci_lower <= res.proportion <= res.ci_upper <= 1
    if res.k > 1:
        assert res.kind == "pooled" and 0 <= res.pi_lower <= res.pi_upper <= 1
        assert res.median_study.lower <= res.median_study.estimate <= res.median_study.upper
        assert (res.marginal is not None) == (model == "glmm")
    else:
        assert res.kind == "single study" and np.isnan(res.pi_lower)
    assert res.crude.lower <= res.crude.estimate <= res.crude.upper
    assert res.k == len(res.studies) >= 1
    assert res.studies["citation"].notna().all() and res.studies["source_url"].notna().all()
    assert res.studies["weight_pct"].sum() == pytest.approx(100)
    d = res.to_dict()
    assert d["studies"][0]["key"] == res.studies["key"].iloc[0]


def test_pooled_trm_equals_the_underlying_fits():
    studies, _ = outcome_studies("trm")
    x, n = studies["events"].to_numpy(float), studies["n"].to_numpy(float)
    glmm = pooled_outcome("trm")
    assert glmm.median_study.estimate == pytest.approx(rma_glmm(x, n).proportion)
    assert glmm.proportion == pytest.approx(rma_glmm(x, n).marginal().estimate)
    assert glmm.proportion > glmm.median_study.estimate  # tau^2 > 0 and rare events
    ft = pooled_outcome("trm", model="ft", method="DL", test="knha")
    assert ft.proportion == pytest.approx(rma_prop(x, n, "PFT", "DL", "knha").proportion)
    assert ft.method == "DL" and ft.test == "knha"


def test_single_study_outcome_has_no_heterogeneity():
    res = pooled_outcome("pfs_2y", model="logit")
    assert res.k == 1 and res.tau2 == 0 and res.kind == "single study"
    assert res.proportion == pytest.approx(0.835)


def test_subgroups_split_the_studies_and_report_unfittable_groups():
    sub = pooled_outcome_by("trm", "era")
    keys = [k for g in sub.groups.values() for k in g.studies["key"]]
    assert len(keys) == len(set(keys))
    # the one study with unknown year (no deaths) is shown as a single study, never "pooled"
    assert sub.groups["unknown"].kind == "single study" and sub.groups["unknown"].proportion == 0
    assert "before 2020" in sub.not_fitted  # two series, neither with a death
    assert sub.q_between_df == 0 and np.isnan(sub.q_between_p)  # one group left with a usable SE
    five = pooled_outcome_by("pfs_5y", "era")
    assert five.q_between_df == len(five.groups) - 1 and np.isfinite(five.q_between_p)
    assert set(five.to_frame().index) == set(five.groups)


def test_unknown_outcome_and_model():
    with pytest.raises(ValidationError):
        pooled_outcome("overall_survival")
    with pytest.raises(ValidationError):
        pooled_outcome("trm", model="bayes")
    with pytest.raises(ValidationError):
        pooled_outcome_by("trm", "country")
