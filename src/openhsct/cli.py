"""The ``openhsct`` command: one Typer app; each command is a thin call into a package.

Commands live in :mod:`openhsct.commands` (one module per domain, each with ``register(app)``).
Every :class:`~openhsct.errors.OpenHSCTError` becomes a Rich message and its exit code here, in one
place; a traceback is shown only when ``OPENHSCT_DEBUG=1``.
"""

from __future__ import annotations

import functools
import importlib
import os

import typer
from rich.console import Console
from rich.markup import escape

from openhsct.errors import OpenHSCTError

COMMAND_MODULES = (
    "registry", "site", "outcomes", "progression", "evidence", "portal", "decide", "comparative", "interop",
    "release", "security", "backup", "audit",
)

app = typer.Typer(
    name="openhsct",
    help=(
        "OpenHSCT: a registry, outcomes engine and evidence base for autologous haematopoietic stem "
        "cell transplantation (aHSCT) in multiple sclerosis. Not medical advice."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True, emoji=False)  # ":100:" in a message stays text


@app.callback()
def _global_options(
    db: str = typer.Option(
        None, "--db", envvar="OPENHSCT_DATABASE_URL", show_envvar=True,
        help="Registry database URL: sqlite:///path/file.sqlite3 (default: ./openhsct-data/openhsct.sqlite3) "
        "or postgresql://user@host:5432/name.",
    ),
) -> None:
    """OpenHSCT command line. Not medical advice."""
    if db:
        os.environ["OPENHSCT_DATABASE_URL"] = db


def _guarded(callback):
    """Wrap a command so known errors print as messages and exit with their code, never a traceback."""

    @functools.wraps(callback)
    def wrapper(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except OpenHSCTError as exc:
            if os.environ.get("OPENHSCT_DEBUG") == "1":
                raise
            report_error(exc)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("OPENHSCT_DEBUG") == "1" or type(exc).__name__ in {"BadParameter", "UsageError"}:
                raise
            err_console.print(
                f"[bold red]Internal error:[/] {type(exc).__name__}: {escape(str(exc)[:2000])}\n"
                "This is a bug in OpenHSCT. Run again with OPENHSCT_DEBUG=1 for the traceback.",
                highlight=False,
            )
            raise typer.Exit(70) from None

    return wrapper


def _guard_all(typer_app: typer.Typer) -> None:
    for info in typer_app.registered_commands:
        if info.callback is not None and not getattr(info.callback, "__wrapped__", None):
            info.callback = _guarded(info.callback)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _guard_all(group.typer_instance)


def report_error(exc: OpenHSCTError) -> None:
    """Print an OpenHSCT error, and each of its detail lines, to stderr."""
    err_console.print(f"[bold red]Error:[/] {escape(exc.message)}", highlight=False)
    for line in exc.details:  # user text: never read as Rich markup
        err_console.print(f"  {line}", highlight=False, soft_wrap=True, markup=False)


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"openhsct.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"openhsct.commands.{name}":
                continue
            raise
        module.register(app)
    _guard_all(app)


_register_commands()


def main() -> None:
    """Entry point of the ``openhsct`` script."""
    app()


if __name__ == "__main__":
    main()
