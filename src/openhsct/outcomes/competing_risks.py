"""Cumulative incidence under competing risks and Gray's test, as R ``cmprsk::cuminc``.

Cumulative incidence (Aalen–Johansen; Kalbfleisch & Prentice 1980) of cause k at the distinct times t_j,
with n_j at risk, d_kj events of cause k, d_j events of any cause and S the all-cause Kaplan–Meier:

    F_k(t_j) = sum_{i<=j} S(t_{i-1}) d_ki / n_i

Variance: the estimator of Gray (cmprsk ``cinc.f``, after Aalen 1978 and Dinse & Larson 1986), *not*
the Aalen-type delta-method variance of lifelines or ``survfit``. With a = S(t_{i-1}), b = S(t_i), tie
corrections c(d) = 1 - (d - 1)/(n_i - 1) and F = F_k(t_i), every event time adds

    other causes (d_oi = d_i - d_ki > 0, b > 0):  w = a^2 c(d_oi) d_oi / n_i^2,  u = (F/b, 1/b)
    cause k      (d_ki > 0):                      w = a^2 c(d_ki) d_ki / n_i^2,  u = (1 + F/b, 1/b)

to V1 += u_1^2 w, V2 += u_1 u_2 w, V3 += u_2^2 w, and Var F_k(t) = V1 + F^2 V3 - 2 F V2, read at the
last cause-k event time <= t (cuminc reports it only there; the increments in between cancel).
These are cumulative sums over the sorted distinct times: one vectorised pass per cause.

Pointwise limits use the log(-log) transform of ``cmprsk``'s documentation and ``tidycmprsk``:

    lower, upper = F ** exp(-/+ z sqrt(Var) / (F log F))      (the sign that puts lower below F)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from openhsct.outcomes._validate import as_cause, as_conf_level, as_group, as_time, check_lengths


def _event_table(time: np.ndarray, cause: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Sorted distinct times, number at risk (time >= t), all events and events per cause at each."""
    order = np.argsort(time, kind="stable")
    t_sorted = time[order]
    c_sorted = cause[order]
    first = np.empty(t_sorted.size, dtype=bool)
    first[0] = True
    np.not_equal(t_sorted[1:], t_sorted[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], t_sorted.size) - 1

    def count_at(mask: np.ndarray) -> np.ndarray:
        return np.diff(np.cumsum(mask, dtype=np.int64)[ends], prepend=0)

    per_cause = {int(k): count_at(c_sorted == k) for k in np.unique(c_sorted[c_sorted > 0])}
    return t_sorted[starts], t_sorted.size - starts, count_at(c_sorted > 0), per_cause


def _tie_factor(d: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d > 1, 1.0 - (d - 1.0) / (n - 1.0), 1.0)


