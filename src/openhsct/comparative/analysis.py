"""The whole comparison, as MSBase runs it: propensity score, matching (and weighting alongside),
balance, hazard ratios with pairwise censoring, relapse-rate ratio, E-value and trimming sensitivity.

Kalincik et al., *JAMA Neurol* 2023;80:702-713 (doi:10.1001/jamaneurol.2023.1184): a logistic
propensity score on the MSBase covariates; nearest-neighbour matching on it with a caliper of 0.1 SD;
Cox models on the matched sets with robust standard errors clustered on the set and pairwise
censoring; annualised relapse rates compared by a weighted negative binomial model. The weighted
analysis (stabilised IPTW) is reported beside it. Nothing here reads the registry: the input is the
analysis frame of :func:`openhsct.comparative.cohort.comparison_cohort` (or any frame with its columns).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from openhsct.comparative.balance import Balance, balance_table
from openhsct.comparative.effects import (
    HazardRatio,
    RateRatio,
    cox_treatment_effect,
    cumulative_hazard,
    negative_binomial_rate_ratio,
    pairwise_censor,
)
from openhsct.comparative.errors import ComparativeError
from openhsct.comparative.evalue import EValue, e_value_hr
from openhsct.comparative.matching import MatchResult, match_nearest
from openhsct.comparative.propensity import (
    MSBASE_COVARIATES,
    Overlap,
    PropensityScore,
    overlap,
    propensity_score,
    trim,
)
from openhsct.comparative.weighting import Weights, iptw

OUTCOMES: dict[str, str] = {
    "cdw": "6-month confirmed disability worsening",
    "cdi": "6-month confirmed disability improvement",
    "relapse": "first relapse",
}
METHODS = ("match", "iptw")
MIN_GROUP = 10  # fewer patients in either arm: no comparison is attempted


@dataclass(frozen=True)
class AnalysisSettings:
    """How the comparison ran (travels inside the result)."""

    method: str = "match"
    ratio: int = 1
    caliper: float = 0.1
    link: str = "linear.logit"
    estimand: str = "ATT"
    truncate: tuple[float, float] | None = None
    trim: bool = False
    covariates: tuple[str, ...] = MSBASE_COVARIATES
    conf_level: float = 0.95
    comparator: str = ""


@dataclass(frozen=True, eq=False)
class OutcomeEffect:
    """One outcome's hazard ratios: matched (pairwise censored, the primary MSBase analysis), matched
    without pairwise censoring, and weighted; each None when it could not be estimated, with why."""

    outcome: str
    label: str
    matched: HazardRatio | None
    matched_unpaired: HazardRatio | None
    weighted: HazardRatio | None
    cumhaz: pd.DataFrame
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """One row per analysis with estimate, lower, upper, p_value, n, events."""
        rows = []
        for name, hr in (("matched", self.matched), ("matched_unpaired", self.matched_unpaired),
                         ("weighted", self.weighted)):
            if hr is not None:
                rows.append({"outcome": self.outcome, "analysis": name, **asdict(hr)})
        return pd.DataFrame(rows)


@dataclass(frozen=True, eq=False)
class ComparativeAnalysis:
    """Everything the comparison found, and the settings it ran with."""

    settings: AnalysisSettings
    n_treated: int
    n_control: int
    ps: PropensityScore
    overlap: Overlap
    match: MatchResult
    weights: Weights
    balance_matched: Balance
    balance_weighted: Balance
    effects: tuple[OutcomeEffect, ...]
    arr_matched: RateRatio | None
    arr_weighted: RateRatio | None
    main: HazardRatio | None
    e_value: EValue | None
    sensitivity: dict[str, HazardRatio | None] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def balance(self) -> Balance:
        """The balance of the primary method."""
        return self.balance_matched if self.settings.method == "match" else self.balance_weighted

    def to_frame(self) -> pd.DataFrame:
        """Every hazard ratio of every outcome, one row each."""
        return pd.concat([e.to_frame() for e in self.effects], ignore_index=True)

    def to_dict(self) -> dict:
        """A JSON-ready summary: cohort sizes, balance, effects, ARR, E-value, sensitivity, warnings."""
        def hr(x):
            return None if x is None else asdict(x)

        return _finite({
            "settings": {**asdict(self.settings), "covariates": list(self.settings.covariates)},
            "cohort": {
                "n_treated": self.n_treated,
                "n_control": self.n_control,
                "n_treated_matched": self.match.n_treated_matched,
                "n_control_matched": self.match.n_control_matched,
                "ess_treated": self.weights.ess_treated,
                "ess_control": self.weights.ess_control,
                "outside_common_support": self.overlap.n_outside,
            },
            "balance": {
                "threshold": self.balance.threshold,
                "max_abs_smd_matched": self.balance_matched.max_abs_smd,
                "max_abs_smd_weighted": self.balance_weighted.max_abs_smd,
                "matched": self.balance_matched.table.reset_index().to_dict(orient="records"),
                "weighted": self.balance_weighted.table.reset_index().to_dict(orient="records"),
            },
            "effects": {
                e.outcome: {"label": e.label, "matched": hr(e.matched), "matched_unpaired": hr(e.matched_unpaired),
                            "weighted": hr(e.weighted), "notes": list(e.notes)}
                for e in self.effects
            },
            "arr": {"matched": hr(self.arr_matched), "weighted": hr(self.arr_weighted)},
            "main": hr(self.main),
            "e_value": hr(self.e_value),
            "sensitivity": {k: hr(v) for k, v in self.sensitivity.items()},
            "warnings": list(self.warnings),
        })


def _finite(value):
    """``value`` with every NaN/infinite float replaced by None (JSON has no NaN), recursively."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _try(fn, notes: list[str], what: str):
    try:
        return fn()
    except ComparativeError as exc:
        notes.append(f"{what}: {exc.message}")
        return None


