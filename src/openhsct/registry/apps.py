from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "openhsct.registry"
    label = "registry"
    verbose_name = "aHSCT registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from openhsct.registry import audit

        audit.connect_signals()
