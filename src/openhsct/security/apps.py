"""The security app: the access rule table's middleware, and the optional PostgreSQL row-level security
(its system check, its ``row_security`` management command and its installation after ``migrate``)."""

from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "openhsct.security"
    label = "openhsct_security"
    verbose_name = "OpenHSCT access control"

    def ready(self) -> None:
        """Register the row-security system check and the post-migrate installation. Returns nothing."""
        from django.core import checks
        from django.db.models.signals import post_migrate

        from openhsct.security import row_security

        checks.register(row_security.check_app_role, checks.Tags.security)
        post_migrate.connect(row_security.install_after_migrate, dispatch_uid="openhsct-row-security")
