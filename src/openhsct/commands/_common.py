"""Small helpers shared by command modules: Django start-up, progress bars, console."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(emoji=False)  # file and column names are never emoji codes


def django(migrate: bool = True) -> None:
    """Start Django on the chosen database (``--db`` / ``OPENHSCT_DATABASE_URL``), migrating it."""
    from openhsct.site.django_setup import setup

    setup(migrate=migrate)


@contextmanager
def table_progress(description: str, total: int):
    """A Rich progress bar over tables; yields a ``(name, rows)`` callback that advances it."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[last]}"), TimeElapsedColumn(), console=console,
                  transient=False) as bar:
        task = bar.add_task(description, total=total, last="")

        def advance(name: str, rows: int) -> None:
            bar.update(task, advance=1, last=f"{name} ({rows:,} rows)")

        yield advance
