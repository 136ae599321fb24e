"""Greedy 1:k nearest-neighbour matching on a distance, without replacement, as R MatchIt 4.5.

The algorithm is MatchIt's ``method = "nearest"`` (Ho, Imai, King & Stuart, *J Stat Softw*
2011;42(8), doi:10.18637/jss.v042.i08; its C++ ``nn_matchC_vec``), step for step, so that the same
data in the same order give the same matched sets:

1. Sort every patient by distance (stable: ties keep their data order).
2. Order the treated patients by ``m_order``: ``"largest"`` distance first (MatchIt's default when the
   distance is a propensity score), ``"smallest"`` or ``"data"``; ties keep their data order.
3. In round r = 1, ..., k, visit each treated patient in that order and take the nearest control still
   unmatched: the first available one to the left and to the right in the sorted distances, the left
   one when the two are equally far. A control further than the caliper is not taken; a treated
   patient with none within it gets no r-th match.
4. The caliper is ``caliper`` standard deviations of the distance over all (non-discarded) patients
   when ``std_caliper`` is true (MatchIt's ``std.caliper = TRUE``), else an absolute width.

Each matched treated patient and its controls form a subclass, numbered as MatchIt numbers them (by
the treated patient's row number read as text, in sorted order). Weights are MatchIt's: 1 for a
matched treated patient, 1 / (its number of controls) for each of its controls, rescaled so that the
control weights add up to the number of matched controls, and 0 if unmatched.

The loop is compiled with numba; the nearest available control on each side is found with
path-compressed pointers over the sorted distances, so n patients take O(n log n) for the sort and
near-linear time for the matching.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from openhsct.comparative.errors import ComparativeError
from openhsct.comparative.propensity import as_treat

M_ORDERS = ("largest", "smallest", "data")


@njit(cache=True)
def _find(parent: np.ndarray, p: int, sentinel: int) -> int:
    """The nearest available position from p in the pointer direction (sentinel: none), compressing."""
    root = p
    while root != sentinel and parent[root] != root:
        root = parent[root]
    while p != sentinel and p != root:
        nxt = parent[p]
        parent[p] = root
        p = nxt
    return root


@njit(cache=True)
def _gap(a: float, b: float, truncate: bool) -> float:
    """|a - b|, or MatchIt 4.5.1's integer abs() of it (the difference truncated towards zero)."""
    v = a - b
    if truncate:
        return float(abs(int(v)))
    return abs(v)


@njit(cache=True)
def _skipped(k: int, row: int, r: int, mm: np.ndarray, d_ord: np.ndarray, quirk: bool) -> bool:
    """MatchIt 4.5.1 only: in rounds after the first it skips the control whose 0-based row number
    equals the 1-based row number of a control already matched to this treated patient."""
    if not quirk or r == 0:
        return False
    for j in range(r):  # noqa: SIM110 - numba compiles this loop, not a generator in any()
        if mm[row, j] >= 0 and d_ord[k] == d_ord[mm[row, j]] + 1:
            return True
    return False


@njit(cache=True)
def _nn_core(
    dist_s: np.ndarray,
    avail: np.ndarray,
    d_ord: np.ndarray,
    tpos: np.ndarray,
    tdisc: np.ndarray,
    order: np.ndarray,
    ratio: int,
    caliper: float,
    use_caliper: bool,
    quirk: bool,
) -> np.ndarray:
    """MatchIt's rounds over the treated; returns (n1, ratio) sorted positions of controls (-1: none)."""
    n = dist_s.size
    n1 = tpos.size
    left = np.empty(n, dtype=np.int64)
    right = np.empty(n, dtype=np.int64)
    remaining = 0
    for p in range(n):
        if avail[p]:
            left[p] = p
            right[p] = p
            remaining += 1
        else:
            left[p] = p - 1
            right[p] = p + 1
    mm = np.full((n1, ratio), -1, dtype=np.int64)
    if remaining == 0:
        return mm
    for r in range(ratio):
        for i in range(n1):
            row = order[i]
            if tdisc[row]:
                continue
            ii = tpos[row]
            di = dist_s[ii]
            kl = _find(left, ii - 1, -1) if ii > 0 else -1
            while kl >= 0 and _skipped(kl, row, r, mm, d_ord, quirk):
                kl = _find(left, kl - 1, -1) if kl > 0 else -1
            kr = _find(right, ii + 1, n) if ii < n - 1 else n
            while kr < n and _skipped(kr, row, r, mm, d_ord, quirk):
                kr = _find(right, kr + 1, n) if kr < n - 1 else n
            if kl >= 0 and use_caliper and _gap(di, dist_s[kl], quirk) > caliper:
                kl = -1
            if kr < n and use_caliper and _gap(di, dist_s[kr], quirk) > caliper:
                kr = n
            if kl >= 0 and kr < n:
                k = kl if _gap(dist_s[kl], di, quirk) <= _gap(dist_s[kr], di, quirk) else kr
            elif kl >= 0:
                k = kl
            elif kr < n:
                k = kr
            else:
                continue
            mm[row, r] = k
            left[k] = k - 1
            right[k] = k + 1
            remaining -= 1
            if remaining == 0:
                return mm
    return mm


