"""WSGI entry point used by ``openhsct serve`` (gunicorn)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openhsct.site.settings")
import openhsct.security.row_security as _row_security  # noqa: E402 - after the settings module is named

_row_security.SERVING = True  # with row-level security on, the server's connections start seeing no centre
application = get_wsgi_application()

#: The public templates compiled at start-up (with gunicorn's ``--preload``, once in the master).
PUBLIC_TEMPLATES = (
    "portal/home.html", "portal/centre.html", "portal/compare.html", "portal/evidence.html",
    "portal/about.html", "portal/releases.html", "portal/no_release.html", "portal/report.html",
)


def warm() -> None:
    """Load the URL patterns, the views and the public templates before the first request, so that no
    worker's first visitor pays for imports and template compilation. Touches no database (gunicorn forks
    its workers after this)."""
    import importlib

    from django.template.loader import get_template
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view module
    for module in ("openhsct.releases.store", "openhsct.releases.archive", "openhsct.portal.published",
                   "openhsct.portal.report", "openhsct.portal.comparative"):
        importlib.import_module(module)
    for name in PUBLIC_TEMPLATES:
        get_template(name)


warm()
