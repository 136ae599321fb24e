"""``openhsct outcomes``: a centre's (or every centre's) outcome summary, as tables and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from openhsct.commands._common import console, django
from openhsct.errors import OpenHSCTError


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _ci(block: dict) -> str:
    if block.get("estimate") is None:
        return "—"
    return f"{_pct(block['estimate'])} ({_pct(block['lower'])}–{_pct(block['upper'])})"


def _print_summary(s: dict) -> None:
    c = s["centre"]
    f = s["followup"]
    title = f"{c['name']} ({c['centre_code']})" + (" — SYNTHETIC" if c.get("synthetic") else "")
    console.print(
        f"[bold]{title}[/]  data as of {s['as_of']}: {s['n_patients']:,} transplanted; "
        f"median follow-up {f['median_followup_years'] or 0:.1f} y; "
        f"seen in the last year {f['seen']:,}/{f['alive']:,} alive ({_pct(f['share'])})",
        highlight=False,
    )
    t = Table(title="Endpoints (Kaplan–Meier, 95% CI; n at risk)")
    for col in ("endpoint", "n", "events", "1 year", "2 years", "5 years", "10 years"):
        t.add_column(col, justify="left" if col == "endpoint" else "right")
    for block in s["endpoints"].values():
        t.add_row(
            block["label"],
            f"{block['n']:,}",
            f"{block['events']:,}",
            *[f"{_ci(a)} [{a['n_risk']:,}]" for a in block["at"]],
        )
    console.print(t)
    t = Table(title="TRM, NEDA-3, grade ≥3 adverse events, EDSS change, costs (95% CI)")
    for col in ("measure", "n", "value"):
        t.add_column(col, justify="left" if col == "measure" else "right")
    trm = s["trm"]
    for key, label in (("day100", "day 100"), ("year1", "1 year")):
        t.add_row(
            f"Transplant-related mortality at {label} ({trm['definition_key']})",
            f"{trm['n']:,}",
            f"{_ci(trm[key])} [{trm[key]['events']} deaths; {trm[key]['n_risk']:,} at risk]",
        )
    for r in s["neda3"]:
        t.add_row(f"NEDA-3 at {r['years']} years (evaluable)", f"{r['n_evaluable']:,}", _ci(r))
    g = s["grade3_events"]
    t.add_row("Patients with a grade ≥3 adverse event", f"{g['n']:,}", _ci(g))
    for r in s["edss_change"]:
        value = (
            "—"
            if r["mean_change"] is None
            else (
                f"mean {r['mean_change']:+.2f}; improved {r['improved']}, stable {r['stable']}, worse {r['worse']}"
            )
        )
        t.add_row(f"EDSS change at {r['years']} year{'s' if r['years'] > 1 else ''}", f"{r['n']:,}", value)
    costs = s["costs"]
    if costs["median"] is not None:
        t.add_row(
            f"Cost per patient ({costs['currency']}, median [IQR])",
            f"{costs['n_patients']:,}",
            f"{costs['median']:,.0f} [{costs['q1']:,.0f}–{costs['q3']:,.0f}]",
        )
    console.print(t)


def _print_comparison(frame) -> None:
    t = Table(title="Centres: day-100 TRM observed/expected and 5-year PFS")
    for col in ("centre", "n", "TRM O", "TRM E", "(O+2)/(E+2)", "PFS 5 y", "seen"):
        t.add_column(col, justify="left" if col == "centre" else "right")
    for r in frame.itertuples():
        t.add_row(
            r.centre_code,
            f"{r.n:,}",
            f"{r.trm_events_day100}",
            f"{r.trm_expected_day100:.1f}",
            f"{r.trm_shrunk_ratio:.2f}",
            _pct(None if r.pfs_5y != r.pfs_5y else r.pfs_5y),
            _pct(None if r.followup_share != r.followup_share else r.followup_share),
        )
    console.print(t)


def _as_of(value: str | None):
    if value is None:
        return None
    import pandas as pd

    try:
        return pd.Timestamp(value)
    except ValueError:
        raise OpenHSCTError(f"--as-of {value!r}: not a date (use YYYY-MM-DD)", exit_code=2) from None


def outcomes(
    centre: str = typer.Option(None, "--centre", help="Centre code, e.g. NRT."),
    all_centres: bool = typer.Option(
        False, "--all", help="Every centre, the all-centre reference and comparison."
    ),
    json_out: Path = typer.Option(None, "--json", help="Also write the summary as JSON to this file."),
    currency: str = typer.Option("EUR", "--currency", help="Currency for costs (fixed documented rates)."),
    as_of: str = typer.Option(None, "--as-of", help="Data-as-of date YYYY-MM-DD (default: latest record)."),
    trm_definition: str = typer.Option("attributed", "--trm", help="TRM definition: attributed or day100."),
) -> None:
    """Outcome summary of a centre (survival endpoints, TRM, NEDA-3, EDSS change, costs). Not medical advice."""
    from openhsct.outcomes.currency import conversion_rates
    from openhsct.outcomes.endpoints import TRM_DEFINITIONS

    if bool(centre) == all_centres:
        raise OpenHSCTError("give either --centre CODE or --all", exit_code=2)
    if trm_definition not in TRM_DEFINITIONS:
        raise OpenHSCTError(f"--trm {trm_definition!r}: use {' or '.join(TRM_DEFINITIONS)}", exit_code=2)
    conversion_rates(currency)
    when = _as_of(as_of)
    django()
    from openhsct.outcomes import summary as S
    from openhsct.registry.exporter import registry_frames

    with console.status("Reading the registry…"):
        tables = registry_frames(typed=True)
    options = {"currency": currency.upper(), "trm_definition": trm_definition}
    if centre:
        with console.status(f"Summarising {centre}…"):
            result = S.centre_summary(tables, centre, as_of=when, **options)
        _print_summary(result)
    else:
        if not len(tables["centres"]):
            raise OpenHSCTError("the registry has no centres: import a bundle first", exit_code=2)
        with console.status("Summarising every centre…"):
            reference = S.all_centres_summary(tables, as_of=when, **options)
            codes = sorted(tables["centres"]["centre_code"].astype(str))
            per_centre = {code: S.centre_summary(tables, code, as_of=when, **options) for code in codes}
            comparison = S.centre_comparison(tables, as_of=when, trm_definition=trm_definition)
        _print_summary(reference)
        _print_comparison(comparison)
        result = {
            "all_centres": reference,
            "centres": per_centre,
            "comparison": json.loads(comparison.to_json(orient="records")),
            "comparison_model": comparison.attrs.get("model"),
        }
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=1, allow_nan=False), encoding="utf-8")
        console.print(f"Wrote {json_out}")


def register(app: typer.Typer) -> None:
    app.command("outcomes")(outcomes)
