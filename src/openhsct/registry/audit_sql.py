"""The audit trail's guards inside the database (docs/audit.md).

- **Append-only.** SQLite: triggers ``RAISE(ABORT)`` on UPDATE and DELETE of audit rows. PostgreSQL: a row
  trigger raises on UPDATE and DELETE, a statement trigger on TRUNCATE; with ``OPENHSCT_DB_APP_ROLE``
  set, that role (the one the application connects as) is granted INSERT and SELECT on the audit table
  and nothing else. Only a role that owns the table, having set ``openhsct.audit_erase``, may delete rows
  (used to wipe throw-away test databases); UPDATE is refused to everyone.
- **Changes outside the application** (PostgreSQL): a row trigger on every audited table writes an audit
  row — sealed onto the chain by the database, with the same canonical form as
  :func:`openhsct.registry.audit.row_hash` — for each INSERT, UPDATE or DELETE made in a transaction that
  did not set ``openhsct.audited`` (the application sets it in every transaction that changes data).

Every statement is idempotent: the same guards are installed by migration ``0005_audit_chain`` and after
each ``migrate`` (so a table added later is covered at once). Every command runs ``migrate`` when it
starts, so on PostgreSQL a guard already in place is left alone: a function is replaced only when its
body differs, a trigger re-created only when it is missing or calls another function or arguments,
and the application role's grants re-issued only when they differ (then REVOKE and GRANT in one
transaction, so the role is never seen without its INSERT).
``DROP TRIGGER`` takes an ACCESS EXCLUSIVE lock on its table; taken on every start it queued behind (and
deadlocked with) the transactions of the people saving records while the command began.
"""

from __future__ import annotations

import os
import re

from django.db import transaction

from openhsct.registry.audit import AUDIT_TABLE, CHAIN_LOCK_KEY

SQLITE_APPEND_ONLY = [
    f"""CREATE TRIGGER IF NOT EXISTS "{AUDIT_TABLE}_no_update" BEFORE UPDATE ON "{AUDIT_TABLE}"
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE of an audit event refused'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS "{AUDIT_TABLE}_no_delete" BEFORE DELETE ON "{AUDIT_TABLE}"
        WHEN openhsct_audit_erase() IS NOT 1
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE of an audit event refused'); END""",
]

