"""Production settings: Django's deployment check passes with nothing silenced, and every secret comes
from the environment (or a file it names) or start-up stops with a message naming it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from openhsct.settings import env
from tests.security.live import production_environment

#: Checks silenced in production settings, each justified in docs/security.md. None.
SILENCED_SYSTEM_CHECKS: list[str] = []


def _run(args: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env=environ, capture_output=True, text=True, timeout=120)


def test_check_deploy_passes_with_production_settings(tmp_path):
    environ = production_environment(tmp_path)
    done = _run(["-m", "django", "check", "--deploy", "--fail-level", "WARNING"], environ)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout
    shown = _run(["-c", (
        "import django, json; django.setup(); from django.conf import settings as s; print(json.dumps("
        "[s.SILENCED_SYSTEM_CHECKS, s.DEBUG, s.OPENHSCT_REQUIRE_TOTP_FOR_CROSS_CENTRE, s.SESSION_COOKIE_SECURE,"
        " s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECRET_KEY == "
        f"{environ['OPENHSCT_SECRET_KEY']!r}]))")], environ)
    assert shown.returncode == 0, shown.stderr
    silenced, debug, totp, session_secure, csrf_secure, redirect, hsts, key_from_env = json.loads(shown.stdout)
    assert silenced == SILENCED_SYSTEM_CHECKS
    assert (debug, totp, session_secure, csrf_secure, redirect) == (False, True, True, True, True)
    assert hsts >= 31_536_000 and key_from_env


def test_a_missing_secret_stops_the_command_line_with_a_message(tmp_path):
    environ = production_environment(tmp_path)
    del environ["OPENHSCT_SECRET_KEY"]
    done = _run(["-m", "openhsct.cli", "user", "totp", "somebody"], environ)
    assert done.returncode == 1
    assert "OPENHSCT_SECRET_KEY is not set" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_a_weak_secret_stops_django_start_up(tmp_path):
    environ = production_environment(tmp_path)
    environ["OPENHSCT_SECRET_KEY"] = "x" * 60
    done = _run(["-c", "import django; django.setup()"], environ)
    assert done.returncode != 0
    assert "ImproperlyConfigured: OPENHSCT_SECRET_KEY is too weak" in done.stderr
    assert environ["OPENHSCT_SECRET_KEY"] not in done.stderr  # the message never echoes the value


STRONG = "k3Y-" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
OTHER = "h7Z-" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklm"


@pytest.mark.parametrize(("environ", "message"), [
    ({}, "OPENHSCT_SECRET_KEY is not set"),
    ({"OPENHSCT_SECRET_KEY": "   "}, "OPENHSCT_SECRET_KEY is not set"),
    ({"OPENHSCT_SECRET_KEY": "short-but-varied-42"}, "too weak: it needs at least 50 characters"),
    ({"OPENHSCT_SECRET_KEY": "ab" * 40}, "5 of them different"),
    ({"OPENHSCT_SECRET_KEY": "django-insecure-" + STRONG}, "published placeholder"),
    ({"OPENHSCT_SECRET_KEY": "openhsct-local-only-change-me-in-production" + STRONG}, "published placeholder"),
    ({"OPENHSCT_SECRET_KEY": STRONG, "OPENHSCT_SECRET_KEY_FILE": "/nonexistent"}, "both set"),
    ({"OPENHSCT_SECRET_KEY_FILE": "/nonexistent/secret"}, "cannot be read"),
])
def test_secret_key_rules(environ, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        env.secret_key(environ)


def test_secrets_are_read_from_the_files_the_environment_names(tmp_path):
    key_file, hmac_file = tmp_path / "key", tmp_path / "hmac"
    key_file.write_text(STRONG + "\n", encoding="utf-8")
    hmac_file.write_text(OTHER + "\n", encoding="utf-8")
    environ = {"OPENHSCT_SECRET_KEY_FILE": str(key_file), "OPENHSCT_HMAC_KEY_FILE": str(hmac_file)}
    assert env.secret_key(environ) == STRONG
    assert env.hmac_key(STRONG, environ) == OTHER


@pytest.mark.parametrize(("environ", "message"), [
    ({}, "OPENHSCT_HMAC_KEY is not set"),
    ({"OPENHSCT_HMAC_KEY": "too-short-hmac-key"}, "at least 32 characters"),
    ({"OPENHSCT_HMAC_KEY": STRONG}, "equals OPENHSCT_SECRET_KEY"),
])
def test_hmac_key_rules(environ, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        env.hmac_key(STRONG, environ)


def test_allowed_hosts_and_database_rules():
    assert env.allowed_hosts({"OPENHSCT_ALLOWED_HOSTS": " registry.example.org , 10.1.2.3 "}) == [
        "registry.example.org", "10.1.2.3"]
    with pytest.raises(ImproperlyConfigured, match="OPENHSCT_ALLOWED_HOSTS is not set"):
        env.allowed_hosts({})
    with pytest.raises(ImproperlyConfigured, match="contains '\\*'"):
        env.allowed_hosts({"OPENHSCT_ALLOWED_HOSTS": "registry.example.org,*"})
    with pytest.raises(ImproperlyConfigured, match="OPENHSCT_DATABASE_URL is not set"):
        env.database({})
    with pytest.raises(ImproperlyConfigured, match="cannot be read") as refused:
        env.database({"OPENHSCT_DATABASE_URL": "nosuchdb://user:hunter2secret@host/db"})
    assert "hunter2secret" not in str(refused.value)
    entry = env.database({"OPENHSCT_DATABASE_URL": "postgresql://app@db.internal:5432/openhsct"})
    assert entry["NAME"] == "openhsct" and entry["ENGINE"].endswith("postgresql")
