"""The admin's record forms in a real browser: a staff member picks the patient by typing (autocomplete,
under the site's content security policy), is offered only their own centre's patients, and saves."""

from __future__ import annotations

import os

import pytest

from openhsct.registry import models as m
from tests.quality.conftest import load_registry

pytestmark = pytest.mark.browser

# The session's Playwright loop starts before this test's database fixtures run: the ORM must be allowed
# beside it from the start.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def live_registry(transactional_db, cast, tmp_path):
    return load_registry(cast, tmp_path)


def test_staff_pick_a_patient_by_typing_and_are_offered_only_their_centre(live_server, live_registry,
                                                                          browser_page):
    page, base = browser_page, live_server.url
    blocked: list[str] = []
    page.on("console", lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.goto(f"{base}/admin/login/?next=/admin/registry/edssvisit/add/")
    page.get_by_label("Username").fill("north_staff")
    page.get_by_label("Password").fill("pw-north-1")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    assert page.url.endswith("/admin/registry/edssvisit/add/")
    form = page.goto(f"{base}/admin/registry/edssvisit/add/")
    assert "script-src 'self'" in form.headers.get("content-security-policy", "")  # no inline script runs
    assert page.locator("select#id_patient option[value]:not([value=''])").count() == 0  # no list of patients
    options = page.locator(".select2-results__option:not(.loading-results)")
    page.locator("#id_patient + .select2 .select2-selection").click()
    options.first.wait_for()  # opening asks once (every patient the person may read) …
    assert options.all_inner_texts() == ["NRT/P001", "NRT/P002"]  # SRC's S001 is not offered
    with page.expect_response(lambda r: "/admin/autocomplete/" in r.url and "term=1" in r.url) as asked:
        page.locator(".select2-search__field").fill("1")  # … and typing narrows it
    assert asked.value.status == 200
    page.locator(".select2-results__option", has_text="NRT/P001").wait_for()
    offered = options.all_inner_texts()
    assert offered == ["NRT/P001"], offered
    options.filter(has_text="NRT/P001").click()
    page.get_by_label("Visit date").fill("2024-05-02")
    page.get_by_label("EDSS").fill("4.0")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_load_state()
    errors = page.locator(".errorlist, .errornote").all_inner_texts()
    assert m.EdssVisit.objects.filter(patient__patient_code="P001", visit_date="2024-05-02").count() == 1, errors
    assert blocked == []
