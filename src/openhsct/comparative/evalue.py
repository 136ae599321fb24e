"""The E-value: how strong unmeasured confounding would have to be to explain an estimate away.

VanderWeele & Ding, *Ann Intern Med* 2017;167:268-274 (doi:10.7326/M16-2607): for a risk ratio
RR > 1, E = RR + sqrt(RR (RR - 1)); for RR < 1 take 1/RR first. For the confidence interval the same
formula is applied to the limit nearer 1, and E = 1 when the interval includes 1. A hazard ratio is
used as a risk ratio when the outcome is rare (under 15 % by the end of follow-up); otherwise it is
first converted, RR ~ (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR)) (their Table 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from openhsct.comparative.errors import ComparativeError


@dataclass(frozen=True)
class EValue:
    """E-values for a point estimate (``estimate``) and for its confidence limit nearer 1 (``limit``),
    with the risk-ratio scale values they were computed from."""

    estimate: float
    limit: float
    rr: float
    rr_limit: float
    rare: bool

    def to_frame(self) -> pd.DataFrame:
        """One row with every field."""
        return pd.DataFrame([self.__dict__])


def _e(rr: float) -> float:
    rr = 1 / rr if rr < 1 else rr
    return rr + math.sqrt(rr * (rr - 1))


def _hr_to_rr(hr: float, rare: bool) -> float:
    if rare:
        return hr
    return (1 - 0.5 ** math.sqrt(hr)) / (1 - 0.5 ** math.sqrt(1 / hr))


def e_value_hr(estimate: float, lower: float, upper: float, rare: bool = True) -> EValue:
    """E-values for a hazard ratio and its confidence interval. Returns :class:`EValue`."""
    if not (0 < lower <= estimate <= upper):
        raise ComparativeError("the hazard ratio must be positive and lie within its confidence limits")
    rr = _hr_to_rr(estimate, rare)
    lo, hi = _hr_to_rr(lower, rare), _hr_to_rr(upper, rare)
    if lo <= 1 <= hi:
        near, e_limit = 1.0, 1.0
    else:
        near = hi if rr < 1 else lo
        e_limit = _e(near)
    return EValue(estimate=_e(rr), limit=e_limit, rr=rr, rr_limit=near, rare=rare)
