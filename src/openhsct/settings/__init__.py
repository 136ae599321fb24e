"""Deployment settings for OpenHSCT.

``openhsct.site.settings`` is the base (local use, the demo and the tests). Production runs with
``DJANGO_SETTINGS_MODULE=openhsct.settings.production``, which imports the base and then takes every secret
from the environment (or from files the environment names) and turns on HTTPS-only cookies and headers.
See docs/security.md.
"""
