"""Data freezes: a monitor freezes a centre's records up to a date; until the freeze is lifted, records
dated on or before it are read-only in the clinic forms and the admin, refused by import, and the release
cut reads the centre's data only up to that date.

A record's date is its first date column (the visit date, the scan date, day 0, an adverse event's onset,
a custody event's time …), the rule the release cut uses. Records without a date of their own (centres,
patients, conditioning drug doses) are not frozen.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from openhsct.registry.validation import ROW, Collector


def active_freezes() -> dict[str, tuple[dt.date, str]]:
    """Centre code -> (frozen up to, reason) of every active freeze."""
    from openhsct.quality.models import Freeze

    rows = Freeze.objects.filter(lifted_at__isnull=True).values_list("centre__centre_code", "frozen_until", "reason")
    return {code: (until, reason) for code, until, reason in rows}


def freeze_dates() -> dict[str, dt.date]:
    """Centre code -> the date its data are frozen up to (active freezes only)."""
    return {code: until for code, (until, _reason) in active_freezes().items()}


def active_freeze(centre):
    """The centre's active :class:`~openhsct.quality.models.Freeze`, or None."""
    from openhsct.quality.models import Freeze

    return Freeze.objects.filter(centre=centre, lifted_at__isnull=True).first()


def record_date(obj) -> dt.date | None:
    """The record's own date (its first date or date-time field), or None when it has none."""
    from django.db import models

    for f in obj._meta.concrete_fields:
        if isinstance(f, models.DateField):  # DateTimeField is a DateField too
            value = getattr(obj, f.attname)
            if isinstance(value, dt.datetime):
                return value.date()
            return value
    return None


def frozen_message(code: str, until: dt.date, reason: str) -> str:
    """The sentence shown wherever a frozen record is refused."""
    return (f"centre {code}'s data are frozen up to {until:%Y-%m-%d} ({reason}); a monitor must lift the "
            "freeze before records dated on or before it change")


def is_frozen(obj) -> str | None:
    """Why ``obj`` (a patient's record, saved or not) is read-only because of a freeze, or None."""
    from openhsct.registry.roles import centre_of

    centre = centre_of(obj)
    day = record_date(obj)
    if centre is None or day is None:
        return None
    freeze = active_freeze(centre)
    if freeze is None or day > freeze.frozen_until:
        return None
    return frozen_message(centre.centre_code, freeze.frozen_until, freeze.reason)


def check_bundle(clean: dict[str, pd.DataFrame], registry: dict[str, pd.DataFrame], out: Collector) -> None:
    """Record a problem for every new or changed row of a bundle that is dated on or before its centre's
    active freeze (rows equal to the registry's are re-imports that change nothing, and pass)."""
    from openhsct.registry.exchange import tables

    freezes = active_freezes()
    if not freezes:
        return
    for name, table in tables().items():
        frame = clean.get(name)
        dated = [c.name for c in table.columns if c.kind in {"date", "datetime"}]
        if frame is None or frame.empty or name in {"centres", "patients"} or not dated:
            continue
        _check_table(frame, registry.get(name), table, dated[0], freezes, out)


def _check_table(frame: pd.DataFrame, existing: pd.DataFrame | None, table, column: str,
                 freezes: dict[str, tuple[dt.date, str]], out: Collector) -> None:
    limits = frame["centre_code"].map({c: u.isoformat() for c, (u, _r) in freezes.items()})
    day = frame[column].astype(str).str[:10]
    candidate = limits.notna() & (day != "") & (day <= limits.fillna(""))
    if not candidate.any():
        return
    rows = frame.loc[candidate.to_numpy()]
    if existing is not None and len(existing):
        names = table.column_names
        merged = rows[[*names, ROW]].merge(existing[names].astype(str), on=names, how="left", indicator=True)
        rows = merged.loc[(merged["_merge"] == "left_only").to_numpy()]
    file = frame.attrs.get("file", f"{table.name}.csv")
    for _, r in rows.iterrows():
        until, reason = freezes[r["centre_code"]]
        out.add(file, int(r[ROW]), column, frozen_message(r["centre_code"], until, reason), r[column])


def with_freeze_check(form_class):
    """An admin form class that refuses, as a form error, a record dated within its centre's freeze."""

    class FreezeCheckedForm(form_class):
        def _post_clean(self):
            super()._post_clean()
            why = is_frozen(self.instance) if getattr(self.instance, "patient_id", None) else None
            if why:
                self.add_error(None, why[0].upper() + why[1:] + ".")

    FreezeCheckedForm.__name__ = form_class.__name__
    return FreezeCheckedForm
