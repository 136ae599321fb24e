"""PostgreSQL row-level security (``OPENHSCT_PG_ROW_SECURITY``): policies on every patient-data table, the
application role that cannot bypass them, and the access matrix with the option on.

The policies are PostgreSQL's, so every test here but the first is marked to run only there, like the
database-role tests of tests/registry/test_audit.py: on SQLite they are reported as skipped with the reason
(``-ra``), and scripts/test.sh runs tests/security again on PostgreSQL, where they run.
"""

from __future__ import annotations

import sys
import time

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from openhsct.security import row_security

PG = connection.vendor == "postgresql"
pg_only = pytest.mark.skipif(not PG, reason="row-level security is PostgreSQL's: runs in the PostgreSQL pass")
APP_ROLE = "openhsct_rls_app"


@pytest.mark.django_db
def test_installing_is_a_no_op_on_sqlite_and_covers_every_patient_table_on_postgresql(capsys):
    tables = row_security.protected_tables()
    assert {"registry_patient", "registry_edssvisit", "registry_centre", "quality_query"} <= set(tables)
    assert "registry_auditevent" not in tables and "registry_membership" not in tables
    call_command("row_security", "install")
    out = capsys.readouterr().out
    if PG:
        assert f"installed on {len(tables)} tables" in out
    else:
        assert "nothing to do" in out and row_security.install() == 0


@pg_only
@pytest.mark.django_db
def test_after_migrate_only_what_is_missing_is_installed():
    """Every command runs ``migrate``; with the policies in place its hook issues no DDL (``ALTER TABLE``
    and ``CREATE POLICY`` lock each table against every reader), and a policy taken off is put back."""
    import re

    row_security.install()
    statements: list[str] = []

    def capture(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        assert row_security.install(only_missing=True) == 0
    assert statements and not [q for q in statements if re.match(r"\s*(CREATE|DROP|ALTER)", q, re.I)]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP POLICY {row_security.POLICY} ON registry_edssvisit")
    assert row_security.install(only_missing=True) == 1
    assert row_security.install(only_missing=True) == 0


def _two_centres():
    """Centres A and B with two patients and one EDSS visit each. Returns (A, B)."""
    import datetime as dt

    from openhsct.registry import models as m

    centres = []
    for code in ("RLA", "RLB"):
        centre = m.Centre.objects.create(centre_code=code, name=f"{code} Synthetic", country="GBR", city="X",
                                         synthetic="yes")
        for i in (1, 2):
            patient = m.Patient.objects.create(centre=centre, patient_code=f"{code}{i}", sex="female",
                                               birth_year=1980, phenotype="RRMS", consent_status="given")
            m.EdssVisit.objects.create(patient=patient, visit_date=dt.date(2020, 1, i), edss="3.0")
        centres.append(centre)
    return centres


def become_app_role() -> None:
    """Install the policies, then act as a role that owns nothing and cannot bypass them, for the rest of
    the test's transaction. Returns nothing."""
    row_security.install()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS")
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
        cursor.execute(f"SET LOCAL ROLE {APP_ROLE}")
    row_security.set_centres(row_security.ALL)


@pg_only
@pytest.mark.django_db
def test_unfiltered_queries_as_the_app_role_see_only_the_users_centre():
    from openhsct.registry import models as m

    a, b = _two_centres()
    become_app_role()
    assert row_security.role_problems() == []
    row_security.set_centres(str(a.pk))
    assert set(m.Patient.objects.values_list("patient_code", flat=True)) == {"RLA1", "RLA2"}
    assert set(m.EdssVisit.objects.values_list("patient__centre__centre_code", flat=True)) == {"RLA"}
    assert list(m.Centre.objects.values_list("centre_code", flat=True)) == ["RLA"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT p.patient_code FROM registry_edssvisit v JOIN registry_patient p ON p.id = v.patient_id")
        assert sorted(r[0] for r in cursor.fetchall()) == ["RLA1", "RLA2"]
        cursor.execute("UPDATE registry_patient SET birth_year = 1990 WHERE centre_id = %s", [b.pk])
        assert cursor.rowcount == 0
    with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
        m.Patient.objects.create(centre_id=b.pk, patient_code="RLB9", sex="male", birth_year=1980,
                                 phenotype="RRMS", consent_status="given")
    row_security.set_centres(row_security.NONE)
    assert m.Patient.objects.count() == 0 and m.EdssVisit.objects.count() == 0
    row_security.set_centres(row_security.ALL)
    assert m.Patient.objects.count() == 4


@pg_only
@pytest.mark.django_db
def test_the_server_refuses_a_role_that_bypasses_the_policies(settings):
    from django.core.exceptions import ImproperlyConfigured

    row_security.install()
    settings.OPENHSCT_PG_ROW_SECURITY = True
    problems = row_security.role_problems()  # the test database's own role: a superuser that owns the tables
    assert any("superuser" in p for p in problems) and any("owns" in p for p in problems)
    assert {e.id for e in row_security.check_app_role()} == {"openhsct.E102"}
    with pytest.raises(ImproperlyConfigured, match="superuser"):
        row_security.verify_at_start(close=False)


@pg_only
@pytest.mark.django_db
def test_the_access_matrix_passes_with_row_security_on(tmp_path, settings):
    """The whole access check of tests/security/test_access_matrix.py (matrix, searches, foreign keys of
    another centre, CSRF) on PostgreSQL, with the application connected as the row-security role; the
    PostgreSQL pass runs this in place of the plain check."""
    from tests.security import test_access_matrix as matrix

    settings.OPENHSCT_REQUIRE_TOTP_FOR_CROSS_CENTRE = False
    world = matrix.build_world(tmp_path)
    clients = matrix.Clients(world)
    urls = matrix.every_url(world)
    settings.OPENHSCT_PG_ROW_SECURITY = True
    become_app_role()
    started = time.perf_counter()
    matrix.check_matrix(world, clients, urls)
    matrix.check_lists_searches_filters_and_autocomplete(world, clients)
    matrix.check_foreign_keys_of_another_centre(world, clients)
    matrix.check_csrf(world, urls)
    print(f"\naccess matrix with row-level security on: {time.perf_counter() - started:.1f} s", file=sys.stderr)
