"""Log-rank test: hand-computed, R survdiff goldens, lifelines agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openhsct.outcomes.logrank import logrank_test

GOLDENS = Path(__file__).parent / "goldens"
TOL = 1e-6


def test_hand_computed_two_groups():
    # A dies at 1 and 3, B at 2 and 4.  E_A = 2/4 + 1/3 + 1/2; V = 1/4 + 2/9 + 1/4 (n = 1 at t = 4).
    res = logrank_test([1, 3, 2, 4], [1, 1, 1, 1], ["A", "A", "B", "B"])
    assert res.expected["A"] == pytest.approx(4 / 3, abs=1e-15)
    assert res.observed.tolist() == [2, 2]
    assert res.variance.loc["A", "A"] == pytest.approx(13 / 18, abs=1e-15)
    assert res.statistic == pytest.approx((2 - 4 / 3) ** 2 / (13 / 18), abs=1e-14)
    assert res.df == 1
    assert res.to_frame()["group"].tolist() == ["A", "B"]


@pytest.mark.reference
@pytest.mark.parametrize(
    ("name", "group"),
    [
        ("lung", "group"),
        ("veteran", "trt"),
        ("veteran", "celltype"),
        ("random1", "group"),
        ("random2", "group"),
        ("random3", "group"),
    ],
)
def test_matches_r_survdiff(name, group):
    data = pd.read_csv(GOLDENS / f"data_{name}.csv")
    ref = pd.read_csv(GOLDENS / f"logrank_{name}_{group}.csv")
    res = logrank_test(data["time"], data["status"], data[group])
    assert [str(g) for g in res.observed.index] == ref["group"].astype(str).tolist()
    assert res.n.tolist() == ref["n"].tolist()
    np.testing.assert_allclose(res.observed, ref["observed"], atol=0)
    np.testing.assert_allclose(res.expected, ref["expected"], rtol=0, atol=TOL)
    assert res.statistic == pytest.approx(ref["chisq"].iloc[0], abs=TOL)
    assert res.p_value == pytest.approx(ref["p_value"].iloc[0], abs=TOL)
    assert res.df == ref["df"].iloc[0]


groups_data = st.integers(4, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(1, 15), min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.lists(st.sampled_from("abc"), min_size=n, max_size=n),
    )
)


@settings(max_examples=40, deadline=None)
@given(groups_data)
def test_agrees_with_lifelines(data):
    from lifelines.statistics import multivariate_logrank_test

    time, event, group = data
    if len(set(group)) < 2 or sum(event) == 0:
        return
    try:
        res = logrank_test(time, event, group)
    except ValueError as exc:  # a singular variance, where R's survdiff stops as well
        assert "singular" in str(exc)
        return
    assert res.observed.sum() == pytest.approx(res.expected.sum(), abs=1e-9)
    if res.df != len(set(group)) - 1:
        return  # lifelines keeps groups with no expected events; survdiff drops them
    ref = multivariate_logrank_test(time, group, event)
    assert res.statistic == pytest.approx(ref.test_statistic, rel=1e-9, abs=1e-9)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="length mismatch"):
        logrank_test([1, 2, 3], [1, 0, 1], ["a", "b"])
    with pytest.raises(ValueError, match="0 \\(censored\\) or 1"):
        logrank_test([1, 2], [1, 3], ["a", "b"])
    with pytest.raises(ValueError, match="singular"):
        logrank_test([1, 1, 1, 1], [1, 1, 1, 1], ["a", "a", "a", "b"])
