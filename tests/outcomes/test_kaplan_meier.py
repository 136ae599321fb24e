"""Kaplan–Meier: hand-computed cases, R survfit goldens, lifelines agreement, edge cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openhsct.outcomes.kaplan_meier import kaplan_meier, km_summary, reverse_km_median_followup

GOLDENS = Path(__file__).parent / "goldens"
DATA_SETS = ["lung", "veteran", "random1", "random2", "random3"]
CONF_TYPES = ["log", "log-log", "plain"]
TOL = 1e-6


def golden(name: str) -> pd.DataFrame:
    return pd.read_csv(GOLDENS / name)


def close(ours, theirs, atol: float = TOL) -> None:
    np.testing.assert_allclose(np.asarray(ours, float), np.asarray(theirs, float), rtol=0, atol=atol)


# ---- hand-computed -----------------------------------------------------------------------------


def test_hand_computed_table():
    # times 1,2,2+,3,4: S = 4/5, 4/5*3/4, 0.6*1/2, 0; Greenwood terms 1/20, 1/12, 1/2, 1/0.
    fit = kaplan_meier([1, 2, 2, 3, 4], [1, 1, 0, 1, 1])
    assert fit["time"].tolist() == [1, 2, 3, 4]
    assert fit["n_risk"].tolist() == [5, 4, 2, 1]
    assert fit["n_event"].tolist() == [1, 1, 1, 1]
    assert fit["n_censor"].tolist() == [0, 1, 0, 0]
    close(fit["survival"], [0.8, 0.6, 0.3, 0.0], atol=1e-15)
    se = np.sqrt(np.cumsum([1 / 20, 1 / 12, 1 / 2]))
    close(fit["std_err"][:3], se, atol=1e-15)
    assert fit["std_err"].iloc[3] == np.inf
    z = 1.959963984540054
    close(fit["lower"][:3], np.exp(np.log([0.8, 0.6, 0.3]) - z * se), atol=1e-12)
    assert fit["upper"][:3].tolist() == [1.0, 1.0, 1.0]
    assert np.isnan(fit["lower"].iloc[3]) and np.isnan(fit["upper"].iloc[3])


def test_median_exactly_half_takes_midpoint():
    # S = 0.75, 0.5, 0.25, 0: S sits at 0.5 on [2, 3), so the median is (2 + 3) / 2.
    s = km_summary([1, 2, 3, 4], [1, 1, 1, 1])
    assert s.median == 2.5


def test_summary_at_times_hand_computed():
    s = km_summary([1, 2, 2, 3, 4], [1, 1, 0, 1, 1], times=[0, 1.5, 2, 3.5, 10])
    at = s.at
    assert at["time"].tolist() == [0, 1.5, 2, 3.5]  # 10 is after the last time: dropped, as R
    assert at["n_risk"].tolist() == [5, 4, 4, 1]
    assert at["n_event"].tolist() == [0, 1, 1, 1]
    close(at["survival"], [1, 0.8, 0.6, 0.3], atol=1e-15)
    assert (s.median, s.median_lower) == (3.0, 2.0)
    assert np.isnan(s.median_upper)
    extended = km_summary([1, 2, 2, 3, 4], [1, 1, 0, 1, 1], times=[10], extend=True).at
    assert extended["n_risk"].tolist() == [0] and extended["survival"].tolist() == [0.0]


# ---- R goldens ---------------------------------------------------------------------------------


@pytest.mark.reference
@pytest.mark.parametrize("conf_type", CONF_TYPES)
@pytest.mark.parametrize("name", DATA_SETS)
def test_matches_r_survfit(name, conf_type):
    data = golden(f"data_{name}.csv")
    ref = golden(f"km_{name}_{conf_type}.csv")
    fit = kaplan_meier(data["time"], data["status"], conf_type=conf_type)
    assert len(fit) == len(ref)
    close(fit["time"], ref["time"], atol=0)
    for col in ["n_risk", "n_event", "n_censor"]:
        assert fit[col].tolist() == ref[col].tolist()
    for col in ["survival", "std_err", "lower", "upper"]:
        close(fit[col], ref[col])


@pytest.mark.reference
@pytest.mark.parametrize("conf_type", CONF_TYPES)
@pytest.mark.parametrize("name", DATA_SETS)
def test_summary_matches_r(name, conf_type):
    data = golden(f"data_{name}.csv")
    ref = golden(f"km_summary_{name}_{conf_type}.csv")
    requested = {
        "lung": [0, 100, 182.5, 365, 500, 730, 1000],
        "veteran": [0, 30, 90, 180, 365, 999],
        "random1": [0, 1, 5, 10.5, 20, 40],
        "random2": [0, 3, 15, 30, 60, 89],
        "random3": [0, 1, 2.5, 4, 6, 11],
    }[name]
    s = km_summary(data["time"], data["status"], times=requested, conf_type=conf_type)
    assert s.at["time"].tolist() == ref["time"].tolist()
    assert s.at["n_risk"].tolist() == ref["n_risk"].tolist()
    assert s.at["n_event"].tolist() == ref["n_event"].tolist()
    for col in ["survival", "std_err", "lower", "upper"]:
        close(s.at[col], ref[col])
    med = golden("km_median.csv").query("data == @name and conf_type == @conf_type").iloc[0]
    close([s.median, s.median_lower, s.median_upper], med[["median", "lower", "upper"]].astype(float))


@pytest.mark.reference
@pytest.mark.parametrize("name", DATA_SETS)
def test_reverse_km_matches_r(name):
    data = golden(f"data_{name}.csv")
    ref = golden("reverse_km.csv").set_index("data").loc[name]
    fu = reverse_km_median_followup(data["time"], data["status"])
    close([fu.median, fu.lower, fu.upper], ref[["median", "lower", "upper"]].astype(float))
    np.testing.assert_equal(float(fu), fu.median)


# ---- properties and lifelines ------------------------------------------------------------------

survival_data = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 15), min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(survival_data)
def test_survival_is_a_monotone_step_function(data):
    time, event = data
    fit = kaplan_meier(time, event, conf_type="plain")
    s = fit["survival"].to_numpy()
    assert ((s >= 0) & (s <= 1)).all()
    assert (np.diff(s) <= 1e-15).all()
    assert (np.diff(fit["n_risk"]) < 0).all()
    assert fit["n_event"].sum() == sum(event)
    assert fit["n_risk"].iloc[0] == len(time)
    lo, hi = fit["lower"].to_numpy(), fit["upper"].to_numpy()
    ok = ~np.isnan(lo)
    assert (lo[ok] <= s[ok] + 1e-12).all() and (hi[ok] >= s[ok] - 1e-12).all()


@settings(max_examples=40, deadline=None)
@given(survival_data)
def test_agrees_with_lifelines(data):
    from lifelines import KaplanMeierFitter

    time, event = data
    fit = kaplan_meier(time, event)
    ref = KaplanMeierFitter().fit(time, event).survival_function_["KM_estimate"]
    close(fit["survival"], ref.loc[fit["time"]].to_numpy(), atol=1e-12)


# ---- edge cases --------------------------------------------------------------------------------


def test_single_patient():
    fit = kaplan_meier([7.0], [1])
    assert fit["survival"].tolist() == [0.0]
    assert km_summary([7.0], [1]).median == 7.0


def test_no_events_gives_flat_curve_and_no_median():
    fit = kaplan_meier([3, 1, 2], [0, 0, 0])
    assert fit["survival"].tolist() == [1.0, 1.0, 1.0]
    assert fit["std_err"].tolist() == [0.0, 0.0, 0.0]
    assert fit["lower"].tolist() == [1.0, 1.0, 1.0]
    assert np.isnan(km_summary([3, 1, 2], [0, 0, 0]).median)


def test_censoring_at_an_event_time_stays_in_the_risk_set():
    # At t = 2 one event and one censoring: both are at risk, S drops by 1/3 only.
    fit = kaplan_meier([1, 2, 2, 5], [0, 1, 0, 1])
    row = fit.set_index("time").loc[2]
    assert (row["n_risk"], row["n_event"], row["n_censor"]) == (3, 1, 1)
    assert row["survival"] == pytest.approx(2 / 3, abs=1e-15)


@pytest.mark.parametrize(
    ("time", "event", "message"),
    [
        ([1, -2, 3], [1, 0, 1], "non-negative"),
        ([1, np.nan, 3], [1, 0, 1], "finite"),
        ([1, 2, 3], [1, 2, 1], "0 \\(censored\\) or 1"),
        ([1, 2, 3], [1, np.nan, 1], "finite"),
        ([1, 2, 3], [1, 0], "length mismatch"),
        ([], [], "empty"),
    ],
)
def test_bad_input_is_refused(time, event, message):
    with pytest.raises(ValueError, match=message):
        kaplan_meier(time, event)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="conf_type"):
        kaplan_meier([1, 2], [1, 1], conf_type="logit")
    with pytest.raises(ValueError, match="conf_level"):
        kaplan_meier([1, 2], [1, 1], conf_level=95)
