"""Every change the clinicians' area makes, each written once, through the ORM.

Saving through the ORM lets the audit signals record each new row with its values; the actor is the
signed-in user (:class:`openhsct.registry.audit.AuditUserMiddleware`). Callers validate first
(:mod:`openhsct.portal.clinic.forms`) and check the writer's role (:mod:`openhsct.registry.roles`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction

from openhsct.registry import models as m


@transaction.atomic
def edss_visit_create(*, patient: m.Patient, visit_date: dt.date, edss: Decimal, **details) -> m.EdssVisit:
    """Record one EDSS assessment (``details``: functional systems, assessor, timed tests)."""
    return m.EdssVisit.objects.create(patient=patient, visit_date=visit_date, edss=edss, **details)


@transaction.atomic
def relapse_create(*, patient: m.Patient, onset_date: dt.date, **details) -> m.Relapse:
    """Record the onset of one clinical relapse (``details``: its confirmation and severity)."""
    return m.Relapse.objects.create(patient=patient, onset_date=onset_date, **details)


@transaction.atomic
def mri_scan_create(
    *,
    patient: m.Patient,
    scan_date: dt.date,
    t2_assessed: str,
    new_enlarging_t2: int | None,
    gd_assessed: str,
    gd_lesions: int | None,
    **details,
) -> m.MriScan:
    """Record one MRI scan; counts are given only when the matching assessment was done (``details``:
    region, field strength, comparator scan, reading, steroids)."""
    return m.MriScan.objects.create(
        patient=patient,
        scan_date=scan_date,
        t2_assessed=t2_assessed,
        new_enlarging_t2=new_enlarging_t2,
        gd_assessed=gd_assessed,
        gd_lesions=gd_lesions,
        **details,
    )


@transaction.atomic
def adverse_event_create(
    *,
    patient: m.Patient,
    ae_id: str,
    category: str,
    ctcae_term: str,
    grade: int,
    onset_date: dt.date,
    resolution_date: dt.date | None,
    attribution: str,
    serious: str,
    **details,
) -> m.AdverseEvent:
    """Record one adverse event (CTCAE v5 term and grade; ``details``: infection and autoimmunity codes)."""
    return m.AdverseEvent.objects.create(
        patient=patient,
        ae_id=ae_id,
        category=category,
        ctcae_term=ctcae_term,
        grade=grade,
        onset_date=onset_date,
        resolution_date=resolution_date,
        attribution=attribution,
        serious=serious,
        **details,
    )


def record_create(model: type[m.PatientRecord]):
    """A service that records one row of ``model`` for a patient from validated form values. Returns
    the function; it returns the saved record."""

    @transaction.atomic
    def create(*, patient: m.Patient, **values) -> m.PatientRecord:
        return model.objects.create(patient=patient, **values)

    create.__doc__ = f"Record one {model._meta.verbose_name}."
    return create
