"""Every change the data manager's tools make, each written once, and the reads they need. Each save is
written to the audit history with its values by :mod:`openhsct.registry.audit` (the quality app is
audited), so a query's raise, answer and closure — each a :class:`QueryMessage` with its text — appear in
the patient's history.

Callers check roles first (:mod:`openhsct.registry.roles`); the functions here enforce the workflow's
own rules (a closed query cannot be answered, a freeze needs a reason …) and raise
:class:`WorkflowError` with a sentence a person can act on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from openhsct.quality import plausibility as pl
from openhsct.quality import schedule as sch
from openhsct.quality.models import (
    Freeze,
    Query,
    QueryMessage,
    SourceVerification,
    VisitSchedule,
    WarningConfirmation,
)
from openhsct.registry import models as m


class WorkflowError(ValueError):
    """A step the workflow does not allow now (the message says why)."""


# --------------------------------------------------------------------------------------- soft checks


def _f(value) -> float | None:
    return None if value is None else float(value)


def _body_size(patient: m.Patient) -> tuple[float | None, float | None]:
    """The patient's weight (kg) and height (cm) around the transplant: from the conditioning record when
    it holds them, else from mobilisation (or any other record of the pathway that has the fields); None
    where none is recorded."""
    weight = height = None
    for model in (m.Patient, m.EligibilityAssessment, m.Mobilisation, m.Conditioning, m.Transplant):
        fields = {f.name for f in model._meta.concrete_fields}
        names = [n for n in ("weight_kg", "height_cm") if n in fields]
        if not names:
            continue
        rows = [patient] if model is m.Patient else list(model.objects.filter(patient=patient))
        for row in rows:
            weight = _f(getattr(row, "weight_kg", None)) or weight
            height = _f(getattr(row, "height_cm", None)) or height
    return weight, height


def patient_rows(patient: m.Patient) -> pl.PatientRows:
    """The rows of ``patient`` the soft checks read."""
    tx = m.Transplant.objects.filter(patient=patient).first()
    doses = [
        pl.Dose(d.pk, "ConditioningDrug", "total_dose", d.drug, float(d.total_dose), d.dose_unit)
        for d in m.ConditioningDrug.objects.filter(patient=patient)
    ] + [
        pl.Dose(mb.pk, "Mobilisation", "cyclophosphamide_g_per_m2", "mobilisation cyclophosphamide",
                float(mb.cyclophosphamide_g_per_m2), "g/m2")
        for mb in m.Mobilisation.objects.filter(patient=patient, cyclophosphamide_g_per_m2__isnull=False)
    ]
    weight, height = _body_size(patient)
    return pl.PatientRows(
        visits=tuple(pl.Visit(v.pk, v.visit_date, float(v.edss)) for v in m.EdssVisit.objects.filter(patient=patient)),
        relapses=tuple(m.Relapse.objects.filter(patient=patient).values_list("onset_date", flat=True)),
        mobilisation_starts=tuple(m.Mobilisation.objects.filter(patient=patient).values_list("start_date", flat=True)),
        transplant=None if tx is None else (tx.pk, tx.day0, float(tx.cd34_infused_1e6_per_kg),
                                            tx.neutrophil_engraftment_date),
        collected=tuple(float(c) for c in m.ApheresisCollection.objects.filter(patient=patient)
                        .values_list("cd34_1e6_per_kg", flat=True)),
        doses=tuple(doses),
        weight_kg=weight,
        height_cm=height,
    )


def with_new_record(rows: pl.PatientRows, kind: str, values: dict) -> pl.PatientRows:
    """``rows`` with a record about to be added by a clinic form (``kind``: edss or relapse; other kinds
    leave the rows as they are)."""
    from dataclasses import replace

    if kind == "edss":
        return replace(rows, visits=(*rows.visits, pl.Visit(None, values["visit_date"], float(values["edss"]))))
    if kind == "relapse":
        return replace(rows, relapses=(*rows.relapses, values["onset_date"]))
    return rows


def form_warnings(patient: m.Patient, kind: str, values: dict) -> list[pl.SoftWarning]:
    """The warnings a clinic form's new record would bring (none for kinds without a soft check)."""
    before = patient_rows(patient)
    return pl.new_warnings(before, with_new_record(before, kind, values))


@dataclass(frozen=True)
class PatientWarning:
    """A warning on the patient's records as they stand, with its confirmation when one is stored."""

    warning: pl.SoftWarning
    confirmation: WarningConfirmation | None


def patient_warnings(patient: m.Patient) -> list[PatientWarning]:
    """Every soft-check warning of the patient's saved records, with who confirmed it (if anyone)."""
    confirmed = {
        (c.check_code, c.model, c.object_pk): c
        for c in WarningConfirmation.objects.filter(patient=patient).select_related("confirmed_by")
    }
    return [
        PatientWarning(w, confirmed.get((w.code, w.ref.model, str(w.ref.pk))))
        for w in pl.warnings(patient_rows(patient))
    ]


