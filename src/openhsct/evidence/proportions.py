"""Meta-analysis of single proportions on a transformed scale, as ``rma(escalc("PLO"|"PFT"))`` + ``predict``.

- ``PLO``: logit, ``yi = log(x/(n-x))``, ``vi = 1/x + 1/(n-x)``, with 1/2 added to both cells of a study
  with ``x = 0`` or ``x = n`` (escalc ``add=1/2, to="only0"``); back-transformed with ``1/(1+e^-y)``.
- ``PFT``: Freeman-Tukey double arcsine (Freeman & Tukey 1950), ``vi = 1/(4n+2)``, no correction;
  back-transformed with Miller's (1978) inverse at the harmonic mean of the ``n_i``
  (metafor ``transf.ipft.hm``).

The pooled value, CI and prediction interval are computed on the transformed scale by :func:`rma` and
back-transformed point by point (so the proportion's interval is not symmetric).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from openhsct.errors import ValidationError
from openhsct.evidence.effects import escalc_prop, transf_ilogit, transf_ipft_hm
from openhsct.evidence.meta import RMAResult, rma

MEASURES = ("PLO", "PFT")


@dataclass(frozen=True, eq=False)
class ProportionResult:
    """A pooled proportion (0-1 scale) with its CI and prediction interval, and the fit behind it."""

    measure: str
    proportion: float
    ci_lower: float
    ci_upper: float
    pi_lower: float
    pi_upper: float
    fit: RMAResult = field(repr=False)
    xi: np.ndarray = field(repr=False)
    ni: np.ndarray = field(repr=False)

    @property
    def estimate(self) -> float:
        """Pooled value on the transformed (logit or double-arcsine) scale."""
        return self.fit.estimate

    @property
    def se(self) -> float:
        """Standard error on the transformed scale."""
        return self.fit.se

    @property
    def tau2(self) -> float:
        """Between-study variance on the transformed scale."""
        return self.fit.tau2

    @property
    def i2(self) -> float:
        """I^2 in percent."""
        return self.fit.i2

    def back_transform(self, values) -> np.ndarray:
        """Map values on the model scale to proportions (inverse logit or Miller's inverse)."""
        if self.measure == "PLO":
            return transf_ilogit(values)
        return transf_ipft_hm(values, self.ni)

    def to_frame(self) -> pd.DataFrame:
        """One row: the pooled proportion and its intervals, plus the fit's heterogeneity columns."""
        f = self.fit.to_frame()
        f.insert(0, "measure", self.measure)
        f.insert(1, "proportion", self.proportion)
        f.insert(2, "prop_ci_lower", self.ci_lower)
        f.insert(3, "prop_ci_upper", self.ci_upper)
        f.insert(4, "prop_pi_lower", self.pi_lower)
        f.insert(5, "prop_pi_upper", self.pi_upper)
        return f


def rma_prop(
    xi, ni, measure: str = "PLO", method: str = "REML", test: str = "z", level: float = 95, labels=None
) -> ProportionResult:
    """Pool proportions ``xi/ni``: escalc-style transform, :func:`rma`, then back-transformation.

    ``xi`` may be non-integer (effective counts ``p * n`` from a reported percentage).
    """
    measure = measure.upper()
    if measure not in MEASURES:
        raise ValidationError(f"measure must be one of {MEASURES} (got {measure!r})")
    x = np.asarray(xi, dtype=float).reshape(-1)
    n = np.asarray(ni, dtype=float).reshape(-1)
    yi, vi = escalc_prop(x, n, measure)
    fit = rma(yi, vi, method=method, test=test, level=level, labels=labels)
    back = transf_ilogit if measure == "PLO" else (lambda t: transf_ipft_hm(t, n))
    est, lo, hi, plo, phi = back(
        np.array([fit.estimate, fit.ci_lower, fit.ci_upper, fit.pi_lower, fit.pi_upper])
    )
    return ProportionResult(
        measure=measure,
        proportion=float(est),
        ci_lower=float(min(lo, hi)),
        ci_upper=float(max(lo, hi)),
        pi_lower=float(min(plo, phi)),
        pi_upper=float(max(plo, phi)),
        fit=fit,
        xi=x,
        ni=n,
    )
