"""How fast ``openhsct synth`` makes and writes a cohort, and how fast the registry imports it.

Claims: 100,000 patients generated and written as CSV in well under 60 s on a 2-core machine; the
import (every rule checked, then written in one transaction) at >= 100,000 rows/s on SQLite and on
PostgreSQL.

Prints, from one run: generation time, our CSV writer against ``DataFrame.to_csv`` on the same tables
(the reference, with the ratio), rows per table, and the import into an empty registry: the database
(engine, version, where), wall and CPU seconds of this process, rows per second. SQLite is a fresh file;
``--db postgresql://…`` names a database that must hold no registry rows yet (it is migrated, not
emptied). PostgreSQL's own work runs in its server process, so there the wall time is the figure.

    .venv/bin/python bench/synth.py                       # 100,000 patients, generated and imported
    .venv/bin/python bench/synth.py --patients 10000 --no-import
    .venv/bin/python bench/synth.py --import-patients 10000   # import a smaller bundle only
    .venv/bin/python bench/synth.py --patients 100000 --db postgresql://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from openhsct.registry.synth import generate, write_bundle


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"


CPU: dict[str, float] = {}  # CPU seconds of the last _timed call (wall time suffers on a shared machine)


def _timed(fn, *args, **kwargs):
    t, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    CPU["last"] = time.process_time() - c
    return out, time.perf_counter() - t


def _pandas_csv(tables, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)


def _database() -> str:
    """The database the import writes to, in words: engine, server version, where."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
            where = f"{connection.settings_dict['HOST']}:{connection.settings_dict['PORT']}/{connection.settings_dict['NAME']}"
            return f"PostgreSQL {version} at {where} (COPY)"
        cursor.execute("SELECT sqlite_version()")
        return f"SQLite {cursor.fetchone()[0]}, file {connection.settings_dict['NAME']} (executemany)"


def _import(folder: Path, db_url: str | None, work: Path) -> tuple[dict[str, int], float, float, str]:
    """Import the bundle into an empty registry; returns (rows per table, wall s, CPU s, database)."""
    from openhsct.site.django_setup import setup

    setup(db_url or f"sqlite:///{work / 'bench.sqlite3'}", migrate=True)
    from openhsct.registry import importer
    from openhsct.registry.models import Patient

    if Patient.objects.exists():
        raise SystemExit(f"{db_url}: the registry there is not empty; name an empty database")
    report, seconds = _timed(importer.import_bundle, folder, actor="bench")
    return dict(report.created), seconds, CPU["last"], _database()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--centres", type=int, default=20)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--no-import", action="store_true", help="skip the registry import")
    ap.add_argument(
        "--import-patients",
        type=int,
        default=None,
        help="import a bundle of this many patients (same seed and centres; default: --patients)",
    )
    ap.add_argument("--db", default=None, help="database URL for the import (default: a fresh SQLite file)")
    args = ap.parse_args(argv)
    if args.import_patients is None:
        args.import_patients = args.patients

    print(f"machine: {_machine()}")
    print(f"cohort: {args.patients:,} patients, {args.centres} centres, seed {args.seed}")
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="openhsct-bench-") as tmp:
        work = Path(tmp)
        tables, t_gen = _timed(generate, args.centres, args.patients, args.seed)
        c_gen = CPU["last"]
        _, t_ours = _timed(write_bundle, tables, work / "ours")
        c_ours = CPU["last"]
        _, t_ref = _timed(_pandas_csv, tables, work / "pandas")
        c_ref = CPU["last"]
        same = all(
            (work / "ours" / f"{n}.csv").read_bytes() == (work / "pandas" / f"{n}.csv").read_bytes()
            for n in tables
        )
        rows = {name: len(frame) for name, frame in tables.items()}
        width = max(map(len, rows))
        for name, n in rows.items():
            print(f"  {name:<{width}} {n:>10,}")
        print(f"  {'total':<{width}} {sum(rows.values()):>10,}")
        print(f"load average before: {load:.1f} (wall times stretch when others share the CPUs)")
        print("                        wall      CPU")
        print(
            f"generate:            {t_gen:7.2f} s {c_gen:7.2f} s  ({sum(rows.values()) / t_gen:,.0f} rows/s wall)"
        )
        print(f"write CSV (ours):    {t_ours:7.2f} s {c_ours:7.2f} s")
        print(
            f"write CSV (to_csv):  {t_ref:7.2f} s {c_ref:7.2f} s  reference; ours is {t_ref / t_ours:.1f}x faster "
            f"(CPU {c_ref / c_ours:.1f}x), files {'identical' if same else 'DIFFER'}"
        )
        print(
            f"generate + write:    {t_gen + t_ours:7.2f} s {c_gen + c_ours:7.2f} s  "
            "(claim: well under 60 s for 100,000 patients)"
        )
        if args.no_import:
            return 0 if same else 1
        folder = work / "ours"
        if args.import_patients != args.patients:
            del tables
            folder = work / "import"
            write_bundle(generate(args.centres, args.import_patients, args.seed), folder)
        load = os.getloadavg()[0]
        created, t_imp, c_imp, database = _import(folder, args.db, work)
        n = sum(created.values())
        print(f"import into: {database}; load average before: {load:.1f}")
        print(
            f"import ({args.import_patients:,} patients, {n:,} rows): "
            f"{t_imp:7.2f} s {c_imp:7.2f} s  ({n / t_imp:,.0f} rows/s wall, {n / c_imp:,.0f} rows/s per CPU "
            "second of this process; target >= 100,000 rows/s)"
        )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
