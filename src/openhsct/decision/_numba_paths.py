"""The compiled per-patient loop behind ``backend="numba"``.

Each patient ``i`` owns a SplitMix64 stream (Steele, Lea & Flood 2014, *OOPSLA*,
doi:10.1145/2660193.2660195) started at ``mix(key + i·γ)``, so a patient's path depends only on the key
and its index: results are the same whatever the number of threads and however ``prange`` splits the work.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2^-53
_CHUNKS = 256


@njit(inline="always")
def _mix(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(inline="always")
def _uniform(state):
    return float(_mix(state) >> _S11) * _TO_UNIT


@njit(cache=True)
def alias_tables(P):
    """Walker's alias tables (Vose's construction) for every row of ``P`` (Tp,S,S): ``(prob, alias)``.

    Walker AJ 1977, *ACM Trans Math Softw* 3(3):253-256, doi:10.1145/355744.355749; Vose MD 1991,
    *IEEE Trans Softw Eng* 17(9):972-975, doi:10.1109/32.92917. One uniform ``u`` picks a column
    ``j = ⌊uS⌋`` and keeps it when the fractional part is below ``prob[j]``, else takes ``alias[j]``.
    """
    Tp, S, _ = P.shape
    prob = np.ones((Tp, S, S))
    alias = np.empty((Tp, S, S), dtype=np.int64)
    small = np.empty(S, dtype=np.int64)
    large = np.empty(S, dtype=np.int64)
    q = np.empty(S)
    for t in range(Tp):
        for r in range(S):
            ns = 0
            nl = 0
            for j in range(S):
                alias[t, r, j] = j
                q[j] = P[t, r, j] * S
                if q[j] < 1.0:
                    small[ns] = j
                    ns += 1
                else:
                    large[nl] = j
                    nl += 1
            while ns > 0 and nl > 0:
                ns -= 1
                lo = small[ns]
                nl -= 1
                hi = large[nl]
                prob[t, r, lo] = q[lo]
                alias[t, r, lo] = hi
                q[hi] = q[hi] + q[lo] - 1.0
                if q[hi] < 1.0:
                    small[ns] = hi
                    ns += 1
                else:
                    large[nl] = hi
                    nl += 1
    return prob, alias


@njit(inline="always")
def _alias_pick(prob_row, alias_row, u):
    x = u * prob_row.shape[0]
    j = int(x)
    if x - j < prob_row[j]:
        return j
    return alias_row[j]


@njit(inline="always")
def _pick(cum_row, u):
    # the first j with u < cum_row[j] (binary search; the last entry is exactly 1 and u < 1)
    lo = 0
    hi = cum_row.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if u < cum_row[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(inline="always")
def _poisson(lam, u):
    k = 0
    p = np.exp(-lam)
    f = p
    while u > f and k < 10_000:
        k += 1
        p *= lam / k
        f += p
    return k


@njit(parallel=True, cache=True)
def simulate_paths(
    prob,
    alias,
    cum,
    use_alias,
    start_cum,
    rewards,
    weights,
    lam,
    per_relapse,
    draws,
    groups,
    n_groups,
    n,
    key,
    absorbing,
):
    """Per-patient totals (n,K) and trace-group counts (T+1,G); arguments as in ``microsim.PathModel``.

    ``absorbing[s]`` marks states that are never left and earn nothing (death): a patient who reaches one
    stops drawing, and only its trace count is carried to the horizon, which leaves every result unchanged.
    With ``use_alias`` next states come from the alias tables ``prob, alias``, otherwise by binary search
    in the cumulative rows ``cum``.
    """
    T = weights.shape[0] - 1
    K = rewards.shape[1]
    tv = (prob.shape[0] if use_alias else cum.shape[0]) > 1
    totals = np.zeros((n, K))
    chunks = min(_CHUNKS, n)
    occ = np.zeros((chunks, T + 1, n_groups))
    for c in prange(chunks):
        lo = c * n // chunks
        hi = (c + 1) * n // chunks
        acc = np.empty(K)
        for i in range(lo, hi):
            acc[:] = 0.0
            state = _mix(key + np.uint64(i) * _GAMMA)
            state += _GAMMA
            s = _pick(start_cum, _uniform(state))
            for t in range(T + 1):
                for k in range(K):
                    acc[k] += weights[t, k] * rewards[s, k]
                if draws:
                    state += _GAMMA
                    count = _poisson(lam[s], _uniform(state))
                    if count > 0:
                        for k in range(K):
                            acc[k] += weights[t, k] * count * per_relapse[k]
                g = groups[s]
                if g >= 0:
                    occ[c, t, g] += 1.0
                if absorbing[s]:
                    if g >= 0:
                        for later in range(t + 1, T + 1):
                            occ[c, later, g] += 1.0
                    break
                if t < T:
                    state += _GAMMA
                    row = t if tv else 0
                    if use_alias:
                        s = _alias_pick(prob[row, s], alias[row, s], _uniform(state))
                    else:
                        s = _pick(cum[row, s], _uniform(state))
            for k in range(K):
                totals[i, k] = acc[k]
    return totals, occ.sum(axis=0)
