"""A data query end to end in a real browser: the monitor raises a query on the demo patient's EDSS, the
centre's staff answer it, the monitor closes it, and the patient's audit history shows all three steps.
The pages are checked with axe-core and screenshotted."""

from __future__ import annotations

import os

import pytest

from openhsct.quality.models import Query
from tests.clinic_urls import patient_url
from tests.quality.conftest import load_registry

pytestmark = pytest.mark.browser

# The session's Playwright loop starts before this test's database fixtures run (see the clinic's
# browser test): the ORM must be allowed beside it from the start.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def live_registry(transactional_db, cast, tmp_path):
    return load_registry(cast, tmp_path)


def _sign_in(page, base: str, username: str, password: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/accounts/login/?next=/clinic/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_query_raised_answered_and_closed(live_server, live_registry, browser_page, axe_check, artifacts_dir):
    page, base = browser_page, live_server.url
    patient = base + patient_url("NRT", "P001")

    _sign_in(page, base, "monitor", "pw-monitor-1")
    page.goto(patient)
    form = page.locator("#raise-query")
    form.get_by_label("Record and field").select_option(label="EDSS visit 2019-03-18: edss")
    form.get_by_label("Question to the centre").fill("The clinic letter says EDSS 3.5: which is right?")
    form.get_by_role("button", name="Raise the query").click()
    page.wait_for_load_state()
    assert "raised on P001" in page.get_by_role("status").inner_text()
    query = Query.objects.get()
    assert (query.field, query.status) == ("edss", "open")
    assert axe_check(page) == []

    _sign_in(page, base, "north_staff", "pw-north-1")
    page.goto(f"{base}/clinic/NRT/")
    assert "1 query not closed yet" in page.locator("#open-queries ~ p").first.inner_text()
    page.locator("table[aria-labelledby=open-queries]").get_by_role("link", name="P001").click()
    page.wait_for_load_state()
    page.get_by_label(f"Your answer to query {query.pk}").fill("Re-read the source: 3.0 is right.")
    page.get_by_role("button", name=f"Answer query {query.pk}").click()
    page.wait_for_load_state()
    assert f"Query {query.pk} answered" in page.get_by_role("status").inner_text()
    page.locator(f"#query-{query.pk}").screenshot(path=str(artifacts_dir / "clinic-query-answered.png"))
    assert axe_check(page) == []

    _sign_in(page, base, "monitor", "pw-monitor-1")
    page.goto(f"{base}/clinic/NRT/queries/?status=answered")
    page.get_by_role("button", name=f"Close query {query.pk}").click()
    page.wait_for_load_state()
    assert f"Query {query.pk} closed" in page.get_by_role("status").inner_text()
    query.refresh_from_db()
    assert query.status == "closed"

    page.goto(patient)
    history = page.locator("table[aria-labelledby=audit-history]")
    steps = {step: history.get_by_role("row").filter(has_text="QueryMessage").filter(has_text=f"step: – → {step}")
             for step in ("raise", "answer", "close")}
    assert {step: rows.count() for step, rows in steps.items()} == {"raise": 1, "answer": 1, "close": 1}
    assert "north_staff" in steps["answer"].inner_text() and "3.0 is right" in steps["answer"].inner_text()
    assert "monitor" in steps["raise"].inner_text() and "monitor" in steps["close"].inner_text()
    page.screenshot(path=str(artifacts_dir / "clinic-query-history.png"), full_page=True)
    assert axe_check(page) == []
