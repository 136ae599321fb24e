"""Funnel-plot control limits for comparing centres, and the shrunk observed/expected ratio.

Pure numpy/scipy (no Django import); the portal's comparison page draws what these return.

* **Exact binomial limits for a proportion** (TRM by day 100) — Spiegelhalter D. J. (2005), *Funnel plots
  for comparing institutional performance*, Stat Med 24:1185–1202, appendix A.1.1. For a target
  proportion ``p0``, a size ``n`` and a tail probability ``p``, let ``F`` be the Binomial(n, p0) CDF,
  ``r = F⁻¹(p)`` the smallest ``r`` with ``F(r) ≥ p``, and

      α = (F(r) − p) / (F(r) − F(r − 1)),        limit = (r − α) / n,

  i.e. the point where the CDF, interpolated linearly between ``r − 1`` and ``r``, reaches ``p``. Levels:
  95% (``p`` = 0.025 and 0.975) and 99.8% (0.001 and 0.999).
* **Normal limits for an estimate with a standard error** (a Kaplan–Meier probability such as 5-year PFS)
  — Spiegelhalter 2005 §3.3: ``p0 ± z_p √(p0 (1 − p0) / m)`` against the *effective* sample size
  ``m = S (1 − S) / SE(S)²``, the number of uncensored patients that would give the same precision, so
  that censoring widens a centre's funnel instead of being ignored.
* **Shrunk O/E** — the SRTR method (Salkowski N. et al. 2014, *Am J Transplant* 14:1310–1317): with a
  Gamma(2, rate 2) prior on the ratio and a Poisson likelihood for the observed count ``O`` given the
  expected ``E``, the posterior is Gamma(O + 2, rate E + 2); its mean ``(O + 2) / (E + 2)`` is the shrunk
  ratio and its ``(1 − level)/2`` and ``(1 + level)/2`` quantiles the credible interval.

Degenerate targets (``p0`` = 0 or 1) have no chance variation: both limits equal ``p0``. A size of 0 (or
an undefined effective size) gives NaN limits: there is nothing to compare.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

#: Funnel levels and their upper-tail probabilities (the lower tail is ``1 − q``).
LEVELS = {"95": 0.975, "99.8": 0.999}
#: SRTR's Gamma prior on the O/E ratio: shape 2, rate 2 (mean 1).
PRIOR_SHAPE = 2.0
PRIOR_RATE = 2.0
METHODS = ("binomial", "normal")


def binomial_limit(p0: float, n: np.ndarray | float, prob: float) -> np.ndarray:
    """Spiegelhalter's interpolated exact binomial quantile of a proportion, ``(r − α) / n`` (module
    docstring), for each size in ``n``; NaN where ``n`` ≤ 0, ``p0`` where ``p0`` is 0 or 1."""
    n = np.atleast_1d(np.asarray(n, dtype=float))
    if p0 <= 0.0 or p0 >= 1.0:
        return np.where(n > 0, float(np.clip(p0, 0.0, 1.0)), np.nan)
    size = np.where(n > 0, n, 1.0)  # placeholder size where n ≤ 0; the result is masked below
    r = stats.binom.ppf(prob, size, p0)
    f_r = stats.binom.cdf(r, size, p0)
    f_rm1 = stats.binom.cdf(r - 1, size, p0)
    step = f_r - f_rm1
    alpha = np.divide(f_r - prob, step, out=np.zeros_like(step), where=step > 0)
    limit = np.clip((r - alpha) / size, 0.0, 1.0)
    return np.where(n > 0, limit, np.nan)


def normal_limit(p0: float, n: np.ndarray | float, prob: float) -> np.ndarray:
    """``p0 + z_prob √(p0 (1 − p0) / n)``, clipped to [0, 1]; NaN where ``n`` ≤ 0 or is NaN."""
    n = np.atleast_1d(np.asarray(n, dtype=float))
    size = np.where(n > 0, n, np.nan)
    return np.clip(p0 + stats.norm.ppf(prob) * np.sqrt(p0 * (1 - p0) / size), 0.0, 1.0)


def _limit_function(method: str):
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    return binomial_limit if method == "binomial" else normal_limit


def control_limits(
    p0: float, n_max: float, *, method: str = "binomial", n_min: float = 5, points: int = 120
) -> list[dict]:
    """The 95% and 99.8% funnel limits around ``p0`` on a geometric grid of sizes from ``n_min`` to
    ``1.1 n_max`` (rounded to whole patients, duplicates dropped).

    Returns rows ``{"x", "lo95", "hi95", "lo998", "hi998"}``; ``method`` is ``"binomial"`` (exact,
    interpolated) or ``"normal"``.
    """
    limit = _limit_function(method)
    grid = np.unique(np.round(np.geomspace(max(n_min, 1), max(n_max * 1.1, n_min + 1), points)))
    out = {"x": grid}
    for name, q in LEVELS.items():
        key = name.replace(".", "")
        out[f"lo{key}"] = limit(p0, grid, 1 - q)
        out[f"hi{key}"] = limit(p0, grid, q)
    return [dict(zip(out, map(float, row), strict=True)) for row in zip(*out.values(), strict=True)]


def funnel_position(rate: float, n: float, p0: float, *, method: str = "binomial") -> str:
    """Where a centre with ``rate`` at size ``n`` falls: ``"within the limits"``, ``"above the 95% limit"``,
    ``"above the 99.8% limit"`` (or ``below``), judged against the limits at its own size; a point exactly
    on a limit is within it."""
    limit = _limit_function(method)
    for name in ("99.8", "95"):
        q = LEVELS[name]
        if rate > float(limit(p0, n, q)[0]):
            return f"above the {name}% limit"
        if rate < float(limit(p0, n, 1 - q)[0]):
            return f"below the {name}% limit"
    return "within the limits"


def effective_n(estimate: float, se: float) -> float:
    """``S (1 − S) / SE²``: the binomial sample size with the same precision as a Kaplan–Meier estimate
    ``S`` with standard error ``SE`` (Spiegelhalter 2005 §3.3); NaN when ``SE`` ≤ 0 or ``S`` ∉ (0, 1)."""
    if not se or se <= 0 or not (0 < estimate < 1):
        return float("nan")
    return estimate * (1 - estimate) / se**2


@dataclass(frozen=True)
class ShrunkRatio:
    """SRTR's shrunk observed/expected ratio with its credible interval and plain-language tier."""

    observed: float
    expected: float
    ratio: float
    lower: float
    upper: float
    tier: str
    level: float = 0.95

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(self)])


def shrunk_oe(observed: float, expected: float, *, level: float = 0.95) -> ShrunkRatio:
    """``(O + 2) / (E + 2)`` and the ``level`` interval of the Gamma(O + 2, rate E + 2) posterior.

    The tier is "higher than expected" when the whole interval lies above 1, "lower than expected" when
    it lies below 1 and "as expected" otherwise.
    """
    if observed < 0 or expected < 0:
        raise ValueError(f"observed and expected must be ≥ 0, got O = {observed}, E = {expected}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    shape, rate = observed + PRIOR_SHAPE, expected + PRIOR_RATE
    tail = (1 - level) / 2
    lower = float(stats.gamma.ppf(tail, shape, scale=1 / rate))
    upper = float(stats.gamma.ppf(1 - tail, shape, scale=1 / rate))
    tier = "higher than expected" if lower > 1 else "lower than expected" if upper < 1 else "as expected"
    return ShrunkRatio(float(observed), float(expected), shape / rate, lower, upper, tier, level)
