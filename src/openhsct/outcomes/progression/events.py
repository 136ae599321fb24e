"""The scan: walk one subject's visits in date order and classify each confirmed change (CDI, CDW, RAW, PIRA).

Source: pymsprog 1.0.7 ``MSprog`` (Montobbio N, et al. *Mult Scler* 2024), rule for rule; its docstring:

"The function detects and characterises the confirmed disability worsening (CDW) or improvement (CDI) events
of an outcome measure [...] for one or more subjects, based on repeated assessments through time (and on the
dates of acute episodes, if any). The events are detected sequentially by scanning the outcome values in
chronological order."

``event``: "Specifies which events to detect. Must be one of the following. 'firstCDW' (first CDW, default);
'firstCDI' (first CDI); 'first' (only the very first confirmed event -- CDI or CDW); 'firstPIRA' (first PIRA);
'firstRAW' (first RAW); 'multiple' (all confirmed events in chronological order)."

``RAW_PIRA``: "If True, further classify CDW events based on their timing with respect to relapses (RAW,
PIRA). The argument is ignored if ``event`` is set to 'firstCDI' (not relevant) or to 'firstRAW'/'firstPIRA'
(always enabled)."

``sub_threshold_rebl``: "'event': any confirmed sub-threshold event (i.e., any *confirmed* change in the outcome
measure, possibly below clinically meaningful threshold) can potentially trigger a re-baseline; 'improvement':
any confirmed sub-threshold improvement [...]; 'worsening': any confirmed sub-threshold worsening [...]; 'none':
only use clinically meaningful confirmed changes for rebaseline."

``relapse_rebl``: "If True, re-baseline after every relapse."

One step of the scan, from the current baseline: the first later visit that differs from it (by at least the
threshold, out of ``relapse_to_event`` influence) is a candidate change. It is a CDI (CDW) when it is a
meaningful improvement (worsening) confirmed at the first eligible confirmation visit (and at every visit in
between when ``check_intermediate``), and sustained as ``require_sust_days`` asks. A CDW within
``relapse_assoc`` of a relapse is RAW; otherwise it is PIRA when no relapse falls in the ``relapse_indep``
windows of at least one confirmation visit; otherwise an undefined CDW. The search then goes on after the
event or its first confirmation (``proceed_from``), moving the baseline there under a roving scheme.

The functions are written for numba (``@njit``); with ``NUMBA_DISABLE_JIT=1`` the same code runs as plain
Python, which is the readable reference path.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from openhsct.outcomes.progression.baseline import (
    FIXED,
    ROVING_IMPR,
    moves_after_cdi,
    moves_after_cdw,
    valid_baseline,
)
from openhsct.outcomes.progression.confirmation import (
    confirmed,
    last_delta_index,
    mark_confirmation_candidates,
    next_not_sustained,
    sustained_long_enough,
)
from openhsct.outcomes.progression.relapses import (
    PREC_BASELINE,
    PREC_LAST,
    distances_to_relapses,
    relapse_associated,
    relapse_in_pira_window,
)
from openhsct.outcomes.progression.thresholds import CHANGE, IMPR, INCREASE, WORS, is_event

FIRST_CDW, FIRST_CDI, FIRST, FIRST_PIRA, FIRST_RAW, MULTIPLE = 0, 1, 2, 3, 4, 5
EVENTS = {
    "firstCDW": FIRST_CDW,
    "firstCDI": FIRST_CDI,
    "first": FIRST,
    "firstPIRA": FIRST_PIRA,
    "firstRAW": FIRST_RAW,
    "multiple": MULTIPLE,
}
ST_NONE, ST_EVENT, ST_IMPROVEMENT, ST_WORSENING = 0, 1, 2, 3
SUB_THRESHOLD_REBL = {
    "none": ST_NONE,
    "event": ST_EVENT,
    "improvement": ST_IMPROVEMENT,
    "worsening": ST_WORSENING,
}

CDI, CDW, RAW, PIRA = 1, 2, 3, 4
EVENT_TYPE_NAMES = {CDI: "CDI", CDW: "CDW", RAW: "RAW", PIRA: "PIRA"}

OK, EMPTY_WINDOW, FIRST_INDEX, NO_RELAPSE = 0, 1, 2, 3
STATUS_MESSAGES = {
    EMPTY_WINDOW: "a confirmation window holds no visit when the search moves on "
    "(pymsprog 1.0.7 raises ValueError: np.min of an empty list)",
    FIRST_INDEX: "a re-detected event makes the first-event choice point past the event list "
    "(pymsprog 1.0.7 raises IndexError)",
    NO_RELAPSE: "post-relapse re-baseline with no next relapse (pymsprog 1.0.7 fails)",
}

# Columns of the integer and float event records (K = number of confirmation windows):
# ints: type, change, baseline, last_delta, sustained_to, conf[K], pira_conf[K]   (indices; -1 = none)
# floats: baseline value, value, last_delta value, conf value[K], pira_conf value[K]
I_TYPE, I_CHANGE, I_BL, I_LD, I_SUST, I_CONF = 0, 1, 2, 3, 4, 5
F_BLV, F_VALUE, F_LDV, F_CONF = 0, 1, 2, 3


class Rules(NamedTuple):
    """The settings of one run, as numbers the scan reads (built by :func:`~.api.msprog`)."""

    event: int
    baseline: int
    proceed_from_conf: bool
    sub_threshold_rebl: int
    bl_geq: bool
    relapse_rebl: bool
    skip_local_extrema: int
    window_left: np.ndarray
    window_right: np.ndarray
    require_sust_days: float
    check_intermediate: bool
    relapse_to_bl0: float
    relapse_to_bl1: float
    relapse_to_event0: float
    relapse_to_event1: float
    relapse_to_conf0: float
    relapse_to_conf1: float
    relapse_assoc0: float
    relapse_assoc1: float
    indep_left: np.ndarray
    indep_right: np.ndarray
    indep_prec_type: int
    impute: bool
    impute_max_fu: float
    rawpira: bool
    sign: int
    delta_follows_value: bool


@njit(cache=True)
def _first_candidate(cand: np.ndarray, k: int, limit: int) -> int:
    for x in range(limit):
        if cand[k, x]:
            return x
    return -1


@njit(cache=True)
def _record(ev_int, ev_val, m, etype, change_idx, bl_idx, blv, ld, sust, values, cand, limit, alive):
    """Store one event; drop (``del conf_t[m]``) the windows with no confirmation before ``limit``."""
    ev_int[m, I_TYPE] = etype
    ev_int[m, I_CHANGE] = change_idx
    ev_int[m, I_BL] = bl_idx
    ev_int[m, I_LD] = ld
    ev_int[m, I_SUST] = sust
    ev_val[m, F_BLV] = blv
    ev_val[m, F_VALUE] = values[change_idx]
    ev_val[m, F_LDV] = values[ld]
    for k in range(cand.shape[0]):
        x = _first_candidate(cand, k, limit)
        ev_int[m, I_CONF + k] = x
        if x < 0:
            alive[k] = False
        else:
            ev_val[m, F_CONF + k] = values[x]


@njit(cache=True)
def _prune(cand, alive, limit):
    for k in range(cand.shape[0]):
        if _first_candidate(cand, k, limit) < 0:
            alive[k] = False


@njit(cache=True)
def _next_reference(cand, alive, limit) -> tuple[int, bool, bool]:
    """First confirmation of the first remaining window; (index, any window left, all left windows hold one)."""
    first = -1
    any_alive = False
    for k in range(cand.shape[0]):
        if alive[k]:
            x = _first_candidate(cand, k, limit)
            if x < 0:
                return -1, True, False
            if not any_alive:
                first = x
            any_alive = True
    return first, any_alive, True


@njit(cache=True)
def _pira_confirmations(
    change_idx, bl_idx, ld, conf_first, limit, imputed, cand, dates, relapses, rules, pira_ok
) -> bool:
    """Mark the confirmation visits with no relapse in the ``relapse_indep`` windows; True when any."""
    if rules.indep_prec_type == PREC_BASELINE:
        prec_date = dates[bl_idx]
    elif rules.indep_prec_type == PREC_LAST:
        prec_date = dates[change_idx - 1]
    else:
        prec_date = dates[ld]
    pira_ok[:] = False
    found = False
    for x in range(conf_first, limit):
        is_conf = imputed
        for k in range(cand.shape[0]):
            is_conf = is_conf or cand[k, x]
        if is_conf and not relapse_in_pira_window(
            prec_date, dates[change_idx], dates[x], rules.indep_left, rules.indep_right, relapses
        ):
            pira_ok[x] = True
            found = True
    return found


@njit(cache=True)
def scan_subject(dates, values_in, delta_in, validconf, relapses, rules, out_int, out_val):
    """Detect one subject's events; write the selected ones to ``out_*``. Returns (count, status)."""
    n = dates.shape[0]
    values = values_in.copy()  # bl_geq may raise a baseline value, as pymsprog does in place
    delta = delta_in.copy()  # ...and with it the threshold, when the threshold is read from the same column
    sign = rules.sign
    n_windows = rules.window_left.shape[0]
    since_last, to_next = distances_to_relapses(dates, relapses)
    nrel = relapses.shape[0]
    cap = n * (nrel + 1) + 1
    ev_int = np.full((cap, I_CONF + 2 * n_windows), -1, dtype=np.int64)
    ev_val = np.full((cap, F_CONF + 2 * n_windows), np.nan)
    cand = np.zeros((n_windows, n), dtype=np.bool_)
    alive = np.zeros(n_windows, dtype=np.bool_)
    pira_ok = np.zeros(n, dtype=np.bool_)
    m = 0
    counts = np.zeros(5, dtype=np.int64)  # by event type code

    bl_idx, search_idx, proceed = 0, 1, True
    irel = 0 if nrel == 0 else -1
    for x in range(nrel):
        if relapses[x] > dates[0]:
            irel = x
            break
    have_bl_last, bl_last, bl_last_delta = False, 0.0, 0.0
    change_sub_threshold = rules.sub_threshold_rebl != ST_NONE
    relapse_shift = 0.0 if rules.event == FIRST_PIRA else rules.relapse_assoc0
    keep_type = not (rules.baseline == FIXED or rules.baseline == ROVING_IMPR)

    while proceed:
        bl_idx, proceed = valid_baseline(
            bl_idx,
            since_last,
            to_next,
            rules.relapse_to_bl0,
            rules.relapse_to_bl1,
            values,
            delta,
            rules.skip_local_extrema,
            sign,
        )
        if rules.relapse_rebl and irel >= 0 and irel < nrel and bl_idx < n:
            new_irel = -1
            for x in range(irel, nrel):
                if relapses[x] > dates[bl_idx]:
                    new_irel = x
                    break
            irel = new_irel
        if search_idx <= bl_idx:
            search_idx = bl_idx + 1
        if bl_idx > n - 1:
            bl_idx = n - 1
            proceed = False
        elif rules.bl_geq and have_bl_last and bl_last > values[bl_idx]:
            values[bl_idx] = bl_last
            if rules.delta_follows_value:
                delta[bl_idx] = bl_last_delta
        blv, bld = values[bl_idx], delta[bl_idx]
        have_bl_last, bl_last, bl_last_delta = True, blv, bld

        change_idx = -1
        for x in range(search_idx, n):
            if (
                is_event(values[x], blv, bld, CHANGE, change_sub_threshold, sign)
                and since_last[x] >= rules.relapse_to_event0
                and to_next[x] >= rules.relapse_to_event1
            ):
                change_idx = x
                break

        if change_idx < 0:
            proceed = False
        elif (
            rules.relapse_rebl
            and irel >= 0
            and irel < nrel
            and dates[change_idx] > relapses[irel] + relapse_shift
        ):
            search_idx = change_idx  # crossed the next relapse: re-baseline after it (below)
        else:
            ch = change_idx
            conf0 = mark_confirmation_candidates(
                ch,
                dates,
                since_last,
                to_next,
                rules.relapse_to_conf0,
                rules.relapse_to_conf1,
                validconf,
                rules.window_left,
                rules.window_right,
                cand,
            )
            has_conf = conf0 >= 0
            ci = rules.check_intermediate
            if (
                has_conf
                and is_event(values[ch], blv, bld, IMPR, False, sign)
                and confirmed(ch, conf0, values, blv, bld, IMPR, ci, False, sign)
            ):
                # Confirmed improvement (CDI)
                nns = next_not_sustained(conf0 + 1, values, blv, bld, IMPR, sign)
                limit = n if nns < 0 else nns
                valid = sustained_long_enough(
                    ch, nns, dates, values, blv, bld, IMPR, rules.require_sust_days, ci, sign
                )
                alive[:] = True
                if valid:
                    ld = last_delta_index(ch, conf0, values, delta, IMPR, ci, rules.skip_local_extrema, sign)
                    sust = n - 1 if nns < 0 else nns - 1
                    _record(ev_int, ev_val, m, CDI, ch, bl_idx, blv, ld, sust, values, cand, limit, alive)
                    m += 1
                    counts[CDI] += 1
                ref, _, complete = _next_reference(cand, alive, limit)
                if not complete:
                    return 0, EMPTY_WINDOW
                newref = ref if rules.proceed_from_conf else ch
                if moves_after_cdi(rules.baseline):
                    bl_idx = newref
                elif not valid:
                    newref = ch
                search_idx = newref + 1
            elif (
                has_conf
                and values[ch] < blv
                and confirmed(ch, conf0, values, blv, 0.0, IMPR, ci, True, INCREASE)
                and moves_after_cdi(rules.baseline)
                and (rules.sub_threshold_rebl == ST_EVENT or rules.sub_threshold_rebl == ST_IMPROVEMENT)
            ):
                # Confirmed sub-threshold decrease: re-baseline
                bl_idx = conf0 if rules.proceed_from_conf else ch
                search_idx = bl_idx + 1
            elif is_event(values[ch], blv, bld, WORS, False, sign) and (
                (has_conf and confirmed(ch, conf0, values, blv, bld, WORS, ci, False, sign))
                or (dates[ch] - dates[0] <= rules.impute_max_fu and rules.impute and ch == n - 1)
            ):
                # Confirmed (or imputed, at the last visit) worsening
                imputed = ch == n - 1
                if imputed:
                    conf0 = n - 1
                nns = next_not_sustained(conf0 + 1, values, blv, bld, WORS, sign)
                limit = n if nns < 0 else nns
                valid = sustained_long_enough(
                    ch, nns, dates, values, blv, bld, WORS, rules.require_sust_days, ci, sign
                )
                alive[:] = True
                include = False
                if valid:
                    ld = last_delta_index(ch, conf0, values, delta, WORS, ci, rules.skip_local_extrema, sign)
                    sust = n - 1 if nns < 0 else nns - 1
                    include = True
                    etype = CDW
                    pira = False
                    if rules.rawpira and relapse_associated(
                        since_last[ch], to_next[ch], rules.relapse_assoc0, rules.relapse_assoc1
                    ):
                        if rules.event == FIRST_PIRA and not keep_type:
                            include = False
                        else:
                            etype = RAW
                    elif rules.rawpira:
                        if rules.event == FIRST_RAW and not keep_type:
                            include = False
                        else:
                            pira = _pira_confirmations(
                                ch, bl_idx, ld, conf0, limit, imputed, cand, dates, relapses, rules, pira_ok
                            )
                            if pira:
                                etype = PIRA
                            elif rules.event == FIRST_PIRA and not keep_type:
                                include = False
                    if include:
                        _record(
                            ev_int, ev_val, m, etype, ch, bl_idx, blv, ld, sust, values, cand, limit, alive
                        )
                        if pira:
                            for k in range(n_windows):
                                for x in range(limit):
                                    if cand[k, x] and pira_ok[x]:
                                        ev_int[m, I_CONF + n_windows + k] = x
                                        ev_val[m, F_CONF + n_windows + k] = values[x]
                                        break
                        m += 1
                        counts[etype] += 1
                else:
                    _prune(cand, alive, limit)
                ref, any_alive, complete = _next_reference(cand, alive, limit)
                if any_alive:
                    if not complete:
                        return 0, EMPTY_WINDOW
                    newref = ref if rules.proceed_from_conf else ch
                    if moves_after_cdw(rules.baseline):
                        bl_idx = newref
                    elif not include:
                        newref = ch
                    search_idx = newref + 1
                else:
                    search_idx = ch + 1
            elif (
                has_conf
                and values[ch] > blv
                and confirmed(ch, conf0, values, blv, 0.0, WORS, ci, True, INCREASE)
                and moves_after_cdw(rules.baseline)
                and (rules.sub_threshold_rebl == ST_EVENT or rules.sub_threshold_rebl == ST_WORSENING)
            ):
                # Confirmed sub-threshold increase: re-baseline
                bl_idx = conf0 if rules.proceed_from_conf else ch
                search_idx = bl_idx + 1
            else:
                search_idx = ch + 1  # not confirmed: look for other patterns after it

        if rules.relapse_rebl and proceed and search_idx < n:
            crossed = False
            for r in relapses:
                if dates[bl_idx] < r and r + relapse_shift < dates[search_idx]:
                    crossed = True
            if crossed:
                if irel < 0:
                    return 0, NO_RELAPSE
                new_bl = -1
                for x in range(bl_idx, n):
                    if relapses[irel] <= dates[x]:
                        new_bl = x
                        break
                if new_bl >= 0:
                    bl_idx = new_bl
                    search_idx = new_bl + 1
                if new_bl < 0 or new_bl > n - 2:
                    proceed = False

        if proceed and (
            (rules.event == FIRST and m > 1)
            or (rules.event == FIRST_CDW and counts[CDW] + counts[RAW] + counts[PIRA] > 0)
            or (rules.event == FIRST_CDI and counts[CDI] > 0)
            or (rules.event == FIRST_PIRA and counts[PIRA] > 0)
            or (rules.event == FIRST_RAW and counts[RAW] > 0)
        ):
            proceed = False

    return _select(ev_int, ev_val, m, rules.event, out_int, out_val)