def _cif_and_variance(
    n_risk: np.ndarray, d_cause: np.ndarray, d_all: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """CIF and Gray's variance for one cause on the distinct-time grid (see module docstring)."""
    n = n_risk.astype(np.float64)
    dk = d_cause.astype(np.float64)
    do = (d_all - d_cause).astype(np.float64)
    s_after = np.cumprod((n - d_all) / n)
    s_before = np.concatenate(([1.0], s_after[:-1]))
    cif = np.cumsum(s_before * dk / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_b = np.where(s_after > 0, 1.0 / s_after, 0.0)
        a2_n2 = s_before * s_before / (n * n)
        w_other = np.where((do > 0) & (s_after > 0), a2_n2 * _tie_factor(do, n) * do, 0.0)
        w_own = np.where(dk > 0, a2_n2 * _tie_factor(dk, n) * dk, 0.0)
    u1_other = cif * inv_b
    u1_own = 1.0 + cif * inv_b
    v1 = np.cumsum(u1_other * u1_other * w_other + u1_own * u1_own * w_own)
    v2 = np.cumsum(inv_b * (u1_other * w_other + u1_own * w_own))
    v3 = np.cumsum(inv_b * inv_b * (w_other + w_own))
    var = v1 + cif * cif * v3 - 2.0 * cif * v2
    # As cuminc: the variance is recorded at cause-k event times and carried forward between them.
    last_jump = np.maximum.accumulate(np.where(dk > 0, np.arange(dk.size), -1))
    var = np.where(last_jump >= 0, var[np.maximum(last_jump, 0)], 0.0)
    return cif, var


def cif_ci(cif: np.ndarray, var: np.ndarray, conf_level: float) -> tuple[np.ndarray, np.ndarray]:
    """log(-log) limits for a cumulative incidence; [0, 0] where F = 0 and [1, 1] where F = 1."""
    z = norm.ppf(1 - (1 - conf_level) / 2)
    inside = (cif > 0) & (cif < 1)
    f = np.where(inside, cif, 0.5)
    log_f = np.log(f)
    widen = np.exp(-z * np.sqrt(np.maximum(var, 0.0)) / (f * log_f))  # F ** widen = exp(log F * widen)
    lower = np.where(inside, np.exp(log_f * widen), cif)
    upper = np.where(inside, np.exp(log_f / widen), cif)
    return lower, upper


def _validated(time, cause) -> tuple[np.ndarray, np.ndarray]:
    t = as_time(time)
    c = as_cause(cause)
    check_lengths(time=t, cause=c)
    return t, c


def cumulative_incidence(time, cause, conf_level: float = 0.95) -> pd.DataFrame:
    """Cumulative incidence of every cause with Gray's variance, as ``cmprsk::cuminc(time, cause)``.

    ``cause`` is 0 for censored and 1..k for the cause of the event. Returns one row per cause and
    distinct observed time with columns ``time, cause, cif, var, lower, upper, n_risk, n_event``
    (``n_event``: events of that cause at that time), ordered by cause then time.
    """
    conf_level = as_conf_level(conf_level)
    t, c = _validated(time, cause)
    uniq, n_risk, d_all, per_cause = _event_table(t, c)
    frames = []
    for k, d_k in per_cause.items():
        cif, var = _cif_and_variance(n_risk, d_k, d_all)
        lower, upper = cif_ci(cif, var, conf_level)
        frames.append(
            pd.DataFrame(
                {
                    "time": uniq,
                    "cause": np.full(uniq.size, k),
                    "cif": cif,
                    "var": var,
                    "lower": lower,
                    "upper": upper,
                    "n_risk": n_risk,
                    "n_event": d_k,
                },
                copy=False,
            )
        )
    if not frames:
        raise ValueError("cause has no events (every value is 0 = censored)")
    out = pd.concat(frames, ignore_index=True)
    out.attrs.update(conf_level=conf_level, variance="Gray (cmprsk cuminc)")
    return out


# ---- Gray's test -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GrayTest:
    """Gray's (1988) K-sample test of cumulative incidence, one statistic per cause."""

    statistic: pd.Series
    df: int
    p_value: pd.Series
    groups: tuple
    rho: float

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "cause": self.statistic.index,
                "statistic": self.statistic.to_numpy(),
                "df": self.df,
                "p_value": self.p_value.to_numpy(),
            }
        )


def _shift(values: np.ndarray, start: float) -> np.ndarray:
    """Left-continuous version of a per-time array: row t holds row t - 1, the first row ``start``."""
    out = np.empty_like(values)
    out[0] = start
    out[1:] = values[:-1]
    return out


