"""Fixtures for the portal tests.

- ``small_registry`` (module scope): the synthetic registry (3 centres, 300 patients, seed 1) with centre
  SYN02 cut to 12 patients and SYN03 to 3, imported once per module, with a data release drafted and
  published from it (the public pages serve only that), deleted afterwards; tests that use it also ask for
  ``db``. Returns ``{"codes": [...], "small": "SYN03", "medium": "SYN02", "big": "SYN01", "release": id}``.
- ``synth_registry`` (function scope, for browser tests with ``live_server``): the full synthetic
  registry imported into the live server's database, with a published release (flushed after the test).
- ``browser_page``: a fresh Playwright page in Debian's Chromium (``/usr/bin/chromium``, no sandbox, no
  network services); the browser is started once per session. Mark tests that use it
  ``@pytest.mark.browser``. Screenshots go to ``artifacts/`` at the repository root (``ARTIFACTS``).
- ``axe_check(page)``: runs axe-core on the page and returns the serious and critical violations.
- ``fresh_cache`` (autouse): clears Django's cache and the in-process table memo before each test, so a
  test never sees another test's cached summary.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SMALL_CUTS = {"SYN02": 12, "SYN03": 3}


@pytest.fixture(autouse=True)
def fresh_cache():
    from django.core.cache import cache

    from openhsct.portal import selectors
    from openhsct.releases import store

    cache.clear()
    selectors._frames_memo.clear()
    store._forget_latest()
    yield
    cache.clear()
    selectors._frames_memo.clear()
    store._forget_latest()


@pytest.fixture(scope="session")
def small_tables():
    from tests.portal.registry_builder import synth_tables

    return synth_tables(keep=SMALL_CUTS)


@pytest.fixture(scope="session")
def full_tables():
    from tests.portal.registry_builder import synth_tables

    return synth_tables()


@pytest.fixture(scope="module")
def small_registry(django_db_setup, django_db_blocker, small_tables, tmp_path_factory):
    from tests.portal.registry_builder import clear_registry, clear_releases, import_tables, publish_release

    with django_db_blocker.unblock():
        clear_registry()
        clear_releases()
        import_tables(small_tables, tmp_path_factory.mktemp("bundle"))
        release = publish_release()
        yield {
            "codes": sorted(small_tables["centres"]["centre_code"]),
            "small": "SYN03",
            "medium": "SYN02",
            "big": "SYN01",
            "tables": small_tables,
            "release": release,
        }
        clear_releases()
        clear_registry()


@pytest.fixture
def synth_registry(transactional_db, full_tables, tmp_path):
    from tests.portal.registry_builder import import_tables, publish_release

    import_tables(full_tables, tmp_path / "bundle")
    release = publish_release()
    return {"codes": sorted(full_tables["centres"]["centre_code"]), "tables": full_tables, "release": release}


@pytest.fixture(scope="session")
def _chromium():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing under CI: scripts/test.sh should have installed it")
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")

    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the test's own ORM calls are
    # still synchronous, so Django's async-safety check is lifted for browser tests.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(_chromium):
    """A fresh page (its own context) in the session's headless Chromium."""
    context = _chromium.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(120_000)  # a cold centre page computes its summary (seconds on a busy machine)
    yield page
    context.close()


@pytest.fixture
def axe_check():
    """``axe_check(page)`` → the serious/critical axe-core violations as ``[(id, impact, help, n_nodes)]``."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()

    def run(page):
        result = axe.run(page)
        return [
            (v["id"], v["impact"], v["help"], len(v["nodes"]))
            for v in result.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]

    return run


@pytest.fixture(scope="session")
def artifacts_dir():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def pdftotext(pdf: Path) -> str:
    """The text of a PDF (poppler's pdftotext, layout kept), pages separated by form feeds."""
    import subprocess

    exe = shutil.which("pdftotext")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("pdftotext is missing under CI: scripts/test.sh should have installed poppler-utils")
        pytest.skip("pdftotext is not installed (apt-get install -y poppler-utils)")
    return subprocess.run([exe, "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
