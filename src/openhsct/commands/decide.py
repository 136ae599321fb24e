"""``openhsct decide``: what aHSCT could mean for one person — the registry prediction, aHSCT against a DMT
in costs and QALYs, the uncertainty (CEAC, EVPI) and the unverified inputs. Not medical advice."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.panel import Panel
from rich.table import Table

from openhsct.commands._common import console, django
from openhsct.errors import OpenHSCTError


def _pct(v) -> str:
    return "—" if v is None or v != v else f"{100 * v:.1f}%"


def _money(v) -> str:
    return "—" if v is None or v != v else f"{v:,.0f}"


def _release_model(release_id: str | None):
    """``(stored, unavailable, release)``: the decision part of release ``release_id`` (default: the latest
    published release); ``stored`` is None, and ``unavailable`` says why, when the release holds no model.
    Raises :class:`OpenHSCTError` when there is no such release (or none is published)."""
    from openhsct.portal.decide import NO_RELEASE, release_model
    from openhsct.releases.decision import stored_decision
    from openhsct.releases.models import Release
    from openhsct.releases.store import read_json

    if release_id is None:
        stored, unavailable, release = release_model()
        if release is None:
            raise OpenHSCTError(
                NO_RELEASE + " Draft and publish one with `openhsct release draft` and `openhsct release publish`.",
                exit_code=2,
            )
        return stored, unavailable, release
    release = Release.objects.filter(pk=release_id).defer("manifest").first()
    if release is None:
        raise OpenHSCTError(f"--release {release_id}: no such release (see `openhsct release list`)", exit_code=2)
    if release.state == Release.State.WITHDRAWN:
        raise OpenHSCTError(f"--release {release_id}: this release was withdrawn ({release.erratum})", exit_code=2)
    stored = stored_decision(read_json(release.pk, "decision.json"))
    unavailable = None if stored.model is not None else (
        f"No individual prediction from data release {release.pk}: {stored.unavailable}."
    )
    return stored, unavailable, release


def _print_prediction(aid) -> None:
    if aid.prediction is None:
        console.print(Panel(aid.refusal, title="Individual prediction", border_style="yellow"), highlight=False)
        console.print(
            f"The model below uses the pooled TRM default and MIST's hazard ratio ({aid.settings['ahsct_efficacy']}).",
            highlight=False,
        )
        return
    p, m = aid.prediction, aid.model
    t = Table(title=f"Individual prediction from the registry ({m['n_patients']:,} patients, {m['n_events']:,} PFS events)")
    for col in ("measure", "estimate", "95% CI"):
        t.add_column(col, justify="left" if col == "measure" else "right")
    t.add_row(f"Progression-free at {p.horizon_years:g} years", _pct(p.pfs_5y),
              f"{_pct(p.pfs_5y_lower)}–{_pct(p.pfs_5y_upper)}")
    t.add_row(f"Death by day 100 ({p.trm_method})", _pct(p.trm), f"{_pct(p.trm_lower)}–{_pct(p.trm_upper)}")
    t.add_row("Similar patients (phenotype and EDSS band)", "<5" if p.n_similar is None else f"{p.n_similar:,}", "")
    t.add_row("Harrell's C (optimism-corrected)", f"{p.c_index:.3f}", "")
    t.add_row("Calibration slope (bootstrap)", f"{p.calibration_slope:.2f}", "")
    console.print(t)
    console.print(p.trm_note, highlight=False)


def _print_totals(aid) -> None:
    cur = aid.currency
    t = Table(title=f"aHSCT against {aid.settings['comparator']}: discounted totals per person ({cur})")
    t.caption = f"ICER in {cur} per QALY gained"
    for col in ("strategy", "cost", "QALYs", "life yrs", "Δ cost", "Δ QALYs", "ICER", "status"):
        text = col in ("strategy", "status")
        t.add_column(col, justify="left" if text else "right", no_wrap=True, min_width=6 if text else None)
    frame = aid.to_frame()
    for name, r in frame.iterrows():
        t.add_row(name, _money(r["cost"]), f"{r['qaly']:.3f}", f"{r['life_years']:.2f}", _money(r["inc_cost"]),
                  "—" if r["inc_qaly"] != r["inc_qaly"] else f"{r['inc_qaly']:.3f}", _money(r["icer"]), r["status"])
    console.print(t)
    se = "; ".join(f"{n}: cost ± {_money(r['cost_se'])}, QALYs ± {r['qaly_se']:.3f}" for n, r in frame.iterrows())
    console.print(f"Monte Carlo standard errors — {se}. Status: ND on the frontier, D dominated, ED extendedly "
                  "dominated.", highlight=False)
    rates = "; ".join(f"1 {k} = {v:,.4g} {cur}" for k, v in aid.rates.items()) or "none needed"
    s = aid.settings
    console.print(
        f"Horizon {s['horizon_years']} years, {s['perspective']} perspective, discount {s['discount_costs']:.1%} "
        f"(costs) / {s['discount_qalys']:.1%} (QALYs), life table {s['country']}, aHSCT effect: "
        f"{s['ahsct_efficacy']}, TRM used {s['trm_used']:.1%}. Exchange rates ({s['rates_source']}): {rates}.",
        highlight=False,
    )


def _print_uncertainty(aid) -> None:
    cur = aid.currency
    where = "your thresholds" if aid.wtp else "a range of willingness-to-pay values"
    t = Table(title=f"Net monetary benefit (wtp × QALYs − cost, {cur}) at {where}")
    t.add_column(f"wtp ({cur}/QALY)", justify="right")
    strategies = list(aid.totals.index)
    for s in strategies:
        t.add_column(f"NMB {s}", justify="right")
    if aid.ceac is not None:
        for s in strategies:
            t.add_column(f"P({s} best)", justify="right")
        t.add_column(f"EVPI ({cur})", justify="right")
    for w, row in aid.nmb.iterrows():
        cells = [_money(w)] + [_money(row[s]) for s in strategies]
        if aid.ceac is not None:
            evpi = float(aid.evpi.loc[w])
            cells += [_pct(aid.ceac.loc[w, s]) for s in strategies] + [_money(evpi if abs(evpi) >= 0.5 else 0.0)]
        t.add_row(*cells)
    console.print(t)
    if aid.ceac is None:
        console.print("No PSA was run (--psa 0): no CEAC or EVPI.", highlight=False)
    else:
        console.print(f"CEAC and EVPI from {aid.settings['psa_samples']:,} PSA samples × "
                      f"{aid.settings['psa_patients']:,} patients.", highlight=False)
    if not aid.wtp:
        console.print("Thresholds shown are a plotting range: give --wtp (repeatable) for your own.", highlight=False)


def _print_unverified(aid) -> None:
    t = Table(title=f"Inputs in use that are not verified against their source ({len(aid.unverified)})")
    t.caption = "Sources in full: --json or --report"
    t.add_column("input", no_wrap=True)
    t.add_column("value and unit", min_width=14)
    t.add_column("source", min_width=16, max_width=26, no_wrap=True, overflow="ellipsis")
    for r in aid.unverified.itertuples():
        value = "—" if r.value != r.value else f"{r.value:,.4g}"
        t.add_row(str(r.name), f"{value} {r.unit} {r.currency or ''}".strip(), str(r.source))
    console.print(t)


def decide(
    age: float = typer.Option(..., "--age", help="Age in years."),
    sex: str = typer.Option(..., "--sex", help="F or M."),
    phenotype: str = typer.Option(..., "--phenotype", help="RRMS, SPMS or PPMS."),
    edss: float = typer.Option(..., "--edss", help="EDSS, 0–9.5 in steps of 0.5."),
    duration: float = typer.Option(..., "--duration", help="Years since MS onset."),
    relapses: int = typer.Option(..., "--relapses", help="Relapses in the last 12 months."),
    gd: int = typer.Option(..., "--gd", help="Gd+ lesions on the last MRI."),
    prior_dmts: int = typer.Option(..., "--prior-dmts", help="Number of DMTs tried."),
    comparator: str = typer.Option("ocrelizumab", "--comparator", help="The DMT otherwise taken (a,b = sequence)."),
    price: float = typer.Option(None, "--price", help="aHSCT price in --currency (default: published cost)."),
    currency: str = typer.Option("RUB", "--currency", help="ISO 4217 currency of every amount shown."),
    rate: list[str] = typer.Option([], "--rate", help="CODE=NUMBER: units of --currency per unit of CODE."),
    wtp: list[float] = typer.Option([], "--wtp", help="Willingness to pay per QALY (repeatable)."),
    horizon: int = typer.Option(None, "--horizon", help="Years (default: lifetime, to age 100)."),
    psa_samples: int = typer.Option(200, "--psa", help="PSA samples (0: none)."),
    psa_patients: int = typer.Option(500, "--psa-patients", help="Patients per PSA sample."),
    patients: int = typer.Option(10_000, "--patients", help="Patients in the base-case microsimulation."),
    scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. tcp://host:8786."),
    workers: int = typer.Option(None, "--workers", help="Local Dask workers when no --scheduler (default 2)."),
    country: str = typer.Option("RUS", "--country", help="ISO3 code of the life table."),
    life_table: Path = typer.Option(None, "--life-table", help="CSV life table for another country."),
    perspective: str = typer.Option("payer", "--perspective", help="patient, payer or societal."),
    release_id: str = typer.Option(None, "--release", help="Data release whose model to use (default: latest published)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (results are reproducible for a seed)."),
    json_out: Path = typer.Option(None, "--json", help="Also write everything as JSON to this file."),
    report: Path = typer.Option(None, "--report", help="Also write a standalone HTML report (FILE.html)."),
) -> None:
    """What aHSCT could mean for one person: prediction, costs and QALYs against a DMT, uncertainty. Not medical advice."""
    import openhsct
    from openhsct.decision.aid import check_options, decision_aid, parse_rates
    from openhsct.decision.parameters import load_parameters
    from openhsct.decision.prediction import validate_person

    person = validate_person({
        "age_years": age, "sex": sex, "phenotype": phenotype, "edss": edss, "disease_duration_years": duration,
        "relapses_12m": relapses, "gd_lesions": gd, "prior_dmts": prior_dmts,
    })
    rates = parse_rates(rate)
    for name, value in (("--psa", psa_samples), ("--psa-patients", psa_patients)):
        if value < 0:
            raise OpenHSCTError(f"{name} {value}: must be >= 0", exit_code=2)
    if patients < 1 or (psa_samples and psa_patients < 1):
        raise OpenHSCTError("--patients and --psa-patients must be at least 1", exit_code=2)
    params = load_parameters()
    check_options(params, comparator=comparator, currency=currency, price=price, wtp=wtp)
    django()
    stored, unavailable, release = _release_model(release_id)
    console.print(f"Prediction model of data release {release.pk} (data as of {release.cut}).", highlight=False)
    with console.status("Simulating aHSCT and the DMT (and the PSA)…"):
        aid = decision_aid(
            person, None if stored is None else stored.model, params, comparator=comparator, price=price, currency=currency, rates=rates,
            horizon_years=horizon, n_patients=patients, psa_samples=psa_samples, psa_patients=psa_patients,
            wtp=wtp, scheduler=scheduler, psa_options={"n_workers": workers} if workers else None, seed=seed,
            unavailable=unavailable, country=country, life_table=life_table, perspective=perspective,
        )
    _print_prediction(aid)
    _print_totals(aid)
    _print_uncertainty(aid)
    _print_unverified(aid)
    console.print(Panel(openhsct.NOT_MEDICAL_ADVICE, title="Not medical advice", border_style="red"), highlight=False)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(aid.to_dict(), indent=1, allow_nan=False), encoding="utf-8")
        console.print(f"Wrote {json_out}")
    if report:
        from openhsct.portal.decide import decide_report_html

        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(decide_report_html(aid, stored), encoding="utf-8")
        console.print(f"Wrote {report}")


def register(app: typer.Typer) -> None:
    app.command("decide")(decide)
