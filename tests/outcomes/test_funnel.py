"""Funnel limits (Spiegelhalter 2005) and SRTR's shrunk O/E: hand-computed cases, agreement with scipy's
binomial and gamma distributions on random cases, then the edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from openhsct.outcomes.funnel import (
    binomial_limit,
    control_limits,
    effective_n,
    funnel_position,
    normal_limit,
    shrunk_oe,
)


def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X ≤ k) for X ~ Binomial(n, p), summed by hand."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def test_hand_computed_binomial_limit():
    # Binomial(10, 0.2): F(4) = 0.9672, F(5) = 0.9936, so the 97.5% quantile is r = 5 and
    # α = (F(5) − 0.975) / (F(5) − F(4)); the limit is (5 − α) / 10 ≈ 0.4295.
    f4, f5 = _binom_cdf(4, 10, 0.2), _binom_cdf(5, 10, 0.2)
    assert f4 < 0.975 <= f5
    alpha = (f5 - 0.975) / (f5 - f4)
    assert binomial_limit(0.2, 10, 0.975)[0] == pytest.approx((5 - alpha) / 10, abs=1e-12)
    assert (5 - alpha) / 10 == pytest.approx(0.4295, abs=5e-4)
    # Lower 2.5% limit: F(0) = 0.8^10 = 0.1074 ≥ 0.025, so r = 0 and F(−1) = 0: α = 1 − 0.025 / 0.1074 > 0,
    # (0 − α) / 10 < 0, clipped to 0.
    assert binomial_limit(0.2, 10, 0.025)[0] == 0.0


def test_hand_computed_normal_limit_and_effective_n():
    # 0.1 ± 1.959964 √(0.1 × 0.9 / 100) = 0.1 ± 0.0588
    z = 1.959963984540054
    assert normal_limit(0.1, 100, 0.975)[0] == pytest.approx(0.1 + z * 0.03, abs=1e-12)
    assert normal_limit(0.1, 100, 0.025)[0] == pytest.approx(0.1 - z * 0.03, abs=1e-12)
    # S = 0.5 with SE 0.05 carries the precision of 0.25 / 0.0025 = 100 uncensored patients.
    assert effective_n(0.5, 0.05) == pytest.approx(100.0)


def test_hand_computed_shrunk_oe():
    # O = 0, E = 0: posterior Gamma(2, rate 2), mean 1; its CDF is 1 − e^(−2x)(1 + 2x).
    s = shrunk_oe(0, 0)
    assert (s.ratio, s.tier) == (1.0, "as expected")

    def cdf(x):
        return 1 - math.exp(-2 * x) * (1 + 2 * x)

    assert cdf(s.lower) == pytest.approx(0.025, abs=1e-10)
    assert cdf(s.upper) == pytest.approx(0.975, abs=1e-10)
    # 10 deaths where 2 were expected: (10 + 2) / (2 + 2) = 3, interval above 1.
    high = shrunk_oe(10, 2)
    assert high.ratio == 3.0 and high.lower > 1 and high.tier == "higher than expected"
    # 0 deaths where 20 were expected: 2 / 22, interval below 1.
    low = shrunk_oe(0, 20)
    assert low.ratio == pytest.approx(2 / 22) and low.upper < 1 and low.tier == "lower than expected"
    # One death at a small centre is not enough evidence.
    assert shrunk_oe(1, 0.2).tier == "as expected"
    frame = high.to_frame()
    assert list(frame.columns) == ["observed", "expected", "ratio", "lower", "upper", "tier", "level"]


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 2000),
    p0=st.floats(0.001, 0.999),
    prob=st.sampled_from([0.001, 0.025, 0.975, 0.999]),
)
def test_binomial_limit_interpolates_scipys_quantile(n, p0, prob):
    """n × limit lies in [r − 1, r] with r = scipy's quantile, and the CDF interpolated linearly between
    r − 1 and r reaches ``prob`` exactly there (before clipping at 0 and 1)."""
    r = stats.binom.ppf(prob, n, p0)
    f_r, f_rm1 = stats.binom.cdf(r, n, p0), stats.binom.cdf(r - 1, n, p0)
    x = binomial_limit(p0, n, prob)[0] * n
    assert r - 1 - 1e-9 <= x <= r + 1e-9
    if 0 < x < n and f_r > f_rm1:
        assert f_r - (r - x) * (f_r - f_rm1) == pytest.approx(prob, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(observed=st.integers(0, 200), expected=st.floats(0, 200), level=st.sampled_from([0.8, 0.95, 0.99]))
def test_shrunk_interval_is_the_gamma_posteriors(observed, expected, level):
    s = shrunk_oe(observed, expected, level=level)
    post = stats.gamma(observed + 2, scale=1 / (expected + 2))
    assert s.ratio == pytest.approx(post.mean(), rel=1e-12)
    assert post.cdf(s.lower) == pytest.approx((1 - level) / 2, abs=1e-9)
    assert post.cdf(s.upper) == pytest.approx((1 + level) / 2, abs=1e-9)
    assert s.lower < s.ratio < s.upper


def test_binomial_limits_approach_the_normal_ones_for_large_n():
    n = np.array([100_000.0])
    for prob in (0.001, 0.025, 0.975, 0.999):
        assert binomial_limit(0.1, n, prob)[0] == pytest.approx(normal_limit(0.1, n, prob)[0], abs=2e-4)


def test_control_limits_narrow_with_size_and_nest():
    rows = control_limits(0.05, 200)
    assert rows[0]["x"] == 5 and rows[-1]["x"] == 220
    for r in rows:
        assert r["lo998"] <= r["lo95"] <= 0.05 <= r["hi95"] <= r["hi998"]
    his = [r["hi95"] for r in rows]
    assert his[-1] < his[0]
    normal = control_limits(0.7, 50, method="normal")
    assert all(r["lo95"] < 0.7 < r["hi95"] for r in normal)


def test_funnel_position_against_the_limits_at_its_own_size():
    hi95, hi998 = binomial_limit(0.1, 50, 0.975)[0], binomial_limit(0.1, 50, 0.999)[0]
    assert funnel_position(0.1, 50, 0.1) == "within the limits"
    assert funnel_position((hi95 + hi998) / 2, 50, 0.1) == "above the 95% limit"
    assert funnel_position(min(hi998 + 0.05, 1.0), 50, 0.1) == "above the 99.8% limit"
    assert funnel_position(hi95, 50, 0.1) == "within the limits"  # on the limit is within it
    assert funnel_position(0.3, 1000, 0.5, method="normal") == "below the 99.8% limit"


def test_edge_cases():
    # n = 0: no limit at all.
    assert np.isnan(binomial_limit(0.1, 0, 0.975)[0])
    assert np.isnan(normal_limit(0.1, 0, 0.975)[0])
    # p0 = 0 or 1: no chance variation, both limits are p0.
    for p0 in (0.0, 1.0):
        for prob in (0.001, 0.025, 0.975, 0.999):
            assert binomial_limit(p0, [1, 10, 500], prob).tolist() == [p0] * 3
            assert normal_limit(p0, [1, 10, 500], prob).tolist() == [p0] * 3
    assert funnel_position(0.0, 20, 0.0) == "within the limits"
    assert funnel_position(0.05, 20, 0.0) == "above the 99.8% limit"
    # n = 1: the limits are the two possible outcomes' interpolation, inside [0, 1].
    one = binomial_limit(0.3, 1, 0.975)[0]
    assert 0 <= one <= 1
    # Undefined effective size.
    for s, se in ((0.0, 0.1), (1.0, 0.1), (0.5, 0.0), (0.5, -1.0)):
        assert math.isnan(effective_n(s, se))
    with pytest.raises(ValueError, match="method"):
        control_limits(0.1, 10, method="poisson")
    with pytest.raises(ValueError, match="≥ 0"):
        shrunk_oe(-1, 2)
