"""``openhsct compare-treatments``: aHSCT against a high-efficacy DMT in the registry (MSBase's method)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from openhsct.commands._common import console, django
from openhsct.errors import OpenHSCTError


class Comparator(StrEnum):
    natalizumab = "natalizumab"
    ocrelizumab = "ocrelizumab"
    alemtuzumab = "alemtuzumab"
    cladribine = "cladribine"
    fingolimod = "fingolimod"


class Method(StrEnum):
    match = "match"
    iptw = "iptw"


class Estimand(StrEnum):
    ATT = "ATT"
    ATE = "ATE"


def _ci(hr) -> str:
    if hr is None:
        return "—"
    return f"{hr['estimate']:.2f} ({hr['lower']:.2f}–{hr['upper']:.2f}); p = {hr['p_value']:.3g}; n = {hr['n']}, events {hr['events']}"


def _print(result: dict, comparator: str) -> None:
    c = result["cohort"]
    console.print(
        f"[bold]aHSCT vs {comparator}[/]: {c['n_treated']:,} aHSCT and {c['n_control']:,} {comparator} patients; "
        f"matched {c['n_treated_matched']:,} aHSCT to {c['n_control_matched']:,} {comparator}; weighted "
        f"effective sizes {c['ess_treated']:.0f} / {c['ess_control']:.0f}",
        highlight=False,
    )
    t = Table(title=f"Balance: standardised mean differences (target |SMD| < {result['balance']['threshold']})")
    for col in ("covariate", "before", "matched", "weighted", "var. ratio (matched)"):
        t.add_column(col, justify="left" if col == "covariate" else "right")
    weighted = {r["covariate"]: r for r in result["balance"]["weighted"]}

    def num(value, fmt=".3f"):
        return "—" if value is None else format(value, fmt)

    for r in result["balance"]["matched"]:
        t.add_row(r["covariate"], num(r["smd_un"]), num(r["smd_adj"]), num(weighted[r["covariate"]]["smd_adj"]),
                  num(r["var_ratio_adj"], ".2f"))
    console.print(t)
    t = Table(title="Hazard ratios, aHSCT vs comparator (95% CI; robust SE)")
    for col in ("outcome", "matched, pairwise censored", "weighted (IPTW)"):
        t.add_column(col)
    for block in result["effects"].values():
        t.add_row(block["label"], _ci(block["matched"]), _ci(block["weighted"]))
    arr = result["arr"]
    t.add_row("annualised relapse rate (ratio, negative binomial)", _ci(arr["matched"]), _ci(arr["weighted"]))
    console.print(t)
    for block in result["effects"].values():
        for note in block["notes"]:
            console.print(f"Not estimated — {block['label']}, {note}", highlight=False)
    ev, sens = result["e_value"], result["sensitivity"]
    if ev:
        console.print(f"E-value (main hazard ratio): {ev['estimate']:.2f}; for the confidence limit: {ev['limit']:.2f}",
                      highlight=False)
    for key, hr in sens.items():
        console.print(f"Sensitivity, {key}: {_ci(hr)}", highlight=False)
    for w in result["warnings"]:
        console.print(f"[yellow]Warning:[/] {w}", highlight=False)
    console.print("Assumes no unmeasured confounding and that every patient could have received either treatment "
                  "(positivity). Observational: not medical advice.")


def compare_treatments(
    comparator: Comparator = typer.Option(Comparator.natalizumab, "--comparator", help="The high-efficacy DMT."),
    centre: str = typer.Option(None, "--centre", help="Only this centre's patients (code)."),
    country: str = typer.Option(None, "--country", help="Only this country's patients (ISO 3166 alpha-3)."),
    method: Method = typer.Option(Method.match, "--method", help="Primary analysis: match or iptw."),
    ratio: int = typer.Option(1, "--ratio", min=1, max=5, help="Comparators per aHSCT patient (matching)."),
    caliper: float = typer.Option(0.1, "--caliper", min=0.001, help="Caliper in SD of the logit of the score."),
    estimand: Estimand = typer.Option(Estimand.ATT, "--estimand", help="IPTW target: ATT or ATE."),
    trim_overlap: bool = typer.Option(False, "--trim", help="Drop patients outside the common support first."),
    json_out: Path = typer.Option(None, "--json", help="Also write the results as JSON to this file."),
    report: Path = typer.Option(None, "--report", help="Also write an HTML report to this file."),
) -> None:
    """aHSCT vs a high-efficacy DMT: propensity-score matching and weighting, balance, hazard ratios,
    relapse-rate ratio and E-value (Kalincik et al., JAMA Neurol 2023). Not medical advice."""
    if centre and country:
        raise OpenHSCTError("give --centre or --country, not both", exit_code=2)
    if country and len(country) != 3:
        raise OpenHSCTError(f"--country {country!r}: use an ISO 3166 alpha-3 code such as SWE", exit_code=2)
    django()
    from openhsct.comparative.analysis import compare_treatments as run
    from openhsct.comparative.cohort import comparison_cohort
    from openhsct.registry.exporter import registry_frames

    with console.status("Reading the registry…"):
        tables = registry_frames(typed=True)
    if centre and centre not in set(tables["centres"]["centre_code"].astype(str)):
        raise OpenHSCTError(f"no centre {centre!r} in the registry", exit_code=2)
    with console.status("Building the cohort and comparing…"):
        cohort = comparison_cohort(tables, comparator.value, centre=centre, country=country)
        analysis = run(cohort, method=method.value, ratio=ratio, caliper=caliper, estimand=estimand.value,
                       trim_non_overlap=trim_overlap, comparator=comparator.value)
    result = analysis.to_dict()
    _print(result, comparator.value)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=1, allow_nan=False), encoding="utf-8")
        console.print(f"Wrote {json_out}")
    if report:
        from openhsct.portal.comparative import report_html

        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(report_html(analysis), encoding="utf-8")
        console.print(f"Wrote {report}")


def register(app: typer.Typer) -> None:
    app.command("compare-treatments")(compare_treatments)
