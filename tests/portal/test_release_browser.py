"""In a real browser: a centre's staff member adds an EDSS visit dated today; the public centre page and
its "data as of" do not change; after a new release is drafted and published, they do."""

from __future__ import annotations

import datetime as dt
import os
import re

import pytest

from tests.clinic_urls import patient_url

pytestmark = pytest.mark.browser
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

FIRST_CUT = "2025-12-31"


@pytest.fixture
def staffed_release(transactional_db, tmp_path):
    from django.contrib.auth import get_user_model

    from openhsct.registry.models import Centre, Membership
    from tests.portal.registry_builder import clear_releases, import_tables, publish_release, synth_tables

    clear_releases()
    import_tables(synth_tables(centres=2, patients=60, seed=3), tmp_path / "b")
    user = get_user_model().objects.create_user("syn01_staff", password="pw-syn01-staff-1")
    Membership.objects.create(user=user, role="staff", centre=Centre.objects.get(centre_code="SYN01"))
    first = publish_release(FIRST_CUT, comparative=False)
    yield first
    clear_releases()


def _public_body(browser, url: str) -> str:
    """The main content of a public page as an anonymous visitor sees it (a fresh browser context)."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        return page.locator("main").inner_text() + "\n" + page.locator("footer").inner_text()
    finally:
        context.close()


def test_a_visit_entered_today_changes_no_public_page_until_a_new_release(
    live_server, staffed_release, browser_page, _chromium
):
    from openhsct.registry.models import EdssVisit, Patient
    from openhsct.releases.store import _forget_latest
    from tests.portal.registry_builder import publish_release

    base, page = live_server.url, browser_page
    centre_url = f"{base}/centres/SYN01/"
    before = _public_body(_chromium, centre_url)
    assert f"Data as of {FIRST_CUT}" in before and staffed_release in before

    from openhsct.registry.models import Transplant

    patient = Patient.objects.get(pk=Transplant.objects.filter(
        patient__centre__centre_code="SYN01", day0__lte=FIRST_CUT).order_by("day0").first().patient_id)
    page.goto(f"{base}/clinic/")
    page.get_by_label("Username").fill("syn01_staff")
    page.get_by_label("Password").fill("pw-syn01-staff-1")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    page.goto(base + patient_url("SYN01", patient.patient_code))
    today = dt.date.today()
    form = page.locator("#add-edss")
    form.get_by_label("Visit date").fill(today.isoformat())
    form.get_by_label("EDSS", exact=True).fill("9.5")
    form.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    assert EdssVisit.objects.filter(patient=patient, visit_date=today).exists()

    assert _public_body(_chromium, centre_url) == before  # entered, not released: nothing public changed
    assert _public_body(_chromium, f"{base}/") == _public_body(_chromium, f"{base}/")

    second = publish_release(today.isoformat(), comparative=False)
    _forget_latest()
    after = _public_body(_chromium, centre_url)
    assert second != staffed_release and f"Data as of {today.isoformat()}" in after and second in after
    assert re.search(rf"data as of {today.isoformat()}", after, re.IGNORECASE)
    assert after != before
