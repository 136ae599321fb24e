"""Production settings: ``DJANGO_SETTINGS_MODULE=openhsct.settings.production``.

Everything of the base settings (:mod:`openhsct.site.settings`) except what a deployment must not inherit:

- DEBUG is off; SECRET_KEY, the database URL, ALLOWED_HOSTS and the HMAC key come only from the environment
  or from files it names (``NAME_FILE``); a missing or weak value stops start-up with a message naming the
  variable (:mod:`openhsct.settings.env`);
- HTTPS only: plain-HTTP requests are redirected, HSTS for a year, session and CSRF cookies ``Secure``;
- monitors and administrators, who read every centre, must confirm a TOTP code after their password
  (``OPENHSCT_REQUIRE_TOTP_FOR_CROSS_CENTRE``, on unless set to 0);
- logs go to stderr, one line per record, with the request id, user text escaped and URL paths replaced
  by their route pattern (:mod:`openhsct.site.logs`).

Behind a reverse proxy that terminates TLS, set ``OPENHSCT_TRUST_X_FORWARDED_PROTO=1`` (the proxy must set
``X-Forwarded-Proto``) and ``OPENHSCT_PROXY_COUNT`` to the number of proxies (login throttling then reads
the client address from ``X-Forwarded-For``). See docs/security.md.
"""

from __future__ import annotations

from openhsct.settings import env
from openhsct.site import settings as _base
from openhsct.site.logs import logging_config
from openhsct.site.settings import *  # noqa: F403

DEBUG = False

SECRET_KEY = env.secret_key()
SECRET_KEY_FALLBACKS: list[str] = []
OPENHSCT_HMAC_KEY = env.hmac_key(SECRET_KEY)
ALLOWED_HOSTS = env.allowed_hosts()


def _database() -> dict:
    """The database entry; the base settings' engine options (SQLite busy timeout) are kept for the same
    engine. Returns Django's DATABASES["default"]."""
    entry = env.database()
    base_entry = _base.DATABASES["default"]
    if base_entry.get("ENGINE") == entry["ENGINE"] and base_entry.get("OPTIONS"):
        entry["OPTIONS"] = {**base_entry["OPTIONS"], **entry.get("OPTIONS", {})}
    return entry


DATABASES = {"default": _database()}

SECURE_SSL_REDIRECT = True
SECURE_HSTS_SECONDS = 31_536_000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
if env.flag("OPENHSCT_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
OPENHSCT_PROXY_COUNT = env.count("OPENHSCT_PROXY_COUNT", 0)

OPENHSCT_REQUIRE_TOTP_FOR_CROSS_CENTRE = env.flag("OPENHSCT_REQUIRE_TOTP_FOR_CROSS_CENTRE", True)

LOGGING = logging_config(level="INFO", stream=True)
