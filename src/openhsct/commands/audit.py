"""``openhsct audit``: check the audit trail's hash chain and export it for inspectors (docs/audit.md)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import typer

from openhsct.commands._common import console, django
from openhsct.errors import OpenHSCTError

EXPORT_COLUMNS = ("id", "at_utc", "actor", "action", "model", "object_pk", "centre_code", "patient_code", "via",
                  "request_id", "ip", "changes", "detail", "hash")


def _date(text: str | None, option: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise OpenHSCTError(f"{option} must be a date as YYYY-MM-DD (got {text!r})") from None


def _changes(before, after) -> str:
    """Returns ``field: before → after`` for each changed field, one per line."""
    from openhsct.registry.audit import diff

    def show(v) -> str:
        return "∅" if v is None else str(v)

    return "\n".join(f"{k}: {show(b)} → {show(a)}" for k, b, a in diff(before, after))


def verify() -> None:
    """Walk the audit chain from its first event; exit 0 "chain intact: N events", or exit 2 naming the
    first broken link."""
    from openhsct.registry.audit import verify_chain

    django()
    report = verify_chain()
    if report.broken_at is not None:
        raise OpenHSCTError(f"audit chain broken at event #{report.broken_at}: {report.problem}",
                            exit_code=2, details=[f"{report.events - 1} event(s) before it are intact"])
    console.print(f"chain intact: {report.events} events", highlight=False)


def export(
    out: Path = typer.Option(..., "--out", help="CSV file to write (UTF-8)."),
    date_from: str = typer.Option(None, "--from", help="First day, YYYY-MM-DD (UTC), inclusive."),
    date_to: str = typer.Option(None, "--to", help="Last day, YYYY-MM-DD (UTC), inclusive."),
) -> None:
    """Write the audit events of a period as a readable CSV (one row per event, per-field changes as
    "field: before → after"); the export itself is recorded in the trail."""
    from openhsct.registry.audit import cli_actor, record_export
    from openhsct.registry.models import AuditEvent

    start, end = _date(date_from, "--from"), _date(date_to, "--to")
    if start and end and end < start:
        raise OpenHSCTError(f"--to {end} is before --from {start}")
    django()
    qs = AuditEvent.objects.order_by("id")
    if start:
        qs = qs.filter(at__gte=dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC))
    if end:
        qs = qs.filter(at__lt=dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        n = _write(out, qs)
    except OSError as exc:
        raise OpenHSCTError(f"cannot write {out}: {exc.strerror or exc}") from None
    record_export(actor=cli_actor(), destination=str(out), fmt="audit-csv", centre_codes=[],
                  counts={"audit_events": n})
    console.print(f"{n} audit events written to {out}", highlight=False)


def _write(out: Path, qs) -> int:
    """Write ``qs`` (audit events) to ``out``; returns the number of rows. Streamed row by row (an
    inspector's export can hold millions of events), with the one CSV writer's escape of text cells."""
    from openhsct.registry.csvsafe import escape_cell

    n = 0
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(EXPORT_COLUMNS)
        for e in qs.iterator(chunk_size=2000):
            detail = json.dumps(e.detail, sort_keys=True, ensure_ascii=False) if e.detail is not None else ""
            text = [e.actor, e.action, e.model, e.object_pk, e.centre_code, e.patient_code, e.via,
                    e.request_id, e.ip, _changes(e.before, e.after), detail]
            writer.writerow([e.id, e.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
                             *(escape_cell(t) for t in text), e.hash])
            n += 1
    return n


def register(app: typer.Typer) -> None:
    """Add the ``audit`` command group to the main app."""
    sub = typer.Typer(name="audit", help="The audit trail: verify its hash chain, export it for inspectors.",
                      no_args_is_help=True)
    sub.command("verify")(verify)
    sub.command("export")(export)
    app.add_typer(sub, name="audit")
