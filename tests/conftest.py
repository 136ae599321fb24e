"""The small named cast every test shares (two centres, their staff, one monitor, one member of the
public) and the browser fixtures of every directory's browser tests: ``browser_page`` (a fresh Playwright
page in Debian's Chromium, started once per session; mark tests ``@pytest.mark.browser``), ``axe_check``
and ``artifacts_dir`` (screenshots in ``artifacts/`` at the repository root)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def pytest_report_header(config):
    from tests.registry.reliability import fuzz_seed

    url = os.environ.get("OPENHSCT_DATABASE_URL", "sqlite (default)")
    return [f"OpenHSCT database: {url.split('@')[-1]}",
            f"import fuzzing seed: {fuzz_seed()} (OPENHSCT_FUZZ_SEED=<seed> draws the same bundles again)"]


@pytest.fixture
def cast(db):
    """Centres NRT and SRC (synthetic), staff of each, a monitor and an administrator."""
    return make_cast()


def make_cast() -> dict:
    """Creates the cast (for fixtures of a wider scope than a test); returns it by name: ``north``,
    ``south`` (centres), ``north_staff``, ``south_staff``, ``monitor``, ``admin`` (users)."""
    from openhsct.registry.models import Centre
    from openhsct.registry.users import ensure_user

    north = Centre.objects.create(centre_code="NRT", name="Northwind Synthetic Centre", country="GBR",
                                  city="Northwind", synthetic="yes")
    south = Centre.objects.create(centre_code="SRC", name="Southreach Synthetic Centre", country="SWE",
                                  city="Southreach", synthetic="yes")
    with hashing_each_password_once():
        users = {
            "north_staff": ensure_user("north_staff", "pw-north-1", role="staff", centre_code="NRT"),
            "south_staff": ensure_user("south_staff", "pw-south-1", role="staff", centre_code="SRC"),
            "monitor": ensure_user("monitor", "pw-monitor-1", role="monitor"),
            "admin": ensure_user("admin", "pw-admin-1", role="admin"),
        }
    return {"north": north, "south": south, **users}


_CAST_HASHES: dict[tuple[str, str], str] = {}


@contextmanager
def hashing_each_password_once() -> Iterator[None]:
    """Within the block a password set before (under the same first hasher) gets its earlier hash: a real,
    salted Argon2id hash that still verifies, without paying the hasher's deliberate cost (about a second on a
    busy machine) again for every cast of every test."""
    from django.conf import settings
    from django.contrib.auth import base_user

    original = base_user.make_password

    def make_password(password, *args, **kwargs) -> str:
        if args or kwargs or not isinstance(password, str):
            return original(password, *args, **kwargs)
        key = (settings.PASSWORD_HASHERS[0], password)
        if key not in _CAST_HASHES:
            _CAST_HASHES[key] = original(password)
        return _CAST_HASHES[key]

    base_user.make_password = make_password
    try:
        yield
    finally:
        base_user.make_password = original


@pytest.fixture(scope="session", autouse=True)
def captured_logs():
    """Every log record of the session, as production formats it, and the output of the servers tests
    start (tests/security/test_logs.py scans it for planted canaries)."""
    from tests.security.capture import session_capture

    with session_capture() as capture:
        yield capture


@pytest.fixture(autouse=True)
def _log_capture_stays_attached(captured_logs):
    """Keep the session's log capture on the root logger for every test (logging set-up elsewhere may
    have replaced the root's handlers)."""
    from tests.security.capture import reattach

    reattach(captured_logs)


@pytest.fixture(autouse=True, scope="session")
def _audit_trail_erasable_by_test_flush():
    """Transactional tests wipe the test database after each test; the audit trail's append-only guard
    lets that wipe (Django's ``flush``) through, and nothing else."""
    from django.core.management.commands import flush

    from openhsct.registry.audit import erasing_allowed

    original = flush.Command.handle

    def handle(self, *args, **kwargs):
        with erasing_allowed():
            return original(self, *args, **kwargs)

    flush.Command.handle = handle
    yield
    flush.Command.handle = original


ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


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



def _hypothesis_profiles() -> None:
    """Under CI, property tests draw the same examples every run, so a red run can be reproduced."""
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, print_blob=True)
    if os.environ.get("CI"):
        settings.load_profile("ci")


_hypothesis_profiles()
