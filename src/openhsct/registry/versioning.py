"""Optimistic locking of patient records through their ``row_version`` column.

A form that changes a record carries the version the person saw (the hidden field ``seen_row_version``).
The save is one ``UPDATE … SET row_version = row_version + 1 WHERE id = %s AND row_version = <seen>``: when
someone else saved the record in between, no row matches, nothing is written and the person reads "This
record was changed by someone else at HH:MM — reload to see their change". Two people editing the same
follow-up visit at the same moment therefore never silently overwrite each other (no lost update); the
database's own row lock (PostgreSQL) or write lock (SQLite) decides who was first.

Every other save of a changed record (the import's updates, scripts) raises ``row_version`` too, so an
edit that started before an import changed the record is refused as well. ``QuerySet.update`` and raw SQL
leave it alone; no form writes that way.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db import models, router, transaction
from django.db.models import F
from django.utils import timezone

FIELD = "seen_row_version"
VERSION = "row_version"


class StaleRecord(Exception):
    """A versioned save found the record changed since the form was shown; nothing was written."""


def is_versioned(model: type[models.Model]) -> bool:
    """Returns True when ``model`` has a ``row_version`` column (patients and every patient record)."""
    return any(f.name == VERSION for f in model._meta.concrete_fields)


def current_version(obj: models.Model) -> int | None:
    """Returns the record's ``row_version`` in the database now, or None when the record is gone."""
    return type(obj)._base_manager.filter(pk=obj.pk).values_list(VERSION, flat=True).first()


def changed_at(obj: models.Model) -> str:
    """Returns the local time (HH:MM) of the record's latest change in the audit trail, or of now when the
    trail holds none."""
    from openhsct.registry.models import AuditEvent

    event = (AuditEvent.objects.filter(model=type(obj).__name__, object_pk=str(obj.pk),
                                       action__in=("create", "update")).order_by("-at", "-id").first())
    return timezone.localtime(event.at if event else timezone.now()).strftime("%H:%M")


def stale_message(obj: models.Model) -> str:
    """Returns the sentence shown when ``obj`` was changed by someone else since the form was shown."""
    return f"This record was changed by someone else at {changed_at(obj)} — reload to see their change."


class RowVersioned:
    """Model mixin: every save of an existing, changed row raises ``row_version`` in the same UPDATE
    (``F("row_version") + 1``); a save with ``_expected_row_version`` set also requires that version in
    its WHERE clause and raises :class:`StaleRecord` when no row matched."""

    def _do_update(self, base_qs, using, pk_val, values, update_fields, forced_update):
        expected = self.__dict__.pop("_expected_row_version", None)
        if not values or not self._version_should_rise(expected):
            return super()._do_update(base_qs, using, pk_val, values, update_fields, forced_update)
        field = self._meta.get_field(VERSION)
        values = [v for v in values if v[0].attname != VERSION] + [(field, None, F(VERSION) + 1)]
        if expected is None:
            updated = super()._do_update(base_qs, using, pk_val, values, update_fields, forced_update)
            if updated:
                self.row_version = base_qs.filter(pk=pk_val).values_list(VERSION, flat=True).get()
            return updated
        if not super()._do_update(base_qs.filter(**{VERSION: expected}), using, pk_val, values, update_fields,
                                  True):
            raise StaleRecord(stale_message(self))
        self.row_version = expected + 1
        return True

    def _version_should_rise(self, expected: int | None) -> bool:
        """False only for an unchecked save that changes nothing (the audit trail's before-snapshot, taken
        in ``pre_save``, equals the values being written)."""
        if expected is not None:
            return True
        from openhsct.registry.audit import snapshot

        before = getattr(self, "_audit_before", None)
        return before is None or before != snapshot(self)


def save_checked(obj: models.Model, seen_version: int) -> None:
    """Save ``obj`` only if its row still has ``seen_version``, raising it by one. Returns nothing; raises
    :class:`StaleRecord` (with the message to show) and writes nothing when someone else saved first."""
    obj._expected_row_version = seen_version
    try:
        with transaction.atomic(using=router.db_for_write(type(obj), instance=obj)):
            obj.save()
    finally:
        obj.__dict__.pop("_expected_row_version", None)


class VersionCheckedForm(forms.BaseForm):
    """Form mixin for model forms that change a record: a hidden ``seen_row_version`` carries the version
    shown; :meth:`clean` refuses a version that is no longer current, and :meth:`save` makes the UPDATE
    require it (for two saves at the same moment)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = getattr(self, "instance", None)
        if instance is None or instance.pk is None or not is_versioned(type(instance)):
            return  # an add form: nothing to compare (a declared field stays, empty and ignored)
        if FIELD not in self.fields:
            self.fields[FIELD] = version_field()
        self.fields[FIELD].initial = instance.row_version

    def clean(self):
        cleaned = super().clean()
        seen = cleaned.get(FIELD)
        if seen is not None and current_version(self.instance) != seen:
            raise ValidationError(stale_message(self.instance), code="stale")
        return cleaned

    def save(self, commit: bool = True):
        """Save as a model form does, the UPDATE requiring the version shown. Returns the instance."""
        seen = self.cleaned_data.get(FIELD)
        if seen is not None:
            self.instance._expected_row_version = seen
        return super().save(commit)


def version_field() -> forms.IntegerField:
    """Returns the hidden form field that carries the version the person saw."""
    return forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)


def with_version_field(form_class: type[forms.ModelForm]) -> type[forms.ModelForm]:
    """Returns ``form_class`` with a declared ``seen_row_version`` field and the version checks (for the
    admin, whose change form shows only declared and model fields)."""
    if issubclass(form_class, VersionCheckedForm) and FIELD in form_class.base_fields:
        return form_class
    return type(form_class)(form_class.__name__, (VersionCheckedForm, form_class), {FIELD: version_field()})
