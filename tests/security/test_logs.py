"""Logs (OWASP ASVS 4.0 7.1.1-7.1.2, 7.3.1, 8.3.1): planted canary codes, clinical values and passwords
appear 0 times in the session's log records and the live server's output, and user text cannot forge a
log line. The capture is session-wide (``captured_logs`` in tests/conftest.py)."""

from __future__ import annotations

import logging
import re
import sys

from django.test import Client

from openhsct.registry.models import Patient
from openhsct.site.logs import SafeFormatter, escape
from tests.clinic_urls import patient_url
from tests.security import live

PATIENT_ROUTE = "/clinic/<str:centre_code>/patients/<pkey:patient_key>/"
FORGED = "2026-01-01 00:00:00,000 CRITICAL openhsct.request [0000000000000000] FORGED-LINE"
LINE_START = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ |  \| |\[\d{4}-\d\d-\d\d )")


def _live_actions(site: live.LiveSite) -> None:
    """Sign in with the canary password, open the canary patient, post a canary value, miss a page, fail
    a sign-in with the canary password: everything a log might be tempted to record."""
    browser = live.LiveSite(site.host, site.port, site.output, site.process, secret_key=site.secret_key)
    assert browser.sign_in("nobody_at_all", live.CANARY_PASSWORD).status == 200
    assert browser.sign_in(live.STAFF, live.CANARY_PASSWORD).status == 302
    patient = site.patient_path(live.CENTRE, live.CANARY_CODE)
    page = browser.request("GET", patient)
    assert page.status == 200 and live.CANARY_CODE in page.body
    form = {"csrfmiddlewaretoken": browser.csrf_token(page), "edss-visit_date": "2024-05-02",
            "edss-edss": live.CANARY_CLINICAL}
    refused = browser.request("POST", f"{patient}add/edss/", form=form)
    assert refused.status == 400 and live.CANARY_CLINICAL in refused.body
    assert browser.request("GET", site.patient_path(live.CENTRE, f"{live.CANARY_CODE}X")).status == 404


def _in_process_actions(people) -> None:
    Patient.objects.create(centre=people["north"], patient_code=live.CANARY_CODE, sex="male", birth_year=1979,
                           phenotype="RRMS", consent_status="given")
    staff, other = Client(), Client()
    staff.force_login(people["north_staff"])
    other.force_login(people["south_staff"])
    patient = patient_url("NRT", live.CANARY_CODE)
    assert live.CANARY_CODE in staff.get(patient).content.decode()
    staff.post(f"{patient}add/edss/", {"edss-visit_date": "2024-05-02", "edss-edss": live.CANARY_CLINICAL})
    assert other.get(patient).status_code in (403, 404)  # logged by Django as a denied request
    Client().post("/accounts/login/", {"username": "north_staff", "password": live.CANARY_PASSWORD})


def test_planted_canaries_never_reach_the_logs(live_site, captured_logs, people):
    _live_actions(live_site)
    _in_process_actions(people)
    text = captured_logs.text()
    assert text.count(PATIENT_ROUTE) >= 4, "the requests were logged (by route)"
    for canary in (live.CANARY_CODE, live.CANARY_PASSWORD, live.CANARY_CLINICAL):
        assert text.count(canary) == 0, canary


def test_user_text_cannot_forge_a_log_line(captured_logs, db):
    evil = f"eve\n{FORGED}\r\n{FORGED}\u2028{FORGED}"
    logging.getLogger("openhsct.test").warning("user typed %s", evil)
    assert Client().get("/", HTTP_HOST=f"evil.example\n{FORGED}").status_code == 400  # DisallowedHost, logged
    lines = captured_logs.text().splitlines()
    assert not any(line.startswith(FORGED) for line in lines)
    assert sum(FORGED in line for line in lines) >= 2, "the forged text was logged, escaped, inside a record"
    for line in lines:
        if FORGED in line:
            assert LINE_START.match(line), line


def test_the_formatter_escapes_every_line_break_and_indents_tracebacks():
    assert escape("a\nb\rc\td\x1be\u2028f\x85g") == "a\\nb\\rc\\td\\x1be\\u2028f\\x85g"
    try:
        raise ValueError(f"bad value\n{FORGED}")
    except ValueError:
        record = logging.LogRecord("openhsct.test", logging.ERROR, __file__, 1, "failed: %s", ("x\ny",),
                                   exc_info=sys.exc_info())
    lines = SafeFormatter().format(record).splitlines()
    assert "failed: x\\ny" in lines[0]
    assert all(line.startswith("  | ") for line in lines[1:]) and len(lines) > 2
