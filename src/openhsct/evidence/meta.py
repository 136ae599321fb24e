"""Random- and fixed-effects meta-analysis and meta-regression, as metafor's ``rma.uni`` and ``regtest``.

Model (Viechtbauer 2010, J Stat Softw 36(3)):  ``y_i = x_i' beta + u_i + e_i``, ``u_i ~ N(0, tau^2)``,
``e_i ~ N(0, v_i)`` with known sampling variances ``v_i``. Given ``tau^2`` the coefficients are the
weighted least squares estimate with weights ``w_i = 1/(v_i + tau^2)``:

    b = (X'WX)^{-1} X'Wy,      Var(b) = (X'WX)^{-1}

Estimators of ``tau^2`` (all truncated at 0, as metafor):

- ``DL`` (DerSimonian & Laird 1986, Control Clin Trials 7:177): ``(Q - (k - p)) / tr(P)`` with
  ``P = W - WX(X'WX)^{-1}X'W`` at ``W = diag(1/v_i)`` and ``Q = y'Py``.
- ``PM`` (Paule & Mandel 1982, J Res Natl Bur Stand 87:377): the root of the generalised
  ``Q(tau^2) = y'P(tau^2)y = k - p``, found as metafor does with R's ``uniroot`` (Brent's zeroin,
  ported here step for step, so the same tolerance gives the same root).
- ``REML`` (Viechtbauer 2005, J Educ Behav Stat 30:261): Fisher scoring
  ``tau^2 <- tau^2 + (y'PPy - tr(P)) / tr(PP)`` from the Hedges (``HE``) starting value, halving
  steps that would go below 0, stopping when the change is below ``threshold = 1e-5``; then
  metafor's check that the REML log-likelihood at 0 is not higher.
- ``FE``: ``tau^2 = 0``.

``test="knha"`` (Knapp & Hartung 2003, Stat Med 22:2693) multiplies ``Var(b)`` by
``s^2 = sum w_i (y_i - x_i'b)^2 / (k - p)`` (not truncated at 1; metafor's ``test="adhoc"`` is the
truncated form) and uses t-quantiles with ``k - p`` degrees of freedom; the omnibus test becomes
``F = QM / m`` on ``(m, k - p)`` df.

Heterogeneity as metafor: ``Q_E = y'Py`` at ``W = diag(1/v_i)``, typical variance
``v~ = (k - p) / tr(P)``, ``I^2 = 100 tau^2 / (tau^2 + v~)``, ``H^2 = tau^2/v~ + 1`` (for ``FE``:
``I^2 = max(0, 100 (Q - (k-p))/Q)``, ``H^2 = Q/(k-p)``). Pseudo-``R^2`` for meta-regression:
``max(0, 100 (tau^2_0 - tau^2)/tau^2_0)`` with ``tau^2_0`` from the intercept-only model.
Prediction interval (metafor ``predict``): ``x'b -/+ crit sqrt(x'Var(b)x + tau^2)`` with the same
critical value as the confidence interval (normal, or t on ``k - p`` df under ``knha``).

Everything is computed with diagonal weights and ``p x p`` matrices only: O(k p^2) time, O(k p) memory.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from openhsct.errors import ValidationError

METHODS = ("DL", "REML", "PM", "FE")
TESTS = ("z", "knha")
_EPS = np.finfo(float).eps


@dataclass(frozen=True)
class RMAControl:
    """Numerical settings, named and defaulted as metafor's ``control=`` list."""

    tau2_min: float = 0.0
    tau2_max: float = 100.0
    threshold: float = 1e-5
    tol: float = _EPS**0.25
    maxiter: int = 100
    stepadj: float = 1.0
    ll0check: bool = True


