"""Funnel-plot control limits and the shrunk observed/expected ratio used on the comparison page.

Pure functions (no Django). The method, with its sources, is written out in ``docs/portal.md``:

- **Funnel limits for a proportion of events (TRM)** — exact binomial limits with Spiegelhalter's
  interpolation (Spiegelhalter 2005, *Stat Med* 24:1185, appendix A.1.1): for a target rate ``p0``, size
  ``n`` and tail probability ``p``, ``r = F⁻¹(p; n, p0)``, ``α = (F(r) - p) / (F(r) - F(r-1))`` and the
  limit is ``(r - α) / n``. Levels 95% (``p`` = 0.025 / 0.975) and 99.8% (0.001 / 0.999).
- **Funnel limits for a Kaplan-Meier estimate (5-year PFS)** — normal approximation
  ``p0 ± z sqrt(p0 (1 - p0) / m)`` plotted against the *effective* sample size
  ``m = S (1 - S) / SE(S)²`` (the number of uncensored patients that would give the same precision;
  Spiegelhalter 2005 §3.3), so censoring widens a centre's funnel rather than being ignored.
- **Shrunk O/E** (SRTR, Salkowski et al. 2014, *Am J Transplant* 14:1310): with a Gamma(2, 2) prior on
  the ratio, the posterior is Gamma(O + 2, E + 2); its mean ``(O + 2) / (E + 2)`` is the shrunk ratio and
  its 2.5 and 97.5 percentiles the 95% credible interval. A centre is "higher than expected" when the
  interval lies above 1, "lower than expected" when it lies below 1, and "as expected" otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEVELS = {"95": 0.975, "99.8": 0.999}
PRIOR_SHAPE = 2.0
PRIOR_RATE = 2.0


def binomial_limit(p0: float, n: np.ndarray, prob: float) -> np.ndarray:
    """Spiegelhalter's interpolated exact binomial quantile of a proportion, ``(r - α) / n``."""
    from scipy import stats

    n = np.asarray(n, dtype=float)
    r = stats.binom.ppf(prob, n, p0)
    f_r = stats.binom.cdf(r, n, p0)
    f_rm1 = stats.binom.cdf(r - 1, n, p0)
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = np.where(f_r > f_rm1, (f_r - prob) / (f_r - f_rm1), 0.0)
    return np.clip((r - alpha) / n, 0.0, 1.0)


def normal_limit(p0: float, n: np.ndarray, prob: float) -> np.ndarray:
    """``p0 + z_prob sqrt(p0 (1 - p0) / n)``, clipped to [0, 1]."""
    from scipy import stats

    n = np.asarray(n, dtype=float)
    return np.clip(p0 + stats.norm.ppf(prob) * np.sqrt(p0 * (1 - p0) / n), 0.0, 1.0)


def control_limits(
    p0: float, n_max: float, *, method: str = "binomial", n_min: float = 5, points: int = 120
) -> list[dict]:
    """The 95% and 99.8% funnel limits around ``p0`` on a grid of sizes from ``n_min`` to ``n_max``.

    Returns rows ``{"x", "lo95", "hi95", "lo998", "hi998"}``; ``method`` is ``"binomial"`` or ``"normal"``.
    """
    limit = binomial_limit if method == "binomial" else normal_limit
    grid = np.unique(np.round(np.geomspace(max(n_min, 1), max(n_max * 1.1, n_min + 1), points)))
    out = {"x": grid}
    for name, q in LEVELS.items():
        key = name.replace(".", "")
        out[f"lo{key}"] = limit(p0, grid, 1 - q)
        out[f"hi{key}"] = limit(p0, grid, q)
    return [dict(zip(out, map(float, row), strict=True)) for row in zip(*out.values(), strict=True)]


def funnel_position(rate: float, n: float, p0: float, *, method: str = "binomial") -> str:
    """Where a centre falls: ``"within the limits"``, ``"above the 95% limit"``, ``"above the 99.8% limit"``
    (or ``below``), judged against the limits at its own size."""
    limit = binomial_limit if method == "binomial" else normal_limit
    for name, q in (("99.8", LEVELS["99.8"]), ("95", LEVELS["95"])):
        if rate > float(limit(p0, np.array([n]), q)[0]):
            return f"above the {name}% limit"
        if rate < float(limit(p0, np.array([n]), 1 - q)[0]):
            return f"below the {name}% limit"
    return "within the limits"


def effective_n(estimate: float, se: float) -> float:
    """``S (1 - S) / SE²``: the binomial sample size with the same precision as a KM estimate."""
    if not se or se <= 0 or not (0 < estimate < 1):
        return float("nan")
    return estimate * (1 - estimate) / se**2


@dataclass(frozen=True)
class ShrunkRatio:
    """SRTR's shrunk observed/expected ratio with its 95% credible interval and plain-language tier."""

    observed: float
    expected: float
    ratio: float
    lower: float
    upper: float
    tier: str
    level: float = 0.95


def shrunk_oe(observed: float, expected: float, *, level: float = 0.95) -> ShrunkRatio:
    """``(O + 2) / (E + 2)`` and the ``level`` interval of the Gamma(O + 2, rate E + 2) posterior."""
    from scipy import stats

    shape, rate = observed + PRIOR_SHAPE, expected + PRIOR_RATE
    tail = (1 - level) / 2
    lower = float(stats.gamma.ppf(tail, shape, scale=1 / rate))
    upper = float(stats.gamma.ppf(1 - tail, shape, scale=1 / rate))
    tier = "higher than expected" if lower > 1 else "lower than expected" if upper < 1 else "as expected"
    return ShrunkRatio(float(observed), float(expected), shape / rate, lower, upper, tier, level)
