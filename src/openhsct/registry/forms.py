"""One validation path for every form that writes the registry: the clinic's entry forms and the admin.

A form's values become a one-row exchange table and go through the import's checks
(:func:`openhsct.registry.importer.validate_bundle`: the cell rules of :mod:`~openhsct.registry.validation`
and the cross-row rules of :mod:`~openhsct.registry.rules`) against the patient's records already in the
registry. Each problem is shown next to the field its column names, in the import's words.

The form fields only read what a person types: numbers, dates and date-times reach the rules as text, so
"1e400", "NaN" or full-width digits are refused by the same rule, with the same message, as in a CSV file.
A decimal comma is read as the decimal mark ("3,5" is 3.5); a thousands separator is refused, never
dropped (:func:`~openhsct.registry.validation.number_from_form`).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pandas as pd
from django import forms
from django.utils import formats

from openhsct.registry import models as m
from openhsct.registry.exchange import NATURAL_REFS, TABLE_MODELS, Column, Table, tables
from openhsct.registry.formats import python_to_text, text_to_canonical, text_to_python
from openhsct.registry.validation import ROW, Collector, NumberEntryError, Problem, number_from_form

FORM_ROW = 2  # the one row of the form's table, numbered as the first data line of a file
TYPED_KINDS = {"decimal", "integer", "date", "datetime"}
_WORDS = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b")


def problem_message(p: Problem) -> str:
    """A problem as a person reads it next to the field: the import's rule, with column names in words
    (``death_date`` → "death date"), then the value. Returns one sentence."""
    return rule_message(p.rule, p.value)


def rule_message(rule: str, value: str = "") -> str:
    """The sentence for ``rule`` broken by ``value`` (see :func:`problem_message`)."""
    text = _WORDS.sub(lambda w: w.group(0).replace("_", " "), rule)
    text = text[0].upper() + text[1:]
    if not value:
        return f"{text}."
    return f"{text} ({value})." if " vs " in value else f"{text} (you entered {value})."


def table_of(model: type) -> Table | None:
    """The exchange table a model is written to, or None for models outside the exchange format."""
    for name, candidate in TABLE_MODELS.items():
        if candidate is model:
            return tables()[name]
    return None


# ------------------------------------------------------------------------------------------ the rules


def row_problems(table_name: str, row: dict[str, str], *, instance_pk=None) -> list[Problem]:
    """Validate one row of ``table_name`` (exchange text) with the import's checks; then, as a form
    adds or changes one record, refuse a key that another record of the registry already has.

    ``instance_pk`` is the record a change form edits (it may keep its own key). Returns the problems,
    sorted; none means the row may be written.
    """
    from openhsct.registry.importer import validate_bundle

    table = tables()[table_name]
    full = {c: row.get(c, "") for c in table.column_names}
    frame = pd.DataFrame([full], columns=table.column_names)
    frame[ROW] = FORM_ROW
    file = f"{table_name}.csv"
    frame.attrs["file"] = file
    out = Collector()
    validate_bundle({table_name: frame}, out)
    if not out.problems:
        out.problems.extend(_existing_key(table, full, file, instance_pk))
    return sorted(set(out.problems))


def _key_lookup(table: Table, row: dict[str, str]) -> dict:
    """ORM filters that find the registry's record with this row's key."""
    lookup = {}
    for k in table.key:
        c = table.column(k)
        if k == "centre_code" and c.field_name is None:
            lookup["centre__centre_code" if table.name == "patients" else "patient__centre__centre_code"] = row[k]
        elif k == "patient_code" and c.field_name is None:
            lookup["patient__patient_code"] = row[k]
        elif c.field_name in NATURAL_REFS:
            lookup[f"{c.field_name}__{NATURAL_REFS[c.field_name][2]}"] = row[k]
        else:
            lookup[c.field_name] = text_to_python(_canonical(row[k], c), c)
    return lookup


def _existing_key(table: Table, row: dict[str, str], file: str, instance_pk) -> list[Problem]:
    found = table.model.objects.filter(**_key_lookup(table, row))
    if instance_pk is not None:
        found = found.exclude(pk=instance_pk)
    if not found.exists():
        return []
    own = [k for k in table.key if k not in {"centre_code", "patient_code"}] or list(table.key)
    what = " and ".join(own)
    rule = (f"this patient already has a record with this {what} in the registry" if table.name != "centres"
            and own != list(table.key) else f"a record with this {what} is already in the registry")
    return [Problem(file, FORM_ROW, own[-1], rule, "/".join(row[k] for k in own))]


def _canonical(text: str, c: Column) -> str:
    return text_to_canonical(pd.Series([text], dtype=object), c).iloc[0] if text else text


# ------------------------------------------------------------------------------------------ form fields


class ExchangeValueField(forms.CharField):
    """A number, date or date-time as typed, handed to the registry's rules as exchange text.

    Numbers: a decimal comma is read as the decimal mark; separators that cannot be read safely are
    refused here (:class:`~openhsct.registry.validation.NumberEntryError`). Dates: ISO ``YYYY-MM-DD`` and
    the site's date formats (the admin's calendar) are read when written in ASCII digits; anything else is
    left to the rules, which name the problem as the import does.
    """

    def __init__(self, *, column: Column, **kwargs) -> None:
        self.column = column
        kwargs.setdefault("required", False)
        super().__init__(strip=True, **kwargs)

    def to_python(self, value) -> str:
        """The exchange text of ``value`` ("" when empty)."""
        if isinstance(value, dt.date | Decimal | int) and not isinstance(value, bool):
            return python_to_text(value, self.column)
        text = super().to_python(value)
        if not text:
            return ""
        if self.column.kind in {"decimal", "integer"}:
            try:
                return number_from_form(text)
            except NumberEntryError as exc:
                raise forms.ValidationError(rule_message(exc.rule, text), code="number_entry") from None
        if self.column.kind == "date":
            return _date_text(text)
        return text

    def prepare_value(self, value):
        """Dates stay dates (the date widget formats them); numbers and date-times show as exchange text."""
        if isinstance(value, dt.datetime | Decimal):
            return python_to_text(value, self.column)
        return value

    def has_changed(self, initial, data) -> bool:
        """Whether the typed value differs from the record's, compared as exchange text."""
        try:
            typed = self.to_python(data)
        except forms.ValidationError:
            return True
        return python_to_text(initial, self.column) != typed if initial not in (None, "") else typed != ""


