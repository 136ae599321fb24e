"""Backups that restore: one file holding a consistent copy of the database and a manifest to check it by.

A backup file is a tar archive of two members followed by one trailer line:

- ``MANIFEST.json``: format version, OpenHSCT version, backend, the applied migrations, each table's row
  count and the SHA-256 of its canonical export (:func:`table_digests`), the hash at the head of the
  audit chain (where the audit chain exists), and the name, size and SHA-256 of the dump;
- the dump: ``database.sqlite3`` (SQLite's online backup API, a consistent copy taken while the database
  is in use; never a copy of the live file) or ``database.pgdump`` (``pg_dump -Fc`` from the snapshot the
  manifest was computed in);
- ``OPENHSCT-BACKUP-SHA256:<hex>``: the SHA-256 of every byte before it, so that one flipped byte or a
  cut anywhere in the file is found before anything is written.

Restore checks the trailer, the manifest and the dump's hash first, then restores into an empty target
(SQLite: a temporary file renamed into place; PostgreSQL: ``pg_restore --single-transaction
--exit-on-error``) and compares the restored tables with the manifest.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import io
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from openhsct.errors import OpenHSCTError

FORMAT = "openhsct-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "MANIFEST.json"
TRAILER_PREFIX = b"OPENHSCT-BACKUP-SHA256:"
TRAILER_LEN = len(TRAILER_PREFIX) + 64 + 1
DUMP_NAMES = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
_CHUNK = 1 << 20

Step = Callable[[str], None]


class BackupError(OpenHSCTError):
    """A backup file that cannot be trusted, or a target that cannot receive it (exit status 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Database:
    """Where a database is: the backend (``sqlite`` or ``postgresql``) and its Django settings."""

    vendor: str
    settings: dict

    @property
    def label(self) -> str:
        """Returns the database's file (SQLite) or host/name (PostgreSQL) for messages."""
        if self.vendor == "sqlite":
            return str(self.settings.get("NAME"))
        return f"{self.settings.get('HOST') or 'localhost'}:{self.settings.get('PORT') or 5432}/{self.settings.get('NAME')}"


def database_from_url(url: str | None) -> Database:
    """Returns the :class:`Database` of a URL (or of ``OPENHSCT_DATABASE_URL`` / the default) without Django."""
    import dj_database_url

    url = url or os.environ.get("OPENHSCT_DATABASE_URL")
    if not url:
        from openhsct.site import settings as site_settings

        url = site_settings.DEFAULT_DATABASE_URL
    try:
        cfg = dj_database_url.parse(url)
    except Exception as exc:  # dj_database_url raises plain exceptions for unknown schemes
        raise BackupError(f"{url.split('@')[-1]}: not a database URL ({exc})") from None
    engine = cfg.get("ENGINE", "")
    if engine.endswith("sqlite3"):
        return Database("sqlite", cfg)
    if "postgresql" in engine:
        return Database("postgresql", cfg)
    raise BackupError(f"{engine}: backups support SQLite and PostgreSQL only")


# ------------------------------------------------------------------------------------- canonical digests


def _canonical(value):
    """A JSON-safe, backend-neutral form of one stored value."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID | dt.timedelta):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _row_line(row) -> bytes:
    return (json.dumps([_canonical(v) for v in row], ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def table_digests(progress: Step | None = None) -> dict[str, dict]:
    """Row count and SHA-256 of each table's canonical export, on Django's default database.

    The canonical export of a model's table is one JSON array per row (every stored column, in field
    order; dates and times as ISO 8601 in UTC, decimals as written, JSON sorted by key) in primary-key
    order. Tables without a model (``django_migrations``, for instance) are read with plain SQL and
    sorted. Returns ``{table: {"rows": n, "sha256": hex}}`` sorted by table name.
    """
    from django.apps import apps
    from django.db import connection

    out: dict[str, dict] = {}
    seen: set[str] = set()
    existing = set(connection.introspection.table_names())
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if not meta.managed or meta.proxy or meta.db_table in seen or meta.db_table not in existing:
            continue
        seen.add(meta.db_table)
        h, n = hashlib.sha256(), 0
        names = [f.attname for f in meta.concrete_fields]
        for row in model._base_manager.order_by("pk").values_list(*names).iterator(chunk_size=20_000):
            h.update(_row_line(row))
            n += 1
        out[meta.db_table] = {"rows": n, "sha256": h.hexdigest()}
        if progress:
            progress(f"{meta.db_table} ({n:,} rows)")
    for table in sorted(existing - seen):
        if table.startswith("sqlite_"):
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            lines = sorted(_row_line(r) for r in cursor.fetchall())
        out[table] = {"rows": len(lines), "sha256": hashlib.sha256(b"".join(lines)).hexdigest()}
    return dict(sorted(out.items()))


def applied_migrations() -> list[list[str]]:
    """Returns the applied migrations of Django's default database as sorted ``[app, name]`` pairs."""
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    recorder = MigrationRecorder(connection)
    if not recorder.has_table():
        return []
    return sorted([app, name] for app, name in recorder.applied_migrations())


