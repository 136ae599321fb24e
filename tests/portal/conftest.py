"""Fixtures for the portal tests.

- ``small_registry`` (module scope): the synthetic registry (3 centres, 300 patients, seed 1) with centre
  SYN02 cut to 12 patients and SYN03 to 3, imported once per module, with a data release drafted and
  published from it (the public pages serve only that), deleted afterwards; tests that use it also ask for
  ``db``. Returns ``{"codes": [...], "small": "SYN03", "medium": "SYN02", "big": "SYN01", "release": id}``.
- ``synth_registry`` (function scope, for browser tests with ``live_server``): the full synthetic
  registry imported into the live server's database, with a published release (flushed after the test).
- ``browser_page``, ``axe_check(page)``, ``artifacts_dir``: shared by every directory's browser tests, in
  ``tests/conftest.py`` (one Chromium per session).
- ``fresh_cache`` (autouse): clears Django's cache and the in-process table memo before each test, so a
  test never sees another test's cached summary.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# The browser fixtures (browser_page, axe_check, artifacts_dir) live in tests/conftest.py, so that one
# Chromium serves the browser tests of every test directory in a session.
from tests.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS  # noqa: F401

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


def pdftotext(pdf: Path) -> str:
    """The text of a PDF (poppler's pdftotext, layout kept), pages separated by form feeds."""
    import subprocess

    exe = shutil.which("pdftotext")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("pdftotext is missing under CI: scripts/test.sh should have installed poppler-utils")
        pytest.skip("pdftotext is not installed (apt-get install -y poppler-utils)")
    return subprocess.run([exe, "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
