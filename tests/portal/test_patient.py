"""The patient area: invitation, own record only, questionnaires, consent withdrawal, own data."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from openhsct.registry import models as m
from openhsct.registry.importer import import_bundle
from tests.committed import committed_once
from tests.registry.bundle_factory import small_bundle, write

pytestmark = pytest.mark.django_db


def _cast_and_bundle(folder: Path) -> dict:
    """Creates the cast and imports the small NRT bundle; returns the cast."""
    from tests.conftest import make_cast

    cast = make_cast()
    import_bundle(write(small_bundle(), folder / "bundle"))
    return cast


@pytest.fixture(scope="module")
def _registry_rows(django_db_setup, django_db_blocker, tmp_path_factory):
    """The cast and the small bundle, committed once for this module and wiped after it."""
    yield from committed_once(django_db_blocker, lambda: _cast_and_bundle(tmp_path_factory.mktemp("patients")))


@pytest.fixture
def registry(db, _registry_rows):
    """The cast over the small NRT bundle, fetched afresh; what the test writes is rolled back after it."""
    return {name: type(obj)._base_manager.get(pk=obj.pk) for name, obj in _registry_rows.items()}


def _staff(username="north_staff") -> Client:
    from django.contrib.auth import get_user_model

    c = Client()
    c.force_login(get_user_model().objects.get(username=username))
    return c


def _invite(code="P001") -> str:
    r = _staff().post("/patient/invite/", {"centre_code": "NRT", "patient_code": code})
    assert r.status_code == 200
    link = r.context["link"]
    assert "/patient/join/" in link
    return link.split("testserver", 1)[1]


def _patient(code="P001") -> tuple[Client, int]:
    c = Client()
    path = _invite(code)
    r = c.post(path)
    assert r.status_code == 302
    pk = m.Patient.objects.get(patient_code=code).pk
    assert r["Location"] == f"/patient/{pk}/"
    return c, pk


def test_invite_is_one_time_hashed_and_expires(registry):
    path = _invite()
    token = path.rstrip("/").rsplit("/", 1)[1]
    assert not m.PatientInvite.objects.filter(token_sha256=token).exists()  # only the digest is stored
    assert Client().get(path).status_code == 200  # looking at the page does not use it
    assert Client().post(path).status_code == 302
    assert Client().post(path).status_code == 410  # used
    late = _invite("P002")
    m.PatientInvite.objects.filter(patient__patient_code="P002").update(expires_at=timezone.now())
    assert Client().post(late).status_code == 410


def test_only_staff_of_the_centre_can_invite(registry):
    assert _staff("south_staff").post(
        "/patient/invite/", {"centre_code": "NRT", "patient_code": "P001"}).context["link"] is None
    assert _staff("monitor").get("/patient/invite/").status_code == 403
    assert Client().get("/patient/invite/").status_code == 302  # to sign-in


def test_another_patients_pages_answer_404(registry):
    c, pk = _patient("P001")
    other = m.Patient.objects.get(patient_code="P002").pk
    assert c.get(f"/patient/{pk}/").status_code == 200
    for suffix in ("", "questionnaires/pdds/", "consent/", "my-data.zip", "my-data.fhir.json", "password/"):
        assert c.get(f"/patient/{other}/{suffix}").status_code == 404, suffix
    assert _staff().get(f"/patient/{pk}/").status_code == 404  # staff are not the patient either


def test_answers_are_stored_as_the_patients_beside_the_clinicians(registry):
    c, pk = _patient()
    patient = m.Patient.objects.get(pk=pk)
    today = dt.date.today()
    m.ProAnswer.objects.create(patient=patient, response_date=today, instrument="pdds", item="pdds", answer="2",
                               source="clinician")
    home = c.get(f"/patient/{pk}/")
    assert [i.code for i in home.context["due"]] == ["pdds", "employment", "comment"]
    assert c.post(f"/patient/{pk}/questionnaires/pdds/", {"pdds": "9"}).status_code == 400
    assert c.post(f"/patient/{pk}/questionnaires/pdds/", {"pdds": "4"}).status_code == 302
    c.post(f"/patient/{pk}/questionnaires/comment/", {"text": "Tired in the afternoons."})
    rows = {(a.source, a.instrument, a.answer) for a in m.ProAnswer.objects.filter(patient=patient)}
    assert {("clinician", "pdds", "2"), ("patient", "pdds", "4"),
            ("patient", "comment", "Tired in the afternoons.")} <= rows
    home = c.get(f"/patient/{pk}/")
    assert [i.code for i in home.context["due"]] == ["employment"]
    text = home.content.decode()
    assert "You answered “Patient Determined Disease Steps (PDDS)”: Early cane" in text
    assert "Disability assessed (EDSS)" in text


def test_download_own_data_csv_and_fhir(registry):
    from fhir.resources.R4B.bundle import Bundle

    c, pk = _patient()
    z = zipfile.ZipFile(io.BytesIO(c.get(f"/patient/{pk}/my-data.zip").content))
    visits = z.read("edss_visits.csv").decode()
    assert "P001" in visits and "P002" not in visits
    assert "P002" not in z.read("patients.csv").decode()
    body = c.get(f"/patient/{pk}/my-data.fhir.json").content
    bundle = Bundle.model_validate(json.loads(body))
    assert {e.resource.get_resource_type() for e in bundle.entry} >= {"Patient", "Condition", "Observation"}
    assert b"P002" not in body


def test_withdrawing_consent_is_dated_and_seen_by_staff(registry):
    c, pk = _patient()
    assert c.post(f"/patient/{pk}/consent/", {"scope": "publication"}).status_code == 302  # not confirmed
    assert m.Patient.objects.get(pk=pk).consent_publication != "no"
    c.post(f"/patient/{pk}/consent/", {"scope": "publication", "confirm": "yes"})
    p = m.Patient.objects.get(pk=pk)
    assert p.consent_publication == "no" and p.consent_status == "given"
    c.post(f"/patient/{pk}/consent/", {"scope": "registry", "confirm": "yes"})
    p = m.Patient.objects.get(pk=pk)
    assert p.consent_status == "withdrawn" and p.consent_withdrawal_date == dt.date.today()
    dash = _staff().get("/clinic/NRT/")
    assert dash.context["consent_excluded"] == 1
    ev = m.AuditEvent.objects.filter(model="Patient", action="update", patient_code="P001").first()
    assert ev is not None and ev.after["consent_status"] == "withdrawn" and ev.actor.startswith("patient-")


def test_password_is_argon2_and_signs_in(registry):
    c, pk = _patient()
    assert c.post(f"/patient/{pk}/password/", {"password": "a", "password2": "a"}).status_code == 200  # too short
    r = c.post(f"/patient/{pk}/password/", {"password": "long-enough-pass-42", "password2": "long-enough-pass-42"})
    assert r.status_code == 302
    user = m.PatientAccount.objects.get(patient_id=pk).user
    assert user.password.startswith("argon2$")
    fresh = Client()
    r = fresh.post("/patient/sign-in/", {"username": user.username, "password": "long-enough-pass-42"})
    assert r.status_code == 302
    assert fresh.get("/patient/").headers["Location"] == f"/patient/{pk}/"
