"""Inverse probability of treatment weights (IPTW) from a propensity score, stabilised and optionally
truncated.

- ATE: 1/e(x) for aHSCT, 1/(1 - e(x)) for the comparator; stabilised by the marginal probability of
  each group, P(T = 1) and P(T = 0) (Robins, Hernan & Brumback, *Epidemiology* 2000;11:550-560,
  doi:10.1097/00001648-200009000-00011; Xu et al., *Value Health* 2010;13:273-277,
  doi:10.1111/j.1524-4733.2009.00671.x).
- ATT: 1 for aHSCT, e(x)/(1 - e(x)) for the comparator; stabilised by P(T = 0)/P(T = 1), so the
  comparator weights sum to about the comparator count.
- Truncation: weights below and above the given quantiles are set to those quantiles (Cole & Hernan,
  *Am J Epidemiol* 2008;168:656-664, doi:10.1093/aje/kwn164).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from openhsct.comparative.errors import ComparativeError
from openhsct.comparative.propensity import as_treat

ESTIMANDS = ("ATE", "ATT")


@dataclass(frozen=True, eq=False)
class Weights:
    """IPT weights per patient with the settings, and the effective sample size of each arm
    (Kish: (sum w)^2 / sum w^2)."""

    weights: np.ndarray
    treat: np.ndarray
    estimand: str
    stabilize: bool
    truncate: tuple[float, float] | None
    ess_treated: float
    ess_control: float

    def to_frame(self) -> pd.DataFrame:
        """One row per patient: treat, weights."""
        return pd.DataFrame({"treat": self.treat, "weights": self.weights})


def _ess(w: np.ndarray) -> float:
    return float(w.sum() ** 2 / np.sum(w * w)) if w.size else 0.0


def iptw(ps, treat, estimand: str = "ATE", stabilize: bool = True,
         truncate: tuple[float, float] | None = None) -> Weights:
    """Inverse probability of treatment weights for ``estimand`` ("ATE" or "ATT"). ``truncate`` =
    (lower, upper) quantiles, e.g. (0.01, 0.99). Returns :class:`Weights`."""
    e = np.asarray(ps, dtype=np.float64)
    t = as_treat(treat)
    if estimand not in ESTIMANDS:
        raise ComparativeError(f"estimand {estimand!r}: use ATE or ATT")
    if not np.all((e > 0) & (e < 1)):
        raise ComparativeError("propensity scores must lie strictly between 0 and 1 for weighting")
    p1 = t.mean()
    if estimand == "ATE":
        w = np.where(t == 1, 1 / e, 1 / (1 - e))
        if stabilize:
            w = w * np.where(t == 1, p1, 1 - p1)
    else:
        w = np.where(t == 1, 1.0, e / (1 - e))
        if stabilize:
            w = np.where(t == 1, w, w * (1 - p1) / p1)
    if truncate is not None:
        lo, hi = truncate
        if not 0 <= lo < hi <= 1:
            raise ComparativeError("truncation quantiles must satisfy 0 <= lower < upper <= 1")
        w = np.clip(w, np.quantile(w, lo), np.quantile(w, hi))
    return Weights(
        weights=w,
        treat=t,
        estimand=estimand,
        stabilize=stabilize,
        truncate=tuple(truncate) if truncate is not None else None,
        ess_treated=_ess(w[t == 1]),
        ess_control=_ess(w[t == 0]),
    )
