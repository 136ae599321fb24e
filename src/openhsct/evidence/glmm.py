"""Binomial-normal random-effects model for proportions, as metafor ``rma.glmm(measure="PLO")``.

Model (Stijnen, Hamza & Ozdemir 2010, Stat Med 29:3046; Hamza et al. 2008): for study ``i``

    x_i | b_i ~ Binomial(n_i, expit(beta + b_i)),   b_i ~ N(0, tau^2)

fitted by maximum likelihood. metafor fits it with ``lme4::glmer(cbind(xi, ni - xi) ~ 1 + (1 | study),
family = binomial, nAGQ = 7)``; here each study's integral ``int Bin(x_i | n_i, expit(beta + b))
phi(b; 0, tau^2) db`` is computed by adaptive Gauss-Hermite quadrature with the same number of nodes
(``nAGQ = 1`` is the Laplace approximation): centred at the mode ``b*`` of the integrand and scaled by
``s = (n p*(1 - p*) + 1/tau^2)^(-1/2)``,

    L_i ~ sqrt(2) s sum_j w_j exp(h_i(b* + sqrt(2) s t_j) + t_j^2)

with Gauss-Hermite nodes ``t_j`` and weights ``w_j``. The log-likelihood is maximised over
``(beta, tau >= 0)``; ``SE(beta)`` comes from the inverse of the numerical Hessian of ``-log L`` in
``(beta, tau)`` (what lme4's ``vcov`` uses). ``I^2`` and ``H^2`` use the typical within-study variance
of the logits (escalc ``PLO`` with the 1/2 correction), as metafor does; the heterogeneity test is the
likelihood-ratio test of the fixed-effect against the saturated model (metafor's ``QE.LRT``).

``expit(beta)`` is the proportion of the median study. :func:`marginal_proportion` gives the
population-averaged proportion ``E[expit(beta + u)]`` with a delta-method CI, and :func:`rma_glmm_mods`
the same model with moderators (metafor ``rma.glmm(..., mods = ~ ...)``); both are checked against lme4
and ``stats::integrate`` by ``reference/r/glmm_marginal_goldens.R``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import expit, gammaln, logsumexp

from openhsct.errors import ValidationError
from openhsct.evidence.effects import escalc_prop


@dataclass(frozen=True, eq=False)
class GLMMResult:
    """A fitted binomial-normal model. ``estimate``/``se``/``ci_*``/``pi_*`` are on the logit scale;
    ``proportion`` and ``prop_*`` are the inverse-logit back-transformations (0-1)."""

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
    q_lrt: float
    q_lrt_df: int
    q_lrt_p: float
    loglik: float
    k: int
    nagq: int
    level: float
    xi: np.ndarray = field(repr=False)
    ni: np.ndarray = field(repr=False)
    vcov: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((2, 2)))

    @property
    def proportion(self) -> float:
        """``expit(estimate)``: the proportion of the median study under the model (conditional on a
        random effect of 0), not the population average; see :meth:`marginal`."""
        return float(expit(self.estimate))

    def marginal(self, level: float | None = None) -> MarginalProportion:
        """The population-averaged proportion ``E[expit(beta + u)]``, ``u ~ N(0, tau^2)``, with its
        delta-method CI on the logit scale (see :func:`marginal_proportion`)."""
        return marginal_proportion(
            self.estimate, np.sqrt(self.tau2), self.vcov, self.level if level is None else level
        )

    @property
    def prop_ci_lower(self) -> float:
        return float(expit(self.ci_lower))

    @property
    def prop_ci_upper(self) -> float:
        return float(expit(self.ci_upper))

    @property
    def prop_pi_lower(self) -> float:
        return float(expit(self.pi_lower))

    @property
    def prop_pi_upper(self) -> float:
        return float(expit(self.pi_upper))

    def to_frame(self) -> pd.DataFrame:
        """One row with the logit-scale fit and the back-transformed proportion."""
        return pd.DataFrame(
            [
                {
                    "estimate": self.estimate,
                    "se": self.se,
                    "ci_lower": self.ci_lower,
                    "ci_upper": self.ci_upper,
                    "pi_lower": self.pi_lower,
                    "pi_upper": self.pi_upper,
                    "proportion": self.proportion,
                    "prop_ci_lower": self.prop_ci_lower,
                    "prop_ci_upper": self.prop_ci_upper,
                    "prop_pi_lower": self.prop_pi_lower,
                    "prop_pi_upper": self.prop_pi_upper,
                    "tau2": self.tau2,
                    "i2": self.i2,
                    "h2": self.h2,
                    "q_lrt": self.q_lrt,
                    "q_lrt_p": self.q_lrt_p,
                    "k": self.k,
                    "nagq": self.nagq,
                    "level": self.level,
                }
            ]
        )


def _binom_ll(x, n, eta):
    """``x log p + (n - x) log(1 - p)`` at ``p = expit(eta)``, computed stably."""
    return -x * np.logaddexp(0.0, -eta) - (n - x) * np.logaddexp(0.0, eta)


def _modes(x, n, beta, tau2, iters: int = 100):
    """Mode of ``b -> binom_ll(beta + b) - b^2/(2 tau^2)`` per study and the curvature there.

    Newton from the normal-approximation start ``(logit_i - beta) tau^2 / (tau^2 + v_i)``, kept inside
    a shrinking bracket (bisection when a step leaves it); vectorised over studies.
    """
    yi, vi = escalc_prop(x, n, "PLO")
    b = (yi - beta) * tau2 / (tau2 + vi)
    lo = -n * tau2 - 1.0  # |x - n p| <= n puts the root within n tau^2 of 0
    hi = n * tau2 + 1.0
    for _ in range(iters):
        p = expit(beta + b)
        g = x - n * p - b / tau2
        lo = np.where(g > 0, b, lo)
        hi = np.where(g < 0, b, hi)
        nb = b + g / (n * p * (1 - p) + 1 / tau2)
        outside = (nb <= lo) | (nb >= hi)
        nb = np.where(outside, 0.5 * (lo + hi), nb)
        done = np.all(np.abs(nb - b) <= 1e-12 * (1 + np.abs(b)))
        b = nb
        if done:
            break
    p = expit(beta + b)
    return b, n * p * (1 - p) + 1 / tau2


@functools.lru_cache(maxsize=16)
def _gauss_hermite(nagq: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.hermite.hermgauss(nagq)


def loglik(beta, tau: float, x, n, nagq: int = 7) -> float:
    """Marginal log-likelihood (without the binomial coefficients) by adaptive Gauss-Hermite quadrature.

    ``beta`` is the fixed part of each study's logit: one number, or one per study (``X @ coefficients``
    in a meta-regression)."""
    tau = abs(tau)
    eta = np.broadcast_to(np.asarray(beta, dtype=float), np.shape(x))
    if tau < 1e-12:
        return float(np.sum(_binom_ll(x, n, eta)))
    tau2 = tau * tau
    bstar, curv = _modes(x, n, eta, tau2)
    s = 1 / np.sqrt(curv)
    t, w = _gauss_hermite(nagq)
    b = bstar[:, None] + np.sqrt(2) * s[:, None] * t[None, :]
    h = (
        _binom_ll(x[:, None], n[:, None], eta[:, None] + b)
        - b**2 / (2 * tau2)
        - np.log(tau)
        - 0.5 * np.log(2 * np.pi)
    )
    li = logsumexp(h + t[None, :] ** 2, axis=1, b=w[None, :]) + np.log(np.sqrt(2) * s)
    return float(np.sum(li))


def _hessian(f, x0: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Central-difference Hessian of ``f`` at ``x0`` (h = 1e-3 keeps the quadrature noise out)."""
    d = x0.size
    hess = np.empty((d, d))
    f0 = f(x0)
    for i in range(d):
        ei = np.zeros(d)
        ei[i] = h
        hess[i, i] = (f(x0 + ei) - 2 * f0 + f(x0 - ei)) / h**2
        for j in range(i + 1, d):
            ej = np.zeros(d)
            ej[j] = h
            hess[i, j] = hess[j, i] = (
                f(x0 + ei + ej) - f(x0 + ei - ej) - f(x0 - ei + ej) + f(x0 - ei - ej)
            ) / (4 * h**2)
    return hess


