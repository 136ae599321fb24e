"""A kill at any moment loses nothing.

A child process runs ``openhsct import`` of a synthetic bundle (2,000 patients in the deep profile, 300
locally and with CI=true, to keep CI within its time budget) into a database that already holds an earlier
import. The parent measures the import's duration T once; then, round after round, it
copies the prepared "before" database, starts the import and sends SIGKILL at a uniform random time in
(0, 1.1 T). After each kill the database must pass the engine's own checks and equal "before" or "after"
exactly, with the import's audit event present exactly when its rows are; re-running the import ends in
"after" with no duplicates. On PostgreSQL, ``pg_terminate_backend`` on the importing connection leaves
"before". A killed ``openhsct export`` never leaves a torn bundle that import accepts. A gunicorn worker
killed during an admin save leaves the record saved whole with its audit event, or not at all.

Rounds: 8 locally, 50 with CI=true, 1,000 with OPENHSCT_RELIABILITY_PROFILE=deep (kills of exports: 4,
4, 200; kills of a server worker during an admin save: 12, 12, 500). The random times come from
OPENHSCT_RELIABILITY_SEED (default 13), so a run can be repeated.
"""

from __future__ import annotations

import datetime as dt
import http.client
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from openhsct.errors import ValidationError
from openhsct.registry.importer import bundle_checksum, check_manifest
from tests.registry.reliability import (
    BACKEND,
    Target,
    cli_command,
    cli_env,
    kill_tree,
    rounds,
    run_cli,
    synth,
    terminate_writers,
)

pytestmark = pytest.mark.timeout(1800)

