"""``manage.py row_security install|remove|check``: PostgreSQL row-level security (docs/security.md)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from openhsct.security import row_security


class Command(BaseCommand):
    help = ("Install (as the tables' owner) or remove the centre policies of PostgreSQL row-level security, "
            "or check the application role. Does nothing on SQLite.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["install", "remove", "check"])
        parser.add_argument("--database", default="default",
                            help="Database alias: 'owner' (OPENHSCT_DATABASE_OWNER_URL) to install or remove.")

    def handle(self, *args, action: str, database: str, **options) -> None:
        conn = connections[database]
        if conn.vendor != "postgresql":
            self.stdout.write("Row-level security is PostgreSQL's: nothing to do on this database.")
            return
        if action == "install":
            self.stdout.write(f"Row-level security installed on {row_security.install(conn)} tables.")
        elif action == "remove":
            self.stdout.write(f"Row-level security removed from {row_security.remove(conn)} tables.")
        else:
            problems = row_security.role_problems(conn)
            if problems:
                raise CommandError("Row-level security: " + "; ".join(problems) + ".")
            self.stdout.write("Row-level security: the application role cannot bypass the policies.")