def _maximise(nll, beta0) -> tuple[np.ndarray, float, np.ndarray]:
    """Minimise ``nll(coefficients..., tau)`` over ``tau >= 0``: L-BFGS-B, then Newton steps on a
    finite-difference gradient and Hessian (accepted only when they lower ``nll``). Returns the
    coefficients, ``tau`` and the Hessian of ``nll`` there (``tau`` last)."""
    start = np.append(np.atleast_1d(np.asarray(beta0, dtype=float)), 0.5)
    d = start.size
    r = optimize.minimize(
        nll,
        start,
        method="L-BFGS-B",
        bounds=[(None, None)] * (d - 1) + [(0.0, 20.0)],
        options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 500},
    )
    par, f = r.x.copy(), float(r.fun)
    hess = _hessian(nll, par)
    if par[-1] > 1e-6:
        for _ in range(6):
            h = 1e-5
            grad = np.array([(nll(par + e) - nll(par - e)) / (2 * h) for e in np.eye(d) * h])
            try:
                step = np.linalg.solve(hess, grad)
            except np.linalg.LinAlgError:
                break
            cand = par - step
            if cand[-1] <= 0:
                break
            fc = nll(cand)
            if fc > f:
                break
            converged = np.max(np.abs(step)) < 1e-9
            par, f = cand, fc
            hess = _hessian(nll, par)
            if converged:
                break
    return par[:-1].copy(), float(abs(par[-1])), hess


