"""One validation path: a catalogue of bad values is refused by the CSV import, every clinic form and every
admin add and change form of every registry model, by the same rule with the same words, and nothing is
written. The admin models come from ``admin.site._registry`` and the columns from the exchange tables, so
a new model or field is covered without touching this file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model

from openhsct.errors import ValidationError
from openhsct.portal.clinic.forms import FORMS
from openhsct.registry import models as m
from openhsct.registry import rules, validation
from openhsct.registry.exchange import NATURAL_REFS, NOT_EXCHANGED, Column, Table, tables
from openhsct.registry.formats import python_to_text
from openhsct.registry.forms import rule_message, table_of
from openhsct.registry.importer import import_bundle
from tests.clinic_urls import patient_url
from tests.committed import committed_once
from tests.registry.bundle_factory import small_bundle, write

DEAD = "P002"  # born 1979, died 2019-05-06 (tests.registry.bundle_factory)
BIRTH_YEAR, DEATH = 1979, dt.date(2019, 5, 6)


# ------------------------------------------------------------------------------------------ the catalogue


@dataclass(frozen=True)
class Case:
    """One bad value for one column, and the start of the rule that must refuse it."""

    name: str
    column: str
    value: str
    rule: str


def _first(table: Table, kinds: set[str], when: Callable[[Column], bool] = lambda c: True) -> Column | None:
    value_cols = [c for c in table.columns if c.field_name and c.field_name not in NATURAL_REFS]
    return next((c for c in value_cols if c.kind in kinds and when(c)), None)


def _day(text: str, days: int) -> str:
    return (dt.date.fromisoformat(text[:10]) + dt.timedelta(days=days)).isoformat()


def catalogue(table: Table, base: dict[str, str]) -> list[Case]:
    """The bad values that apply to ``table``, each on the first column of its kind."""
    cases: list[Case] = []
    tomorrow = validation.today() + dt.timedelta(days=1)
    dated = _first(table, {"date", "datetime"})
    if dated is not None:
        future = tomorrow.isoformat() if dated.kind == "date" else f"{tomorrow}T09:00:00+00:00"
        before = f"{BIRTH_YEAR - 1}-06-15" + ("" if dated.kind == "date" else "T09:00:00+00:00")
        cases += [Case("future date", dated.name, future, validation.FUTURE_DATE),
                  Case("before birth", dated.name, before, rules.BEFORE_BIRTH),
                  Case("full-width digits in a date", dated.name, "２０１９-01-01", validation.NON_ASCII_DIGITS)]
    after = dict(rules.after_death_columns())
    if table.name in after:
        cases.append(Case("after death", after[table.name], _day(DEATH.isoformat(), 1), rules.AFTER_DEATH))
    decimal = _first(table, {"decimal"}, lambda c: c.step is None)
    if decimal is not None:
        digits = validation._storage(table, decimal).int_digits
        cases += [Case("1e400", decimal.name, "1e400", validation.EXPONENT),
                  Case("NaN", decimal.name, "NaN", validation.NOT_FINITE),
                  Case("-inf", decimal.name, "-inf", validation.NOT_FINITE),
                  Case("too many digits", decimal.name, "9" * (digits + 1), "too many digits"),
                  Case("Arabic-Indic digit", decimal.name, "٣", validation.NON_ASCII_DIGITS)]
    edss = _first(table, {"decimal"}, lambda c: c.step is not None)
    if edss is not None:
        cases += [Case("EDSS 10.5", edss.name, "10.5", "must be ≥ 0 and ≤ 9.5"),
                  Case("EDSS 3.25", edss.name, "3.25", "more than 1 decimals"),
                  Case("EDSS -0.5", edss.name, "-0.5", "must be ≥ 0 and ≤ 9.5")]
    integer = _first(table, {"integer"})
    if integer is not None:
        cases += [Case("full-width whole number", integer.name, "１９８６", validation.NON_ASCII_DIGITS),
                  Case("whole number too large", integer.name, "99999999999", "must be")]
    for name, a, _op, b, col, rule in rules.WITHIN_ROW:
        if name == table.name:
            anchor = base.get(b if col == a else a) or "2019-03-01"
            wrong = _day(anchor, 1) if col == a else _day(anchor, -1)
            cases.append(Case(f"pathway order {col}", col, wrong, rule))
            break
    required = _first(table, {"date", "decimal", "integer", "code", "text"}, lambda c: c.required)
    if required is not None:
        cases.append(Case("empty required", required.name, "", "required value is missing"))
    return cases


# ------------------------------------------------------------------------------------------ the registry


def _generated_row(table: Table) -> dict[str, str]:
    """A valid row for a table the hand-written bundle lacks: required values only."""
    row = {"centre_code": "NRT", "patient_code": DEAD}
    for c in table.columns:
        if c.name in row or not c.required:
            continue
        if c.field_name in NATURAL_REFS:
            row[c.name] = {"mobilisation_id": "M1", "collection_id": "A1", "bag_id": "B-P002-1"}[c.name]
        elif c.kind == "code":
            row[c.name] = c.choices[0]
        elif c.kind in {"integer", "decimal"}:
            low = c.min_value if c.min_value is not None else Decimal(0)
            value = low + (1 if c.min_exclusive else 0)
            row[c.name] = f"{value:.{c.decimal_places or 0}f}"
        elif c.kind == "date":
            row[c.name] = "2019-04-01"
        elif c.kind == "datetime":
            row[c.name] = "2019-04-01T09:00:00+00:00"
        else:
            row[c.name] = "G1"
    return row


def _build_world(folder: Path) -> dict[str, int]:
    """Imports the world's bundle and adds the staff member; returns their primary keys by name."""
    bundle = small_bundle()
    bundle["pro_answers"] = [{"centre_code": "NRT", "patient_code": DEAD, "response_date": "2019-04-01",
                              "instrument": "pdds", "item": "pdds", "answer": "3", "source": "patient"}]
    for name, table in tables().items():
        bundle.setdefault(name, [_generated_row(table)])
    import_bundle(write(bundle, folder / "base"), actor="cli:test")
    user = get_user_model().objects.create_user("path_staff")
    m.Membership.objects.create(user=user, role="staff", centre=m.Centre.objects.get(centre_code="NRT"))
    return {"staff": user.pk, "dead": m.Patient.objects.get(patient_code=DEAD).pk}