def confirm_warnings(*, user, patient: m.Patient, record, found: list[pl.SoftWarning]) -> list[WarningConfirmation]:
    """Store that ``user`` checked and confirmed each warning of ``found`` when saving ``record`` (a
    warning about another saved record is stored on that record)."""
    out = []
    for w in found:
        model, pk = (w.ref.model, w.ref.pk) if w.ref.pk is not None else (type(record).__name__, record.pk)
        out.append(WarningConfirmation.objects.create(
            centre=patient.centre, patient=patient, model=model, object_pk=str(pk), check_code=w.code,
            message=w.message[:500], confirmed_by=user,
        ))
    return out


# ------------------------------------------------------------------------------------------- queries


def record_for(patient: m.Patient, model: str, pk: str):
    """The patient's registry record ``model`` with primary key ``pk``; WorkflowError when there is none."""
    cls = getattr(m, model, None)
    if cls is None or not hasattr(cls, "patient") or not str(pk).isdigit():
        raise WorkflowError(f"There is no record type {model}.")
    obj = cls.objects.filter(patient=patient, pk=int(pk)).first()
    if obj is None:
        raise WorkflowError(f"Patient {patient.patient_code} has no {model} record {pk}.")
    return obj


def _text(text: str, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise WorkflowError(f"Write the {what}.")
    return text


@transaction.atomic
def raise_query(*, user, patient: m.Patient, model: str, object_pk: str, field: str, text: str,
                origin: str = Query.Origin.MONITOR) -> Query:
    """Open a query on ``field`` of one of the patient's records (``user`` None: raised by a rule)."""
    record = record_for(patient, model, object_pk)
    if field not in {f.name for f in record._meta.concrete_fields} or field in {"id", "patient"}:
        raise WorkflowError(f"{model} has no field {field}.")
    q = Query.objects.create(centre=patient.centre, patient=patient, model=model, object_pk=str(record.pk),
                             field=field, origin=origin, text=_text(text, "question"), raised_by=user)
    value = getattr(record, field)
    _message(q, QueryMessage.Step.RAISE, f"{q.text} (value: {'empty' if value in (None, '') else value})", user)
    return q


def _message(q: Query, step: str, text: str, user) -> QueryMessage:
    """Add one step to the query's thread (audited with its text, on the query's patient)."""
    return QueryMessage.objects.create(query=q, centre=q.centre, patient=q.patient, step=step, text=text, by=user)


def _move(q: Query, *, user, step: str, text: str, allowed: set[str], status: str, what: str) -> Query:
    if q.status not in allowed:
        raise WorkflowError(f"Query {q.pk} is {q.get_status_display().lower()}: it cannot be {what} now.")
    q.status = status
    q.save(update_fields=["status", "updated_at"])
    _message(q, step, text, user)
    return q


@transaction.atomic
def answer_query(*, user, query: Query, text: str) -> Query:
    """Centre staff answer an open query (the monitor then closes or re-opens it)."""
    return _move(query, user=user, step=QueryMessage.Step.ANSWER, text=_text(text, "answer"),
                 allowed={Query.Status.OPEN}, status=Query.Status.ANSWERED, what="answered")


@transaction.atomic
def close_query(*, user, query: Query, text: str = "") -> Query:
    """The monitor closes an open or answered query."""
    return _move(query, user=user, step=QueryMessage.Step.CLOSE, text=(text or "").strip() or "Closed.",
                 allowed={Query.Status.OPEN, Query.Status.ANSWERED}, status=Query.Status.CLOSED, what="closed")


@transaction.atomic
def reopen_query(*, user, query: Query, text: str) -> Query:
    """The monitor re-opens an answered or closed query, saying why."""
    return _move(query, user=user, step=QueryMessage.Step.REOPEN, text=_text(text, "reason for re-opening"),
                 allowed={Query.Status.ANSWERED, Query.Status.CLOSED}, status=Query.Status.OPEN,
                 what="re-opened")


def centre_queries(centre: m.Centre, status: str | None = None):
    """The centre's queries (optionally of one status), newest first, with patient and thread."""
    qs = Query.objects.filter(centre=centre).select_related("patient", "raised_by")
    if status:
        qs = qs.filter(status=status)
    return qs.prefetch_related("messages__by")


QUERY_CSV_COLUMNS = ("query_id", "centre_code", "patient_code", "record", "record_id", "field", "origin",
                     "status", "raised_by", "raised_at", "question", "last_step", "last_text")


def queries_csv(queries) -> str:
    """The queries as CSV text (one row each, with the last step of the thread)."""
    from openhsct.registry.csvsafe import rows_text

    rows = []
    for q in queries:
        last = list(q.messages.all())[-1] if q.messages.all() else None
        rows.append([q.pk, q.centre.centre_code, q.patient.patient_code if q.patient else "", q.model, q.object_pk,
                    q.field, q.origin, q.status, q.raised_by.get_username() if q.raised_by else "rule",
                    q.raised_at.strftime("%Y-%m-%d %H:%M"), q.text, last.step if last else "",
                    last.text if last else ""])
    return rows_text(QUERY_CSV_COLUMNS, rows)  # the one safe CSV writer


def open_query_counts() -> dict[str, int]:
    """Centre code -> number of open or answered (not yet closed) queries."""
    from django.db.models import Count

    rows = (Query.objects.exclude(status=Query.Status.CLOSED).values("centre__centre_code")
            .annotate(n=Count("id")).values_list("centre__centre_code", "n"))
    return dict(rows)


# --------------------------------------------------------------------------- source-data verification


@transaction.atomic
def set_verification(*, user, patient: m.Patient, model: str, object_pk: str, status: str,
                     note: str = "") -> SourceVerification:
    """Set the source-data verification status of one of the patient's records (audited)."""
    if status not in SourceVerification.Status.values:
        raise WorkflowError(f"'{status}' is not a verification status.")
    record = record_for(patient, model, object_pk)
    row = SourceVerification.objects.filter(model=model, object_pk=str(record.pk)).first()
    if row is None:
        row = SourceVerification(centre=patient.centre, patient=patient, model=model, object_pk=str(record.pk))
    row.status, row.note, row.by = status, (note or "").strip()[:500], user
    row.save()
    return row


def verifications(patient: m.Patient) -> dict[tuple[str, str], SourceVerification]:
    """(model, pk) -> verification of the patient's records."""
    return {(v.model, v.object_pk): v for v in SourceVerification.objects.filter(patient=patient).select_related("by")}


# -------------------------------------------------------------------------------------------- freezes


@transaction.atomic
def freeze_centre(*, user, centre: m.Centre, until: dt.date, reason: str) -> Freeze:
    """Freeze the centre's records dated on or before ``until`` (one active freeze per centre)."""
    from openhsct.quality.freeze import active_freeze

    if active_freeze(centre) is not None:
        raise WorkflowError(f"Centre {centre.centre_code} is already frozen; lift that freeze first.")
    return Freeze.objects.create(centre=centre, frozen_until=until,
                                 reason=_text(reason, "reason for the freeze"), frozen_by=user)


@transaction.atomic
def lift_freeze(*, user, centre: m.Centre, reason: str) -> Freeze:
    """Lift the centre's active freeze, saying why (audited)."""
    from openhsct.quality.freeze import active_freeze

    f = active_freeze(centre)
    if f is None:
        raise WorkflowError(f"Centre {centre.centre_code} is not frozen.")
    f.lift_reason = _text(reason, "reason for lifting the freeze")
    f.lifted_by, f.lifted_at = user, timezone.now()
    f.save()
    return f


# ------------------------------------------------------------------------------------------- schedule


def protocol_for(centre: m.Centre) -> sch.Protocol:
    """The centre's follow-up protocol (the default when it has none of its own)."""
    row = VisitSchedule.objects.filter(centre=centre).first()
    if row is None:
        return sch.default_protocol()
    return sch.Protocol(sch.parse_milestones(row.milestones), row.repeat_months, row.window_days)


def follow_up_lists(centre: m.Centre, today: dt.date | None = None) -> dict[str, list[sch.FollowUp]]:
    """``{"due": [...], "overdue": [...]}`` for the centre's living transplanted patients on ``today``,
    overdue longest-waiting first, due soonest-closing first."""
    today = today or dt.date.today()
    protocol = protocol_for(centre)
    dead = set(m.Death.objects.filter(patient__centre=centre).values_list("patient_id", flat=True))
    visits: dict[int, list[dt.date]] = {}
    for pid, day in m.EdssVisit.objects.filter(patient__centre=centre).values_list("patient_id", "visit_date"):
        visits.setdefault(pid, []).append(day)
    out: dict[str, list[sch.FollowUp]] = {"due": [], "overdue": []}
    rows = m.Transplant.objects.filter(patient__centre=centre).values_list("patient_id", "patient__patient_code", "day0")
    for pid, code, day0 in rows:
        if pid in dead:
            continue
        f = sch.follow_up(code, day0, visits.get(pid, []), protocol, today)
        if f is not None:
            out[f.state].append(f)
    out["overdue"].sort(key=lambda f: (f.target, f.patient_code))
    out["due"].sort(key=lambda f: (f.window_end, f.patient_code))
    return out


REMINDER_CSV_COLUMNS = ("centre_code", "patient_code", "state", "visit", "target_date", "window_start",
                        "window_end", "last_edss_visit", "day0")


def reminders_csv(centre: m.Centre, lists: dict[str, list[sch.FollowUp]]) -> str:
    """The due and overdue visits as a CSV reminder list (overdue first)."""
    from openhsct.registry.csvsafe import rows_text

    rows = [[centre.centre_code, f.patient_code, f.state, f.milestone, f.target.isoformat(),
             f.window_start.isoformat(), f.window_end.isoformat(),
             f.last_visit.isoformat() if f.last_visit else "", f.day0.isoformat()]
            for f in [*lists["overdue"], *lists["due"]]]
    return rows_text(REMINDER_CSV_COLUMNS, rows)  # the one safe CSV writer
