"""``/decide/`` in headless Chromium against the live server: the form is filled in, the charts, the
"out of 100" summary, the unverified inputs and the not-medical-advice note appear, axe-core finds no serious
or critical violation, and an out-of-range input shows the refusal instead of a number."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def decide_live_registry(transactional_db, tmp_path, monkeypatch):
    from openhsct.portal import decide
    from tests.decision.conftest import DECIDE_REGISTRY, publish_decide_release
    from tests.portal.registry_builder import import_tables, synth_tables

    import_tables(synth_tables(**DECIDE_REGISTRY), tmp_path / "bundle")
    publish_decide_release()  # the page predicts from the published release's model
    # a lighter run than the page's default keeps the test quick; the code path is the same
    for name, value in (("PAGE_PSA_SAMPLES", 12), ("PAGE_PSA_PATIENTS", 40), ("PAGE_PATIENTS", 600)):
        monkeypatch.setattr(decide, name, value)
    decide._model_memo.clear()
    decide.release_model()  # read in the test's thread, so the page measures the model run


def test_decide_form_charts_note_and_refusal(live_server, decide_live_registry, browser_page, axe_check,
                                             artifacts_dir):
    page = browser_page
    page.goto(live_server.url + "/", wait_until="load")
    page.get_by_role("link", name="What could aHSCT mean for me?").click()
    page.wait_for_load_state("load")
    assert page.locator("#not-advice").is_visible()
    assert axe_check(page) == []

    page.get_by_label("Age (years)").fill("34")
    page.get_by_label("MS type").select_option("RRMS")
    page.get_by_label("EDSS").select_option("3.5")
    page.get_by_label("The drug you would otherwise take").select_option("ocrelizumab")
    page.get_by_label("Price of aHSCT").fill("1500000")
    page.get_by_label("Currency (ISO 4217)").fill("RUB")
    page.get_by_label("Exchange rates").fill("EUR=100, GBP=118")
    page.get_by_role("button", name="Show what it could mean").click()
    page.wait_for_load_state("load")
    page.screenshot(path=str(artifacts_dir / "portal-decide.png"), full_page=True)
    assert page.locator("svg[role=img]").count() == 5
    assert page.get_by_text("Out of 100 people like you").is_visible()
    assert page.locator("#not-advice").get_by_text("Not medical advice.").is_visible()
    assert page.get_by_role("table", name="Unverified inputs in use").is_visible()
    page.locator("details summary").first.click()
    assert page.locator("details[open] table").first.is_visible()
    assert axe_check(page) == []

    page.get_by_label("Age (years)").fill("79")
    page.get_by_role("button", name="Show what it could mean").click()
    page.wait_for_load_state("load")
    page.screenshot(path=str(artifacts_dir / "portal-decide-refusal.png"), full_page=True)
    refusal = page.get_by_role("alert")
    assert refusal.is_visible()
    assert "age_years = 79 is outside the training range" in refusal.inner_text()
    assert page.get_by_text("Out of 100 people like you").count() == 0
    assert page.locator("#not-advice").is_visible()
