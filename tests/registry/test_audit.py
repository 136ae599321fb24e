"""The audit trail is complete, append-only and tamper-evident (docs/audit.md).

The write-path tests are generated from :func:`openhsct.registry.audit.audited_models` (the app registry):
every audited model × create/update/delete × path (ORM save as the admin and forms use it,
``QuerySet.update``, ``bulk_create``, raw SQL on PostgreSQL) must leave exactly one correct event, so a
new model that cannot be audited fails here.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import IntegrityError, connection, models, transaction
from django.db.utils import DatabaseError
from typer.testing import CliRunner

from openhsct.registry import audit
from openhsct.registry import models as m
from openhsct.registry.exchange import tables
from openhsct.registry.importer import import_bundle
from tests.clinic_urls import patient_url
from tests.committed import committed_once
from tests.conftest import hashing_each_password_once
from tests.registry.bundle_factory import small_bundle, write

AUDITED = audit.audited_models()
MODEL_IDS = [model._meta.label for model in AUDITED]
PG = connection.vendor == "postgresql"
_tokens = itertools.count(1)


def _token(prefix: str = "AUD") -> str:
    return f"{prefix}{next(_tokens):05d}"


# ------------------------------------------------------------------------------------------ building rows


def _unique_text_fields(model) -> set[str]:
    """Text fields that must be unique (alone, or in a constraint without a patient, centre or user)."""
    out = {f.name for f in model._meta.concrete_fields if f.unique and not f.primary_key and not f.is_relation}
    groups = [c.fields for c in model._meta.constraints if isinstance(c, models.UniqueConstraint) and c.fields]
    groups += list(model._meta.unique_together)
    for fields in groups:
        fields_objs = [model._meta.get_field(n) for n in fields]
        if any(f.is_relation for f in fields_objs):
            continue
        text = [f.name for f in fields_objs if isinstance(f, models.CharField) and not f.choices]
        out.update(text[:1])
    return out


def _generic(field: models.Field):
    """A value that satisfies a field's type, choices and validators."""
    if field.has_default():
        return field.get_default()
    if field.null:
        return None
    if field.choices:
        return field.choices[0][0]
    if isinstance(field, models.BooleanField):
        return False
    if isinstance(field, models.DateTimeField):
        return dt.datetime(2021, 6, 1, tzinfo=dt.UTC)
    if isinstance(field, models.DateField):
        return dt.date(2021, 6, 1)
    if isinstance(field, models.DecimalField | models.FloatField | models.IntegerField):
        low = [v.limit_value for v in field.validators if type(v).__name__ == "MinValueValidator"]
        value = max([1, *low])
        return Decimal(value) if isinstance(field, models.DecimalField) else value
    if isinstance(field, models.JSONField):
        return {}
    if isinstance(field, models.CharField | models.TextField):
        return "" if field.blank else "x"
    raise AssertionError(f"no sample value for {field.model.__name__}.{field.name}")


class Builder:
    """Builds valid rows of any audited model for one fresh patient (and centre, and user), cloning the
    registry's own rows of the small bundle where they exist so that every constraint holds."""

    def __init__(self) -> None:
        self.centre = m.Centre.objects.create(centre_code=_token("C"), name="Audit Synthetic Centre",
                                              country="GBR", synthetic="yes")
        self.patient = m.Patient.objects.create(centre=self.centre, patient_code=_token("P"), sex="female",
                                                birth_year=1980, phenotype="RRMS", consent_status="given")
        with hashing_each_password_once():
            self.user = get_user_model().objects.create_user(_token("user"), password="pw-audit-test-1")
        self.saved: dict[type, models.Model] = {}

    def _fk(self, field: models.Field):
        target = field.related_model
        if target is m.Patient:
            return self.patient
        if target is m.Centre:
            return self.centre
        if target is get_user_model():
            return self.user if not field.one_to_one else get_user_model().objects.create_user(_token("user"))
        if target not in self.saved:
            self.saved[target] = self.save(target)
        return self.saved[target]

    def build(self, model) -> models.Model:
        """Returns an unsaved, valid instance of ``model``."""
        template = model._base_manager.order_by("pk").first()
        unique = _unique_text_fields(model)
        kwargs = {}
        for f in model._meta.concrete_fields:
            if f.primary_key or getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                continue
            if f.is_relation:
                always = f.related_model in (m.Patient, m.Centre, get_user_model())
                empty = template is None or getattr(template, f.attname) is None
                kwargs[f.name] = None if f.null and empty and not always else self._fk(f)
            elif f.name in unique:
                kwargs[f.name] = _token()[: f.max_length]
            else:
                kwargs[f.name] = getattr(template, f.attname) if template is not None else _generic(f)
        return model(**kwargs)

    def save(self, model) -> models.Model:
        obj = self.build(model)
        obj.save()
        return obj