def audit_chain_head() -> str | None:
    """Returns the hash at the head of the audit chain, or None where this version keeps no chain."""
    from openhsct.registry import audit

    head = getattr(audit, "chain_head", None)
    if head is None:
        return None
    value = head()
    return None if value is None else str(value)


def database_state(progress: Step | None = None) -> dict:
    """Returns the part of the manifest read from the database: migrations, tables, audit chain head."""
    return {"migrations": applied_migrations(), "tables": table_digests(progress),
            "audit_chain_head": audit_chain_head()}


@contextmanager
def default_database_file(path: Path) -> Iterator[None]:
    """Point Django's default (SQLite) connection at another database file inside the block, read as it
    is (no journal-mode change: the file stays one self-contained file)."""
    from django.db import connection

    old_name, old_options = connection.settings_dict["NAME"], connection.settings_dict.get("OPTIONS", {})
    connection.close()
    connection.settings_dict["NAME"] = str(path)
    connection.settings_dict["OPTIONS"] = {"timeout": old_options.get("timeout", 30)}
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"], connection.settings_dict["OPTIONS"] = old_name, old_options


# ---------------------------------------------------------------------------------------------- backup


def create_backup(out: Path, db: Database, step: Step, detail: Step | None = None) -> dict:
    """Write a backup of ``db`` (Django's default database) to ``out`` with mode 0600.

    ``step(text)`` reports each stage, ``detail(text)`` the table being read. Returns the manifest written.
    """
    out = Path(out)
    if out.exists():
        raise BackupError(f"{out} exists already: choose a new file name (backups are never overwritten)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".openhsct-backup-", dir=out.parent) as tmp:
        os.chmod(tmp, 0o700)
        dump = Path(tmp) / DUMP_NAMES[db.vendor]
        if db.vendor == "sqlite":
            state = _snapshot_sqlite(db, dump, step, detail)
        else:
            state = _snapshot_postgres(db, dump, step, detail)
        step("Hashing the dump")
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "openhsct_version": _version(),
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "backend": db.vendor,
            "dump": {"name": dump.name, "bytes": dump.stat().st_size, "sha256": _file_sha256(dump)},
            **state,
        }
        step("Writing the backup file")
        _write_archive(out, manifest, dump)
    return manifest


def _version() -> str:
    from openhsct import __version__

    return __version__


def _snapshot_sqlite(db: Database, dump: Path, step: Step, detail: Step | None) -> dict:
    """Copy the live SQLite database with the online backup API, then read the manifest from the copy."""
    source = Path(str(db.settings["NAME"]))
    if not source.is_file():
        raise BackupError(f"{source}: no such database file")
    step(f"Copying {source} with SQLite's online backup API")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(dump)
    try:
        src.backup(dst)  # one step: one consistent read of the source, however busy it is
        dst.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file
    finally:
        dst.close()
        src.close()
    os.chmod(dump, 0o600)
    step("Checking the copy and computing table checksums")
    with default_database_file(dump):
        _sqlite_integrity(dump)
        return database_state(detail)


