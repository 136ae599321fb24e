"""The summary card in headless Chromium: on a centre page it starts within the first screen on a desktop
(1280 x 800) and on a phone (390 x 844), fits the phone's width, and the details below it are collapsed;
its currency selector works with JavaScript off. Screenshots go to ``artifacts/``."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENS = {"desktop": (1280, 800), "phone": (390, 844)}


def test_the_card_is_within_the_first_screen_and_its_currency_selector_needs_no_javascript(
        live_server, synth_registry, browser_page, _chromium, artifacts_dir):
    """One registry and release for the three checks (building them is most of the time)."""
    code = synth_registry["codes"][0]
    for screen in sorted(SCREENS):
        _card_within_the_first_screen(live_server, code, browser_page, artifacts_dir, screen)
    _currency_selector_without_javascript(live_server, code, _chromium)


def _card_within_the_first_screen(live_server, code, page, artifacts_dir, screen) -> None:
    width, height = SCREENS[screen]
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{live_server.url}/centres/{code}/", wait_until="load")
    page.screenshot(path=str(artifacts_dir / f"portal-centre-card-{screen}.png"))
    card = page.locator("section.summary-card")
    box = card.bounding_box()
    assert box is not None and 0 <= box["y"] < height * 0.75, (screen, box)
    # Its heading and the number treated are on the first screen, without scrolling; on a desktop the
    # first result too.
    treated = card.locator(".card-treated").bounding_box()
    assert treated is not None and treated["y"] + 40 <= height, treated
    if screen == "desktop":
        first = card.locator("tbody tr").first.bounding_box()
        assert first is not None and first["y"] + first["height"] <= height, first
    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, box
    # The details are collapsed sections after the card.
    assert page.locator("details.section").count() >= 5
    assert page.locator("details.section[open]").count() == 0
    assert page.locator("details.section").first.bounding_box()["y"] > box["y"] + box["height"]


def _currency_selector_without_javascript(live_server, code, _chromium) -> None:
    context = _chromium.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/centres/{code}/", wait_until="load")
        page.select_option("#currency", "GBP")
        page.get_by_role("button", name="Show").click()
        page.wait_for_load_state("load")
        assert "currency=GBP" in page.url
        assert page.locator(".card-price").get_by_text("GBP", exact=False).first.is_visible()
    finally:
        context.close()
