"""A patient's path in a real browser: staff invite → the patient opens the link, answers what is due, reads
their timeline, downloads their data, withdraws consent for publication; another patient's page is 404;
the staff dashboard shows the withdrawal. Pages are checked with axe-core."""

from __future__ import annotations

import json
import os

import pytest

from openhsct.registry import models as m
from openhsct.registry.audit import acting_as
from openhsct.registry.importer import import_bundle
from tests.registry.bundle_factory import small_bundle, write

pytestmark = pytest.mark.browser
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def live_registry(transactional_db, cast, tmp_path):
    with acting_as("cli:test"):
        import_bundle(write(small_bundle(), tmp_path / "bundle"), actor="cli:test")
    return cast


def _staff_sign_in(page, base: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill("north_staff")
    page.get_by_label("Password").fill("pw-north-1")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_patient_path(live_server, live_registry, browser_page, axe_check, artifacts_dir, tmp_path):
    staff, base = browser_page, live_server.url
    _staff_sign_in(staff, base)
    staff.goto(f"{base}/clinic/NRT/")
    staff.get_by_role("link", name="Invite a patient to their own page").click()
    assert staff.url == f"{base}/patient/invite/"
    staff.get_by_label("Patient code").fill("P001")
    staff.get_by_role("button", name="Create a sign-in link").click()
    link = staff.locator("#invite-link").inner_text().strip()
    assert link.startswith(f"{base}/patient/join/")

    patient = staff.context.browser.new_context(accept_downloads=True).new_page()
    patient.goto(link)
    assert axe_check(patient) == []
    patient.get_by_role("button", name="Open my page").click()
    pk = m.Patient.objects.get(patient_code="P001").pk
    assert patient.url == f"{base}/patient/{pk}/"

    patient.get_by_role("link", name="Patient Determined Disease Steps (PDDS)").click()
    assert axe_check(patient) == []
    patient.get_by_label("Early cane").check()
    patient.get_by_role("button", name="Save my answers").click()
    patient.get_by_role("link", name="Employment status").click()
    patient.get_by_label("Working part time").check()
    patient.get_by_role("button", name="Save my answers").click()
    patient.get_by_role("link", name="Anything else").click()
    patient.get_by_label("Is there anything else").fill("Walking further than last year.")
    patient.get_by_role("button", name="Save my answers").click()
    assert patient.locator("#none-due").is_visible()
    timeline = patient.locator('table[aria-labelledby="timeline"]').first.inner_text()
    assert "Early cane" in timeline and "Disability assessed (EDSS)" in timeline and "day 0" in timeline
    patient.screenshot(path=str(artifacts_dir / "patient-home.png"), full_page=True)
    assert axe_check(patient) == []

    with patient.expect_download() as info:
        patient.locator("#download-fhir").click()
    saved = tmp_path / "mine.json"
    info.value.save_as(saved)
    bundle = json.loads(saved.read_text())
    assert bundle["resourceType"] == "Bundle" and "P002" not in saved.read_text()
    with patient.expect_download() as info:
        patient.locator("#download-csv").click()
    assert info.value.suggested_filename == "my-data-P001.zip"

    patient.get_by_role("link", name="Change what I agreed to").click()
    patient.get_by_label("Publication").check()
    patient.get_by_label("I confirm this choice.").check()
    patient.get_by_role("button", name="Withdraw").click()
    assert "no" in patient.locator("#consent-publication").inner_text()
    assert m.Patient.objects.get(pk=pk).consent_publication == "no"

    other = m.Patient.objects.get(patient_code="P002").pk
    response = patient.goto(f"{base}/patient/{other}/")
    assert response is not None and response.status == 404

    staff.goto(f"{base}/clinic/NRT/")
    assert staff.locator("#consent-excluded").inner_text().startswith("1 patient of this centre is left out")
