"""``openhsct release``: draft, list, publish and withdraw public data releases."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

import typer

from openhsct.commands._common import console, django
from openhsct.errors import OpenHSCTError


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise OpenHSCTError(f"--cut must be a date as YYYY-MM-DD (got {text!r})") from None


@contextmanager
def _client(scheduler: str | None, workers: int):
    """A Dask client for ``--scheduler`` (``local`` starts a local cluster of ``workers``), or None."""
    if not scheduler:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise OpenHSCTError("--scheduler needs dask[distributed]: pip install 'openhsct[scale]'") from None
    if scheduler == "local":
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout=10)
    except OSError as exc:
        raise OpenHSCTError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    with client:
        yield client


def draft(
    cut: str = typer.Option(..., "--cut", help="Data cut YYYY-MM-DD: everything dated on or before it."),
    scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler tcp://HOST:PORT, or 'local'."),
    workers: int = typer.Option(2, "--workers", min=1, help="Workers of a 'local' Dask cluster."),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Render each centre's PDF report into the release."),
    notes: str = typer.Option("", "--notes", help="What changed since the previous release (public)."),
    decision_bootstrap: int = typer.Option(200, "--decision-bootstrap", min=0,
                                           help="Bootstrap resamples validating the decision aid's model."),
) -> None:
    """Build a DRAFT release from the registry at a data cut; prints its id alone on the last line."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from openhsct.registry.audit import cli_actor
    from openhsct.releases.build import BuildSettings
    from openhsct.releases.store import release_draft

    cut_date = _date(cut)
    if scheduler and scheduler != "local" and not scheduler.startswith("tcp://"):
        raise OpenHSCTError(f"--scheduler must be tcp://HOST:PORT or local (got {scheduler!r})")
    django()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[part]}"),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task(f"Release cut {cut_date}", total=None, part="")

        def tick(name: str) -> None:
            bar.update(task, advance=1, part=name)

        with _client(scheduler, workers) as client:
            settings = BuildSettings(pdf=pdf, decision_bootstrap=decision_bootstrap)
            release = release_draft(cut_date, actor=cli_actor(), settings=settings, client=client,
                                    progress=tick, notes=notes)
        bar.update(task, total=bar.tasks[0].completed)
    console.print(f"Draft release {release.id}: cut {release.cut}, {len(release.manifest['parts'])} parts. "
                  f"Preview in /clinic/, then `openhsct release publish {release.id}`.", highlight=False)
    print(release.id)


def list_releases() -> None:
    """List releases: id, cut, state, published date."""
    from rich.table import Table

    django()
    from openhsct.releases.models import Release

    table = Table("id", "cut", "state", "published", "flags")
    for r in Release.objects.order_by("-cut", "-created_at"):
        table.add_row(r.id, r.cut.isoformat(), r.state, f"{r.published_at:%Y-%m-%d}" if r.published_at else "",
                      str(r.flags.count()))
    console.print(table)


def publish(release_id: str = typer.Argument(..., help="The release id (or a unique prefix).")) -> None:
    """Publish a draft release: the public site serves it from now on."""
    from openhsct.registry.audit import cli_actor
    from openhsct.releases.store import get_release, release_publish

    django()
    release = release_publish(get_release(release_id), actor=cli_actor())
    console.print(f"Published {release.id} (data cut {release.cut}).", highlight=False)


def withdraw(
    release_id: str = typer.Argument(..., help="The release id (or a unique prefix)."),
    erratum: str = typer.Option(..., "--erratum", help="Public note: what was wrong, where the correction is."),
) -> None:
    """Withdraw a published release, with a public erratum."""
    from openhsct.registry.audit import cli_actor
    from openhsct.releases.store import get_release, release_withdraw

    django()
    release = release_withdraw(get_release(release_id), actor=cli_actor(), erratum=erratum)
    console.print(f"Withdrew {release.id}; erratum shown on /releases/.", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``release`` command group to the main app."""
    sub = typer.Typer(name="release", help="Public data releases: draft, list, publish, withdraw.",
                      no_args_is_help=True)
    sub.command("draft")(draft)
    sub.command("list")(list_releases)
    sub.command("publish")(publish)
    sub.command("withdraw")(withdraw)
    app.add_typer(sub, name="release")