def _sqlite_integrity(path: Path) -> None:
    con = sqlite3.connect(path)
    try:
        result = con.execute("PRAGMA integrity_check").fetchall()
        fk = con.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        con.close()
    if result != [("ok",)] or fk:
        raise BackupError(f"{path.name}: the database copy fails SQLite's integrity check ({result[:3]}, "
                          f"{len(fk)} foreign key problem(s))")


def pg_environment(settings: dict) -> dict[str, str]:
    """Returns the environment that points libpq tools (pg_dump, pg_restore) at a database."""
    env = dict(os.environ)
    for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD"),
                     ("NAME", "PGDATABASE")):
        value = settings.get(key)
        if value:
            env[var] = str(value)
        else:
            env.pop(var, None)
    sslmode = (settings.get("OPTIONS") or {}).get("sslmode")
    if sslmode:
        env["PGSSLMODE"] = str(sslmode)
    return env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} was not found: install the PostgreSQL client tools (the same major version "
                          "as the server) to back up or restore a PostgreSQL registry")
    return path


def _snapshot_postgres(db: Database, dump: Path, step: Step, detail: Step | None) -> dict:
    """``pg_dump -Fc`` from an exported snapshot, with the manifest read in that same snapshot."""
    from django.db import connection, transaction

    pg_dump = _tool("pg_dump")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
        step(f"pg_dump -Fc of {db.label}")
        run = subprocess.run([pg_dump, "-Fc", f"--snapshot={snapshot}", "-f", str(dump)],
                             env=pg_environment(db.settings), capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise BackupError(f"pg_dump failed (exit {run.returncode}): {_last_lines(run.stderr)}")
        os.chmod(dump, 0o600)
        step("Computing table checksums in the same snapshot")
        return database_state(detail)


def _last_lines(text: str, n: int = 3) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-n:]) or "no message"


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _write_archive(out: Path, manifest: dict, dump: Path) -> None:
    """Write the tar (manifest, dump) and the trailer to a temporary file (mode 0600), then rename it."""
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw:
            hashing = _HashingWriter(raw)
            with tarfile.open(fileobj=hashing, mode="w", format=tarfile.PAX_FORMAT) as tar:
                data = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
                info = tarfile.TarInfo(MANIFEST_NAME)
                info.size, info.mode, info.mtime = len(data), 0o600, int(dt.datetime.now(dt.UTC).timestamp())
                tar.addfile(info, io.BytesIO(data))
                info = tar.gettarinfo(str(dump), arcname=dump.name)
                info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
                with open(dump, "rb") as f:
                    tar.addfile(info, f)
            raw.write(TRAILER_PREFIX + hashing.hexdigest().encode() + b"\n")
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class _HashingWriter:
    """A write-only file object that hashes what passes through it."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.h = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.h.update(data)
        return self.raw.write(data)

    def tell(self) -> int:
        return self.raw.tell()

    def hexdigest(self) -> str:
        return self.h.hexdigest()


# --------------------------------------------------------------------------------------------- restore


def read_verified(path: Path, work: Path, step: Step) -> tuple[dict, Path]:
    """Check a backup file (trailer hash, manifest, dump hash) and extract its dump into ``work``.

    Returns (manifest, dump path). Raises :class:`BackupError` (exit status 2) naming what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such backup file")
    step(f"Checking {path.name}")
    size = path.stat().st_size
    if size <= TRAILER_LEN:
        raise BackupError(f"{path}: too short to be an OpenHSCT backup (truncated?); nothing was restored")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        remaining = size - TRAILER_LEN
        while remaining:
            block = f.read(min(_CHUNK, remaining))
            if not block:
                break
            h.update(block)
            remaining -= len(block)
        trailer = f.read()
    if not trailer.startswith(TRAILER_PREFIX) or len(trailer) != TRAILER_LEN or not trailer.endswith(b"\n"):
        raise BackupError(f"{path}: the end of the file is not an OpenHSCT backup trailer (the file is truncated, "
                          "extended or not a backup); nothing was restored")
    if trailer[len(TRAILER_PREFIX):-1] != h.hexdigest().encode():
        raise BackupError(f"{path}: the file's SHA-256 does not match its trailer (the file was altered or "
                          "damaged); nothing was restored")
    try:
        return _extract(path, size - TRAILER_LEN, work)
    except (tarfile.TarError, OSError, ValueError, KeyError) as exc:
        raise BackupError(f"{path}: the archive cannot be read ({type(exc).__name__}: {exc}); nothing was "
                          "restored") from None


