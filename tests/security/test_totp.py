"""TOTP for the roles that read every centre (openhsct.site.totp): enrolment by command, the code page,
and the requirement (off in the base settings, on by default in production: test_deploy_settings.py)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine
from django.test import override_settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from typer.testing import CliRunner

from openhsct.errors import OpenHSCTError
from openhsct.site.totp import enrol

REQUIRED = override_settings(OPENHSCT_REQUIRE_TOTP_FOR_CROSS_CENTRE=True)


def _code(user) -> str:
    device = TOTPDevice.objects.get(user=user)
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def test_enrolment_prints_an_otpauth_uri_and_refuses_a_second_one_unless_replaced(people):
    uri = enrol("monitor")
    parsed = urlparse(uri)
    assert (parsed.scheme, parsed.netloc) == ("otpauth", "totp")
    query = parse_qs(parsed.query)
    assert query["issuer"] == ["OpenHSCT"] and len(query["secret"][0]) >= 32
    with pytest.raises(OpenHSCTError, match="already has an authenticator"):
        enrol("monitor")
    assert enrol("monitor", replace=True) != uri
    assert TOTPDevice.objects.filter(user=people["monitor"]).count() == 1
    with pytest.raises(OpenHSCTError, match="no user 'ghost'"):
        enrol("ghost")


def test_the_user_totp_command(people, monkeypatch):
    from openhsct import cli
    from openhsct.commands import security

    monkeypatch.setattr(security, "django", lambda migrate=True: None)  # the test database is ready
    result = CliRunner().invoke(cli.app, ["user", "totp", "admin"])
    assert result.exit_code == 0, result.output
    assert "otpauth://totp/OpenHSCT%3Aadmin?secret=" in result.output
    again = CliRunner().invoke(cli.app, ["user", "totp", "admin"])
    assert again.exit_code == 1 and "--replace" in again.output and "Traceback" not in again.output


@REQUIRED
def test_a_monitor_reaches_nothing_before_the_code(people, client):
    enrol("monitor")
    client.force_login(people["monitor"])
    response = client.get("/clinic/")
    assert response.status_code == 302 and response["Location"] == "/accounts/totp/?next=/clinic/"
    assert client.get("/admin/").status_code == 302
    page = client.get("/accounts/totp/?next=/clinic/")
    assert page.status_code == 200 and "six-digit code" in page.content.decode()
    assert "no-store" in page["Cache-Control"]
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=False) as clock:
        bad = "000000" if _code(people["monitor"]) != "000000" else "111111"
        wrong = client.post("/accounts/totp/", {"token": bad, "next": "/clinic/"})
        assert wrong.status_code == 400 and "did not match" in wrong.content.decode()
        assert client.get("/clinic/").status_code == 302
        clock.shift(2)  # django-otp slows guessing: 1 s after one failure, doubling after each further one
        right = client.post("/accounts/totp/", {"token": _code(people["monitor"]), "next": "/clinic/"})
    assert right.status_code == 302 and right["Location"] == "/clinic/"
    assert client.get("/clinic/").status_code == 200


@REQUIRED
def test_an_administrator_without_an_authenticator_is_told_how_to_get_one(people, client):
    client.force_login(people["admin"])
    assert client.get("/admin/").status_code == 302
    page = client.get("/accounts/totp/").content.decode()
    assert "openhsct user totp admin" in page
    assert client.post("/accounts/totp/", {"token": "123456"}).status_code == 200  # nothing to match


@REQUIRED
def test_centre_staff_need_no_code_and_the_next_address_stays_on_the_site(people, client):
    client.force_login(people["south_staff"])
    assert client.get("/clinic/").status_code == 200
    enrol("monitor")
    client.force_login(people["monitor"])
    response = client.post("/accounts/totp/", {"token": _code(people["monitor"]), "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/clinic/"


def test_without_the_requirement_a_monitor_signs_in_with_the_password_alone(people, client):
    client.force_login(people["monitor"])
    assert client.get("/clinic/").status_code == 200
