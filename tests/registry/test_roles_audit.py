"""Who may read and change which centre (the role helpers every view calls first), and the audit
history of imports, exports and changes made outside a request."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied

from openhsct.registry import models as m
from openhsct.registry import roles
from openhsct.registry.audit import acting_as, current_actor
from openhsct.registry.exporter import export_bundle
from openhsct.registry.importer import bundle_checksum, import_bundle
from tests.registry.bundle_factory import small_bundle, write


@pytest.fixture
def people(cast):
    """The cast plus a signed-up member of the public (no role) and one patient per centre."""
    public = get_user_model().objects.create_user("public", password="pw-public-1")
    with acting_as("cli:test"):
        n1 = m.Patient.objects.create(
            centre=cast["north"],
            patient_code="N1",
            sex="female",
            birth_year=1985,
            phenotype="RRMS",
            consent_status="given",
        )
        s1 = m.Patient.objects.create(
            centre=cast["south"],
            patient_code="S1",
            sex="male",
            birth_year=1980,
            phenotype="SPMS",
            consent_status="given",
        )
    return {**cast, "public": public, "n1": n1, "s1": s1}


# ------------------------------------------------------------------------------------------ roles


def test_staff_read_and_write_only_their_centre(people):
    north_staff, north, south = people["north_staff"], people["north"], people["south"]
    assert roles.can_read_centre(north_staff, north) and roles.can_write_centre(north_staff, north)
    assert not roles.can_read_centre(north_staff, south) and not roles.can_write_centre(north_staff, south)
    assert list(roles.readable_centres(north_staff)) == [north]
    assert list(roles.readable_patients(north_staff)) == [people["n1"]]
    assert roles.get_centre_for_reader(north_staff, "NRT") == north
    assert roles.get_patient_for_writer(north_staff, "NRT", "N1") == people["n1"]
    with pytest.raises(PermissionDenied):
        roles.get_centre_for_reader(north_staff, "SRC")
    with pytest.raises(PermissionDenied):
        roles.get_patient_for_writer(north_staff, "SRC", "S1")


def test_monitor_reads_every_centre_and_writes_none(people):
    monitor = people["monitor"]
    assert roles.is_monitor(monitor) and roles.staff_centre(monitor) is None
    assert set(roles.readable_centres(monitor)) == {people["north"], people["south"]}
    assert set(roles.readable_patients(monitor)) == {people["n1"], people["s1"]}
    assert roles.get_centre_for_reader(monitor, "SRC") == people["south"]
    for centre in (people["north"], people["south"], None):
        assert not roles.can_write_centre(monitor, centre)
    with pytest.raises(PermissionDenied):
        roles.get_patient_for_writer(monitor, "NRT", "N1")


def test_public_and_anonymous_see_no_centre(people):
    from django.contrib.auth.models import AnonymousUser

    for user in (people["public"], AnonymousUser()):
        assert roles.membership(user) is None and not roles.is_monitor(user)
        assert not roles.readable_centres(user).exists() and not roles.readable_patients(user).exists()
        assert not roles.can_write_centre(user, people["north"])
        with pytest.raises(PermissionDenied):
            roles.get_centre_for_reader(user, "NRT")


def test_unknown_codes_are_refused_like_forbidden_ones(people):
    with pytest.raises(PermissionDenied) as unknown:
        roles.get_centre_for_reader(people["north_staff"], "NOPE")
    with pytest.raises(PermissionDenied) as forbidden:
        roles.get_centre_for_reader(people["north_staff"], "SRC")
    assert str(unknown.value) == str(forbidden.value)
    with pytest.raises(PermissionDenied):
        roles.get_patient_for_writer(people["north_staff"], "NRT", "NOPE")


def test_administrator_may_do_everything(people):
    admin = people["admin"]
    assert roles.get_patient_for_writer(admin, "SRC", "S1") == people["s1"]
    assert roles.can_write_centre(admin, people["north"]) and roles.readable_centres(admin).count() == 2


def test_centre_of_follows_records_to_their_patient(people):
    with acting_as("cli:test"):
        visit = m.EdssVisit.objects.create(patient=people["s1"], visit_date=dt.date(2020, 1, 1), edss=2)
    assert roles.centre_of(visit) == people["south"]
    assert roles.centre_of(people["n1"]) == people["north"]
    assert roles.centre_of(people["north"]) == people["north"] and roles.centre_of(None) is None


# ------------------------------------------------------------------------------------------ audit


def test_changes_outside_a_request_are_audited_with_the_given_actor(people):
    assert current_actor().startswith("cli:")
    with acting_as("cli:alice"):
        assert current_actor() == "cli:alice"
        p = people["n1"]
        p.last_contact_date = dt.date(2024, 1, 2)
        p.save()
    event = m.AuditEvent.objects.get(action="update", model="Patient", object_pk=str(p.pk))
    assert event.actor == "cli:alice" and event.before["last_contact_date"] is None
    assert event.after["last_contact_date"] == "2024-01-02"
    assert current_actor() != "cli:alice"


def test_decimals_are_audited_as_stored(people):
    with acting_as("cli:test"):
        visit = m.EdssVisit.objects.create(patient=people["n1"], visit_date=dt.date(2020, 1, 1), edss=4)
        again = m.EdssVisit.objects.get(pk=visit.pk)
        again.edss = Decimal("4")
        again.save()  # the same value written differently: no update event
    events = m.AuditEvent.objects.filter(model="EdssVisit", object_pk=str(visit.pk))
    assert [(e.action, e.after["edss"]) for e in events] == [("create", "4.0")]


def test_import_writes_one_event_with_checksum_and_counts(people, tmp_path):
    folder = write(small_bundle(), tmp_path / "a")
    before = m.AuditEvent.objects.count()
    report = import_bundle(folder, actor="cli:importer")
    events = m.AuditEvent.objects.filter(action="import")
    assert events.count() == 1
    event = events.get()
    assert event.actor == "cli:importer" and event.model == "bundle" and event.centre_code == "NRT"
    assert event.detail["sha256"] == bundle_checksum(folder) and len(event.detail["sha256"]) == 64
    assert event.detail["source"] == str(folder)
    assert event.detail["created"] == report.created and event.detail["created"]["edss_visits"] == 4
    assert event.detail["created"]["centres"] == 0 and event.detail["unchanged"]["centres"] == 1
    # one bundle event, and one create event with its values per new row
    created_rows = sum(report.created.values())
    assert m.AuditEvent.objects.count() == before + 1 + created_rows
    rows = m.AuditEvent.objects.filter(action="create", detail__via="import")
    assert rows.count() == created_rows and {e.actor for e in rows} == {"cli:importer"}
    visit = rows.filter(model="EdssVisit").order_by("id").first()
    stored = m.EdssVisit.objects.get(pk=visit.object_pk)
    assert visit.after["edss"] == f"{stored.edss:.1f}" and visit.patient_code == stored.patient.patient_code


def test_reimport_of_a_changed_row_records_before_and_after(people, tmp_path):
    bundle = small_bundle()
    import_bundle(write(bundle, tmp_path / "a"), actor="cli:first")
    changed = copy.deepcopy(bundle)
    changed["transplants"][0]["cd34_infused_1e6_per_kg"] = "6.10"
    import_bundle(write(changed, tmp_path / "b"), actor="cli:second")
    event = m.AuditEvent.objects.get(action="update", model="Transplant")
    assert event.actor == "cli:second" and (event.centre_code, event.patient_code) == ("NRT", "P001")
    assert (
        event.before["cd34_infused_1e6_per_kg"] == "5.80" and event.after["cd34_infused_1e6_per_kg"] == "6.10"
    )
    assert event.detail == {"via": "import"}
    second = m.AuditEvent.objects.filter(action="import").order_by("id").last()
    assert second.detail["updated"]["transplants"] == 1 and second.detail["created"]["transplants"] == 0
    assert m.Transplant.objects.get(patient__patient_code="P001").cd34_infused_1e6_per_kg == Decimal("6.10")


def test_failed_import_writes_only_the_refusal(people, tmp_path):
    from openhsct.errors import ValidationError

    bundle = small_bundle()
    bundle["edss_visits"][0]["edss"] = "10.5"
    before = m.AuditEvent.objects.count()
    with pytest.raises(ValidationError):
        import_bundle(write(bundle, tmp_path / "bad"), actor="cli:importer")
    new = list(m.AuditEvent.objects.order_by("id")[before:])
    assert [(e.action, e.model, e.detail["event"]) for e in new] == [("denied", "import", "import refused")]


def test_export_writes_one_event_with_who_and_what(people, tmp_path):
    import_bundle(write(small_bundle(), tmp_path / "in"), actor="cli:test")
    counts = export_bundle(tmp_path / "out", actor="cli:bob", centre_codes=["NRT"])
    event = m.AuditEvent.objects.get(action="export")
    assert event.actor == "cli:bob" and event.centre_code == "NRT"
    assert event.detail["destination"] == str(tmp_path / "out") and event.detail["format"] == "csv"
    assert event.detail["centres"] == ["NRT"] and event.detail["rows"] == counts
    assert counts["patients"] == 3 and counts["edss_visits"] == 4  # N1 plus the bundle's P001, P002
    export_bundle(tmp_path / "all", actor="cli:bob", fmt="parquet")
    everything = m.AuditEvent.objects.filter(action="export").order_by("id").last()
    assert everything.detail["centres"] == "all" and everything.detail["format"] == "parquet"
    assert everything.detail["rows"]["patients"] == 4
