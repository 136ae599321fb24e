"""Effects, weights, balance and the E-value: hand-computed cases, then agreement with the validated
outcomes Cox engine, then edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from openhsct.comparative.balance import balance_table
from openhsct.comparative.effects import (
    cox_treatment_effect,
    cumulative_hazard,
    negative_binomial_rate_ratio,
    pairwise_censor,
)
from openhsct.comparative.errors import ComparativeError
from openhsct.comparative.evalue import e_value_hr
from openhsct.comparative.weighting import iptw
from openhsct.outcomes.cox import cox_ph


def test_pairwise_censoring_follows_each_set_to_its_shortest_follow_up():
    time, event = pairwise_censor([5, 3, 2, 4, 7], [1, 0, 1, 1, 1], [1, 1, 2, 2, 0])
    np.testing.assert_array_equal(time, [3, 3, 2, 2, 7])
    np.testing.assert_array_equal(event, [0, 0, 1, 0, 1])  # unmatched (subclass 0) unchanged


def test_weighted_nelson_aalen_by_hand():
    ch = cumulative_hazard([1, 2, 2, 3], [1, 1, 0, 1], [1, 1, 1, 1], weights=[1, 2, 1, 1])
    # At t=1: 1 / (1+2+1+1) = 0.2; t=2: 2 / 4 = 0.5; t=3: 1 / 1.
    np.testing.assert_allclose(ch.loc[ch["arm"] == 1, "cumhaz"], [0.2, 0.7, 1.7])


def test_unweighted_naive_cox_equals_the_outcomes_engine():
    rng = np.random.default_rng(5)
    n = 200
    treat = rng.integers(0, 2, n)
    time = np.ceil(rng.exponential(1 / np.where(treat == 1, 0.5, 1.0)) * 30)  # whole days: ties
    event = (rng.random(n) < 0.8).astype(int)
    ours = cox_treatment_effect(time, event, treat, variance="naive")
    ref = cox_ph(pd.DataFrame({"t": time, "e": event, "treat": treat}), "t", "e")
    assert ours.coef == pytest.approx(ref.coef["treat"], abs=1e-9)
    assert ours.se == pytest.approx(ref.se["treat"], abs=1e-9)
    assert ours.estimate == pytest.approx(ref.hazard_ratio["treat"], abs=1e-9)


def test_integer_weights_on_censored_rows_equal_repeated_rows_and_scale_is_irrelevant():
    # Repeating an event row would create tied events, which Efron treats differently from a weight (as
    # R's coxph does); weights on censored rows and distinct event times must match repetition exactly.
    time = np.array([3.0, 5, 6, 8, 9, 12, 4, 7])
    event = np.array([1, 1, 0, 1, 1, 0, 1, 0])
    treat = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    w = np.array([1, 1, 3, 1, 1, 2, 1, 4])
    weighted = cox_treatment_effect(time, event, treat, w, variance="naive")
    rep = np.repeat(np.arange(8), w)
    repeated = cox_treatment_effect(time[rep], event[rep], treat[rep], variance="naive")
    assert weighted.coef == pytest.approx(repeated.coef, abs=1e-10)
    assert weighted.se == pytest.approx(repeated.se, abs=1e-10)
    scaled = cox_treatment_effect(time, event, treat, 2.5 * w, variance="survey")
    assert scaled.coef == pytest.approx(cox_treatment_effect(time, event, treat, w, variance="survey").coef)


def test_cox_needs_events_and_both_arms():
    with pytest.raises(ComparativeError, match="no events"):
        cox_treatment_effect([1, 2], [0, 0], [0, 1])
    with pytest.raises(ComparativeError, match="both arms"):
        cox_treatment_effect([1, 2], [1, 1], [1, 1])
    with pytest.raises(ComparativeError, match="no events in the comparator arm"):
        cox_treatment_effect([1, 2, 3, 4], [1, 1, 0, 0], [1, 1, 0, 0])


def test_negative_binomial_without_overdispersion_gives_the_rate_ratio():
    # Equal counts per year within each arm: the ML rate ratio is the ratio of the crude rates.
    count = [1, 1, 2, 2, 4, 4, 8, 8]
    years = [1, 1, 2, 2, 1, 1, 2, 2]
    rr = negative_binomial_rate_ratio(count, years, [1, 1, 1, 1, 0, 0, 0, 0])
    assert rr.estimate == pytest.approx((6 / 6) / (24 / 6), rel=1e-8)
    assert rr.arr_treated == pytest.approx(1.0) and rr.arr_control == pytest.approx(4.0)
    with pytest.raises(ComparativeError, match="relapses in both arms"):
        negative_binomial_rate_ratio([0, 0, 1, 2], [1, 1, 1, 1], [1, 1, 0, 0])


def test_stabilised_weights_by_hand():
    ps = np.array([0.5, 0.25, 0.5, 0.25])
    treat = np.array([1, 1, 0, 0])
    ate = iptw(ps, treat, "ATE")
    np.testing.assert_allclose(ate.weights, [0.5 / 0.5, 0.5 / 0.25, 0.5 / 0.5, 0.5 / 0.75])
    att = iptw(ps, treat, "ATT")
    np.testing.assert_allclose(att.weights, [1, 1, 1.0, 1 / 3])
    trunc = iptw(ps, treat, "ATE", truncate=(0.0, 0.5))
    assert trunc.weights.max() == pytest.approx(np.quantile(ate.weights, 0.5))
    with pytest.raises(ComparativeError, match="strictly between"):
        iptw([0.0, 0.5], [1, 0])


def test_balance_by_hand():
    data = pd.DataFrame({"age": [30.0, 40, 50, 60], "sex": ["f", "m", "f", "f"]})
    b = balance_table(data, [1, 1, 0, 0], ["age", "sex"], weights=[1, 1, 1, 1])
    t = b.table
    # SMD = (35 - 55) / sd of the treated (sqrt(50)); the 0/1 level sexf: (0.5 - 1) / sqrt(0.5 * 0.5).
    assert t.loc["age", "smd_un"] == pytest.approx(-20 / np.sqrt(50))
    assert t.loc["sexf", "smd_un"] == pytest.approx(-1.0)
    assert t.loc["age", "var_ratio_un"] == pytest.approx(1.0) and np.isnan(t.loc["sexf", "var_ratio_un"])
    assert not b.balanced and "age" in b.unbalanced
    assert "<svg" in b.love_plot_svg()


def test_e_value_worked_examples():
    # VanderWeele & Ding 2017: RR 3.9 (1.8-8.7) -> E-values 7.26 and 3.00.
    ev = e_value_hr(3.9, 1.8, 8.7)
    assert ev.estimate == pytest.approx(7.26, abs=0.005) and ev.limit == pytest.approx(3.0, abs=0.005)
    protective = e_value_hr(0.5, 0.3, 0.8)  # 1/0.5 = 2 -> 2 + sqrt(2); limit 1/0.8 = 1.25
    assert protective.estimate == pytest.approx(2 + np.sqrt(2))
    assert protective.limit == pytest.approx(1.25 + np.sqrt(1.25 * 0.25))
    assert e_value_hr(0.8, 0.5, 1.2).limit == 1.0  # the interval includes 1
    common = e_value_hr(0.5, 0.3, 0.8, rare=False)
    assert common.rr == pytest.approx((1 - 0.5 ** np.sqrt(0.5)) / (1 - 0.5 ** np.sqrt(2)))
