"""Login throttling (openhsct.site.throttle): 5 failures lock the account for 15 minutes, even for the
right password, while a colleague at the same address signs in; a separate, higher per-address limit stops
password spraying; an unknown username gets exactly the answer a wrong password gets."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import time_machine
from django.conf import settings
from django.test import Client, override_settings

from openhsct.registry.users import ensure_user
from tests.security.conftest import NORTH_PASSWORD

START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
HOSPITAL, ELSEWHERE = "10.20.30.40", "192.0.2.7"
SOUTH_PASSWORD = "south-staff-Pass-2026"


def _login(client: Client, username: str, password: str, address: str = HOSPITAL):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def _signed_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == settings.LOGIN_REDIRECT_URL


def _normalised(response, username: str) -> tuple[int, str]:
    """Status and body with the per-request CSRF token taken out and the username typed (which the form
    shows again) replaced by a placeholder."""
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())
    return response.status_code, body.replace(username, "USERNAME")


def test_the_settings_lock_accounts_not_networks():
    assert settings.AXES_FAILURE_LIMIT == 5
    assert dt.timedelta(minutes=15) == settings.AXES_COOLOFF_TIME
    assert "ip_address" not in settings.AXES_LOCKOUT_PARAMETERS  # never a whole address on its own
    assert settings.OPENHSCT_LOGIN_IP_FAILURE_LIMIT > settings.AXES_FAILURE_LIMIT


def test_five_failures_lock_the_account_for_fifteen_minutes_but_not_the_colleague(people):
    ensure_user("south_staff", SOUTH_PASSWORD, role="staff", centre_code="SRC")
    with time_machine.travel(START, tick=False) as clock:
        first = _login(Client(), "north_staff", "wrong-password-1")
        assert first.status_code == 200 and "did not match" in first.content.decode()
        for attempt in range(2, 6):
            clock.shift(dt.timedelta(minutes=2))
            _login(Client(), "north_staff", f"wrong-password-{attempt}")
        locked = _login(Client(), "north_staff", NORTH_PASSWORD)
        page = " ".join(html.unescape(locked.content.decode()).split())
        assert locked.status_code == 429 and not _signed_in(locked)
        assert "Sign-in is locked for 15 minutes" in page
        assert settings.OPENHSCT_SECURITY_CONTACT in page
        assert "Not medical advice" in page  # the site's layout
        assert _signed_in(_login(Client(), "south_staff", SOUTH_PASSWORD))  # same address, other account
        assert _login(Client(), "north_staff", NORTH_PASSWORD, ELSEWHERE).status_code == 429
        clock.shift(dt.timedelta(minutes=14))
        assert _login(Client(), "north_staff", NORTH_PASSWORD).status_code == 429
        clock.shift(dt.timedelta(minutes=2))  # 16 minutes after the fifth failure
        assert _signed_in(_login(Client(), "north_staff", NORTH_PASSWORD))


@override_settings(AXES_FAILURE_LIMIT=2)
def test_an_unknown_user_gets_the_answer_a_wrong_password_gets(people):
    unknown, known = Client(), Client()
    assert _normalised(_login(unknown, "nobody_here", "wrong-password-1"), "nobody_here") == _normalised(
        _login(known, "north_staff", "wrong-password-1"), "north_staff")
    unknown_locked = _login(unknown, "nobody_here", "wrong-password-2")
    known_locked = _login(known, "north_staff", "wrong-password-2")
    assert unknown_locked.status_code == 429
    assert _normalised(unknown_locked, "nobody_here") == _normalised(known_locked, "north_staff")


@override_settings(OPENHSCT_LOGIN_IP_FAILURE_LIMIT=4)
def test_password_spraying_from_one_address_is_stopped(people):
    for name in ("alice_x", "bob_x", "carol_x"):  # one guess at each of many accounts
        assert _login(Client(), name, "Summer2026!", "198.51.100.9").status_code == 200
    assert _login(Client(), "dave_x", "Summer2026!", "198.51.100.9").status_code == 429  # the 4th: limit
    assert _login(Client(), "north_staff", NORTH_PASSWORD, "198.51.100.9").status_code == 429
    assert _signed_in(_login(Client(), "north_staff", NORTH_PASSWORD, "198.51.100.10"))


@pytest.mark.parametrize(("proxies", "forwarded", "expected"), [
    (0, "203.0.113.5", "10.0.0.1"),           # no trusted proxy: the header is ignored
    (1, "203.0.113.5", "203.0.113.5"),
    (1, "6.6.6.6, 203.0.113.5", "203.0.113.5"),  # a client-made entry left of the proxy's is ignored
    (2, "203.0.113.5, 10.9.9.9", "203.0.113.5"),
])
def test_the_client_address_behind_trusted_proxies(rf, proxies, forwarded, expected):
    from openhsct.site.throttle import client_ip

    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    with override_settings(OPENHSCT_PROXY_COUNT=proxies):
        assert client_ip(request) == expected
