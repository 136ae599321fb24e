"""Django settings for OpenHSCT.

The database comes from ``OPENHSCT_DATABASE_URL`` (set by ``openhsct --db URL`` too): a SQLite file by
default, PostgreSQL for real deployments; the same migrations run on both.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

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
    "openhsct.registry",
    "openhsct.releases",
    "openhsct.portal",
    "openhsct.quality",
]

MIDDLEWARE = [
    # Whole public pages for anonymous GETs, before anything else runs (docs/portal.md, Caching).
    "openhsct.portal.middleware.PublicPageCacheMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "openhsct.registry.audit.AuditUserMiddleware",
    "axes.middleware.AxesMiddleware",
    # Last, so it sees a view's exception first: a still-locked SQLite database answers 503, not 500.
    "openhsct.site.middleware.DatabaseBusyMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("OPENHSCT_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = 1  # hours
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_VERBOSE = False

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
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/clinic/"
LOGOUT_REDIRECT_URL = "/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"axes": {"handlers": ["null"], "propagate": False}},
}
