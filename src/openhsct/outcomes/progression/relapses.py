"""Relapse windows: how far each visit is from the relapses around it, and which events they touch.

Source: pymsprog 1.0.7 ``MSprog``. Definitions quoted from its docstring:

``relapse_to_bl``: "Minimum distance from a relapse (days) for a visit to be used as baseline. Can be a single
value (minimum distance from *last* relapse) or array-like of length 2 (minimum distance from *last* relapse,
minimum distance from *next* relapse). Note that setting the distance to zero means keeping the baseline where
it is regardless of surrounding relapses. If the designated baseline does not respect this constraint, the
baseline is moved to the next available visit."

``relapse_to_event``: "Minimum distance from a relapse (days) for an event to be considered as such. [...] Note
that setting the distance to zero means retaining the event regardless of surrounding relapses."

``relapse_to_conf``: "Minimum distance from a relapse (days) for a visit to be a valid confirmation visit. [...]
Note that setting the distance to zero means using any visit for confirmation regardless of surrounding
relapses."

``relapse_assoc``: "Maximum distance from a relapse (days) for a CDW event to be classified as RAW. Can be a
single value (maximum distance from *last* relapse) or array-like of length 2 (maximum distance from *last*
relapse, maximum distance from *next* relapse)."

``relapse_indep``: "Specifies relapse-free intervals for PIRA definition. Must be given in the form:
``{'prec': (p0, p1), 'event': (e0, e1), 'conf': (c0, c1)}``. [...] 'prec': a visit preceding the event;
'event': the disability worsening event onset; 'conf': an eligible confirmation visit. [...] If both ends of an
interval are 0 (e.g., if both ``p0=0`` and ``p1=0``), the checkpoint is ignored. To merge two intervals
together, set both the right end of the first interval and the left end of the second interval to ``None``."
Default: ``{'prec': (0, 0), 'event': (90, 30), 'conf': (90, 30), 'prec_type': 'baseline'}``.

A single number ``d`` means ``(d, 0)``: the right end (distance from the *next* relapse) is zero.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

PREC_BASELINE, PREC_LAST, PREC_LAST_DELTA = 0, 1, 2
"""``relapse_indep['prec_type']``: the current baseline, the last visit before the event, or ``last_delta``."""


def relapse_window(value, name: str) -> tuple[float, float]:
    """pymsprog's reading of a ``relapse_*`` argument: ``d`` or ``[d]`` means ``(d, 0)``; ``[a, b]`` stays."""
    try:
        items = list(value)
    except TypeError:
        return float(value), 0.0
    if len(items) == 1:
        return float(items[0]), 0.0
    if len(items) != 2:
        raise ValueError(f"`{name}` must be a number or an array-like of length 1 or 2")
    return float(items[0]), float(items[1])


def relapse_free_intervals(relapse_indep: dict | None) -> tuple[np.ndarray, np.ndarray, int]:
    """``relapse_indep`` as two arrays of (left, right) ends for prec/event/conf (``nan`` for None) and a code."""
    if relapse_indep is None:
        relapse_indep = {"prec": (0, 0), "event": (90, 30), "conf": (90, 30), "prec_type": "baseline"}
    if not isinstance(relapse_indep, dict) or not {"prec", "event", "conf"} <= set(relapse_indep):
        raise ValueError(
            "Invalid value for `relapse_indep` argument. "
            "Must be a dictionary containing at least the keys 'prec', 'event', 'conf'."
        )
    prec_type = relapse_indep.get("prec_type", "baseline")
    codes = {"baseline": PREC_BASELINE, "last": PREC_LAST, "last_delta": PREC_LAST_DELTA}
    if prec_type not in codes:
        raise ValueError(
            "Invalid value for `relapse_indep['prec_type']`. Valid values: 'baseline', 'last', 'last_delta'."
        )
    left = np.array([_end(relapse_indep[p][0]) for p in ("prec", "event", "conf")])
    right = np.array([_end(relapse_indep[p][1]) for p in ("prec", "event", "conf")])
    if math.isnan(left[0]):
        # pymsprog would reuse a left end left over from an earlier event (or fail): no defined meaning.
        raise ValueError("`relapse_indep['prec'][0]` = None is not supported (pymsprog leaves it undefined)")
    return left, right, codes[prec_type]


def _end(value) -> float:
    return float("nan") if value is None else float(value)


@njit(cache=True)
def distances_to_relapses(dates: np.ndarray, relapses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each visit, days since the last relapse on or before it and days to the next one on or after it.

    pymsprog's ``closest_rel-`` and ``closest_rel+`` (``inf`` when there is none); ``relapses`` sorted.
    """
    n = dates.shape[0]
    since_last = np.full(n, np.inf)
    to_next = np.full(n, np.inf)
    if relapses.shape[0] == 0:
        return since_last, to_next
    before = np.searchsorted(relapses, dates, side="right") - 1
    after = np.searchsorted(relapses, dates, side="left")
    for i in range(n):
        if before[i] >= 0:
            since_last[i] = dates[i] - relapses[before[i]]
        if after[i] < relapses.shape[0]:
            to_next[i] = relapses[after[i]] - dates[i]
    return since_last, to_next


@njit(cache=True)
def out_of_influence(since_last: float, to_next: float, min_since_last: float, min_to_next: float) -> bool:
    """A visit is out of relapse influence when ``closest_rel- >= d0`` and ``closest_rel+ >= d1``."""
    return since_last >= min_since_last and to_next >= min_to_next


@njit(cache=True)
def relapse_associated(since_last: float, to_next: float, assoc_last: float, assoc_next: float) -> bool:
    """RAW: the event onset lies within ``relapse_assoc`` of a relapse (``closest_rel- <= a0`` or ``+ <= a1``)."""
    return since_last <= assoc_last or to_next <= assoc_next


@njit(cache=True)
def relapse_in_pira_window(
    prec_date: float,
    event_date: float,
    conf_date: float,
    left: np.ndarray,
    right: np.ndarray,
    relapses: np.ndarray,
) -> bool:
    """Whether a relapse falls in the ``relapse_indep`` intervals around prec, event and one confirmation.

    Each checkpoint ``t`` gives ``[t - left, t + right]``; a ``None`` right end adds no interval and a ``None``
    left end keeps the previous checkpoint's left end, which merges the two intervals (pymsprog's loop);
    an interval is kept only when ``right end > left end``. Bounds are inclusive.
    """
    t0 = np.nan
    for point in range(3):
        t = prec_date if point == 0 else (event_date if point == 1 else conf_date)
        if not np.isnan(left[point]):
            t0 = t - left[point]
        if not np.isnan(right[point]):
            t1 = t + right[point]
            if t1 > t0:
                for r in relapses:
                    if t0 <= r <= t1:
                        return True
    return False