def _mutation(obj) -> tuple[models.Field, object]:
    """A field of ``obj`` and a new value for it that every rule allows (free text first)."""
    model = type(obj)
    unique = _unique_text_fields(model)
    candidates = [f for f in model._meta.concrete_fields
                  if not f.primary_key and not f.is_relation and f.name not in unique and f.editable]
    for f in candidates:
        if isinstance(f, models.CharField | models.TextField) and not f.choices and "password" not in f.name:
            current = getattr(obj, f.attname) or ""
            return f, (current[: (f.max_length or 100) - 2] + "Zz")
    for f in candidates:
        if f.choices and len(f.choices) > 1:
            current = getattr(obj, f.attname)
            return f, next(v for v, _ in f.choices if v != current and v != "")
    for f in candidates:
        if isinstance(f, models.BooleanField):
            return f, not getattr(obj, f.attname)
    for name in sorted(unique):
        return model._meta.get_field(name), _token()
    for f in model._meta.concrete_fields:  # rows of keys and a time only: move the time
        if isinstance(f, models.DateField) and not f.primary_key and getattr(obj, f.attname) is not None:
            return f, getattr(obj, f.attname) + dt.timedelta(days=1)
    raise AssertionError(f"{model.__name__}: no field to change in the test")


def _events(model, pk, **filters):
    return list(m.AuditEvent.objects.filter(model=model.__name__, object_pk=str(pk), **filters).order_by("id"))


def _stored(obj) -> dict:
    return audit.snapshot(type(obj)._base_manager.get(pk=obj.pk))


@pytest.fixture(scope="class")
def small_bundle_rows(django_db_setup, django_db_blocker, tmp_path_factory):
    """The small bundle imported once and committed for the tests of a class, wiped after them (importing it
    before each of the many generated cases was most of this suite's time)."""
    folder = write(small_bundle(), tmp_path_factory.mktemp("audit-bundle"))
    yield from committed_once(django_db_blocker, lambda: import_bundle(folder, actor="cli:test"))


@pytest.fixture
def build(db, small_bundle_rows):
    """A builder over a registry holding the small bundle (templates for every table it has); what the test
    writes is rolled back after it."""
    return Builder()


# ------------------------------------------------------------------------------------------ completeness


def test_every_model_with_patient_data_is_audited():
    from django.apps import apps

    for model in apps.get_models():
        refers = any(f.is_relation and f.related_model in (m.Patient, m.Centre) for f in model._meta.concrete_fields)
        if model is m.AuditEvent:
            continue
        if refers or model._meta.app_label in audit.AUDITED_APPS:
            assert audit.is_audited(model), f"{model._meta.label} holds registry data but is not audited"
    labels = set(MODEL_IDS)
    assert {"registry.Patient", "registry.EdssVisit", "registry.Membership", "auth.User"} <= labels
    assert "registry.AuditEvent" not in labels