def _effect(frame, key, match: MatchResult, weights: Weights, conf_level: float) -> OutcomeEffect:
    notes: list[str] = []
    t, e, tr = frame[f"{key}_time"].to_numpy(float), frame[f"{key}_event"].to_numpy(int), frame["treat"].to_numpy()
    m = match.weights > 0
    sub = match.subclass
    t2, e2 = pairwise_censor(t[m], e[m], sub[m])
    matched = _try(lambda: cox_treatment_effect(t2, e2, tr[m], match.weights[m], sub[m], conf_level=conf_level,
                                                label=f"{key} matched, pairwise censored"), notes, "matched")
    unpaired = _try(lambda: cox_treatment_effect(t[m], e[m], tr[m], match.weights[m], sub[m], conf_level=conf_level,
                                                 label=f"{key} matched"), notes, "matched, no pairwise censoring")
    weighted = _try(lambda: cox_treatment_effect(t, e, tr, weights.weights, variance="survey", conf_level=conf_level,
                                                 label=f"{key} weighted"), notes, "weighted")
    return OutcomeEffect(key, OUTCOMES[key], matched, unpaired, weighted,
                         cumulative_hazard(t2, e2, tr[m], match.weights[m]), tuple(notes))


def _check_groups(frame: pd.DataFrame, min_group: int) -> None:
    n1, n0 = int((frame["treat"] == 1).sum()), int((frame["treat"] == 0).sum())
    if n1 < min_group or n0 < min_group:
        raise ComparativeError(
            f"too few patients to compare: {n1} aHSCT and {n0} comparator patients (at least {min_group} "
            "in each group are needed); choose a wider selection (another --centre/--country, or none)"
        )


def _main_hr(frame, settings: AnalysisSettings, match, weights) -> HazardRatio | None:
    """The primary hazard ratio (worsening) of the chosen method."""
    effect = _effect(frame, "cdw", match, weights, settings.conf_level)
    return effect.matched if settings.method == "match" else effect.weighted


def _fit(frame: pd.DataFrame, s: AnalysisSettings) -> tuple[PropensityScore, MatchResult, Weights]:
    ps = propensity_score(frame, "treat", s.covariates)
    match = match_nearest(ps.distance(s.link), frame["treat"], ratio=s.ratio, caliper=s.caliper)
    weights = iptw(ps.ps, frame["treat"], estimand=s.estimand, truncate=s.truncate)
    return ps, match, weights