def _extract(path: Path, length: int, work: Path) -> tuple[dict, Path]:
    with open(path, "rb") as raw, tarfile.open(fileobj=_Limited(raw, length), mode="r:") as tar:
        members = {m.name: m for m in tar.getmembers()}
        if MANIFEST_NAME not in members:
            raise BackupError(f"{path}: no {MANIFEST_NAME} inside; nothing was restored")
        manifest = json.loads(tar.extractfile(members[MANIFEST_NAME]).read().decode("utf-8"))
        _check_manifest_shape(path, manifest)
        name = manifest["dump"]["name"]
        member = members.get(name)
        if member is None or not member.isfile() or set(members) != {MANIFEST_NAME, name}:
            raise BackupError(f"{path}: the archive's files do not match its manifest; nothing was restored")
        dump = Path(work) / name
        h = hashlib.sha256()
        fd = os.open(dump, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out, tar.extractfile(member) as src:
            for block in iter(lambda: src.read(_CHUNK), b""):
                h.update(block)
                out.write(block)
    if dump.stat().st_size != manifest["dump"]["bytes"] or h.hexdigest() != manifest["dump"]["sha256"]:
        raise BackupError(f"{path}: the dump's SHA-256 or size differs from the manifest (a wrong or altered "
                          "manifest); nothing was restored")
    return manifest, dump


def _check_manifest_shape(path: Path, manifest) -> None:
    ok = (isinstance(manifest, dict) and manifest.get("format") == FORMAT
          and isinstance(manifest.get("dump"), dict) and isinstance(manifest.get("tables"), dict)
          and isinstance(manifest.get("migrations"), list) and manifest.get("backend") in DUMP_NAMES
          and manifest["dump"].get("name") == DUMP_NAMES.get(manifest.get("backend")))
    if not ok:
        raise BackupError(f"{path}: {MANIFEST_NAME} is not an OpenHSCT backup manifest; nothing was restored")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"{path}: backup format version {manifest.get('format_version')} is not supported "
                          f"by this OpenHSCT (version {FORMAT_VERSION}); nothing was restored")


class _Limited(io.RawIOBase):
    """The first ``length`` bytes of a file (the archive without its trailer), seekable."""

    def __init__(self, raw, length: int) -> None:
        self.raw, self.length, self.pos = raw, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.length}[whence]
        self.pos = max(0, min(self.length, base + offset))
        return self.pos

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.length - self.pos)
        if n <= 0:
            return 0
        self.raw.seek(self.pos)
        data = self.raw.read(n)
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def compare_state(manifest: dict, state: dict) -> list[str]:
    """Returns the differences between a manifest and a restored database's state (empty when equal)."""
    problems = []
    if state["migrations"] != manifest["migrations"]:
        problems.append("the applied migrations differ from the manifest")
    tables = manifest["tables"]
    for name in sorted(set(tables) | set(state["tables"])):
        want, got = tables.get(name), state["tables"].get(name)
        if want != got:
            problems.append(f"table {name}: manifest {_describe(want)}, restored {_describe(got)}")
    if manifest.get("audit_chain_head") is not None and state["audit_chain_head"] != manifest["audit_chain_head"]:
        problems.append("the head of the audit chain differs from the manifest")
    return problems


