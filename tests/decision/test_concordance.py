"""Harrell's C by blocks (:func:`harrell_c`) equals the plain pairwise count (:func:`harrell_c_pairs`) on
random data with tied times, tied risks and censoring at event times, and on the edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from openhsct.decision.validation import harrell_c, harrell_c_pairs


@pytest.mark.parametrize("n", [2, 3, 17, 255, 256, 257, 1000, 4099])
def test_blocks_equal_pairs_with_ties(n):
    rng = np.random.default_rng(n)
    for share in (0.1, 0.5, 0.95):
        time = rng.integers(1, 1 + max(2, n // 10), n).astype(float)
        event = rng.uniform(size=n) < share
        risk = rng.integers(0, 6, n).astype(float)
        fast, pairs = harrell_c(time, risk, event), harrell_c_pairs(time, risk, event)
        assert (math.isnan(fast) and math.isnan(pairs)) or fast == pytest.approx(pairs, abs=1e-12)


def test_blocks_equal_pairs_on_continuous_data():
    rng = np.random.default_rng(1)
    time, risk = rng.exponential(5.0, 5000), rng.normal(size=5000)
    event = rng.uniform(size=5000) < 0.3
    assert harrell_c(time, risk, event) == pytest.approx(harrell_c_pairs(time, risk, event), abs=1e-12)


def test_no_usable_pair_is_nan():
    assert math.isnan(harrell_c([1.0, 2.0], [0.1, 0.2], [0, 0]))  # no event
    assert math.isnan(harrell_c([2.0, 2.0], [0.1, 0.2], [1, 1]))  # two events at the same, last time
    assert math.isnan(harrell_c_pairs([2.0, 2.0], [0.1, 0.2], [1, 1]))
    with pytest.raises(ValueError, match="length mismatch"):
        harrell_c([1.0], [0.1, 0.2], [1])