@pytest.fixture(scope="module")
def _world_rows(django_db_setup, django_db_blocker, tmp_path_factory):
    """The world's rows, imported and committed once for this module and wiped after it."""
    yield from committed_once(django_db_blocker, lambda: _build_world(tmp_path_factory.mktemp("world")))


@pytest.fixture
def world(db, _world_rows, tmp_path):
    """The hand-written two-patient bundle (P002 died 2019-05-06), a row for every other table, and a
    member of the centre's staff (committed once for the module; what a test writes is rolled back)."""
    return {"staff": get_user_model().objects.get(pk=_world_rows["staff"]),
            "dead": m.Patient.objects.get(pk=_world_rows["dead"]), "tmp": tmp_path}


def _counts() -> dict[str, int]:
    models = [t.model for t in tables().values()] + [m.AuditEvent]
    return {model.__name__: model.objects.count() for model in models}


def _base_object(model):
    """The record a change form edits: the dead patient's, else the first."""
    if model is m.Patient:
        return model.objects.get(patient_code=DEAD)
    found = model.objects.filter(patient__patient_code=DEAD) if hasattr(model, "patient") else model.objects
    return found.order_by("pk").first() or model.objects.order_by("pk").first()


def _exchange_row(table: Table, obj) -> dict[str, str]:
    """The record as exchange text, moved to the dead patient."""
    row = {}
    for c in table.columns:
        if c.field_name is None:
            row[c.name] = {"centre_code": "NRT", "patient_code": DEAD}[c.name]
        elif c.field_name in NATURAL_REFS:
            row[c.name] = getattr(getattr(obj, c.field_name), NATURAL_REFS[c.field_name][2])
        else:
            row[c.name] = python_to_text(getattr(obj, c.field_name), c)
    if table.name == "patients":
        row["patient_code"] = DEAD
    return row


def _expected(rule: str) -> str:
    """The start of the sentence a form shows for ``rule``."""
    return rule_message(rule)[:-1]


def _registry_models() -> list[type]:
    found = [model for model in admin.site._registry if model._meta.app_label == "registry"]
    return sorted((model for model in found if table_of(model) is not None), key=lambda mo: mo.__name__)


def test_every_registry_model_in_the_admin_is_an_exchange_table():
    outside = {model.__name__ for model in admin.site._registry if model._meta.app_label == "registry"
               and table_of(model) is None}
    assert outside == {"AuditEvent", "Membership"}, "a registry model in the admin escapes the rules"


