"""Individual-level (first-order Monte Carlo) microsimulation of a discrete-time Markov model.

Each simulated patient draws a first state from ``start`` and then each next state from row ``s_t`` of
``P_t``, as in hesim's individual-level state transition models (Incerti & Jansen 2021, *J Open Source
Softw* 6(60):2971, doi:10.21105/joss.02971). Rewards are summed with the same quadrature weights and
discount factors as :func:`openhsct.decision.markov.markov_cohort`, so the per-patient mean is an unbiased
estimate of the cohort total and converges to it as ``n_patients`` grows.

Backends (identical model, different random streams, each reproducible for a given ``seed``):

* ``"python"`` — a plain per-patient loop, kept as the reference;
* ``"numpy"`` — vectorised over patients, one cycle at a time, in blocks of :data:`BLOCK` patients;
* ``"numba"`` — a compiled per-patient loop run in parallel with ``prange``; each patient has its own
  counter-based SplitMix64 stream (Steele, Lea & Flood 2014, *OOPSLA*, doi:10.1145/2660193.2660195),
  so the result does not depend on the number of threads;
* ``"cupy"`` — the NumPy algorithm on a CUDA GPU, available when CuPy imports and a device is present.

Memory grows with patients × states (one block of cumulative rows at a time), never with
patients × cycles × states².
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from openhsct.decision.markov import (
    ModelInputError,
    discount_factors,
    discount_rates,
    node_weights,
    strategies,
)

BACKENDS: tuple[str, ...] = ("python", "numpy", "numba", "cupy")
BLOCK = 65_536
ALIAS_MIN_PATIENTS_PER_STATE = 50


@dataclass(frozen=True)
class PathModel:
    """What one simulation run needs, in arrays.

    ``cum``: cumulative transition rows, shape (Tp,S,S) with Tp = 1 (constant) or cycles; ``start_cum``
    (S,); ``rewards`` (S,K) annual rates; ``weights`` (cycles+1,K) quadrature × discount; ``relapse_rate``
    (S,) and ``per_relapse`` (K,) when event counts are drawn as Poisson; ``groups`` (S,) maps states to
    the trace groups (−1 for none) of which there are ``n_groups``.
    """

    cum: np.ndarray
    start_cum: np.ndarray
    rewards: np.ndarray
    weights: np.ndarray
    relapse_rate: np.ndarray | None = None
    per_relapse: np.ndarray | None = None
    groups: np.ndarray | None = None
    n_groups: int = 0


def cumulative(P: np.ndarray) -> np.ndarray:
    """Row-wise cumulative probabilities whose last entry is exactly 1 (so a uniform draw < 1 always lands)."""
    cum = np.cumsum(np.asarray(P, dtype=float), axis=-1)
    cum = cum / cum[..., -1:]
    return np.ascontiguousarray(cum)


def children(seed, n: int) -> list[np.random.SeedSequence]:
    """``n`` independent child seeds of ``seed`` (int, None or SeedSequence), the same on every call."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, i)) for i in range(n)]


