"""PostgreSQL row-level security, as an option (``OPENHSCT_PG_ROW_SECURITY=on``).

With the option on, the database itself keeps each centre's patient data to those who may read it, under
the application's own checks (:mod:`openhsct.security.access`):

- **Policies.** Every table that holds patient data (centres, patients, every patient record, the
  data-quality tables) gets ``ENABLE`` and ``FORCE ROW LEVEL SECURITY`` and one policy: a row is visible and
  writable when its centre is in ``current_setting('openhsct.centre_ids', true)``: a comma-separated list
  of centre ids, ``*`` for every centre, empty or unset for none. Installed by
  ``manage.py row_security install`` and after every ``migrate`` (idempotent; nothing on SQLite; after
  ``migrate`` only what is missing, so a command's start takes no table lock).
- **Not filtered**, and why: the audit trail (its hash chain spans every centre and is guarded by its own
  triggers and grants, docs/audit.md), users, roles and sessions (read to decide who is asking), patient
  accounts and invitations (read before the patient is known; they hold no clinical values).
- **Per request.** :class:`RowSecurityMiddleware` sets the value from the signed-in person's role at the
  start of each request (staff: their centre; monitor and administrator: ``*``; a patient: their own
  centre; anyone else: none) and resets it when the request ends. Django runs outside transactions
  in autocommit, so a transaction-local value would end with each statement: the value is set for the
  connection and always reset in ``finally``. Outside requests (commands such as import, release, backup,
  run by the operator) a new connection starts with ``*``; the web server's connections start with none
  (:data:`SERVING`, set by the WSGI entry point).
- **Roles.** The application connects as a role that does not own the tables, is not a superuser and has
  no BYPASSRLS; migrations run as the owner (``OPENHSCT_DATABASE_OWNER_URL``, Django's ``owner`` database:
  ``manage.py migrate --database owner``). :func:`check_app_role` refuses to start the server otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.db.backends.signals import connection_created
from django.http import HttpRequest, HttpResponse

SETTING = "openhsct.centre_ids"
ALL, NONE = "*", ""
POLICY = "openhsct_centre"
#: Set by the WSGI entry point: the connections of the web server start seeing no centre.
SERVING = False
#: Models left unfiltered (module docstring), as ``app_label.ModelName``.
UNFILTERED = {"registry.AuditEvent", "registry.Membership", "registry.PatientAccount", "registry.PatientInvite"}

FUNCTION_SQL = f"""CREATE OR REPLACE FUNCTION openhsct_rls_sees(c bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT coalesce(current_setting('{SETTING}', true), '') = '{ALL}'
      OR c = ANY (string_to_array(nullif(nullif(current_setting('{SETTING}', true), '{ALL}'), ''), ',')::bigint[])
$$"""


def enabled() -> bool:
    """Whether the option is on and the database is PostgreSQL. Returns the answer."""
    return bool(getattr(settings, "OPENHSCT_PG_ROW_SECURITY", False)) and connection.vendor == "postgresql"


def protected_tables() -> dict[str, str]:
    """Every table that holds patient data, with the SQL that gives a row's centre id. Returns
    {table: centre expression}."""
    from django.apps import apps

    out: dict[str, str] = {}
    for app_label in ("registry", "quality"):
        for model in apps.get_app_config(app_label).get_models():
            if model._meta.label in UNFILTERED:
                continue
            names = {f.name: f for f in model._meta.concrete_fields}
            if model._meta.label == "registry.Centre":
                out[model._meta.db_table] = "id"
            elif "centre" in names:
                out[model._meta.db_table] = names["centre"].column
            elif "patient" in names:
                patient = names["patient"].column
                out[model._meta.db_table] = f"(SELECT p.centre_id FROM registry_patient p WHERE p.id = {patient})"
    return out


def policy_sql(table: str, centre: str) -> list[str]:
    """The statements that put ``table`` under its centre policy (idempotent). Returns them."""
    quoted = '"' + table.replace('"', '""') + '"'
    return [
        f"ALTER TABLE {quoted} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {quoted} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {POLICY} ON {quoted}",
        f"CREATE POLICY {POLICY} ON {quoted} USING (openhsct_rls_sees({centre})) "
        f"WITH CHECK (openhsct_rls_sees({centre}))",
    ]


def _in_place(cursor) -> tuple[bool, set[str]]:
    """Returns (whether the visibility function has this version's body, the tables that already have
    row security enabled and forced and the centre policy)."""
    cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'openhsct_rls_sees' "
                   "AND pronamespace = to_regnamespace(current_schema())::oid")
    row = cursor.fetchone()
    body = FUNCTION_SQL.split("$$")[1]
    cursor.execute("SELECT c.relname FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid AND p.polname = %s "
                   "WHERE c.relrowsecurity AND c.relforcerowsecurity "
                   "AND c.relnamespace = to_regnamespace(current_schema())::oid", [POLICY])
    return (row is not None and row[0] == body), {name for (name,) in cursor.fetchall()}


def install(conn=None, tables: dict[str, str] | None = None, *, only_missing: bool = False) -> int:
    """Install the function and the policies (PostgreSQL; nothing elsewhere). ``only_missing`` (after
    every ``migrate``, which every command runs) leaves a table already under its policy alone: ``ALTER
    TABLE`` and ``CREATE POLICY`` lock the table against every reader until commit. Returns the number of
    tables put under a policy now (0 on SQLite)."""
    conn = conn or connection
    if conn.vendor != "postgresql":
        return 0
    tables = protected_tables() if tables is None else tables
    existing = set(conn.introspection.table_names())
    done = 0
    with conn.cursor() as cursor:
        function_ok, covered = _in_place(cursor) if only_missing else (False, set())
        todo = [(t, c) for t, c in tables.items() if t in existing and t not in covered]
        if not todo and function_ok:
            return 0
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE waits for no deferred check of this transaction
        if not function_ok:
            cursor.execute(FUNCTION_SQL)
        for table, centre in todo:
            for sql in policy_sql(table, centre):
                cursor.execute(sql)
            done += 1
    return done


def remove(conn=None) -> int:
    """Take the policies off again (PostgreSQL). Returns the number of tables changed."""
    conn = conn or connection
    if conn.vendor != "postgresql":
        return 0
    existing = set(conn.introspection.table_names())
    done = 0
    with conn.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in protected_tables():
            if table in existing:
                quoted = '"' + table + '"'
                cursor.execute(f"DROP POLICY IF EXISTS {POLICY} ON {quoted}")
                cursor.execute(f"ALTER TABLE {quoted} NO FORCE ROW LEVEL SECURITY")
                cursor.execute(f"ALTER TABLE {quoted} DISABLE ROW LEVEL SECURITY")
                done += 1
    return done


def install_after_migrate(sender, using: str = "default", **kwargs) -> None:
    """After ``migrate`` (once, for the security app), install the policies when the option is on.
    Returns nothing."""
    if sender.label == "openhsct_security" and getattr(settings, "OPENHSCT_PG_ROW_SECURITY", False):
        install(connections[using], only_missing=True)


def role_problems(conn=None) -> list[str]:
    """What is wrong with the role the application connects as, for row-level security: a superuser, a
    role with BYPASSRLS, the owner of a protected table, or policies not installed. Returns the problems
    in words (none: an empty list)."""
    conn = conn or connection
    problems = []
    with conn.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        user, superuser, bypass = cursor.fetchone()
        if superuser:
            problems.append(f"the database role {user!r} is a superuser (superusers bypass row-level security)")
        if bypass:
            problems.append(f"the database role {user!r} has BYPASSRLS")
        tables = list(protected_tables())
        cursor.execute("SELECT c.relname, pg_get_userbyid(c.relowner), c.relrowsecurity, c.relforcerowsecurity "
                       "FROM pg_class c WHERE c.relkind = 'r' AND c.relname = ANY(%s) "
                       "AND c.relnamespace = to_regnamespace(current_schema())::oid", [tables])
        rows = cursor.fetchall()
    owned = sorted(name for name, owner, _, _ in rows if owner == user)
    if owned:
        problems.append(f"the database role {user!r} owns {len(owned)} protected tables (e.g. {owned[0]}); "
                        "connect as a role that does not own them and migrate as the owner")
    unprotected = sorted(name for name, _, on, forced in rows if not (on and forced))
    if unprotected:
        problems.append(f"{len(unprotected)} tables have no forced row-level security (e.g. {unprotected[0]}): "
                        "run manage.py row_security install as the owner")
    return problems


def check_app_role(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Django system check: with the option on, refuse an application role that would bypass the policies.
    Returns the errors (none when the option is off or the database is not PostgreSQL)."""
    if not getattr(settings, "OPENHSCT_PG_ROW_SECURITY", False):
        return []
    if connection.vendor != "postgresql":
        return [checks.Error("OPENHSCT_PG_ROW_SECURITY is on but the database is not PostgreSQL.",
                             hint="Turn the option off, or use PostgreSQL.", id="openhsct.E101")]
    return [checks.Error(f"Row-level security: {p}.", id="openhsct.E102") for p in role_problems()]


def centre_ids_for(user) -> str:
    """The value of ``openhsct.centre_ids`` for ``user``: ``*``, one centre id, or empty. Returns it."""
    from openhsct.registry import roles
    from openhsct.registry.models import PatientAccount

    if user is None or not user.is_authenticated:
        return NONE
    if user.is_superuser or roles.is_monitor(user):
        return ALL
    centre = roles.staff_centre(user)
    if centre is not None:
        return str(centre.pk)
    account = PatientAccount.objects.filter(user_id=user.pk).values_list("patient__centre_id", flat=True).first()
    return str(account) if account is not None else NONE


def set_centres(value: str, conn=None) -> None:
    """Set ``openhsct.centre_ids`` on the connection. Returns nothing."""
    conn = conn or connection
    with conn.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, false)", [SETTING, value])