@dataclass(frozen=True, eq=False)
class RMAResult:
    """A fitted ``rma``. ``estimate``/``se``/``ci_*`` are the first coefficient (the pooled effect in an
    intercept-only model); ``coef_table`` has every coefficient. Percentages (``i2``, ``r2``) are 0-100."""

    estimate: float
    se: float
    zval: float
    pval: float
    ci_lower: float
    ci_upper: float
    pi_lower: float
    pi_upper: float
    tau2: float
    i2: float
    h2: float
    q: float
    q_df: int
    q_p: float
    qm: float
    qm_df: tuple[int, int | None]
    qm_p: float
    r2: float | None
    k: int
    p: int
    method: str
    test: str
    level: float
    ddf: int | None
    s2w: float
    coef_names: tuple[str, ...]
    beta: np.ndarray = field(repr=False)
    coef_se_values: np.ndarray = field(repr=False)
    stat_values: np.ndarray = field(repr=False)
    pval_values: np.ndarray = field(repr=False)
    vb: np.ndarray = field(repr=False)
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    X: np.ndarray = field(repr=False)
    study_labels: tuple[str, ...] | None = field(repr=False, default=None)

    @functools.cached_property
    def coef_table(self) -> pd.DataFrame:
        """One row per coefficient: estimate, se, z (or t under knha), p-value and CI."""
        c = self.crit
        stat = "tval" if self.test == "knha" else "zval"
        return pd.DataFrame(
            {
                "estimate": self.beta,
                "se": self.coef_se_values,
                stat: self.stat_values,
                "pval": self.pval_values,
                "ci_lower": self.beta - c * self.coef_se_values,
                "ci_upper": self.beta + c * self.coef_se_values,
            },
            index=pd.Index(list(self.coef_names), name="coef"),
        )

    @property
    def labels(self) -> tuple[str, ...]:
        """Study labels (``"1"``, ``"2"``, ... unless given)."""
        if self.study_labels is not None:
            return self.study_labels
        return tuple(str(i + 1) for i in range(self.k))

    @property
    def coef(self) -> pd.Series:
        """Coefficients by name (``intrcpt`` first when the model has an intercept)."""
        return self.coef_table["estimate"]

    @property
    def coef_se(self) -> pd.Series:
        """Standard error of each coefficient."""
        return self.coef_table["se"]

    @property
    def weights(self) -> np.ndarray:
        """Percent weight of each study, ``100 w_i / sum w`` with ``w_i = 1/(v_i + tau^2)``."""
        w = 1.0 / (self.vi + self.tau2)
        return 100 * w / w.sum()

    @property
    def crit(self) -> float:
        """Critical value of the intervals (normal, or t on ``k - p`` df under ``knha``)."""
        return _crit(self.test, self.level, self.ddf)

    def predict(self, newmods=None, intercept: bool = True) -> pd.DataFrame:
        """metafor ``predict.rma``: fitted value, its CI and the prediction interval at ``newmods``.

        ``newmods`` is a (n x (p-1)) array of moderator values (without the intercept column when
        ``intercept``); omit it for an intercept-only model.
        """
        if newmods is None:
            if self.p != 1:
                raise ValidationError("newmods is needed for a model with moderators")
            xnew = np.ones((1, 1))
        else:
            xnew = np.atleast_2d(np.asarray(newmods, dtype=float))
            if self.p > 1 and xnew.shape[0] == 1 and xnew.shape[1] != self.p - int(intercept):
                xnew = xnew.T
            if intercept and self.coef_names[0] == "intrcpt":
                xnew = np.column_stack([np.ones(len(xnew)), xnew])
        if xnew.shape[1] != self.p:
            raise ValidationError(f"newmods needs {self.p - 1} columns (got {xnew.shape[1]})")
        pred = xnew @ self.beta
        vpred = np.einsum("ij,jk,ik->i", xnew, self.vb, xnew)
        c = self.crit
        se = np.sqrt(vpred)
        spi = np.sqrt(vpred + self.tau2)
        return pd.DataFrame(
            {
                "pred": pred,
                "se": se,
                "ci_lower": pred - c * se,
                "ci_upper": pred + c * se,
                "pi_lower": pred - c * spi,
                "pi_upper": pred + c * spi,
            }
        )

    def to_frame(self) -> pd.DataFrame:
        """One row: the pooled estimate, its intervals, heterogeneity and the settings used."""
        return pd.DataFrame(
            [
                {
                    "estimate": self.estimate,
                    "se": self.se,
                    "ci_lower": self.ci_lower,
                    "ci_upper": self.ci_upper,
                    "pi_lower": self.pi_lower,
                    "pi_upper": self.pi_upper,
                    "pval": self.pval,
                    "tau2": self.tau2,
                    "i2": self.i2,
                    "h2": self.h2,
                    "q": self.q,
                    "q_df": self.q_df,
                    "q_p": self.q_p,
                    "k": self.k,
                    "method": self.method,
                    "test": self.test,
                    "level": self.level,
                }
            ]
        )


# --- small linear-algebra helpers (all O(k p^2)) -------------------------------------------------


