"""Shared tools of the reliability tests (kills, backups, concurrent imports).

Each test works on databases of its own, outside pytest-django's test database: SQLite files in a
temporary folder, or PostgreSQL databases with unique names on the server of ``OPENHSCT_DATABASE_URL``
(asserted to be a loopback address), created from a prepared template (``CREATE DATABASE … TEMPLATE``)
and dropped afterwards. The command line runs in child processes, as a user runs it.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BACKEND = "postgresql" if os.environ.get("OPENHSCT_TEST_BACKEND") == "postgresql" else "sqlite"
PROFILE = os.environ.get("OPENHSCT_RELIABILITY_PROFILE", "ci" if os.environ.get("CI") == "true" else "local")


def rounds(*, local: int, ci: int, deep: int) -> int:
    """Returns how many rounds to run under the current profile (local, CI=true, or deep)."""
    return {"local": local, "ci": ci, "deep": deep}.get(PROFILE, local)


def fuzz_seed() -> int | None:
    """Returns the seed of the import fuzzing run: ``OPENHSCT_FUZZ_SEED`` when set, else one taken from
    the checked-out commit, offset per backend (so each commit fuzzes bundles no earlier commit drew, and
    a red run draws the same bundles again on the same commit); None outside a git checkout (Hypothesis
    then draws as its profile says)."""
    text = os.environ.get("OPENHSCT_FUZZ_SEED", "").strip()
    if text:
        return int(text)
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if len(head) != 40 or any(ch not in "0123456789abcdef" for ch in head):
        return None
    return int(head[:12], 16) + (1 if BACKEND == "postgresql" else 0)


def assert_loopback(host: str | None) -> None:
    """Fail unless ``host`` is a loopback address (or a Unix socket folder): tests never leave the machine."""
    if not host or host.startswith("/"):
        return
    addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    assert addresses and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses), (
        f"{host} is not a loopback address: reliability tests only run against this machine")


def run_cli(args: list[str], db_url: str, home: Path, *, timeout: float = 300,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``openhsct ARGS`` in a child process on ``db_url``; returns the finished process (text output)."""
    return subprocess.run(cli_command(args), env=cli_env(db_url, home, env), capture_output=True, text=True,
                          timeout=timeout, check=False)


def cli_command(args: list[str]) -> list[str]:
    """Returns the argv that runs the ``openhsct`` command line with this Python."""
    return [sys.executable, "-m", "openhsct.cli", *args]


def cli_env(db_url: str, home: Path, extra: dict | None = None) -> dict:
    """Returns a child environment pointing OpenHSCT at ``db_url`` (with a wide terminal for messages)."""
    env = {**os.environ, "OPENHSCT_DATABASE_URL": db_url, "OPENHSCT_HOME": str(home), "COLUMNS": "200",
           "NO_COLOR": "1", **(extra or {})}
    env.pop("OPENHSCT_DEBUG", None)
    return env


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL a child process we started (by its PID) and reap it; nothing if it has ended."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)


def synth(out: Path, home: Path, *, patients: int, seed: int, centres: int = 3, prefix: str | None = None) -> Path:
    """Write a synthetic bundle (optionally with centre codes SYN0n renamed to <prefix>n); returns its folder."""
    done = run_cli(["synth", "--centres", str(centres), "--patients", str(patients), "--seed", str(seed),
                    "--out", str(out)], "sqlite:///" + str(home / "unused.sqlite3"), home)
    assert done.returncode == 0, done.stdout + done.stderr
    if prefix:
        for f in out.glob("*.csv"):
            f.write_text(f.read_text(encoding="utf-8").replace("SYN0", prefix), encoding="utf-8")
    return out


def split_bundle(bundle: Path, out: Path, centres: set[str]) -> Path:
    """Copy of ``bundle`` keeping only the rows of ``centres`` (every table starts with centre_code);
    returns its folder."""
    import csv

    out.mkdir()
    for f in bundle.glob("*.csv"):
        with open(f, newline="", encoding="utf-8") as src, open(out / f.name, "w", newline="", encoding="utf-8") as dst:
            reader, writer = csv.reader(src), csv.writer(dst, lineterminator="\n")
            writer.writerow(next(reader))
            writer.writerows(row for row in reader if row[0] in centres)
    return out


# ------------------------------------------------------------------------------------------- databases