def connection_default() -> str:
    """What a connection sees outside requests: none in the web server, every centre in commands. Returns
    the value of ``openhsct.centre_ids``."""
    return NONE if SERVING else ALL


def _on_connect(sender, connection, **kwargs) -> None:
    """A new PostgreSQL connection starts with :func:`connection_default`. Returns nothing."""
    if connection.vendor == "postgresql" and getattr(settings, "OPENHSCT_PG_ROW_SECURITY", False):
        set_centres(connection_default(), connection)


connection_created.connect(_on_connect, dispatch_uid="openhsct-row-security-connect")


class RowSecurityMiddleware:
    """Set the signed-in person's centres for the request; reset to none afterwards (module docstring).
    At start-up, refuse to serve when the application role would bypass the policies."""

    def __init__(self, get_response):
        self.get_response = get_response
        if getattr(settings, "OPENHSCT_PG_ROW_SECURITY", False) and SERVING:
            verify_at_start()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not enabled():
            return self.get_response(request)
        set_centres(centre_ids_for(getattr(request, "user", None)))
        try:
            return self.get_response(request)
        finally:
            set_centres(connection_default())


def verify_at_start(conn=None, *, close: bool = True) -> None:
    """Raise ImproperlyConfigured naming every problem of :func:`role_problems` (the server does not
    start); close the connection afterwards unless ``close`` is False (the web server forks its workers
    after this). Returns nothing."""
    conn = conn or connection
    if conn.vendor != "postgresql":
        raise ImproperlyConfigured("OPENHSCT_PG_ROW_SECURITY is on but the database is not PostgreSQL.")
    try:
        problems = role_problems(conn)
    finally:
        if close:
            conn.close()
    if problems:
        raise ImproperlyConfigured("Row-level security is on, but " + "; ".join(problems) + ".")


def grant_sql(role: str, tables: Iterable[str]) -> list[str]:
    """The statements that let the application role read and write ``tables`` (the owner runs them).
    Returns them."""
    quoted = '"' + role.replace('"', '""') + '"'
    return [f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{t}" TO {quoted}' for t in tables]


def flag_from_environment() -> bool:
    """``OPENHSCT_PG_ROW_SECURITY`` read as on/off (default off). Returns it."""
    from openhsct.settings.env import flag

    return flag("OPENHSCT_PG_ROW_SECURITY", False, os.environ)
