"""The clinicians' area: who may open which centre, what the dashboard shows, and follow-up entry
validated by the import's own rules."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from openhsct.portal.clinic import selectors
from openhsct.registry import models as m
from openhsct.registry.audit import acting_as
from openhsct.registry.importer import import_bundle
from tests.clinic_urls import patient_url
from tests.registry.bundle_factory import small_bundle, write


@pytest.fixture
def registry(cast, tmp_path):
    """The cast plus the small NRT bundle (P001 alive, P002 died 2019-05-06) and one SRC patient."""
    with acting_as("cli:test"):
        import_bundle(write(small_bundle(), tmp_path / "bundle"), actor="cli:test")
        m.Patient.objects.create(
            centre=cast["south"],
            patient_code="S001",
            sex="male",
            birth_year=1980,
            phenotype="RRMS",
            consent_status="given",
        )
    return cast


def _client(client, user):
    client.force_login(user)
    return client


def _edss(client, patient="P001", **data):
    return client.post(patient_url("NRT", patient, "add/edss/"), {f"edss-{k}": v for k, v in data.items()})


def _field_errors(response, slug: str, field: str) -> list[str]:
    """The messages shown in the HTML block of one form field (label, help, errors, input)."""
    html = response.content.decode()
    block = re.search(
        rf'<div class="field has-error">\s*<label for="id_{slug}-{field}">.*?id="id_{slug}-{field}"',
        html,
        re.S,
    )
    assert block, f"no error block next to {slug}-{field}"
    return re.findall(r"<li>(.*?)</li>", block.group(0), re.S)


# ------------------------------------------------------------------------------------------ selectors


def test_months_before_clamps_to_the_end_of_the_month():
    assert selectors.months_before(dt.date(2024, 8, 31), 6) == dt.date(2024, 2, 29)
    assert selectors.months_before(dt.date(2024, 1, 15), 13) == dt.date(2022, 12, 15)


def test_completeness_counts_the_expected_records(registry):
    rows = {
        (r.table, r.expectation): r
        for r in selectors.centre_completeness(registry["north"], today=dt.date(2019, 4, 1))
    }
    got = {k: (r.complete, r.expected) for k, r in rows.items()}
    assert got[("Transplant", "day 0 recorded")] == (2, 2)
    assert got[("Engraftment", "a neutrophil engraftment date")] == (2, 2)
    assert got[("Engraftment", "a platelet engraftment date")] == (1, 2)  # P002 never engrafted platelets
    assert got[("Conditioning", "a conditioning regimen")] == (2, 2)
    # EDSS follow-up is openhsct.outcomes.followup's one definition: on 2019-04-01 P002 was still alive
    # (died later) and seen within 365 days, as was P001 (visit 2018-09-20)
    assert got[("EDSS visits", "a visit in the last 12 months")] == (2, 2)
    assert got[("MRI scans", "a scan in the last 18 months")] == (1, 1)
    later = {
        (r.table, r.expectation): (r.complete, r.expected)
        for r in selectors.centre_completeness(registry["north"], today=dt.date(2021, 1, 1))
    }
    assert later[("EDSS visits", "a visit in the last 12 months")] == (0, 1)
    assert rows[("Engraftment", "a platelet engraftment date")].percent == "50 %"


def test_overdue_lists_living_patients_without_a_recent_visit(registry):
    north = registry["north"]
    # the centre's schedule (day 100, 6 and 12 months, then yearly, ±30 days): P001's 12-month visit of
    # 2019-03-18 meets the milestone of 2019-03-20; the 24-month one (2020-03-20) is due from 2020-02-19
    # and overdue after 2020-04-19
    assert selectors.overdue_followup(north, today=dt.date(2019, 11, 1)) == []
    assert [f.patient_code for f in selectors.followup_lists(north, today=dt.date(2020, 3, 1))["due"]] == ["P001"]
    overdue = selectors.overdue_followup(north, today=dt.date(2020, 5, 1))
    assert [(o.patient_code, o.last_visit, o.milestone) for o in overdue] == [("P001", dt.date(2019, 3, 18), "24 months")]


# ------------------------------------------------------------------------------------------ access


def test_anonymous_users_are_sent_to_sign_in(registry, client):
    for url in ("/clinic/", "/clinic/NRT/", patient_url("NRT", "P001")):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_landing_lists_the_centres_the_user_may_read(registry, client):
    page = _client(client, registry["north_staff"]).get("/clinic/").content.decode()
    assert "/clinic/NRT/" in page and "/clinic/SRC/" not in page
    client.logout()
    page = _client(client, registry["monitor"]).get("/clinic/").content.decode()
    assert "/clinic/NRT/" in page and "/clinic/SRC/" in page


def test_dashboard_shows_completeness_overdue_and_recent_changes(registry, client):
    from openhsct.portal.clinic.services import relapse_create

    p001 = m.Patient.objects.get(patient_code="P001")
    with acting_as("someone_else"):
        for day in range(1, 23):
            relapse_create(patient=p001, onset_date=dt.date(2022, 1, day))
    response = _client(client, registry["north_staff"]).get("/clinic/NRT/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Data completeness" in page and "1 of 2" in page  # platelet engraftment
    overdue = page.split('id="overdue"')[1].split('id="changes"')[0]
    assert "P001" in overdue and "P002" not in overdue  # P002 died
    assert [o.patient_code for o in response.context["overdue"]] == ["P001"]
    changes = list(response.context["changes"])
    assert len(changes) == 20 and all(e.centre_code == "NRT" and e.actor == "someone_else" for e in changes)
    assert changes[0].after["onset_date"] == "2022-01-22"  # newest first
    assert "someone_else" in page.split('id="changes"')[1]
    assert "Not medical advice" in page and "SYNTHETIC DATA" in page


def test_addresses_carry_opaque_keys_never_patient_codes(registry, client):
    """ASVS 8.3.1: links and form targets name a patient by an 80-bit key made with the server's secret;
    a code, or another centre's key, in the address is a missing page."""
    from openhsct.security import keys

    staff = _client(client, registry["north_staff"])
    dashboard = staff.get("/clinic/NRT/").content.decode()
    patient = staff.get(patient_url("NRT", "P001")).content.decode()
    targets = re.findall(r'(?:href|action)="([^"]*)"', dashboard + patient)
    assert any("/patients/" in t for t in targets)
    assert [t for t in targets if re.search(r"P00[12]", t)] == []
    assert re.fullmatch(r"[0-9a-f]{20}", keys.patient_key("NRT", "P001"))
    assert keys.patient_key("NRT", "P001") != keys.patient_key("NRT", "P001", "another secret")
    assert keys.patient_key("NRT", "P001") != keys.patient_key("SRC", "P001")
    assert staff.get("/clinic/NRT/patients/P001/").status_code == 404
    assert staff.get(patient_url("NRT", "S001")).status_code == 404  # SRC's patient under NRT
    late = m.Patient.objects.create(centre=registry["north"], patient_code="P077", sex="female",
                                    birth_year=1990, phenotype="RRMS", consent_status="given")
    assert staff.get(patient_url("NRT", "P077")).context["patient"] == late  # a patient added since
    search = re.search(r'<form method="(\w+)" action="([^"]*)" role="search"', dashboard)
    assert search and search.groups() == ("post", "/clinic/NRT/find/")  # a typed code goes in the body
    found = staff.post("/clinic/NRT/find/", {"q": "P001"})
    assert found.status_code == 303 and "P001" not in found["Location"]
    assert ">P001</a>" in staff.get(found["Location"]).content.decode()