class TestOnTheSmallBundle:
    """Cases that build rows beside the small bundle, imported once for the class (``build``)."""

    @pytest.mark.parametrize("model", AUDITED, ids=MODEL_IDS)
    def test_every_write_path_leaves_one_event(self, build, model):
        with audit.acting_as("cli:auditor", via="test"):
            obj = build.save(model)
            created = _events(model, obj.pk)
            assert [e.action for e in created] == ["create"]
            assert created[0].after == _stored(obj) and created[0].before is None
            assert (created[0].actor, created[0].via) == ("cli:auditor", "test")

            field, value = _mutation(obj)
            before = _stored(obj)
            setattr(obj, field.attname, value)
            obj.save()
            updated = _events(model, obj.pk, action="update")
            assert len(updated) == 1
            assert updated[0].before == before and updated[0].after == _stored(obj)
            changed = [k for k, _, _ in audit.diff(updated[0].before, updated[0].after)]
            automatic = {f.attname for f in model._meta.concrete_fields if getattr(f, "auto_now", False)}
            assert field.attname in changed and set(changed) <= {field.attname, *automatic}

            if not any(getattr(f, "auto_now", False) for f in model._meta.concrete_fields):
                obj.save()  # nothing changed: no event
                assert len(_events(model, obj.pk)) == 2
            pk, last = obj.pk, _stored(obj)
            obj.delete()
            deleted = _events(model, pk, action="delete")
            assert len(deleted) == 1 and deleted[0].before == last and deleted[0].after is None

        # QuerySet.update and bulk_create send no signals: audited all the same
        obj = build.save(model)
        field, value = _mutation(obj)
        before = _stored(obj)
        assert model._base_manager.filter(pk=obj.pk).update(**{field.attname: value}) == 1
        updated = _events(model, obj.pk, action="update")
        assert len(updated) == 1 and updated[0].before == before and updated[0].after == _stored(obj)
        assert updated[0].detail == {"via": "QuerySet.update"}

        (made,) = model._base_manager.bulk_create([Builder().build(model)])  # a fresh patient: no clash
        created = _events(model, made.pk)
        assert [e.action for e in created] == ["create"] and created[0].after == _stored(made)
        if PG:  # raw SQL is caught by the database's trigger
            _raw_sql_paths(model)
        assert audit.verify_chain().broken_at is None

    def test_cascade_deletes_audit_each_child(self, build):
        def fk(model, on_delete) -> list:
            return [f for f in model._meta.concrete_fields if f.is_relation and f.remote_field.on_delete is on_delete]

        def protected(model) -> bool:  # holds, itself or through a parent record, a protected reference
            parents = [f.related_model for f in model._meta.concrete_fields if f.is_relation
                       and f.related_model not in (m.Patient, m.Centre, get_user_model())]
            return bool(fk(model, models.PROTECT)) or any(protected(p) for p in parents if p is not model)

        # every record that goes with its patient (those holding a protected reference keep the patient)
        children = [model for model in AUDITED if any(f.related_model is m.Patient for f in fk(model, models.CASCADE))
                    and not protected(model)]
        for model in children:
            if model not in build.saved:
                build.saved[model] = build.save(model)
        made = list(build.saved.values())
        pk, code = build.patient.pk, build.patient.patient_code
        with audit.acting_as("cli:cascade"):
            build.patient.delete()
        for obj in made:
            events = _events(type(obj), obj.pk, action="delete")
            assert len(events) == 1 and events[0].actor == "cli:cascade", type(obj).__name__
            assert events[0].patient_code in (code, ""), type(obj).__name__
        assert _events(m.Patient, pk, action="delete")[0].patient_code == code
        assert audit.verify_chain().broken_at is None


def _raw_sql_paths(model) -> None:
    """PostgreSQL: UPDATE, DELETE and INSERT by another program each leave one event (the trigger's)."""
    obj = Builder().save(model)
    field, value = _mutation(obj)
    table, column = model._meta.db_table, field.column
    with connection.cursor() as cursor:
        # a new transaction of another program: not marked as audited by the application
        cursor.execute("SELECT set_config('openhsct.audited', '', true)")
        cursor.execute(f'UPDATE "{table}" SET "{column}" = %s WHERE id = %s', [value, obj.pk])
        cursor.execute(f'SELECT * FROM "{table}" WHERE id = %s', [obj.pk])
        row = cursor.fetchone()
        names = [c.name for c in cursor.description]
        cursor.execute(f'DELETE FROM "{table}" WHERE id = %s', [obj.pk])
        cursor.execute(f'INSERT INTO "{table}" ({", ".join(names)}) VALUES ({", ".join(["%s"] * len(names))})', row)
    raw = _events(model, obj.pk, via="sql")
    assert [e.action for e in raw] == ["update", "delete", "insert"]
    assert raw[0].before[column] != raw[0].after[column] and raw[1].after is None and raw[2].before is None
    assert all(e.actor.startswith("db:") for e in raw)
    assert audit.verify_chain().broken_at is None