def _vcov(hess: np.ndarray, tau: float) -> np.ndarray:
    """Covariance of ``(coefficients..., tau)``: the inverse Hessian of ``-log L``; with ``tau`` on the
    boundary (or a Hessian that is not positive definite) ``tau`` is held fixed (variance 0)."""
    d = hess.shape[0]
    out = np.zeros((d, d))
    if tau >= 1e-6 and np.all(np.linalg.eigvalsh(hess) > 0):
        return np.linalg.inv(hess)
    out[:-1, :-1] = np.linalg.inv(hess[:-1, :-1])
    return out


def _saturated_lrt(x, n) -> tuple[float, float]:
    """Log-likelihoods (with binomial coefficients) of the fixed-effect and the saturated model."""
    const = gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1)
    pbar = x.sum() / n.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        ll_fe = np.sum(
            const + np.where(x > 0, x * np.log(pbar), 0) + np.where(n > x, (n - x) * np.log1p(-pbar), 0)
        )
        p = x / n
        ll_sat = np.sum(
            const + np.where(x > 0, x * np.log(p), 0.0) + np.where(n > x, (n - x) * np.log1p(-p), 0.0)
        )
    return float(ll_fe), float(ll_sat)


def rma_glmm(xi, ni, nAGQ: int = 7, level: float = 95) -> GLMMResult:  # noqa: N803 - metafor's name
    """Fit the binomial-normal model for proportions ``xi/ni`` by ML (see the module docstring).

    ``xi`` may be non-integer (effective counts from a reported percentage); the binomial likelihood
    is then evaluated at the non-integer count. With one study ``tau^2`` is fixed at 0.
    """
    x = np.asarray(xi, dtype=float).reshape(-1)
    n = np.asarray(ni, dtype=float).reshape(-1)
    if x.shape != n.shape or x.size == 0:
        raise ValidationError("xi and ni must be non-empty and of the same length")
    if np.any(n <= 0) or np.any(x < 0) or np.any(x > n) or not np.all(np.isfinite(x)):
        raise ValidationError("need 0 <= xi <= ni and ni > 0 for every study")
    if nAGQ < 1:
        raise ValidationError("nAGQ must be >= 1")
    k = x.size
    if x.sum() == 0 or x.sum() == n.sum():
        raise ValidationError("no events (or only events) in every study: the pooled logit is infinite")
    beta0 = float(np.log(x.sum() / (n.sum() - x.sum())))

    def nll(par):
        return -loglik(par[0], par[1], x, n, nAGQ)

    if k == 1:
        res = optimize.minimize_scalar(lambda b: -loglik(b, 0.0, x, n, nAGQ), bracket=(beta0 - 1, beta0 + 1))
        beta, tau = float(res.x), 0.0
        var_beta = 1 / _hessian(lambda b: -loglik(b[0], 0.0, x, n, nAGQ), np.array([beta]))[0, 0]
        vcov = np.array([[var_beta, 0.0], [0.0, 0.0]])
    else:
        coefs, tau, hess = _maximise(nll, beta0)
        beta = float(coefs[0])
        vcov = _vcov(hess, tau)
        var_beta = float(vcov[0, 0])
    se = float(np.sqrt(var_beta))
    tau2 = tau * tau
    zcrit = float(stats.norm.isf((1 - level / 100) / 2))
    zval = beta / se

    _, vi = escalc_prop(x, n, "PLO")
    wi = 1 / vi
    if k > 1:
        vt = (k - 1) / (wi.sum() - np.sum(wi**2) / wi.sum())
        i2, h2 = 100 * tau2 / (vt + tau2), tau2 / vt + 1
        ll_fe, ll_sat = _saturated_lrt(x, n)
        q = max(0.0, -2 * (ll_fe - ll_sat))
        qp = float(stats.chi2.sf(q, k - 1))
    else:
        i2, h2, q, qp = 0.0, 1.0, 0.0, 1.0
    spi = np.sqrt(se**2 + tau2)
    return GLMMResult(
        estimate=beta,
        se=se,
        zval=float(zval),
        pval=float(2 * stats.norm.sf(abs(zval))),
        ci_lower=beta - zcrit * se,
        ci_upper=beta + zcrit * se,
        pi_lower=float(beta - zcrit * spi),
        pi_upper=float(beta + zcrit * spi),
        tau2=float(tau2),
        i2=float(i2),
        h2=float(h2),
        q_lrt=float(q),
        q_lrt_df=k - 1,
        q_lrt_p=qp,
        loglik=float(-nll(np.array([beta, tau]))) if k > 1 else loglik(beta, 0.0, x, n, nAGQ),
        k=k,
        nagq=nAGQ,
        level=float(level),
        xi=x,
        ni=n,
        vcov=vcov,
    )