@pytest.mark.parametrize("url", ["/clinic/NRT/", patient_url("NRT", "P001")])
def test_other_centres_staff_are_refused(registry, client, url):
    response = _client(client, registry["south_staff"]).get(url)
    assert response.status_code == 404  # the same answer as a centre that does not exist
    page = response.content.decode()
    assert "No such page" in page and "Not medical advice" in page and "P001" not in page


def test_users_without_a_role_see_no_centre(registry, client, django_user_model):
    public = django_user_model.objects.create_user("public", password="pw-public-1")
    page = _client(client, public).get("/clinic/").content.decode()
    assert "no centre role" in page and "/clinic/NRT/" not in page
    assert client.get("/clinic/NRT/").status_code == 403


def test_unknown_centre_is_refused_like_a_forbidden_one(registry, client):
    assert _client(client, registry["north_staff"]).get("/clinic/XYZ/").status_code == 404
    assert _client(client, registry["north_staff"]).get("/clinic/SRC/").status_code == 404


def test_monitor_reads_every_centre_without_forms(registry, client):
    _client(client, registry["monitor"])
    assert client.get("/clinic/SRC/").status_code == 200
    response = client.get(patient_url("NRT", "P001"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Read only" in page and "/add/" not in page  # a monitor's forms are queries and verification only


def test_patient_page_shows_the_timeline_and_the_forms_to_staff(registry, client):
    page = _client(client, registry["north_staff"]).get(patient_url("NRT", "P001")).content.decode()
    for text in (
        "Transplant (day 0)",
        "2018-03-20",
        "EDSS visit",
        "Relapse",
        "MRI scan",
        "Febrile neutropenia",
    ):
        assert text in page
    for slug in ("edss", "relapse", "mri", "ae"):
        assert f'action="{patient_url("NRT", "P001", f"add/{slug}/")}"' in page
    assert '<label for="id_edss-edss">' in page


# ------------------------------------------------------------------------------------------ entry


def test_valid_visit_is_saved_and_audited_with_the_user(registry, client):
    response = _edss(_client(client, registry["north_staff"]), visit_date="2024-05-02", edss="4.5")
    assert response.status_code == 302 and response["Location"] == patient_url("NRT", "P001")
    visit = m.EdssVisit.objects.get(patient__patient_code="P001", visit_date=dt.date(2024, 5, 2))
    assert str(visit.edss) == "4.5"
    event = m.AuditEvent.objects.get(model="EdssVisit", object_pk=str(visit.pk))
    assert (event.action, event.actor, event.centre_code, event.patient_code) == (
        "create",
        "north_staff",
        "NRT",
        "P001",
    )
    assert event.after["edss"] == "4.5" and event.after["visit_date"] == "2024-05-02"
    page = client.get(response["Location"]).content.decode()
    assert "EDSS visit saved for P001" in page and "2024-05-02" in page


def _changes() -> int:
    """Audit events of data changes (sign-ins and page views are audited too, but change nothing)."""
    return m.AuditEvent.objects.filter(action__in=["create", "update", "delete"]).count()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"visit_date": "2024-05-02", "edss": "10.5"}, "edss", "Must be ≥ 0 and ≤ 9.5 (you entered 10.5)"),
        ({"visit_date": "2024-05-02", "edss": "3.7"}, "edss", "Not in steps of 0.5"),
        ({"visit_date": "2024-05-02", "edss": "3.25"}, "edss", "More than 1 decimals"),
        ({"visit_date": "2099-05-02", "edss": "3.0"}, "visit_date", "Date is in the future"),
        (
            {"visit_date": "2018-09-20", "edss": "3.0"},
            "visit_date",
            "This patient already has a record with this visit date in the registry (you entered 2018-09-20)",
        ),
        ({"visit_date": "2024-05-02", "edss": ""}, "edss", "Required value is missing"),
    ],
)
def test_invalid_visit_shows_the_import_rule_next_to_the_field(registry, client, data, field, message):
    before = m.EdssVisit.objects.count(), _changes()
    response = _edss(_client(client, registry["north_staff"]), **data)
    assert response.status_code == 400
    assert any(message in e for e in _field_errors(response, "edss", field)), _field_errors(
        response, "edss", field
    )
    assert (m.EdssVisit.objects.count(), _changes()) == before