def test_import_writes_one_create_event_per_row_and_one_update_per_changed_row(db, tmp_path):
    bundle = small_bundle()
    report = import_bundle(write(bundle, tmp_path / "a"), actor="cli:importer")
    for name, table in tables().items():
        n = report.created.get(name, 0)
        events = m.AuditEvent.objects.filter(model=table.model.__name__, action="create", detail__via="import")
        assert events.count() == n == table.model.objects.count(), name
        for e in events:
            assert e.after == _stored(table.model.objects.get(pk=e.object_pk))
    changed = copy.deepcopy(bundle)
    changed["edss_visits"][0]["edss"] = "4.5"
    import_bundle(write(changed, tmp_path / "b"), actor="cli:importer")
    update = m.AuditEvent.objects.get(model="EdssVisit", action="update")
    assert update.before["edss"] != update.after["edss"] == "4.5"
    assert audit.verify_chain().broken_at is None


def test_a_change_and_its_event_commit_together(cast):
    with pytest.raises(RuntimeError), transaction.atomic():
        p = m.Patient.objects.create(centre=cast["north"], patient_code="ROLLBACK", sex="male", birth_year=1970,
                                     phenotype="RRMS", consent_status="given")
        assert _events(m.Patient, p.pk)
        raise RuntimeError("abandoned")
    assert not m.Patient.objects.filter(patient_code="ROLLBACK").exists()
    assert not m.AuditEvent.objects.filter(model="Patient", object_pk=str(p.pk)).exists()


# ------------------------------------------------------------------------------------------ other events


def test_sign_in_failure_sign_out_and_refusal_are_recorded(cast, client):
    from django.test import Client

    client.post("/accounts/login/", {"username": "north_staff", "password": "wrong-password-1"})
    failed = m.AuditEvent.objects.get(action="login_failed")
    assert failed.detail == {"username": "north_staff"} and "wrong" not in str(failed.detail)
    client.post("/accounts/login/", {"username": "north_staff", "password": "pw-north-1"})
    login = m.AuditEvent.objects.get(action="login")
    assert login.actor == "north_staff" and login.ip == "127.0.0.1" and login.request_id
    client.post("/accounts/logout/")
    assert m.AuditEvent.objects.get(action="logout").actor == "north_staff"
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/accounts/login/", {"username": "x", "password": "y"}).status_code == 403
    denied = m.AuditEvent.objects.get(action="denied")
    assert denied.detail == {"path": "/accounts/login/", "method": "POST", "status": 403}
    assert denied.actor == "anonymous"


def test_role_and_permission_changes_are_recorded(cast):
    staff = cast["north_staff"]
    group = Group.objects.create(name="auditors")
    staff.groups.add(group)
    group.permissions.add(Permission.objects.first())
    events = m.AuditEvent.objects.filter(action="permission").order_by("id")
    assert [(e.model, e.detail["change"]) for e in events] == [("User", "add"), ("Group", "add")]
    membership = staff.membership
    membership.role = "monitor"
    membership.centre = None
    membership.save()
    change = _events(m.Membership, membership.pk, action="update")[0]
    assert change.before["role"] == "staff" and change.after["role"] == "monitor"
    staff.is_superuser = True
    staff.save()
    promoted = _events(get_user_model(), staff.pk, action="update")[-1]
    assert promoted.before["is_superuser"] is False and promoted.after["is_superuser"] is True
    assert promoted.after["password"].startswith("[redacted ")


