"""Imports at the same time: serialised, or the later one stops with a clear message; never a mixed
state, never two first imports racing to create the tables, never "database is locked" to a user."""

from __future__ import annotations

import csv
import fcntl
import os
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest
from django.db import OperationalError
from django.test import RequestFactory

from openhsct.registry.importer import bundle_checksum
from openhsct.registry.locks import ADVISORY_KEY, sqlite_lock_path
from openhsct.site.middleware import DatabaseBusyMiddleware
from tests.registry.reliability import BACKEND, Target, cli_command, cli_env, kill_tree, run_cli, synth

pytestmark = pytest.mark.timeout(600)


def _split(bundle: Path, out: Path, centres: set[str]) -> Path:
    """Copy of ``bundle`` keeping only the rows of ``centres`` (every table starts with centre_code)."""
    out.mkdir()
    for f in bundle.glob("*.csv"):
        with open(f, newline="", encoding="utf-8") as src, open(out / f.name, "w", newline="", encoding="utf-8") as dst:
            reader, writer = csv.reader(src), csv.writer(dst, lineterminator="\n")
            header = next(reader)
            writer.writerow(header)
            writer.writerows(row for row in reader if row[0] in centres)
    return out


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """A 3-centre synthetic bundle and two overlapping parts of it (centres 1+2 and 2+3)."""
    work = tmp_path_factory.mktemp("concurrency")
    home = work / "home"
    home.mkdir()
    whole = synth(work / "whole", home, patients=240, seed=17)
    return {"work": work, "home": home, "whole": whole,
            "left": _split(whole, work / "left", {"SYN01", "SYN02"}),
            "right": _split(whole, work / "right", {"SYN02", "SYN03"})}


def test_two_first_imports_of_overlapping_bundles_serialise(bundles):
    work, home = bundles["work"], bundles["home"]
    reference = Target(work, "reference").create_empty()
    racing = Target(work, "racing").create_empty()  # empty: both imports would create the tables
    children = []
    try:
        done = run_cli(["import", str(bundles["whole"])], reference.url, home)
        assert done.returncode == 0, done.stdout + done.stderr
        for part in ("left", "right"):
            children.append(subprocess.Popen(cli_command(["import", str(bundles[part])]), env=cli_env(racing.url, home),
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        results = [(c.wait(timeout=300), c.stdout.read() + c.stderr.read()) for c in children]
        for code, output in results:
            assert code == 0, output
            assert "database is locked" not in output and "Traceback" not in output
        assert racing.integrity_problems() == []
        assert racing.digest(keys=False) == reference.digest(keys=False)  # both landed, nothing twice
        for part in ("left", "right"):
            assert racing.import_events(bundle_checksum(bundles[part])) == 2  # one per centre of the part
    finally:
        for c in children:
            kill_tree(c)
        reference.drop()
        racing.drop()


def _hold_import_lock(target: Target, release: threading.Event, held: threading.Event) -> None:
    """Hold ``target``'s import lock, as a running import does, until ``release`` is set."""
    if BACKEND == "sqlite":
        fd = os.open(sqlite_lock_path(str(target.path)), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held.set()
            release.wait(120)
        finally:
            os.close(fd)
        return
    import psycopg

    with psycopg.connect(target.url, autocommit=True) as con:
        con.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_KEY,))
        held.set()
        release.wait(120)


def test_an_import_that_waits_too_long_stops_clearly_and_writes_nothing(bundles):
    work, home = bundles["work"], bundles["home"]
    target = Target(work, "held").create_empty()
    done = run_cli(["import", str(bundles["left"])], target.url, home)
    assert done.returncode == 0, done.stdout + done.stderr
    before = target.digest()
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_import_lock, args=(target, release, held), daemon=True)
    holder.start()
    try:
        assert held.wait(30)
        start = time.monotonic()
        refused = run_cli(["import", "--wait", "1", str(bundles["right"])], target.url, home)
        output = " ".join((refused.stdout + refused.stderr).split())
        assert refused.returncode == 2, output
        assert "Another import into" in output and "is still running (waited 1 s); nothing was imported" in output
        assert "Traceback" not in output and "Internal error" not in output
        assert time.monotonic() - start < 60
        assert target.digest() == before
    finally:
        release.set()
        holder.join(30)
    waited = run_cli(["import", "--wait", "30", str(bundles["right"])], target.url, home)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    target.drop()


def _hold_write_lock(target: Target, seconds: float, held: threading.Event) -> None:
    """Hold a write lock on the registry for ``seconds``, as another writer (an admin save) does."""
    if BACKEND == "sqlite":
        writer = sqlite3.connect(target.path, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")  # the whole database, for writes
            held.set()
            time.sleep(seconds)
            writer.execute("COMMIT")
        finally:
            writer.close()
        return
    import psycopg

    with psycopg.connect(target.url) as con:
        con.execute("LOCK TABLE registry_patient IN SHARE ROW EXCLUSIVE MODE")
        held.set()
        time.sleep(seconds)
        con.commit()


def test_an_import_waits_for_another_writer_instead_of_failing(bundles):
    work, home = bundles["work"], bundles["home"]
    target = Target(work, "busy").create_empty()
    child = None
    try:
        done = run_cli(["import", str(bundles["left"])], target.url, home)
        assert done.returncode == 0, done.stdout + done.stderr
        held = threading.Event()
        writer = threading.Thread(target=_hold_write_lock, args=(target, 4.0, held), daemon=True)
        writer.start()
        assert held.wait(30)
        child = subprocess.Popen(cli_command(["import", str(bundles["right"])]), env=cli_env(target.url, home),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        code = child.wait(timeout=300)
        output = child.stdout.read() + child.stderr.read()
        writer.join(30)
        assert code == 0 and "database is locked" not in output, output
        assert target.import_events(bundle_checksum(bundles["right"])) == 2
    finally:
        if child is not None:
            kill_tree(child)
        target.drop()


def test_a_still_locked_database_answers_503_not_500():
    from django.conf import settings

    assert settings.MIDDLEWARE[-1] == "openhsct.site.middleware.DatabaseBusyMiddleware"
    request = RequestFactory().post("/clinic/")
    middleware = DatabaseBusyMiddleware(lambda r: None)
    response = middleware.process_exception(request, OperationalError("database is locked"))
    assert response.status_code == 503 and response["Retry-After"]
    page = response.content.decode()
    assert "try again" in page and "Not medical advice" in page and "locked" not in page
    assert middleware.process_exception(request, OperationalError("no such table: x")) is None
    assert middleware.process_exception(request, ValueError("database is locked")) is None


def test_sqlite_runs_with_a_busy_timeout_immediate_transactions_and_a_durable_wal(monkeypatch, tmp_path):
    import runpy

    from openhsct.site import settings as site_settings

    monkeypatch.setenv("OPENHSCT_DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite3'}")
    options = runpy.run_path(site_settings.__file__)["DATABASES"]["default"]["OPTIONS"]
    assert options["timeout"] >= 30 and options["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in options["init_command"] and "synchronous=FULL" in options["init_command"]