@dataclass(frozen=True, eq=False)
class MatchResult:
    """Matched sets: ``match_matrix`` (treated row -> control rows, -1 none; rows follow the treated in
    data order), ``subclass`` (per patient, 0 = unmatched, else MatchIt's subclass number), ``weights``
    (MatchIt's matching weights), the distance and the settings."""

    match_matrix: np.ndarray
    subclass: np.ndarray
    weights: np.ndarray
    treat: np.ndarray
    distance: np.ndarray
    caliper: float | None
    caliper_sd: float | None
    ratio: int
    m_order: str
    compat: str | None = None

    @property
    def n_treated_matched(self) -> int:
        """Treated patients with at least one control."""
        return int(np.sum((self.treat == 1) & (self.weights > 0)))

    @property
    def n_control_matched(self) -> int:
        """Controls matched to some treated patient."""
        return int(np.sum((self.treat == 0) & (self.weights > 0)))

    @property
    def n_treated_unmatched(self) -> int:
        """Treated patients left without a control (no control within the caliper)."""
        return int(np.sum(self.treat == 1)) - self.n_treated_matched

    def to_frame(self) -> pd.DataFrame:
        """One row per patient: treat, distance, subclass (0 unmatched), weights."""
        return pd.DataFrame(
            {"treat": self.treat, "distance": self.distance, "subclass": self.subclass, "weights": self.weights}
        )


def match_nearest(
    distance,
    treat,
    ratio: int = 1,
    caliper: float | None = 0.1,
    std_caliper: bool = True,
    m_order: str = "largest",
    discarded=None,
    compat: str | None = None,
) -> MatchResult:
    """Nearest-neighbour matching without replacement, equal to MatchIt 4.5
    ``matchit(method = "nearest", ratio = ratio, caliper = caliper, std.caliper = std_caliper,
    m.order = m_order, replace = FALSE)`` given the same ``distance``. Returns :class:`MatchResult`.

    ``compat="4.5.1"`` reproduces two defects of MatchIt 4.5.1 (the version Debian 12 ships) bit for
    bit: distances compared with C's integer ``abs()``, so that a caliper on a propensity score is
    never applied and the left neighbour always wins (MatchIt issue #163), and, for ratio > 1, the
    control in the row after an already matched one being skipped. Use it only to reproduce results
    made with that version.
    """
    dist = np.asarray(distance, dtype=np.float64)
    t = as_treat(treat)
    if dist.shape != t.shape or not np.isfinite(dist).all():
        raise ComparativeError("the distance must be finite and have one value per patient")
    if int(ratio) != ratio or ratio < 1:
        raise ComparativeError("ratio must be a whole number of controls per treated patient (1 or more)")
    if compat not in (None, "4.5.1"):
        raise ComparativeError(f"compat {compat!r}: use None or '4.5.1'")
    if m_order not in M_ORDERS:
        raise ComparativeError(f"m_order {m_order!r}: use one of {', '.join(M_ORDERS)}")
    disc = np.zeros(t.size, dtype=bool) if discarded is None else np.asarray(discarded, dtype=bool)
    cal_abs, cal_sd = None, None
    if caliper is not None and np.isfinite(caliper) and np.unique(dist).size > 1:
        cal_sd = float(np.std(dist[~disc], ddof=1)) if std_caliper else None
        cal_abs = abs(caliper * cal_sd) if std_caliper else abs(float(caliper))
    d_ord = np.argsort(dist, kind="stable")
    rank = np.empty(t.size, dtype=np.int64)
    rank[d_ord] = np.arange(t.size)
    treated = np.flatnonzero(t == 1)
    dt = dist[treated]
    if m_order == "largest":
        order = np.argsort(-dt, kind="stable")
    elif m_order == "smallest":
        order = np.argsort(dt, kind="stable")
    else:
        order = np.arange(treated.size)
    avail = ((t == 0) & ~disc)[d_ord]
    mm_sorted = _nn_core(
        dist[d_ord],
        avail,
        d_ord.astype(np.int64),
        rank[treated],
        disc[treated],
        order.astype(np.int64),
        int(ratio),
        cal_abs if cal_abs is not None else 0.0,
        cal_abs is not None,
        compat == "4.5.1",
    )
    mm = np.where(mm_sorted >= 0, d_ord[np.maximum(mm_sorted, 0)], -1)
    subclass, weights = _subclass_and_weights(mm, treated, t.size)
    if not (weights[t == 1] > 0).any():
        raise ComparativeError("no treated patient found a control within the caliper: widen it or check overlap")
    return MatchResult(
        match_matrix=mm,
        subclass=subclass,
        weights=weights,
        treat=t,
        distance=dist,
        caliper=cal_abs,
        caliper_sd=cal_sd,
        ratio=int(ratio),
        m_order=m_order,
        compat=compat,
    )


def _subclass_and_weights(mm: np.ndarray, treated: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """MatchIt's ``mm2subclass`` (levels: the treated row numbers, 1-based, sorted as text) and
    ``weights_matrixC``. Returns (subclass per patient, 0 unmatched; weights)."""
    matched = mm[:, 0] >= 0
    labels = np.array([str(i + 1) for i in treated[matched]])
    number = np.empty(labels.size, dtype=np.int64)
    number[np.argsort(labels, kind="stable")] = np.arange(1, labels.size + 1)
    subclass = np.zeros(n, dtype=np.int64)
    weights = np.zeros(n)
    rows = np.flatnonzero(matched)
    subclass[treated[rows]] = number
    weights[treated[rows]] = 1.0
    counts = (mm[rows] >= 0).sum(axis=1)
    for j in range(mm.shape[1]):
        has = mm[rows, j] >= 0
        subclass[mm[rows[has], j]] = number[has]
        weights[mm[rows[has], j]] += 1.0 / counts[has]
    controls = np.zeros(n, dtype=bool)
    controls[mm[mm >= 0]] = True
    if controls.any():
        weights[controls] *= controls.sum() / weights[controls].sum()
    return subclass, weights
