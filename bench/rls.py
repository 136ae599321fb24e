"""What PostgreSQL row-level security (``OPENHSCT_PG_ROW_SECURITY``) costs: the clinicians' centre page and
the import, with the option off and on, in the same run on the same data.

Creates its own database on the PostgreSQL server named by ``--pg`` (loopback only), migrates it, imports a
synthetic registry (``--centres`` × ``--patients``), then times:

- **centre page**: ``GET /clinic/<centre>/`` signed in as that centre's staff, ``--repeat`` times each way
  (median and 95th percentile); with the option on, the requests run as a role that owns nothing and has no
  BYPASSRLS, under the policies;
- **import**: the same bundle imported into the database (rolled back after timing), off and on.

    .venv/bin/python bench/rls.py --pg postgresql://postgres@127.0.0.1:5432/postgres

Prints a Markdown table for BENCHMARKS.md. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

APP_ROLE = "openhsct_rls_bench"


def _assert_loopback(url: str) -> None:
    """Stop unless ``url``'s host is a loopback address. Returns nothing."""
    host = urlsplit(url).hostname or "localhost"
    addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        sys.exit(f"refusing to run against {host}: the bench runs on loopback only")


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _admin_sql(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def _setup(db_url: str, home: Path) -> None:
    os.environ.update({"OPENHSCT_DATABASE_URL": db_url, "OPENHSCT_HOME": str(home),
                       "DJANGO_SETTINGS_MODULE": "openhsct.site.settings"})
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _bundle(folder: Path, centres: int, patients: int) -> Path:
    from openhsct.registry.synth import generate, write_bundle

    write_bundle(generate(centres=centres, patients=patients, seed=7), folder)
    return folder


def _app_role(on: bool) -> None:
    """Act as the application role under the policies (on) or as the owner (off). Returns nothing."""
    from django.db import connection

    from openhsct.security import row_security

    with connection.cursor() as cursor:
        if on:
            cursor.execute(f"SET ROLE {APP_ROLE}")
        else:
            cursor.execute("RESET ROLE")
    if on:
        row_security.set_centres(row_security.ALL)


def _prepare_role() -> None:
    from django.db import connection

    from openhsct.security import row_security

    row_security.install()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS")
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")


def _time_page(repeat: int, on: bool) -> list[float]:
    """Seconds of each ``GET /clinic/SYN01/`` as that centre's staff. Returns them."""
    from django.conf import settings
    from django.test import Client

    from openhsct.registry.users import ensure_user

    settings.OPENHSCT_PG_ROW_SECURITY = on
    user = ensure_user("rls_bench_staff", "rls-bench-Pass-2026", role="staff", centre_code="SYN01")
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    _app_role(on)
    try:
        client.get("/clinic/SYN01/")  # warm
        out = []
        for _ in range(repeat):
            start = time.perf_counter()
            response = client.get("/clinic/SYN01/")
            out.append(time.perf_counter() - start)
            if response.status_code != 200:
                sys.exit(f"the centre page answered {response.status_code}")
        return out
    finally:
        _app_role(False)


def _time_import(bundle: Path, on: bool) -> float:
    """Seconds of importing ``bundle`` (rolled back afterwards). Returns them."""
    from django.conf import settings
    from django.db import transaction

    from openhsct.registry.importer import import_bundle

    settings.OPENHSCT_PG_ROW_SECURITY = on
    with transaction.atomic():
        _app_role(on)
        start = time.perf_counter()
        import_bundle(bundle, actor="rls-bench")
        took = time.perf_counter() - start
        _app_role(False)
        transaction.set_rollback(True)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg", required=True, help="a PostgreSQL server (loopback), any database on it")
    parser.add_argument("--centres", type=int, default=3)
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    _assert_loopback(args.pg)
    name = f"openhsct_rls_bench_{uuid.uuid4().hex[:8]}"
    _admin_sql(args.pg, f"CREATE DATABASE {name}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            _setup(_with_db(args.pg, name), home)
            from openhsct.registry.importer import import_bundle

            bundle = _bundle(home / "bundle", args.centres, args.patients)
            import_bundle(bundle, actor="rls-bench")
            second = _bundle(home / "bundle2", args.centres, args.patients)
            _prepare_role()
            rows = []
            pages = {on: _time_page(args.repeat, on) for on in (False, True)}
            imports = {on: _time_import(second, on) for on in (False, True)}
            for label, on in (("off", False), ("on", True)):
                page = sorted(pages[on])
                p95 = page[min(len(page) - 1, int(0.95 * len(page)))]
                rows.append(f"| {label} | {statistics.median(page) * 1000:.0f} ms | {p95 * 1000:.0f} ms | "
                            f"{imports[on]:.1f} s |")
            ratio_page = statistics.median(pages[True]) / statistics.median(pages[False])
            ratio_import = imports[True] / imports[False]
            from django.db import connection

            connection.close()
    finally:
        _admin_sql(args.pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"{args.centres} centres × {args.patients} patients; centre page × {args.repeat}")
    print("| row security | centre page, median | centre page, p95 | import (same bundle, rolled back) |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    print(f"on/off: centre page × {ratio_page:.2f}, import × {ratio_import:.2f}")


if __name__ == "__main__":
    main()
