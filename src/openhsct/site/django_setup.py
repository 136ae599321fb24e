"""Start Django from the CLI with the database the user chose."""

from __future__ import annotations

import os


def setup(db_url: str | None = None, *, migrate: bool = False, verbosity: int = 0) -> None:
    """Configure Django for ``db_url`` (or ``OPENHSCT_DATABASE_URL``), optionally applying migrations.

    Returns nothing; afterwards the ORM is usable. The SQLite file's folder is created when needed. A
    configuration Django refuses (production settings with a missing or weak secret) raises OpenHSCTError.
    """
    if db_url:
        os.environ["OPENHSCT_DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openhsct.site.settings")
    import django
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as exc:  # a missing or weak production secret: a message, not a traceback
        from openhsct.errors import OpenHSCTError

        raise OpenHSCTError(f"the site's configuration is not usable: {exc}") from None
    name = settings.DATABASES["default"].get("NAME")
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") and name and name != ":memory:":
        from pathlib import Path

        Path(name).parent.mkdir(parents=True, exist_ok=True)
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=verbosity, interactive=False)
