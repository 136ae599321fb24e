"""Sensitivity analyses of the pooled TRM: what each leaves out or adds, and agreement with R."""

import json

import numpy as np
import pandas as pd
import pytest

from openhsct.evidence.sensitivity import largest_per_group, sensitivity_analyses

from .conftest import GOLDENS


@pytest.fixture(scope="module")
def trm():
    return sensitivity_analyses("trm")


@pytest.fixture(scope="module")
def r_marginal() -> dict:
    return json.loads((GOLDENS / "glmm_marginal_goldens.json").read_text())


def test_largest_per_group_by_hand():
    rows = pd.DataFrame(
        {
            "key": ["a", "b", "c", "d", "arm"],
            "n": [100, 300, 50, 200, 400],
            "overlap_group": ["X; Y", "X", None, "Y; Z", "X"],
            "row_type": ["study", "study", "study", "study", "comparator_arm"],
        }
    )
    # b (300, X) first; d (200, Y; Z) next; a shares X and Y; c has no label; the arm is no study
    assert largest_per_group(rows)["key"].tolist() == ["b", "d", "c"]


def test_ascertainment_analysis_drops_the_limited_series(trm):
    a = {x.name: x for x in trm.analyses}["ascertainment"]
    assert a.left_out == ("ruizarguelles_mexico_617",) and a.added == ()
    assert (a.pooled.studies["death_ascertainment"] != "limited (e.g. short follow-up, self-report)").all()
    assert a.pooled.n_total == trm.main.n_total - 617 and a.pooled.events == trm.main.events


def test_sensitivity_agrees_with_r(trm, r_marginal):
    by_name = {x.name: x for x in trm.analyses}
    for name, case in (
        ("ascertainment", "trm_ascertainment"),
        ("largest_per_group", "trm_largest_per_group"),
    ):
        g, pooled = r_marginal[case], by_name[name].pooled
        assert pooled.studies["key"].tolist() == g["key"]
        m = g["marginal"]
        assert (pooled.proportion, pooled.ci_lower, pooled.ci_upper) == pytest.approx(
            (m["estimate"], m["lower"], m["upper"]), abs=1e-6
        )
        assert pooled.crude.estimate == pytest.approx(g["crude"]["estimate"], abs=1e-12)
    largest = by_name["largest_per_group"]
    assert set(largest.added) == {
        "muraro2017_ebmt_longterm",
        "silfverberg2024_sweden",
        "melnichenko2022_pirogov_418",
    }


def test_era_moderator(trm, r_marginal):
    era, g = trm.era, r_marginal["trm_era"]
    assert era.left_out == ("ruizarguelles_mexico_617",)  # no publication year
    assert list(era.studies) == g["key"]
    f = era.to_frame()
    assert f.loc["decade", "estimate"] == pytest.approx(g["coef"][1], abs=1e-5)
    assert f.loc["decade", "or_estimate"] == pytest.approx(np.exp(g["coef"][1]), rel=1e-4)
    years = sorted(era.at_year)
    assert years == [int(y) for y in (min(g["year"]), max(g["year"]))]
    for y, ref in zip(years, g["marginal_at"], strict=True):
        assert era.at_year[y].estimate == pytest.approx(ref["estimate"], abs=1e-6)


def test_returned_as_data(trm):
    frame = trm.to_frame()
    assert frame["name"].tolist() == ["main", "ascertainment", "largest_per_group"]
    for col in ("marginal_estimate", "median_study_estimate", "crude_estimate", "pi_lower", "pi_upper"):
        assert frame[col].notna().all(), col
    d = trm.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["era"]["left_out"] == ["ruizarguelles_mexico_617"]
    assert d["analyses"][0]["pooled"]["marginal"]["conf_level"] == 0.95


def test_an_outcome_without_deaths_has_no_ascertainment_analysis():
    res = sensitivity_analyses("pfs_5y")
    assert [a.name for a in res.analyses] == ["largest_per_group"]
