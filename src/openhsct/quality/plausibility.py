"""Soft checks: values that are allowed but unusual enough that a person should look again.

A hard rule (:mod:`openhsct.registry.rules`) refuses a value; a soft check only warns, and the person who
saves the record confirms the warning ("I have checked this value"), which is stored with who confirmed
it. Every check here is a pure function of one patient's rows (:class:`PatientRows`, built by
:func:`openhsct.quality.services.patient_rows`) and returns :class:`SoftWarning` objects:

- ``edss_jump``: EDSS changes by 2.0 or more between consecutive visits less than 6 months apart;
- ``baseline_change``: a pre-transplant EDSS that changes the progression baseline (the rule of
  :mod:`openhsct.outcomes.endpoints`: the last EDSS on or before the start of mobilisation — day 0 when
  none is recorded — at most 365 days before it and not within 30 days after a relapse onset);
- ``cd34_above_collected``: more CD34+ cells/kg infused than the apheresis collections yielded;
- ``dose_range``: a conditioning or mobilisation drug dose outside its usual range per kg or per m²
  (:data:`USUAL_DOSES`; a dose in mg is converted with the patient's weight and height when known);
- ``late_engraftment``: neutrophil engraftment later than day +30;
- ``relapse_unchanged_edss``: a relapse with an EDSS visit within the 30 days after its onset whose
  score equals the visit before the relapse.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal

EDSS_JUMP = 2.0
EDSS_JUMP_MONTHS = 6
BASELINE_WINDOW_DAYS = 365  # openhsct.outcomes.endpoints.BASELINE_WINDOW_DAYS
BASELINE_RELAPSE_GAP_DAYS = 30  # openhsct.outcomes.endpoints.EndpointSettings.baseline_relapse_gap_days
LATE_ENGRAFTMENT_DAYS = 30
RELAPSE_VISIT_DAYS = 30

#: Usual total dose ranges of the drugs of aHSCT for MS, per kg or per m² of body surface area, wide
#: enough to hold every regimen of the EBMT recommendations (Sharrack B et al. 2020, Bone Marrow
#: Transplantation 55:283–306, doi:10.1038/s41409-019-0684-0) and of Burt RK et al. 2019 (JAMA
#: 321:165–174, doi:10.1001/jama.2018.18743): Cy200 (200 mg/kg) with rabbit ATG (5–7.5 mg/kg), BEAM
#: (carmustine 300 mg/m², etoposide 800 mg/m², cytarabine 800–1,600 mg/m², melphalan 140 mg/m²),
#: busulfan-based regimens and mobilisation cyclophosphamide of 2–4 g/m².
USUAL_DOSES: dict[str, tuple[str, float, float]] = {
    "cyclophosphamide": ("mg/kg", 100.0, 200.0),
    "ratg": ("mg/kg", 2.5, 10.0),
    "thymoglobulin": ("mg/kg", 2.5, 10.0),
    "atg": ("mg/kg", 2.5, 10.0),
    "hatg": ("mg/kg", 60.0, 160.0),
    "atgam": ("mg/kg", 60.0, 160.0),
    "grafalon": ("mg/kg", 20.0, 60.0),
    "carmustine": ("mg/m2", 150.0, 300.0),
    "bcnu": ("mg/m2", 150.0, 300.0),
    "etoposide": ("mg/m2", 400.0, 800.0),
    "cytarabine": ("mg/m2", 400.0, 1600.0),
    "melphalan": ("mg/m2", 100.0, 140.0),
    "busulfan": ("mg/kg", 6.4, 16.0),
    "thiotepa": ("mg/kg", 5.0, 10.0),
    "fludarabine": ("mg/m2", 90.0, 160.0),
    "rituximab": ("mg/m2", 100.0, 750.0),
    "mobilisation cyclophosphamide": ("mg/m2", 1500.0, 4500.0),
}


@dataclass(frozen=True)
class Ref:
    """The record a warning is about: registry model name, primary key (None: not saved yet), field."""

    model: str
    pk: int | None
    field: str


@dataclass(frozen=True)
class SoftWarning:
    """One soft-check warning: its code, the record and field it is about, and the message to read."""

    code: str
    ref: Ref
    message: str

    @property
    def key(self) -> tuple:
        """What identifies the warning across two runs of the checks (code and record)."""
        return (self.code, self.ref.model, self.ref.pk, self.ref.field)


@dataclass(frozen=True)
class Visit:
    pk: int | None
    date: dt.date
    edss: float


@dataclass(frozen=True)
class Dose:
    pk: int | None
    model: str
    field: str
    drug: str
    amount: float
    unit: str


@dataclass(frozen=True)
class PatientRows:
    """The rows of one patient that the soft checks read (dates as ``datetime.date``, numbers as float).

    ``transplant`` is ``(pk, day0, cd34_infused, neutrophil_engraftment_date)`` or None; ``collected`` the
    CD34+ ×10⁶/kg of each apheresis collection; ``weight_kg`` and ``height_cm`` None when not recorded."""

    visits: tuple[Visit, ...] = ()
    relapses: tuple[dt.date, ...] = ()
    mobilisation_starts: tuple[dt.date, ...] = ()
    transplant: tuple[int | None, dt.date, float, dt.date | None] | None = None
    collected: tuple[float, ...] = ()
    doses: tuple[Dose, ...] = field(default=())
    weight_kg: float | None = None
    height_cm: float | None = None


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day of the month ``months`` calendar months later (clamped to the month's last day)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _fmt(x: float) -> str:
    return format(Decimal(str(x)).normalize(), "f")


def edss_jumps(rows: PatientRows) -> list[SoftWarning]:
    """Consecutive visits less than 6 months apart whose EDSS differs by 2.0 or more (warned on the
    later visit)."""
    visits = sorted(rows.visits, key=lambda v: v.date)
    out = []
    for prev, cur in zip(visits, visits[1:], strict=False):
        if cur.date < add_months(prev.date, EDSS_JUMP_MONTHS) and abs(cur.edss - prev.edss) >= EDSS_JUMP:
            out.append(SoftWarning(
                "edss_jump", Ref("EdssVisit", cur.pk, "edss"),
                f"EDSS {_fmt(cur.edss)} on {cur.date:%Y-%m-%d} differs by {_fmt(abs(cur.edss - prev.edss))} "
                f"from EDSS {_fmt(prev.edss)} on {prev.date:%Y-%m-%d}, less than {EDSS_JUMP_MONTHS} months "
                "earlier.",
            ))
    return out


def baseline_reference(rows: PatientRows) -> dt.date | None:
    """The day the EDSS baseline is taken before: the first mobilisation start, else day 0, else None."""
    if rows.mobilisation_starts:
        return min(rows.mobilisation_starts)
    return rows.transplant[1] if rows.transplant else None


def progression_baseline(rows: PatientRows) -> Visit | None:
    """The visit that is the progression baseline (the rule of :mod:`openhsct.outcomes.endpoints`), or None."""
    ref = baseline_reference(rows)
    if ref is None:
        return None
    window = ref - dt.timedelta(days=BASELINE_WINDOW_DAYS)
    chosen = None
    for v in sorted(rows.visits, key=lambda v: v.date):
        after_relapse = any(0 <= (v.date - r).days < BASELINE_RELAPSE_GAP_DAYS for r in rows.relapses)
        if window <= v.date <= ref and not after_relapse:
            chosen = v
    return chosen


def baseline_changes(before: PatientRows, after: PatientRows) -> list[SoftWarning]:
    """A warning when ``after`` (the rows with a new or changed record) has another baseline EDSS value
    than ``before``; warned on the visit that is the baseline afterwards (or that was, when none is)."""
    old, new = progression_baseline(before), progression_baseline(after)
    old_value = None if old is None else old.edss
    new_value = None if new is None else new.edss
    if old_value == new_value:
        return []
    shown = new or old
    text_old = "none" if old is None else f"EDSS {_fmt(old.edss)} on {old.date:%Y-%m-%d}"
    text_new = "none" if new is None else f"EDSS {_fmt(new.edss)} on {new.date:%Y-%m-%d}"
    return [SoftWarning(
        "baseline_change", Ref("EdssVisit", shown.pk, "edss"),
        f"This changes the pre-transplant EDSS baseline that progression is measured from: {text_old} "
        f"becomes {text_new}.",
    )]


def cd34_above_collected(rows: PatientRows) -> list[SoftWarning]:
    """More CD34+ ×10⁶/kg infused than collected over every apheresis of the patient."""
    if rows.transplant is None or not rows.collected:
        return []
    pk, _day0, infused, _neutrophils = rows.transplant
    total = sum(rows.collected)
    if infused <= total + 1e-9:
        return []
    return [SoftWarning(
        "cd34_above_collected", Ref("Transplant", pk, "cd34_infused_1e6_per_kg"),
        f"CD34+ infused ({_fmt(infused)} ×10⁶/kg) is more than was collected ({_fmt(round(total, 2))} ×10⁶/kg).",
    )]


def late_engraftment(rows: PatientRows) -> list[SoftWarning]:
    """Neutrophil engraftment later than day +30."""
    if rows.transplant is None or rows.transplant[3] is None:
        return []
    pk, day0, _infused, neutrophils = rows.transplant
    day = (neutrophils - day0).days
    if day <= LATE_ENGRAFTMENT_DAYS:
        return []
    return [SoftWarning(
        "late_engraftment", Ref("Transplant", pk, "neutrophil_engraftment_date"),
        f"Neutrophil engraftment on day +{day} ({neutrophils:%Y-%m-%d}) is later than day "
        f"+{LATE_ENGRAFTMENT_DAYS}.",
    )]


def relapse_unchanged_edss(rows: PatientRows) -> list[SoftWarning]:
    """A visit within 30 days after a relapse onset with the same EDSS as the last visit before the
    relapse (warned on that visit)."""
    visits = sorted(rows.visits, key=lambda v: v.date)
    out = []
    for onset in sorted(rows.relapses):
        prior = [v for v in visits if v.date < onset]
        if not prior:
            continue
        for v in visits:
            if 0 <= (v.date - onset).days <= RELAPSE_VISIT_DAYS and v.edss == prior[-1].edss:
                out.append(SoftWarning(
                    "relapse_unchanged_edss", Ref("EdssVisit", v.pk, "edss"),
                    f"EDSS {_fmt(v.edss)} on {v.date:%Y-%m-%d}, {(v.date - onset).days} days after the relapse "
                    f"of {onset:%Y-%m-%d}, is unchanged from {prior[-1].date:%Y-%m-%d}.",
                ))
    return out


def body_surface_area(weight_kg: float, height_cm: float) -> float:
    """Body surface area in m² by Mosteller's formula (Mosteller RD 1987, N Engl J Med 317:1098,
    doi:10.1056/NEJM198710223171717)."""
    return math.sqrt(weight_kg * height_cm / 3600.0)


def dose_per(dose: Dose, unit: str, weight_kg: float | None, height_cm: float | None) -> float | None:
    """The dose in ``unit`` ("mg/kg" or "mg/m2"), or None when it cannot be converted (no weight or height)."""
    amount = dose.amount * (1000.0 if dose.unit == "g/m2" else 1.0)
    given = "mg/m2" if dose.unit in {"g/m2", "mg/m2"} else dose.unit
    if given == unit:
        return amount
    bsa = body_surface_area(weight_kg, height_cm) if weight_kg and height_cm else None
    per_kg = {"mg/kg": amount, "mg": amount / weight_kg if weight_kg else None,
              "mg/m2": amount * bsa / weight_kg if bsa and weight_kg else None}.get(given)
    if per_kg is None:
        return None
    if unit == "mg/kg":
        return per_kg
    return per_kg * weight_kg / bsa if bsa and weight_kg else None


def dose_ranges(rows: PatientRows) -> list[SoftWarning]:
    """Doses outside the usual range of :data:`USUAL_DOSES` (drugs not listed, and doses that cannot be
    converted for lack of weight or height, are not checked)."""
    out = []
    for d in rows.doses:
        usual = USUAL_DOSES.get(d.drug.strip().lower())
        if usual is None:
            continue
        unit, low, high = usual
        value = dose_per(d, unit, rows.weight_kg, rows.height_cm)
        if value is None or low - 1e-9 <= value <= high + 1e-9:
            continue
        shown = unit.replace("m2", "m²")
        out.append(SoftWarning(
            "dose_range", Ref(d.model, d.pk, d.field),
            f"{d.drug} {_fmt(round(value, 2))} {shown} is outside the usual range {_fmt(low)}–{_fmt(high)} {shown}.",
        ))
    return out


STATE_CHECKS = (edss_jumps, cd34_above_collected, late_engraftment, relapse_unchanged_edss, dose_ranges)


def warnings(rows: PatientRows) -> list[SoftWarning]:
    """Every soft-check warning the patient's rows raise as they stand."""
    return [w for check in STATE_CHECKS for w in check(rows)]


def new_warnings(before: PatientRows, after: PatientRows) -> list[SoftWarning]:
    """The warnings a new or changed record brings: those of ``after`` that ``before`` did not raise, and
    a change of the progression baseline."""
    seen = {w.key for w in warnings(before)}
    fresh = [w for w in warnings(after) if w.key not in seen]
    return fresh + baseline_changes(before, after)
