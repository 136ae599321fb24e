"""Imports at the same time: serialised, or the later one stops with a clear message; never a mixed
state, never two first imports racing to create the tables, never "database is locked" to a user."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import threading
import time

import pytest
from django.db import OperationalError
from django.test import RequestFactory

from openhsct.registry.importer import bundle_checksum
from openhsct.registry.locks import ADVISORY_KEY, sqlite_lock_path
from openhsct.site.middleware import DatabaseBusyMiddleware
from tests.registry.reliability import (
    BACKEND,
    Target,
    cli_command,
    cli_env,
    kill_tree,
    run_cli,
    split_bundle,
    synth,
)

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """A 3-centre synthetic bundle and two overlapping parts of it (centres 1+2 and 2+3)."""
    work = tmp_path_factory.mktemp("concurrency")
    home = work / "home"
    home.mkdir()
    whole = synth(work / "whole", home, patients=240, seed=17)
    return {"work": work, "home": home, "whole": whole,
            "left": split_bundle(whole, work / "left", {"SYN01", "SYN02"}),
            "right": split_bundle(whole, work / "right", {"SYN02", "SYN03"})}


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


# ------------------------------------------------------------------------------------------ edits of one record


@pytest.fixture
def visit(cast):
    """One EDSS follow-up visit of a patient of centre NRT, and a second staff member of that centre."""
    import datetime as dt
    from decimal import Decimal

    from openhsct.registry import models as m
    from openhsct.registry.audit import acting_as
    from openhsct.registry.users import ensure_user

    with acting_as("cli:test"):
        patient = m.Patient.objects.create(centre=cast["north"], patient_code="N1", sex="male", birth_year=1980,
                                           phenotype="RRMS", consent_status="given")
        record = m.EdssVisit.objects.create(patient=patient, visit_date=dt.date(2021, 3, 1), edss=Decimal("3.0"))
    cast["north_staff_2"] = ensure_user("north_staff_2", "pw-north-2", role="staff", centre_code="NRT")
    return record


def _edits(pk: int) -> int:
    from openhsct.registry import models as m

    return m.AuditEvent.objects.filter(model="EdssVisit", object_pk=str(pk), action="update").count()


def _open(pk: int):
    """The visit as one person's form loads it."""
    from openhsct.registry import models as m

    return m.EdssVisit.objects.get(pk=pk)


def test_1000_pairs_of_simultaneous_edits_of_one_visit_lose_no_update(visit):
    """Two people open the same visit and change different fields (EDSS; timed walk). In a race (both
    opened before either saved; A or B saves first) the later save is refused with the message and writes
    nothing; opened one after the other (no race), both land. After every pair the stored visit is exactly
    the last successful save: 0 lost updates, one audit event and one version per successful save."""
    import random
    from decimal import Decimal

    from openhsct.registry.audit import snapshot
    from openhsct.registry.versioning import StaleRecord, save_checked

    rng = random.Random(1000)
    lost = refused = saved = races = 0
    start_version, start_events = visit.row_version, _edits(visit.pk)
    for pair in range(1000):
        order = rng.choice(("ab", "ba", "serial"))
        a = _open(visit.pk)
        b = _open(visit.pk) if order != "serial" else None
        a.edss = Decimal(rng.randrange(0, 20)) / 2
        walk = Decimal(f"{5 + pair % 90}.5")
        if order == "ba":
            b.t25fw_s = walk
            first, second = b, a
        else:
            first = a
        save_checked(first, first.row_version)
        saved += 1
        if order == "serial":
            b = _open(visit.pk)  # opened after A's save
        if order != "ba":
            b.t25fw_s = walk
            second = b
        races += order != "serial"
        try:
            save_checked(second, second.row_version)
            saved += 1
            last = second
        except StaleRecord as stale:
            refused += 1
            last = first
            assert "changed by someone else at" in str(stale) and "reload to see their change" in str(stale)
        lost += snapshot(_open(visit.pk)) != snapshot(last)
    assert lost == 0
    assert refused == races > 250
    assert _open(visit.pk).row_version - start_version == saved
    assert _edits(visit.pk) - start_events == saved


def _change_page(client, pk: int) -> tuple[str, dict]:
    """Open the visit's admin change form. Returns its URL and the form's values as shown."""
    import re

    url = f"/admin/registry/edssvisit/{pk}/change/"
    page = client.get(url).content.decode()
    seen = re.search(r'name="seen_row_version" value="(\d+)"', page)
    assert seen, "the change form carries no seen_row_version"
    return url, {"patient": "", "visit_date": "2021-03-01", "edss": "3.0", "seen_row_version": seen.group(1),
                 "_save": "Save"}


