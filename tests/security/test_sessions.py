"""Sessions (OWASP ASVS 4.0 3.2-3.4): a new key at sign-in, sign-out and expiry end the session on the
server (replaying the old cookie leads to the sign-in page), 30 minutes idle and 12 hours absolute,
cookies HttpOnly and SameSite=Lax (Secure in production: test_headers.py)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client

from tests.security.conftest import NORTH_PASSWORD

START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
STAFF_LOGIN = {"username": "north_staff", "password": NORTH_PASSWORD}


def _session_key(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _replay(key: str) -> Client:
    """A fresh browser that presents an old session cookie."""
    other = Client()
    other.cookies[settings.SESSION_COOKIE_NAME] = key
    return other


def _goes_to_login(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(settings.LOGIN_URL)


@pytest.fixture
def signed_in(people, client):
    """south_staff signed in at START (Django's login: new key, sign-in time noted); the clock stands still
    until shifted."""
    with time_machine.travel(START, tick=False) as clock:
        client.force_login(people["south_staff"])
        yield client, clock


def test_sign_in_gives_a_new_session_key_in_an_http_only_same_site_cookie(people, client):
    session = client.session
    session["before_sign_in"] = "yes"
    session.save()
    before = session.session_key
    client.cookies[settings.SESSION_COOKIE_NAME] = before
    response = client.post("/accounts/login/", STAFF_LOGIN)
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert (cookie["httponly"], cookie["samesite"]) == (True, "Lax")
    assert cookie["max-age"] == settings.OPENHSCT_SESSION_ABSOLUTE_SECONDS == 12 * 60 * 60
    after = _session_key(client)
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()
    assert client.get("/clinic/").status_code == 200
    assert _goes_to_login(_replay(before).get("/clinic/"))


def test_sign_out_ends_the_session_on_the_server(signed_in):
    client, _ = signed_in
    key = _session_key(client)
    assert _replay(key).get("/clinic/").status_code == 200  # the cookie works while the session lives
    client.post("/accounts/logout/")
    assert not Session.objects.filter(session_key=key).exists()
    assert _goes_to_login(_replay(key).get("/clinic/"))


def test_thirty_idle_minutes_end_the_session(signed_in):
    client, clock = signed_in
    key = _session_key(client)
    assert settings.OPENHSCT_SESSION_IDLE_SECONDS == 30 * 60
    clock.shift(dt.timedelta(minutes=29))
    assert client.get("/clinic/").status_code == 200
    clock.shift(dt.timedelta(minutes=29))  # 58 minutes after sign-in, 29 idle: still open
    assert client.get("/clinic/").status_code == 200
    clock.shift(dt.timedelta(minutes=31))
    assert _goes_to_login(_replay(key).get("/clinic/"))
    assert not Session.objects.filter(session_key=key).exists()
    assert _goes_to_login(client.get("/clinic/"))


def test_twelve_hours_end_the_session_however_active(signed_in):
    client, clock = signed_in
    key = _session_key(client)
    for _ in range(35):  # a request every 20 minutes for 11 h 40 min
        clock.shift(dt.timedelta(minutes=20))
        assert client.get("/clinic/").status_code == 200
    clock.shift(dt.timedelta(minutes=21))  # 12 h 1 min after sign-in
    assert _goes_to_login(client.get("/clinic/"))
    assert not Session.objects.filter(session_key=key).exists()
