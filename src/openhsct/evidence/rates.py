"""A proportion with its interval, in the result names every package shares, and the crude pooled rate.

- :func:`clopper_pearson`: the exact interval of Clopper & Pearson (1934), Biometrika 26:404-413
  (doi:10.1093/biomet/26.4.404), as R ``binom.test``: ``lower = Beta(alpha/2; x, n - x + 1)`` (0 when
  ``x = 0``), ``upper = Beta(1 - alpha/2; x + 1, n - x)`` (1 when ``x = n``). Non-integer ``x`` (effective
  counts from a reported percentage) is allowed; the beta quantiles are then those of the continuous
  extension.
- :func:`crude_rate`: ``sum(events) / sum(n)`` over studies with that exact interval. It treats the
  patients of all studies as one sample, so it ignores between-study heterogeneity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import beta

from openhsct.errors import ValidationError


@dataclass(frozen=True)
class Proportion:
    """An estimated proportion (0-1) with its ``lower``/``upper`` limits at ``conf_level`` (0-1), the
    ``events`` and patients (``n``) behind it and the ``method`` that produced the interval."""

    estimate: float
    lower: float
    upper: float
    conf_level: float
    n: int
    events: float
    method: str

    def to_frame(self) -> pd.DataFrame:
        """One row with the fields above."""
        return pd.DataFrame([self.__dict__])

    def to_dict(self) -> dict:
        """The fields as plain Python values (for JSON and templates)."""
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in self.__dict__.items()}


def clopper_pearson(events: float, n: float, conf_level: float = 0.95) -> Proportion:
    """``events / n`` with the exact Clopper-Pearson interval (see the module docstring)."""
    if not 0 < conf_level < 1:
        raise ValidationError(f"conf_level must lie in (0, 1) (got {conf_level})")
    if not (n > 0 and 0 <= events <= n):
        raise ValidationError(f"need n > 0 and 0 <= events <= n (got {events} of {n})")
    alpha = 1 - conf_level
    lower = 0.0 if events == 0 else float(beta.ppf(alpha / 2, events, n - events + 1))
    upper = 1.0 if events == n else float(beta.ppf(1 - alpha / 2, events + 1, n - events))
    return Proportion(
        float(events / n), lower, upper, conf_level, int(round(n)), float(events), "Clopper-Pearson"
    )


def crude_rate(events, n, conf_level: float = 0.95) -> Proportion:
    """The crude pooled rate ``sum(events) / sum(n)`` with its Clopper-Pearson interval."""
    x = np.asarray(events, dtype=float)
    m = np.asarray(n, dtype=float)
    return clopper_pearson(float(x.sum()), float(m.sum()), conf_level)