@njit(cache=True)
def _matches(etype: int, event: int) -> bool:
    if event == FIRST_CDW:
        return etype in (CDW, RAW, PIRA)
    if event == FIRST_CDI:
        return etype == CDI
    if event == FIRST_PIRA:
        return etype == PIRA
    return etype == RAW


@njit(cache=True)
def _select(ev_int, ev_val, m, event, out_int, out_val):
    """pymsprog's final choice: drop re-detected events (keep the last), order by onset, keep the first ones.

    For a 'first...' setting pymsprog finds the position of the first matching event in detection order and
    takes the event at that position in onset order (the two orders agree unless ``relapse_rebl`` re-detects).
    """
    keep = np.ones(m, dtype=np.bool_)
    for i in range(m):
        for j in range(i + 1, m):
            if ev_int[j, I_CHANGE] == ev_int[i, I_CHANGE]:
                keep[i] = False
                break
    kept = np.where(keep)[0]
    order = kept[np.argsort(ev_int[kept, I_CHANGE])]
    if event == MULTIPLE:
        chosen = order
    else:
        position = -1
        if event == FIRST:
            position = 0 if m > 0 else -1
        else:
            for i in range(m):
                if _matches(ev_int[i, I_TYPE], event):
                    position = i
                    break
        if position < 0:
            chosen = order[:0]
        elif position >= order.shape[0]:
            return 0, FIRST_INDEX
        else:
            chosen = order[position : position + 1]
    for j in range(chosen.shape[0]):
        out_int[j, :] = ev_int[chosen[j], :]
        out_val[j, :] = ev_val[chosen[j], :]
    return chosen.shape[0], OK


@njit(cache=True)
def scan_cohort(visit_start, dates, values, delta, validconf, relapse_start, relapses, rules):
    """Run :func:`scan_subject` on every subject (contiguous, date-sorted slices); one pass, linear in visits."""
    n_subjects = visit_start.shape[0] - 1
    n_windows = rules.window_left.shape[0]
    out_int = np.full((dates.shape[0], I_CONF + 2 * n_windows), -1, dtype=np.int64)
    out_val = np.full((dates.shape[0], F_CONF + 2 * n_windows), np.nan)
    counts = np.zeros(n_subjects, dtype=np.int64)
    status = np.zeros(n_subjects, dtype=np.int64)
    for s in range(n_subjects):
        a, b = visit_start[s], visit_start[s + 1]
        counts[s], status[s] = scan_subject(
            dates[a:b],
            values[a:b],
            delta[a:b],
            validconf[a:b],
            relapses[relapse_start[s] : relapse_start[s + 1]],
            rules,
            out_int[a:b],
            out_val[a:b],
        )
    return counts, status, out_int, out_val
