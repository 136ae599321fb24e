"""Registry commands: synth, import, export, dictionary, users."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from openhsct.commands._common import console, django, table_progress
from openhsct.errors import OpenHSCTError


def synth(
    out: Path = typer.Option(..., "--out", help="Folder to write the bundle into (created if missing)."),
    centres: int = typer.Option(3, "--centres", min=1, max=50, help="Number of fictional centres."),
    patients: int = typer.Option(600, "--patients", min=1, help="Number of patients in all."),
    seed: int = typer.Option(2026, "--seed", help="Random seed: the same seed gives the same bundle."),
    fmt: str = typer.Option("csv", "--format", help="csv or parquet."),
    comparators: int = typer.Option(0, "--comparators", min=0, help="Also add this many DMT-treated comparators."),
) -> None:
    """Write a SYNTHETIC multi-centre cohort (fictional centres) in the exchange format."""
    from openhsct.registry.synth import generate, write_bundle
    from openhsct.registry.synth_comparators import add_comparators

    with console.status(f"Generating {patients:,} synthetic patients…"):
        tables = add_comparators(generate(centres=centres, patients=patients, seed=seed), comparators, seed)
        write_bundle(tables, out, fmt=fmt)
    _counts_table("Synthetic bundle written to " + str(out), {k: len(v) for k, v in tables.items()})


def import_(
    bundle: Path = typer.Argument(..., help="Folder of <table>.csv / .parquet files (see docs/data-dictionary.md)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate only; write nothing."),
    fmt: str = typer.Option("bundle", "--format", help="bundle, fhir (folder of Bundle JSON) or redcap (records CSV)."),
    wait: float = typer.Option(None, "--wait", min=0, help="Seconds to wait for another import into the same "
                               "database to finish (default: OPENHSCT_IMPORT_WAIT or 300); then exit 2."),
) -> None:
    """Validate a bundle and import it in one transaction: all of it, or nothing (exit 2 on errors).

    Imports into one database run one at a time (a lock, held from creating the tables to the commit).
    """
    from openhsct.commands.interop import IMPORT_FORMATS, check_format, import_other

    check_format(fmt, IMPORT_FORMATS)
    if not bundle.exists():
        raise OpenHSCTError(f"{bundle}: no such folder")
    django(migrate=False)
    from django.core.management import call_command
    from django.db import OperationalError

    from openhsct.registry.audit import cli_actor
    from openhsct.registry.exchange import tables
    from openhsct.registry.importer import import_bundle
    from openhsct.registry.locks import import_lock, is_locked_error

    try:
        with import_lock(wait):
            call_command("migrate", verbosity=0, interactive=False)  # a first import creates the tables
            if fmt != "bundle":
                report = import_other(fmt, bundle, dry_run)
            else:
                with table_progress(f"Importing {bundle}", len(tables())) as advance:
                    report = import_bundle(bundle, actor=cli_actor(), progress=advance, dry_run=dry_run)
    except OperationalError as exc:
        if not is_locked_error(exc):
            raise
        raise OpenHSCTError("The database stayed busy with another writer for longer than its busy timeout; "
                            "nothing was imported. Run the import again.", exit_code=2) from None
    t = Table(title="Valid: nothing written (dry run)" if dry_run else "Imported")
    for col in ("table", "created", "updated", "unchanged"):
        t.add_column(col, justify="right" if col != "table" else "left")
    for name in tables():
        t.add_row(name, f"{report.created.get(name, 0):,}", f"{report.updated.get(name, 0):,}",
                  f"{report.unchanged.get(name, 0):,}")
    console.print(t)


def export(
    out: Path = typer.Option(..., "--out", help="Folder to write the bundle into."),
    fmt: str = typer.Option("csv", "--format", help="csv, parquet, fhir (folder), ebmt or redcap (a CSV file)."),
    centre: list[str] = typer.Option(None, "--centre", help="Only this centre (repeatable)."),
    deidentified: bool = typer.Option(False, "--deidentified", help="A research export: free text dropped, "
                                      "codes as HMAC-SHA256 (key in OPENHSCT_HMAC_KEY), dates as days from day 0, "
                                      "k stated in its README.md (CSV only)."),
) -> None:
    """Export the registry as a bundle; the export is recorded in the audit history."""
    from openhsct.commands.interop import EXPORT_FORMATS, check_format, export_other

    check_format(fmt, EXPORT_FORMATS)
    if deidentified:
        from openhsct.registry.deidentify import hmac_key

        if fmt != "csv":
            raise OpenHSCTError("--deidentified writes CSV only: leave out --format", exit_code=2)
        hmac_key()  # a missing key stops before anything is read
        django()
        from openhsct.registry.audit import cli_actor
        from openhsct.registry.deidentify import export_deidentified

        counts = export_deidentified(out, centre_codes=centre or None, actor=cli_actor())
        k = counts.pop("k")
        return _counts_table(f"De-identified export written to {out} (k = {k})", counts)
    django()
    if fmt not in {"csv", "parquet"}:
        return export_other(fmt, out, centre or None)
    from openhsct.registry.audit import cli_actor
    from openhsct.registry.exchange import tables
    from openhsct.registry.exporter import export_bundle

    with table_progress(f"Exporting to {out}", len(tables())) as advance:
        counts = export_bundle(out, fmt=fmt, centre_codes=centre or None, actor=cli_actor(), progress=advance)
    _counts_table(f"Exported to {out}", counts)


def dictionary(
    out: Path = typer.Option(Path("docs/data-dictionary.md"), "--out", help="Markdown file to write."),
) -> None:
    """Write the data dictionary of the exchange format, generated from the models."""
    django(migrate=False)
    from openhsct.outcomes.instruments import instruments_markdown
    from openhsct.registry.exchange import data_dictionary_markdown

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(data_dictionary_markdown() + "\n" + instruments_markdown() + "\n", encoding="utf-8")
    console.print(f"Wrote {out}")


def add_user(
    username: str = typer.Argument(...),
    role: str = typer.Option(..., "--role", help="staff, monitor or admin."),
    centre: str = typer.Option(None, "--centre", help="Centre code (staff only)."),
    password: str = typer.Option(..., "--password", prompt=True, hide_input=True, confirmation_prompt=True),
) -> None:
    """Create or update a user with a role: centre staff, monitor (read-only) or admin. The password needs
    at least 12 characters and must not be a common one."""
    django()
    from openhsct.registry.users import ensure_user
    from openhsct.site.passwords import require_good_password

    require_good_password(password, username)
    ensure_user(username, password, role=role, centre_code=centre)
    console.print(f"User {username} ({role}{' ' + centre if centre else ''}) is ready.")


def _counts_table(title: str, counts: dict[str, int]) -> None:
    t = Table(title=title)
    t.add_column("table")
    t.add_column("rows", justify="right")
    for name, n in counts.items():
        t.add_row(name, f"{n:,}")
    console.print(t)


def register(app: typer.Typer) -> None:
    app.command("synth")(synth)
    app.command("import")(import_)
    app.command("export")(export)
    app.command("dictionary")(dictionary)
    app.command("add-user")(add_user)
