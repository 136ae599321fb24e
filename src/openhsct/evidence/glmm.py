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

    @property
    def proportion(self) -> float:
        """Pooled proportion ``expit(estimate)`` (the median study's proportion under the model)."""
        return float(expit(self.estimate))

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


def loglik(beta: float, tau: float, x, n, nagq: int = 7) -> float:
    """Marginal log-likelihood (without the binomial coefficients) by adaptive Gauss-Hermite quadrature."""
    tau = abs(tau)
    if tau < 1e-12:
        return float(np.sum(_binom_ll(x, n, beta)))
    tau2 = tau * tau
    bstar, curv = _modes(x, n, beta, tau2)
    s = 1 / np.sqrt(curv)
    t, w = _gauss_hermite(nagq)
    b = bstar[:, None] + np.sqrt(2) * s[:, None] * t[None, :]
    h = (
        _binom_ll(x[:, None], n[:, None], beta + b)
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


def _maximise(nll, beta0: float) -> tuple[float, float, np.ndarray]:
    """Minimise ``nll(beta, tau)`` over ``tau >= 0``: L-BFGS-B, then Newton steps on a finite-difference
    gradient and Hessian (accepted only when they lower ``nll``). Returns ``beta``, ``tau`` and the
    Hessian of ``nll`` there."""
    r = optimize.minimize(
        nll,
        np.array([beta0, 0.5]),
        method="L-BFGS-B",
        bounds=[(None, None), (0.0, 20.0)],
        options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 500},
    )
    par, f = r.x.copy(), float(r.fun)
    hess = _hessian(nll, par)
    if par[1] > 1e-6:
        for _ in range(6):
            h = 1e-5
            grad = np.array([(nll(par + e) - nll(par - e)) / (2 * h) for e in np.eye(2) * h])
            try:
                step = np.linalg.solve(hess, grad)
            except np.linalg.LinAlgError:
                break
            cand = par - step
            if cand[1] <= 0:
                break
            fc = nll(cand)
            if fc > f:
                break
            converged = np.max(np.abs(step)) < 1e-9
            par, f = cand, fc
            hess = _hessian(nll, par)
            if converged:
                break
    return float(par[0]), float(abs(par[1])), hess


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
    else:
        beta, tau, hess = _maximise(nll, beta0)
        if tau < 1e-6 or np.linalg.det(hess) <= 0:
            var_beta = 1 / hess[0, 0]
        else:
            var_beta = float(np.linalg.inv(hess)[0, 0])
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
    )