def test_views_and_downloads_record_keys_and_counts_never_values(cast):
    with audit.acting_as("north_staff"):
        audit.record_view(view="clinic:patient", patients=[("NRT", "N1")])
        audit.record_download(what="clinic:overdue_csv", rows=12, centre_codes=["NRT"])
    view = m.AuditEvent.objects.get(action="view")
    assert view.detail == {"view": "clinic:patient", "patients": ["NRT/N1"]} and view.before is view.after is None
    assert (view.centre_code, view.patient_code) == ("", "")  # reads stay out of the lists of changes
    download = m.AuditEvent.objects.get(action="download")
    assert download.detail["rows"] == 12 and download.actor == "north_staff"


def test_a_list_page_names_the_patients_it_showed_and_only_those_the_reader_may_read(cast):
    """``patients_shown``: codes standing in the page as whole tokens, among the patients the person may
    read (of the URL's centre where it names one); HTML-escaped text is read as shown; other answers name
    none. The clinic dashboard's read event names the patients of its list."""
    from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
    from django.test import Client

    for centre, code in (("north", "N-1"), ("north", "N2"), ("south", "N2"), ("south", "S3")):
        m.Patient.objects.create(centre=cast[centre], patient_code=code, sex="female", birth_year=1980,
                                 phenotype="RRMS", consent_status="given")
    page = HttpResponse("<td>N-1</td><td>S3</td><td>XN2</td> N-10 &lt;N2&gt; patient N-1.")
    assert audit.patients_shown(cast["north_staff"], page) == [("NRT", "N-1"), ("NRT", "N2")]
    assert audit.patients_shown(cast["monitor"], page) == [("NRT", "N-1"), ("NRT", "N2"), ("SRC", "N2"),
                                                           ("SRC", "S3")]
    assert audit.patients_shown(cast["monitor"], page, "SRC") == [("SRC", "N2"), ("SRC", "S3")]
    assert audit.patients_shown(cast["monitor"], JsonResponse({"results": [{"text": "S3"}]})) == [("SRC", "S3")]
    assert audit.patients_shown(cast["monitor"], HttpResponse("S3", content_type="text/plain")) == []
    assert audit.patients_shown(cast["monitor"], StreamingHttpResponse(iter(["S3"]))) == []
    client = Client()
    client.force_login(cast["north_staff"])
    assert client.get("/clinic/NRT/").status_code == 200
    event = m.AuditEvent.objects.filter(action="view").latest("pk")
    assert event.detail["patients"] == ["NRT/N-1", "NRT/N2"] and event.detail["centres"] == ["NRT"]


def test_history_for_a_patient_lists_each_change_with_before_and_after(cast):
    patient = m.Patient.objects.create(centre=cast["north"], patient_code="H1", sex="female", birth_year=1984,
                                       phenotype="RRMS", consent_status="given")
    visit = m.EdssVisit.objects.create(patient=patient, visit_date=dt.date(2021, 1, 1), edss=Decimal("3.0"))
    visit.edss = Decimal("3.5")
    visit.save()
    audit.record_view(view="clinic:patient", patients=[("NRT", "H1")])
    rows = audit.history_for(patient)
    assert [(r.action, r.model) for r in rows] == [("update", "EdssVisit"), ("create", "EdssVisit"),
                                                   ("create", "Patient")]
    assert rows[0].changes == [("edss", "3.0", "3.5")]


# ------------------------------------------------------------------------------------------ append-only


def _refused(sql: str, params=()) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError as exc:
        return "append-only" in str(exc) or "permission denied" in str(exc)
    return False


def test_audit_rows_cannot_be_changed_or_removed(cast):
    event = m.AuditEvent.objects.order_by("id").last()
    table = audit.AUDIT_TABLE
    assert _refused(f'UPDATE "{table}" SET actor = %s WHERE id = %s', ["mallory", event.pk])
    assert _refused(f'DELETE FROM "{table}" WHERE id = %s', [event.pk])
    if PG:
        assert _refused(f'TRUNCATE "{table}"')
    with pytest.raises(DatabaseError), transaction.atomic():
        m.AuditEvent.objects.filter(pk=event.pk).update(actor="mallory")
    assert m.AuditEvent.objects.get(pk=event.pk).actor == event.actor
    assert audit.verify_chain().broken_at is None


