"""Cost-effectiveness summaries of a PSA table and of deterministic totals, with dampack's conventions.

* net monetary benefit ``NMB = wtp · qaly − cost`` (Stinnett & Mullahy 1998, *Med Decis Making*
  18(2 Suppl):S68-S80, doi:10.1177/0272989X98018002S09);
* CEAC: the share of samples in which a strategy has the highest NMB, ties split equally
  (Fenwick, Claxton & Sculpher 2001, *Health Econ* 10(8):779-787, doi:10.1002/hec.635);
* CEAF: the strategy with the highest *expected* NMB and its CEAC probability (Barton, Briggs & Fenwick
  2008, *Value Health* 11(5):886-897, doi:10.1111/j.1524-4733.2008.00358.x);
* EVPI: ``mean_i max_j NMB_ij − max_j mean_i NMB_ij``;
* ICERs with strict and extended dominance (Drummond et al. 2015, *Methods for the Economic Evaluation
  of Health Care Programmes*, 4th ed., Oxford University Press; dampack ``calculate_icers``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from openhsct.errors import OpenHSCTError

PSA_COLUMNS = ("sample", "strategy", "cost", "qaly")


class PSATableError(OpenHSCTError):
    """A PSA or totals table without the columns or rows the summary needs."""

    exit_code = 2


def _wide(psa_table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list]:
    missing = [c for c in PSA_COLUMNS if c not in psa_table.columns]
    if missing:
        raise PSATableError(f"PSA table lacks column(s) {', '.join(missing)}")
    cost = psa_table.pivot(index="sample", columns="strategy", values="cost")
    qaly = psa_table.pivot(index="sample", columns="strategy", values="qaly").loc[cost.index, cost.columns]
    if cost.isna().any().any() or qaly.isna().any().any():
        raise PSATableError("every sample needs a cost and a qaly for every strategy")
    return cost.to_numpy(float), qaly.to_numpy(float), list(cost.columns)


def _wtp(wtp) -> np.ndarray:
    values = np.atleast_1d(np.asarray(wtp, dtype=float))
    if values.ndim != 1 or not np.isfinite(values).all():
        raise PSATableError("wtp must be one or more finite numbers")
    return values


def _nmb(cost: np.ndarray, qaly: np.ndarray, wtp: float) -> np.ndarray:
    return wtp * qaly - cost


def ceac(psa_table: pd.DataFrame, wtp) -> pd.DataFrame:
    """Share of samples in which each strategy has the highest NMB; index ``wtp``, one column per strategy.

    Ties within a sample share its weight equally among the tied strategies.
    """
    cost, qaly, names = _wide(psa_table)
    values = _wtp(wtp)
    rows = []
    for w in values:
        nmb = _nmb(cost, qaly, w)
        best = nmb == nmb.max(axis=1, keepdims=True)
        rows.append((best / best.sum(axis=1, keepdims=True)).mean(axis=0))
    return pd.DataFrame(rows, index=pd.Index(values, name="wtp"), columns=pd.Index(names, name="strategy"))


def ceaf(psa_table: pd.DataFrame, wtp) -> pd.DataFrame:
    """For each wtp the strategy with the highest expected NMB and its CEAC value: ``wtp, strategy, probability``."""
    cost, qaly, names = _wide(psa_table)
    curve = ceac(psa_table, wtp)
    rows = []
    for w in curve.index:
        best = int(np.argmax(_nmb(cost, qaly, w).mean(axis=0)))
        rows.append({"wtp": w, "strategy": names[best], "probability": float(curve.at[w, names[best]])})
    return pd.DataFrame(rows, columns=["wtp", "strategy", "probability"])


def evpi(psa_table: pd.DataFrame, wtp) -> pd.Series:
    """Per-person EVPI at each wtp: ``mean_i max_j NMB_ij − max_j mean_i NMB_ij``; a Series indexed by ``wtp``."""
    cost, qaly, _ = _wide(psa_table)
    values = _wtp(wtp)
    out = []
    for w in values:
        nmb = _nmb(cost, qaly, w)
        out.append(float(nmb.max(axis=1).mean() - nmb.mean(axis=0).max()))
    return pd.Series(out, index=pd.Index(values, name="wtp"), name="evpi")


def _frontier(cost: np.ndarray, qaly: np.ndarray, candidates: list[int]) -> tuple[list[int], set[int]]:
    """Remove extendedly dominated strategies until ICERs increase along the frontier."""
    frontier = list(candidates)
    extended: set[int] = set()
    while len(frontier) > 2:
        icers = [
            (cost[b] - cost[a]) / (qaly[b] - qaly[a])
            for a, b in zip(frontier[:-1], frontier[1:], strict=True)
        ]
        drop = next((k for k in range(len(icers) - 1) if icers[k] > icers[k + 1]), None)
        if drop is None:
            break
        extended.add(frontier[drop + 1])
        del frontier[drop + 1]
    return frontier, extended


def icer_table(totals: pd.DataFrame) -> pd.DataFrame:
    """Incremental costs, QALYs and ICERs; columns ``cost, qaly, inc_cost, inc_qaly, icer, status``.

    Rows are sorted by cost. ``status`` is ``ND`` (on the frontier), ``D`` (strictly dominated: another
    strategy costs no more and gives at least as many QALYs, one of them strictly) or ``ED`` (extendedly
    dominated: a mix of its neighbours on the frontier does better). Increments are against the previous
    frontier strategy; dominated rows have none.
    """
    if not {"cost", "qaly"} <= set(totals.columns) or totals.empty:
        raise PSATableError("totals need the columns cost and qaly and at least one strategy")
    frame = totals.loc[:, ["cost", "qaly"]].astype(float)
    frame = frame.iloc[np.lexsort((-frame["qaly"].to_numpy(), frame["cost"].to_numpy()))]
    cost, qaly = frame["cost"].to_numpy(), frame["qaly"].to_numpy()
    n = len(frame)
    strict = {
        i
        for i in range(n)
        if any(
            (cost[j] <= cost[i] and qaly[j] >= qaly[i]) and (cost[j] < cost[i] or qaly[j] > qaly[i])
            for j in range(n)
            if j != i
        )
    }
    frontier, extended = _frontier(cost, qaly, [i for i in range(n) if i not in strict])
    status = ["D" if i in strict else "ED" if i in extended else "ND" for i in range(n)]
    inc_cost = np.full(n, np.nan)
    inc_qaly = np.full(n, np.nan)
    for a, b in zip(frontier[:-1], frontier[1:], strict=True):
        inc_cost[b], inc_qaly[b] = cost[b] - cost[a], qaly[b] - qaly[a]
    out = frame.assign(inc_cost=inc_cost, inc_qaly=inc_qaly, icer=inc_cost / inc_qaly, status=status)
    out.index.name = "strategy"
    return out