@pytest.mark.parametrize("edss", ["0", "10", "4.5", "4", "10.5", "3.7", "3.25", "-0.5"])
def test_form_and_import_accept_the_same_edss_values(registry, tmp_path, edss):
    from openhsct.errors import ValidationError
    from openhsct.portal.clinic.forms import EdssVisitForm

    p001 = m.Patient.objects.get(patient_code="P001")
    form = EdssVisitForm({"edss-visit_date": "2024-05-02", "edss-edss": edss}, patient=p001, prefix="edss")
    row = {"centre_code": "NRT", "patient_code": "P001", "visit_date": "2024-05-02", "edss": edss}
    try:
        import_bundle(write({"edss_visits": [row]}, tmp_path / "one"), dry_run=True)
        import_rules = []
    except ValidationError as exc:
        import_rules = [d.split(": ", 1)[1].rsplit(" (", 1)[0] for d in exc.details]
    assert form.is_valid() == (import_rules == [])
    for rule in import_rules:
        assert any(e.startswith(rule[0].upper() + rule[1:]) for e in form.errors["edss"]), (rule, form.errors)


def test_visit_after_death_is_refused(registry, client):
    response = _edss(
        _client(client, registry["north_staff"]), patient="P002", visit_date="2019-09-01", edss="6.5"
    )
    assert response.status_code == 400
    assert any(
        "Nothing can be recorded after death date (2019-09-01 vs 2019-05-06)" in e
        for e in _field_errors(response, "edss", "visit_date")
    )
    assert not m.EdssVisit.objects.filter(visit_date=dt.date(2019, 9, 1)).exists()