def compare_treatments(
    frame: pd.DataFrame,
    method: str = "match",
    ratio: int = 1,
    caliper: float = 0.1,
    link: str = "linear.logit",
    estimand: str = "ATT",
    truncate: tuple[float, float] | None = None,
    trim_non_overlap: bool = False,
    covariates: Sequence[str] = MSBASE_COVARIATES,
    conf_level: float = 0.95,
    min_group: int = MIN_GROUP,
    comparator: str = "",
) -> ComparativeAnalysis:
    """Compare aHSCT (treat = 1) with the comparator (treat = 0) in ``frame``. ``method`` chooses the
    primary analysis ("match": 1:``ratio`` nearest neighbour on ``link`` with a ``caliper`` SD caliper;
    "iptw": stabilised weights for ``estimand``); the other is computed alongside. Covariates that do
    not vary in ``frame`` are left out of the model (with a warning). Returns :class:`ComparativeAnalysis`."""
    if method not in METHODS:
        raise ComparativeError(f"method {method!r}: use match or iptw")
    _check_groups(frame, min_group)
    warnings: list[str] = []
    used = tuple(c for c in covariates if frame[c].nunique() > 1)
    if len(used) < len(covariates):
        warnings.append("constant in this cohort, left out of the model: "
                        + ", ".join(c for c in covariates if c not in used))
    s = AnalysisSettings(method, ratio, caliper, link, estimand, truncate, trim_non_overlap, used, conf_level,
                         comparator)
    ps_all = propensity_score(frame, "treat", used)
    keep = trim(ps_all.ps, ps_all.treat) if trim_non_overlap else np.ones(len(frame), dtype=bool)
    data = frame.loc[keep].reset_index(drop=True)
    _check_groups(data, min_group)
    ps, match, weights = _fit(data, s)
    bal_m = balance_table(data, data["treat"], used, weights=match.weights, distance=ps.distance(link))
    bal_w = balance_table(data, data["treat"], used, weights=weights.weights, distance=ps.distance(link),
                          s_d_denom="treated" if estimand == "ATT" else "pooled")
    for name, bal in (("matching", bal_m), ("weighting", bal_w)):
        if not bal.balanced:
            warnings.append(f"balance not reached after {name} (|SMD| >= {bal.threshold}): {', '.join(bal.unbalanced)}")
    if match.n_treated_unmatched:
        warnings.append(f"{match.n_treated_unmatched} aHSCT patients found no comparator within the caliper")
    effects = tuple(_effect(data, key, match, weights, conf_level) for key in OUTCOMES)
    notes: list[str] = []
    m = match.weights > 0
    arr_m = _try(lambda: negative_binomial_rate_ratio(data["relapses"][m], data["fu_years"][m], data["treat"][m],
                                                      match.weights[m], match.subclass[m], conf_level,
                                                      "ARR matched"), notes, "ARR matched")
    arr_w = _try(lambda: negative_binomial_rate_ratio(data["relapses"], data["fu_years"], data["treat"],
                                                      weights.weights, None, conf_level, "ARR weighted"),
                 notes, "ARR weighted")
    warnings.extend(notes)
    main = effects[0].matched if method == "match" else effects[0].weighted
    rare = bool(data["cdw_event"].mean() < 0.15)
    ev = e_value_hr(main.estimate, main.lower, main.upper, rare=rare) if main is not None else None
    other = frame if trim_non_overlap else frame.loc[trim(ps_all.ps, ps_all.treat)].reset_index(drop=True)
    sens_note: list[str] = []
    other_main = _try(lambda: _main_hr(other, s, *_fit(other, s)[1:]), sens_note, "sensitivity")
    sensitivity = {"trimmed" if trim_non_overlap else "untrimmed": main,
                   "untrimmed" if trim_non_overlap else "trimmed": other_main}
    return ComparativeAnalysis(
        settings=s,
        n_treated=int((data["treat"] == 1).sum()),
        n_control=int((data["treat"] == 0).sum()),
        ps=ps,
        overlap=overlap(ps.ps, ps.treat),
        match=match,
        weights=weights,
        balance_matched=bal_m,
        balance_weighted=bal_w,
        effects=effects,
        arr_matched=arr_m,
        arr_weighted=arr_w,
        main=main,
        e_value=ev,
        sensitivity=sensitivity,
        warnings=tuple(warnings + sens_note),
    )
