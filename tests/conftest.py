"""The small named cast every test shares: two centres, their staff, one monitor, one member of the public."""

from __future__ import annotations

import os

import pytest


def pytest_report_header(config):
    url = os.environ.get("OPENHSCT_DATABASE_URL", "sqlite (default)")
    return f"OpenHSCT database: {url.split('@')[-1]}"


@pytest.fixture
def cast(db):
    """Centres NRT and SRC (synthetic), staff of each, a monitor and an administrator."""
    from openhsct.registry.models import Centre
    from openhsct.registry.users import ensure_user

    north = Centre.objects.create(centre_code="NRT", name="Northwind Synthetic Centre", country="GBR",
                                  city="Northwind", synthetic="yes")
    south = Centre.objects.create(centre_code="SRC", name="Southreach Synthetic Centre", country="SWE",
                                  city="Southreach", synthetic="yes")
    users = {
        "north_staff": ensure_user("north_staff", "pw-north-1", role="staff", centre_code="NRT"),
        "south_staff": ensure_user("south_staff", "pw-south-1", role="staff", centre_code="SRC"),
        "monitor": ensure_user("monitor", "pw-monitor-1", role="monitor"),
        "admin": ensure_user("admin", "pw-admin-1", role="admin"),
    }
    return {"north": north, "south": south, **users}


@pytest.fixture(scope="session", autouse=True)
def captured_logs():
    """Every log record of the session, as production formats it, and the output of the servers tests
    start (tests/security/test_logs.py scans it for planted canaries)."""
    from tests.security.capture import session_capture

    with session_capture() as capture:
        yield capture


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


def _hypothesis_profiles() -> None:
    """Under CI, property tests draw the same examples every run, so a red run can be reproduced."""
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, print_blob=True)
    if os.environ.get("CI"):
        settings.load_profile("ci")


_hypothesis_profiles()