def test_a_record_saved_meanwhile_is_reported_not_crashed(registry, client, monkeypatch):
    from openhsct.registry import forms

    monkeypatch.setattr(forms, "_existing_key", lambda *args: [])  # as if another user saved it just now
    before = m.EdssVisit.objects.count()
    response = _edss(_client(client, registry["north_staff"]), visit_date="2018-09-20", edss="3.0")
    assert response.status_code == 400 and "saved meanwhile by someone else" in response.content.decode()
    assert m.EdssVisit.objects.count() == before


def test_other_centres_staff_cannot_post(registry, client):
    response = _edss(_client(client, registry["south_staff"]), visit_date="2024-05-02", edss="4.5")
    assert response.status_code == 404
    assert (
        _client(client, registry["south_staff"]).get(patient_url("NRT", "P001", "add/edss/")).status_code == 404
    )
    assert not m.EdssVisit.objects.filter(visit_date=dt.date(2024, 5, 2)).exists()


def test_monitor_cannot_post(registry, client):
    response = _edss(_client(client, registry["monitor"]), visit_date="2024-05-02", edss="4.5")
    assert response.status_code == 403
    assert not m.EdssVisit.objects.filter(visit_date=dt.date(2024, 5, 2)).exists()


def test_relapse_mri_and_adverse_event_forms(registry, client):
    _client(client, registry["north_staff"])
    base = patient_url("NRT", "P001", "add")
    assert client.post(f"{base}/relapse/", {"relapse-onset_date": "2023-02-01"}).status_code == 302
    assert m.Relapse.objects.filter(onset_date=dt.date(2023, 2, 1)).exists()

    mri = {
        "mri-scan_date": "2023-03-01",
        "mri-t2_assessed": "yes",
        "mri-new_enlarging_t2": "",
        "mri-gd_assessed": "no",
        "mri-gd_lesions": "",
    }
    response = client.post(f"{base}/mri/", mri)
    assert response.status_code == 400
    assert any(
        "Required when t2 assessed is yes" in e for e in _field_errors(response, "mri", "new_enlarging_t2")
    )
    assert client.post(f"{base}/mri/", {**mri, "mri-new_enlarging_t2": "0"}).status_code == 302
    assert m.MriScan.objects.get(scan_date=dt.date(2023, 3, 1)).new_enlarging_t2 == 0

    ae = {
        "ae-ae_id": "AE2",
        "ae-category": "secondary_autoimmunity",
        "ae-ctcae_term": "Hyperthyroidism",
        "ae-grade": "6",
        "ae-onset_date": "2020-01-10",
        "ae-resolution_date": "",
        "ae-attribution": "related",
        "ae-serious": "no",
    }
    response = client.post(f"{base}/ae/", ae)
    assert response.status_code == 400
    assert any("Must be ≥ 1 and ≤ 5" in e for e in _field_errors(response, "ae", "grade"))
    response = client.post(f"{base}/ae/", {**ae, "ae-grade": "2", "ae-resolution_date": "2019-12-01"})
    assert any(
        "Resolution date must be on or after onset date" in e
        for e in _field_errors(response, "ae", "resolution_date")
    )
    assert client.post(f"{base}/ae/", {**ae, "ae-grade": "2"}).status_code == 302
    created = m.AuditEvent.objects.filter(actor="north_staff", action="create").values_list(
        "model", flat=True
    )
    assert sorted(created) == ["AdverseEvent", "MriScan", "Relapse"]


def test_adverse_event_form_suggests_the_next_identifier(registry, client):
    response = _client(client, registry["north_staff"]).get(patient_url("NRT", "P001"))
    assert 'value="AE2"' in response.content.decode()


# ------------------------------------------------------------------------------------------ sign-in


def test_five_wrong_passwords_lock_the_account(registry, client):
    for _ in range(5):
        response = client.post("/accounts/login/", {"username": "north_staff", "password": "wrong"})
        assert "_auth_user_id" not in client.session
    response = client.post("/accounts/login/", {"username": "north_staff", "password": "pw-north-1"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert client.get("/clinic/").status_code == 302


def test_right_password_signs_in_and_lands_in_the_clinic(registry, client):
    response = client.post("/accounts/login/", {"username": "north_staff", "password": "wrong"})
    assert response.status_code == 200 and "did not match" in response.content.decode()
    response = client.post("/accounts/login/", {"username": "north_staff", "password": "pw-north-1"})
    assert response.status_code == 302 and response["Location"] == "/clinic/"
    assert client.get("/clinic/").status_code == 200
