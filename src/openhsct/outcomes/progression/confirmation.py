"""Confirmation of a change: eligible confirmation visits, confirmation over them, how long it is sustained.

Source: pymsprog 1.0.7 ``MSprog``. Definitions quoted from its docstring:

``conf_days``: "Period before confirmation (days). Can be a single value or array-like of any length if
multiple windows are to be considered."

``conf_tol_days``: "Tolerance window for confirmation visit (days); can be a single value (same tolerance on
left and right) or array-like of length 2 (different tolerance on left and right). The right end of the
interval can be set to ``float('inf')`` (confirmation window unbounded on the right -- e.g., "confirmed over
12 *or more* weeks"). It can also be given as a dictionary with the values in ``conf_days`` as keys and
different tolerance windows as values."

``validconf_col``: "Name of data column specifying which visits can (True) or cannot (False) be used as
confirmation visits. [...] If not specified (``validconf_col=None``), all visits are potentially used as
confirmation visits."

``require_sust_days``: "Minimum number of days over which a confirmed change must be sustained (i.e.,
confirmed at *all* visits occurring in the specified period) to be retained as an event. Events sustained for
the remainder of the follow-up period are always retained regardless of follow-up duration. Setting
``require_sust_days=float('inf')``, events are retained only when sustained for the remainder of the follow-up
period. (Warning: if ``check_intermediate`` is set to False, sustained change will be established based *only
on the end* of the specified period.)"

``check_intermediate``: "If True (default), events are confirmed *over all intermediate visits* up to the
confirmation visit. If set to False (not recommended in most cases, as it may discard meaningful
fluctuations), events will be confirmed *only at* the specified confirmation visit (and *only at the end* of the
period defined by ``require_sust_days``, if any)."

``impute_last_visit``: "Imputation probability for worsening events occurring at last visit (i.e. with no
confirmation). Unconfirmed worsening events occurring at the last visit are never imputed if
``impute_last_visit=0``; they are always imputed if ``impute_last_visit=1``; they are imputed with probability
``p``, ``0<p<1``, if ``impute_last_visit=p``. If a value ``N>1`` is passed, unconfirmed worsening events are
imputed only if occurring within ``N`` days of follow-up (e.g., in case of early discontinuation)."

A confirmation window for ``c`` in ``conf_days`` is ``[int(c) - tol_left, int(c) + tol_right]`` days after the
event, both ends included; a candidate must also be out of ``relapse_to_conf`` influence and valid.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from openhsct.outcomes.progression.baseline import is_local_extremum
from openhsct.outcomes.progression.relapses import out_of_influence
from openhsct.outcomes.progression.thresholds import is_event


def confirmation_windows(conf_days, conf_tol_days) -> tuple[list, np.ndarray, np.ndarray]:
    """``conf_days`` as a list and each window's [left, right] ends in days after the event (pymsprog's rules)."""
    try:
        days = list(conf_days)
    except TypeError:
        days = [conf_days]
    if not days:
        raise ValueError("`conf_days` must hold at least one value")
    if isinstance(conf_tol_days, dict):
        if any(c not in conf_tol_days for c in days):
            raise ValueError(
                "If `conf_tol_days` is a dictionary, all values in conf_days must be in the keys."
            )
        tolerances = [conf_tol_days[c] for c in days]
    else:
        tolerances = [conf_tol_days] * len(days)
    left, right = [], []
    for c, tol in zip(days, tolerances, strict=True):
        try:
            tol = list(tol)
        except TypeError:
            tol = [tol, tol]
        if len(tol) == 1:
            tol = [tol[0], tol[0]]
        left.append(int(c) - float(tol[0]))
        right.append(int(c) + float(tol[1]))
    return days, np.array(left), np.array(right)


@njit(cache=True)
def mark_confirmation_candidates(
    change_idx: int,
    dates: np.ndarray,
    since_last: np.ndarray,
    to_next: np.ndarray,
    relapse_to_conf0: float,
    relapse_to_conf1: float,
    validconf: np.ndarray,
    window_left: np.ndarray,
    window_right: np.ndarray,
    out: np.ndarray,
) -> int:
    """Fill ``out[k, x]``: visit ``x`` confirms in window ``k``. Returns the first candidate (-1 when none)."""
    n = dates.shape[0]
    out[:, :] = False
    first = -1
    for x in range(change_idx + 1, n):
        if not (
            validconf[x] and out_of_influence(since_last[x], to_next[x], relapse_to_conf0, relapse_to_conf1)
        ):
            continue
        gap = dates[x] - dates[change_idx]
        for k in range(window_left.shape[0]):
            if window_left[k] <= gap <= window_right[k]:
                out[k, x] = True
                if first < 0:
                    first = x
    return first


@njit(cache=True)
def confirmed(
    change_idx: int,
    conf_idx: int,
    values: np.ndarray,
    reference: float,
    delta: float,
    kind: int,
    check_intermediate: bool,
    sub_threshold: bool,
    sign: int,
) -> bool:
    """The change holds at every visit up to the first confirmation (or only there without intermediate checks)."""
    if not check_intermediate:
        return is_event(values[conf_idx], reference, delta, kind, sub_threshold, sign)
    for x in range(change_idx + 1, conf_idx + 1):
        if not is_event(values[x], reference, delta, kind, sub_threshold, sign):
            return False
    return True


@njit(cache=True)
def next_not_sustained(
    start: int, values: np.ndarray, reference: float, delta: float, kind: int, sign: int
) -> int:
    """First visit from ``start`` on where the change no longer holds; -1 when it holds to the end."""
    for x in range(start, values.shape[0]):
        if not is_event(values[x], reference, delta, kind, False, sign):
            return x
    return -1


@njit(cache=True)
def sustained_long_enough(
    change_idx: int,
    next_nonsust: int,
    dates: np.ndarray,
    values: np.ndarray,
    reference: float,
    delta: float,
    kind: int,
    require_sust_days: float,
    check_intermediate: bool,
    sign: int,
) -> bool:
    """``require_sust_days``: kept when sustained to the end or for that many days (see module docstring)."""
    if require_sust_days == 0:
        return True
    n = dates.shape[0]
    if check_intermediate:
        return next_nonsust < 0 or dates[next_nonsust] - dates[change_idx] >= require_sust_days
    sust_vis = n - 1
    if dates[n - 1] - dates[change_idx] >= require_sust_days:
        for x in range(change_idx + 1, n):
            if dates[x] - dates[change_idx] >= require_sust_days:
                sust_vis = x
                break
    return is_event(values[sust_vis], reference, delta, kind, False, sign)


@njit(cache=True)
def last_delta_index(
    change_idx: int,
    first_conf: int,
    values: np.ndarray,
    delta: np.ndarray,
    kind: int,
    check_intermediate: bool,
    skip: int,
    sign: int,
) -> int:
    """The last visit before the event from which the event (and its confirmation) is a meaningful change.

    pymsprog's ``find_last_delta_idx``: looks back from ``change_idx - 1`` down to visit 1 and, when none
    qualifies, answers visit 0 (which it never tests).
    """
    iref = change_idx
    while iref > 1:
        iref -= 1
        reference, d = values[iref], delta[iref]
        if is_local_extremum(iref, values, delta, skip, sign):
            continue
        if not is_event(values[change_idx], reference, d, kind, False, sign):
            continue
        if confirmed(change_idx, first_conf, values, reference, d, kind, check_intermediate, False, sign):
            return iref
    return 0
