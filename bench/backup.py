"""How long ``openhsct backup`` and ``openhsct restore`` take on a national-scale registry.

Writes a synthetic bundle (100,000 patients by default), imports it into a fresh SQLite file and, with
``--pg``, into a fresh PostgreSQL database. It then times the backup and a restore into another fresh
database, both through the command line, as an operator runs them. Prints, per backend: rows, the
backup file's size, and wall seconds for backup and restore. Restore includes every check (whole-file
SHA-256, dump hash, and table checksums of the restored database against the manifest).

    .venv/bin/python bench/backup.py                                   # SQLite, 100,000 patients
    .venv/bin/python bench/backup.py --patients 10000 --pg postgresql://postgres@127.0.0.1:5432/postgres

``--pg`` names a server (any database on it): the bench creates and drops its own databases there and
refuses any address that is not loopback.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"


def _cli(args: list[str], db_url: str, home: Path) -> float:
    """Run ``openhsct ARGS`` on ``db_url``; returns its wall seconds (stops the bench if it fails)."""
    env = {**os.environ, "OPENHSCT_DATABASE_URL": db_url, "OPENHSCT_HOME": str(home), "COLUMNS": "160"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "openhsct.cli", *args], env=env, capture_output=True, text=True,
                          check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"openhsct {' '.join(args)} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return took


def _assert_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host and not host.startswith("/"):
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
        if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
            sys.exit(f"{host} is not a loopback address: this bench only runs against this machine")


def _pg(url: str, sql: str) -> None:
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, "")),
                         autocommit=True) as con:
        con.execute(sql)


def _pg_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _rows(backup: Path) -> int:
    with tarfile.open(backup, "r:") as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    return sum(t["rows"] for t in manifest["tables"].values())


def _run_backend(name: str, source: str, target: str, bundle: Path, work: Path, home: Path) -> None:
    t_import = _cli(["import", str(bundle)], source, home)
    backup = work / f"{name}.backup"
    t_backup = _cli(["backup", "--out", str(backup)], source, home)
    t_restore = _cli(["restore", str(backup), "--db", target], target, home)
    size = backup.stat().st_size
    print(f"{name:>10}: {_rows(backup):,} rows; backup file {size / 1e6:,.1f} MB; import {t_import:,.1f} s "
          f"(for reference); backup {t_backup:,.1f} s; restore (checked) {t_restore:,.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--pg", help="PostgreSQL server URL (loopback only); omit for SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args()
    if args.pg:
        _assert_loopback(args.pg)
    print(f"backup/restore bench: {args.patients:,} synthetic patients; {_machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="openhsct-bench-backup-") as tmp:
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        bundle = work / "bundle"
        t = _cli(["synth", "--centres", "20", "--patients", str(args.patients), "--seed", str(args.seed),
                  "--out", str(bundle)], f"sqlite:///{work / 'unused.sqlite3'}", home)
        print(f"synth: {t:,.1f} s", flush=True)
        if not args.no_sqlite:
            _run_backend("SQLite", f"sqlite:///{work / 'source.sqlite3'}", f"sqlite:///{work / 'restored.sqlite3'}",
                         bundle, work, home)
        if args.pg:
            names = [f"bench_backup_{uuid.uuid4().hex[:8]}_{s}" for s in ("source", "restored")]
            try:
                for n in names:
                    _pg(args.pg, f'CREATE DATABASE "{n}"')
                _run_backend("PostgreSQL", _pg_database(args.pg, names[0]), _pg_database(args.pg, names[1]),
                             bundle, work, home)
            finally:
                for n in names:
                    _pg(args.pg, f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')


if __name__ == "__main__":
    main()
