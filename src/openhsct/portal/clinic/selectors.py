"""Reads the clinicians' pages share: completeness, due and overdue follow-up (the centre's visit schedule,
:mod:`openhsct.quality.schedule`), recent changes, patient search and a patient's timeline.

Every function takes a centre (or patient) the caller has already been allowed to read by
:mod:`openhsct.registry.roles`; none of them checks permissions itself.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

from django.db.models import Exists, Max, OuterRef, QuerySet, Subquery

from openhsct.quality.schedule import FollowUp
from openhsct.registry import models as m

VISIT_WINDOW_MONTHS = 12
MRI_WINDOW_MONTHS = 18
RECENT_CHANGES = 20


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day of the month ``months`` calendar months earlier (clamped to the month's last day)."""
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Completeness:
    """One line of the completeness table: how many of the expected patients have the record."""

    table: str
    expectation: str
    denominator_label: str
    complete: int
    expected: int

    @property
    def share(self) -> float | None:
        return None if self.expected == 0 else self.complete / self.expected

    @property
    def percent(self) -> str:
        return "–" if self.share is None else f"{100 * self.share:.0f} %"


def _has(model, **filters) -> Exists:
    return Exists(model.objects.filter(patient=OuterRef("pk"), **filters))


def _latest(model, field: str) -> Subquery:
    """The patient's latest ``field`` of ``model`` (records have no reverse accessor, hence a subquery)."""
    return Subquery(
        model.objects.filter(patient=OuterRef("pk")).values("patient").annotate(v=Max(field)).values("v")[:1]
    )


def transplanted_patients(centre: m.Centre) -> QuerySet[m.Patient]:
    """The centre's patients with a transplant (day 0) recorded."""
    return m.Patient.objects.filter(centre=centre).filter(_has(m.Transplant))


def centre_completeness(centre: m.Centre, today: dt.date | None = None) -> list[Completeness]:
    """Share of the centre's transplanted patients (alive ones for follow-up lines) with each expected record.

    The transplant line itself counts patients whose latest eligibility decision was ``eligible``.
    """
    today = today or dt.date.today()
    mri_since = months_before(today, MRI_WINDOW_MONTHS)
    patients = m.Patient.objects.filter(centre=centre)
    eligible = patients.filter(_has(m.EligibilityAssessment, decision="eligible"))
    transplanted = transplanted_patients(centre)
    alive = transplanted.exclude(_has(m.Death))
    n_tx, n_alive = transplanted.count(), alive.count()
    lines = [
        (
            "Transplant",
            "day 0 recorded",
            "patients assessed eligible",
            eligible.filter(_has(m.Transplant)).count(),
            eligible.count(),
        ),
        (
            "Eligibility",
            "an eligibility assessment",
            "transplanted patients",
            transplanted.filter(_has(m.EligibilityAssessment)).count(),
            n_tx,
        ),
        (
            "Mobilisation",
            "a mobilisation and an apheresis collection",
            "transplanted patients",
            transplanted.filter(_has(m.Mobilisation), _has(m.ApheresisCollection)).count(),
            n_tx,
        ),
        (
            "Conditioning",
            "a conditioning regimen",
            "transplanted patients",
            transplanted.filter(_has(m.Conditioning)).count(),
            n_tx,
        ),
        (
            "Engraftment",
            "a neutrophil engraftment date",
            "transplanted patients",
            transplanted.filter(_has(m.Transplant, neutrophil_engraftment_date__isnull=False)).count(),
            n_tx,
        ),
        (
            "Engraftment",
            "a platelet engraftment date",
            "transplanted patients",
            transplanted.filter(_has(m.Transplant, platelet_engraftment_date__isnull=False)).count(),
            n_tx,
        ),
        (
            "EDSS visits",
            f"a visit in the last {VISIT_WINDOW_MONTHS} months",
            "living transplanted patients",
            *_followup(centre, today),
        ),
        (
            "MRI scans",
            f"a scan in the last {MRI_WINDOW_MONTHS} months",
            "living transplanted patients",
            alive.filter(_has(m.MriScan, scan_date__gte=mri_since)).count(),
            n_alive,
        ),
    ]
    return [Completeness(*line) for line in lines]


def _followup(centre: m.Centre, today: dt.date) -> tuple[int, int]:
    """(seen, alive) of the centre's follow-up completeness on ``today``: the one definition of
    :func:`openhsct.outcomes.followup.followup_completeness` (a visit in the 365 days up to the date among
    patients transplanted by then and not known dead), also used by the public releases."""
    import pandas as pd

    from openhsct.outcomes.followup import followup_completeness

    def frame(model, date: str) -> pd.DataFrame:
        rows = model.objects.filter(patient__centre=centre).values_list("patient__patient_code", date)
        return pd.DataFrame(
            {"centre_code": centre.centre_code, "patient_code": [r[0] for r in rows],
             date: pd.to_datetime([r[1] for r in rows])}
        )

    tables = {"transplants": frame(m.Transplant, "day0"), "deaths": frame(m.Death, "death_date"),
              "edss_visits": frame(m.EdssVisit, "visit_date")}
    out = followup_completeness(tables, as_of=pd.Timestamp(today), by=None)
    return int(out["seen"].iloc[0]), int(out["alive"].iloc[0])