def _gray_score_variance(
    n_risk: np.ndarray, d1: np.ndarray, d2: np.ndarray, rho: float
) -> tuple[np.ndarray, np.ndarray]:
    """Score and its covariance for one cause (Gray 1988; cmprsk ``crst``), vectorised over times.

    Inputs are (times x groups) counts at the event times: at risk, events of the cause, other events.
    Returns the score for all groups and the covariance matrix for all groups (callers drop the last).
    """
    rs = n_risk.astype(np.float64)
    d1 = d1.astype(np.float64)
    d2 = d2.astype(np.float64)
    ok = rs > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        skm = np.cumprod(np.where(ok, (rs - d1 - d2) / rs, 1.0), axis=0)
        skmm = _shift(skm, 1.0)
        f1 = np.cumsum(np.where(ok, skmm * d1 / rs, 0.0), axis=0)
        f1m = _shift(f1, 0.0)
        h = np.where(ok, rs / skmm, 0.0)
        tr = h.sum(axis=1)
        tq = np.where(ok, rs * (1.0 - f1m) / skmm, 0.0).sum(axis=1)
        nd1 = d1.sum(axis=1)
        f = np.cumsum(nd1 / tr)
        fm = _shift(f, 0.0)
        fb = (1.0 - fm) ** rho

        a = fb[:, None, None] * (
            h[:, :, None] * np.eye(h.shape[1])[None] - h[:, :, None] * h[:, None, :] / tr[:, None, None]
        )
        c = np.cumsum(a * np.where(nd1 > 0, nd1 / (tr * (1.0 - fm)), 0.0)[:, None, None], axis=0)
        score = (
            fb[:, None] * np.where(ok, d1 - nd1[:, None] * rs * (1.0 - f1m) / (skmm * tq[:, None]), 0.0)
        ).sum(axis=0)

        # Events of the cause of interest.
        own = ok & (nd1 > 0)[:, None]
        t4 = np.where(skm > 0, 1.0 - (1.0 - f)[:, None] / skm, 1.0)
        t5 = np.where(nd1[:, None] > 1, 1.0 - (nd1[:, None] - 1.0) / (tr[:, None] * skmm - 1.0), 1.0)
        t3 = np.where(own, t5 * skmm * nd1[:, None] / (tr[:, None] * rs), 0.0)
        t4 = np.where(own, t4, 0.0)
        t1 = a - t4[:, None, :] * c  # (time, i, k)
        v3 = (t4 * t4 * t3).sum(axis=0)
        v2 = np.einsum("tik,tk->ik", t1, t4 * t3)
        v = np.einsum("tik,tjk,tk->ij", t1, t1, t3)

        # Events of the other causes.
        other = (skm > 0) & (d2 > 0)
        t4o = np.where(other, (1.0 - f)[:, None] / skm, 0.0)
        t3o = np.where(other, _tie_factor(d2, rs) * skmm * skmm * d2 / (rs * rs), 0.0)
        t1o = t4o[:, None, :] * c
        v3 += (t4o * t4o * t3o).sum(axis=0)
        v2 -= np.einsum("tik,tk->ik", t1o, t4o * t3o)
        v += np.einsum("tik,tjk,tk->ij", t1o, t1o, t3o)

    c_end = c[-1]
    v += (c_end * v3) @ c_end.T + c_end @ v2.T + v2 @ c_end.T
    return score, v


def _quadratic_form(s: np.ndarray, vs: np.ndarray) -> float:
    """s' V^-1 s, or NaN when V is singular (where cuminc reports -1)."""
    if np.linalg.matrix_rank(vs) < vs.shape[0]:
        return float("nan")
    return float(s @ np.linalg.solve(vs, s))


def gray_test(time, cause, group, rho: float = 0.0) -> GrayTest:
    """Gray's test that the cumulative incidence of each cause is equal across groups.

    Equal to the ``Tests`` of ``cmprsk::cuminc(time, cause, group, rho = rho)``: for each cause, the
    weighted score of the first g - 1 groups, s, and its covariance V give s' V^-1 s ~ chi-square(g - 1).
    Groups are ordered as R's ``factor`` (sorted labels). A singular V gives NaN (cuminc reports -1).
    """
    t, c = _validated(time, cause)
    codes, labels = as_group(group)
    check_lengths(time=t, group=codes)
    ng = len(labels)
    if ng < 2:
        raise ValueError("group must have at least two distinct values for Gray's test")
    uniq, inverse = np.unique(t, return_inverse=True)
    cell = inverse * ng + codes

    def per_cell(mask: np.ndarray) -> np.ndarray:
        return np.bincount(cell[mask], minlength=uniq.size * ng).reshape(uniq.size, ng)

    total = per_cell(np.ones(t.size, dtype=bool))
    at_risk = np.cumsum(total[::-1], axis=0)[::-1]
    any_event = per_cell(c > 0)
    rows = any_event.sum(axis=1) > 0
    stats, pvals, causes = [], [], np.unique(c[c > 0])
    for k in causes:
        d1 = per_cell(c == k)
        score, v = _gray_score_variance(at_risk[rows], d1[rows], (any_event - d1)[rows], rho)
        s, vs = score[: ng - 1], v[: ng - 1, : ng - 1]
        stat = _quadratic_form(s, vs)
        stats.append(stat)
        pvals.append(float(chi2.sf(stat, ng - 1)))
    index = pd.Index([int(k) for k in causes], name="cause")
    return GrayTest(
        statistic=pd.Series(stats, index=index, name="statistic"),
        df=ng - 1,
        p_value=pd.Series(pvals, index=index, name="p_value"),
        groups=tuple(labels),
        rho=float(rho),
    )
