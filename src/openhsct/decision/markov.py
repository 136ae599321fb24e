"""Exact cohort engines for discrete-time Markov models: the ground truth the microsimulation is tested against.

Conventions follow the cohort models of heemod (Filipović-Pierucci, Zarca & Durand-Zaleski 2017,
*Value Health* 20(9):A745) and hesim (Incerti & Jansen 2021, *J Open Source Softw* 6(60):2971,
doi:10.21105/joss.02971):

* ``m[0] = start`` and ``m[t+1] = m[t] @ P_t`` (rows are "from" states and sum to 1);
* a reward vector ``v`` holds **annual** rates; with ``L`` the cycle length in years and
  ``x_t = (1+r)^(-tL) · (m_t · v)`` the total over ``T`` cycles is
  ``left``: ``L·Σ_{t<T} x_t``; ``right``: ``L·Σ_{1≤t≤T} x_t``;
  ``trapezoid`` (half-cycle correction, the default): ``L·Σ_{t<T} (x_t + x_{t+1})/2``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from openhsct.errors import OpenHSCTError

Method = Literal["left", "right", "trapezoid"]
METHODS: tuple[str, ...] = ("left", "right", "trapezoid")
ROW_TOLERANCE = 1e-9


class ModelInputError(OpenHSCTError):
    """A transition matrix, reward vector, start or discount that breaks the model's rules."""

    exit_code = 2


@dataclass(frozen=True)
class Strategy:
    """One strategy's validated inputs: ``P`` of shape (S,S) or (cycles,S,S), rewards and start vector."""

    name: str
    P: np.ndarray
    costs: np.ndarray
    utilities: np.ndarray
    start: np.ndarray

    def matrix(self, t: int) -> np.ndarray:
        """The transition matrix used from cycle ``t`` to ``t+1``."""
        return self.P if self.P.ndim == 2 else self.P[t]


def _per_strategy(value, names: list[str], what: str) -> dict:
    if isinstance(value, Mapping):
        missing = [n for n in names if n not in value]
        if missing or set(value) - set(names):
            raise ModelInputError(
                f"{what}: keys {sorted(map(str, value))} must equal the strategies {sorted(names)}"
            )
        return {n: value[n] for n in names}
    return {n: value for n in names}


def _check_matrix(P, cycles: int, name: str) -> np.ndarray:
    P = np.asarray(P, dtype=float)
    if P.ndim not in (2, 3) or P.shape[-1] != P.shape[-2]:
        raise ModelInputError(f"P[{name}] must be (S,S) or (cycles,S,S); got shape {P.shape}")
    if P.ndim == 3 and P.shape[0] < cycles:
        raise ModelInputError(f"P[{name}] has {P.shape[0]} matrices for {cycles} cycles")
    if not np.isfinite(P).all() or (P < -ROW_TOLERANCE).any():
        raise ModelInputError(f"P[{name}] must hold finite, non-negative probabilities")
    bad = np.abs(P.sum(axis=-1) - 1.0) > ROW_TOLERANCE
    if bad.any():
        raise ModelInputError(f"P[{name}]: {int(bad.sum())} row(s) do not sum to 1")
    return P


def _check_vector(v, S: int, what: str) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    if v.shape != (S,) or not np.isfinite(v).all():
        raise ModelInputError(f"{what} must be {S} finite numbers; got shape {v.shape}")
    return v


def start_vector(start, S: int, name: str = "base") -> np.ndarray:
    """The start distribution as an (S,) probability vector (an integer state index becomes a one-hot)."""
    if np.ndim(start) == 0:
        index = int(start)
        if not 0 <= index < S or index != start:
            raise ModelInputError(f"start[{name}] = {start!r} is not a state index in 0..{S - 1}")
        vec = np.zeros(S)
        vec[index] = 1.0
        return vec
    vec = _check_vector(start, S, f"start[{name}]")
    if (vec < 0).any() or abs(vec.sum() - 1.0) > ROW_TOLERANCE:
        raise ModelInputError(f"start[{name}] must be non-negative and sum to 1")
    return vec


