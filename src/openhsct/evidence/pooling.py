"""Pooled aHSCT outcomes from the shipped cohorts: what the portal and the CLI show.

For an outcome (``trm``, ``pfs_2y``, ``pfs_5y``, ``neda_2y``, ``neda_5y``, ``rfs_5y``) the studies are the
rows of ``pooling.csv`` marked ``pooled = yes`` (one row per overlapping cohort, no meta-analyses, no
comparator arms; see ``docs/meta-analysis.md``). Each study gives ``x_i`` of ``n_i`` patients:

- ``trm``: ``x_i`` = transplant-related deaths, ``n_i`` = patients transplanted;
- percentage outcomes (PFS, NEDA-3, RFS at 2 or 5 years, Kaplan-Meier estimates): the effective count
  ``x_i = p_i n_i / 100`` with ``n_i = n_used`` (the patients the percentage refers to). This treats
  the KM estimate as a binomial proportion, which ignores censoring and so understates its variance.

Models: ``glmm`` (binomial-normal, :func:`~openhsct.evidence.glmm.rma_glmm`), ``logit``
(``rma`` on logits) and ``ft`` (``rma`` on Freeman-Tukey double arcsines), see
:mod:`openhsct.evidence.proportions`.

What a pooled result says (``docs/meta-analysis.md``):

- ``marginal`` (``glmm`` only): the population-averaged proportion ``E[expit(beta + u)]`` with its
  delta-method CI; this is the headline ``proportion`` of a ``glmm`` pool and what public pages show;
- ``median_study``: ``expit(beta)`` (``glmm``, ``logit``) or the back-transformed pooled value (``ft``),
  the proportion of the median study, below the population average whenever ``tau^2 > 0`` and
  ``expit(beta) < 1/2``;
- ``crude``: ``sum(events) / sum(n)`` with the exact Clopper-Pearson interval.

One study is never "pooled": with ``k = 1`` the result has ``kind = "single study"`` and carries the
study's own proportion with its exact interval, no model, no prediction interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from openhsct.errors import ValidationError
from openhsct.evidence.dataset import OUTCOMES, groupings, load_cohorts, load_pooling
from openhsct.evidence.effects import escalc_prop
from openhsct.evidence.glmm import GLMMResult, rma_glmm
from openhsct.evidence.proportions import ProportionResult, rma_prop
from openhsct.evidence.rates import Proportion, clopper_pearson, crude_rate

MODELS = ("glmm", "logit", "ft")
BY = ("era", "intensity", "phenotype")

_STUDY_COLUMNS = [
    "key",
    "citation",
    "doi_or_pmid",
    "source_url",
    "year",
    "verified",
    "events",
    "n",
    "observed",
    "row_type",
    "overlap_group",
    "death_ascertainment",
]

POOLED = "pooled"
SINGLE_STUDY = "single study"


@dataclass(frozen=True, eq=False)
class PooledOutcome:
    """A pooled proportion for one outcome (0-1 scale) with CI, prediction interval, heterogeneity, the
    studies used (with citations and weights) and the rows left out (with the reason).

    ``proportion``/``ci_lower``/``ci_upper`` are the headline: the population-averaged (``marginal``)
    proportion for ``glmm``, the back-transformed pooled value for ``logit``/``ft``, and the study's own
    proportion with its exact interval when ``kind == "single study"`` (``k = 1``; then the prediction
    interval and ``q_p`` are NaN). ``median_study`` and ``crude`` are given beside it (module docstring).
    """

    outcome: str
    label: str
    model: str
    method: str
    test: str
    level: float
    k: int
    n_total: int
    proportion: float
    ci_lower: float
    ci_upper: float
    pi_lower: float
    pi_upper: float
    tau2: float
    i2: float
    q: float
    q_df: int
    q_p: float
    studies: pd.DataFrame
    excluded: pd.DataFrame
    fit: GLMMResult | ProportionResult | None = field(repr=False)
    kind: str = POOLED
    crude: Proportion | None = None
    median_study: Proportion | None = None
    marginal: Proportion | None = None

    @property
    def events(self) -> float:
        """Events (effective events for a percentage outcome) summed over the studies."""
        return float(self.studies["events"].sum())

    def to_frame(self) -> pd.DataFrame:
        """One row with the headline proportion, its intervals, the marginal, median-study and crude
        estimates (``<name>_estimate/_lower/_upper``), heterogeneity and the settings used."""
        row = {
            "outcome": self.outcome,
            "kind": self.kind,
            "model": self.model,
            "method": self.method,
            "test": self.test,
            "level": self.level,
            "k": self.k,
            "n_total": self.n_total,
            "events": self.events,
            "proportion": self.proportion,
            "ci_lower": self.ci_lower,
            "ci_upper": self.ci_upper,
            "pi_lower": self.pi_lower,
            "pi_upper": self.pi_upper,
        }
        for name in ("marginal", "median_study", "crude"):
            est: Proportion | None = getattr(self, name)
            for part in ("estimate", "lower", "upper"):
                row[f"{name}_{part}"] = np.nan if est is None else getattr(est, part)
        row.update(tau2=self.tau2, i2=self.i2, q=self.q, q_df=self.q_df, q_p=self.q_p)
        return pd.DataFrame([row])

    def to_dict(self) -> dict:
        """JSON-ready summary with the list of studies (for ``--json`` and the portal); ``marginal``,
        ``median_study`` and ``crude`` are nested dicts (``estimate, lower, upper, conf_level, n,
        events, method``) or ``None``."""
        frame = self.to_frame().iloc[0].to_dict()
        out = {
            k: _plain(v)
            for k, v in frame.items()
            if not k.startswith(("marginal_", "median_study_", "crude_"))
        }
        out["label"] = self.label
        for name in ("marginal", "median_study", "crude"):
            est = getattr(self, name)
            out[name] = None if est is None else {k: _plain(v) for k, v in est.to_dict().items()}
        out["studies"] = json_records(self.studies)
        out["excluded"] = json_records(self.excluded)
        return out


def _plain(value):
    """A JSON-safe Python value: numpy scalars unwrapped, NaN/inf as ``None``."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def json_records(df: pd.DataFrame) -> list[dict]:
    """Rows as dicts with plain Python values (``None`` for missing)."""
    clean = df.astype(object).where(df.notna(), None)
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in clean.to_dict("records")
    ]


