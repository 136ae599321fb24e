"""Sensitivity analyses of a pooled outcome, returned as data (``docs/meta-analysis.md``).

For an outcome (TRM above all) :func:`sensitivity_analyses` refits the pool of
:func:`~openhsct.evidence.pooling.pooled_outcome` three more ways:

- ``ascertainment`` (death counts only): without the series whose ``death_ascertainment`` is limited
  (short follow-up, self-report) or unknown, where zero deaths is only a lower bound;
- ``largest_per_group``: the largest report of each overlap group instead of the one the pooling table
  prefers for its definition (e.g. the EBMT 1995-2006 series and the 418-patient Pirogov report,
  which count transplant-related deaths, in place of the Italian 100-day and Pirogov all-cause rows);
  chosen greedily by patients, never two rows sharing an ``overlap_group`` label;
- ``era``: publication year as a moderator of a binomial-normal meta-regression (logit scale, per
  decade, centred at 2020; metafor ``rma.glmm(measure="PLO", mods = ~ I((year - 2020)/10))``), with the
  population-averaged proportion at the first and last publication year; studies without a year are
  left out and named.

Sormani et al. (2017, Neurology 88:2115-2122, doi:10.1212/WNL.0000000000003987) found TRM lower in more
recent studies, which is why era is the moderator examined.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from openhsct.errors import OpenHSCTError
from openhsct.evidence.dataset import LIMITED_ASCERTAINMENT, OUTCOMES, overlap_labels
from openhsct.evidence.glmm import GLMMRegression, MarginalProportion, rma_glmm_mods
from openhsct.evidence.pooling import PooledOutcome, outcome_studies, pool_studies

ERA_CENTRE = 2020


@dataclass(frozen=True, eq=False)
class Sensitivity:
    """One re-analysis: its ``name``, a one-line ``label``, the pooled (or single-study) result, the rows
    of the main analysis it leaves out and the rows it adds; ``why_not`` when nothing could be fitted."""

    name: str
    label: str
    pooled: PooledOutcome | None
    left_out: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    why_not: str | None = None


@dataclass(frozen=True, eq=False)
class EraModeration:
    """Publication year as a moderator: the meta-regression (``decade`` = (year - 2020) / 10), the
    population-averaged proportion at the first and last year, the studies used and those without a
    year; ``why_not`` when the model could not be fitted."""

    regression: GLMMRegression | None
    at_year: dict[int, MarginalProportion] = field(default_factory=dict)
    studies: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()
    why_not: str | None = None

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table (``intrcpt``, ``decade``) with the odds ratio per decade
        (``or_estimate``, ``or_lower``, ``or_upper``); empty when not fitted."""
        if self.regression is None:
            return pd.DataFrame()
        f = self.regression.to_frame()
        return f.assign(
            or_estimate=np.exp(f["estimate"]), or_lower=np.exp(f["lower"]), or_upper=np.exp(f["upper"])
        )


@dataclass(frozen=True, eq=False)
class SensitivityAnalyses:
    """The main pool and its sensitivity analyses for one outcome (module docstring)."""

    outcome: str
    model: str
    level: float
    main: PooledOutcome
    analyses: tuple[Sensitivity, ...]
    era: EraModeration

    def to_frame(self) -> pd.DataFrame:
        """One row per analysis (``main`` first): ``name, label, kind, k, n_total, events``, the headline
        proportion with CI and prediction interval, the marginal, median-study and crude estimates."""
        rows = [self.main.to_frame().assign(name="main", label="Main analysis", why_not=None)]
        for a in self.analyses:
            if a.pooled is None:
                rows.append(pd.DataFrame([{"name": a.name, "label": a.label, "why_not": a.why_not}]))
            else:
                rows.append(a.pooled.to_frame().assign(name=a.name, label=a.label, why_not=None))
        out = pd.concat(rows, ignore_index=True)
        first = ["name", "label"]
        return out[first + [c for c in out.columns if c not in first]]

    def to_dict(self) -> dict:
        """JSON-ready: each analysis (``pooled`` as :meth:`PooledOutcome.to_dict` without the study
        lists), the era regression's coefficients and the marginal proportion at the years shown."""
        from openhsct.evidence.pooling import json_records

        def brief(p: PooledOutcome | None) -> dict | None:
            if p is None:
                return None
            d = p.to_dict()
            d["studies"] = [s["key"] for s in d["studies"]]
            d.pop("excluded")
            return d

        era = self.era
        return {
            "outcome": self.outcome,
            "model": self.model,
            "main": brief(self.main),
            "analyses": [
                {
                    "name": a.name,
                    "label": a.label,
                    "pooled": brief(a.pooled),
                    "left_out": list(a.left_out),
                    "added": list(a.added),
                    "why_not": a.why_not,
                }
                for a in self.analyses
            ],
            "era": {
                "coefficients": json_records(era.to_frame().reset_index()),
                "tau2": None if era.regression is None else era.regression.tau2,
                "qm_p": None if era.regression is None else era.regression.qm_p,
                "at_year": {str(y): m.__dict__ for y, m in era.at_year.items()},
                "studies": list(era.studies),
                "left_out": list(era.left_out),
                "why_not": era.why_not,
            },
        }


