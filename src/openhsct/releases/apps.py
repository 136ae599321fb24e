"""The Django app that stores releases (its own tables and migrations; the registry's are untouched)."""

from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "openhsct.releases"
    label = "releases"
    verbose_name = "Public data releases"
    default_auto_field = "django.db.models.BigAutoField"
