"""``openhsct evidence``: the cited published cohorts and their pooled outcomes."""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from openhsct.errors import OpenHSCTError, ValidationError

console = Console()


class OutcomeName(StrEnum):
    trm = "trm"
    pfs_2y = "pfs_2y"
    pfs_5y = "pfs_5y"
    neda_2y = "neda_2y"
    neda_5y = "neda_5y"
    rfs_5y = "rfs_5y"


class Method(StrEnum):
    reml = "reml"
    dl = "dl"
    pm = "pm"
    fe = "fe"


class Model(StrEnum):
    glmm = "glmm"
    logit = "logit"
    ft = "ft"


class By(StrEnum):
    era = "era"
    intensity = "intensity"
    phenotype = "phenotype"


class Test(StrEnum):
    z = "z"
    knha = "knha"


def _pct(x: float) -> str:
    """A proportion as a percentage: two decimals below 1% (rare events), one above."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{100 * x:.2f}%" if abs(x) < 0.01 else f"{100 * x:.1f}%"


def _fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def list_cohorts(
    outcome: OutcomeName | None = typer.Option(None, "--outcome", help="Only rows reporting this outcome."),
) -> None:
    """List the published aHSCT cohorts with their citations (and, with --outcome, the pooling decision)."""
    from openhsct.evidence.dataset import OUTCOMES, load_cohorts
    from openhsct.evidence.pooling import outcome_studies

    if outcome is None:
        cohorts = load_cohorts()
        table = Table(title=f"Published aHSCT-in-MS evidence ({len(cohorts)} rows)")
        for col in ("key", "type", "year", "n", "intensity", "verified", "citation", "source"):
            table.add_column(col, overflow="fold")
        for r in cohorts.itertuples(index=False):
            table.add_row(
                r.key,
                r.row_type,
                _fmt(r.year),
                _fmt(r.n_patients),
                _fmt(r.intensity_class),
                r.verified,
                r.citation,
                r.source_url.split(" | ")[0],
            )
        console.print(table)
        return
    pooled, excluded = outcome_studies(outcome.value)
    spec = OUTCOMES[outcome.value]
    table = Table(title=f"{spec.label}: rows reporting it")
    for col in ("key", "pooled", "events / n", "observed", "verified", "citation", "reason"):
        table.add_column(col, overflow="fold")
    for flag, frame in (("yes", pooled), ("no", excluded)):
        for r in frame.itertuples(index=False):
            table.add_row(
                r.key, flag, f"{r.events:g} / {r.n}", _pct(r.observed), r.verified, r.citation, r.reason
            )
    console.print(table)


def _ci(est) -> str:
    return f"{_pct(est.lower)} – {_pct(est.upper)}"


def _summary_table(res, title: str) -> Table:
    """The estimates of a pooled outcome, each named: the population-averaged (marginal) proportion, the
    median study (expit β), the crude rate and the prediction interval; one study is shown as itself."""
    t = Table(title=title)
    for col in ("estimate", "value", f"{res.level:g}% CI", "what it is"):
        t.add_column(col, overflow="fold")
    if res.kind == "single study":
        key = res.studies["key"].iloc[0]
        t.add_row(
            f"Single study, not pooled ({key})",
            _pct(res.proportion),
            f"{_pct(res.ci_lower)} – {_pct(res.ci_upper)}",
            f"{res.events:.4g} of {res.n_total}; exact (Clopper-Pearson) interval; no meta-analysis with k = 1",
        )
        return t
    if res.marginal is not None:
        t.add_row(
            "Pooled, population-averaged (marginal)",
            _pct(res.marginal.estimate),
            _ci(res.marginal),
            "E\\[expit(β + u)], u ~ N(0, τ²): the average over series; delta-method CI",
        )
    t.add_row(
        "Median study (expit β)" if res.model != "ft" else "Pooled, back-transformed (median study)",
        _pct(res.median_study.estimate),
        _ci(res.median_study),
        "the proportion of a typical (median) series under the model",
    )
    t.add_row(
        f"Crude rate ({res.crude.events:g} / {res.crude.n})",
        _pct(res.crude.estimate),
        _ci(res.crude),
        "all patients as one sample; exact (Clopper-Pearson) CI; ignores heterogeneity",
    )
    t.add_row(
        "Prediction interval",
        "",
        f"{_pct(res.pi_lower)} – {_pct(res.pi_upper)}",
        "where the proportion of a new series is expected to lie",
    )
    return t


def _heterogeneity(res) -> str:
    if res.kind == "single study":
        return "One study: no heterogeneity to estimate."
    return (
        f"k = {res.k} studies, {res.n_total} patients; τ² = {res.tau2:.4g}, I² = {res.i2:.1f}%, "
        f"Q = {res.q:.2f} (df {res.q_df}, p = {_fmt(res.q_p)})"
    )


def _sensitivity_table(sens) -> Table:
    """One row per sensitivity analysis, then the era moderator."""
    t = Table(title=f"Sensitivity analyses ({sens.outcome}, {sens.model})")
    for col in (
        "analysis",
        "k",
        "patients",
        "events",
        "headline",
        "CI",
        "median study",
        "crude",
        "studies changed",
    ):
        t.add_column(col, overflow="fold")
    for label, p, changed in [("Main analysis", sens.main, "")] + [
        (a.label, a.pooled, _changes(a)) for a in sens.analyses
    ]:
        if p is None:
            t.add_row(label, "–", "–", "–", "not fitted", "", "", "", changed)
            continue
        t.add_row(
            label,
            str(p.k),
            str(p.n_total),
            f"{p.events:g}",
            f"{_pct(p.proportion)} ({'marginal' if p.marginal is not None else p.kind})",
            f"{_pct(p.ci_lower)} – {_pct(p.ci_upper)}",
            "–" if p.median_study is None else _pct(p.median_study.estimate),
            _pct(p.crude.estimate),
            changed,
        )
    era = sens.era
    if era.regression is None:
        t.add_row(
            "Era (publication year) as moderator", "", "", "", "not fitted", era.why_not or "", "", "", ""
        )
    else:
        row = era.to_frame().loc["decade"]
        at = "; ".join(
            f"{y}: {_pct(m.estimate)} ({_pct(m.lower)} – {_pct(m.upper)})" for y, m in era.at_year.items()
        )
        t.add_row(
            "Era (publication year) as moderator",
            str(len(era.studies)),
            "",
            "",
            f"OR per decade {row.or_estimate:.3g}",
            f"{row.or_lower:.3g} – {row.or_upper:.3g}",
            "",
            "",
            f"marginal at {at}; left out (no year): {', '.join(era.left_out) or 'none'}",
        )
    return t


def _changes(a) -> str:
    parts = []
    if a.left_out:
        parts.append("without " + ", ".join(a.left_out))
    if a.added:
        parts.append("with " + ", ".join(a.added))
    return "; ".join(parts)


def _studies_table(res) -> Table:
    t = Table(title="Studies pooled" if res.kind != "single study" else "The one study (not pooled)")
    for col in ("key", "events / n", "observed", "weight", "citation", "source"):
        t.add_column(col, overflow="fold")
    for r in res.studies.itertuples(index=False):
        t.add_row(
            r.key,
            f"{r.events:g} / {r.n}",
            _pct(r.observed),
            f"{r.weight_pct:.1f}%",
            r.citation,
            r.source_url.split(" | ")[0],
        )
    return t


def meta(
    outcome: OutcomeName = typer.Option(..., "--outcome", help="Outcome to pool."),
    method: Method = typer.Option(Method.reml, "--method", help="tau² estimator (logit / ft models)."),
    model: Model = typer.Option(Model.glmm, "--model", help="glmm (binomial-normal), logit or ft."),
    by: By | None = typer.Option(None, "--by", help="Pool within subgroups."),
    test: Test = typer.Option(Test.z, "--test", help="z or knha (Knapp-Hartung; logit / ft models)."),
    level: float = typer.Option(95.0, "--level", help="Confidence level in percent."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the result as JSON to FILE."),
    sensitivity: bool = typer.Option(
        False, "--sensitivity", help="Also the sensitivity analyses (death ascertainment, overlap, era)."
    ),
) -> None:
    """Random-effects meta-analysis of an outcome across the non-overlapping published cohorts."""
    from openhsct.evidence.pooling import pooled_outcome, pooled_outcome_by
    from openhsct.evidence.sensitivity import sensitivity_analyses

    if not 0 < level < 100:
        raise ValidationError(f"--level must be between 0 and 100 (got {level})")
    args = {"model": model.value, "method": method.value.upper(), "test": test.value, "level": level}
    if by is None:
        res = pooled_outcome(outcome.value, **args)
        how = (
            "one study, not pooled"
            if res.kind == "single study"
            else "binomial-normal GLMM (ML)"
            if res.model == "glmm"
            else f"{res.model}, {res.method}, test={res.test}"
        )
        console.print(_summary_table(res, f"{res.label} — {how}"))
        console.print(_heterogeneity(res))
        console.print(_studies_table(res))
        payload = res.to_dict()
        if sensitivity:
            sens = sensitivity_analyses(outcome.value, model.value, level)
            console.print(_sensitivity_table(sens))
            payload["sensitivity"] = sens.to_dict()
    else:
        sub = pooled_outcome_by(outcome.value, by.value, **args)
        t = Table(title=f"{outcome.value} by {by.value} ({model.value})")
        for col in (by.value, "k", "estimate", f"{level:g}% CI", "prediction interval", "I²", "studies"):
            t.add_column(col, overflow="fold")
        for name, g in sub.groups.items():
            t.add_row(
                name,
                str(g.k) if g.kind != "single study" else "1 (single study, not pooled)",
                _pct(g.proportion),
                f"{_pct(g.ci_lower)} – {_pct(g.ci_upper)}",
                f"{_pct(g.pi_lower)} – {_pct(g.pi_upper)}",
                f"{g.i2:.1f}%",
                ", ".join(g.studies["key"]),
            )
        for name, why in sub.not_fitted.items():
            t.add_row(name, "–", "not fitted", why, "", "", "")
        console.print(t)
        console.print(
            f"Test of subgroup differences: Q = {sub.q_between:.2f}, df = {sub.q_between_df}, "
            f"p = {_fmt(sub.q_between_p)}"
        )
        payload = {
            "outcome": outcome.value,
            "by": by.value,
            "groups": {k: v.to_dict() for k, v in sub.groups.items()},
            "not_fitted": sub.not_fitted,
            "q_between": sub.q_between,
            "q_between_df": sub.q_between_df,
            "q_between_p": None if math.isnan(sub.q_between_p) else sub.q_between_p,
        }
    if json_path is not None:
        try:
            json_path.write_text(
                json.dumps(payload, indent=2, default=str, allow_nan=False), encoding="utf-8"
            )
        except OSError as exc:
            raise OpenHSCTError(f"cannot write {json_path}: {exc.strerror}") from None
        console.print(f"Wrote {json_path}")


def register(app: typer.Typer) -> None:
    """Add the ``evidence`` command group to the main app."""
    sub = typer.Typer(
        name="evidence", help="Published aHSCT-in-MS evidence and meta-analysis.", no_args_is_help=True
    )
    sub.command("list")(list_cohorts)
    sub.command("meta")(meta)
    app.add_typer(sub, name="evidence")