@dataclass(frozen=True)
class MarginalProportion:
    """The population-averaged proportion of a logit-normal random-effects model with its CI.

    ``estimate = E[expit(eta + u)]``, ``u ~ N(0, tau^2)``; ``lower``/``upper`` at ``conf_level`` (0-1)
    from the delta method on the logit of the estimate; ``se`` is its standard error on the 0-1 scale;
    ``conditional`` is ``expit(eta)`` (the median study) for comparison."""

    estimate: float
    lower: float
    upper: float
    conf_level: float
    se: float
    conditional: float
    tau2: float

    def to_frame(self) -> pd.DataFrame:
        """One row with the fields above."""
        return pd.DataFrame([self.__dict__])


def _normal_expectation(f, tau: float) -> float:
    """``E[f(tau Z)]`` for ``Z ~ N(0, 1)`` by adaptive quadrature (QUADPACK) on the whole real line."""
    from scipy import integrate

    value, _ = integrate.quad(
        lambda z: f(tau * z) * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi),
        -np.inf,
        np.inf,
        epsabs=1e-14,
        epsrel=1e-12,
        limit=200,
    )
    return float(value)


def marginal_parts(eta: float, tau: float) -> tuple[float, float, float]:
    """``m = E[expit(eta + tau Z)]`` and its derivatives ``dm/deta = E[p(1 - p)]`` and
    ``dm/dtau = E[Z p(1 - p)]`` (``p = expit(eta + tau Z)``, ``Z ~ N(0, 1)``)."""
    if tau < 1e-12:
        p = float(expit(eta))
        return p, p * (1 - p), 0.0
    m = _normal_expectation(lambda u: expit(eta + u), tau)
    d_eta = _normal_expectation(lambda u: expit(eta + u) * expit(-(eta + u)), tau)
    d_tau = _normal_expectation(lambda u: (u / tau) * expit(eta + u) * expit(-(eta + u)), tau)
    return m, d_eta, d_tau


def marginal_proportion(
    eta: float, tau: float, vcov: np.ndarray, level: float = 95, x: np.ndarray | None = None
) -> MarginalProportion:
    """Population-averaged proportion ``E[expit(eta + u)]``, ``u ~ N(0, tau^2)``, with a delta-method CI.

    ``vcov`` is the covariance of ``(coefficients..., tau)`` (inverse Hessian of ``-log L``); ``x`` the
    moderator row (with the intercept's 1) giving ``eta = x' coefficients`` (``None``: intercept only).
    The CI is ``expit(logit(m) -/+ z se_logit)`` with ``se_logit^2 = g' V g / (m (1 - m))^2`` and ``g``
    the gradient of ``m`` (Zeger, Liang & Albert 1988, Biometrics 44:1049-1060, doi:10.2307/2531734, for
    the population-averaged proportion of a logistic-normal model; Pavlou et al. 2015, BMC Med Res
    Methodol 15:59, doi:10.1186/s12874-015-0046-6, for its delta-method interval).
    """
    p = vcov.shape[0] - 1
    xrow = np.ones(1) if x is None else np.asarray(x, dtype=float).reshape(-1)
    if xrow.size != p:
        raise ValidationError(f"x needs {p} values (intercept included), got {xrow.size}")
    m, d_eta, d_tau = marginal_parts(float(eta), float(tau))
    grad = np.append(xrow * d_eta, d_tau)
    var_m = float(grad @ vcov @ grad)
    se_logit = np.sqrt(max(var_m, 0.0)) / (m * (1 - m))
    z = float(stats.norm.isf((1 - level / 100) / 2))
    lg = np.log(m / (1 - m))
    return MarginalProportion(
        estimate=m,
        lower=float(expit(lg - z * se_logit)),
        upper=float(expit(lg + z * se_logit)),
        conf_level=level / 100,
        se=float(np.sqrt(max(var_m, 0.0))),
        conditional=float(expit(eta)),
        tau2=float(tau) ** 2,
    )


