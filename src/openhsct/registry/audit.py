"""The audit history: every change — admin, form, import or deletion — and every export.

Saves and deletes of registry models are caught by signals and written as :class:`AuditEvent` rows with
the state before and after. Who acted comes from the request (middleware) or from the CLI, which sets
``cli:<os user>``. Imports write one event per bundle (with its checksum and counts) plus one ``update``
event per row whose values changed.
"""

from __future__ import annotations

import contextvars
import getpass
from contextlib import contextmanager

from django.db.models.signals import post_delete, post_save, pre_save

_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("openhsct_actor", default=None)

AUDITED = (
    "Centre", "Patient", "EligibilityAssessment", "Mobilisation", "ApheresisCollection", "CellProduct",
    "CustodyEvent", "Conditioning", "ConditioningDrug", "Transplant", "AdverseEvent", "Death", "EdssVisit",
    "Relapse", "MriScan", "DmtExposure", "Cost", "Membership",
)


def cli_actor() -> str:
    """The actor name used for command-line work: ``cli:<os user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user database entry (containers)
        return "cli:unknown"


def current_actor() -> str:
    return _actor.get() or cli_actor()


@contextmanager
def acting_as(actor: str):
    """Attribute the changes made inside the block to ``actor``."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


class AuditUserMiddleware:
    """Attributes changes made during a request to the signed-in user."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        name = user.get_username() if user is not None and user.is_authenticated else "anonymous"
        token = _actor.set(name)
        try:
            return self.get_response(request)
        finally:
            _actor.reset(token)


def snapshot(obj) -> dict:
    """A JSON-safe dict of a model instance's concrete fields (FKs by id, dates as ISO text)."""
    from decimal import Decimal

    from django.db.models import DecimalField

    out = {}
    for f in obj._meta.concrete_fields:
        v = getattr(obj, f.attname)
        if isinstance(f, DecimalField) and v is not None:
            # as stored: an unsaved 4 or Decimal("4") reads back as 4.0 from the database
            out[f.attname] = f"{Decimal(str(v)):.{f.decimal_places}f}"
            continue
        out[f.attname] = v.isoformat() if hasattr(v, "isoformat") else (str(v) if v is not None and not isinstance(v, int | str | bool | float) else v)
    return out


def _codes(obj) -> tuple[str, str]:
    from openhsct.registry import models as m

    if isinstance(obj, m.Centre):
        return obj.centre_code, ""
    if isinstance(obj, m.Patient):
        return obj.centre.centre_code, obj.patient_code
    patient = getattr(obj, "patient", None)
    if patient is not None:
        return patient.centre.centre_code, patient.patient_code
    centre = getattr(obj, "centre", None)
    return (centre.centre_code if centre else ""), ""


def _on_pre_save(sender, instance, raw=False, **kwargs):
    if raw or getattr(instance, "_audit_skip", False) or not instance.pk:
        instance._audit_before = None
        return
    try:
        instance._audit_before = snapshot(sender.objects.get(pk=instance.pk))
    except sender.DoesNotExist:
        instance._audit_before = None


def _on_post_save(sender, instance, created, raw=False, **kwargs):
    from openhsct.registry.models import AuditEvent

    if raw or getattr(instance, "_audit_skip", False):
        return
    before = getattr(instance, "_audit_before", None)
    after = snapshot(instance)
    if not created and before == after:
        return
    centre_code, patient_code = _codes(instance)
    AuditEvent.objects.create(
        actor=current_actor(), action="create" if created else "update", model=sender.__name__,
        object_pk=str(instance.pk), centre_code=centre_code, patient_code=patient_code,
        before=None if created else before, after=after,
    )


def _on_post_delete(sender, instance, **kwargs):
    from openhsct.registry.models import AuditEvent

    try:
        centre_code, patient_code = _codes(instance)
    except Exception:  # parent already deleted in a cascade
        centre_code, patient_code = "", ""
    AuditEvent.objects.create(
        actor=current_actor(), action="delete", model=sender.__name__, object_pk=str(instance.pk),
        centre_code=centre_code, patient_code=patient_code, before=snapshot(instance), after=None,
    )


def connect_signals() -> None:
    """Connect the audit signals to every audited model (called from the app's ``ready``)."""
    from openhsct.registry import models as m

    for name in AUDITED:
        model = getattr(m, name)
        pre_save.connect(_on_pre_save, sender=model, dispatch_uid=f"audit-pre-{name}")
        post_save.connect(_on_post_save, sender=model, dispatch_uid=f"audit-post-{name}")
        post_delete.connect(_on_post_delete, sender=model, dispatch_uid=f"audit-del-{name}")


def record_update(*, actor: str, obj, before: dict, after: dict, via: str) -> None:
    """Write one ``update`` event for a row changed by an import (exchange values before/after)."""
    from openhsct.registry.models import AuditEvent

    centre_code, patient_code = _codes(obj)
    AuditEvent.objects.create(actor=actor, action="update", model=type(obj).__name__, object_pk=str(obj.pk),
                              centre_code=centre_code, patient_code=patient_code, before=before, after=after,
                              detail={"via": via})


def record_event(*, actor: str, action: str, obj, before: dict | None, after: dict | None,
                 detail: dict | None = None) -> None:
    """Write one event for a change made outside the audited models' signals (a data query raised,
    answered, closed or re-opened; a freeze set or lifted), with the values before and after and the
    centre and patient of ``obj``. Returns nothing."""
    from openhsct.registry.models import AuditEvent

    centre_code, patient_code = _codes(obj)
    AuditEvent.objects.create(actor=actor, action=action, model=type(obj).__name__, object_pk=str(obj.pk),
                              centre_code=centre_code, patient_code=patient_code, before=before, after=after,
                              detail=detail)


def record_import(*, actor: str, source: str, checksum: str, report, centre_codes=()) -> None:
    """Write the event for an imported bundle — where from, its checksum, rows per table (bundle totals) —
    once for each centre the bundle touched, so each centre's history shows the import."""
    from openhsct.registry.models import AuditEvent

    codes = sorted(set(centre_codes)) or [""]
    detail = {"source": source, "sha256": checksum, "created": report.created, "updated": report.updated,
              "unchanged": report.unchanged, "centres": [c for c in codes if c]}
    AuditEvent.objects.bulk_create(
        [AuditEvent(actor=actor, action="import", model="bundle", centre_code=code, detail=detail) for code in codes]
    )


def record_export(*, actor: str, destination: str, fmt: str, centre_codes, counts: dict) -> None:
    """Write the event for an export: who, when (the row's time), what and where to."""
    from openhsct.registry.models import AuditEvent

    AuditEvent.objects.create(actor=actor, action="export", model="bundle", centre_code=",".join(centre_codes or []),
                              detail={"destination": destination, "format": fmt,
                                      "centres": centre_codes or "all", "rows": counts})
