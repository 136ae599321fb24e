"""Binomial confidence intervals: hand-computed, R binom.test / prop.test goldens."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from openhsct.outcomes.binomial import binomial_ci

GOLDENS = Path(__file__).parent / "goldens"


def test_hand_computed_limits():
    # Clopper-Pearson with k = 0: upper solves (1 - p)^n = alpha/2.
    res = binomial_ci(0, 10)
    assert (res.estimate, res.lower) == (0.0, 0.0)
    assert res.upper == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-12)
    # k = n mirrors it.
    assert binomial_ci(10, 10).lower == pytest.approx(0.025 ** (1 / 10), abs=1e-12)
    # Wilson for 5 / 10 is symmetric about 1/2: half-width z sqrt(1/40 + z^2/400) / (1 + z^2/10).
    z = 1.959963984540054
    w = binomial_ci(5, 10, method="wilson")
    half = z * math.sqrt(0.25 / 10 + z * z / 400) / (1 + z * z / 10)
    assert (w.lower, w.upper) == (pytest.approx(0.5 - half, abs=1e-14), pytest.approx(0.5 + half, abs=1e-14))
    assert w.to_frame().loc[0, "method"] == "wilson"


@pytest.mark.reference
def test_matches_r():
    ref = pd.read_csv(GOLDENS / "binomial.csv")
    for row in ref.itertuples():
        exact = binomial_ci(row.k, row.n, method="exact", conf_level=row.conf_level)
        wilson = binomial_ci(row.k, row.n, method="wilson", conf_level=row.conf_level)
        assert exact.lower == pytest.approx(row.exact_lower, abs=1e-9), row
        assert exact.upper == pytest.approx(row.exact_upper, abs=1e-9), row
        assert wilson.lower == pytest.approx(row.wilson_lower, abs=1e-9), row
        assert wilson.upper == pytest.approx(row.wilson_upper, abs=1e-9), row


@pytest.mark.parametrize(
    ("k", "n", "kwargs", "message"),
    [
        (3, 2, {}, "between 0 and n"),
        (-1, 2, {}, "between 0 and n"),
        (1, 0, {}, "positive"),
        (1.5, 4, {}, "whole number"),
        (1, 4, {"method": "wald"}, "method"),
        (1, 4, {"conf_level": 1.0}, "conf_level"),
    ],
)
def test_bad_input_is_refused(k, n, kwargs, message):
    with pytest.raises(ValueError, match=message):
        binomial_ci(k, n, **kwargs)