def _wls(X: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Weighted least squares: ``b``, ``(X'WX)^{-1}`` and residuals ``y - Xb``."""
    xtwx = X.T @ (w[:, None] * X)
    a = np.linalg.inv(xtwx)
    b = a @ (X.T @ (w * y))
    return b, a, y - X @ b


def _tr_xwx(X: np.ndarray, a: np.ndarray, d: np.ndarray) -> float:
    """``tr(A X' diag(d) X)``."""
    return float(np.sum(a * (X.T @ (d[:, None] * X))))


def _tr_p(X: np.ndarray, w: np.ndarray, a: np.ndarray) -> float:
    """``tr(P)`` with ``P = W - WXAX'W``."""
    return float(w.sum()) - _tr_xwx(X, a, w**2)


def _rss(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """``y'Py = sum w_i r_i^2`` (generalised Q)."""
    _, _, r = _wls(X, y, w)
    return float(np.sum(w * r**2))


def _crit(test: str, level: float, ddf: int | None) -> float:
    alpha = 1 - level / 100
    if test == "knha":
        return float(special.stdtrit(ddf, 1 - alpha / 2)) if ddf and ddf > 0 else float("nan")
    return float(-special.ndtri(alpha / 2))


def zeroin(f, lower: float, upper: float, f_lower: float, f_upper: float, tol: float, maxiter: int):
    """R's ``uniroot`` (``R_zeroin2``, Brent 1973): the root of ``f`` in ``[lower, upper]``.

    Ported line for line so that metafor's PM estimate (``tol = eps^0.25``) is reproduced exactly.
    """
    a, b, fa, fb = lower, upper, f_lower, f_upper
    c, fc = a, fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    for _ in range(maxiter + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * _EPS * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    raise ValidationError("uniroot did not converge while estimating tau^2 (PM)")


# --- tau^2 estimators ---------------------------------------------------------------------------------


def _tau2_dl(X, y, vi) -> float:
    k, p = X.shape
    w = 1.0 / vi
    _, a, r = _wls(X, y, w)
    q = float(np.sum(w * r**2))
    return (q - (k - p)) / _tr_p(X, w, a)


def _tau2_he(X, y, vi) -> float:
    k, p = X.shape
    ones = np.ones(k)
    _, a, r = _wls(X, y, ones)
    rss = float(np.sum(r**2))
    tr_pv = float(vi.sum()) - _tr_xwx(X, a, vi)
    return (rss - tr_pv) / (k - p)


def _tau2_pm(X, y, vi, con: RMAControl) -> float:
    k, p = X.shape

    def f(t2):
        return _rss(X, y, 1.0 / (vi + t2)) - (k - p)

    f_lo = f(con.tau2_min)
    if f_lo < 0:
        return con.tau2_min
    f_hi = f(con.tau2_max)
    if f_hi > 0:
        raise ValidationError("tau2_max too low for the PM estimator; raise it or use another method")
    return zeroin(f, con.tau2_min, con.tau2_max, f_lo, f_hi, con.tol, con.maxiter)


def _reml_ll(X, y, vi, tau2) -> float:
    k, p = X.shape
    w = 1.0 / (vi + tau2)
    _, a, r = _wls(X, y, w)
    _, logdet = np.linalg.slogdet(X.T @ (w[:, None] * X))
    return float(
        -0.5 * (k - p) * np.log(2 * np.pi)
        - 0.5 * np.sum(np.log(vi + tau2))
        - 0.5 * logdet
        - 0.5 * np.sum(w * r**2)
    )


def _tau2_reml(X, y, vi, con: RMAControl) -> float:
    tau2 = max(0.0, _tau2_he(X, y, vi), con.tau2_min)
    change, it = con.threshold + 1, 0
    while change > con.threshold:
        it += 1
        old = tau2
        w = 1.0 / (vi + tau2)
        _, a, r = _wls(X, y, w)
        py = w * r
        m2 = X.T @ ((w**2)[:, None] * X)
        tr_p = float(w.sum()) - float(np.sum(a * m2))
        tr_pp = float(np.sum(w**2)) - 2 * _tr_xwx(X, a, w**3) + float(np.sum((a @ m2) * (a @ m2).T))
        adj = (float(py @ py) - tr_p) / tr_pp * con.stepadj
        if not np.isfinite(adj):
            adj = 0.0
        while tau2 + adj < con.tau2_min:
            adj /= 2
        tau2 = tau2 + adj
        change = abs(old - tau2)
        if it > con.maxiter:
            raise ValidationError("Fisher scoring for REML did not converge")
    if con.ll0check and tau2 > con.threshold and _reml_ll(X, y, vi, 0.0) - _reml_ll(X, y, vi, tau2) > con.tol:
        tau2 = 0.0
    return tau2


def estimate_tau2(X, y, vi, method: str, con: RMAControl | None = None) -> float:
    """``tau^2`` by ``method`` (see the module docstring), truncated at ``tau2_min``."""
    con = con or RMAControl()
    k, p = X.shape
    if method == "FE" or k == 1:
        return 0.0
    yc = y - y.mean()  # metafor estimates tau^2 from the mean-centred outcomes
    if method == "DL":
        t2 = _tau2_dl(X, yc, vi)
    elif method == "PM":
        t2 = _tau2_pm(X, yc, vi, con)
    elif method == "REML":
        t2 = _tau2_reml(X, yc, vi, con)
    else:
        raise ValidationError(f"method must be one of {METHODS} (got {method!r})")
    return max(con.tau2_min, float(t2))


# --- inputs -------------------------------------------------------------------------------------------


def _design(mods, k: int, intercept: bool) -> tuple[np.ndarray, list[str]]:
    if mods is None:
        return np.ones((k, 1)), ["intrcpt"]
    if isinstance(mods, pd.Series):
        mods = mods.to_frame()
    if isinstance(mods, pd.DataFrame):
        names = [str(c) for c in mods.columns]
        m = mods.to_numpy(dtype=float)
    else:
        m = np.asarray(mods, dtype=float)
        if m.ndim == 1:
            m = m[:, None]
        names = [f"mod{j + 1}" for j in range(m.shape[1])]
    if m.shape[0] != k:
        raise ValidationError(f"mods has {m.shape[0]} rows but there are {k} studies")
    if not np.all(np.isfinite(m)):
        raise ValidationError("mods must be finite numbers")
    is_int = np.all(m == 1.0, axis=0)
    if is_int.any():
        m, names, intercept = m[:, ~is_int], [n for n, i in zip(names, is_int, strict=True) if not i], True
    if intercept:
        m = np.column_stack([np.ones(k), m])
        names = ["intrcpt", *names]
    if np.linalg.matrix_rank(m) < m.shape[1]:
        raise ValidationError("the moderators are collinear (model matrix not of full rank)")
    return m, names


def _validate_yv(yi, vi) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(yi, dtype=float).reshape(-1)
    v = np.asarray(vi, dtype=float).reshape(-1)
    problems = []
    if y.shape != v.shape:
        problems.append(f"yi has {y.size} values but vi has {v.size}")
    elif y.size == 0:
        problems.append("no studies")
    else:
        if not np.all(np.isfinite(y)):
            problems.append("yi: every value must be finite")
        if not np.all(np.isfinite(v)) or np.any(v <= 0):
            problems.append("vi: every sampling variance must be finite and > 0")
    if problems:
        raise ValidationError("invalid meta-analysis input", details=problems)
    return y, v


# --- the fit ------------------------------------------------------------------------------------------


def rma(
    yi,
    vi,
    method: str = "REML",
    test: str = "z",
    mods=None,
    level: float = 95,
    intercept: bool = True,
    labels=None,
    control: RMAControl | None = None,
) -> RMAResult:
    """Fit a random-effects (or ``FE``) meta-analysis / meta-regression as metafor ``rma()``.

    ``yi``: effect sizes; ``vi``: sampling variances; ``method``: ``"DL" | "REML" | "PM" | "FE"``;
    ``test``: ``"z"`` or ``"knha"`` (Knapp-Hartung); ``mods``: moderators (array or DataFrame, one row
    per study; an intercept is added unless ``intercept=False``); ``level``: CI level in percent.
    """
    method = method.upper()
    if method not in METHODS:
        raise ValidationError(f"method must be one of {METHODS} (got {method!r})")
    if test not in TESTS:
        raise ValidationError(f"test must be one of {TESTS} (got {test!r})")
    if not 0 < level < 100:
        raise ValidationError(f"level must be in (0, 100) (got {level})")
    y, v = _validate_yv(yi, vi)
    k = y.size
    X, names = _design(mods, k, intercept)
    p = X.shape[1]
    if k < p:
        raise ValidationError(f"{k} studies cannot fit {p} coefficients")
    con = control or RMAControl()
    tau2 = estimate_tau2(X, y, v, method, con)

    w = 1.0 / (v + tau2)
    beta, vb, r = _wls(X, y, w)
    s2w = 1.0
    ddf = None
    if test == "knha":
        rss_knha = float(np.sum(w * r**2))
        s2w = 0.0 if rss_knha <= _EPS else rss_knha / (k - p) if k > p else float("nan")
        vb = s2w * vb
        ddf = k - p
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = beta / se
    int_incl = names[0] == "intrcpt"
    btt = np.arange(1, p) if (p > 1 and int_incl) else np.arange(p)
    m = btt.size
    try:
        qm = float(beta[btt] @ np.linalg.solve(vb[np.ix_(btt, btt)], beta[btt]))
    except np.linalg.LinAlgError:  # e.g. knha with k = p: Var(b) = 0, as metafor (QM = NA)
        qm = float("nan")
    if test == "knha":
        qm /= m
        qm_df: tuple[int, int | None] = (m, k - p)
        qm_p = float(special.fdtrc(m, k - p, qm)) if k > p else float("nan")
        pval = 2 * special.stdtr(ddf, -np.abs(zval)) if ddf > 0 else np.full(p, np.nan)
        if ddf == 0:
            se = np.full(p, np.nan)
    else:
        qm_df = (m, None)
        qm_p = float(special.chdtrc(m, qm))
        pval = 2 * special.ndtr(-np.abs(zval))
    crit = _crit(test, level, ddf)
    ci_lb, ci_ub = beta - crit * se, beta + crit * se

    # heterogeneity (always at W = diag(1/v))
    if k > p:
        w0 = 1.0 / v
        _, a0, r0 = _wls(X, y - y.mean(), w0)
        q = max(0.0, float(np.sum(w0 * r0**2)))
        q_p = float(special.chdtrc(k - p, q))
        vt = (k - p) / _tr_p(X, w0, a0)
        if method == "FE":
            i2 = max(0.0, 100 * (q - (k - p)) / q) if q > 0 else 0.0
            h2 = q / (k - p)
        else:
            i2 = 100 * tau2 / (vt + tau2)
            h2 = tau2 / vt + 1
    else:
        q, q_p, i2, h2 = 0.0, 1.0, 0.0, 1.0

    r2 = None
    if p > 1 and int_incl:
        r2 = _pseudo_r2(y, v, X, beta, tau2, method, con)

    if p == 1:
        spi = np.sqrt(vb[0, 0] + tau2)
        pi_lb, pi_ub = beta[0] - crit * spi, beta[0] + crit * spi
    else:
        pi_lb = pi_ub = float("nan")

    return RMAResult(
        estimate=float(beta[0]),
        se=float(se[0]),
        zval=float(zval[0]),
        pval=float(pval[0]),
        ci_lower=float(ci_lb[0]),
        ci_upper=float(ci_ub[0]),
        pi_lower=float(pi_lb),
        pi_upper=float(pi_ub),
        tau2=float(tau2),
        i2=float(i2),
        h2=float(h2),
        q=float(q),
        q_df=k - p,
        q_p=float(q_p),
        qm=qm,
        qm_df=qm_df,
        qm_p=qm_p,
        r2=r2,
        k=k,
        p=p,
        method=method,
        test=test,
        level=float(level),
        ddf=ddf,
        s2w=float(s2w),
        coef_names=tuple(names),
        beta=beta,
        coef_se_values=se,
        stat_values=zval,
        pval_values=np.asarray(pval, dtype=float),
        vb=vb,
        yi=y,
        vi=v,
        X=X,
        study_labels=None if labels is None else tuple(str(s) for s in labels),
    )


def _pseudo_r2(y, v, X, beta, tau2, method, con) -> float:
    """metafor's default pseudo-R^2 (``r2def="1"``), in percent."""
    if method == "FE":
        return _adj_r2_wls(y, X, 1.0 / v)
    tau2_0 = estimate_tau2(np.ones((y.size, 1)), y, v, method, con)
    if tau2_0 == 0:
        return 0.0
    return max(0.0, 100 * (tau2_0 - tau2) / tau2_0)


def _adj_r2_wls(y, X, w) -> float:
    """Adjusted R^2 of ``lm(y ~ X, weights = w)``, in percent and truncated at 0."""
    k, p = X.shape
    _, _, r = _wls(X, y, w)
    ybar = np.sum(w * y) / w.sum()
    r2 = 1 - np.sum(w * r**2) / np.sum(w * (y - ybar) ** 2)
    return max(0.0, 100 * (1 - (1 - r2) * (k - 1) / (k - p)))


# --- Egger's regression test ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RegtestResult:
    """metafor ``regtest``: test of the ``sei`` coefficient and the limit estimate (``sei -> 0``)."""

    zval: float
    pval: float
    ddf: int | None
    est: float
    ci_lower: float
    ci_upper: float
    predictor: str
    method: str
    test: str
    fit: RMAResult = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """One row with the test statistic, its p-value and the limit estimate with its CI."""
        return pd.DataFrame(
            [
                {
                    "predictor": self.predictor,
                    "zval": self.zval,
                    "pval": self.pval,
                    "ddf": self.ddf,
                    "limit_estimate": self.est,
                    "ci_lower": self.ci_lower,
                    "ci_upper": self.ci_upper,
                    "method": self.method,
                    "test": self.test,
                }
            ]
        )


def regtest(
    yi, vi, predictor: str = "sei", method: str = "REML", test: str = "z", level: float = 95, ni=None
) -> RegtestResult:
    """Regression test for funnel-plot asymmetry (Egger et al. 1997, BMJ 315:629) as metafor ``regtest``
    with ``model="rma"``: fit ``rma(yi, vi, mods = ~ predictor)`` and test the predictor's coefficient.

    ``predictor``: ``"sei"`` (standard error, default), ``"vi"``, ``"ni"``, ``"ninv"``. For ``sei``,
    ``vi`` and ``ninv`` the intercept is the limit estimate (the effect at zero sampling error).
    """
    y, v = _validate_yv(yi, vi)
    if predictor == "sei":
        x = np.sqrt(v)
    elif predictor == "vi":
        x = v
    elif predictor in ("ni", "ninv"):
        if ni is None:
            raise ValidationError("ni is needed for predictor ni / ninv")
        n = np.asarray(ni, dtype=float)
        x = n if predictor == "ni" else 1 / n
    else:
        raise ValidationError(f"predictor must be sei, vi, ni or ninv (got {predictor!r})")
    fit = rma(y, v, method=method, test=test, level=level, mods=pd.DataFrame({predictor: x}))
    has_limit = predictor in ("sei", "vi", "ninv")
    nan = float("nan")
    return RegtestResult(
        zval=float(fit.stat_values[1]),
        pval=float(fit.pval_values[1]),
        ddf=fit.ddf,
        est=fit.estimate if has_limit else nan,
        ci_lower=fit.ci_lower if has_limit else nan,
        ci_upper=fit.ci_upper if has_limit else nan,
        predictor=predictor,
        method=fit.method,
        test=test,
        fit=fit,
    )


# --- subgroups ----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SubgroupResult:
    """Separate fits per subgroup plus the test of subgroup differences.

    ``q_between = sum_g (b_g - b_bar)^2 / se_g^2`` with ``b_bar`` the inverse-variance mean of the
    subgroup estimates (a fixed-effect model across subgroups, as metafor's
    ``rma(estimates, sei=ses, method="FE")``), on ``G - 1`` df.
    """

    groups: dict[str, RMAResult]
    q_between: float
    q_between_df: int
    q_between_p: float

    def to_frame(self) -> pd.DataFrame:
        """One row per subgroup: its pooled estimate, intervals and heterogeneity."""
        rows = [r.to_frame().assign(group=g) for g, r in self.groups.items()]
        return pd.concat(rows, ignore_index=True).set_index("group")


def rma_by(yi, vi, by, **kwargs) -> SubgroupResult:
    """``rma`` within each level of ``by`` (subgroup analysis), with the test for subgroup differences."""
    y, v = _validate_yv(yi, vi)
    g = pd.Series(np.asarray(by, dtype=object)).fillna("unknown").astype(str).to_numpy()
    if g.size != y.size:
        raise ValidationError("by must have one value per study")
    labels = kwargs.pop("labels", None)
    labels = np.asarray(labels if labels is not None else [str(i + 1) for i in range(y.size)], dtype=object)
    groups = {}
    for level_name in pd.unique(g):
        sel = g == level_name
        groups[str(level_name)] = rma(y[sel], v[sel], labels=labels[sel], **kwargs)
    est = np.array([r.estimate for r in groups.values()])
    se = np.array([r.se for r in groups.values()])
    if len(groups) > 1 and np.all(se > 0):
        w = 1 / se**2
        qb = float(np.sum(w * (est - np.sum(w * est) / w.sum()) ** 2))
        df = len(groups) - 1
        qbp = float(special.chdtrc(df, qb))
    else:
        qb, df, qbp = 0.0, 0, float("nan")
    return SubgroupResult(groups=groups, q_between=qb, q_between_df=df, q_between_p=qbp)
