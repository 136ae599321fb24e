from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "openhsct.portal"
    label = "portal"
    verbose_name = "OpenHSCT portal"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from openhsct.portal.selectors import registry_changed

        # Any save or delete of a registry model makes the cached pages of this process stale at once.
        post_save.connect(registry_changed, dispatch_uid="portal-registry-changed-save")
        post_delete.connect(registry_changed, dispatch_uid="portal-registry-changed-delete")
