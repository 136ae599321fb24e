"""The public site in headless Chromium (Playwright) against pytest-django's live server and a published
release of the synthetic registry (3 centres, 300 patients, seed 1): charts render, numbers match
``centre_summary`` at the release's cut,
small numbers stay hidden, the PDF downloads with the expected text, and axe-core finds no serious or
critical violation. Screenshots of each public page go to ``artifacts/``."""

from __future__ import annotations

import re

import pytest

from tests.portal.conftest import pdftotext
from tests.portal.registry_builder import TEST_CUT

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _warm(*codes):
    """Read the release's parts in the test's thread first (the live server shares the process), so the
    browser's page loads measure rendering."""
    from openhsct.portal import published

    release = published.current()
    for code in codes:
        published.part(release, f"centre/{code}.json")


def _visit(page, url, shot, artifacts_dir):
    page.goto(url, wait_until="load")
    page.screenshot(path=str(artifacts_dir / f"portal-{shot}.png"), full_page=True)
    return page


def test_public_pages_render_match_the_summary_and_pass_axe(
    live_server, synth_registry, browser_page, axe_check, artifacts_dir
):
    from openhsct.outcomes.summary import centre_summary
    from openhsct.registry.exporter import registry_frames

    page = browser_page
    base = live_server.url
    _warm(*synth_registry["codes"])
    _visit(page, base + "/", "home", artifacts_dir)
    assert page.locator(".synthetic-banner").is_visible()
    assert page.get_by_text("Not medical advice.").is_visible()
    assert axe_check(page) == []

    page.get_by_role("link", name=re.compile("Northwind|Synthetic")).first.click()
    page.wait_for_load_state("load")
    code = page.url.rstrip("/").split("/")[-1]
    page.screenshot(path=str(artifacts_dir / "portal-centre.png"), full_page=True)
    assert page.locator("svg[role=img]").count() >= 7
    raw = centre_summary(registry_frames(typed=True), code, as_of=TEST_CUT)
    pfs5 = next(a for a in raw["endpoints"]["pfs"]["at"] if a["years"] == 5)
    # The details follow the summary card as collapsed sections.
    page.locator("#sec-happened > summary").click()
    assert page.get_by_text(
        f"about {round(100 * pfs5['estimate'])} in 100 people treated here were event-free 5 years later",
        exact=False,
    ).first.is_visible()
    # Tables behind <details> are there for screen readers and open on demand.
    page.locator("#sec-treated > summary").click()
    page.locator("#sec-treated details summary").first.click()
    assert page.locator("#sec-treated details[open] table").first.is_visible()
    for sel in ("h1", "h2", "figure figcaption"):
        assert page.locator(sel).count() >= 1
    # The centre beside the evidence: its own line under the pooled estimate and prediction interval.
    evidence = page.locator("#sec-evidence")
    evidence.locator("> summary").click()
    assert evidence.get_by_role("heading", name="Compared with the published evidence").is_visible()
    assert evidence.locator("svg[role=img]").count() >= 2
    assert evidence.get_by_text("range the published studies predict for a new centre").first.is_visible()
    evidence.locator("details summary").first.click()
    labels = evidence.locator("details[open] table td:first-child").all_inner_texts()
    assert any(t.startswith("Published studies pooled") for t in labels)
    assert any(t.startswith("Range expected for a new centre") for t in labels)
    assert any(t.startswith("This centre") for t in labels)
    assert axe_check(page) == []

    _visit(page, base + "/compare/?sort=-n", "compare", artifacts_dir)
    assert page.locator("svg[role=img]").count() == 2
    assert axe_check(page) == []
    _visit(page, base + "/evidence/?outcome=pfs_5y", "evidence", artifacts_dir)
    page.select_option("#f-outcome", "trm")
    page.locator("form", has=page.locator("#f-outcome")).get_by_role("button", name="Show").click()
    page.wait_for_load_state("load")
    assert "outcome=trm" in page.url and page.locator("figure svg[role=img]").count() >= 1
    assert page.get_by_role("rowheader", name="Pooled proportion, population-averaged (marginal)").is_visible()
    assert page.get_by_role("rowheader", name="Median study (expit β)").is_visible()
    assert page.get_by_role("heading", name="Sensitivity analyses").is_visible()
    assert axe_check(page) == []
    _visit(page, base + "/about/", "about", artifacts_dir)
    assert axe_check(page) == []


def test_small_centre_suppressed_in_the_browser(
    live_server, transactional_db, small_tables, browser_page, tmp_path, artifacts_dir, axe_check
):
    from tests.portal.registry_builder import clear_releases, import_tables, publish_release

    clear_releases()
    import_tables(small_tables, tmp_path / "bundle")
    publish_release(comparative=False)
    page = _visit(browser_page, live_server.url + "/centres/SYN03/", "centre-small", artifacts_dir)
    assert page.get_by_text("fewer than 5 patients whose data may be published").first.is_visible()
    assert page.locator("svg").count() == 0
    main = page.locator("main").inner_text()
    assert not re.search(r"\d+(\.\d+)?%", main)
    assert axe_check(page) == []


def test_report_pdf_downloads_with_its_pages_and_text(live_server, synth_registry, browser_page, tmp_path):
    code = synth_registry["codes"][0]
    page = browser_page
    page.goto(f"{live_server.url}/centres/{code}/", wait_until="load")
    with page.expect_download() as info:
        page.get_by_role("link", name="report (PDF)").click()
    target = tmp_path / "report.pdf"
    info.value.save_as(target)
    data = target.read_bytes()
    assert data.startswith(b"%PDF")
    text = pdftotext(target)
    pages = text.count("\f")
    assert pages >= 3
    for expected in (
        "SYNTHETIC DATA",
        "How many were treated",
        "What happened after transplant",
        "Who did not do well",
        "How big the risk is",
        "What it costs",
        "Compared with the published evidence",
        "Not medical advice",
        "Page 1 of",
    ):
        assert expected in text, expected
    assert f"of {pages}" in text