def _refit(name: str, label: str, studies, outcome, model, level, main_keys, excluded) -> Sensitivity:
    keys = tuple(studies["key"])
    left = tuple(k for k in main_keys if k not in keys)
    added = tuple(k for k in keys if k not in main_keys)
    if studies.empty:
        return Sensitivity(name, label, None, left, added, "no study left")
    try:
        pooled = pool_studies(studies.reset_index(drop=True), outcome, model, level=level, excluded=excluded)
    except OpenHSCTError as exc:
        return Sensitivity(name, label, None, left, added, exc.message)
    return Sensitivity(name, label, pooled, left, added)


def largest_per_group(candidates: pd.DataFrame) -> pd.DataFrame:
    """From ``study`` rows reporting the outcome, the largest report of each overlap group: rows taken by
    decreasing ``n`` (then key), skipping any that shares an ``overlap_group`` label with one taken."""
    rows = candidates[candidates["row_type"] == "study"].sort_values(["n", "key"], ascending=[False, True])
    taken, labels = [], set()
    for r in rows.itertuples(index=False):
        mine = set(overlap_labels(r.overlap_group))
        if mine & labels:
            continue
        taken.append(r.key)
        labels |= mine
    return rows[rows["key"].isin(taken)].sort_values(["n", "key"], ascending=[False, True])


def era_moderation(studies: pd.DataFrame, level: float = 95) -> EraModeration:
    """Publication year as a moderator of the binomial-normal model (module docstring)."""
    dated = studies[studies["year"].notna()]
    left = tuple(studies.loc[studies["year"].isna(), "key"])
    keys = tuple(dated["key"])
    year = dated["year"].astype(float)
    decade = ((year - ERA_CENTRE) / 10).rename("decade")
    try:
        reg = rma_glmm_mods(dated["events"], dated["n"], decade.to_frame(), level=level)
    except OpenHSCTError as exc:
        return EraModeration(None, {}, keys, left, exc.message)
    years = sorted({int(year.min()), int(year.max())})
    at = {y: reg.marginal_at([(y - ERA_CENTRE) / 10]) for y in years}
    return EraModeration(reg, at, keys, left)


def sensitivity_analyses(outcome: str = "trm", model: str = "glmm", level: float = 95) -> SensitivityAnalyses:
    """The main pool of ``outcome`` and its sensitivity analyses (see the module docstring)."""
    studies, excluded = outcome_studies(outcome)
    main = pool_studies(studies, outcome, model, level=level, excluded=excluded)
    main_keys = tuple(studies["key"])
    analyses = []
    if OUTCOMES[outcome].kind == "count":
        trusted = studies[~studies["death_ascertainment"].isin(LIMITED_ASCERTAINMENT)]
        analyses.append(
            _refit(
                "ascertainment",
                "Without series whose death ascertainment is limited or unknown",
                trusted,
                outcome,
                model,
                level,
                main_keys,
                excluded,
            )
        )
    everyone = pd.concat([studies, excluded], ignore_index=True)
    analyses.append(
        _refit(
            "largest_per_group",
            "Largest report of each overlap group",
            largest_per_group(everyone),
            outcome,
            model,
            level,
            main_keys,
            excluded,
        )
    )
    return SensitivityAnalyses(
        outcome, model, float(level), main, tuple(analyses), era_moderation(studies, level)
    )
