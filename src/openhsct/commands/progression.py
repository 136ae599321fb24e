"""``openhsct progression``: CDW / CDI / PIRA / RAW events from a visits CSV (and a relapses CSV)."""

from __future__ import annotations

from pathlib import Path

import typer

EVENT_CHOICES = ("firstCDW", "firstCDI", "first", "multiple", "firstPIRA", "firstRAW")
BASELINE_CHOICES = ("fixed", "roving", "roving_impr", "roving_wors")


def _read_csv(path: Path, required: dict[str, str]):
    """Read ``path``; check each row: ``id`` non-empty, ``date`` an ISO date, numbers numeric. Collects all."""
    import pandas as pd

    from openhsct.errors import ValidationError

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValidationError(f"Cannot read {path}", details=[f"{path}:1:-: readable CSV ({exc})"]) from None
    problems = [f"{path}:1:{col}: required column (missing)" for col in required if col not in frame.columns]
    if problems:
        raise ValidationError(f"{path} lacks required columns", details=problems)
    for col, kind in required.items():
        raw = frame[col].str.strip()
        if kind == "id":
            bad = raw == ""
            rule = "non-empty subject id"
        elif kind == "date":
            parsed = pd.to_datetime(raw, format="%Y-%m-%d", errors="coerce")
            bad = parsed.isna()
            frame[col] = parsed
            rule = "ISO date YYYY-MM-DD"
        else:
            number = pd.to_numeric(raw, errors="coerce")
            bad = number.isna() | (number < 0) | (number > 10)
            frame[col] = number
            rule = "EDSS between 0 and 10"
        for row in frame.index[bad][:50]:
            problems.append(f"{path}:{row + 2}:{col}: {rule} ({raw[row]!r})")
    if problems:
        raise ValidationError(f"{path} has {len(problems)} invalid value(s)", details=problems)
    return frame[list(required)]


def progression(
    visits: Path = typer.Argument(
        ..., help="Visits CSV with columns id,date,EDSS (ISO dates).", exists=False
    ),
    out: Path = typer.Option(..., "--out", help="Where to write the events CSV."),
    relapses: Path | None = typer.Option(None, "--relapses", help="Relapses CSV with columns id,date."),
    event: str = typer.Option(
        "firstCDW", "--event", help="firstCDW, firstCDI, first, multiple, firstPIRA, firstRAW."
    ),
    raw_pira: bool = typer.Option(False, "--raw-pira", help="Classify CDW as RAW / PIRA (RAW_PIRA=True)."),
    baseline: str = typer.Option("fixed", "--baseline", help="fixed, roving, roving_impr, roving_wors."),
    proceed_from: str = typer.Option("firstconf", "--proceed-from", help="firstconf or event."),
    sub_threshold_rebl: str = typer.Option(
        "none", "--sub-threshold-rebl", help="none, event, improvement, worsening."
    ),
    skip_local_extrema: str = typer.Option("none", "--skip-local-extrema", help="none, strict, all."),
    relapse_rebl: bool = typer.Option(False, "--relapse-rebl", help="Re-baseline after every relapse."),
    bl_geq: bool = typer.Option(
        False, "--bl-geq", help="A new baseline is never lower than the previous one."
    ),
    conf_days: list[float] = typer.Option(
        [84.0], "--conf-days", help="Confirmation period (days); repeatable."
    ),
    conf_tol_days: list[float] = typer.Option(
        [7.0, 730.5], "--conf-tol-days", help="Tolerance left [and right] (days); 'inf' for unbounded."
    ),
    require_sust_days: float = typer.Option(
        0, "--require-sust-days", help="Days a change must be sustained."
    ),
    check_intermediate: bool = typer.Option(
        True, "--check-intermediate/--no-check-intermediate", help="Confirm over all intermediate visits."
    ),
    relapse_to_bl: list[float] = typer.Option(
        [30.0], "--relapse-to-bl", help="Days from relapse for a baseline."
    ),
    relapse_to_event: list[float] = typer.Option(
        [0.0], "--relapse-to-event", help="Days from relapse for an event."
    ),
    relapse_to_conf: list[float] = typer.Option(
        [30.0], "--relapse-to-conf", help="Days from relapse to confirm."
    ),
    relapse_assoc: list[float] = typer.Option([90.0], "--relapse-assoc", help="Days from relapse for RAW."),
    impute_last_visit: float = typer.Option(
        0, "--impute-last-visit", help="0, 1, or days of follow-up N > 1."
    ),
) -> None:
    """Confirmed disability worsening/improvement events (pymsprog 1.0.7 rules) from EDSS visits and relapses."""
    from rich.console import Console
    from rich.table import Table

    from openhsct.outcomes.progression import msprog
    from openhsct.registry.csvsafe import write_csv

    visit_frame = _read_csv(visits, {"id": "id", "date": "date", "EDSS": "number"})
    relapse_frame = None if relapses is None else _read_csv(relapses, {"id": "id", "date": "date"})
    conf = [int(c) if float(c).is_integer() else c for c in conf_days]
    result = msprog(
        visit_frame,
        relapse=relapse_frame,
        event=event,
        RAW_PIRA=raw_pira,
        baseline=baseline,
        proceed_from=proceed_from,
        sub_threshold_rebl=sub_threshold_rebl,
        skip_local_extrema=skip_local_extrema,
        relapse_rebl=relapse_rebl,
        bl_geq=bl_geq,
        conf_days=conf[0] if len(conf) == 1 else conf,
        conf_tol_days=conf_tol_days,
        require_sust_days=require_sust_days,
        check_intermediate=check_intermediate,
        relapse_to_bl=relapse_to_bl,
        relapse_to_event=relapse_to_event,
        relapse_to_conf=relapse_to_conf,
        relapse_assoc=relapse_assoc,
        impute_last_visit=impute_last_visit,
    )
    # CDW_type exists when CDW are classified (--raw-pira, firstPIRA, firstRAW), as in pymsprog's table.
    has_type = "CDW_type" in result.results.columns
    columns = ["id", "nevent", "event_type"] + (["CDW_type"] if has_type else []) + ["time2event", "bl2event"]
    table = result.results.reindex(columns=columns)
    for col in ("time2event", "bl2event"):  # whole days from ISO dates: written as integers, blank when none
        table[col] = table[col].astype("Float64").astype("Int64")
    write_csv(out, table)  # the one CSV writer: ids from the input file are text, escaped where needed

    counts = result.results.loc[result.results["nevent"] > 0]
    kinds = counts["event_type"]
    if has_type:
        kinds = counts["CDW_type"].where(counts["CDW_type"].isin(["PIRA", "RAW"]), kinds)
    summary = Table(title=f"Disability events ({event}, baseline {baseline})")
    summary.add_column("")
    summary.add_column("n", justify="right")
    summary.add_row("subjects", str(len(result.summary)))
    summary.add_row("subjects with an event", str(int(counts["id"].nunique())))
    for kind, n in kinds.value_counts().sort_index().items():
        summary.add_row(f"{kind} events", str(int(n)))
    Console().print(summary)
    Console().print(f"Wrote {len(table)} rows to {out}")


def register(app: typer.Typer) -> None:
    app.command("progression")(progression)
