"""Treatment effects on matched or weighted data: hazard ratios with robust standard errors, pairwise
censoring, negative binomial relapse-rate ratios and cumulative hazards per arm.

*Weighted Cox model.* Efron's tie correction with case weights, as R ``coxph`` (``coxfit6``): at an
event time with d tied events of total weight W, for l = 0, ..., d - 1 the risk-set sums lose l/d of
the tied events' share, den_l = S0 - (l/d) E0, and each term carries the mean weight W/d.

*Robust variance.* From the score (dfbeta) residuals of each patient, as R ``residuals(fit, "dfbeta",
weighted = TRUE)`` (Lin & Wei, *JASA* 1989;84:1074-1078, doi:10.1080/01621459.1989.10478874):

- ``variance="cluster"``: summed within clusters (the matched sets), V = D'D, as ``coxph(...,
  cluster = subclass)`` -- the matched analysis of Austin, *Stat Med* 2013;32:2837-2849,
  doi:10.1002/sim.5705;
- ``variance="survey"``: each patient its own primary sampling unit, centred and scaled by n/(n-1), as
  ``svycoxph`` on ``svydesign(ids = ~1, weights = ~w)`` (Lumley, *Complex Surveys*, Wiley 2010);
- ``variance="naive"``: the inverse information.

*Pairwise censoring.* Within each matched set every patient is followed only as long as the set's
shortest follow-up, so the arms are observed over the same time (Kalincik et al., *JAMA Neurol*
2023;80:702-713, doi:10.1001/jamaneurol.2023.1184).

*Relapse rates.* A negative binomial (NB2) regression of the relapse count on treatment with the log
of follow-up years as offset and case weights, fitted by maximum likelihood as R ``MASS::glm.nb``,
with a cluster-robust (CR0) sandwich variance for the log rate ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import digamma, gammaln
from scipy.stats import norm

from openhsct.comparative.errors import ComparativeError

VARIANCES = ("cluster", "survey", "naive")


@dataclass(frozen=True)
class HazardRatio:
    """A hazard ratio (aHSCT vs comparator) with its confidence limits, the log-scale coefficient and
    standard errors (``se`` is the one used; ``se_naive`` the model one), and how it was estimated."""

    estimate: float
    lower: float
    upper: float
    conf_level: float
    p_value: float
    n: int
    events: int
    coef: float
    se: float
    se_naive: float
    variance: str
    label: str = ""

    def to_frame(self) -> pd.DataFrame:
        """One row with every field."""
        return pd.DataFrame([self.__dict__])


@dataclass(frozen=True)
class RateRatio:
    """A relapse-rate ratio (aHSCT vs comparator) from a negative binomial model, with the weighted
    annualised relapse rate in each arm and the dispersion ``theta`` (variance mu + mu^2 / theta)."""

    estimate: float
    lower: float
    upper: float
    conf_level: float
    p_value: float
    n: int
    events: int
    coef: float
    se: float
    theta: float
    arr_treated: float
    arr_control: float
    label: str = ""

    def to_frame(self) -> pd.DataFrame:
        """One row with every field."""
        return pd.DataFrame([self.__dict__])


@dataclass(frozen=True, eq=False)
class _CoxFit:
    beta: np.ndarray
    info: np.ndarray
    loglik: float
    resid: np.ndarray  # (n, p) score residuals, unweighted, in the input order


def _efron_terms(time, event, x, w, beta):
    """Sorted risk and tie sums at beta; returns the pieces the fit and the residuals share."""
    eta = x @ beta
    r = np.exp(eta)
    order = np.argsort(time, kind="stable")
    ts, es, xs, ws, rs = time[order], event[order], x[order], w[order], r[order]
    wr = ws * rs
    p = x.shape[1]
    rev = lambda a: np.cumsum(a[::-1], axis=0)[::-1]  # noqa: E731 - a local helper is clearest here
    c0 = rev(wr)
    c1 = rev(wr[:, None] * xs)
    c2 = rev(wr[:, None, None] * xs[:, :, None] * xs[:, None, :])
    dead = es == 1
    etimes, tie_of_death = np.unique(ts[dead], return_inverse=True)
    m = etimes.size
    start = np.searchsorted(ts, etimes, side="left")
    s0, s1, s2 = c0[start], c1[start], c2[start]
    e0 = np.bincount(tie_of_death, weights=wr[dead], minlength=m)
    e1 = np.stack([np.bincount(tie_of_death, weights=(wr[dead] * xs[dead, k]), minlength=m) for k in range(p)], 1)
    xd = xs[dead]
    wrd = wr[dead]
    e2 = np.zeros((m, p, p))
    for a in range(p):
        for b in range(p):
            e2[:, a, b] = np.bincount(tie_of_death, weights=wrd * xd[:, a] * xd[:, b], minlength=m)
    d = np.bincount(tie_of_death, minlength=m).astype(np.float64)
    wsum = np.bincount(tie_of_death, weights=ws[dead], minlength=m)
    # One term per death: l = its rank within the tie set.
    first = np.searchsorted(tie_of_death, np.arange(m), side="left")
    death_rank = np.arange(tie_of_death.size) - first[tie_of_death]
    return {
        "order": order, "ts": ts, "xs": xs, "ws": ws, "rs": rs, "dead": dead, "etimes": etimes,
        "tie": tie_of_death, "s0": s0, "s1": s1, "s2": s2, "e0": e0, "e1": e1, "e2": e2, "d": d,
        "wsum": wsum, "frac": death_rank / d[tie_of_death], "eta_s": eta[order],
    }


def _efron_fit_pieces(t):
    tie, f = t["tie"], t["frac"]
    wtave = (t["wsum"] / t["d"])[tie]
    den = t["s0"][tie] - f * t["e0"][tie]
    xbar = (t["s1"][tie] - f[:, None] * t["e1"][tie]) / den[:, None]
    dead = t["dead"]
    loglik = float(np.sum(t["ws"][dead] * t["eta_s"][dead]) - np.sum(wtave * np.log(den)))
    score = (t["ws"][dead][:, None] * t["xs"][dead]).sum(0) - (wtave[:, None] * xbar).sum(0)
    s2l = (t["s2"][tie] - f[:, None, None] * t["e2"][tie]) / den[:, None, None]
    info = (wtave[:, None, None] * (s2l - xbar[:, :, None] * xbar[:, None, :])).sum(0)
    return loglik, score, info, wtave, den, xbar


def _score_residuals(t, wtave, den, xbar) -> np.ndarray:
    """R ``coxscore`` residuals (Efron), unweighted, in sorted order."""
    tie, f = t["tie"], t["frac"]
    m = t["etimes"].size
    p = xbar.shape[1]
    h = wtave / den
    h0 = np.bincount(tie, weights=h, minlength=m)
    g0 = np.bincount(tie, weights=(1 - f) * h, minlength=m)
    h1 = np.stack([np.bincount(tie, weights=h * xbar[:, k], minlength=m) for k in range(p)], 1)
    g1 = np.stack([np.bincount(tie, weights=(1 - f) * h * xbar[:, k], minlength=m) for k in range(p)], 1)
    mean_xbar = np.stack([np.bincount(tie, weights=xbar[:, k], minlength=m) for k in range(p)], 1) / t["d"][:, None]
    ts, xs, rs, dead = t["ts"], t["xs"], t["rs"], t["dead"]
    # Tie sets strictly before each row's time, and the tie set at its time (if any).
    before = np.searchsorted(t["etimes"], ts, side="left")
    cum_h0 = np.concatenate(([0.0], np.cumsum(h0)))
    cum_h1 = np.vstack([np.zeros((1, p)), np.cumsum(h1, axis=0)])
    resid = -rs[:, None] * (xs * cum_h0[before][:, None] - cum_h1[before])
    at = (before < m) & (t["etimes"][np.minimum(before, m - 1)] == ts)
    j = np.minimum(before, m - 1)
    own0 = np.where(dead, g0[j], h0[j]) * at
    own1 = np.where(dead[:, None], g1[j], h1[j]) * at[:, None]
    resid -= rs[:, None] * (xs * own0[:, None] - own1)
    resid[dead] += xs[dead] - mean_xbar[j[dead]]
    return resid


def _cox_fit(time, event, x, w) -> _CoxFit:
    beta = np.zeros(x.shape[1])
    t = _efron_terms(time, event, x, w, beta)
    loglik, score, info, *_ = _efron_fit_pieces(t)
    for _ in range(60):
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            raise ComparativeError("the Cox model cannot be fitted: no events in one arm, or a constant covariate") from None
        halvings = 0
        while True:
            t_new = _efron_terms(time, event, x, w, beta + step)
            ll_new, score_new, info_new, *_ = _efron_fit_pieces(t_new)
            if ll_new >= loglik or halvings > 30:
                break
            step /= 2
            halvings += 1
        beta = beta + step
        done = abs(ll_new - loglik) <= 1e-13 * max(1.0, abs(loglik)) or np.abs(step).max() < 1e-12
        loglik, score, info, t = ll_new, score_new, info_new, t_new
        if done:
            break
    _, _, info, wtave, den, xbar = _efron_fit_pieces(t)
    resid_sorted = _score_residuals(t, wtave, den, xbar)
    resid = np.empty_like(resid_sorted)
    resid[t["order"]] = resid_sorted
    return _CoxFit(beta=beta, info=info, loglik=loglik, resid=resid)


def cox_treatment_effect(
    time,
    event,
    treat,
    weights=None,
    cluster=None,
    variance: str = "cluster",
    conf_level: float = 0.95,
    label: str = "",
) -> HazardRatio:
    """Hazard ratio of treat = 1 vs 0 from a (weighted) Cox model ``Surv(time, event) ~ treat`` with
    Efron ties. ``variance`` is ``"cluster"`` (R ``coxph(..., weights, cluster = cluster)``; without
    ``cluster`` each patient is its own cluster), ``"survey"`` (R ``svycoxph`` on ``svydesign(ids = ~1,
    weights = ~weights)``) or ``"naive"``. Rows with weight 0 are dropped first. Returns
    :class:`HazardRatio`."""
    if variance not in VARIANCES:
        raise ComparativeError(f"variance {variance!r}: use one of {', '.join(VARIANCES)}")
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=np.int64)
    tr = np.asarray(treat, dtype=np.float64)
    w = np.ones(time.size) if weights is None else np.asarray(weights, dtype=np.float64)
    cl = np.arange(time.size) if cluster is None else np.asarray(cluster)
    keep = w > 0
    time, event, tr, w, cl = time[keep], event[keep], tr[keep], w[keep], cl[keep]
    if not (np.any(tr == 1) and np.any(tr == 0)):
        raise ComparativeError("both arms need patients for a hazard ratio")
    if event.sum() == 0:
        raise ComparativeError("no events: a hazard ratio needs at least one event")
    empty = [name for arm, name in ((1, "aHSCT"), (0, "comparator")) if not np.any(event[tr == arm] == 1)]
    if empty:
        raise ComparativeError(f"no events in the {empty[0]} arm: the hazard ratio is not estimable (0 or infinite)")
    x = (tr - tr.mean())[:, None]  # centred, as coxph; the coefficient is unchanged
    fit = _cox_fit(time, event, x, w)
    v_naive = np.linalg.inv(fit.info)
    dfbeta = (fit.resid @ v_naive) * w[:, None]
    if variance == "cluster":
        _, idx = np.unique(cl, return_inverse=True)
        d = np.stack([np.bincount(idx, weights=dfbeta[:, k]) for k in range(dfbeta.shape[1])], 1)
        v = d.T @ d
    elif variance == "survey":
        n = dfbeta.shape[0]
        c = dfbeta - dfbeta.mean(axis=0)
        v = c.T @ c * n / (n - 1)
    else:
        v = v_naive
    return _hazard_ratio(fit.beta[0], float(np.sqrt(v[0, 0])), float(np.sqrt(v_naive[0, 0])),
                         conf_level, int(time.size), int(event.sum()), variance, label)


def _hazard_ratio(coef, se, se_naive, conf_level, n, events, variance, label) -> HazardRatio:
    z = norm.ppf(1 - (1 - conf_level) / 2)
    return HazardRatio(
        estimate=float(np.exp(coef)),
        lower=float(np.exp(coef - z * se)),
        upper=float(np.exp(coef + z * se)),
        conf_level=conf_level,
        p_value=float(2 * norm.sf(abs(coef / se))),
        n=n,
        events=events,
        coef=float(coef),
        se=se,
        se_naive=se_naive,
        variance=variance,
        label=label,
    )


def pairwise_censor(time, event, subclass) -> tuple[np.ndarray, np.ndarray]:
    """Follow every patient of a matched set only to the set's shortest follow-up: returns (time,
    event) with time = min(time, set minimum) and an event kept only if it happened by then. Patients
    with subclass 0 (unmatched) are returned unchanged."""
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=np.int64)
    sub = np.asarray(subclass)
    out_t, out_e = time.copy(), event.copy()
    m = sub > 0
    shortest = pd.Series(time[m]).groupby(sub[m]).transform("min").to_numpy()
    out_t[m] = shortest
    out_e[m] = np.where(time[m] <= shortest, event[m], 0)
    return out_t, out_e


def cumulative_hazard(time, event, treat, weights=None) -> pd.DataFrame:
    """Weighted Nelson-Aalen cumulative hazard per arm: columns ``arm`` (1 aHSCT, 0 comparator),
    ``time``, ``n_risk`` (weighted), ``events`` (weighted), ``cumhaz``; one row per event time."""
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=np.int64)
    tr = np.asarray(treat, dtype=np.int64)
    w = np.ones(time.size) if weights is None else np.asarray(weights, dtype=np.float64)
    frames = []
    for arm in (1, 0):
        s = (tr == arm) & (w > 0)
        t, e, ww = time[s], event[s], w[s]
        times = np.unique(t[e == 1])
        order = np.argsort(t, kind="stable")
        ts, ws = t[order], ww[order]
        at_risk = np.cumsum(ws[::-1])[::-1]
        n_risk = at_risk[np.searchsorted(ts, times, side="left")] if times.size else np.array([])
        d = np.array([ww[(t == u) & (e == 1)].sum() for u in times])
        frames.append(pd.DataFrame({"arm": arm, "time": times, "n_risk": n_risk, "events": d,
                                    "cumhaz": np.cumsum(d / n_risk) if times.size else d}))
    return pd.concat(frames, ignore_index=True)


def _nb_loglik(y, mu, theta, w) -> float:
    return float(np.sum(w * (gammaln(y + theta) - gammaln(theta) - gammaln(y + 1) + theta * np.log(theta)
                             + y * np.log(mu) - (y + theta) * np.log(theta + mu))))


def _nb_theta(y, mu, w) -> float:
    """ML theta given mu (the score's root on the log scale); 1e8 when the data show no overdispersion."""

    def score(log_theta: float) -> float:
        th = np.exp(log_theta)
        return float(np.sum(w * (digamma(y + th) - digamma(th) + np.log(th) + 1 - np.log(th + mu)
                                 - (y + th) / (th + mu))))

    lo, hi = np.log(1e-6), np.log(1e8)
    if score(hi) > 0:
        return 1e8
    return float(np.exp(brentq(score, lo, hi, xtol=1e-14, rtol=1e-14, maxiter=500)))


def _nb_irls(x, y, offset, w, theta, beta) -> np.ndarray:
    for _ in range(200):
        mu = np.exp(x @ beta + offset)
        ww = w * mu / (1 + mu / theta)
        z = x @ beta + (y - mu) / mu
        new = np.linalg.solve(x.T @ (x * ww[:, None]), x.T @ (ww * z))
        if np.abs(new - beta).max() < 1e-13:
            return new
        beta = new
    return beta


def negative_binomial_rate_ratio(
    count, years, treat, weights=None, cluster=None, conf_level: float = 0.95, label: str = ""
) -> RateRatio:
    """Rate ratio of treat = 1 vs 0 from ``glm.nb(count ~ treat + offset(log(years)), weights)`` with a
    cluster-robust sandwich variance (each patient its own cluster when ``cluster`` is None). Rows with
    weight 0 or no follow-up are dropped. Returns :class:`RateRatio`."""
    y = np.asarray(count, dtype=np.float64)
    yrs = np.asarray(years, dtype=np.float64)
    tr = np.asarray(treat, dtype=np.float64)
    w = np.ones(y.size) if weights is None else np.asarray(weights, dtype=np.float64)
    cl = np.arange(y.size) if cluster is None else np.asarray(cluster)
    keep = (w > 0) & (yrs > 0)
    y, yrs, tr, w, cl = y[keep], yrs[keep], tr[keep], w[keep], cl[keep]
    if not (np.any(tr == 1) and np.any(tr == 0)):
        raise ComparativeError("both arms need follow-up for a relapse-rate ratio")
    if y[tr == 1].sum() == 0 or y[tr == 0].sum() == 0:
        raise ComparativeError("a relapse-rate ratio needs relapses in both arms")
    x = np.column_stack([np.ones(y.size), tr])
    offset = np.log(yrs)
    beta = np.array([np.log(np.sum(w * y) / np.sum(w * yrs)), 0.0])
    theta = 1.0
    for _ in range(200):
        beta = _nb_irls(x, y, offset, w, theta, beta)
        new_theta = _nb_theta(y, np.exp(x @ beta + offset), w)
        if abs(np.log(new_theta) - np.log(theta)) < 1e-12:
            theta = new_theta
            break
        theta = new_theta
    beta = _nb_irls(x, y, offset, w, theta, beta)
    mu = np.exp(x @ beta + offset)
    bread = np.linalg.inv(x.T @ (x * (w * mu / (1 + mu / theta))[:, None]))
    u = x * (w * (y - mu) / (1 + mu / theta))[:, None]
    _, idx = np.unique(cl, return_inverse=True)
    uc = np.stack([np.bincount(idx, weights=u[:, k]) for k in range(2)], 1)
    v = bread @ (uc.T @ uc) @ bread
    se = float(np.sqrt(v[1, 1]))
    z = norm.ppf(1 - (1 - conf_level) / 2)
    arr = [float(np.sum((w * y)[tr == a]) / np.sum((w * yrs)[tr == a])) for a in (1, 0)]
    return RateRatio(
        estimate=float(np.exp(beta[1])),
        lower=float(np.exp(beta[1] - z * se)),
        upper=float(np.exp(beta[1] + z * se)),
        conf_level=conf_level,
        p_value=float(2 * norm.sf(abs(beta[1] / se))),
        n=int(y.size),
        events=int(y.sum()),
        coef=float(beta[1]),
        se=se,
        theta=theta,
        arr_treated=arr[0],
        arr_control=arr[1],
        label=label,
    )
