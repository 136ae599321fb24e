"""Passwords: Argon2id first, at least 12 characters, not a common password, not all digits; the command
line applies the same rules."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.hashers import identify_hasher
from typer.testing import CliRunner

from openhsct.site.passwords import password_problems


def test_argon2_hashes_new_passwords(people):
    assert settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    user = people["north_staff"]
    user.refresh_from_db()
    assert identify_hasher(user.password).algorithm == "argon2"
    assert user.password.startswith("argon2$argon2id$")


@pytest.mark.parametrize(("password", "rule"), [
    ("Short-pw-11", "at least 12 characters"),
    ("password1234", "too common"),
    ("123456789012", "entirely numeric"),
    ("alice_walker_2026", "too similar to the username"),
])
def test_weak_passwords_are_refused(password, rule):
    problems = password_problems(password, "alice_walker_2026")
    assert any(rule in p for p in problems), problems


def test_a_long_uncommon_password_is_accepted():
    assert password_problems("tidal-Orchid-rampart-58", "alice") == []


def test_the_command_line_refuses_a_weak_password_and_creates_nobody(db, monkeypatch):
    from django.contrib.auth import get_user_model

    from openhsct import cli
    from openhsct.commands import registry

    monkeypatch.setattr(registry, "django", lambda migrate=True: None)  # the test database is ready
    result = CliRunner().invoke(cli.app, ["add-user", "mon_weak", "--role", "monitor", "--password", "short-pw"])
    assert result.exit_code == 1
    assert "the password was refused" in result.output and "at least 12 characters" in result.output
    assert "Traceback" not in result.output
    assert not get_user_model().objects.filter(username="mon_weak").exists()
    result = CliRunner().invoke(cli.app, ["add-user", "mon_ok", "--role", "monitor", "--password",
                                          "tidal-Orchid-rampart-58"])
    assert result.exit_code == 0, result.output
    assert get_user_model().objects.filter(username="mon_ok").exists()
