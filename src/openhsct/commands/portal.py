"""``openhsct report``: a centre's public report (the same content as its page) as PDF or HTML."""

from __future__ import annotations

from pathlib import Path

import typer

from openhsct.commands._common import console, django
from openhsct.errors import OpenHSCTError


def report(
    centre: str = typer.Option(..., "--centre", help="Centre code, e.g. SYN01."),
    out: Path = typer.Option(..., "--out", help="File to write: .pdf or .html."),
) -> None:
    """Write a centre's public report (numbers from fewer than 5 patients suppressed) as PDF or HTML."""
    kind = out.suffix.lower().lstrip(".")
    if kind not in ("pdf", "html"):
        raise OpenHSCTError(f"{out}: the report is written as .pdf or .html", exit_code=2)
    django()
    from openhsct.portal import report as portal_report
    from openhsct.registry.models import Centre

    if not Centre.objects.filter(centre_code=centre).exists():
        known = ", ".join(Centre.objects.values_list("centre_code", flat=True)) or "none"
        raise OpenHSCTError(f"no centre {centre!r} in the registry (known: {known})", exit_code=2)
    with console.status(f"Computing the report for {centre}…"):
        if kind == "pdf":
            data = portal_report.report_pdf(centre)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(portal_report.report_html(centre), encoding="utf-8")
    console.print(f"Report for [bold]{centre}[/] written to {out} ({out.stat().st_size:,} bytes).")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
