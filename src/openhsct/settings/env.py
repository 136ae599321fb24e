"""Secrets and host names for production, read only from the environment or from files it names.

Each value ``NAME`` may be given as the variable ``NAME`` or as ``NAME_FILE`` naming a file that holds it
(a container or systemd secret). A missing, ambiguous or weak value raises
:class:`~django.core.exceptions.ImproperlyConfigured` with a message that names the variable and says what
to do, never the value itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

#: Django's own deployment check asks for at least 50 characters and 5 distinct ones (security.W009).
SECRET_KEY_MIN_LENGTH = 50
#: HMAC-SHA256 keys shorter than the hash's 32 bytes weaken it (RFC 2104, section 3).
HMAC_KEY_MIN_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 5
#: Values that are known to the world: the base settings' local key and Django's generated prefix.
KNOWN_WEAK_PREFIXES = ("django-insecure-", "openhsct-local-only", "change-me", "changeme")

GENERATE_HINT = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(64))'"


def read_value(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of ``name`` from the environment or from the file ``name_FILE`` names.

    Returns the value with surrounding whitespace (a file's trailing newline) removed. Raises
    ImproperlyConfigured when neither or both are set, or the file cannot be read.
    """
    env = os.environ if environ is None else environ
    direct, file_name = env.get(name, ""), env.get(f"{name}_FILE", "")
    if direct and file_name:
        raise ImproperlyConfigured(f"{name} and {name}_FILE are both set: set only one of them.")
    if file_name:
        try:
            direct = Path(file_name).read_text(encoding="utf-8")
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE names {file_name}, which cannot be read ({exc.strerror or exc}).") from None
    value = direct.strip()
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set: production settings take it only from the environment "
            f"({name}) or from a file named by {name}_FILE.")
    return value


def _strong(name: str, value: str, min_length: int) -> str:
    """``value`` when it is long and varied enough and not a published default; ImproperlyConfigured
    naming ``name`` otherwise. Returns the value."""
    lowered = value.lower()
    if any(lowered.startswith(prefix) for prefix in KNOWN_WEAK_PREFIXES):
        raise ImproperlyConfigured(f"{name} is a published placeholder, not a secret; {GENERATE_HINT}.")
    if len(value) < min_length or len(set(value)) < MIN_DISTINCT_CHARACTERS:
        raise ImproperlyConfigured(
            f"{name} is too weak: it needs at least {min_length} characters, {MIN_DISTINCT_CHARACTERS} of "
            f"them different; {GENERATE_HINT}.")
    return value


def secret_key(environ: Mapping[str, str] | None = None) -> str:
    """Django's SECRET_KEY from ``OPENHSCT_SECRET_KEY`` (or ``_FILE``). Returns it after the strength check."""
    return _strong("OPENHSCT_SECRET_KEY", read_value("OPENHSCT_SECRET_KEY", environ), SECRET_KEY_MIN_LENGTH)


def hmac_key(secret: str, environ: Mapping[str, str] | None = None) -> str:
    """The key of the de-identified export's HMAC-SHA256 codes from ``OPENHSCT_HMAC_KEY`` (or ``_FILE``).

    Returns it after the strength check; it must differ from ``secret`` (one leaked key must not give both).
    """
    value = _strong("OPENHSCT_HMAC_KEY", read_value("OPENHSCT_HMAC_KEY", environ), HMAC_KEY_MIN_LENGTH)
    if value == secret:
        raise ImproperlyConfigured("OPENHSCT_HMAC_KEY equals OPENHSCT_SECRET_KEY: give each its own value.")
    return value


def allowed_hosts(environ: Mapping[str, str] | None = None) -> list[str]:
    """The host names the site answers to, from ``OPENHSCT_ALLOWED_HOSTS`` (comma-separated, or ``_FILE``).

    Returns the list; a wildcard ``*`` is refused (it would let any Host header through).
    """
    hosts = [h.strip() for h in read_value("OPENHSCT_ALLOWED_HOSTS", environ).split(",") if h.strip()]
    if "*" in hosts:
        raise ImproperlyConfigured("OPENHSCT_ALLOWED_HOSTS contains '*': list the site's host names instead.")
    return hosts


def database(environ: Mapping[str, str] | None = None) -> dict:
    """Django's DATABASES entry from ``OPENHSCT_DATABASE_URL`` (or ``_FILE``).

    Returns the parsed entry; a URL that cannot be parsed is refused without echoing it (it may hold a
    password).
    """
    url = read_value("OPENHSCT_DATABASE_URL", environ)
    try:
        entry = dj_database_url.parse(url, conn_max_age=60)
    except (ValueError, KeyError, dj_database_url.UnknownSchemeError) as exc:
        raise ImproperlyConfigured(
            "OPENHSCT_DATABASE_URL cannot be read: use sqlite:////path/file.sqlite3 or "
            f"postgresql://user@host:5432/name ({type(exc).__name__}).") from None
    if not entry.get("ENGINE") or not entry.get("NAME"):
        raise ImproperlyConfigured("OPENHSCT_DATABASE_URL names no database: add the database name.")
    return entry


def flag(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    """A yes/no setting: ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``; ``default`` when unset.

    Returns the boolean; any other text raises ImproperlyConfigured.
    """
    env = os.environ if environ is None else environ
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={text!r}: use 1 or 0.")


def count(name: str, default: int, environ: Mapping[str, str] | None = None) -> int:
    """A small non-negative whole number (``default`` when unset). Returns it; other text raises
    ImproperlyConfigured."""
    env = os.environ if environ is None else environ
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isascii() or not text.isdigit() or int(text) > 10:
        raise ImproperlyConfigured(f"{name}={text!r}: use a whole number from 0 to 10.")
    return int(text)
