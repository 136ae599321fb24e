"""WSGI entry point used by ``openhsct serve`` (gunicorn)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openhsct.site.settings")
application = get_wsgi_application()
