"""Confidence intervals for a proportion k / n.

* ``"exact"``: Clopper & Pearson (1934), from beta quantiles, as R ``binom.test``:
  lower = Beta(alpha/2; k, n - k + 1) (0 when k = 0), upper = Beta(1 - alpha/2; k + 1, n - k) (1 when k = n).
* ``"wilson"``: Wilson (1927) score interval, as R ``prop.test(correct = FALSE)``:
  (p + z^2/2n -/+ z sqrt(p(1 - p)/n + z^2/4n^2)) / (1 + z^2/n), with the limit set to 0 when k = 0 and
  to 1 when k = n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from scipy.stats import beta, norm

from openhsct.outcomes._validate import as_conf_level

METHODS = ("exact", "wilson")


@dataclass(frozen=True)
class BinomialCI:
    """A proportion with its confidence limits and the settings that produced them."""

    k: int
    n: int
    estimate: float
    lower: float
    upper: float
    method: str
    conf_level: float

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.__dict__])


def _clopper_pearson(k: int, n: int, alpha: float) -> tuple[float, float]:
    lower = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    upper = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lower, upper


def _wilson(k: int, n: int, alpha: float) -> tuple[float, float]:
    z = norm.ppf(1 - alpha / 2)
    p = k / n
    z22n = z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z22n / (2 * n))
    lower = 0.0 if k == 0 else (p + z22n - half) / (1 + 2 * z22n)
    upper = 1.0 if k == n else (p + z22n + half) / (1 + 2 * z22n)
    return lower, upper


def _as_count(value, name: str) -> int:
    if isinstance(value, bool) or not float(value).is_integer():
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def binomial_ci(k: int, n: int, method: str = "exact", conf_level: float = 0.95) -> BinomialCI:
    """Estimate k / n with a Clopper–Pearson (``"exact"``) or Wilson (``"wilson"``) interval."""
    k = _as_count(k, "k")
    n = _as_count(n, "n")
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= k <= n:
        raise ValueError(f"k must lie between 0 and n = {n}, got {k}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    conf_level = as_conf_level(conf_level)
    alpha = 1 - conf_level
    lower, upper = _clopper_pearson(k, n, alpha) if method == "exact" else _wilson(k, n, alpha)
    return BinomialCI(k, n, k / n, lower, upper, method, conf_level)
