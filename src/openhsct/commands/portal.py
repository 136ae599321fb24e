"""``openhsct report``: a centre's public report (the same content as its page) as PDF or HTML."""

from __future__ import annotations

from pathlib import Path

import typer

from openhsct.commands._common import console, django
from openhsct.errors import OpenHSCTError


def report(
    centre: str = typer.Option(..., "--centre", help="Centre code, e.g. SYN01."),
    out: Path = typer.Option(..., "--out", help="File to write: .pdf or .html."),
    release_id: str = typer.Option(None, "--release", help="Release id (default: the latest published)."),
) -> None:
    """Write a centre's public report, as published in a data release, as PDF or HTML."""
    kind = out.suffix.lower().lstrip(".")
    if kind not in ("pdf", "html"):
        raise OpenHSCTError(f"{out}: the report is written as .pdf or .html", exit_code=2)
    django()
    from openhsct.portal import report as portal_report
    from openhsct.releases.store import get_release, latest_published

    release = get_release(release_id) if release_id else latest_published()
    if release is None:
        raise OpenHSCTError("no data release is published yet: `openhsct release draft --cut DATE`", exit_code=2)
    page = portal_report.centre_page(release, centre)
    if page is None:
        known = ", ".join(c["centre_code"] for c in portal_report.published.part(release, "centres.json")["centres"])
        raise OpenHSCTError(f"no centre {centre!r} in release {release.pk} (known: {known})", exit_code=2)
    with console.status(f"Writing the report for {centre}…"):
        html = portal_report.report_html(portal_report.report_context(release, page))
        out.parent.mkdir(parents=True, exist_ok=True)
        if kind == "pdf":
            out.write_bytes(portal_report.report_pdf(release, centre, lambda: html))
        else:
            out.write_text(html, encoding="utf-8")
    console.print(f"Report for [bold]{centre}[/] written to {out} ({out.stat().st_size:,} bytes).")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