def strategies(P, costs, utilities, start, cycles: int) -> list[Strategy]:
    """Validate the shared arguments of the engines; returns one :class:`Strategy` per strategy."""
    if int(cycles) != cycles or cycles < 1:
        raise ModelInputError(f"cycles must be a positive integer; got {cycles!r}")
    matrices = dict(P) if isinstance(P, Mapping) else {"base": P}
    names = list(matrices)
    if not names:
        raise ModelInputError("P holds no strategy")
    costs_by = _per_strategy(costs, names, "costs")
    utils_by = _per_strategy(utilities, names, "utilities")
    start_by = _per_strategy(start, names, "start")
    out = []
    for name in names:
        matrix = _check_matrix(matrices[name], int(cycles), str(name))
        S = matrix.shape[-1]
        out.append(
            Strategy(
                name=name,
                P=matrix,
                costs=_check_vector(costs_by[name], S, f"costs[{name}]"),
                utilities=_check_vector(utils_by[name], S, f"utilities[{name}]"),
                start=start_vector(start_by[name], S, str(name)),
            )
        )
    return out


def discount_rates(discount) -> tuple[float, float]:
    """``(r_costs, r_qalys)`` from one annual rate or a pair."""
    pair = (discount, discount) if np.ndim(discount) == 0 else tuple(discount)
    if len(pair) != 2:
        raise ModelInputError(f"discount must be one rate or (r_costs, r_qalys); got {discount!r}")
    rates = (float(pair[0]), float(pair[1]))
    if not all(np.isfinite(r) and r > -1 for r in rates):
        raise ModelInputError(f"discount rates must be finite and above -1; got {discount!r}")
    return rates


def node_weights(cycles: int, method: str, cycle_length: float) -> np.ndarray:
    """Quadrature weights ``w_t`` (t = 0..cycles, in years) so that a total is ``Σ_t w_t · x_t``."""
    if method not in METHODS:
        raise ModelInputError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if not (np.isfinite(cycle_length) and cycle_length > 0):
        raise ModelInputError(f"cycle_length must be a positive number of years; got {cycle_length!r}")
    w = np.full(cycles + 1, float(cycle_length))
    if method == "left":
        w[-1] = 0.0
    elif method == "right":
        w[0] = 0.0
    else:
        w[0] = w[-1] = cycle_length / 2.0
    return w


def discount_factors(rate: float, cycles: int, cycle_length: float) -> np.ndarray:
    """``(1+r)^(-tL)`` for t = 0..cycles."""
    return (1.0 + rate) ** (-np.arange(cycles + 1) * cycle_length)


def markov_trace(P, start, cycles: int) -> np.ndarray:
    """State occupancy, an array of shape ``(cycles+1, S)``: ``m[0] = start``, ``m[t+1] = m[t] @ P_t``.

    ``P`` is one (S,S) matrix or a (cycles,S,S) array of time-varying matrices; rows are "from" states.
    """
    P = _check_matrix(P, int(cycles), "base")
    S = P.shape[-1]
    m = np.empty((int(cycles) + 1, S))
    m[0] = start_vector(start, S)
    for t in range(int(cycles)):
        m[t + 1] = m[t] @ (P if P.ndim == 2 else P[t])
    return m


def markov_cohort(
    P,
    costs,
    utilities,
    cycles: int,
    discount,
    start,
    *,
    method: Method = "trapezoid",
    cycle_length: float = 1.0,
) -> pd.DataFrame:
    """Discounted expected totals per strategy; returns a frame indexed by ``strategy`` with ``cost, qaly``.

    Totals integrate the annual reward rates over ``cycles`` cycles of ``cycle_length`` years with the
    quadrature ``method`` (see the module docstring); ``discount`` is one annual rate or (costs, QALYs).
    """
    r_cost, r_qaly = discount_rates(discount)
    w = node_weights(int(cycles), method, cycle_length)
    wc = w * discount_factors(r_cost, int(cycles), cycle_length)
    wq = w * discount_factors(r_qaly, int(cycles), cycle_length)
    rows = {}
    for s in strategies(P, costs, utilities, start, cycles):
        m = markov_trace(s.P, s.start, cycles)
        rows[s.name] = {"cost": float(wc @ (m @ s.costs)), "qaly": float(wq @ (m @ s.utilities))}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["cost", "qaly"])
    frame.index.name = "strategy"
    return frame
