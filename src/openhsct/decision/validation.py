"""How well a survival prediction model discriminates and calibrates.

* Harrell's C (Harrell et al. 1982, JAMA 247:2543, doi:10.1001/jama.1982.03320430047030; Harrell, Lee &
  Mark 1996, Stat Med 15:361, doi:10.1002/(SICI)1097-0258(19960229)15:4<361::AID-SIM168>3.0.CO;2-4): among
  the usable pairs, the share in which the patient with the higher predicted risk had the event first. A
  pair (i, j) is usable when i had the event and j was still followed after t_i (t_j > t_i, or t_j = t_i
  with j censored); two events at the same time are not. Tied risks count 1/2. This is the convention of
  lifelines' ``concordance_index`` (which takes survival-like scores: higher = longer survival).
* Calibration at a horizon (Royston & Altman 2013, BMC Med Res Methodol 13:33, doi:10.1186/1471-2288-13-33):
  patients grouped by quintile of predicted risk; in each group the mean predicted survival at the horizon
  beside the Kaplan-Meier estimate of the group's observed survival.
* The calibration slope: the coefficient of the linear predictor when a Cox model is refitted on it alone
  (Van Houwelingen 2000, Stat Med 19:3401); 1 means the predictions spread as much as the outcomes do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_CHUNK_CELLS = 4_000_000


def harrell_c(time, risk, event) -> float:
    """Harrell's concordance index of ``risk`` (higher = earlier event) against ``(time, event)``.

    Returns NaN when no pair is usable. Patients are sorted by time, events before censorings at the same
    time, so the patients usable with an event are exactly those after the last event at its time (a
    suffix). Each event's suffix is split into whole blocks, counted by binary search in the sorted risks
    of the later blocks, and the rest of its own block, counted directly: O(n sqrt(n)) work and O(n)
    memory (:func:`harrell_c_pairs` is the plain pairwise count it equals).
    """
    t, r, e = _c_inputs(time, risk, event)
    n = t.size
    order = np.lexsort((~e, t))
    ts, rs, es = t[order], r[order], e[order]
    ev = np.flatnonzero(es)
    if ev.size == 0:
        return float("nan")
    ev_t = ts[ev]
    cut = ev[np.searchsorted(ev_t, ev_t, side="right") - 1] + 1  # first usable position for each event
    usable = float((n - cut).sum())
    if usable == 0:
        return float("nan")
    size = max(256, int(4 * np.sqrt(n)))
    block = cut // size
    later = np.empty(0)  # sorted risks of the blocks after the current one
    concordant = 0.0
    for b in range(int((n - 1) // size), -1, -1):
        lo, hi = b * size, min((b + 1) * size, n)
        mine = np.flatnonzero(block == b)
        if mine.size:
            ri = rs[ev[mine]]
            less = np.searchsorted(later, ri, side="left")
            same = np.searchsorted(later, ri, side="right") - less
            concordant += less.sum() + 0.5 * same.sum()
            part = rs[lo:hi]
            keep = np.arange(lo, hi)[None, :] >= cut[mine, None]
            concordant += (keep & (ri[:, None] > part[None, :])).sum()
            concordant += 0.5 * (keep & (ri[:, None] == part[None, :])).sum()
        later = np.sort(np.concatenate((rs[lo:hi], later)), kind="mergesort")
    return float(concordant / usable)


def _c_inputs(time, risk, event) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.asarray(time, dtype=float)
    r = np.asarray(risk, dtype=float)
    e = np.asarray(event).astype(bool)
    if not (t.size == r.size == e.size):
        raise ValueError(f"length mismatch: time={t.size}, risk={r.size}, event={e.size}")
    return t, r, e


def harrell_c_pairs(time, risk, event) -> float:
    """Harrell's C by comparing each event with every patient (in chunks of events, so memory stays at a
    few million cells): the definition, kept as the reference :func:`harrell_c` is tested against."""
    t, r, e = _c_inputs(time, risk, event)
    events = np.flatnonzero(e)
    chunk = max(1, _CHUNK_CELLS // max(1, t.size))
    usable = concordant = 0.0
    for start in range(0, events.size, chunk):
        i = events[start : start + chunk]
        ti, ri = t[i, None], r[i, None]
        pair = (t[None, :] > ti) | ((t[None, :] == ti) & ~e[None, :])
        usable += pair.sum()
        concordant += (pair & (ri > r[None, :])).sum() + 0.5 * (pair & (ri == r[None, :])).sum()
    return float(concordant / usable) if usable else float("nan")


def km_at(time, event, horizon: float) -> tuple[float, float, float]:
    """Kaplan-Meier survival at ``horizon`` with its log-log 95% limits (NaN when follow-up ends earlier)."""
    from openhsct.outcomes.kaplan_meier import km_summary

    s = km_summary(time, event, times=[horizon], conf_type="log-log")
    if not len(s.at):
        return float("nan"), float("nan"), float("nan")
    row = s.at.iloc[0]
    return float(row["survival"]), float(row["lower"]), float(row["upper"])


def calibration_by_group(time, event, predicted_survival, horizon: float, groups: int = 5) -> pd.DataFrame:
    """Predicted against observed survival at ``horizon`` by group (quintile) of predicted risk.

    Returns one row per group: ``group, n, events, predicted, observed, observed_lower, observed_upper``
    (``observed``: Kaplan-Meier with log-log 95% limits; NaN where the group's follow-up ends before the
    horizon). Groups are equal-sized slices of the patients ranked by predicted risk, lowest risk first.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event).astype(int)
    s = np.asarray(predicted_survival, dtype=float)
    ranks = pd.Series(1 - s).rank(method="first").to_numpy()
    group = np.ceil(ranks * groups / s.size).astype(int)
    rows = []
    for g in range(1, groups + 1):
        mine = group == g
        if not mine.any():
            continue
        obs, lo, hi = km_at(t[mine], e[mine], horizon)
        rows.append(
            {
                "group": g,
                "n": int(mine.sum()),
                "events": int(e[mine].sum()),
                "predicted": float(s[mine].mean()),
                "observed": obs,
                "observed_lower": lo,
                "observed_upper": hi,
            }
        )
    return pd.DataFrame(rows)
