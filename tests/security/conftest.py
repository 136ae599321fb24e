"""Fixtures of the security tests: a production-settings server on loopback (:mod:`tests.security.live`)."""

from __future__ import annotations

import pytest

from tests.security import live


@pytest.fixture(scope="session")
def live_site(tmp_path_factory, captured_logs):
    """The running production-settings server; its output joins the session's log capture. Stopped by PID
    at the end of the session."""
    folder = tmp_path_factory.mktemp("live-site")
    site = live.start(folder, folder / "server-output.log")
    captured_logs.add_server_output(site.output)
    try:
        yield site
    finally:
        live.stop(site.process)


@pytest.fixture
def people(db):
    """Centres NRT and SRC (synthetic) with staff of each, a monitor and an administrator, created without
    password hashing (sign them in with ``client.force_login``); ``north_staff`` alone has a password,
    ``NORTH_PASSWORD``, for tests that sign in through the form."""
    from django.contrib.auth import get_user_model

    from openhsct.registry.models import Centre, Membership
    from openhsct.registry.users import ensure_user

    north = Centre.objects.create(centre_code="NRT", name="Northwind Synthetic Centre", country="GBR",
                                  city="Northwind", synthetic="yes")
    south = Centre.objects.create(centre_code="SRC", name="Southreach Synthetic Centre", country="SWE",
                                  city="Southreach", synthetic="yes")
    user_model = get_user_model()

    def bare(username: str, role: str | None, centre=None, superuser: bool = False):
        user = user_model(username=username, is_staff=True, is_superuser=superuser)
        user.set_unusable_password()
        user.save()
        if role:
            Membership.objects.create(user=user, role=role, centre=centre)
        return user

    return {
        "north": north, "south": south,
        "north_staff": ensure_user("north_staff", NORTH_PASSWORD, role="staff", centre_code="NRT"),
        "south_staff": bare("south_staff", "staff", south),
        "monitor": bare("monitor", "monitor"),
        "admin": bare("admin", None, superuser=True),
    }


NORTH_PASSWORD = "north-staff-Pass-2026"
