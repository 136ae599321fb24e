"""Reads the patient pages share: their own timeline, the questionnaires due, their data as tables."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import pandas as pd
from django.conf import settings

from openhsct.outcomes.instruments import INSTRUMENTS, Instrument
from openhsct.registry import models as m


@dataclass(frozen=True)
class TimelineEntry:
    """One dated event of the patient's record, in plain words."""

    date: dt.date
    kind: str
    text: str


def schedule_months(inst: Instrument) -> int:
    """How often the instrument is due: OPENHSCT_PRO_SCHEDULE_MONTHS (setting or environment) overrides
    the instrument's own schedule."""
    override = getattr(settings, "OPENHSCT_PRO_SCHEDULE_MONTHS", None) or os.environ.get(
        "OPENHSCT_PRO_SCHEDULE_MONTHS")
    return int(override) if override else inst.schedule_months


def _months_before(day: dt.date, months: int) -> dt.date:
    y, mth = divmod(day.year * 12 + day.month - 1 - months, 12)
    return dt.date(y, mth + 1, min(day.day, 28))


def questionnaires_due(patient: m.Patient, today: dt.date) -> list[Instrument]:
    """Instruments the patient has not answered within their schedule (answers by the patient count)."""
    last = {}
    for code, day in (m.ProAnswer.objects.filter(patient=patient, source=m.ProAnswer.Source.PATIENT)
                      .values_list("instrument", "response_date")):
        last[code] = max(day, last.get(code, day))
    return [inst for code, inst in INSTRUMENTS.items()
            if code not in last or last[code] <= _months_before(today, schedule_months(inst))]


def _scan_text(s: m.MriScan) -> str:
    parts = []
    if s.t2_assessed == "yes":
        parts.append("no new or enlarging lesions" if not s.new_enlarging_t2 else
                     f"{s.new_enlarging_t2} new or enlarging lesion{'s' if s.new_enlarging_t2 != 1 else ''}")
    if s.gd_assessed == "yes":
        parts.append("no active (contrast-enhancing) lesions" if not s.gd_lesions else
                     f"{s.gd_lesions} active (contrast-enhancing) lesion{'s' if s.gd_lesions != 1 else ''}")
    return "MRI scan" + (": " + ", ".join(parts) if parts else "")


def _answer_text(a: m.ProAnswer) -> str:
    inst = INSTRUMENTS.get(a.instrument)
    item = next((i for i in inst.items if i.item_id == a.item), None) if inst else None
    label = next((o.label for o in item.options if o.code == a.answer), a.answer) if item else a.answer
    who = "You answered" if a.source == m.ProAnswer.Source.PATIENT else "Your clinic recorded"
    return f"{who} “{inst.name if inst else a.instrument}”: {label}"


def timeline(patient: m.Patient) -> list[TimelineEntry]:
    """The patient's EDSS assessments, relapses, scans, transplant and questionnaires, newest first."""
    out = [TimelineEntry(v.visit_date, "edss", f"Disability assessed (EDSS): {v.edss} on a scale from 0 "
                         "(no disability) to 10") for v in m.EdssVisit.objects.filter(patient=patient)]
    out += [TimelineEntry(r.onset_date, "relapse", "A relapse began")
            for r in m.Relapse.objects.filter(patient=patient)]
    out += [TimelineEntry(s.scan_date, "mri", _scan_text(s)) for s in m.MriScan.objects.filter(patient=patient)]
    out += [TimelineEntry(t.day0, "transplant", "Your stem cells were given back (day 0)")
            for t in m.Transplant.objects.filter(patient=patient)]
    out += [TimelineEntry(a.response_date, "pro", _answer_text(a))
            for a in m.ProAnswer.objects.filter(patient=patient)]
    return sorted(out, key=lambda e: (e.date, e.kind), reverse=True)


def own_tables(patient: m.Patient) -> dict[str, pd.DataFrame]:
    """Every exchange table restricted to this patient (the centre's row only for ``centres``)."""
    from openhsct.registry.exporter import registry_frames

    frames = registry_frames([patient.centre.centre_code])
    out = {}
    for name, frame in frames.items():
        if name == "centres":
            out[name] = frame
        else:
            out[name] = frame.loc[frame["patient_code"] == patient.patient_code].reset_index(drop=True)
    return out