@pytest.mark.skipif(not PG, reason="the guards of PostgreSQL")
def test_installing_the_guards_again_takes_no_table_lock(db):
    """Every command runs ``migrate``, which re-installs the guards: where they are in place that issues
    no DDL (a DROP TRIGGER there locked each table and deadlocked with people saving records); a guard
    taken away is put back."""
    from openhsct.registry.audit_sql import install_guards, installed_triggers

    tables = {model._meta.db_table: model.__name__ for model in audit.audited_models()}
    statements: list[str] = []

    def capture(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        install_guards(connection, tables)
    ddl = [q for q in statements if re.match(r"\s*(CREATE|DROP|ALTER)", q, re.I)]
    assert statements and ddl == []
    with connection.cursor() as cursor:
        cursor.execute('DROP TRIGGER "registry_edssvisit_audit_raw" ON "registry_edssvisit"')
        install_guards(connection, tables)
        assert ("registry_edssvisit", "registry_edssvisit_audit_raw", "openhsct_audit_raw",
                ("EdssVisit",)) in installed_triggers(cursor)


def _application_role() -> str:
    """Returns the name of a login-less role standing for the application's (created where missing)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = 'openhsct_audit_app'")
        if cursor.fetchone() is None:
            cursor.execute("CREATE ROLE openhsct_audit_app NOLOGIN")
    return "openhsct_audit_app"


@pytest.mark.skipif(not PG, reason="database roles are PostgreSQL's")
def test_the_application_roles_grants_are_issued_only_when_they_differ(db, monkeypatch):
    """Every command's ``migrate`` re-installs the guards: with the role's grants in place no GRANT or
    REVOKE runs; a privilege given by hand (UPDATE) is taken back, and the SELECT and INSERT stay."""
    from openhsct.registry.audit_sql import grants_in_place, install_append_only

    role = _application_role()
    monkeypatch.setenv("OPENHSCT_DB_APP_ROLE", role)
    with connection.cursor() as cursor:
        install_append_only(connection)
        assert grants_in_place(cursor, role)
        statements: list[str] = []

        def capture(execute, sql, params, many, context):
            statements.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(capture):
            install_append_only(connection)
        assert statements and not [q for q in statements if re.match(r"\s*(GRANT|REVOKE)", q, re.I)]
        cursor.execute(f'GRANT UPDATE ON "{audit.AUDIT_TABLE}" TO {role}')
        assert not grants_in_place(cursor, role)
        install_append_only(connection)
        assert grants_in_place(cursor, role)
        cursor.execute("SELECT has_table_privilege(%s, %s, 'UPDATE')", [role, audit.AUDIT_TABLE])
        assert cursor.fetchone()[0] is False


@pytest.mark.skipif(not PG, reason="database roles are PostgreSQL's")
def test_the_application_role_may_only_insert_and_read_audit_rows(cast):
    from openhsct.registry.audit_sql import grant_sql, grants_in_place

    table = audit.AUDIT_TABLE
    _application_role()
    with connection.cursor() as cursor:
        cursor.execute("GRANT USAGE ON SCHEMA public TO openhsct_audit_app")
        for sql in grant_sql("openhsct_audit_app"):
            cursor.execute(sql)
        assert grants_in_place(cursor, "openhsct_audit_app")
        for privilege, allowed in (("SELECT", True), ("INSERT", True), ("UPDATE", False), ("DELETE", False),
                                   ("TRUNCATE", False)):
            cursor.execute("SELECT has_table_privilege('openhsct_audit_app', %s, %s)", [table, privilege])
            assert cursor.fetchone()[0] is allowed, privilege
        cursor.execute("SET LOCAL ROLE openhsct_audit_app")
        cursor.execute("SELECT set_config('openhsct.audit_erase', 'on', true)")  # not the owner: no effect
    try:
        for sql in (f'UPDATE "{table}" SET actor = \'mallory\'', f'DELETE FROM "{table}"', f'TRUNCATE "{table}"'):
            assert _refused(sql), sql
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")


# ------------------------------------------------------------------------------------------ tamper evidence


def _disable_guards() -> None:
    """As the table's owner (a superuser's tampering): drop the append-only triggers in this transaction."""
    table = audit.AUDIT_TABLE
    with connection.cursor() as cursor:
        if PG:
            cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER USER')
        else:
            cursor.execute(f'DROP TRIGGER "{table}_no_update"')
            cursor.execute(f'DROP TRIGGER "{table}_no_delete"')


def _verify_cli() -> tuple[int, str]:
    from openhsct.cli import app

    result = CliRunner().invoke(app, ["audit", "verify"])
    return result.exit_code, result.output


@pytest.fixture
def trail(cast, monkeypatch):
    """Ten events on the chain; the CLI reads this test's database (no set-up of its own)."""
    monkeypatch.setattr("openhsct.commands.audit.django", lambda: None)
    with audit.acting_as("cli:test"):
        for i in range(4):
            m.Patient.objects.create(centre=cast["north"], patient_code=f"T{i}", sex="male", birth_year=1975,
                                     phenotype="PPMS", consent_status="given")
    return list(m.AuditEvent.objects.order_by("id").values_list("id", flat=True))


