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


@njit(inline="always")
def _pick(cum_row, u):
    last = cum_row.shape[0] - 1
    for j in range(last):
        if u < cum_row[j]:
            return j
    return last


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
def simulate_paths(cum, start_cum, rewards, weights, lam, per_relapse, draws, groups, n_groups, n, key):
    """Per-patient totals (n,K) and trace-group counts (T+1,G); arguments as in ``microsim.PathModel``."""
    T = weights.shape[0] - 1
    K = rewards.shape[1]
    tv = cum.shape[0] > 1
    totals = np.zeros((n, K))
    chunks = min(_CHUNKS, n)
    occ = np.zeros((chunks, T + 1, n_groups))
    for c in prange(chunks):
        lo = c * n // chunks
        hi = (c + 1) * n // chunks
        for i in range(lo, hi):
            state = _mix(key + np.uint64(i) * _GAMMA)
            state += _GAMMA
            s = _pick(start_cum, _uniform(state))
            for t in range(T + 1):
                for k in range(K):
                    totals[i, k] += weights[t, k] * rewards[s, k]
                if draws:
                    state += _GAMMA
                    count = _poisson(lam[s], _uniform(state))
                    if count > 0:
                        for k in range(K):
                            totals[i, k] += weights[t, k] * count * per_relapse[k]
                g = groups[s]
                if g >= 0:
                    occ[c, t, g] += 1.0
                if t < T:
                    state += _GAMMA
                    s = _pick(cum[t if tv else 0, s], _uniform(state))
    return totals, occ.sum(axis=0)