def test_admin_change_forms_refuse_the_later_of_two_edits_with_the_message(visit, cast, client):
    """8 pairs through the admin with two signed-in staff members: both open the form, A saves, B's save
    is refused on the form (status 200, the message, nothing written); then B reloads and saves."""
    from django.test import Client

    from openhsct.registry import models as m

    a, b = client, Client()
    a.force_login(cast["north_staff"])
    b.force_login(cast["north_staff_2"])
    for pair in range(8):
        url, form_a = _change_page(a, visit.pk)
        _, form_b = _change_page(b, visit.pk)
        form_a.update(patient=visit.patient_id, edss=str(pair % 9) + ".5")
        form_b.update(patient=visit.patient_id, edss=form_a["edss"], t25fw_s=f"{10 + pair}.5")
        before = m.AuditEvent.objects.filter(action="update").count()
        assert a.post(url, form_a).status_code == 302
        refused = b.post(url, form_b)
        page = refused.content.decode()
        assert refused.status_code == 200 and "This record was changed by someone else at" in page
        assert "reload to see their change" in page
        stored = m.EdssVisit.objects.get(pk=visit.pk)
        assert str(stored.edss) == form_a["edss"] and stored.t25fw_s is None  # A's edit kept, B's not written
        assert m.AuditEvent.objects.filter(action="update").count() == before + 1
        stored.t25fw_s = None
        url, form_b = _change_page(b, visit.pk)  # B reloads: the new version, then saves
        form_b.update(patient=visit.patient_id, edss=form_a["edss"], t25fw_s="")
        assert b.post(url, form_b).status_code == 302


def test_admin_save_that_loses_the_race_after_its_checks_is_rolled_back(visit, cast, client, monkeypatch):
    """Both saves pass the form's check at the same moment; the database's version filter stops the
    later one: a redirect back to the record with the message, no change, no audit event, no admin log."""
    from django.contrib.admin.models import LogEntry

    from openhsct.registry import models as m
    from openhsct.registry import versioning

    client.force_login(cast["north_staff"])
    url, form = _change_page(client, visit.pk)
    with_version = m.EdssVisit.objects.get(pk=visit.pk)
    with_version.edss = with_version.edss + 1
    versioning.save_checked(with_version, with_version.row_version)  # the other person's save lands first
    monkeypatch.setattr(versioning, "current_version", lambda obj: int(form["seen_row_version"]))
    writes = m.AuditEvent.objects.filter(action__in=("create", "update", "delete"))
    before = (writes.count(), LogEntry.objects.count())
    form.update(patient=visit.patient_id, edss="6.5")
    response = client.post(url, form, follow=True)
    assert response.redirect_chain == [(url, 302)]
    assert "This record was changed by someone else at" in response.content.decode()
    assert m.EdssVisit.objects.get(pk=visit.pk).edss == with_version.edss
    assert (writes.count(), LogEntry.objects.count()) == before


def test_clinic_form_bound_to_a_visit_refuses_a_stale_version(visit):
    """The clinic's visit form, bound to an existing visit, carries its version and refuses it once
    another save has raised it; the clinic writes the form's values with the version it carried."""
    from openhsct.portal.clinic.forms import EdssVisitForm
    from openhsct.registry import models as m
    from openhsct.registry.versioning import save_checked

    first = EdssVisitForm({"visit_date": "2021-03-01", "edss": "4.0", "seen_row_version": str(visit.row_version)},
                          instance=m.EdssVisit.objects.get(pk=visit.pk), patient=visit.patient)
    second = EdssVisitForm({"visit_date": "2021-03-01", "edss": "5.0", "seen_row_version": str(visit.row_version)},
                           instance=m.EdssVisit.objects.get(pk=visit.pk), patient=visit.patient)
    assert first.fields["seen_row_version"].initial == visit.row_version
    assert first.is_valid(), first.errors
    for name, value in first.record_values().items():
        setattr(first.instance, name, value)
    save_checked(first.instance, first.cleaned_data["seen_row_version"])
    assert not second.is_valid()
    assert "changed by someone else at" in " ".join(second.non_field_errors())
    stored = m.EdssVisit.objects.get(pk=visit.pk)
    assert (str(stored.edss), stored.row_version) == ("4.0", visit.row_version + 1)