PG_FUNCTIONS = [
    # secrets (password hashes, tokens) never enter the trail: a fingerprint shows that they changed
    """CREATE OR REPLACE FUNCTION openhsct_audit_redact(v jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
      SELECT coalesce(jsonb_object_agg(e.key, CASE WHEN e.key ~* 'password|token|secret' AND e.value <> 'null'
               THEN to_jsonb('[redacted ' || left(encode(sha256(convert_to(e.value #>> '{}', 'UTF8')), 'hex'), 12) || ']')
               ELSE e.value END), '{}'::jsonb)
      FROM jsonb_each(v) AS e
    $$""",
    # canonical JSON: sorted keys (code-point order), no spaces, numbers as numeric prints them
    """CREATE OR REPLACE FUNCTION openhsct_audit_canon(v jsonb) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE out text;
    BEGIN
      IF v IS NULL THEN RETURN 'null'; END IF;
      CASE jsonb_typeof(v)
        WHEN 'object' THEN
          SELECT '{' || coalesce(string_agg(to_jsonb(e.key)::text || ':' || openhsct_audit_canon(e.value), ','
                                            ORDER BY e.key COLLATE "C"), '') || '}'
            INTO out FROM jsonb_each(v) AS e;
        WHEN 'array' THEN
          SELECT '[' || coalesce(string_agg(openhsct_audit_canon(a.value), ',' ORDER BY a.n), '') || ']'
            INTO out FROM jsonb_array_elements(v) WITH ORDINALITY AS a(value, n);
        WHEN 'number' THEN out := (v::text)::numeric::text;
        ELSE out := v::text;
      END CASE;
      RETURN out;
    END $$""",
    """CREATE OR REPLACE FUNCTION openhsct_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP IN ('DELETE', 'TRUNCATE') AND coalesce(current_setting('openhsct.audit_erase', true), '') = 'on'
         AND pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
        RETURN OLD;
      END IF;
      RAISE EXCEPTION 'the audit trail is append-only: % of an audit event refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
    END $$""",
    f"""CREATE OR REPLACE FUNCTION openhsct_audit_raw() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      b jsonb; a jsonb; pk text; prev text; at_ts timestamptz := clock_timestamp();
      centre text := ''; patient text := ''; pid bigint; cid bigint; row_json jsonb; new_hash text;
    BEGIN
      IF coalesce(current_setting('openhsct.audited', true), '') <> '' THEN RETURN NULL; END IF;
      IF TG_OP <> 'INSERT' THEN b := openhsct_audit_redact(to_jsonb(OLD)); pk := b->>'id'; END IF;
      IF TG_OP <> 'DELETE' THEN a := openhsct_audit_redact(to_jsonb(NEW)); pk := a->>'id'; END IF;
      IF TG_OP = 'UPDATE' AND a = b THEN RETURN NULL; END IF;
      pid := coalesce(a, b)->>'patient_id';
      cid := coalesce(a, b)->>'centre_id';
      IF TG_ARGV[0] = 'Patient' THEN pid := (coalesce(a, b)->>'id')::bigint; END IF;
      IF pid IS NOT NULL THEN
        SELECT c.centre_code, p.patient_code INTO centre, patient FROM registry_patient p
          JOIN registry_centre c ON c.id = p.centre_id WHERE p.id = pid;
      ELSIF cid IS NOT NULL THEN
        SELECT c.centre_code INTO centre FROM registry_centre c WHERE c.id = cid;
      ELSIF TG_ARGV[0] = 'Centre' THEN
        centre := coalesce(a, b)->>'centre_code';
      END IF;
      PERFORM pg_advisory_xact_lock({CHAIN_LOCK_KEY});
      SELECT hash INTO prev FROM "{AUDIT_TABLE}" ORDER BY id DESC LIMIT 1;
      prev := coalesce(prev, '');
      row_json := jsonb_build_object(
        'at', to_char(at_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00',
        'actor', 'db:' || current_user, 'action', lower(TG_OP), 'model', TG_ARGV[0], 'object_pk', pk,
        'centre_code', coalesce(centre, ''), 'patient_code', coalesce(patient, ''), 'before', b, 'after', a,
        'detail', jsonb_build_object('via', 'sql', 'table', TG_TABLE_NAME,
                                     'application_name', current_setting('application_name')),
        'via', 'sql', 'request_id', '', 'ip', coalesce(host(inet_client_addr()), ''));
      new_hash := encode(sha256(convert_to(prev || openhsct_audit_canon(row_json), 'UTF8')), 'hex');
      INSERT INTO "{AUDIT_TABLE}" (at, actor, action, model, object_pk, centre_code, patient_code, before,
                                   after, detail, via, request_id, ip, prev_hash, hash)
      VALUES (at_ts, row_json->>'actor', row_json->>'action', TG_ARGV[0], pk, row_json->>'centre_code',
              row_json->>'patient_code', b, a, row_json->'detail', 'sql', '', row_json->>'ip', prev, new_hash);
      RETURN NULL;
    END $$""",
]

#: Each append-only trigger of the audit table: its (table, trigger, function, arguments), as
#: :func:`installed_triggers` reads them back, and the statements that (re)create it.
PG_APPEND_ONLY = [
    ((AUDIT_TABLE, f"{AUDIT_TABLE}_append_only", "openhsct_audit_refuse", ()), [
        f'DROP TRIGGER IF EXISTS "{AUDIT_TABLE}_append_only" ON "{AUDIT_TABLE}"',
        f"""CREATE TRIGGER "{AUDIT_TABLE}_append_only" BEFORE UPDATE OR DELETE ON "{AUDIT_TABLE}"
            FOR EACH ROW EXECUTE FUNCTION openhsct_audit_refuse()"""]),
    ((AUDIT_TABLE, f"{AUDIT_TABLE}_no_truncate", "openhsct_audit_refuse", ()), [
        f'DROP TRIGGER IF EXISTS "{AUDIT_TABLE}_no_truncate" ON "{AUDIT_TABLE}"',
        f"""CREATE TRIGGER "{AUDIT_TABLE}_no_truncate" BEFORE TRUNCATE ON "{AUDIT_TABLE}"
            FOR EACH STATEMENT EXECUTE FUNCTION openhsct_audit_refuse()"""]),
]


def _raw_trigger_spec(db_table: str, model_name: str) -> tuple[str, str, str, tuple[str, ...]]:
    """Returns (table, trigger, function, arguments) of the raw-change trigger of ``db_table``."""
    return db_table, f"{db_table}_audit_raw"[:63], "openhsct_audit_raw", (model_name,)


def _raw_trigger_sql(db_table: str, model_name: str) -> list[str]:
    name = _raw_trigger_spec(db_table, model_name)[1]
    return [
        f'DROP TRIGGER IF EXISTS "{name}" ON "{db_table}"',
        f"""CREATE TRIGGER "{name}" AFTER INSERT OR UPDATE OR DELETE ON "{db_table}"
            FOR EACH ROW EXECUTE FUNCTION openhsct_audit_raw('{model_name}')""",
    ]