def test_verify_reports_an_intact_chain(trail):
    code, output = _verify_cli()
    assert code == 0 and f"chain intact: {len(trail)} events" in output
    assert audit.chain_head() == m.AuditEvent.objects.order_by("id").last().hash


def test_an_edited_audit_row_is_named_by_verify(trail):
    target = trail[len(trail) // 2]
    _disable_guards()
    with connection.cursor() as cursor:
        cursor.execute(f'UPDATE "{audit.AUDIT_TABLE}" SET actor = %s WHERE id = %s', ["mallory", target])
    code, output = _verify_cli()
    assert code == 2 and f"broken at event #{target}" in output and "altered" in output


def test_an_edited_row_with_a_recomputed_hash_breaks_the_next_link(trail):
    target = trail[len(trail) // 2]
    _disable_guards()
    event = m.AuditEvent.objects.get(pk=target)
    event.actor = "mallory"
    forged = audit.row_hash(event.prev_hash, {k: getattr(event, k) for k in audit.CHAIN_FIELDS})
    with connection.cursor() as cursor:
        cursor.execute(f'UPDATE "{audit.AUDIT_TABLE}" SET actor = %s, hash = %s WHERE id = %s',
                       ["mallory", forged, target])
    code, output = _verify_cli()
    following = trail[trail.index(target) + 1]
    assert code == 2 and f"broken at event #{following}" in output and f"#{target}" in output


def test_a_deleted_audit_row_is_named_by_verify(trail):
    target = trail[len(trail) // 2]
    _disable_guards()
    with connection.cursor() as cursor:
        cursor.execute(f'DELETE FROM "{audit.AUDIT_TABLE}" WHERE id = %s', [target])
    code, output = _verify_cli()
    assert code == 2 and f"#{target}" in output and "removed" in output


def test_export_writes_a_readable_csv_for_inspectors(trail, tmp_path):
    import csv

    from openhsct.cli import app

    patient = m.Patient.objects.get(patient_code="T0")
    patient.last_contact_date = dt.date(2024, 2, 3)
    patient.save()
    today = dt.datetime.now(dt.UTC).date().isoformat()
    out = tmp_path / "audit.csv"
    result = CliRunner().invoke(app, ["audit", "export", "--from", today, "--to", today, "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == len(trail) + 1
    assert rows[-1]["changes"] == "last_contact_date: ∅ → 2024-02-03" and rows[-1]["at_utc"].endswith("+00:00")
    assert m.AuditEvent.objects.filter(action="export", detail__format="audit-csv").count() == 1
    result = CliRunner().invoke(app, ["audit", "export", "--from", "2020-01-02", "--to", "2020-01-01",
                                      "--out", str(out)])
    assert result.exit_code == 1 and "before --from" in result.output


def test_canonical_json_matches_the_database_form(db):
    assert audit.canonical_json({"b": [1, 2.5, None], "a": "x\n\"y\"", "c": Decimal("5.80"), "d": True}) == (
        '{"a":"x\\n\\"y\\"","b":[1,2.5,null],"c":5.80,"d":true}')
    assert audit.canonical_json({"x": 1e20, "y": -0.0}) == '{"x":100000000000000000000,"y":0.0}'
    if PG:
        with connection.cursor() as cursor:
            cursor.execute("SELECT openhsct_audit_canon(%s::jsonb)",
                           ['{"b": [1, 2.5, null], "a": "x\\n\\"y\\"", "c": 5.80, "d": true, "é": {}}'])
            assert cursor.fetchone()[0] == '{"a":"x\\n\\"y\\"","b":[1,2.5,null],"c":5.80,"d":true,"é":{}}'


def test_integrity_errors_leave_no_event(cast):
    before = m.AuditEvent.objects.count()
    with pytest.raises(IntegrityError), transaction.atomic():
        m.Patient.objects.create(centre=cast["north"], patient_code="DUP", sex="male", birth_year=1970,
                                 phenotype="RRMS", consent_status="given")
        m.Patient.objects.create(centre=cast["north"], patient_code="DUP", sex="male", birth_year=1970,
                                 phenotype="RRMS", consent_status="given")
    assert m.AuditEvent.objects.count() == before


def test_a_patient_page_shown_to_staff_is_one_view_event_without_values(cast, client):
    patient = m.Patient.objects.create(centre=cast["north"], patient_code="V1", sex="female", birth_year=1990,
                                       phenotype="RRMS", consent_status="given")
    m.EdssVisit.objects.create(patient=patient, visit_date=dt.date(2022, 3, 4), edss=Decimal("6.5"))
    client.force_login(cast["north_staff"])
    assert client.get(patient_url("NRT", "V1")).status_code == 200
    view = m.AuditEvent.objects.get(action="view")
    assert view.actor == "north_staff" and not view.patient_code
    assert view.detail == {"view": "portal:clinic:patient", "patients": ["NRT/V1"]} and "6.5" not in str(view.detail)
    assert client.get(patient_url("SRC", "V1")).status_code in (403, 404)
    assert m.AuditEvent.objects.filter(action="view").count() == 1


def test_probing_for_another_centres_patient_leaves_a_trail(cast, client):
    """A 404 to a signed-in person (a missing record and another centre's answer alike) is a ``denied``
    event with the address (an opaque key, never the code); an anonymous 404 is not recorded."""
    m.Patient.objects.create(centre=cast["north"], patient_code="V2", sex="female", birth_year=1990,
                             phenotype="RRMS", consent_status="given")
    client.get("/no-such-page/")
    assert not m.AuditEvent.objects.filter(action="denied").exists()
    client.force_login(cast["south_staff"])
    for address in (patient_url("NRT", "V2"), patient_url("SRC", "V2"), "/clinic/NRT/"):
        assert client.get(address).status_code == 404
    probes = list(m.AuditEvent.objects.filter(action="denied").order_by("pk"))
    assert [(e.actor, e.detail["status"], e.detail["path"]) for e in probes] == [
        ("south_staff", 404, patient_url("NRT", "V2")), ("south_staff", 404, patient_url("SRC", "V2")),
        ("south_staff", 404, "/clinic/NRT/")]
    assert "V2" not in str([e.detail for e in probes])


def test_an_event_created_directly_is_sealed_onto_the_chain(cast):
    m.AuditEvent.objects.create(actor="cli:release", action="update", model="Release", object_pk="r1",
                                detail={"event": "publish"})
    last = m.AuditEvent.objects.order_by("id").last()
    assert last.hash == audit.chain_head() and len(last.hash) == 64 and last.prev_hash
    assert audit.verify_chain().broken_at is None
