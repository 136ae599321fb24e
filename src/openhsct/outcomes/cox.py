"""Cox proportional-hazards regression with Efron's tie correction, as R ``coxph(ties = "efron")``.

With w_i = exp(x_i' b), the risk set R_j = {i : t_i >= t_j} and the d_j tied events D_j at t_j,
Efron (1977) replaces the risk-set sums by, for l = 0, ..., d_j - 1,

    S0_jl = sum_{R_j} w_i - (l / d_j) sum_{D_j} w_i        (likewise S1 with w_i x_i, S2 with w_i x_i x_i')

    log L(b) = sum_events x_i' b - sum_{j,l} log S0_jl
    U(b)     = sum_events x_i    - sum_{j,l} S1_jl / S0_jl
    I(b)     = sum_{j,l} [ S2_jl / S0_jl - (S1_jl / S0_jl)(S1_jl / S0_jl)' ]

The S2 sums never need forming: sum_{j,l} S2_jl / S0_jl = X' diag(w_i c_i) X, where c_i adds up
1 / S0_jl over the (j, l) whose risk set holds i, less l / (d_j S0_jl) over the terms of i's own tie
set. Each Newton–Raphson step is then a few cumulative sums over the sorted times and one X' W X,
with step halving when the log-likelihood falls (as ``coxph.fit``). Covariates are centred first,
which leaves the estimates unchanged.
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
    """The data sorted by time, and where each tie set of events sits."""

    x: np.ndarray  # (n, p), centred, sorted by time ascending
    event_rows: np.ndarray  # rows of the events, ascending
    first_at_risk: np.ndarray  # per event: first row whose time >= the event's time
    tie_start: np.ndarray  # per tie set: its first position in event_rows
    tie_of_event: np.ndarray  # per event: index of its tie set
    rank_in_tie: np.ndarray  # per event: l = 0, ..., d_j - 1
    tie_size: np.ndarray  # per event: d_j
    tie_of_row: np.ndarray  # per row: index of the last tie set with time <= the row's time (-1: none)


def _risk_structure(time: np.ndarray, event: np.ndarray, x: np.ndarray) -> _Risk:
    order = np.argsort(time, kind="stable")
    t = time[order]
    xs = x[order]
    event_rows = np.flatnonzero(event[order] == 1)
    et = t[event_rows]
    new_tie = np.empty(et.size, dtype=bool)
    new_tie[:1] = True
    np.not_equal(et[1:], et[:-1], out=new_tie[1:])
    tie_start = np.flatnonzero(new_tie)
    tie_of_event = np.cumsum(new_tie) - 1
    sizes = np.diff(np.append(tie_start, et.size))
    return _Risk(
        x=xs,
        event_rows=event_rows,
        first_at_risk=np.searchsorted(t, et, side="left"),
        tie_start=tie_start,
        tie_of_event=tie_of_event,
        rank_in_tie=np.arange(et.size) - tie_start[tie_of_event],
        tie_size=sizes[tie_of_event],
        tie_of_row=np.searchsorted(et[tie_start], t, side="right") - 1,
    )


def _suffix_sum(values: np.ndarray) -> np.ndarray:
    return np.cumsum(values[::-1], axis=0)[::-1]


def _efron(beta: np.ndarray, r: _Risk, with_derivatives: bool = True):
    """Log partial likelihood, score and information at ``beta`` (Efron ties)."""
    eta = r.x @ beta
    w = np.exp(eta)
    frac = r.rank_in_tie / r.tie_size
    s0 = _suffix_sum(w)[r.first_at_risk]
    e0 = np.add.reduceat(w[r.event_rows], r.tie_start)[r.tie_of_event]
    den = s0 - frac * e0
    loglik = float(eta[r.event_rows].sum() - np.log(den).sum())
    if not with_derivatives:
        return loglik, None, None
    wx = w[:, None] * r.x
    s1 = _suffix_sum(wx)[r.first_at_risk]
    e1 = np.add.reduceat(wx[r.event_rows], r.tie_start)[r.tie_of_event]
    a = (s1 - frac[:, None] * e1) / den[:, None]

    # c_i: sum of 1/den over the risk sets holding row i, less l/(d_j den) over its own tie set.
    inv_cum = np.cumsum(np.add.reduceat(1.0 / den, r.tie_start))
    c = np.where(r.tie_of_row >= 0, inv_cum[np.maximum(r.tie_of_row, 0)], 0.0)
    c[r.event_rows] -= np.add.reduceat(frac / den, r.tie_start)[r.tie_of_event]
    weight = w * c
    score = r.x[r.event_rows].sum(axis=0) - r.x.T @ weight
    info = (r.x * weight[:, None]).T @ r.x - a.T @ a
    return loglik, score, info


def _newton_raphson(r: _Risk, p: int) -> tuple[np.ndarray, np.ndarray, float, float, int]:
    beta = np.zeros(p)
    loglik, score, info = _efron(beta, r)
    loglik_null = loglik
    for iteration in range(1, _MAX_ITER + 1):
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            raise ValueError("the information matrix is singular: a covariate is constant or collinear") from None
        new_beta = beta + step
        new_loglik = _efron(new_beta, r, with_derivatives=False)[0]
        halvings = 0
        while not new_loglik >= loglik and halvings < _MAX_HALVING:
            step = step / 2
            new_beta = beta + step
            new_loglik = _efron(new_beta, r, with_derivatives=False)[0]
            halvings += 1
        converged = abs(new_loglik - loglik) <= 1e-12 * abs(loglik) or np.abs(step).max() < 1e-11
        beta = new_beta
        loglik, score, info = _efron(beta, r)
        if converged:
            return beta, info, loglik, loglik_null, iteration
    raise ValueError(f"Cox model did not converge in {_MAX_ITER} Newton-Raphson iterations")


def _covariates(data: pd.DataFrame, columns: list[str]) -> np.ndarray:
    x = data[columns]
    bad = [c for c in columns if not (pd.api.types.is_numeric_dtype(x[c]) or pd.api.types.is_bool_dtype(x[c]))]
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