def _seed_int(seed) -> int:
    """A 64-bit key derived from ``seed`` (int, None or SeedSequence)."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return int(ss.generate_state(2, dtype=np.uint64)[0])


def _draw(cum_row: np.ndarray, u: float) -> int:
    j = int(np.searchsorted(cum_row, u, side="right"))
    return min(j, cum_row.shape[0] - 1)


def _run_python(model: PathModel, n: int, seed) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    T = model.weights.shape[0] - 1
    K = model.rewards.shape[1]
    totals = np.zeros((n, K))
    occ = np.zeros((T + 1, max(model.n_groups, 1)))
    tv = model.cum.shape[0] > 1
    draws = model.relapse_rate is not None
    for i in range(n):
        s = _draw(model.start_cum, rng.random())
        for t in range(T + 1):
            totals[i] += model.weights[t] * model.rewards[s]
            if draws:
                totals[i] += model.weights[t] * rng.poisson(model.relapse_rate[s]) * model.per_relapse
            if model.groups is not None and model.groups[s] >= 0:
                occ[t, model.groups[s]] += 1
            if t < T:
                s = _draw(model.cum[t if tv else 0, s], rng.random())
    return totals, occ


def _alias_for(model: PathModel, n: int):
    """Walker alias tables ``(prob, alias)`` when ``n`` patients make them pay off, else None."""
    if n < ALIAS_MIN_PATIENTS_PER_STATE * model.cum.shape[-1]:
        return None
    from openhsct.decision._numba_paths import alias_tables

    P = np.diff(model.cum, axis=-1, prepend=0.0)
    return alias_tables(np.ascontiguousarray(np.maximum(P, 0.0)))


def _next_states(xp, s, u, cum_t, tables_t, S: int):
    """Next states of the patients in states ``s`` from uniforms ``u``: alias tables when given (O(1) per
    patient), else the count of cumulative probabilities at or below ``u`` (O(S) per patient)."""
    if tables_t is None:
        return xp.minimum((u[:, None] >= cum_t[s]).sum(axis=1), S - 1)
    prob_t, alias_t = tables_t
    x = u * S
    j = xp.minimum(x.astype(xp.int64), S - 1)
    return xp.where(x - j < prob_t[s, j], j, alias_t[s, j])


def _block_numpy(xp, model: PathModel, n: int, rng, tables=None) -> tuple:
    T = model.weights.shape[0] - 1
    S = model.rewards.shape[0]
    cum, weights, rewards = (xp.asarray(a) for a in (model.cum, model.weights, model.rewards))
    tv = model.cum.shape[0] > 1
    totals = xp.zeros((n, rewards.shape[1]))
    occ = xp.zeros((T + 1, max(model.n_groups, 1)))
    s = xp.minimum(xp.searchsorted(xp.asarray(model.start_cum), rng.random(n), side="right"), S - 1)
    groups = None if model.groups is None else xp.asarray(model.groups)
    lam = None if model.relapse_rate is None else xp.asarray(model.relapse_rate)
    per = None if model.per_relapse is None else xp.asarray(model.per_relapse)
    prob, alias = (None, None) if tables is None else (xp.asarray(tables[0]), xp.asarray(tables[1]))
    for t in range(T + 1):
        totals += weights[t] * rewards[s]
        if lam is not None:
            totals += weights[t] * rng.poisson(lam[s])[:, None] * per
        if groups is not None:
            g = groups[s]
            occ[t] = xp.bincount(g[g >= 0], minlength=model.n_groups)[: model.n_groups]
        if t < T:
            row = t if tv else 0
            s = _next_states(
                xp, s, rng.random(n), cum[row], None if prob is None else (prob[row], alias[row]), S
            )
    return totals, occ


def _blocks(n: int) -> list[int]:
    sizes = [BLOCK] * (n // BLOCK)
    if n % BLOCK:
        sizes.append(n % BLOCK)
    return sizes


def _run_numpy(model: PathModel, n: int, seed) -> tuple[np.ndarray, np.ndarray]:
    parts, occ = [], 0.0
    tables = _alias_for(model, n)
    for size, child in zip(_blocks(n), children(seed, len(_blocks(n))), strict=True):
        totals, o = _block_numpy(np, model, size, np.random.default_rng(child), tables)
        parts.append(totals)
        occ = occ + o
    return np.concatenate(parts), occ


class _CupyStream:
    """CuPy's RandomState behind the two Generator methods the block loop calls."""

    def __init__(self, cupy, child: np.random.SeedSequence):
        self._rs = cupy.random.RandomState(int(child.generate_state(1)[0]))

    def random(self, n: int):
        return self._rs.random_sample(n)

    def poisson(self, lam):
        return self._rs.poisson(lam)


def _run_cupy(model: PathModel, n: int, seed) -> tuple[np.ndarray, np.ndarray]:
    import cupy

    parts, occ = [], 0.0
    tables = _alias_for(model, n)
    for size, child in zip(_blocks(n), children(seed, len(_blocks(n))), strict=True):
        totals, o = _block_numpy(cupy, model, size, _CupyStream(cupy, child), tables)
        parts.append(cupy.asnumpy(totals))
        occ = occ + cupy.asnumpy(o)
    return np.concatenate(parts), occ


