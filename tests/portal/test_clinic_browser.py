"""A clinician's session in a real browser: sign in, read the dashboard, enter a visit (first wrong, then
right), and find another centre's area closed. The dashboard is screenshotted and checked with axe-core."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from openhsct.registry import models as m
from openhsct.registry.audit import acting_as
from openhsct.registry.importer import import_bundle
from tests.clinic_urls import patient_url
from tests.registry.bundle_factory import small_bundle, write

pytestmark = pytest.mark.browser

# The session's Playwright loop starts before this test's database fixtures run; the ORM must be allowed
# to run beside it from the start (browser_page sets this too, but only after the database is set up).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def live_registry(transactional_db, cast, tmp_path):
    with acting_as("cli:test"):
        import_bundle(write(small_bundle(), tmp_path / "bundle"), actor="cli:test")
    return cast


def _sign_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/clinic/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_clinician_session(live_server, live_registry, browser_page, axe_check, artifacts_dir):
    page, base = browser_page, live_server.url
    _sign_in(page, base, "north_staff", "pw-north-1")
    assert page.url == f"{base}/clinic/"
    page.get_by_role("link", name="Northwind Synthetic Centre (NRT)").click()
    assert page.url == f"{base}/clinic/NRT/"
    assert page.get_by_role("heading", name="Data completeness").is_visible()
    assert page.locator("table[aria-labelledby=overdue]").get_by_role("link", name="P001").is_visible()
    page.screenshot(path=str(artifacts_dir / "clinic-dashboard.png"), full_page=True)
    assert axe_check(page) == []

    page.locator("table[aria-labelledby=overdue]").get_by_role("link", name="P001").click()
    assert page.url == base + patient_url("NRT", "P001")
    form = page.locator("#add-edss")
    form.get_by_label("Visit date").fill("2024-05-02")
    form.get_by_label("EDSS", exact=True).fill("3.7")
    form.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    error = page.locator("#add-edss .field.has-error").filter(has=page.locator("#id_edss-edss"))
    assert "Not in steps of 0.5 (you entered 3.7)" in error.inner_text()
    assert page.locator("#id_edss-edss").get_attribute("aria-invalid") == "true"
    page.locator("#add-edss").screenshot(path=str(artifacts_dir / "clinic-edss-error.png"))
    assert axe_check(page) == []
    assert not m.EdssVisit.objects.filter(visit_date=dt.date(2024, 5, 2)).exists()

    form = page.locator("#add-edss")
    form.get_by_label("EDSS", exact=True).fill("3.5")
    form.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    assert page.url == base + patient_url("NRT", "P001")
    assert "EDSS visit saved for P001" in page.get_by_role("status").inner_text()
    assert page.get_by_role("row").filter(has_text="2024-05-02").filter(has_text="EDSS 3.5").count() == 1
    newest = m.AuditEvent.objects.filter(model="EdssVisit", action="create").order_by("-id").first()
    assert newest.actor == "north_staff" and newest.after["visit_date"] == "2024-05-02"

    response = page.goto(f"{base}/clinic/SRC/")
    assert response is not None and response.status == 404