def _describe(entry) -> str:
    if not isinstance(entry, dict):
        return "absent"
    return f"{entry.get('rows')} rows, sha256 {str(entry.get('sha256'))[:12]}…"


def restore_sqlite(manifest: dict, dump: Path, target: Database, step: Step) -> None:
    """Restore a checked SQLite dump to ``target``'s file, which must be absent or hold no tables.

    The dump is copied with the backup API into a temporary file beside the target, compared with the
    manifest, and renamed into place only when it matches. Returns nothing.
    """
    dest = Path(str(target.settings["NAME"]))
    _refuse_non_empty_sqlite(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.restore-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        step(f"Restoring into {dest}")
        src, dst = sqlite3.connect(f"file:{dump}?mode=ro", uri=True), sqlite3.connect(tmp)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        os.chmod(tmp, 0o600)
        step("Comparing the restored tables with the manifest")
        with default_database_file(tmp):
            _sqlite_integrity(tmp)
            problems = compare_state(manifest, database_state())
        if problems:
            raise BackupError("The restored database does not match the backup's manifest; nothing was restored.",
                              details=problems)
        _refuse_non_empty_sqlite(dest)  # nobody created it in the meantime
        for suffix in ("-wal", "-shm"):
            Path(f"{dest}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _refuse_non_empty_sqlite(dest: Path) -> None:
    if not dest.exists() or dest.stat().st_size == 0:
        return
    try:
        con = sqlite3.connect(f"file:{dest}?mode=ro", uri=True)
        try:
            n = con.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError:
        raise BackupError(f"{dest} exists and is not an empty SQLite database; restore into a new file "
                          "(--db sqlite:///path/new.sqlite3)") from None
    if n:
        raise BackupError(f"{dest} already holds {n} table(s); restore into a new file "
                          "(--db sqlite:///path/new.sqlite3) so that nothing is overwritten")


def restore_postgres(manifest: dict, dump: Path, target: Database, step: Step) -> None:
    """Restore a checked ``pg_dump -Fc`` dump into ``target`` (Django's default database), which must
    be empty, with ``pg_restore --single-transaction --exit-on-error``; then compare it with the manifest.

    A restored database that does not match the manifest is emptied again. Returns nothing.
    """
    from django.db import connection

    pg_restore = _tool("pg_restore")
    existing = _user_relations(connection)
    if existing:
        raise BackupError(f"database {target.label} is not empty ({existing} table(s), view(s) or sequence(s)); "
                          "restore into a new, empty database (createdb NAME, then --db postgresql://…/NAME)")
    connection.close()
    step(f"pg_restore into {target.label}")
    run = subprocess.run([pg_restore, "--single-transaction", "--exit-on-error", "-d",
                          str(target.settings["NAME"]), str(dump)],
                         env=pg_environment(target.settings), capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise BackupError(f"pg_restore failed (exit {run.returncode}); nothing was restored: "
                          f"{_last_lines(run.stderr)}")
    step("Comparing the restored tables with the manifest")
    problems = compare_state(manifest, database_state())
    if problems:
        _empty_postgres(connection)
        raise BackupError("The restored database does not match the backup's manifest; it was emptied again.",
                          details=problems)


_USER_RELATIONS = """
SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%'
  AND n.nspname NOT LIKE 'pg\\_temp%%'
"""


def _user_relations(connection) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_USER_RELATIONS)
        return int(cursor.fetchone()[0])


def _empty_postgres(connection) -> None:
    """Drop every schema a restore created (the database was empty before it) and recreate ``public``."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname NOT IN "
                       "('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%%'")
        schemas = [r[0] for r in cursor.fetchall()]
        for schema in schemas:
            cursor.execute(f"DROP SCHEMA {connection.ops.quote_name(schema)} CASCADE")
        cursor.execute("CREATE SCHEMA IF NOT EXISTS public")
