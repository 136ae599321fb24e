"""Propensity score by logistic regression, as R ``glm(treat ~ ..., family = binomial)`` and MatchIt.

The score e(x) = P(aHSCT | x) is the fitted probability of a logistic model fitted by iteratively
reweighted least squares (Fisher scoring, the algorithm of R ``glm.fit``) from b = 0 to a relative
deviance change below 1e-12. Factors are expanded as R ``model.matrix`` does with treatment contrasts:
one indicator per level except the first in sorted order (Rosenbaum & Rubin, *Biometrika*
1983;70:41-55, doi:10.1093/biomet/70.1.41).

The default covariates are the MSBase set (Kalincik et al., *JAMA Neurol* 2023;80:702-713,
doi:10.1001/jamaneurol.2023.1184): age, sex, disease duration, EDSS, relapses in the prior 12 and 24
months, number of prior DMTs, Gd-enhancing lesions, phenotype and country (or centre).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from openhsct.comparative.errors import ComparativeError

MSBASE_COVARIATES: tuple[str, ...] = (
    "age",
    "female",
    "disease_duration_y",
    "edss",
    "relapses_12m",
    "relapses_24m",
    "prior_dmt_count",
    "gd_lesions",
    "phenotype",
    "country",
)
LINKS = ("logit", "linear.logit")
_TOL = 1e-12
_MAX_ITER = 100


def _is_factor(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def model_matrix(data: pd.DataFrame, covariates: Sequence[str], contrasts: bool = True) -> pd.DataFrame:
    """The design matrix without intercept, as R ``model.matrix(~ covariates)[, -1]``.

    Numeric and logical columns enter as they are. A text/categorical column becomes indicators named
    ``<column><level>`` for its levels in sorted order: all but the first with ``contrasts=True`` (R's
    treatment contrasts, for the model), every level with ``contrasts=False`` (as MatchIt's balance
    tables). Columns with a single level (or a constant) are dropped when ``contrasts=True``.
    Returns a float DataFrame with the rows of ``data``.
    """
    missing = [c for c in covariates if c not in data.columns]
    if missing:
        raise ComparativeError(f"covariates not in the data: {', '.join(missing)}")
    parts: dict[str, np.ndarray] = {}
    for col in covariates:
        s = data[col]
        if s.isna().any():
            raise ComparativeError(
                f"covariate {col!r} has {int(s.isna().sum())} missing values: impute or drop them first"
            )
        if _is_factor(s):
            levels = sorted(s.astype(str).unique())
            if contrasts and len(levels) < 2:
                continue
            for level in levels[1:] if contrasts else levels:
                parts[f"{col}{level}"] = (s.astype(str) == level).to_numpy(dtype=np.float64)
        else:
            parts[col] = s.to_numpy(dtype=np.float64)
    return pd.DataFrame(parts, index=data.index)


@dataclass(frozen=True, eq=False)
class PropensityScore:
    """A fitted propensity model: ``ps`` (fitted probabilities), ``linear_predictor`` (their logit),
    coefficients with standard errors, and the settings it ran with."""

    ps: np.ndarray
    linear_predictor: np.ndarray
    treat: np.ndarray
    coef: pd.Series
    se: pd.Series
    covariates: tuple[str, ...]
    n: int
    n_treated: int
    iterations: int
    deviance: float

    def distance(self, link: str = "logit") -> np.ndarray:
        """The matching distance as MatchIt's ``link``: ``"logit"`` gives the score itself,
        ``"linear.logit"`` its logit (the linear predictor)."""
        if link not in LINKS:
            raise ComparativeError(f"link {link!r}: use one of {', '.join(LINKS)}")
        return self.ps if link == "logit" else self.linear_predictor

    def to_frame(self) -> pd.DataFrame:
        """One row per model term: coef, se, odds ratio."""
        return pd.DataFrame({"coef": self.coef, "se": self.se, "odds_ratio": np.exp(self.coef)}).rename_axis(
            "term"
        )


def _irls(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Logistic regression by Fisher scoring. Returns (coef, covariance, iterations, deviance)."""
    beta = np.zeros(x.shape[1])
    eta = np.zeros(y.size)
    deviance = np.inf
    iterations = 0
    for iterations in range(1, _MAX_ITER + 1):  # noqa: B007 - the count is returned
        mu = expit(eta)
        w = weights * mu * (1.0 - mu)
        z = eta + (y - mu) / np.maximum(mu * (1.0 - mu), 1e-300)
        xw = x * w[:, None]
        info = x.T @ xw
        try:
            beta = np.linalg.solve(info, xw.T @ z)
        except np.linalg.LinAlgError:
            raise ComparativeError(
                "the propensity model cannot be fitted: a covariate is constant or collinear in this cohort"
            ) from None
        eta = x @ beta
        mu = expit(eta)
        with np.errstate(divide="ignore", invalid="ignore"):
            dev = -2.0 * float(np.sum(weights * (y * np.log(mu) + (1 - y) * np.log1p(-mu))))
        if abs(dev - deviance) / (abs(dev) + 0.1) < _TOL:
            deviance = dev
            break
        deviance = dev
    mu = 1.0 / (1.0 + np.exp(-eta))
    info = x.T @ (x * (weights * mu * (1.0 - mu))[:, None])
    return beta, np.linalg.inv(info), iterations, deviance


