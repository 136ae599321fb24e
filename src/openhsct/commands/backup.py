"""``openhsct backup`` and ``openhsct restore``: one checked file holding the whole registry database."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from openhsct.commands._common import console, django


@contextmanager
def _steps() -> Iterator[tuple[Callable[[str], None], Callable[[str], None]]]:
    """A Rich progress display; yields (step, detail): ``step`` starts a new stage line, ``detail``
    shows what the current stage is working on."""
    with Progress(SpinnerColumn(finished_text="[green]✓"), TextColumn("{task.description}"),
                  TextColumn("[dim]{task.fields[detail]}"), TimeElapsedColumn(), console=console) as bar:
        current: list = []

        def finish() -> None:
            if current:
                bar.update(current[-1], total=1, completed=1, detail="")

        def step(text: str) -> None:
            finish()
            current.append(bar.add_task(text, total=None, detail=""))

        def detail(text: str) -> None:
            if current:
                bar.update(current[-1], detail=text)

        yield step, detail
        finish()


def backup(
    out: Path = typer.Option(..., "--out", help="The backup file to create (never overwritten; mode 0600)."),
) -> None:
    """Back up the registry database into one file: a consistent copy plus a manifest to check it by.

    SQLite: the online backup API (safe while the registry is in use). PostgreSQL: pg_dump -Fc.
    See docs/backup.md for encrypting backups at rest.
    """
    from openhsct.registry.backup import create_backup, database_from_url

    db = database_from_url(None)
    django(migrate=False)
    with _steps() as (step, detail):
        manifest = create_backup(out, db, step, detail)
    _summary(f"Backup written to {out}", manifest)
    console.print(f"[dim]{out.stat().st_size:,} bytes, mode 0600. Keep it encrypted at rest (docs/backup.md).")


def restore(
    file: Path = typer.Argument(..., help="A file written by openhsct backup."),
    db: str = typer.Option(None, "--db", help="Database to restore into (must be new and empty); "
                           "default: the registry database (--db before the command, OPENHSCT_DATABASE_URL)."),
) -> None:
    """Check a backup file, then restore it into an empty database (exit 2 and nothing written if the
    file is truncated, altered or does not match its manifest, or the target is not empty)."""
    from openhsct.registry.backup import (
        BackupError,
        database_from_url,
        read_verified,
        restore_postgres,
        restore_sqlite,
    )

    if db:
        os.environ["OPENHSCT_DATABASE_URL"] = db  # before anything reads the settings
    target = database_from_url(None)
    with tempfile.TemporaryDirectory(prefix="openhsct-restore-") as work, _steps() as (step, _detail):
        manifest, dump = read_verified(file, Path(work), step)
        if manifest["backend"] != target.vendor:
            raise BackupError(f"{file} is a {manifest['backend']} backup and the target is {target.vendor}: "
                              "restore into the same kind of database (move data between them with "
                              "openhsct export and import)")
        django(migrate=False)
        if target.vendor == "sqlite":
            restore_sqlite(manifest, dump, target, step)
        else:
            restore_postgres(manifest, dump, target, step)
    _summary(f"Restored {file} into {target.label}", manifest)
    console.print("[dim]Every table matches the backup's manifest. OpenHSCT applies any newer migrations "
                  "the next time a command opens this database.")


def _summary(title: str, manifest: dict) -> None:
    t = Table(title=title)
    t.add_column("")
    t.add_column("", justify="right")
    tables = manifest["tables"]
    t.add_row("backend", manifest["backend"])
    t.add_row("tables", f"{len(tables):,}")
    t.add_row("rows", f"{sum(v['rows'] for v in tables.values()):,}")
    t.add_row("migrations applied", f"{len(manifest['migrations']):,}")
    t.add_row("audit chain head", (manifest.get("audit_chain_head") or "(no audit chain)")[:16])
    t.add_row("taken at (UTC)", manifest["created_at"])
    console.print(t)


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)
