"""Exchange with the field's formats: FHIR R4 bundles, REDCap projects, the EBMT-style summary.

``openhsct export --format fhir|ebmt|redcap`` and ``openhsct import --format fhir|redcap`` call
:func:`export_other` / :func:`import_other`; ``openhsct redcap dictionary`` writes a REDCap data dictionary.
"""

from __future__ import annotations

from pathlib import Path

import typer

from openhsct.commands._common import console, django, table_progress
from openhsct.errors import OpenHSCTError

EXPORT_FORMATS = ("csv", "parquet", "fhir", "ebmt", "redcap")
IMPORT_FORMATS = ("bundle", "fhir", "redcap")


def export_other(fmt: str, out: Path, centre: list[str] | None) -> None:
    """Export in one of the exchange formats other than the bundle (after Django is set up)."""
    from openhsct.registry.audit import cli_actor

    if fmt == "fhir":
        counts = export_fhir(out, centre)
        console.print(f"Wrote {counts['bundles']:,} FHIR R4 transaction bundles "
                      f"({counts['resources']:,} resources) to {out}")
    elif fmt == "ebmt":
        from openhsct.interop.ebmt import export_ebmt
        from openhsct.registry.audit import record_export

        result = export_ebmt(out, centre_codes=centre)
        record_export(actor=cli_actor(), destination=str(out), fmt="ebmt", centre_codes=centre,
                      counts={"transplants": len(result.rows)})
        console.print(f"Wrote {len(result.rows):,} transplants to {out} (EBMT-style summary, not certified by "
                      f"EBMT); {result.excluded:,} left out: consent does not cover sharing.")
    elif fmt == "redcap":
        from openhsct.interop.redcap import export_records
        from openhsct.registry.audit import record_export

        rows = export_records(out, centre_codes=centre)
        record_export(actor=cli_actor(), destination=str(out), fmt="redcap", centre_codes=centre,
                      counts={"rows": rows})
        console.print(f"Wrote {rows:,} REDCap record rows to {out}")


def export_fhir(out: Path, centre: list[str] | None) -> dict:
    from openhsct.interop.fhir import export_fhir as run
    from openhsct.registry.audit import cli_actor

    with console.status("Writing FHIR bundles…"):
        return run(out, centre_codes=centre, actor=cli_actor())


def check_format(fmt: str, allowed: tuple[str, ...]) -> None:
    """Refuse an unknown ``--format`` before any work starts."""
    if fmt not in allowed:
        raise OpenHSCTError(f"--format {fmt!r}: use one of {', '.join(allowed)}")


def import_other(fmt: str, source: Path, dry_run: bool):
    """Import FHIR bundles or a REDCap records CSV; returns the import report."""
    from openhsct.registry.audit import cli_actor
    from openhsct.registry.exchange import tables

    with table_progress(f"Importing {source} ({fmt})", len(tables())) as advance:
        if fmt == "fhir":
            from openhsct.interop.fhir import import_fhir

            return import_fhir(source, actor=cli_actor(), dry_run=dry_run, progress=advance)
        from openhsct.interop.redcap import import_records

        return import_records(source, actor=cli_actor(), dry_run=dry_run, progress=advance)


def redcap_dictionary(
    out: Path = typer.Option(..., "--out", help="CSV file to write (REDCap's data dictionary format)."),
) -> None:
    """Write a REDCap data dictionary that mirrors the registry (one instrument per table)."""
    django(migrate=False)
    from openhsct.interop.redcap import write_dictionary

    n = write_dictionary(out)
    console.print(f"Wrote {out}: {n} fields. Upload it in REDCap (Project Setup → Data Dictionary), then enable "
                  "repeating instruments for every form except patients, centres, conditioning, transplants "
                  "and deaths.")


def register(app: typer.Typer) -> None:
    sub = typer.Typer(name="redcap", help="REDCap: data dictionary for a matching project.", no_args_is_help=True)
    sub.command("dictionary")(redcap_dictionary)
    app.add_typer(sub, name="redcap")