@dataclass(frozen=True, eq=False)
class GLMMRegression:
    """A binomial-normal meta-regression (metafor ``rma.glmm(measure="PLO", mods = ~ ...)``):
    coefficients on the logit scale with Wald CIs, ``tau^2`` (residual heterogeneity), the Wald test of
    the moderators (``QM`` on ``p - 1`` df) and the covariance of ``(coefficients..., tau)``."""

    names: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    tau2: float
    qm: float
    qm_df: int
    qm_p: float
    loglik: float
    k: int
    nagq: int
    level: float
    vcov: np.ndarray = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """One row per coefficient: ``estimate, se, zval, pval, lower, upper`` (logit scale)."""
        z = float(stats.norm.isf((1 - self.level / 100) / 2))
        zval = self.coef / self.se
        return pd.DataFrame(
            {
                "estimate": self.coef,
                "se": self.se,
                "zval": zval,
                "pval": 2 * stats.norm.sf(np.abs(zval)),
                "lower": self.coef - z * self.se,
                "upper": self.coef + z * self.se,
            },
            index=pd.Index(self.names, name="term"),
        )

    def marginal_at(self, x, level: float | None = None) -> MarginalProportion:
        """The population-averaged proportion for moderator values ``x`` (without the intercept)."""
        xrow = np.append(1.0, np.asarray(x, dtype=float).reshape(-1))
        eta = float(xrow @ self.coef)
        return marginal_proportion(
            eta, np.sqrt(self.tau2), self.vcov, self.level if level is None else level, xrow
        )


def rma_glmm_mods(xi, ni, mods, nAGQ: int = 7, level: float = 95) -> GLMMRegression:  # noqa: N803
    """Fit ``x_i ~ Binomial(n_i, expit(X_i beta + b_i))``, ``b_i ~ N(0, tau^2)``, by ML (the model of the
    module docstring with moderators; ``X`` = intercept plus ``mods``, an array or DataFrame with one row
    per study). Standard errors from the inverse numerical Hessian in ``(beta, tau)``."""
    x = np.asarray(xi, dtype=float).reshape(-1)
    n = np.asarray(ni, dtype=float).reshape(-1)
    if isinstance(mods, pd.Series):
        mods = mods.to_frame()
    names = [str(c) for c in mods.columns] if isinstance(mods, pd.DataFrame) else None
    m = np.asarray(mods, dtype=float)
    m = m.reshape(-1, 1) if m.ndim == 1 else m
    if names is None:
        names = [f"x{j + 1}" for j in range(m.shape[1])]
    if m.shape[0] != x.size or not np.all(np.isfinite(m)):
        raise ValidationError(f"mods needs {x.size} finite rows (got {m.shape[0]})")
    if x.size <= m.shape[1] + 1:
        raise ValidationError(
            f"a meta-regression with {m.shape[1]} moderator(s) needs more than {m.shape[1] + 1} studies"
        )
    if np.any(n <= 0) or np.any(x < 0) or np.any(x > n) or x.sum() == 0 or x.sum() == n.sum():
        raise ValidationError("need 0 <= xi <= ni, ni > 0, and some studies with events and some without all")
    X = np.column_stack([np.ones(x.size), m])
    yi, vi = escalc_prop(x, n, "PLO")
    w = 1 / vi
    start = np.linalg.solve(X.T @ (w[:, None] * X), X.T @ (w * yi))

    def nll(par):
        return -loglik(X @ par[:-1], par[-1], x, n, nAGQ)

    coef, tau, hess = _maximise(nll, start)
    vcov = _vcov(hess, tau)
    se = np.sqrt(np.diag(vcov)[:-1])
    b, v = coef[1:], vcov[1:-1, 1:-1]
    qm = float(b @ np.linalg.solve(v, b))
    return GLMMRegression(
        names=("intrcpt", *names),
        coef=coef,
        se=se,
        tau2=tau * tau,
        qm=qm,
        qm_df=b.size,
        qm_p=float(stats.chi2.sf(qm, b.size)),
        loglik=-float(nll(np.append(coef, tau))),
        k=x.size,
        nagq=nAGQ,
        level=float(level),
        vcov=vcov,
    )
