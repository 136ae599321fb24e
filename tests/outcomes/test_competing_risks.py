"""Cumulative incidence and Gray's test: hand-computed, cmprsk::cuminc goldens, properties."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openhsct.outcomes.competing_risks import cumulative_incidence, gray_test
from openhsct.outcomes.kaplan_meier import kaplan_meier

GOLDENS = Path(__file__).parent / "goldens"
DATA_SETS = ["lung", "veteran", "random1", "random2", "random3"]
TOL = 1e-6


def golden(name: str) -> pd.DataFrame:
    return pd.read_csv(GOLDENS / name)


def close(ours, theirs, atol: float = TOL) -> None:
    np.testing.assert_allclose(np.asarray(ours, float), np.asarray(theirs, float), rtol=0, atol=atol)


def step_value(curve: pd.DataFrame, column: str, at: np.ndarray, before: bool = False) -> np.ndarray:
    """Right-continuous step function of ``column`` at ``at`` (its left limit when ``before``)."""
    side = "left" if before else "right"
    idx = np.searchsorted(curve["time"].to_numpy(), at, side=side) - 1
    return np.where(idx >= 0, curve[column].to_numpy()[np.maximum(idx, 0)], 0.0)


# ---- hand-computed -----------------------------------------------------------------------------


def test_hand_computed_cif_and_gray_variance():
    # t:     1   2   3   4   5     S(t-) = 1, .8, .6, .6, .3;  n = 5, 4, 3, 2, 1
    # cause: 1   2   0   1   0
    ci = cumulative_incidence([1, 2, 3, 4, 5], [1, 2, 0, 1, 0])
    c1 = ci[ci["cause"] == 1].set_index("time")
    c2 = ci[ci["cause"] == 2].set_index("time")
    close(c1["cif"], [0.2, 0.2, 0.2, 0.5, 0.5], atol=1e-15)
    close(c2["cif"], [0.0, 0.2, 0.2, 0.2, 0.2], atol=1e-15)
    # Cause 1 at t = 1: w = 1/25, u = (1 + .2/.8, 1/.8) -> V1 = V2 = V3 = 1/16; var = (1 + .04 - .4)/16.
    v1, v2, v3 = 1 / 16, 1 / 16, 1 / 16
    assert c1.loc[1, "var"] == pytest.approx(v1 + 0.2**2 * v3 - 2 * 0.2 * v2, abs=1e-15)
    # t = 2, other cause: w = .8^2/16, u = (.2/.6, 1/.6).  t = 4, cause 1: w = .6^2/4, u = (1 + .5/.3, 1/.3).
    w, f, b = 0.64 / 16, 0.2, 0.6
    v1, v2, v3 = v1 + (f / b) ** 2 * w, v2 + (f / b) / b * w, v3 + w / b**2
    w, f, b = 0.36 / 4, 0.5, 0.3
    u1 = 1 + f / b
    v1, v2, v3 = v1 + u1**2 * w, v2 + u1 / b * w, v3 + w / b**2
    assert c1.loc[4, "var"] == pytest.approx(v1 + f**2 * v3 - 2 * f * v2, abs=1e-15)
    assert c1.loc[4, "var"] == pytest.approx(0.115625, abs=1e-15)  # cmprsk 2.2-11 prints 0.115625
    # Between jumps the variance is carried forward.
    assert c1.loc[2, "var"] == c1.loc[1, "var"] == c1.loc[3, "var"]


def test_limits_use_the_log_minus_log_transform():
    ci = cumulative_incidence([1, 2, 3, 4, 5], [1, 2, 0, 1, 0], conf_level=0.9)
    row = ci[(ci["cause"] == 1) & (ci["time"] == 4)].iloc[0]
    step = 1.6448536269514722 * np.sqrt(row["var"]) / (0.5 * np.log(0.5))
    assert row["lower"] == pytest.approx(0.5 ** np.exp(-step), abs=1e-14)
    assert row["upper"] == pytest.approx(0.5 ** np.exp(step), abs=1e-14)
    assert row["lower"] < 0.5 < row["upper"]
    before = ci[(ci["cause"] == 2) & (ci["time"] == 1)].iloc[0]
    assert (before["cif"], before["lower"], before["upper"]) == (0.0, 0.0, 0.0)


# ---- cmprsk goldens ----------------------------------------------------------------------------


@pytest.mark.reference
@pytest.mark.parametrize("name", DATA_SETS)
def test_matches_cmprsk_cuminc(name):
    data = golden(f"data_{name}.csv")
    ref = golden(f"cuminc_{name}.csv")
    ours = cumulative_incidence(data["time"], data["cause"])
    assert sorted(ours["cause"].unique()) == sorted(ref["cause"].unique())
    for cause, r in ref.groupby("cause"):
        curve = ours[ours["cause"] == cause]
        # cuminc lists each jump twice (time, value before) then (time, value after), from (0, 0) to
        # the last follow-up time.
        pre, post = r.iloc[1:-1:2], r.iloc[2:-1:2]
        assert (pre["time"].to_numpy() == post["time"].to_numpy()).all()
        jumps = post["time"].to_numpy()
        assert set(jumps) == set(curve.loc[curve["n_event"] > 0, "time"])
        for col, ref_col in [("cif", "est"), ("var", "var"), ("lower", "lower"), ("upper", "upper")]:
            close(step_value(curve, col, jumps), post[ref_col])
            close(step_value(curve, col, jumps, before=True), pre[ref_col])
        last = r.iloc[-1]
        assert last["time"] == curve["time"].max()
        close([curve["cif"].iloc[-1], curve["var"].iloc[-1]], [last["est"], last["var"]])


@pytest.mark.reference
@pytest.mark.parametrize("name", DATA_SETS)
def test_matches_cmprsk_gray_test(name):
    data = golden(f"data_{name}.csv")
    ref = golden(f"gray_{name}.csv").set_index("cause")
    res = gray_test(data["time"], data["cause"], data["group"])
    assert res.statistic.index.tolist() == ref.index.tolist()
    close(res.statistic, ref["stat"])
    close(res.p_value, ref["p_value"])
    assert res.df == int(ref["df"].iloc[0])
    assert res.to_frame().columns.tolist() == ["cause", "statistic", "df", "p_value"]


# ---- properties --------------------------------------------------------------------------------

competing_data = st.integers(1, 50).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 12), min_size=n, max_size=n),
        st.lists(st.integers(0, 2), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(competing_data)
def test_cifs_and_survival_add_up_to_one(data):
    time, cause = data
    if not any(cause):
        return
    ci = cumulative_incidence(time, cause)
    km = kaplan_meier(time, np.asarray(cause) > 0).set_index("time")["survival"]
    total = ci.groupby("time")["cif"].sum()
    close(total + km.loc[total.index], np.ones(len(total)), atol=1e-12)
    for _, curve in ci.groupby("cause"):
        assert (np.diff(curve["cif"]) >= -1e-15).all()
        assert (curve["var"] >= -1e-15).all()
        assert (curve["lower"] <= curve["cif"] + 1e-12).all() and (
            curve["upper"] >= curve["cif"] - 1e-12
        ).all()


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(1, 10_000), min_size=2, max_size=40, unique=True),
    st.lists(st.integers(0, 2), min_size=40, max_size=40),
)
def test_cif_agrees_with_lifelines_aalen_johansen(times, causes):
    from lifelines import AalenJohansenFitter

    cause = np.asarray(causes[: len(times)])
    if not (cause == 1).any():
        return
    time = np.asarray(times, float)
    ours = cumulative_incidence(time, cause)
    ours = ours[ours["cause"] == 1].set_index("time")["cif"]
    ref = AalenJohansenFitter(calculate_variance=False).fit(time, cause, event_of_interest=1)
    ref = ref.cumulative_density_.iloc[:, 0]
    close(ours.to_numpy(), ref.loc[ours.index].to_numpy(), atol=1e-12)


def test_gray_test_is_zero_for_identical_groups_and_label_order_free():
    time = [1, 2, 2, 3, 5, 6, 8, 9]
    cause = [1, 2, 0, 1, 1, 0, 2, 1]
    res = gray_test(time * 2, cause * 2, ["a"] * 8 + ["b"] * 8)
    close(res.statistic, [0.0, 0.0], atol=1e-12)
    g = ["a", "b", "a", "a", "b", "b", "a", "b"]
    flipped = ["b" if x == "a" else "a" for x in g]
    close(gray_test(time, cause, g).statistic, gray_test(time, cause, flipped).statistic, atol=1e-12)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="positive integer cause"):
        cumulative_incidence([1, 2], [1, 1.5])
    with pytest.raises(ValueError, match="positive integer cause"):
        cumulative_incidence([1, 2], [1, -1])
    with pytest.raises(ValueError, match="no events"):
        cumulative_incidence([1, 2], [0, 0])
    with pytest.raises(ValueError, match="length mismatch"):
        cumulative_incidence([1, 2, 3], [0, 1])
    with pytest.raises(ValueError, match="two distinct"):
        gray_test([1, 2], [1, 1], ["a", "a"])
    with pytest.raises(ValueError, match="missing"):
        gray_test([1, 2], [1, 1], ["a", None])