KILLS = rounds(local=8, ci=50, deep=1000)
PATIENTS = rounds(local=300, ci=300, deep=2000)
EXPORT_KILLS = rounds(local=4, ci=4, deep=200)
SEED = int(os.environ.get("OPENHSCT_RELIABILITY_SEED", "13"))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The bundles, the prepared "before" database, and "after" (the import run once, timed)."""
    work = tmp_path_factory.mktemp("crash")
    home = work / "home"
    home.mkdir()
    earlier = synth(work / "earlier", home, patients=PATIENTS // 7, seed=3, prefix="OLD0")
    bundle = synth(work / "bundle", home, patients=PATIENTS, seed=7)
    made: list[Target] = []
    try:
        before = Target(work, "before").create_empty()
        made.append(before)
        done = run_cli(["import", str(earlier)], before.url, home)
        assert done.returncode == 0, done.stdout + done.stderr
        after = Target(work, "after").clone_from(before)
        made.append(after)
        start = time.monotonic()
        done = run_cli(["import", str(bundle)], after.url, home)
        duration = time.monotonic() - start
        assert done.returncode == 0, done.stdout + done.stderr
        checksum = bundle_checksum(bundle)
        state = {
            "work": work, "home": home, "bundle": bundle, "before": before, "after": after, "T": duration,
            "checksum": checksum, "digest_before": before.digest(), "digest_after": after.digest(),
            "digest_after_nokeys": after.digest(keys=False), "events_after": after.import_events(checksum),
        }
        assert state["digest_before"] != state["digest_after"] and state["events_after"] > 0
        assert before.import_events(checksum) == 0
        yield state
    finally:
        for target in made:
            target.drop()


def _outcome(world: dict, db: Target) -> str:
    """Returns "before" or "after" after checking the database; fails on anything else."""
    db.wait_idle()
    assert db.integrity_problems() == [], f"{db.name}: {db.integrity_problems()}"
    digest = db.digest()
    events = db.import_events(world["checksum"])
    if digest == world["digest_before"]:
        assert events == 0, "the import's rows are absent but its audit event exists"
        return "before"
    if digest == world["digest_after"]:
        assert events == world["events_after"], "the import's rows are present but its audit event is not"
        return "after"
    differing = [t for t in digest if digest[t] != world["digest_before"].get(t)]
    raise AssertionError(f"{db.name} is neither before nor after the import (tables {differing[:5]})")


def _rerun_ends_after(world: dict, db: Target) -> None:
    done = run_cli(["import", str(world["bundle"])], db.url, world["home"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert db.integrity_problems() == []
    assert db.digest(keys=False) == world["digest_after_nokeys"], "a re-run did not end exactly in 'after'"
    assert db.import_events(world["checksum"]) >= world["events_after"]


def test_sigkill_during_import_leaves_the_database_before_or_after(world):
    rng = random.Random(SEED)
    outcomes: Counter[str] = Counter()
    reruns: Counter[str] = Counter()
    horizon = 1.1 * world["T"]
    for i in range(KILLS):
        db = Target(world["work"], f"kill{i}").clone_from(world["before"])
        proc = subprocess.Popen(cli_command(["import", str(world["bundle"])]),
                                env=cli_env(db.url, world["home"]),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(rng.uniform(0, horizon))
        finally:
            kill_tree(proc)
        try:
            outcome = _outcome(world, db)
            outcomes[outcome] += 1
            if reruns[outcome] < (2 if outcome == "before" else 1):  # re-runs: cheap enough on a few rounds
                _rerun_ends_after(world, db)
                reruns[outcome] += 1
        finally:
            db.drop()
    print(f"\n{BACKEND}: {KILLS} SIGKILLs in (0, {horizon:.2f} s): {dict(outcomes)}; re-runs {dict(reruns)}")
    assert sum(outcomes.values()) == KILLS
    assert outcomes["before"] > 0


def _sqlite_writer_active(db: Target) -> bool:
    """Returns True while another connection holds the SQLite database's write lock."""
    import sqlite3

    con = sqlite3.connect(db.path, timeout=0, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        con.close()


def test_losing_the_importing_connection_while_it_writes_leaves_before(world):
    """PostgreSQL: ``pg_terminate_backend`` on the importing connection once it holds a write lock.
    SQLite (no server connection): SIGKILL of the importer once it holds the write lock."""
    db = Target(world["work"], "terminate").clone_from(world["before"])
    proc = subprocess.Popen(cli_command(["import", str(world["bundle"])]), env=cli_env(db.url, world["home"]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if BACKEND == "postgresql":
            terminate_writers(db)
            out, err = proc.communicate(timeout=120)
            assert proc.returncode != 0 and "Traceback" not in out + err
        else:
            deadline = time.monotonic() + 120
            while not _sqlite_writer_active(db):
                assert proc.poll() is None and time.monotonic() < deadline, "the import never took the write lock"
                time.sleep(0.01)
            kill_tree(proc)
        assert _outcome(world, db) == "before"
        _rerun_ends_after(world, db)
    finally:
        kill_tree(proc)
        db.drop()


# ---------------------------------------------------------------------------------------------- export


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _accepted(folder: Path) -> bool:
    """Returns True when import would read the bundle (its manifest matches, or it has none)."""
    try:
        check_manifest(folder)
    except ValidationError:
        return False
    return True


def test_sigkill_during_export_never_leaves_a_torn_bundle_that_import_accepts(world):
    work, home = world["work"], world["home"]
    old = work / "export-old"
    done = run_cli(["export", "--out", str(old)], world["before"].url, home)
    assert done.returncode == 0, done.stderr
    db = Target(work, "export").clone_from(world["after"])
    try:
        new = work / "export-new"
        start = time.monotonic()
        done = run_cli(["export", "--out", str(new)], db.url, home)
        horizon = 1.1 * (time.monotonic() - start)
        assert done.returncode == 0, done.stderr
        assert (new / "MANIFEST.sha256").exists() and _accepted(new)
        complete = {"old": _files(old), "new": _files(new)}
        rng = random.Random(SEED + 1)
        seen: Counter[str] = Counter()
        for i in range(EXPORT_KILLS):
            out = work / f"export-{i}"
            shutil.copytree(old, out)  # an earlier export is being replaced
            proc = subprocess.Popen(cli_command(["export", "--out", str(out)]), env=cli_env(db.url, home),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(rng.uniform(0, horizon))
            finally:
                kill_tree(proc)
            candidates = [out, *out.parent.glob(f".{out.name}.openhsct-tmp-*")]
            for folder in [c for c in candidates if c.exists()]:
                if _accepted(folder):
                    files = _files(folder)
                    assert files in (complete["old"], complete["new"]), f"{folder.name}: a torn bundle is accepted"
                    seen["old" if files == complete["old"] else "new"] += folder == out
            seen["absent"] += not out.exists()
        print(f"\n{BACKEND}: {EXPORT_KILLS} SIGKILLs of exports: {dict(seen)}")
    finally:
        db.drop()


def test_import_refuses_a_bundle_that_does_not_match_its_manifest(world, tmp_path):
    bundle = tmp_path / "bundle"
    done = run_cli(["export", "--out", str(bundle)], world["before"].url, world["home"])
    assert done.returncode == 0, done.stderr
    assert _accepted(bundle)
    patients = bundle / "patients.csv"
    data = bytearray(patients.read_bytes())
    data[len(data) // 2] ^= 0x01
    patients.write_bytes(bytes(data))
    db = Target(tmp_path, "manifest").clone_from(world["before"])
    try:
        refused = run_cli(["import", str(bundle)], db.url, world["home"])
        assert refused.returncode == 2, refused.stdout + refused.stderr
        text = " ".join((refused.stdout + refused.stderr).split())
        assert "patients.csv: its SHA-256 differs from MANIFEST.sha256" in text and "Traceback" not in text
        assert db.digest() == world["digest_before"]
        (bundle / "MANIFEST.sha256").unlink()  # without a manifest it is a hand-made bundle again
        assert _accepted(bundle)
    finally:
        db.drop()


# ------------------------------------------------------------------------------- a server worker killed

ADMIN_SAVES = rounds(local=12, ci=12, deep=500)
ADD_VISIT = "/admin/registry/edssvisit/add/"


def _workers(master: int) -> set[int]:
    """Returns the PIDs of the gunicorn master's worker processes."""
    children = Path(f"/proc/{master}/task/{master}/children")
    return {int(p) for p in children.read_text().split()} if children.exists() else set()


def _wait_for_new_worker(site, killed: int, timeout: float = 60) -> None:
    """Returns once a worker other than ``killed`` has served the admin's add form (as the user's browser
    would have before saving: the worker is warm); fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _workers(site.process.pid) - {killed}:
            try:
                if site.request("GET", ADD_VISIT).status == 200:
                    return
            except OSError:
                pass
        time.sleep(0.05)
    raise AssertionError(f"no new worker answered within {timeout} s of the kill")


def _settled(db) -> None:
    """Wait until no database session of ``db`` is inside a statement or a transaction (PostgreSQL: a killed
    worker's backend ends its transaction when it sees the socket close). Nothing to wait for on SQLite."""
    if BACKEND == "sqlite":
        return
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        busy = db.query("SELECT count(*) FROM pg_stat_activity WHERE datname = ? AND pid <> pg_backend_pid() "
                        "AND state IS DISTINCT FROM 'idle'", (db.name,))[0][0]
        if busy == 0:
            return
        time.sleep(0.05)
    raise AssertionError("a killed worker's transaction is still open after 60 s")


def _saved(db, patient: int, day: str) -> int:
    """Returns how many visits of ``patient`` on ``day`` exist, after checking that each has its one audited
    create event and that no create event names a visit that does not exist."""
    visits = db.query("SELECT id FROM registry_edssvisit WHERE patient_id = ? AND visit_date = ?", (patient, day))
    after = "after" if BACKEND == "sqlite" else "after::text"
    events = db.query(f"SELECT object_pk FROM registry_auditevent WHERE action = 'create' AND model = 'EdssVisit' "
                      f"AND {after} LIKE ?", (f"%{day}%",))
    assert sorted(str(v[0]) for v in visits) == sorted(e[0] for e in events), (visits, events)
    return len(visits)


def test_sigkill_of_a_server_worker_during_an_admin_save_loses_nothing(tmp_path):
    """gunicorn (production settings, one sync worker) serves a staff member's admin form that adds an EDSS
    visit; the worker is killed at a uniform random time in (0, 1.1 T) of the save (T timed first). Each time
    the visit is saved whole with its audit event, or not at all; an answer "saved" (302) is never
    lost; the database passes the engine's checks; re-posting gives exactly one visit; the audit chain
    verifies at the end."""
    from tests.security import live

    db = Target(tmp_path, "admin_save").create_empty()
    site = None
    try:
        site = live.start(tmp_path, tmp_path / "server.log", db_url=db.url)
        assert site.sign_in(live.STAFF, live.CANARY_PASSWORD).status == 302
        patient = db.query("SELECT id FROM registry_patient WHERE patient_code = ?", (live.CANARY_CODE,))[0][0]
        token = site.csrf_token(site.request("GET", ADD_VISIT))

        def post(day: str):
            form = {"csrfmiddlewaretoken": token, "patient": patient, "visit_date": day, "edss": "3.0"}
            return site.request("POST", ADD_VISIT, form=form)

        timings = []
        for k in range(3):  # T: a save on a worker that has just served the form, as in every round
            (idle,) = _workers(site.process.pid)
            os.kill(idle, signal.SIGKILL)
            _wait_for_new_worker(site, idle)
            start = time.monotonic()
            reply = post(f"2020-01-0{k + 1}")
            timings.append(time.monotonic() - start)
            assert reply.status == 302, reply.body[:2000]
        horizon = 1.1 * sorted(timings)[1]
        rng = random.Random(SEED)
        outcomes: Counter[str] = Counter()
        for i in range(ADMIN_SAVES):
            day = (dt.date(2021, 1, 1) + dt.timedelta(days=i)).isoformat()
            answer: dict = {}

            def send(day=day, answer=answer):
                try:
                    answer["reply"] = post(day)
                except (OSError, http.client.HTTPException) as exc:
                    answer["error"] = exc

            (worker,) = _workers(site.process.pid)
            sender = threading.Thread(target=send)
            sender.start()
            time.sleep(rng.uniform(0, horizon))
            os.kill(worker, signal.SIGKILL)
            sender.join(60)
            _wait_for_new_worker(site, worker)
            _settled(db)
            assert db.integrity_problems() == []
            saved = _saved(db, patient, day)
            assert saved in (0, 1)
            if "reply" in answer and answer["reply"].status == 302:
                assert saved == 1, "the server answered 'saved' but the visit is not there"
            outcomes[("saved" if saved else "not saved") + (", answer seen" if "reply" in answer else "")] += 1
            again = post(day)
            assert again.status == (200 if saved else 302), again.status
            assert _saved(db, patient, day) == 1
        print(f"\n{BACKEND}: {ADMIN_SAVES} worker kills in (0, {horizon:.3f} s) of an admin save: {dict(outcomes)}")
        done = run_cli(["audit", "verify"], db.url, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        if site is not None:
            live.stop(site.process)
        db.drop()