class Target:
    """One database of a test: a SQLite file or a PostgreSQL database with a unique name."""

    def __init__(self, work: Path, label: str) -> None:
        self.name = f"p13_{label}_{uuid.uuid4().hex[:10]}"
        self.work = work
        if BACKEND == "sqlite":
            self.path = work / f"{self.name}.sqlite3"
            self.url = f"sqlite:///{self.path}"
        else:
            self.url = _pg_url(self.name)

    # -- life cycle

    def create_empty(self) -> Target:
        """Create the empty database (PostgreSQL; a SQLite file appears on first use). Returns self."""
        if BACKEND == "postgresql":
            _pg_admin(f'CREATE DATABASE "{self.name}"')
        return self

    def clone_from(self, template: Target) -> Target:
        """Make this database an exact copy of ``template`` (backup API / TEMPLATE). Returns self."""
        if BACKEND == "sqlite":
            src, dst = sqlite3.connect(template.path), sqlite3.connect(self.path)
            try:
                src.backup(dst)
            finally:
                dst.close()
                src.close()
        else:
            _pg_admin(f'CREATE DATABASE "{self.name}" TEMPLATE "{template.name}"')
        return self

    def drop(self) -> None:
        """Remove the database (and a SQLite file's journal, WAL and lock files)."""
        if BACKEND == "sqlite":
            for suffix in ("", "-wal", "-shm", "-journal", ".import-lock"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        else:
            _pg_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def exists(self) -> bool:
        """Returns True when the database holds at least one table."""
        if BACKEND == "sqlite":
            if not self.path.exists():
                return False
            return bool(self.query("SELECT count(*) FROM sqlite_master WHERE type = 'table'")[0][0])
        return bool(self.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0][0])

    # -- reading

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Run one read-only query; returns its rows."""
        if BACKEND == "sqlite":
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                return con.execute(sql, params).fetchall()
            finally:
                con.close()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as con:  # placeholders (and %) only with parameters
            return con.execute(sql.replace("?", "%s") if params else sql, params or None).fetchall()

    def tables(self) -> list[str]:
        """Returns the registry's data tables (the audit history is checked on its own)."""
        if BACKEND == "sqlite":
            rows = self.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'registry\\_%' "
                              "ESCAPE '\\' ORDER BY name")
        else:
            rows = self.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE "
                              "'registry\\_%' ORDER BY tablename")
        return [r[0] for r in rows if "audit" not in r[0]]

    def digest(self, *, keys: bool = True) -> dict[str, str]:
        """SHA-256 of each data table's sorted rows (with or without its key columns) and of the schema.

        Without keys, ``id`` and ``*_id`` columns are left out: a re-run on PostgreSQL, whose sequences
        do not roll back, gives the same rows under other keys.
        """
        out = {"(schema)": self._schema_digest()}
        for table in self.tables():
            columns = self._columns(table)
            if not keys:
                columns = [c for c in columns if c != "id" and not c.endswith("_id")]
            select = ", ".join(f'"{c}"' for c in columns)
            rows = sorted(repr(r) for r in self.query(f'SELECT {select} FROM "{table}"'))
            out[table] = f"{len(rows)}:" + hashlib.sha256("\n".join(rows).encode()).hexdigest()
        return out

    def _columns(self, table: str) -> list[str]:
        if BACKEND == "sqlite":
            return [r[1] for r in self.query(f'PRAGMA table_info("{table}")')]
        return [r[0] for r in self.query("SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                                         "ORDER BY ordinal_position", (table,))]

    def _schema_digest(self) -> str:
        if BACKEND == "sqlite":
            rows = self.query("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' "
                              "ESCAPE '\\' ORDER BY type, name")
        else:
            rows = self.query(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint "
                "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2") + self.query(
                "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2")
        return hashlib.sha256(repr(rows).encode()).hexdigest()

    def import_events(self, checksum: str) -> int:
        """Returns how many audit events record the import of the bundle with ``checksum``."""
        cast = "detail" if BACKEND == "sqlite" else "detail::text"
        return self.query(f"SELECT count(*) FROM registry_auditevent WHERE action = 'import' AND {cast} LIKE ?",
                          (f"%{checksum}%",))[0][0]

    def integrity_problems(self) -> list:
        """Returns what the engine's own checks find wrong (empty when the database is sound).

        SQLite: ``PRAGMA integrity_check`` and ``foreign_key_check``. PostgreSQL: invalid or missing
        constraints (compared by the schema digest), and locks or prepared transactions left behind.
        """
        if BACKEND == "sqlite":
            check = self.query("PRAGMA integrity_check")
            return ([] if check == [("ok",)] else check) + self.query("PRAGMA foreign_key_check")
        problems = self.query("SELECT conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace "
                              "AND NOT convalidated")
        problems += self.query("SELECT gid FROM pg_prepared_xacts WHERE database = ?", (self.name,))
        problems += self.query("SELECT l.pid, l.locktype, l.mode FROM pg_locks l JOIN pg_database d "
                               "ON d.oid = l.database WHERE d.datname = ? AND l.pid <> pg_backend_pid()",
                               (self.name,))
        return problems

    def wait_idle(self, timeout: float = 120) -> None:
        """Wait until no server process serves this database (PostgreSQL; a killed client's backend may
        finish its statement first). Nothing to wait for on SQLite."""
        if BACKEND == "sqlite":
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            n = _pg_admin_query("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                                (self.name,))[0][0]
            if n == 0:
                return
            time.sleep(0.05)
        raise AssertionError(f"a server process still serves {self.name} after {timeout} s")


def _server_url() -> str:
    url = os.environ.get("OPENHSCT_DATABASE_URL", "")
    assert url.startswith(("postgres://", "postgresql://")), "the PostgreSQL pass sets OPENHSCT_DATABASE_URL"
    assert_loopback(urlsplit(url).hostname)
    return url


def _pg_url(name: str) -> str:
    parts = urlsplit(_server_url())
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(_pg_url("postgres"), autocommit=True) as con:
        con.execute(sql)


def _pg_admin_query(sql: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(_pg_url("postgres"), autocommit=True) as con:
        return con.execute(sql, params).fetchall()


def terminate_writers(target: Target, timeout: float = 60) -> int:
    """``pg_terminate_backend`` on the first server process that holds a write lock in ``target``'s
    database; returns its PID."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _pg_admin_query(
            "SELECT DISTINCT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE d.datname = %s AND l.granted AND l.mode = 'RowExclusiveLock' AND l.pid <> pg_backend_pid()",
            (target.name,))
        if rows:
            pid = rows[0][0]
            assert _pg_admin_query("SELECT pg_terminate_backend(%s)", (pid,))[0][0]
            return pid
        time.sleep(0.01)
    raise AssertionError(f"no writer appeared in {target.name} within {timeout} s")