def followup_lists(centre: m.Centre, today: dt.date | None = None) -> dict[str, list[FollowUp]]:
    """``{"due": [...], "overdue": [...]}``: living transplanted patients whose latest scheduled visit of
    the centre's protocol is due (its window is open) or overdue (its window closed without a visit)."""
    from openhsct.quality.services import follow_up_lists

    return follow_up_lists(centre, today)


def overdue_followup(centre: m.Centre, today: dt.date | None = None) -> list[FollowUp]:
    """The overdue half of :func:`followup_lists`, longest-waiting first."""
    return followup_lists(centre, today)["overdue"]


def recent_changes(centre: m.Centre, limit: int = RECENT_CHANGES) -> QuerySet[m.AuditEvent]:
    """The centre's latest audit events, newest first."""
    return m.AuditEvent.objects.filter(centre_code=centre.centre_code)[:limit]


def centre_patients(centre: m.Centre, search: str = "") -> QuerySet[m.Patient]:
    """The centre's patients (those whose code contains ``search``, ignoring case, when given), by code,
    with day 0, last EDSS visit and whether they died."""
    return (
        m.Patient.objects.filter(centre=centre, patient_code__icontains=search.strip())
        .annotate(
            day0=_latest(m.Transplant, "day0"),
            last_visit=_latest(m.EdssVisit, "visit_date"),
            died=_has(m.Death),
        )
        .order_by("patient_code")
    )


@dataclass(frozen=True)
class TimelineEntry:
    """One dated step of a patient's pathway, as shown on the patient page, with the registry record it
    comes from (``model`` and ``pk``)."""

    date: dt.date
    kind: str
    detail: str
    model: str = ""
    pk: int | None = None


def patient_timeline(patient: m.Patient) -> list[TimelineEntry]:
    """Every dated record of the patient, oldest first: transplant steps, visits, relapses, MRI, AEs."""
    entries: list[TimelineEntry] = []
    add = entries.append
    for e in m.EligibilityAssessment.objects.filter(patient=patient):
        add(TimelineEntry(e.assessment_date, "Eligibility", f"{e.get_decision_display()}, EDSS {e.edss}",
                          "EligibilityAssessment", e.pk))
    for mb in m.Mobilisation.objects.filter(patient=patient):
        add(TimelineEntry(mb.start_date, "Mobilisation", mb.regimen, "Mobilisation", mb.pk))
    for c in m.Conditioning.objects.filter(patient=patient):
        add(TimelineEntry(c.start_date, "Conditioning", f"{c.regimen} ({c.get_intensity_display()})",
                          "Conditioning", c.pk))
    for t in m.Transplant.objects.filter(patient=patient):
        add(TimelineEntry(t.day0, "Transplant (day 0)", f"CD34+ {t.cd34_infused_1e6_per_kg} ×10⁶/kg infused",
                          "Transplant", t.pk))
        if t.neutrophil_engraftment_date:
            add(TimelineEntry(t.neutrophil_engraftment_date, "Engraftment", "neutrophils"))
        if t.platelet_engraftment_date:
            add(TimelineEntry(t.platelet_engraftment_date, "Engraftment", "platelets"))
    for v in m.EdssVisit.objects.filter(patient=patient):
        add(TimelineEntry(v.visit_date, "EDSS visit", f"EDSS {v.edss}", "EdssVisit", v.pk))
    for r in m.Relapse.objects.filter(patient=patient):
        add(TimelineEntry(r.onset_date, "Relapse", "onset", "Relapse", r.pk))
    for s in m.MriScan.objects.filter(patient=patient):
        add(TimelineEntry(s.scan_date, "MRI scan", _mri_detail(s), "MriScan", s.pk))
    for x in m.DmtExposure.objects.filter(patient=patient):
        stop = f" to {x.stop_date:%Y-%m-%d}" if x.stop_date else ", not stopped"
        add(TimelineEntry(x.start_date, "DMT", f"{x.drug} from {x.start_date:%Y-%m-%d}{stop}", "DmtExposure", x.pk))
    for a in m.AdverseEvent.objects.filter(patient=patient):
        add(
            TimelineEntry(
                a.onset_date,
                "Adverse event",
                f"{a.ae_id}: {a.ctcae_term}, grade {a.grade} ({a.get_attribution_display().lower()})",
                "AdverseEvent",
                a.pk,
            )
        )
    for d in m.Death.objects.filter(patient=patient):
        add(TimelineEntry(d.death_date, "Death", d.get_cause_category_display(), "Death", d.pk))
    order = {"Death": 1}
    return sorted(entries, key=lambda e: (e.date, order.get(e.kind, 0)))


def _mri_detail(s: m.MriScan) -> str:
    t2 = f"{s.new_enlarging_t2} new/enlarging T2" if s.t2_assessed == "yes" else "T2 not assessed"
    gd = f"{s.gd_lesions} Gd+ lesions" if s.gd_assessed == "yes" else "no gadolinium"
    return f"{t2}; {gd}"


def consent_excluded(centre: m.Centre) -> int:
    """Patients of the centre left out of every public figure and report: consent withdrawn or not given, or
    publication outside its scope (the rule of :func:`openhsct.registry.consent.may_publish`)."""
    patients = m.Patient.objects.filter(centre=centre)
    return patients.count() - patients.filter(consent_status="given").exclude(consent_publication="no").count()

