from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "openhsct.portal"
    label = "portal"
    verbose_name = "OpenHSCT portal"
