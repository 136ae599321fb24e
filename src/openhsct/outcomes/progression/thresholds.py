"""Minimum clinically meaningful change, and the test "is this value an event from that reference?".

Source: pymsprog 1.0.7 (Montobbio N, et al. *Mult Scler* 2024), ``compute_delta`` and ``is_event``.

``compute_delta``, pymsprog's docstring, word for word:

    Minimum clinically meaningful change from the provided baseline value. Specifically:

    - EDSS: 1.5 if ``baseline`` = 0, 1 if 0 < ``baseline`` <= 5.0, 0.5 if ``baseline`` > 5.0.
    - NHPT and T25FW: 20% of ``baseline``.
    - SDMT: either 3 points or 10% of ``baseline``.

The code it documents computes SDMT as ``min(baseline / 5, 4)``; we follow the code, which is what the events
depend on. Every comparison pymsprog makes takes the threshold from the *reference* visit (its
``baseline_delta`` is always a visit's ``valuedelta_col``), so the threshold is computed once per visit
(:func:`delta_per_visit`) and the scan only compares numbers (:func:`is_event`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit

WORS, IMPR, CHANGE = 0, 1, 2
"""Kinds of change, as pymsprog's ``type='wors' | 'impr' | 'change'``."""

OUTCOMES = ("edss", "nhpt", "t25fw", "sdmt", "custom")
INCREASE, DECREASE = 1, -1
"""Direction of worsening: higher is worse (EDSS, NHPT, T25FW) or lower is worse (SDMT)."""


def worsening_sign(outcome: str, worsening: str | None = None) -> int:
    """``+1`` when a higher value is worse, ``-1`` when lower is worse (pymsprog's ``worsening``)."""
    if outcome in ("edss", "nhpt", "t25fw"):
        return INCREASE
    if outcome == "sdmt":
        return DECREASE
    if worsening not in ("increase", "decrease"):
        raise ValueError(
            "If outcome='custom', you must specify the direction of worsening ('increase' or 'decrease')"
        )
    return INCREASE if worsening == "increase" else DECREASE


def compute_delta(baseline: float, outcome: str = "edss") -> float:
    """Minimum clinically meaningful change from ``baseline`` (pymsprog's ``compute_delta``, same branches)."""
    if outcome == "edss":
        if baseline == 0:
            return 1.5
        if 0 < baseline <= 5:
            return 1.0
        if 5 < baseline <= 10:
            return 0.5
        raise ValueError("invalid EDSS score")
    if outcome in ("nhpt", "t25fw"):
        if baseline < 0:
            raise ValueError(f"negative {outcome.upper()} score")
        return baseline / 5
    if outcome == "sdmt":
        if baseline < 0 or baseline > 110:
            raise ValueError("invalid SDMT score")
        return min(baseline / 5, 4)
    raise ValueError("outcome must be one of: 'edss','nhpt','t25fw','sdmt'")


def delta_per_visit(
    reference_values: np.ndarray, outcome: str, delta_fun: Callable | None = None
) -> np.ndarray:
    """The threshold each visit imposes when it is the reference: ``delta_fun(value)`` per visit.

    Vectorised for the built-in outcomes (same arithmetic as :func:`compute_delta`) and for a custom
    ``delta_fun`` with a true ``vectorised`` attribute (called once on the array); any other is called as
    pymsprog calls it, ``delta_fun(baseline, outcome)`` and, failing that, ``delta_fun(baseline)``.
    """
    values = np.asarray(reference_values, dtype=float)
    if delta_fun is not None and getattr(delta_fun, "vectorised", False):
        return np.asarray(delta_fun(values), dtype=float)
    if delta_fun is not None:

        def call(b: float) -> float:
            try:
                return float(delta_fun(b, outcome))
            except TypeError:
                return float(delta_fun(b))

        return np.array([call(b) for b in values], dtype=float)
    if outcome == "edss":
        if ((values < 0) | (values > 10)).any():
            raise ValueError("invalid EDSS score")
        return np.where(values == 0, 1.5, np.where(values <= 5, 1.0, 0.5))
    if outcome in ("nhpt", "t25fw"):
        return values / 5
    if outcome == "sdmt":
        return np.minimum(values / 5, 4.0)
    raise ValueError(
        "If outcome='custom', you must define minimum clinically meaningful change (`delta_fun` argument)"
    )


@njit(cache=True)
def is_event(x: float, reference: float, delta: float, kind: int, sub_threshold: bool, sign: int) -> bool:
    """Whether ``x`` is a change of ``kind`` (WORS / IMPR / CHANGE) from ``reference``.

    pymsprog's ``is_event``: with ``sub_threshold`` any strict change counts (``x > reference`` for an
    increase); otherwise the change must reach ``delta``: ``x - reference >= delta`` for an increase,
    ``x - reference <= -delta`` for a decrease, ``|x - reference| >= delta`` for any change.
    ``sign`` is +1 when worsening is an increase, -1 when it is a decrease.
    """
    if kind == CHANGE:
        return x != reference if sub_threshold else abs(x - reference) >= delta
    increase = (kind == WORS) == (sign == INCREASE)
    if sub_threshold:
        return x > reference if increase else x < reference
    return x - reference >= delta if increase else x - reference <= -delta