def _date_text(text: str) -> str:
    """ISO text of a date typed in ASCII in one of the site's date formats; other text unchanged."""
    if not text.isascii():
        return text
    for fmt in ["%Y-%m-%d", *formats.get_format("DATE_INPUT_FORMATS")]:
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return text


def _value_widget(old: forms.Widget, column: Column, admin: bool) -> forms.Widget:
    """The widget for a typed value: keep date widgets (calendar); numbers and date-times as text."""
    if column.kind == "date" and isinstance(old, forms.DateInput):
        return old
    attrs = {k: v for k, v in old.attrs.items() if k not in {"step", "min", "max", "type"}}
    if column.kind in {"decimal", "integer"}:
        attrs["inputmode"] = "decimal" if column.kind == "decimal" else "numeric"
    if column.kind == "datetime":
        attrs["placeholder"] = "2024-05-01T09:30:00+00:00"
    if admin:
        attrs["class"] = "vTextField"
    return forms.TextInput(attrs=attrs)


class RegistryRulesMixin:
    """Routes a model form of a registry record through :func:`row_problems`.

    Typed values (numbers, dates, date-times) become :class:`ExchangeValueField`; every value column is
    optional at the form level so that a missing value is reported by the rules ("required value is
    missing"), like an empty cell. ``patient`` is the record's patient when the form has no patient field.
    """

    admin_widgets = False
    patient: m.Patient | None = None

    def setup_rule_fields(self) -> None:
        """Replace typed fields and leave "required" to the rules. Returns nothing."""
        table = self.rule_table()
        if table is None:
            return
        by_field = {c.field_name: c for c in table.columns if c.field_name and c.field_name not in NATURAL_REFS}
        for name, field in list(self.fields.items()):
            c = by_field.get(name)
            if c is None:
                continue
            if c.kind in TYPED_KINDS:
                self.fields[name] = ExchangeValueField(
                    column=c, label=field.label, help_text=field.help_text, initial=field.initial,
                    widget=_value_widget(field.widget, c, self.admin_widgets))
            else:
                field.required = False

    def rule_table(self) -> Table | None:
        """The exchange table of the form's model (None outside the exchange format)."""
        return table_of(self._meta.model)

    def rule_patient(self) -> m.Patient | None:
        """The patient the record belongs to: the form's ``patient`` field, else the given patient or
        the edited record's."""
        if self.patient is not None and "patient" not in self.fields:
            return self.patient
        return self._owner("patient")

    def rule_row(self, table: Table) -> dict[str, str] | None:
        """The form's record as one exchange row (text), or None when its owner is not chosen."""
        row: dict[str, str] = {}
        for c in table.columns:
            value = self._column_value(table, c)
            if value is None:
                return None
            row[c.name] = value
        return row

    def _column_value(self, table: Table, c: Column) -> str | None:
        if c.field_name is None:  # the codes of the patient (or, in the patient table, of the centre)
            if table.name == "patients":
                centre = self._owner("centre")
                return None if centre is None else centre.centre_code
            patient = self.rule_patient()
            if patient is None:
                return None
            return patient.centre.centre_code if c.name == "centre_code" else patient.patient_code
        if c.field_name in self.fields:
            value = self.cleaned_data.get(c.field_name)
        elif self.instance.pk is not None:
            value = getattr(self.instance, c.field_name)
        else:
            return ""  # a value the form does not ask for: empty, as in a file without it
        if c.field_name in NATURAL_REFS:
            return "" if value is None else str(getattr(value, NATURAL_REFS[c.field_name][2]))
        if isinstance(value, str):
            return value.strip()
        return python_to_text(value, c)

    def _owner(self, name: str):
        """The chosen (or the edited record's) centre or patient; None when there is none."""
        if name in self.fields:
            return self.cleaned_data.get(name)
        return getattr(self.instance, name) if getattr(self.instance, f"{name}_id", None) else None

    def apply_rules(self) -> bool:
        """Check the form's record with the registry's rules, adding each problem to its field.

        Returns True when the record may be written; typed values in ``cleaned_data`` then hold their
        Python values (``Decimal``, ``date`` …).
        """
        table = self.rule_table()
        if table is None or self.errors:
            return not self.errors
        row = self.rule_row(table)
        if row is None:
            return False
        problems = row_problems(table.name, row, instance_pk=self.instance.pk)
        for p in problems:
            field = self._field_of(table, p.column)
            self.add_error(field, problem_message(p) if field else f"{p.column}: {problem_message(p)}")
        if problems:
            return False
        for name, field in self.fields.items():
            if isinstance(field, ExchangeValueField):
                self.cleaned_data[name] = text_to_python(_canonical(self.cleaned_data[name], field.column),
                                                         field.column)
        return True

    def _field_of(self, table: Table, column: str) -> str | None:
        """The form field a column's problem belongs next to (None: the form as a whole)."""
        c = next((c for c in table.columns if c.name == column), None)
        if c is None:
            return None
        name = c.field_name
        if name is None:
            name = "centre" if table.name == "patients" else "patient"
        return name if name in self.fields else None


class RegistryModelForm(RegistryRulesMixin, forms.ModelForm):
    """The admin's form for a registry record: the rules first, then Django's own model checks."""

    admin_widgets = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.setup_rule_fields()

    def clean(self):
        cleaned = super().clean()
        self.apply_rules()
        return cleaned

    def _post_clean(self) -> None:
        if self.errors:  # the rules have spoken; Django's messages would only repeat them in other words
            return
        super()._post_clean()
