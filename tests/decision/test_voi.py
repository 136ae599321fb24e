"""CEAC, CEAF, EVPI and ICERs on small tables computed by hand."""

import numpy as np
import pandas as pd
import pytest

from openhsct.decision.voi import PSATableError, ceac, ceaf, evpi, icer_table

# sample 0: A (0, 1), B (100, 2); sample 1: A (0, 1), B (100, 1.5)
PSA = pd.DataFrame(
    {
        "sample": [0, 0, 1, 1],
        "strategy": ["A", "B", "A", "B"],
        "cost": [0, 100, 0, 100],
        "qaly": [1, 2, 1, 1.5],
    }
)


def test_ceac_by_hand_with_a_tie():
    out = ceac(PSA, [0, 100, 150])
    # wtp 100, sample 0: NMB A = 100 = B, the tie is split
    expected = pd.DataFrame({"A": [1.0, 0.75, 0.5], "B": [0.0, 0.25, 0.5]}, index=[0.0, 100.0, 150.0])
    np.testing.assert_allclose(out.to_numpy(), expected.to_numpy())
    assert out.index.name == "wtp"
    np.testing.assert_allclose(out.sum(axis=1), 1.0)


def test_ceaf_by_hand():
    out = ceaf(PSA, [0, 100, 150])
    # expected NMB at 150: A 150, B (200 + 125)/2 = 162.5
    assert list(out.columns) == ["wtp", "strategy", "probability"]
    assert list(out["strategy"]) == ["A", "A", "B"]
    np.testing.assert_allclose(out["probability"], [1.0, 0.75, 0.5])


def test_evpi_by_hand():
    out = evpi(PSA, [0, 100, 150])
    # at 150: mean(max(150, 200), max(150, 125)) = 175; max(mean) = 162.5
    np.testing.assert_allclose(out.to_numpy(), [0.0, 0.0, 12.5])
    assert out.index.name == "wtp"


def test_icers_with_strict_and_extended_dominance():
    totals = pd.DataFrame(
        {"cost": [0, 100, 150, 400, 300], "qaly": [1, 2, 1.5, 2.5, 2.2]}, index=["A", "B", "C", "D", "E"]
    )
    out = icer_table(totals)
    assert list(out.index) == ["A", "B", "C", "E", "D"]
    assert list(out["status"]) == ["ND", "ND", "D", "ED", "ND"]
    # B vs A: 100 / 1; E vs B 1000 > D vs E 333 so E is extendedly dominated; D vs B: 300 / 0.5
    assert out.loc["B", "icer"] == pytest.approx(100.0)
    assert out.loc["D", "inc_cost"] == pytest.approx(300.0)
    assert out.loc["D", "inc_qaly"] == pytest.approx(0.5)
    assert out.loc["D", "icer"] == pytest.approx(600.0)
    assert (
        np.isnan(out.loc["C", "icer"]) and np.isnan(out.loc["E", "icer"]) and np.isnan(out.loc["A", "icer"])
    )


def test_missing_columns_are_user_errors():
    with pytest.raises(PSATableError, match="qaly"):
        ceac(PSA.drop(columns="qaly"), [0])
