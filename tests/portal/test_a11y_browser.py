"""Every public page, the sign-in page and the clinicians' screens in headless Chromium at 1280 and 390
px: axe-core finds no violation of any impact, nothing is wider than a 390 px phone screen (no sideways
page scroll, no element past the edge unless it sits inside a scroller), chart text is at least 12 px as
rendered, and a screenshot of each page at each width goes to ``artifacts/``.

One live server, one published release of the synthetic registry, one browser context per width, pages
reused: this runs in CI.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.clinic_urls import patient_url

pytestmark = [pytest.mark.browser, pytest.mark.slow]

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

WIDTHS = (1280, 390)
PHONE = 390
MIN_CHART_TEXT_PX = 12.0
STAFF = ("a11y_staff", "pw-a11y-staff-1")

# Elements wider than the viewport or past its edge that are not inside a horizontal scroller (an
# ancestor with overflow-x auto/scroll/hidden that itself fits), as "tag.class left-right text".
OVERFLOW_JS = """() => {
  const w = document.documentElement.clientWidth, out = [];
  const clipped = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (['auto', 'scroll', 'hidden', 'clip'].includes(s.overflowX) && p.getBoundingClientRect().right <= w + 0.5)
        return true;
    }
    return false;
  };
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const s = getComputedStyle(el);
    if (r.right <= 0 || r.bottom < 0) continue;  // moved off screen to hide it visually: scrolls nothing
    if ((r.right > w + 0.5 || r.left < -0.5) && !clipped(el))
      out.push(`${el.tagName.toLowerCase()}.${el.className} ${Math.round(r.left)}-${Math.round(r.right)} ` +
               (el.textContent || '').trim().slice(0, 40));
  }
  return {scroll: document.scrollingElement.scrollWidth, width: window.innerWidth, over: out.slice(0, 10)};
}"""

# The smallest chart text as rendered: an SVG text's font size times the SVG's scale on screen.
CHART_TEXT_JS = """() => {
  let smallest = Infinity;
  for (const svg of document.querySelectorAll('svg[role=img]')) {
    const box = svg.viewBox && svg.viewBox.baseVal;
    const scale = box && box.width ? svg.getBoundingClientRect().width / box.width : 1;
    for (const t of svg.querySelectorAll('text')) {
      if (!t.textContent.trim()) continue;
      const size = parseFloat(getComputedStyle(t).fontSize) || parseFloat(t.getAttribute('font-size')) || 0;
      smallest = Math.min(smallest, size * scale);
    }
  }
  return smallest === Infinity ? null : smallest;
}"""


@dataclass(frozen=True)
class Visit:
    """A page to check: its name (for screenshots), path, and an optional action that puts it in the
    state to check (a form submitted with an error)."""

    name: str
    path: str
    action: str | None = None


def public_visits(centre: str) -> list[Visit]:
    """The public pages the checks cover."""
    return [
        Visit("home", "/"),
        Visit("centre", f"/centres/{centre}/"),
        Visit("compare", "/compare/"),
        Visit("evidence", "/evidence/"),
        Visit("about", "/about/"),
        Visit("glossary", "/glossary/"),
        Visit("sign-in", "/accounts/login/"),
    ]


def clinic_visits(centre: str, patient: str) -> list[Visit]:
    """The clinicians' screens (signed in): the dashboard and a patient's EDSS form in its error state."""
    return [
        Visit("clinic-dashboard", f"/clinic/{centre}/"),
        Visit("clinic-form-error", patient_url(centre, patient), action="edss-error"),
    ]


def sign_in(page, base: str, username: str, password: str) -> None:
    """Sign in through the sign-in form."""
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def _edss_error(page) -> None:
    """Submit the EDSS form with a value off the half-point scale."""
    form = page.locator("#add-edss")
    form.get_by_label("Visit date", exact=True).fill("2024-05-02")
    form.get_by_label("EDSS", exact=True).fill("3.7")
    form.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    assert page.locator("#add-edss .has-error, #add-edss [aria-invalid=true]").count() >= 1


ACTIONS = {"edss-error": _edss_error}


def check_page(page, base: str, visit: Visit, width: int, axe, shots: Path) -> list[str]:
    """Open ``visit`` (and act on it), screenshot it, and return its problems: axe violations of any
    impact, elements past a phone's edge, chart text under 12 px."""
    response = page.goto(base + visit.path, wait_until="load")
    problems = [] if response is not None and response.ok else [f"HTTP {response.status if response else '?'}"]
    if visit.action:
        ACTIONS[visit.action](page)
    page.screenshot(path=str(shots / f"a11y-{visit.name}-{width}.png"), full_page=True)
    for v in axe.run(page).response["violations"]:
        targets = [n["target"] for n in v["nodes"][:3]]
        problems.append(f"axe {v['id']} ({v['impact']}): {v['help']} {targets}")
    if width == PHONE:
        o = page.evaluate(OVERFLOW_JS)
        if o["scroll"] > o["width"]:
            problems.append(f"page scrolls sideways: {o['scroll']} px wide in {o['width']} px")
        problems += [f"past the edge: {e}" for e in o["over"]]
    smallest = page.evaluate(CHART_TEXT_JS)
    if smallest is not None and smallest < MIN_CHART_TEXT_PX - 0.05:
        problems.append(f"chart text {smallest:.1f} px (< {MIN_CHART_TEXT_PX:g} px)")
    return [f"{visit.name} @ {width}px: {p}" for p in problems]


def run_checks(browser, base: str, visits: list[Visit], clinic: list[Visit], shots: Path,
               staff: tuple[str, str]) -> list[str]:
    """Every visit at every width, one browser context per width; the clinic visits after signing in."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    problems = []
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.set_default_timeout(120_000)
        for visit in visits:
            problems += check_page(page, base, visit, width, axe, shots)
        sign_in(page, base, *staff)
        for visit in clinic:
            problems += check_page(page, base, visit, width, axe, shots)
        context.close()
    return problems


@pytest.fixture
def staff_user(synth_registry):
    from openhsct.registry.users import ensure_user

    centre = synth_registry["codes"][0]
    ensure_user(STAFF[0], STAFF[1], role="staff", centre_code=centre)
    patients = synth_registry["tables"]["patients"]
    patient = patients.loc[patients["centre_code"] == centre, "patient_code"].iloc[0]
    return {"centre": centre, "patient": patient}


def test_pages_pass_axe_fit_a_phone_and_are_screenshotted(
    live_server, synth_registry, staff_user, _chromium, artifacts_dir
):
    centre, patient = staff_user["centre"], staff_user["patient"]
    problems = run_checks(
        _chromium, live_server.url, public_visits(centre), clinic_visits(centre, patient), artifacts_dir, STAFF
    )
    assert not problems, "\n".join(problems)
    for visit in public_visits(centre) + clinic_visits(centre, patient):
        for width in WIDTHS:
            assert (artifacts_dir / f"a11y-{visit.name}-{width}.png").stat().st_size > 0


def test_the_overflow_check_catches_a_wide_element(_chromium):
    """The per-element check is not vacuous: a 600 px box on a 390 px screen is caught, the same box in a
    scroller is not."""
    context = _chromium.new_context(viewport={"width": PHONE, "height": 600})
    page = context.new_page()
    page.set_content('<body style="margin:0"><div id="wide" style="width:600px">wide</div>'
                     '<div style="overflow-x:auto"><div style="width:600px">scrolled</div></div></body>')
    found = page.evaluate(OVERFLOW_JS)
    assert found["scroll"] > PHONE
    assert len(found["over"]) == 1 and re.match(r"div\. 0-600 wide", found["over"][0])
    context.close()
