"""Data entry through the Django admin is scoped by role: staff touch only their centre, a monitor reads
everything and changes nothing, and every change made there lands in the audit history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from openhsct.registry import models as m
from openhsct.registry.audit import acting_as

WRITES = ("create", "update", "delete")  # audit actions that change data (sign-ins and refusals are audited too)

PATIENT_FORM = {
    "patient_code": "N9",
    "sex": "female",
    "birth_year": "1988",
    "phenotype": "RRMS",
    "onset_date": "2012-04-01",
    "diagnosis_date": "2013-01-10",
    "consent_status": "given",
    "consent_date": "2020-01-01",
    "last_contact_date": "",
    "_save": "Save",
}


@pytest.fixture
def patients(cast):
    """One patient with one EDSS visit at each centre."""
    with acting_as("cli:test"):
        out = {}
        for key, centre, code in (("north", cast["north"], "N1"), ("south", cast["south"], "S1")):
            p = m.Patient.objects.create(
                centre=centre,
                patient_code=code,
                sex="male",
                birth_year=1980,
                phenotype="RRMS",
                consent_status="given",
            )
            out[key] = p
            out[f"{key}_visit"] = m.EdssVisit.objects.create(
                patient=p, visit_date=dt.date(2021, 3, 1), edss=Decimal("3.0")
            )
    return {**cast, **out}


def _as(client, user):
    client.force_login(user)
    return client


def _refused(response) -> bool:
    """Django admin answers an object outside the user's queryset with a redirect to the index (the
    object 'does not exist' for them); a permission it lacks with 403."""
    return response.status_code in {302, 403, 404} and (
        response.status_code != 302 or response["Location"] == "/admin/"
    )


# ------------------------------------------------------------------------------------------ centre staff


def test_staff_changelist_lists_only_their_centre(patients, client):
    _as(client, patients["north_staff"])
    page = client.get("/admin/registry/patient/").content.decode()
    assert "N1" in page and "S1" not in page
    response = client.get("/admin/registry/edssvisit/")
    assert list(response.context["cl"].result_list) == [patients["north_visit"]]


def test_staff_cannot_open_or_change_another_centres_patient(patients, client):
    _as(client, patients["north_staff"])
    south = patients["south"]
    url = f"/admin/registry/patient/{south.pk}/change/"
    assert _refused(client.get(url))
    assert _refused(
        client.post(
            url, {**PATIENT_FORM, "centre": south.centre_id, "patient_code": "S1", "birth_year": "1999"}
        )
    )
    assert _refused(client.post(f"/admin/registry/patient/{south.pk}/delete/", {"post": "yes"}))
    south.refresh_from_db()
    assert south.birth_year == 1980
    visit = patients["south_visit"]
    assert _refused(
        client.post(
            f"/admin/registry/edssvisit/{visit.pk}/change/",
            {"patient": south.pk, "visit_date": "2021-03-01", "edss": "9.5"},
        )
    )
    visit.refresh_from_db()
    assert visit.edss == 3
    assert not m.AuditEvent.objects.filter(actor="north_staff", action__in=WRITES).exists()


def test_staff_cannot_add_into_another_centre(patients, client):
    _as(client, patients["north_staff"])
    response = client.post(
        "/admin/registry/patient/add/", {**PATIENT_FORM, "centre": patients["south"].centre_id}
    )
    assert response.status_code == 200 and "centre" in response.context["adminform"].form.errors
    response = client.post(
        "/admin/registry/edssvisit/add/",
        {"patient": patients["south"].pk, "visit_date": "2022-01-01", "edss": "2.0"},
    )
    assert response.status_code == 200 and "patient" in response.context["adminform"].form.errors
    assert not m.Patient.objects.filter(patient_code="N9").exists()
    assert m.EdssVisit.objects.count() == 2


def test_staff_cannot_see_other_centres_audit_history(patients, client):
    response = _as(client, patients["north_staff"]).get("/admin/registry/auditevent/")
    assert {e.centre_code for e in response.context["cl"].result_list} == {"NRT"}


def test_staff_cannot_manage_centres_or_roles(patients, client):
    _as(client, patients["north_staff"])
    assert client.get("/admin/registry/centre/add/").status_code == 403
    assert client.get("/admin/registry/membership/").status_code == 403


# ------------------------------------------------------------------------------------------ monitor


def test_monitor_views_everything(patients, client):
    _as(client, patients["monitor"])
    page = client.get("/admin/registry/patient/").content.decode()
    assert "N1" in page and "S1" in page
    response = client.get(f"/admin/registry/patient/{patients['south'].pk}/change/")
    assert response.status_code == 200
    assert (
        response.context["has_change_permission"] is False and 'name="_save"' not in response.content.decode()
    )


def test_monitor_changes_nothing(patients, client):
    _as(client, patients["monitor"])
    south = patients["south"]
    assert client.get("/admin/registry/patient/add/").status_code == 403
    assert (
        client.post("/admin/registry/patient/add/", {**PATIENT_FORM, "centre": south.centre_id}).status_code
        == 403
    )
    change = client.post(
        f"/admin/registry/patient/{south.pk}/change/",
        {**PATIENT_FORM, "centre": south.centre_id, "patient_code": "S1", "birth_year": "1999"},
    )
    assert change.status_code == 403
    assert client.post(f"/admin/registry/patient/{south.pk}/delete/", {"post": "yes"}).status_code == 403
    visit = patients["north_visit"]
    assert client.post(f"/admin/registry/edssvisit/{visit.pk}/delete/", {"post": "yes"}).status_code == 403
    south.refresh_from_db()
    assert south.birth_year == 1980 and m.EdssVisit.objects.count() == 2
    assert not m.AuditEvent.objects.filter(actor="monitor", action__in=WRITES).exists()


def test_monitor_bulk_delete_action_is_not_offered(patients, client):
    response = _as(client, patients["monitor"]).post(
        "/admin/registry/patient/",
        {
            "action": "delete_selected",
            "_selected_action": [patients["north"].pk, patients["south"].pk],
            "post": "yes",
        },
    )
    assert m.Patient.objects.count() == 2 and response.status_code in {200, 302, 403}


# ------------------------------------------------------------------------------------------ audit


def test_admin_create_update_delete_are_audited_with_the_user(patients, client):
    _as(client, patients["north_staff"])
    north = patients["north"].centre
    response = client.post("/admin/registry/patient/add/", {**PATIENT_FORM, "centre": north.pk})
    assert response.status_code == 302, response.context["adminform"].form.errors
    patient = m.Patient.objects.get(patient_code="N9")
    created = m.AuditEvent.objects.get(action="create", model="Patient", object_pk=str(patient.pk))
    assert (created.actor, created.centre_code, created.patient_code) == ("north_staff", "NRT", "N9")
    assert created.before is None and created.after["birth_year"] == 1988

    response = client.post(
        f"/admin/registry/patient/{patient.pk}/change/",
        {**PATIENT_FORM, "centre": north.pk, "birth_year": "1987"},
    )
    assert response.status_code == 302
    updated = m.AuditEvent.objects.get(action="update", model="Patient", object_pk=str(patient.pk))
    assert updated.actor == "north_staff"
    assert updated.before["birth_year"] == 1988 and updated.after["birth_year"] == 1987
    assert updated.before["onset_date"] == updated.after["onset_date"] == "2012-04-01"

    response = client.post(f"/admin/registry/patient/{patient.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not m.Patient.objects.filter(pk=patient.pk).exists()
    deleted = m.AuditEvent.objects.get(action="delete", model="Patient", object_pk=str(patient.pk))
    assert deleted.actor == "north_staff" and deleted.before["birth_year"] == 1987 and deleted.after is None
    assert (deleted.centre_code, deleted.patient_code) == ("NRT", "N9")


def test_saving_unchanged_form_writes_no_update_event(patients, client):
    _as(client, patients["north_staff"])
    visit = patients["north_visit"]
    response = client.post(
        f"/admin/registry/edssvisit/{visit.pk}/change/",
        {"patient": visit.patient_id, "visit_date": "2021-03-01", "edss": "3.0", "_save": "Save"},
    )
    assert response.status_code == 302
    assert not m.AuditEvent.objects.filter(action="update", model="EdssVisit").exists()
    client.post(
        f"/admin/registry/edssvisit/{visit.pk}/change/",
        {"patient": visit.patient_id, "visit_date": "2021-03-01", "edss": "3.5", "_save": "Save"},
    )
    event = m.AuditEvent.objects.get(action="update", model="EdssVisit")
    assert (event.before["edss"], event.after["edss"], event.actor) == ("3.0", "3.5", "north_staff")


def test_cascade_delete_audits_the_patients_records(patients, client):
    patient = patients["north"]
    visit_pk = patients["north_visit"].pk
    response = _as(client, patients["north_staff"]).post(
        f"/admin/registry/patient/{patient.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    gone = m.AuditEvent.objects.get(action="delete", model="EdssVisit", object_pk=str(visit_pk))
    assert gone.actor == "north_staff" and gone.before["edss"] == "3.0"


# ------------------------------------------------------------------------------------------ rules


def _tomorrow() -> str:
    from openhsct.registry.validation import today

    return (today() + dt.timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("visit_date", "future", "Date is in the future (you entered "),
        ("visit_date", "1960-01-01", "Nothing can be dated before the patient's birth year (1960-01-01 vs 1980)."),
        ("edss", "1e400", "Not a plain number (write it without an exponent such as 1e5) (you entered 1e400)."),
        ("edss", "NaN", "Not a finite number (NaN and infinity are refused) (you entered NaN)."),
        ("edss", "10", "Must be ≥ 0 and ≤ 9.5 (you entered 10)."),
        ("edss", "３", "Digits must be 0–9"),
    ],
)
def test_admin_shows_the_rule_next_to_the_field_and_writes_nothing(patients, client, field, value, message):
    _as(client, patients["north_staff"])
    visit = patients["north_visit"]
    data = {"patient": visit.patient_id, "visit_date": "2022-02-02", "edss": "3.5", "_save": "Save"}
    data[field] = _tomorrow() if value == "future" else value
    before = (m.EdssVisit.objects.count(), m.AuditEvent.objects.count())
    for url in ("/admin/registry/edssvisit/add/", f"/admin/registry/edssvisit/{visit.pk}/change/"):
        response = client.post(url, data)
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors[field]
        assert any(e.startswith(message) for e in errors), errors
        assert f'{field}' in response.content.decode() and "errorlist" in response.content.decode()
    visit.refresh_from_db()
    assert (visit.edss, m.EdssVisit.objects.count(), m.AuditEvent.objects.count()) == (Decimal("3.0"), *before)


def test_admin_names_records_readably(patients, client):
    visit = patients["north_visit"]
    assert str(visit) == "EDSS 3.0 on 2021-03-01 — N1"
    page = _as(client, patients["north_staff"]).get(f"/admin/registry/edssvisit/{visit.pk}/change/")
    assert "EDSS 3.0 on 2021-03-01 — N1" in page.content.decode()
    assert "EdssVisit object" not in page.content.decode()
