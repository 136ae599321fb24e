"""Kaplan–Meier's two paths: counting integer times and sorting any times give the same table.

The counting path (``np.bincount`` over integer times) and the sorting path (one sort of the times'
bits) must give identical numbers at risk, events, estimate, standard error and every CI type. Checked
by hand, against a plain pandas ``groupby`` risk table, against each other on random inputs
(hypothesis), and against R ``survfit`` goldens made for each path (``reference/r/km_paths_goldens.R``).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openhsct.outcomes.kaplan_meier import kaplan_meier, km_summary, reverse_km_median_followup

KM = importlib.import_module("openhsct.outcomes.kaplan_meier")  # the module, not its function
GOLDENS = Path(__file__).parent / "goldens"
CONF_TYPES = ["log", "log-log", "plain"]
INT_COLUMNS = ["n_risk", "n_event", "n_censor"]
FLOAT_COLUMNS = ["time", "survival", "std_err", "lower", "upper"]


def frame_by(path: str, time, event, conf_type: str, conf_level: float = 0.95) -> pd.DataFrame:
    t, e = KM._validated(time, event)
    return KM._frame(KM._km_table(t, e, path), conf_type, conf_level)


def assert_same_table(ours: pd.DataFrame, theirs: pd.DataFrame, atol: float = 1e-12) -> None:
    assert list(ours.columns) == list(theirs.columns)
    for col in INT_COLUMNS:
        assert ours[col].dtype == theirs[col].dtype == np.int64
        np.testing.assert_array_equal(ours[col].to_numpy(), theirs[col].to_numpy())
    for col in FLOAT_COLUMNS:
        np.testing.assert_allclose(ours[col].to_numpy(), theirs[col].to_numpy(), rtol=0, atol=atol)


def groupby_risk_table(time, event) -> pd.DataFrame:
    """The risk table written the slow, obvious way: group by time, count, and subtract."""
    data = pd.DataFrame({"time": np.asarray(time, float) + 0.0, "event": np.asarray(event, int)})
    by = data.groupby("time")["event"].agg(["size", "sum"]).sort_index()
    n_risk = len(data) - by["size"].cumsum().shift(fill_value=0)
    return pd.DataFrame(
        {
            "time": by.index.to_numpy(),
            "n_risk": n_risk.to_numpy(),
            "n_event": by["sum"].to_numpy(),
            "n_censor": (by["size"] - by["sum"]).to_numpy(),
        }
    )


# ---- which path, by hand -----------------------------------------------------------------------


def test_integer_days_are_counted_and_other_times_sorted():
    days = np.array([3.0, 0.0, 7.0, 3.0])
    codes, start, span = KM._integer_codes(days)
    assert codes.tolist() == [3, 0, 7, 3] and (start, span) == (0, 8)
    offset = KM._integer_codes(np.array([1e6 + 2, 1e6, 1e6 + 2]))
    assert offset[0].tolist() == [2, 0, 2] and offset[1:] == (1_000_000, 3)
    assert KM._integer_codes(np.array([1.0, 2.5, 3.0])) is None  # not integers
    assert KM._integer_codes(np.array([0.0, 1e4, 2e4])) is None  # span 20,001 > max(n, 1024)
    assert KM._integer_codes(np.array([2.0**53, 2.0**53])) is None  # beyond exact integers


def test_counting_path_hand_computed():
    # times 1,2,2+,3,4: bincount slots (censored, event) per day 1..4: (0,1) (1,1) (0,1) (0,1).
    t, e = KM._validated([1, 2, 2, 3, 4], [1, 1, 0, 1, 1])
    uniq, n_risk, n_event, n_censor = KM._risk_table_counted(*KM._integer_codes(t), e)
    assert uniq.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert n_risk.tolist() == [5, 4, 2, 1]
    assert n_event.tolist() == [1, 1, 1, 1]
    assert n_censor.tolist() == [0, 1, 0, 0]
    km = KM._km_table(t, e, "count")
    np.testing.assert_allclose(km.survival, [0.8, 0.6, 0.3, 0.0], rtol=0, atol=1e-15)


def test_sorting_path_hand_computed_with_and_without_ties():
    t, e = KM._validated([0.5, 2.25, 2.25, 0.0, 9.0], [1, 0, 1, 0, 1])
    uniq, n_risk, n_event, n_censor = KM._risk_table_sorted(t, e)
    assert uniq.tolist() == [0.0, 0.5, 2.25, 9.0]
    assert n_risk.tolist() == [5, 4, 3, 1]
    assert n_event.tolist() == [0, 1, 1, 1]
    assert n_censor.tolist() == [1, 0, 1, 0]
    t, e = KM._validated([0.5, 2.25, 0.0], [1, 0, 1])  # no ties: each row is its own time
    uniq, n_risk, n_event, n_censor = KM._risk_table_sorted(t, e)
    assert uniq.tolist() == [0.0, 0.5, 2.25]
    assert (n_risk.tolist(), n_event.tolist(), n_censor.tolist()) == ([3, 2, 1], [1, 1, 0], [0, 0, 1])


def test_negative_zero_is_time_zero_on_both_paths():
    for path in ("count", "sort"):
        fit = frame_by(path, [-0.0, 0.0, 1.0], [1, 0, 1], "log")
        assert fit["time"].tolist() == [0.0, 1.0]
        assert not np.signbit(fit["time"].to_numpy()).any()
        assert fit["n_risk"].tolist() == [3, 1]


# ---- random inputs: both paths, and the plain groupby ------------------------------------------

int_data = st.integers(1, 80).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 40), min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.sampled_from([0, 1, 365, 10**6, 2**40]),  # an offset: zero time, and large times
    )
)


@settings(max_examples=150, deadline=None)
@given(int_data, st.sampled_from([0.8, 0.95, 0.99]))
def test_counting_equals_sorting_on_random_integer_times(data, conf_level):
    days, event, offset = data
    time = np.asarray(days, float) + offset
    assert KM._integer_codes(time) is not None  # the counting path really runs
    for conf_type in CONF_TYPES:
        counted = frame_by("count", time, event, conf_type, conf_level)
        assert_same_table(counted, frame_by("sort", time, event, conf_type, conf_level))
    table = groupby_risk_table(time, event)
    for col in ["time", *INT_COLUMNS]:
        np.testing.assert_array_equal(counted[col].to_numpy(), table[col].to_numpy())


float_times = st.floats(0, 1e6, allow_nan=False, allow_infinity=False)
float_data = st.integers(1, 80).flatmap(
    lambda n: st.tuples(
        st.lists(float_times, min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.booleans(),  # round to create ties
    )
)


@settings(max_examples=150, deadline=None)
@given(float_data)
def test_sorting_equals_groupby_on_random_continuous_times(data):
    time, event, tie = data
    time = np.round(time, -3) + 0.5 if tie else np.asarray(time)
    fit = kaplan_meier(time, event)
    table = groupby_risk_table(time, event)
    for col in ["time", *INT_COLUMNS]:
        np.testing.assert_array_equal(fit[col].to_numpy(), table[col].to_numpy())


@settings(max_examples=60, deadline=None)
@given(int_data)
def test_summary_and_follow_up_identical_on_both_paths(data):
    days, event, offset = data
    time = np.asarray(days, float) + offset
    grid = offset + np.array([0, 5, 12.5, 30, 41])
    counted = km_summary(time, event, times=grid, conf_type="log-log")
    fu_counted = reverse_km_median_followup(time, event)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(KM, "_integer_codes", lambda _time: None)
        sorted_ = km_summary(time, event, times=grid, conf_type="log-log")
        fu_sorted = reverse_km_median_followup(time, event)
    pd.testing.assert_frame_equal(counted.at, sorted_.at, check_exact=False, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(
        [counted.median, counted.median_lower, counted.median_upper],
        [sorted_.median, sorted_.median_lower, sorted_.median_upper],
    )
    np.testing.assert_array_equal(fu_counted.to_frame(), fu_sorted.to_frame())


# ---- edge cases on both paths ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("time", "event"),
    [
        ([4.0], [1]),  # a single row, an event
        ([4.0], [0]),  # a single row, censored
        ([0.0, 0.0, 0.0], [1, 1, 1]),  # all at time zero, all events
        ([5.0, 1.0, 5.0, 3.0], [0, 0, 0, 0]),  # all censored
        ([2.0, 2.0, 2.0, 2.0], [1, 0, 1, 0]),  # one distinct time
        ([1.0, 2.0, 3.0], [1, 1, 1]),  # S reaches 0
    ],
)
@pytest.mark.parametrize("conf_type", CONF_TYPES)
def test_edge_cases_identical_on_both_paths(time, event, conf_type):
    assert_same_table(frame_by("count", time, event, conf_type), frame_by("sort", time, event, conf_type))


def test_large_inputs_identical_on_both_paths():
    rng = np.random.default_rng(7)
    n = 200_000
    t_event, t_cens = rng.exponential(1500.0, n), rng.uniform(0, 3650.0, n)
    days = np.ceil(np.minimum(t_event, t_cens))
    event = (t_event <= t_cens).astype(int)
    for conf_type in CONF_TYPES:
        assert_same_table(frame_by("count", days, event, conf_type), frame_by("sort", days, event, conf_type))


# ---- R survfit on each path ---------------------------------------------------------------------


@pytest.mark.reference
@pytest.mark.parametrize("conf_type", CONF_TYPES)
@pytest.mark.parametrize(
    ("name", "counted"),
    [("continuous", False), ("rounded", False), ("spread", False), ("days", True), ("censored", False)],
)
def test_each_path_matches_r_survfit(name, counted, conf_type):
    data = pd.read_csv(GOLDENS / "km_paths" / f"data_{name}.csv")
    ref = pd.read_csv(GOLDENS / "km_paths" / f"km_{name}_{conf_type}.csv")
    assert (KM._integer_codes(KM._validated(data["time"], data["status"])[0]) is not None) is counted
    fit = kaplan_meier(data["time"], data["status"], conf_type=conf_type)
    assert len(fit) == len(ref)
    np.testing.assert_array_equal(fit["time"].to_numpy(), ref["time"].to_numpy())
    for col in INT_COLUMNS:
        assert fit[col].tolist() == ref[col].tolist()
    for col in ["survival", "std_err", "lower", "upper"]:
        np.testing.assert_allclose(fit[col], ref[col], rtol=1e-12, atol=1e-14)


@pytest.mark.reference
@pytest.mark.parametrize("conf_type", CONF_TYPES)
@pytest.mark.parametrize("name", ["lung", "veteran", "random1", "random2", "random3"])
def test_forced_sorting_matches_r_survival_goldens(name, conf_type):
    # These goldens have small integer times, so kaplan_meier() counts them; here the sort runs too.
    data = pd.read_csv(GOLDENS / f"data_{name}.csv")
    ref = pd.read_csv(GOLDENS / f"km_{name}_{conf_type}.csv")
    fit = frame_by("sort", data["time"], data["status"], conf_type)
    for col in INT_COLUMNS:
        assert fit[col].tolist() == ref[col].tolist()
    for col in ["time", "survival", "std_err", "lower", "upper"]:
        np.testing.assert_allclose(fit[col], ref[col], rtol=0, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(float_data)
def test_log_log_limits_agree_with_lifelines_on_continuous_times(data):
    from lifelines import KaplanMeierFitter

    time, event, _ = data
    fit = kaplan_meier(time, event, conf_type="log-log").set_index("time")
    ref = KaplanMeierFitter().fit(time, event)
    limits = ref.confidence_interval_.loc[fit.index].to_numpy()
    known = fit["lower"].notna().to_numpy()
    np.testing.assert_allclose(
        fit["survival"], ref.survival_function_.loc[fit.index, "KM_estimate"], atol=1e-12
    )
    np.testing.assert_allclose(fit["lower"].to_numpy()[known], limits[known, 0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(fit["upper"].to_numpy()[known], limits[known, 1], rtol=0, atol=1e-10)
