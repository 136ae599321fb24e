"""``openhsct outcomes``: a centre's (or every centre's) outcome summary, as tables and as JSON."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from openhsct.commands._common import console, django
from openhsct.errors import OpenHSCTError


class TrmDefinition(StrEnum):
    day100 = "day100"
    attributed = "attributed"


class EndpointDefinition(StrEnum):
    registry = "registry"
    mist = "mist"
    openhsct_01 = "openhsct-0.1"


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _ci(block: dict) -> str:
    if block.get("estimate") is None:
        return "—"
    return f"{_pct(block['estimate'])} ({_pct(block['lower'])}–{_pct(block['upper'])})"


def _complement(a: dict) -> dict:
    """1 - S(t) with its interval: the share of patients with the event by t."""
    if a.get("estimate") is None:
        return a
    return {"estimate": 1 - a["estimate"], "lower": 1 - a["upper"], "upper": 1 - a["lower"]}


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
        incidence = block.get("kind") == "incidence"
        t.add_row(
            block["label"] + (" (share with it)" if incidence else ""),
            f"{block['n']:,}",
            f"{block['events']:,}",
            *[f"{_ci(_complement(a) if incidence else a)} [{a['n_risk']:,}]" for a in block["at"]],
        )
    console.print(t)
    t = Table(title="Mortality, NEDA-3, grade ≥3 adverse events, EDSS change, costs (95% CI)")
    for col in ("measure", "n", "value"):
        t.add_column(col, justify="left" if col == "measure" else "right")
    for key, trm in s["trm_family"].items():
        if key == "procedure_itt":
            t.add_row(trm["label"], f"{trm['n']:,}",
                      f"{_ci(trm)} [{trm['events']} deaths, {trm['before_day0']} before day 0]")
            continue
        at = trm["day100"] if key == "day100" else trm["year1"]
        t.add_row(trm["label"], f"{trm['n']:,}", f"{_ci(at)} [{at['events']} deaths; {at['n_risk']:,} at risk]")
    for r in s["neda3"]:
        t.add_row(f"NEDA-3 at {r['years']} years (Kaplan–Meier)", f"{r['n']:,}", f"{_ci(r)} [{r['n_risk']:,}]")
        c = r["crude"]
        t.add_row(f"NEDA-3 at {r['years']} years (crude, evaluable patients)", f"{c['n_evaluable']:,}", _ci(c))
    g = s["grade3_events"]
    t.add_row("Patients with a grade ≥3 adverse event", f"{g['n']:,}", _ci(g))
    for r in s["edss_change"]:
        value = (
            "—"
            if r["mean_change"] is None
            else (
                f"mean {r['mean_change']:+.2f}; confirmed improvement {r['improved']}, stable {r['stable']}, "
                f"confirmed worsening {r['worse']}"
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
    trm_definition: TrmDefinition = typer.Option(
        TrmDefinition.day100, "--trm",
        help="Headline mortality: day100 = any death by day 100 (as published series); attributed = deaths "
        "attributed to the transplant. All three measures are always printed.",
    ),
    definition: EndpointDefinition = typer.Option(
        EndpointDefinition.registry, "--definition",
        help="Disability endpoints: registry (default), mist (worsening in the first 3 months ignored) or "
        "openhsct-0.1 (the earlier definition, as a sensitivity analysis). See docs/endpoints.md.",
    ),
) -> None:
    """Outcome summary of a centre (survival endpoints, TRM, NEDA-3, EDSS change, costs). Not medical advice."""
    from openhsct.outcomes.currency import conversion_rates

    if bool(centre) == all_centres:
        raise OpenHSCTError("give either --centre CODE or --all", exit_code=2)
    conversion_rates(currency)
    when = _as_of(as_of)
    django()
    from openhsct.outcomes import summary as S
    from openhsct.registry.consent import publishable
    from openhsct.registry.exporter import registry_frames

    with console.status("Reading the registry…"):
        consent = publishable(registry_frames(typed=True))
        tables = consent.tables
    if consent.n_excluded:
        console.print(
            f"{consent.n_excluded:,} patients left out: consent withdrawn, not given or not for publication "
            f"({', '.join(f'{c}: {k}' for c, k in consent.excluded.items() if k)})."
        )
    options = {"currency": currency.upper(), "trm_definition": trm_definition.value,
               "definition": definition.value}
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
            comparison = S.centre_comparison(
                tables, as_of=when, trm_definition=trm_definition.value, definition=definition.value
            )
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
