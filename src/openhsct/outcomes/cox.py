"""Cox proportional-hazards regression with Efron's tie correction, as R ``coxph(ties = "efron")``.

With w_i = exp(x_i' b), the risk set R_j = {i : t_i >= t_j} and the d_j tied events D_j at t_j,
Efron (1977) replaces the risk-set sums by, for l = 0, ..., d_j - 1,

    S0_jl = sum_{R_j} w_i - (l / d_j) sum_{D_j} w_i        (likewise S1 with w_i x_i, S2 with w_i x_i x_i')

    log L(b) = sum_events x_i' b - sum_{j,l} log S0_jl
    U(b)     = sum_events x_i    - sum_{j,l} S1_jl / S0_jl
    I(b)     = sum_{j,l} [ S2_jl / S0_jl - (S1_jl / S0_jl)(S1_jl / S0_jl)' ]

The S2 sums never need forming: sum_{j,l} S2_jl / S0_jl = X' diag(w_i c_i) X, where c_i adds up
1 / S0_jl over the (j, l) whose risk set holds i, less l / (d_j S0_jl) over the terms of i's own tie
set; and sum_{j,l} (S1_jl / S0_jl)(S1_jl / S0_jl)' expands into sums over tie sets. Risk-set and
tie-set sums are ``bincount`` calls plus a reversed cumulative sum over the sorted data, so each
Newton–Raphson step is a few passes over the rows, with step halving when the log-likelihood falls
(as ``coxph.fit``). Covariates are centred first, which leaves the estimates unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from openhsct.outcomes._validate import as_conf_level, as_event, as_time

_MAX_ITER = 50
_MAX_HALVING = 30


@dataclass(frozen=True, eq=False)
class CoxPH:
    """A fitted Cox model; the Series are indexed by covariate name."""

    coef: pd.Series
    se: pd.Series
    z: pd.Series
    p: pd.Series
    hazard_ratio: pd.Series
    hr_lower: pd.Series
    hr_upper: pd.Series
    covariance: pd.DataFrame
    loglik: float
    loglik_null: float
    n: int
    n_event: int
    iterations: int
    conf_level: float
    ties: str = "efron"

    @property
    def lr_statistic(self) -> float:
        """Likelihood-ratio chi-square, 2 (log L(b) - log L(0)), on len(coef) degrees of freedom."""
        return 2.0 * (self.loglik - self.loglik_null)

    def to_frame(self) -> pd.DataFrame:
        """One row per covariate: coef, se, z, p, hazard ratio and its confidence limits."""
        return pd.DataFrame(
            {
                "coef": self.coef,
                "se": self.se,
                "z": self.z,
                "p": self.p,
                "hazard_ratio": self.hazard_ratio,
                "hr_lower": self.hr_lower,
                "hr_upper": self.hr_upper,
            }
        ).rename_axis("covariate")


@dataclass(frozen=True, eq=False)
class _Risk:
    """The data sorted by time (events before censorings at a tied time), and the tie sets.

    Tie set j (the events at the j-th distinct event time) occupies rows start[j] .. start[j] + d_j - 1,
    and its risk set is every row from start[j] on. ``segment`` maps each row to the last tie set that
    starts at or before it (m for rows before the first), ``tie_of_row`` each event row to its tie set
    (m for censored rows), so that risk-set and tie-set sums are ``bincount`` calls.
    """

    xt: np.ndarray  # (p, n) centred covariates, sorted by row: one contiguous array per covariate
    x_event_sum: np.ndarray  # (p,) sum of the covariates over the events
    n_ties: int  # m, the number of distinct event times
    segment: np.ndarray  # (n,) row -> tie set whose risk-set increment holds it
    tie_of_row: np.ndarray  # (n,) event row -> its tie set, censored row -> m
    tie_of_event: np.ndarray  # (events,) event -> its tie set
    first_event: np.ndarray  # (m,) tie set -> index of its first event among the events
    frac: np.ndarray  # (events,) l / d_j for l = 0, ..., d_j - 1
    segment_length: np.ndarray  # rows before tie set 1, then (d_j, rows to the next tie set) pairs


def _risk_structure(time: np.ndarray, event: np.ndarray, x: np.ndarray) -> _Risk:
    # One integer key orders by time, then events (flag 0) before censorings (flag 1).
    key = ((time + 0.0).view(np.uint64) << np.uint64(1)) | (1 - event).astype(np.uint64)
    order = np.argsort(key, kind="stable")
    t = time[order]
    ev = event[order] == 1
    xt = np.ascontiguousarray(x[order].T)
    event_rows = np.flatnonzero(ev)
    et = t[event_rows]
    new_tie = np.empty(et.size, dtype=bool)
    new_tie[:1] = True
    np.not_equal(et[1:], et[:-1], out=new_tie[1:])
    first_event = np.flatnonzero(new_tie)
    m = first_event.size
    start = event_rows[first_event]
    size = np.diff(np.append(first_event, et.size))
    tie_of_event = np.cumsum(new_tie) - 1
    segment = np.repeat(np.append(m, np.arange(m)), np.diff(np.concatenate(([0], start, [t.size]))))
    tie_of_row = np.full(t.size, m)
    tie_of_row[event_rows] = tie_of_event
    gaps = np.diff(np.append(start, t.size)) - size
    return _Risk(
        xt=xt,
        x_event_sum=xt[:, event_rows].sum(axis=1),
        n_ties=m,
        segment=segment,
        tie_of_row=tie_of_row,
        tie_of_event=tie_of_event,
        first_event=first_event,
        frac=(np.arange(et.size) - first_event[tie_of_event]) / size[tie_of_event],
        segment_length=np.concatenate(([start[0]], np.column_stack((size, gaps)).ravel())),
    )


def _gram(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """sum_r weight_r a_ir b_jr for row-per-covariate arrays, without BLAS.

    Each entry is an elementwise product and a pairwise sum: multithreaded BLAS on tall-thin matrices
    is slower than this on a busy machine, and p is small.
    """
    p = a.shape[0]
    out = np.empty((p, p))
    for i in range(p):
        wa = weight * a[i]
        for j in range(p):
            out[i, j] = (wa * b[j]).sum()
    return out


def _efron(beta: np.ndarray, r: _Risk) -> tuple[float, np.ndarray, np.ndarray]:
    """Log partial likelihood, score and information at ``beta`` (Efron ties)."""
    m = r.n_ties + 1  # one spare bin for the rows outside any tie set / risk-set increment

    def risk_and_tie_sums(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        increments = np.bincount(r.segment, weights=values, minlength=m)[:-1]
        risk = np.cumsum(increments[::-1])[::-1]
        tie = np.bincount(r.tie_of_row, weights=values, minlength=m)[:-1]
        return risk, tie

    eta = beta[0] * r.xt[0]
    for k in range(1, beta.size):
        eta += beta[k] * r.xt[k]
    w = np.exp(eta)
    s0, e0 = risk_and_tie_sums(w)
    tie = r.tie_of_event
    den = s0[tie] - r.frac * e0[tie]
    loglik = float(r.x_event_sum @ beta - np.log(den).sum())

    s1 = np.empty((beta.size, r.n_ties))  # risk-set sums of w x, one row per covariate
    e1 = np.empty_like(s1)  # tie-set sums of w x
    for k, xk in enumerate(r.xt):
        s1[k], e1[k] = risk_and_tie_sums(w * xk)

    def per_tie(values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, r.first_event)

    inv = 1.0 / den
    b0, b1 = per_tie(inv), per_tie(r.frac * inv)
    score = r.x_event_sum - ((s1 * b0).sum(axis=1) - (e1 * b1).sum(axis=1))

    # sum_{j,l} S2_jl / den_jl = X' diag(w c) X, with c_i as in the module docstring.
    inv_cum = np.cumsum(b0)
    c = np.repeat(np.concatenate(([0.0], np.column_stack((inv_cum - b1, inv_cum)).ravel())), r.segment_length)
    # sum_{j,l} a a' with a = (S1 - f E1) / den, expanded so that it runs over tie sets, not events.
    inv2 = inv * inv
    a0, a1, a2 = per_tie(inv2), per_tie(r.frac * inv2), per_tie(r.frac * r.frac * inv2)
    cross = _gram(s1, e1, a1)
    info = _gram(r.xt, r.xt, w * c) - (_gram(s1, s1, a0) - cross - cross.T + _gram(e1, e1, a2))
    return loglik, score, info


def _newton_raphson(r: _Risk, p: int) -> tuple[np.ndarray, np.ndarray, float, float, int]:
    beta = np.zeros(p)
    loglik, score, info = _efron(beta, r)
    loglik_null = loglik
    for iteration in range(1, _MAX_ITER + 1):
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            raise ValueError(
                "the information matrix is singular: a covariate is constant or collinear"
            ) from None
        trial = _efron(beta + step, r)
        halvings = 0
        while not trial[0] >= loglik and halvings < _MAX_HALVING:
            step = step / 2
            trial = _efron(beta + step, r)
            halvings += 1
        converged = abs(trial[0] - loglik) <= 1e-12 * abs(loglik) or np.abs(step).max() < 1e-11
        beta = beta + step
        loglik, score, info = trial
        if converged:
            return beta, info, loglik, loglik_null, iteration
    raise ValueError(f"Cox model did not converge in {_MAX_ITER} Newton-Raphson iterations")


def _covariates(data: pd.DataFrame, columns: list[str]) -> np.ndarray:
    x = data[columns]
    bad = [
        c for c in columns if not (pd.api.types.is_numeric_dtype(x[c]) or pd.api.types.is_bool_dtype(x[c]))
    ]
    if bad:
        raise ValueError(f"covariates must be numeric; not numeric: {', '.join(map(str, bad))}")
    arr = x.to_numpy(dtype=np.float64)
    if not np.isfinite(arr).all():
        row, col = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"covariate {columns[col]!r} is missing or infinite at row {row}")
    return arr


def cox_ph(data: pd.DataFrame, duration_col: str, event_col: str, conf_level: float = 0.95) -> CoxPH:
    """Fit a Cox model with Efron ties; every column other than the two named is a covariate.

    Equal to R ``coxph(Surv(duration, event) ~ ., data, ties = "efron")``: Newton–Raphson from b = 0,
    standard errors from the inverse information at the estimate, Wald z and p, and hazard-ratio limits
    exp(b -/+ z se). Iterates to a tighter tolerance than R's default (eps = 1e-9 on log L).
    """
    conf_level = as_conf_level(conf_level)
    for col in (duration_col, event_col):
        if col not in data.columns:
            raise ValueError(f"column {col!r} is not in the data")
    columns = [c for c in data.columns if c not in (duration_col, event_col)]
    if not columns:
        raise ValueError("no covariates: the data has only the duration and event columns")
    time = as_time(data[duration_col], name=duration_col)
    event = as_event(data[event_col], name=event_col)
    if event.sum() == 0:
        raise ValueError("no events: a Cox model needs at least one event")
    x = _covariates(data, columns)
    x = x - x.mean(axis=0)
    risk = _risk_structure(time, event, x)
    beta, info, loglik, loglik_null, iterations = _newton_raphson(risk, x.shape[1])
    cov = np.linalg.inv(info)
    se = np.sqrt(np.diag(cov))
    z = beta / se
    zq = norm.ppf(1 - (1 - conf_level) / 2)
    index = pd.Index(columns, name="covariate")

    def series(values: np.ndarray, name: str) -> pd.Series:
        return pd.Series(values, index=index, name=name)

    return CoxPH(
        coef=series(beta, "coef"),
        se=series(se, "se"),
        z=series(z, "z"),
        p=series(2 * norm.sf(np.abs(z)), "p"),
        hazard_ratio=series(np.exp(beta), "hazard_ratio"),
        hr_lower=series(np.exp(beta - zq * se), "hr_lower"),
        hr_upper=series(np.exp(beta + zq * se), "hr_upper"),
        covariance=pd.DataFrame(cov, index=index, columns=index),
        loglik=loglik,
        loglik_null=loglik_null,
        n=int(time.size),
        n_event=int(event.sum()),
        iterations=iterations,
        conf_level=conf_level,
    )