def _run_numba(model: PathModel, n: int, seed) -> tuple[np.ndarray, np.ndarray]:
    from openhsct.decision._numba_paths import simulate_paths

    # Building alias tables costs about one pass over every row; it pays off only with many patients per row.
    tables = _alias_for(model, n)
    use_alias = tables is not None
    prob, alias = tables if use_alias else (np.ones((1, 1, 1)), np.zeros((1, 1, 1), dtype=np.int64))
    draws = model.relapse_rate is not None
    S, K = model.rewards.shape
    groups = model.groups if model.groups is not None else np.full(S, -1, dtype=np.int64)
    totals, occ = simulate_paths(
        prob,
        alias,
        model.cum,
        use_alias,
        model.start_cum,
        np.ascontiguousarray(model.rewards),
        np.ascontiguousarray(model.weights),
        model.relapse_rate if draws else np.zeros(S),
        model.per_relapse if draws else np.zeros(K),
        draws,
        np.ascontiguousarray(groups, dtype=np.int64),
        max(model.n_groups, 1),
        n,
        np.uint64(_seed_int(seed)),
        absorbing_states(model),
    )
    return totals, occ


def absorbing_states(model: PathModel) -> np.ndarray:
    """States that are never left (at every cycle) and earn no reward and no events: boolean (S,)."""
    S = model.rewards.shape[0]
    diag = model.cum[:, np.arange(S), np.arange(S)]
    before = np.where(np.arange(S) > 0, model.cum[:, np.arange(S), np.maximum(np.arange(S) - 1, 0)], 0.0)
    stays = ((diag - before) == 1.0).all(axis=0)
    quiet = (model.rewards == 0).all(axis=1)
    if model.relapse_rate is not None:
        quiet &= model.relapse_rate == 0
    return np.ascontiguousarray(stays & quiet)


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # any import or driver failure means no usable GPU
        return False


def available_backends() -> list[str]:
    """The backends that can run on this machine."""
    out = ["python", "numpy"]
    try:
        import numba  # noqa: F401

        out.append("numba")
    except ImportError:
        pass
    if gpu_available():
        out.append("cupy")
    return out


def run_paths(model: PathModel, n_patients: int, seed=None, backend: str = "numpy"):
    """Simulate ``n_patients`` paths; returns per-patient totals (n,K) and group counts per node (T+1,G)."""
    if backend not in BACKENDS:
        raise ModelInputError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if backend not in available_backends():
        raise ModelInputError(f"backend {backend!r} is not available here (have {available_backends()})")
    if int(n_patients) != n_patients or n_patients < 2:
        raise ModelInputError(f"n_patients must be an integer of at least 2; got {n_patients!r}")
    runner = {"python": _run_python, "numpy": _run_numpy, "numba": _run_numba, "cupy": _run_cupy}[backend]
    return runner(model, int(n_patients), seed)


def mean_and_se(totals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and their Monte Carlo standard errors ``sd/√n`` (patients are independent)."""
    n = totals.shape[0]
    return totals.mean(axis=0), totals.std(axis=0, ddof=1) / np.sqrt(n)


def microsimulate(
    P,
    costs,
    utilities,
    cycles: int,
    discount,
    start,
    n_patients: int,
    seed=None,
    *,
    method: str = "trapezoid",
    cycle_length: float = 1.0,
    backend: str = "numpy",
) -> pd.DataFrame:
    """Per-patient mean totals by strategy; returns ``cost, qaly, cost_se, qaly_se, n_patients``.

    The arguments are those of :func:`~openhsct.decision.markov.markov_cohort`. ``seed`` (int or
    ``numpy.random.SeedSequence``) makes a run reproducible for a given backend; each strategy gets its
    own child stream. Standard errors are ``sd/√n`` over independent patients (no variance reduction).
    """
    r_cost, r_qaly = discount_rates(discount)
    w = node_weights(int(cycles), method, cycle_length)
    weights = np.column_stack(
        [
            w * discount_factors(r_cost, int(cycles), cycle_length),
            w * discount_factors(r_qaly, int(cycles), cycle_length),
        ]
    )
    specs = strategies(P, costs, utilities, start, cycles)
    rows = {}
    for spec, child in zip(specs, children(seed, len(specs)), strict=True):
        matrices = spec.P[None] if spec.P.ndim == 2 else spec.P[: int(cycles)]
        model = PathModel(
            cum=cumulative(matrices),
            start_cum=cumulative(spec.start),
            rewards=np.column_stack([spec.costs, spec.utilities]),
            weights=weights,
        )
        totals, _ = run_paths(model, n_patients, child, backend)
        mean, se = mean_and_se(totals)
        rows[spec.name] = {
            "cost": mean[0],
            "qaly": mean[1],
            "cost_se": se[0],
            "qaly_se": se[1],
            "n_patients": int(n_patients),
        }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "strategy"
    return frame