# ------------------------------------------------------------------------------------------ (a) import


def test_import_refuses_the_catalogue_by_rule_and_writes_nothing(world):
    """Bundle i holds, for every table, its i-th catalogue value (one row per table, so no key repeats)."""
    plans = {}
    for table in tables().values():
        if table.name != "centres":
            base = _exchange_row(table, _base_object(table.model))
            plans[table.name] = [({**base, case.column: case.value}, case) for case in catalogue(table, base)]
    failures = []
    before = _counts()
    for i in range(max(len(p) for p in plans.values())):
        bundle = {name: [plan[i][0]] for name, plan in plans.items() if i < len(plan)}
        with pytest.raises(ValidationError) as refused:
            import_bundle(write(bundle, world["tmp"] / f"case-{i}"), actor="cli:test")
        for name, plan in plans.items():
            if i < len(plan):
                case = plan[i][1]
                if not any(d.startswith(f"{name}.csv:2:{case.column}: {case.rule}") for d in refused.value.details):
                    failures.append((name, case, refused.value.details))
    assert failures == []
    refusals = max(len(p) for p in plans.values())  # each refused import leaves one "import refused" event
    assert _counts() == {**before, "AuditEvent": before["AuditEvent"] + refusals}
    assert m.AuditEvent.objects.filter(action="denied", model="import").count() == refusals


def test_import_refuses_a_decimal_comma_with_a_clear_rule(world):
    table = tables()["edss_visits"]
    row = {"centre_code": "NRT", "patient_code": DEAD, "visit_date": "2019-04-01", "edss": "3,5"}
    with pytest.raises(ValidationError) as refused:
        import_bundle(write({"edss_visits": [row]}, world["tmp"] / "comma"), actor="cli:test")
    assert refused.value.details == [f"edss_visits.csv:2:edss: {validation.NOT_NUMBER} (3,5)"]
    assert table.column("edss").kind == "decimal"


# ------------------------------------------------------------------------------------------ (b) clinic


def _clinic_form(response, slug: str):
    """The form of section ``slug`` on the patient page the clinic answered with."""
    return next(section[2] for section in response.context["sections"] if section[0] == slug)


def _clinic_post(client, slug: str, data: dict):
    return client.post(patient_url("NRT", DEAD, f"add/{slug}/"), {f"{slug}-{k}": v for k, v in data.items()})


def _refused(errors: dict, field: str, case: Case) -> bool:
    return any(e.startswith(_expected(case.rule)) for e in errors.get(field, []))


def test_every_clinic_form_refuses_the_catalogue(world, client):
    client.force_login(world["staff"])
    failures, tested = [], set()
    before = _counts()
    for slug, (form_class, _heading) in sorted(FORMS.items()):
        table = tables()[form_class.table_name]
        base = _exchange_row(table, _base_object(table.model))
        fields = form_class._meta.fields
        for case in catalogue(table, base):
            if case.column not in fields:
                continue
            response = _clinic_post(client, slug, {**{f: base[f] for f in fields}, case.column: case.value})
            errors = _clinic_form(response, slug).errors if response.status_code == 400 else {}
            if not _refused(errors, case.column, case):
                failures.append((slug, case, response.status_code, errors))
            tested.add(slug)
    assert failures == []
    assert tested == set(FORMS), "every clinic form meets at least one catalogue value"
    assert _counts() == before


def test_clinic_reads_a_decimal_comma_and_refuses_a_thousands_separator(world, client):
    client.force_login(world["staff"])
    response = _clinic_post(client, "edss", {"visit_date": "2019-04-02", "edss": "6,5"})  # last visit: 6.0
    assert response.status_code == 302, _clinic_form(response, "edss").errors
    assert m.EdssVisit.objects.get(patient__patient_code=DEAD, visit_date=dt.date(2019, 4, 2)).edss == Decimal("6.5")
    before = _counts()
    for typed, rule in (("1,500", validation.AMBIGUOUS_COMMA), ("1 500", validation.THOUSANDS),
                        ("1.500,5", validation.THOUSANDS)):
        response = _clinic_post(client, "edss", {"visit_date": "2019-04-03", "edss": typed})
        form = _clinic_form(response, "edss")
        assert form.errors["edss"] == [rule_message(rule, typed)], form.errors
    assert _counts() == before


# ------------------------------------------------------------------------------------------ (c) admin