def grant_sql(role: str) -> list[str]:
    """Returns the statements that leave ``role`` (the application's) INSERT and SELECT on the audit
    table and nothing else."""
    quoted = '"' + role.replace('"', '""') + '"'
    return [
        f'REVOKE ALL ON "{AUDIT_TABLE}" FROM {quoted}',
        f'GRANT SELECT, INSERT ON "{AUDIT_TABLE}" TO {quoted}',
        f"GRANT USAGE ON SEQUENCE {AUDIT_TABLE}_id_seq TO {quoted}",
    ]


#: What :func:`grant_sql` leaves the application role on the audit table: privilege → held.
AUDIT_TABLE_PRIVILEGES = {"SELECT": True, "INSERT": True, "UPDATE": False, "DELETE": False, "TRUNCATE": False,
                          "REFERENCES": False, "TRIGGER": False}


def grants_in_place(cursor, role: str) -> bool:
    """Returns True when ``role`` exists and holds exactly what :func:`grant_sql` gives it on the audit
    table (and USAGE on its sequence), so nothing needs granting or revoking again."""
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    if cursor.fetchone() is None:
        return False
    checks = " AND ".join(
        f"{'' if held else 'NOT '}has_table_privilege(%s, %s, '{privilege}')"
        for privilege, held in AUDIT_TABLE_PRIVILEGES.items())
    params = [p for _ in AUDIT_TABLE_PRIVILEGES for p in (role, f'"{AUDIT_TABLE}"')]
    cursor.execute(f"SELECT {checks} AND has_sequence_privilege(%s, %s, 'USAGE')",
                   [*params, role, f"{AUDIT_TABLE}_id_seq"])
    return bool(cursor.fetchone()[0])


def _function_name(sql: str) -> str:
    return re.search(r"FUNCTION (\w+)\(", sql).group(1)


def _function_body(sql: str) -> str:
    return re.search(r"\$\$(.*)\$\$", sql, re.S).group(1)


def installed_functions(cursor) -> dict[str, str]:
    """Returns name → body (``prosrc``) of the guard functions present in the current schema."""
    cursor.execute("SELECT proname, prosrc FROM pg_proc WHERE proname = ANY(%s) "
                   "AND pronamespace = to_regnamespace(current_schema())::oid",
                   [[_function_name(sql) for sql in PG_FUNCTIONS]])
    return dict(cursor.fetchall())


def installed_triggers(cursor) -> set[tuple[str, str, str, tuple[str, ...]]]:
    """Returns (table, trigger, function, arguments) of every user trigger in the current schema."""
    cursor.execute("SELECT c.relname, t.tgname, p.proname, t.tgnargs, t.tgargs FROM pg_trigger t "
                   "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid "
                   "WHERE NOT t.tgisinternal AND c.relnamespace = to_regnamespace(current_schema())::oid")
    out = set()
    for table, name, function, nargs, raw in cursor.fetchall():
        args = bytes(raw).split(b"\x00")[:nargs] if nargs else []
        out.add((table, name, function, tuple(a.decode() for a in args)))
    return out


def install_append_only(connection) -> None:
    """Install the append-only triggers on the audit table (and the app role's grants), leaving those in
    place alone on PostgreSQL (module docstring). Returns nothing."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            functions = installed_functions(cursor)
            for sql in PG_FUNCTIONS:
                if functions.get(_function_name(sql)) != _function_body(sql):
                    cursor.execute(sql)
            triggers = installed_triggers(cursor)
            for spec, statements in PG_APPEND_ONLY:
                if spec not in triggers:
                    for sql in statements:
                        cursor.execute(sql)
            role = os.environ.get("OPENHSCT_DB_APP_ROLE", "")
            if role and not grants_in_place(cursor, role):  # revoke and grant together: no moment without
                with transaction.atomic(using=connection.alias):  # the role's INSERT, never again if held
                    for sql in grant_sql(role):
                        cursor.execute(sql)
        elif connection.vendor == "sqlite":
            for sql in SQLITE_APPEND_ONLY:
                cursor.execute(sql)


def install_guards(connection, db_tables: dict[str, str] | list[str]) -> None:
    """Install every guard: append-only on the audit table and, on PostgreSQL, the trigger that records
    changes made outside the application on each audited table (``db_tables``: table → model name),
    re-creating only a trigger that is missing or differs. Returns nothing."""
    install_append_only(connection)
    if connection.vendor != "postgresql":
        return
    existing = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        triggers = installed_triggers(cursor)
        for db_table, model_name in dict(db_tables).items():
            if db_table in existing and _raw_trigger_spec(db_table, model_name) not in triggers:
                for sql in _raw_trigger_sql(db_table, model_name):
                    cursor.execute(sql)