def outcome_studies(outcome: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The studies pooled for ``outcome`` (``events``, ``n``, observed proportion, citation, subgroup
    labels) and the rows that report it but are left out, with the reason."""
    if outcome not in OUTCOMES:
        raise ValidationError(
            f"unknown outcome {outcome!r}", details=[f"choose one of {', '.join(OUTCOMES)}"]
        )
    spec = OUTCOMES[outcome]
    cohorts = load_cohorts()
    pooling = load_pooling(cohorts)
    dec = pooling[pooling["outcome"] == outcome]
    rows = cohorts.set_index("key").loc[dec["key"]].reset_index()
    rows = rows.join(groupings(cohorts), on="key")
    value = rows[spec.column].astype(float).to_numpy()
    n = dec["n_used"].astype(float).to_numpy()
    events = value if spec.kind == "count" else value * n / 100
    table = rows.assign(events=events, n=n.astype(int), observed=events / n, reason=dec["reason"].to_numpy())
    table["year"] = table["year"].astype("Int64")
    pooled = dec["pooled"].to_numpy() == "yes"
    cols = [*_STUDY_COLUMNS, "era", "intensity", "phenotype", "reason"]
    return table.loc[pooled, cols].reset_index(drop=True), table.loc[~pooled, cols].reset_index(drop=True)


def pool_studies(
    studies: pd.DataFrame,
    outcome: str,
    model: str = "glmm",
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    excluded: pd.DataFrame | None = None,
) -> PooledOutcome:
    """Pool the ``events``/``n`` columns of ``studies`` with the chosen model."""
    model = model.lower()
    if model not in MODELS:
        raise ValidationError(f"model must be one of {MODELS} (got {model!r})")
    if studies.empty:
        raise ValidationError(f"no studies to pool for {outcome}")
    excluded = excluded if excluded is not None else studies.iloc[0:0]
    if len(studies) == 1:
        return single_study(studies, outcome, model, level, excluded)
    x = studies["events"].to_numpy(float)
    n = studies["n"].to_numpy(float)
    conf = level / 100
    crude = crude_rate(x, n, conf)
    marginal = None
    if model == "glmm":
        fit = rma_glmm(x, n, level=level)
        m = fit.marginal()
        marginal = Proportion(
            m.estimate, m.lower, m.upper, conf, int(n.sum()), float(x.sum()), "delta method"
        )
        median = Proportion(
            fit.proportion,
            fit.prop_ci_lower,
            fit.prop_ci_upper,
            conf,
            int(n.sum()),
            float(x.sum()),
            "Wald (logit)",
        )
        prop = (m.estimate, m.lower, m.upper, fit.prop_pi_lower, fit.prop_pi_upper)
        het = (fit.tau2, fit.i2, fit.q_lrt, fit.q_lrt_df, fit.q_lrt_p)
        _, vi = escalc_prop(x, n, "PLO")
        method_used, test_used = "ML", "z"
    else:
        fit = rma_prop(
            x,
            n,
            measure="PLO" if model == "logit" else "PFT",
            method=method,
            test=test,
            level=level,
            labels=studies["key"].tolist(),
        )
        median = Proportion(
            fit.proportion, fit.ci_lower, fit.ci_upper, conf, int(n.sum()), float(x.sum()), test
        )
        prop = (fit.proportion, fit.ci_lower, fit.ci_upper, fit.pi_lower, fit.pi_upper)
        het = (fit.fit.tau2, fit.fit.i2, fit.fit.q, fit.fit.q_df, fit.fit.q_p)
        vi = fit.fit.vi
        method_used, test_used = fit.fit.method, test
    w = 1 / (vi + het[0])
    studies = studies.assign(weight_pct=100 * w / w.sum())
    return PooledOutcome(
        outcome=outcome,
        label=OUTCOMES[outcome].label,
        model=model,
        method=method_used,
        test=test_used,
        level=float(level),
        k=len(studies),
        n_total=int(n.sum()),
        proportion=float(prop[0]),
        ci_lower=float(prop[1]),
        ci_upper=float(prop[2]),
        pi_lower=float(prop[3]),
        pi_upper=float(prop[4]),
        tau2=float(het[0]),
        i2=float(het[1]),
        q=float(het[2]),
        q_df=int(het[3]),
        q_p=float(het[4]),
        studies=studies,
        excluded=excluded,
        fit=fit,
        kind=POOLED,
        crude=crude,
        median_study=median,
        marginal=marginal,
    )


def single_study(
    studies: pd.DataFrame, outcome: str, model: str, level: float, excluded: pd.DataFrame
) -> PooledOutcome:
    """One study, not pooled: its own proportion with the exact Clopper-Pearson interval, ``kind =
    "single study"``, no model fit, no prediction interval, no heterogeneity."""
    row = studies.iloc[0]
    own = clopper_pearson(float(row["events"]), float(row["n"]), level / 100)
    return PooledOutcome(
        outcome=outcome,
        label=OUTCOMES[outcome].label,
        model=model,
        method="none (one study)",
        test="none",
        level=float(level),
        k=1,
        n_total=int(row["n"]),
        proportion=own.estimate,
        ci_lower=own.lower,
        ci_upper=own.upper,
        pi_lower=float("nan"),
        pi_upper=float("nan"),
        tau2=0.0,
        i2=0.0,
        q=0.0,
        q_df=0,
        q_p=float("nan"),
        studies=studies.assign(weight_pct=100.0),
        excluded=excluded,
        fit=None,
        kind=SINGLE_STUDY,
        crude=own,
    )


def pooled_outcome(
    outcome: str, model: str = "glmm", method: str = "REML", test: str = "z", level: float = 95
) -> PooledOutcome:
    """The pooled estimate of ``outcome`` across the non-overlapping published cohorts.

    ``model``: ``"glmm"`` (binomial-normal, ML; ``method``/``test`` are then not used), ``"logit"`` or
    ``"ft"`` (inverse-variance random effects with ``method`` = ``"REML" | "DL" | "PM" | "FE"`` and
    ``test`` = ``"z" | "knha"``). Proportions are on the 0-1 scale.
    """
    studies, excluded = outcome_studies(outcome)
    return pool_studies(studies, outcome, model, method, test, level, excluded)


def _model_scale(pooled: PooledOutcome) -> tuple[float, float]:
    """The pooled value and its SE on the model scale; for a single study its escalc ``PLO`` logit (or
    NaN SE when it has no event, so it takes no part in the test)."""
    if pooled.fit is not None:
        return pooled.fit.estimate, pooled.fit.se
    row = pooled.studies.iloc[0]
    if row["events"] in (0, row["n"]):
        return float("nan"), float("nan")
    yi, vi = escalc_prop([row["events"]], [row["n"]], "PLO")
    return float(yi[0]), float(np.sqrt(vi[0]))


@dataclass(frozen=True, eq=False)
class SubgroupPooled:
    """:func:`pooled_outcome` per subgroup, the groups that could not be fitted (with why), and the
    Wald test of equal subgroup means on the model scale (``Q_between`` on ``G - 1`` df)."""

    outcome: str
    by: str
    groups: dict[str, PooledOutcome]
    not_fitted: dict[str, str]
    q_between: float
    q_between_df: int
    q_between_p: float

    def to_frame(self) -> pd.DataFrame:
        """One row per fitted subgroup."""
        rows = [g.to_frame().assign(group=name) for name, g in self.groups.items()]
        return pd.concat(rows, ignore_index=True).set_index("group") if rows else pd.DataFrame()


def pooled_outcome_by(
    outcome: str, by: str, model: str = "glmm", method: str = "REML", test: str = "z", level: float = 95
) -> SubgroupPooled:
    """:func:`pooled_outcome` within each subgroup ``by`` (``era``, ``intensity`` or ``phenotype``)."""
    from scipy import stats

    if by not in BY:
        raise ValidationError(f"by must be one of {BY} (got {by!r})")
    studies, excluded = outcome_studies(outcome)
    groups, not_fitted = {}, {}
    for group, sub in studies.groupby(by, sort=True):
        try:
            groups[str(group)] = pool_studies(
                sub.reset_index(drop=True), outcome, model, method, test, level, excluded
            )
        except ValidationError as exc:
            not_fitted[str(group)] = exc.message
    scale = np.array([_model_scale(g) for g in groups.values()], dtype=float).reshape(-1, 2)
    est, se = scale[:, 0], scale[:, 1]
    usable = np.isfinite(se) & (se > 0)
    est, se = est[usable], se[usable]
    if len(est) >= 2:
        w = 1 / se**2
        q = float(np.sum(w * (est - np.sum(w * est) / w.sum()) ** 2))
        df, p = len(est) - 1, float(stats.chi2.sf(q, len(est) - 1))
    else:
        q, df, p = 0.0, 0, float("nan")
    return SubgroupPooled(outcome, by, groups, not_fitted, q, df, p)
