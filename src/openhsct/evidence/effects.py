"""Effect sizes and their sampling variances, as metafor's ``escalc``; and the back-transformations.

Every function here is vectorised over studies and returns ``(yi, vi)`` as float arrays.

Zero cells follow ``escalc``'s defaults ``add=1/2, to="only0"``: a study with a zero in any cell of its
table gets 1/2 added to every cell of that table; other studies are left alone. The Freeman-Tukey
transform needs no correction, so ``escalc`` (and this module) uses ``add=0`` for ``PFT``.

References: Viechtbauer W (2010) J Stat Softw 36(3) (metafor); Freeman MF, Tukey JW (1950) Ann Math
Stat 21:607-611; Miller JJ (1978) Am Stat 32(4):138 (inverse of the double-arcsine).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from openhsct.errors import ValidationError

_TO = ("only0", "all", "if0all", "none")


def _as_float(name: str, values) -> np.ndarray:
    arr = np.asarray(values, dtype=float).reshape(-1)
    if np.any(~np.isfinite(arr)):
        raise ValidationError(f"{name} must be finite numbers", details=[f"{name}: {arr.tolist()}"])
    return arr


def _add_to_cells(cells: list[np.ndarray], add: float, to: str) -> list[np.ndarray]:
    """Add ``add`` to every cell of the tables chosen by ``to`` (escalc's rule)."""
    if to not in _TO:
        raise ValidationError(f"to must be one of {_TO} (got {to!r})")
    if to == "none" or add == 0:
        return cells
    has_zero = np.zeros(cells[0].shape, dtype=bool)
    for c in cells:
        has_zero |= c == 0
    if to == "all":
        chosen = np.ones_like(has_zero)
    elif to == "only0":
        chosen = has_zero
    else:  # if0all
        chosen = np.full(has_zero.shape, bool(has_zero.any()))
    return [c + add * chosen for c in cells]


def escalc_prop(xi, ni, measure: str = "PLO", add: float | None = None, to: str = "only0"):
    """Transformed proportions ``x/n`` and their variances.

    ``PLO`` (logit): ``yi = log(x / (n - x))``, ``vi = 1/x + 1/(n - x)`` after the zero-cell correction
    (default ``add = 1/2`` to studies with ``x = 0`` or ``x = n``).

    ``PFT`` (Freeman-Tukey double arcsine): ``yi = 1/2 [asin sqrt(x/(n+1)) + asin sqrt((x+1)/(n+1))]``,
    ``vi = 1/(4n + 2)``; no correction (``add = 0``).

    ``PR`` (raw proportion): ``yi = x/n``, ``vi = p(1-p)/n`` after the correction.
    """
    xi, ni = _as_float("xi", xi), _as_float("ni", ni)
    if xi.shape != ni.shape:
        raise ValidationError("xi and ni must have the same length")
    if np.any(ni <= 0) or np.any(xi < 0) or np.any(xi > ni):
        raise ValidationError("need 0 <= xi <= ni and ni > 0 for every study")
    measure = measure.upper()
    if measure == "PFT":
        add = 0.0 if add is None else add
        yi = 0.5 * (np.arcsin(np.sqrt(xi / (ni + 1))) + np.arcsin(np.sqrt((xi + 1) / (ni + 1))))
        return yi, 1.0 / (4 * ni + 2)
    add = 0.5 if add is None else add
    x, m = _add_to_cells([xi, ni - xi], add, to)
    n = x + m
    p = x / n
    if measure == "PLO":
        return np.log(p / (1 - p)), 1 / x + 1 / m
    if measure == "PR":
        return p, p * (1 - p) / n
    raise ValidationError(f"measure must be PLO, PFT or PR (got {measure!r})")


def escalc_2x2(ai, bi, ci, di, measure: str = "RR", add: float = 0.5, to: str = "only0"):
    """Log risk ratio or log odds ratio from 2x2 tables (``ai``/``bi`` events/non-events in group 1,
    ``ci``/``di`` in group 2), as ``escalc(measure="RR"|"OR")``.

    RR: ``yi = log[(a/(a+b)) / (c/(c+d))]``, ``vi = 1/a - 1/(a+b) + 1/c - 1/(c+d)``.
    OR: ``yi = log[a d / (b c)]``, ``vi = 1/a + 1/b + 1/c + 1/d``.
    """
    a, b, c, d = (_as_float(n, v) for n, v in (("ai", ai), ("bi", bi), ("ci", ci), ("di", di)))
    if any(np.any(v < 0) for v in (a, b, c, d)):
        raise ValidationError("2x2 cell counts must be >= 0")
    a, b, c, d = _add_to_cells([a, b, c, d], add, to)
    measure = measure.upper()
    if measure == "RR":
        n1, n2 = a + b, c + d
        return np.log((a / n1) / (c / n2)), 1 / a - 1 / n1 + 1 / c - 1 / n2
    if measure == "OR":
        return np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d
    raise ValidationError(f"measure must be RR or OR (got {measure!r})")


def log_hr_from_ci(hr, ci_lower, ci_upper, level: float = 95):
    """Log hazard ratio and its variance from a reported HR and its confidence interval.

    ``yi = log(HR)``, ``se = (log(upper) - log(lower)) / (2 z_{1-alpha/2})`` (Parmar et al. 1998,
    Stat Med 17:2815; Tierney et al. 2007, Trials 8:16); ``vi = se^2``.
    """
    hr, lo, hi = _as_float("hr", hr), _as_float("ci_lower", ci_lower), _as_float("ci_upper", ci_upper)
    if np.any(hr <= 0) or np.any(lo <= 0) or np.any(hi <= lo):
        raise ValidationError("need 0 < ci_lower < ci_upper and hr > 0")
    z = stats.norm.isf((1 - level / 100) / 2)
    se = (np.log(hi) - np.log(lo)) / (2 * z)
    return np.log(hr), se**2


def transf_ilogit(x):
    """Inverse logit ``1 / (1 + exp(-x))`` (metafor ``transf.ilogit``)."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def transf_pft(p, n):
    """Freeman-Tukey double arcsine of a proportion ``p`` at sample size ``n`` (metafor ``transf.pft``)."""
    x = np.asarray(p, dtype=float) * n
    return 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))


def transf_ipft(t, n):
    """Miller's (1978) inverse of the double arcsine at sample size ``n`` (metafor ``transf.ipft``):

    ``p = 1/2 {1 - sgn(cos 2t) sqrt(1 - [sin 2t + (sin 2t - 1/sin 2t)/n]^2)}``,
    set to 0 below ``transf_pft(0, n)`` and to 1 above ``transf_pft(1, n)``.
    """
    t = np.asarray(t, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.sin(2 * t)
        p = 0.5 * (1 - np.sign(np.cos(2 * t)) * np.sqrt(1 - (s + (s - 1 / s) / n) ** 2))
    p = np.where(t > transf_pft(1.0, n), 1.0, p)
    p = np.where(t < transf_pft(0.0, n), 0.0, p)
    return p


def transf_ipft_hm(t, ni):
    """Inverse double arcsine using the harmonic mean of the study sizes (metafor ``transf.ipft.hm``)."""
    ni = np.asarray(ni, dtype=float)
    return transf_ipft(t, 1.0 / np.mean(1.0 / ni))
