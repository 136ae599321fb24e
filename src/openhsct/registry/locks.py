"""The import lock: two imports into one database run one after the other, never interleaved.

An import reads the registry to compare it with the bundle, then writes; a second import that wrote in
between would make the first one's comparison stale. So each import (and the ``migrate`` that creates the
tables on a first import) holds one lock per database for its whole run:

- SQLite: an exclusive ``flock`` on ``<database file>.import-lock`` beside the database file;
- PostgreSQL: the session advisory lock :data:`ADVISORY_KEY` (``pg_try_advisory_lock``).

Both locks belong to the process: the operating system (SQLite) or the server, when the connection ends
(PostgreSQL), releases them if the process is killed, so a killed import never blocks the next one.
A second import waits up to ``wait`` seconds (``--wait``, ``OPENHSCT_IMPORT_WAIT``, 300 by default),
then stops with a clear message and exit status 2.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from openhsct.errors import OpenHSCTError

ADVISORY_KEY = 0x6F68_7363_7469_6D70  # "ohsctimp": the one advisory lock key of OpenHSCT imports
DEFAULT_WAIT_S = 300.0
_POLL_S = 0.2
_held = 0  # how many nested import_lock blocks this process is inside (the lock is re-entrant)


class ImportLockTimeout(OpenHSCTError):
    """Another import held the database's import lock for longer than the caller would wait."""

    exit_code = 2


def default_wait() -> float:
    """Returns the wait in seconds from ``OPENHSCT_IMPORT_WAIT`` (default 300)."""
    raw = os.environ.get("OPENHSCT_IMPORT_WAIT", "")
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_WAIT_S
    except ValueError:
        raise OpenHSCTError(f"OPENHSCT_IMPORT_WAIT={raw!r} is not a number of seconds") from None


def sqlite_lock_path(database: str) -> Path | None:
    """Returns the lock file beside a SQLite database file, or None for an in-memory database."""
    if not database or database == ":memory:" or database.startswith("file:") or "mode=memory" in database:
        return None
    return Path(database).with_name(Path(database).name + ".import-lock")


@contextmanager
def import_lock(wait: float | None = None) -> Iterator[None]:
    """Hold the import lock of Django's default database inside the block (re-entrant).

    Raises :class:`ImportLockTimeout` (exit status 2) when another import holds it for ``wait`` seconds.
    """
    global _held
    if _held:
        _held += 1
        try:
            yield
        finally:
            _held -= 1
        return
    from django.db import connection

    limit = default_wait() if wait is None else max(0.0, wait)
    if connection.vendor == "postgresql":
        acquire, release = _postgres(connection, limit)
    elif connection.vendor == "sqlite":
        acquire, release = _sqlite(connection.settings_dict.get("NAME") or "", limit)
    else:  # pragma: no cover - the project supports the two backends above
        acquire, release = (lambda: None), (lambda: None)
    acquire()
    _held = 1
    try:
        yield
    finally:
        _held = 0
        release()


def _timeout(limit: float, where: str) -> ImportLockTimeout:
    return ImportLockTimeout(
        f"Another import into {where} is still running (waited {limit:g} s); nothing was imported. "
        "Run the import again when it has finished, or wait longer with --wait SECONDS.")


def _sqlite(database: str, limit: float):
    """Returns (acquire, release) for the lock file of a SQLite database (nothing for in-memory ones)."""
    import fcntl

    path = sqlite_lock_path(str(database))
    state: dict[str, int] = {}

    def acquire() -> None:
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + limit
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                state["fd"] = fd
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise _timeout(limit, str(database)) from None
                time.sleep(_POLL_S)

    def release() -> None:
        fd = state.pop("fd", None)
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    return acquire, release


def _postgres(connection, limit: float):
    """Returns (acquire, release) for the session advisory lock on Django's PostgreSQL connection."""

    def acquire() -> None:
        deadline = time.monotonic() + limit
        while True:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_KEY])
                if cursor.fetchone()[0]:
                    return
            if time.monotonic() >= deadline:
                raise _timeout(limit, f"database {connection.settings_dict.get('NAME')}")
            time.sleep(_POLL_S)

    def release() -> None:
        if connection.connection is None:
            return  # the connection is gone, and with it the lock
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_KEY])

    return acquire, release


def is_locked_error(exc: BaseException) -> bool:
    """Returns True when ``exc`` is SQLite's "database is locked" / "database table is locked"."""
    from django.db import OperationalError

    text = str(exc).lower()
    return isinstance(exc, OperationalError) and ("database is locked" in text or "table is locked" in text)
