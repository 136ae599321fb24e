"""Rules on the transplant and follow-up items that the database holds as CHECK constraints.

The models declare each rule once (:data:`openhsct.registry.models.ROW_RULES` and the date orders
below mirror their constraints); this module applies the same rules to a bundle's rows, naming file,
row and column, and to one model instance for a form, so that no write reaches the database only to be
refused there.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import pandas as pd
from django.db import models as dj

from openhsct.registry import models as m
from openhsct.registry.exchange import tables
from openhsct.registry.rules import compare
from openhsct.registry.validation import Collector

PATIENT = ["centre_code", "patient_code"]


@dataclass(frozen=True)
class DateOrder:
    """``earlier op later`` within one row of ``table`` (either empty: not compared); reported on
    ``report``."""

    table: str
    earlier: str
    op: str
    later: str
    report: str
    message: str


# Each mirrors a CHECK constraint of the models (mri_comparator_before_scan, dmt_last_dose_*).
DATE_ORDERS: tuple[DateOrder, ...] = (
    DateOrder("mri_scans", "comparator_scan_date", "<", "scan_date", "comparator_scan_date",
              "comparator_scan_date must be before scan_date"),
    DateOrder("dmt_exposures", "start_date", "<=", "last_dose_date", "last_dose_date",
              "last_dose_date must be on or after start_date"),
    DateOrder("dmt_exposures", "last_dose_date", "<=", "stop_date", "last_dose_date",
              "last_dose_date must be on or before stop_date"),
)

_OPS = {"<": operator.lt, "<=": operator.le}

def _table_of(model_name: str) -> str:
    return next(t.name for t in tables().values() if t.model.__name__ == model_name)


def check_row_rules(frames: dict[str, pd.DataFrame], out: Collector) -> None:
    """Report every bundle row that breaks a row rule or a date order. Returns nothing."""
    for model_name, rules in m.ROW_RULES.items():
        name = _table_of(model_name)
        frame = frames.get(name)
        if frame is None or frame.empty:
            continue
        file = frame.attrs.get("file", f"{name}.csv")
        for rule in rules:
            filled = (frame[rule.field] != "").to_numpy()
            when = frame[rule.when]
            if rule.empty_when:
                out.flag(frame, when.isin(rule.empty_when).to_numpy() & filled, file, rule.field,
                         rule.message(True))
            if rule.filled_when:
                out.flag(frame, when.isin(rule.filled_when).to_numpy() & ~filled, file, rule.field,
                         rule.message(False))
    for order in DATE_ORDERS:
        frame = frames.get(order.table)
        if frame is None or frame.empty:
            continue
        a = pd.to_datetime(frame[order.earlier].where(frame[order.earlier] != ""), format="%Y-%m-%d", errors="coerce")
        b = pd.to_datetime(frame[order.later].where(frame[order.later] != ""), format="%Y-%m-%d", errors="coerce")
        broken = (a.notna() & b.notna() & ~_OPS[order.op](a, b)).to_numpy()
        out.flag(frame, broken, frame.attrs.get("file", f"{order.table}.csv"), order.report, order.message)


def check_item_dates(effective: dict[str, pd.DataFrame], out: Collector) -> None:
    """Across tables: a second transplant after the first one's day 0 (dates after death or before birth
    are refused for every table by :func:`openhsct.registry.rules.check_dates`). Runs on the effective
    registry, reporting bundle rows. Returns nothing."""
    compare(out, effective["second_transplants"], "transplant_date", ">", effective["transplants"], "day0",
            on=PATIENT, file="second_transplants.csv", rule="a second transplant must be after the first one's day0")


def _is_empty(value) -> bool:
    return value is None or value == ""


def instance_problems(instance: dj.Model) -> dict[str, str]:
    """The row rules and date orders ``instance`` breaks, as {field name: message} (empty when none)."""
    problems: dict[str, str] = {}
    for rule in m.ROW_RULES.get(type(instance).__name__, []):
        value, when = getattr(instance, rule.field), getattr(instance, rule.when)
        if when in rule.empty_when and not _is_empty(value):
            problems.setdefault(rule.field, f"{rule.field} {rule.message(True)}")
        elif when in rule.filled_when and _is_empty(value):
            problems.setdefault(rule.field, f"{rule.field} {rule.message(False)}")
    table = next((t.name for t in tables().values() if t.model is type(instance)), None)
    for order in DATE_ORDERS:
        if order.table != table:
            continue
        a, b = getattr(instance, order.earlier), getattr(instance, order.later)
        if a is not None and b is not None and not _OPS[order.op](a, b):
            problems.setdefault(order.report, order.message)
    return problems
