"""Django settings for OpenHSCT.

The database comes from ``OPENHSCT_DATABASE_URL`` (set by ``openhsct --db URL`` too): a SQLite file by
default, PostgreSQL for real deployments; the same migrations run on both.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE

from openhsct.site.logs import logging_config

PACKAGE_DIR = Path(__file__).resolve().parent.parent
HOME = Path(os.environ.get("OPENHSCT_HOME", Path.cwd() / "openhsct-data"))
DEFAULT_DATABASE_URL = f"sqlite:///{HOME / 'openhsct.sqlite3'}"

SECRET_KEY = os.environ.get("OPENHSCT_SECRET_KEY", "openhsct-local-only-change-me-in-production")
DEBUG = os.environ.get("OPENHSCT_DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("OPENHSCT_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "openhsct.registry",
    "openhsct.releases",
    "openhsct.portal",
    "openhsct.quality",
    "openhsct.security",
]

MIDDLEWARE = [
    # A request id for every request, cached pages too; it is in the logs and on the 500 page (docs/security.md).
    "openhsct.site.security.RequestIdMiddleware",
    # Whole public pages for anonymous GETs, before anything else runs (docs/portal.md, Caching).
    "openhsct.portal.middleware.PublicPageCacheMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # With OPENHSCT_PG_ROW_SECURITY on: the signed-in person's centres for PostgreSQL's policies.
    "openhsct.security.row_security.RowSecurityMiddleware",
    "openhsct.site.security.SessionLimitMiddleware",
    "openhsct.site.security.RequireTOTPMiddleware",
    "openhsct.site.security.NoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "openhsct.registry.audit.AuditUserMiddleware",
    # Every URL's access rule (openhsct.security.access): 405, sign-in, 403 or 404 before the view runs.
    "openhsct.security.access.AccessRuleMiddleware",
    "axes.middleware.AxesMiddleware",
    # Last, so it sees a view's exception first: a still-locked SQLite database answers 503, not 500.
    "openhsct.site.middleware.DatabaseBusyMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling (openhsct.site.throttle, docs/security.md): 5 failures lock the account (by username and
# by username and address, never a whole address) for 15 minutes; a higher per-address limit stops spraying.
AXES_FAILURE_LIMIT = int(os.environ.get("OPENHSCT_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username", ["username", "ip_address"]]
AXES_HANDLER = "openhsct.site.throttle.LoginThrottleHandler"
AXES_LOCKOUT_CALLABLE = "openhsct.site.throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "openhsct.site.throttle.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # the lock lasts 15 minutes; tries during it do not extend it
AXES_VERBOSE = False
OPENHSCT_LOGIN_IP_FAILURE_LIMIT = int(os.environ.get("OPENHSCT_LOGIN_IP_FAILURE_LIMIT", "50"))
OPENHSCT_PROXY_COUNT = 0
OPENHSCT_SECURITY_CONTACT = os.environ.get(
    "OPENHSCT_SECURITY_CONTACT", "your centre's registry lead or the registry's administrator")

ROOT_URLCONF = "openhsct.site.urls"
WSGI_APPLICATION = "openhsct.site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("OPENHSCT_DATABASE_URL", DEFAULT_DATABASE_URL), conn_max_age=60
    )
}
# PostgreSQL row-level security (openhsct.security.row_security, docs/security.md): the application connects
# as a role that does not own the tables; migrations and `row_security install` run as the owner.
OPENHSCT_PG_ROW_SECURITY = os.environ.get("OPENHSCT_PG_ROW_SECURITY", "").strip().lower() in {"1", "on", "true", "yes"}
if os.environ.get("OPENHSCT_DATABASE_OWNER_URL"):
    DATABASES["owner"] = dj_database_url.parse(os.environ["OPENHSCT_DATABASE_OWNER_URL"])
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # SQLite (docs/backup.md, "SQLite settings"): wait up to 30 s for another writer instead of failing
    # with "database is locked"; take the write lock when a transaction starts (BEGIN IMMEDIATE), so two
    # writers queue on the busy timeout rather than deadlock when a reader turns writer; write-ahead log
    # with synchronous=FULL, so a committed transaction survives a power loss and readers never wait.
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=FULL",
    })

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "openhsct",
        "TIMEOUT": 3600,
    }
}

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = HOME / "static"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Argon2id first (argon2-cffi): new and changed passwords use it; older hashes still verify and are upgraded.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sessions (OWASP ASVS 4.0 3.2-3.4): openhsct.site.security ends them on the server after 30 idle minutes
# and 12 hours after sign-in; cookies HttpOnly and SameSite=Lax here, Secure in openhsct.settings.production.
OPENHSCT_SESSION_IDLE_SECONDS = 30 * 60
OPENHSCT_SESSION_ABSOLUTE_SECONDS = 12 * 60 * 60
SESSION_COOKIE_AGE = OPENHSCT_SESSION_ABSOLUTE_SECONDS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# Monitors and administrators confirm a TOTP code after their password (openhsct.site.totp); on by default
# in production settings.
OPENHSCT_REQUIRE_TOTP_FOR_CROSS_CENTRE = os.environ.get("OPENHSCT_REQUIRE_TOTP_FOR_CROSS_CENTRE") == "1"
OTP_TOTP_ISSUER = "OpenHSCT"

# Headers: no inline script anywhere (CSP, django-csp); styles may be inline (the reports embed their
# stylesheet so a saved report stands alone; docs/security.md). No framing, same-origin referrers, nosniff.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/clinic/"
LOGOUT_REDIRECT_URL = "/"

LOGGING = logging_config()