def _post_value(field, value) -> str:
    if value is None:
        return ""
    if isinstance(value, m.models.Model):
        return str(value.pk)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _admin_data(model, obj, dead: m.Patient) -> dict[str, str]:
    """A change form's data for ``obj``, moved to the dead patient (parents: the dead patient's)."""
    data = {"_save": "Save"}
    for f in model._meta.concrete_fields:
        if f.primary_key or not f.editable or f.name in NOT_EXCHANGED:
            continue
        value = getattr(obj, f.name)
        if f.name == "patient":
            value = dead
        elif f.is_relation and f.name != "centre" and hasattr(f.related_model, "patient"):
            value = f.related_model.objects.filter(patient=dead).order_by("pk").first() or value
        data[f.name] = _post_value(f, value)
    return data


def test_every_admin_add_and_change_form_refuses_the_catalogue(world, client):
    """Every registry model's change form meets every catalogue value for its columns; its add form every
    third one, the first included (the same form class and rules, so this keeps the run short)."""
    client.force_login(get_user_model().objects.create_superuser("path_admin", password=None))
    failures, tested = [], set()
    before = _counts()
    for model in _registry_models():
        table = table_of(model)
        obj = _base_object(model)
        base = _exchange_row(table, obj)
        data = _admin_data(model, obj, world["dead"])
        url = f"/admin/registry/{model._meta.model_name}/"
        for i, case in enumerate(catalogue(table, base)):
            field = table.column(case.column).field_name
            for action in (f"{obj.pk}/change/", "add/")[: 2 if i % 3 == 0 else 1]:
                response = client.post(url + action, {**data, field: case.value})
                errors = response.context["adminform"].form.errors if response.status_code == 200 else {}
                if not _refused(errors, field, case):
                    failures.append((model.__name__, action, case, response.status_code, errors))
                tested.add((model.__name__, "add" if action == "add/" else "change"))
    assert failures == []
    assert tested == {(mo.__name__, a) for mo in _registry_models() for a in ("add", "change")}
    assert _counts() == before


def test_admin_reads_a_decimal_comma(world, client):
    client.force_login(get_user_model().objects.create_superuser("path_admin", password=None))
    visit = m.EdssVisit.objects.filter(patient__patient_code=DEAD).get()
    data = {"patient": str(visit.patient_id), "visit_date": visit.visit_date.isoformat(),
            "edss": "5,5", "_save": "Save"}
    response = client.post(f"/admin/registry/edssvisit/{visit.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    visit.refresh_from_db()
    assert visit.edss == Decimal("5.5")
    response = client.post(f"/admin/registry/edssvisit/{visit.pk}/change/", {**data, "edss": "1,500"})
    assert response.context["adminform"].form.errors["edss"] == [
        rule_message(validation.AMBIGUOUS_COMMA, "1,500")]


def test_the_three_paths_use_the_same_words(world, client):
    """The import's rule, the clinic form's message and the admin's message for one bad EDSS visit."""
    client.force_login(get_user_model().objects.create_superuser("path_admin", password=None))
    row = {"centre_code": "NRT", "patient_code": DEAD, "visit_date": _day(DEATH.isoformat(), 3), "edss": "4.0"}
    with pytest.raises(ValidationError) as refused:
        import_bundle(write({"edss_visits": [row]}, world["tmp"] / "words"), actor="cli:test")
    (detail,) = refused.value.details
    rule, value = detail.split(": ", 1)[1].rsplit(" (", 1)
    message = rule_message(rule, value[:-1])
    clinic = _clinic_post(client, "edss", {"visit_date": row["visit_date"], "edss": "4.0"})
    clinic_form = _clinic_form(clinic, "edss")
    dead = world["dead"]
    admin_response = client.post("/admin/registry/edssvisit/add/", {
        "patient": str(dead.pk), "visit_date": row["visit_date"], "edss": "4.0"})
    assert clinic_form.errors["visit_date"] == [message]
    assert admin_response.context["adminform"].form.errors["visit_date"] == [message]
    assert message == "Nothing can be recorded after death date (2019-05-09 vs 2019-05-06)."


def test_records_have_readable_names(world):
    visit = m.EdssVisit.objects.filter(patient__patient_code=DEAD).get()
    assert str(visit) == f"EDSS {visit.edss} on {visit.visit_date} — {DEAD}"
    for table in tables().values():
        obj = table.model.objects.order_by("pk").first()
        assert "object (" not in str(obj), table.name
    assert str(m.Death.objects.get()) == f"Death on 2019-05-06 — {DEAD}"
