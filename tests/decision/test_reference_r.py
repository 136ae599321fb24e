"""Agreement with base-R implementations of the same definitions (reference/r/decision_goldens.R)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from openhsct.decision.markov import markov_cohort
from openhsct.decision.psa import beta_params, gamma_params, lnorm_params
from openhsct.decision.voi import ceac, ceaf, evpi

GOLDENS = Path(__file__).parent / "goldens"
pytestmark = pytest.mark.reference


def _load(name):
    return json.loads((GOLDENS / name).read_text())


def test_markov_cohort_equals_r():
    cases = _load("markov_cohort.json")
    assert len(cases) == 12
    for case in cases:
        P = np.array(case["P"], dtype=float).reshape(case["cycles"], len(case["start"]), len(case["start"]))
        out = markov_cohort(
            P,
            case["costs"],
            case["utilities"],
            case["cycles"],
            (case["r_cost"], case["r_qaly"]),
            np.array(case["start"]),
            method=case["method"],
            cycle_length=case["cycle_length"],
        )
        assert out.loc["base", "cost"] == pytest.approx(case["cost"], rel=1e-12)
        assert out.loc["base", "qaly"] == pytest.approx(case["qaly"], rel=1e-12)


def test_ceac_ceaf_evpi_equal_r():
    golden = _load("psa_summaries.json")
    table = pd.DataFrame(golden["psa"])
    wtp = golden["wtp"]
    curve = ceac(table, wtp)
    expected = pd.DataFrame(golden["ceac"], index=curve.index)
    np.testing.assert_allclose(curve[expected.columns].to_numpy(), expected.to_numpy(), rtol=1e-14)
    frontier = ceaf(table, wtp)
    assert list(frontier["strategy"]) == [row["strategy"] for row in golden["ceaf"]]
    np.testing.assert_allclose(
        frontier["probability"], [row["probability"] for row in golden["ceaf"]], rtol=1e-14
    )
    np.testing.assert_allclose(evpi(table, wtp).to_numpy(), golden["evpi"], rtol=1e-10, atol=1e-9)


def test_distribution_fits_equal_dampack_formulas():
    fit = {"beta": beta_params, "gamma": gamma_params, "lnorm": lnorm_params}
    for case in _load("fits.json"):
        assert fit[case["kind"]](case["a"], case["b"]) == pytest.approx((case["p1"], case["p2"]), rel=1e-12)
