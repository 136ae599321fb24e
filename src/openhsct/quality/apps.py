"""The Django app of the data manager's tools (its own tables and migrations beside the registry's)."""

from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "openhsct.quality"
    label = "quality"
    verbose_name = "Data quality"
    default_auto_field = "django.db.models.BigAutoField"