def propensity_score(
    data: pd.DataFrame,
    treat_col: str = "treat",
    covariates: Sequence[str] = MSBASE_COVARIATES,
) -> PropensityScore:
    """Fit P(treat = 1 | covariates) by logistic regression, as R ``glm(treat ~ covariates, binomial)``.

    ``treat_col`` holds 1 for aHSCT, 0 for the comparator. Returns :class:`PropensityScore`; a model
    that separates the groups completely (every score 0 or 1) raises :class:`ComparativeError`, as no
    comparison is possible without overlap.
    """
    treat = as_treat(data[treat_col])
    x = model_matrix(data, covariates, contrasts=True)
    design = np.column_stack([np.ones(len(data)), x.to_numpy()])
    beta, cov, iterations, deviance = _irls(design, treat.astype(np.float64), np.ones(treat.size))
    eta = design @ beta
    ps = 1.0 / (1.0 + np.exp(-eta))
    if np.all((ps < 1e-8) | (ps > 1 - 1e-8)):
        raise ComparativeError("the propensity model separates the groups completely: there is no overlap")
    names = ["(Intercept)", *x.columns]
    return PropensityScore(
        ps=ps,
        linear_predictor=eta,
        treat=treat,
        coef=pd.Series(beta, index=names, name="coef"),
        se=pd.Series(np.sqrt(np.diag(cov)), index=names, name="se"),
        covariates=tuple(covariates),
        n=int(treat.size),
        n_treated=int(treat.sum()),
        iterations=iterations,
        deviance=deviance,
    )


def as_treat(values) -> np.ndarray:
    """The treatment indicator as int 0/1; raises unless both groups are present."""
    arr = np.asarray(values)
    if pd.isna(arr).any() or not np.isin(arr, (0, 1, True, False)).all():
        raise ComparativeError("the treatment column must be 0 (comparator) or 1 (aHSCT) for every patient")
    treat = arr.astype(np.int64)
    if treat.sum() == 0 or treat.sum() == treat.size:
        raise ComparativeError("both groups are needed: aHSCT and comparator patients")
    return treat


@dataclass(frozen=True, eq=False)
class Overlap:
    """Histogram of the propensity score per group on common bins (``edges``), and the common-support
    interval [``support_lower``, ``support_upper``]."""

    edges: np.ndarray
    counts_treated: np.ndarray
    counts_control: np.ndarray
    support_lower: float
    support_upper: float
    n_outside: int

    def to_frame(self) -> pd.DataFrame:
        """One row per bin: lower, upper, treated, control."""
        return pd.DataFrame(
            {
                "lower": self.edges[:-1],
                "upper": self.edges[1:],
                "treated": self.counts_treated,
                "control": self.counts_control,
            }
        )

    def chart_svg(self, min_cell: int = 0) -> str:
        """Mirrored histogram (aHSCT above, comparator below) as SVG; bins with fewer than ``min_cell``
        patients in a group are drawn as 0 (small-number suppression)."""
        import altair as alt
        import vl_convert

        frame = self.to_frame()
        rows = []
        for r in frame.itertuples():
            t = r.treated if r.treated >= min_cell else 0
            c = r.control if r.control >= min_cell else 0
            rows.append({"lower": r.lower, "upper": r.upper, "group": "aHSCT", "count": t})
            rows.append({"lower": r.lower, "upper": r.upper, "group": "comparator", "count": -c})
        chart = (
            alt.Chart(pd.DataFrame(rows))
            .mark_bar()
            .encode(
                x=alt.X("lower:Q", title="propensity score"),
                x2="upper:Q",
                y=alt.Y("count:Q", title="patients (comparator below 0)"),
                color=alt.Color("group:N", title=None),
            )
            .properties(width=420, height=200, title="Overlap of the propensity score")
        )
        return vl_convert.vegalite_to_svg(chart.to_json())


def overlap(ps: np.ndarray, treat: np.ndarray, bins: int = 20) -> Overlap:
    """Per-group histograms of the score on ``bins`` equal bins of [0, 1], and the common support (the
    range where both groups have patients: max of the minima to min of the maxima, MatchIt's
    ``discard = "both"``). Returns :class:`Overlap`."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    lower, upper = common_support(ps, treat)
    return Overlap(
        edges=edges,
        counts_treated=np.histogram(ps[treat == 1], edges)[0],
        counts_control=np.histogram(ps[treat == 0], edges)[0],
        support_lower=lower,
        support_upper=upper,
        n_outside=int(np.sum((ps < lower) | (ps > upper))),
    )


def common_support(ps: np.ndarray, treat: np.ndarray) -> tuple[float, float]:
    """(lower, upper): the overlap of the two groups' score ranges."""
    t, c = ps[treat == 1], ps[treat == 0]
    return float(max(t.min(), c.min())), float(min(t.max(), c.max()))


def trim(ps: np.ndarray, treat: np.ndarray, method: str = "common_support", alpha: float = 0.1) -> np.ndarray:
    """Which patients to keep: ``"common_support"`` drops those outside the overlap of the two groups'
    scores (MatchIt ``discard = "both"``); ``"crump"`` keeps alpha <= e(x) <= 1 - alpha (Crump et al.,
    *Biometrika* 2009;96:187-199, doi:10.1093/biomet/asn055). Returns a boolean mask."""
    if method == "common_support":
        lower, upper = common_support(ps, treat)
        return (ps >= lower) & (ps <= upper)
    if method == "crump":
        if not 0 < alpha < 0.5:
            raise ComparativeError("the trimming alpha must lie in (0, 0.5)")
        return (ps >= alpha) & (ps <= 1 - alpha)
    raise ComparativeError(f"trimming method {method!r}: use common_support or crump")
