"""The data cut of a release: only the tables and columns the public figures need, read straight from the
database into typed arrays, restricted to what was known on the cut date and to patients whose consent
allows publication.

:func:`read_registry` reads with one raw SQL query per table (no ORM object per row);
:func:`apply_cut` and :func:`registry_digest` are pure functions on the typed tables.

What a cut at date D keeps (``docs/releases.md``):

- patients transplanted (day 0) on or before D, and of them every row dated on or before D (the row's
  first date: a visit, a scan, a relapse, an adverse event's onset, a death, a cost);
- later dates inside a kept row (an adverse event resolved after D, a drug stopped after D) are blanked,
  and the last contact is moved back to D when it is later (the patient was known alive at D);
- patients without publication consent (:func:`openhsct.registry.consent.publishable`) are left out,
  counted per centre.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: The exchange tables the public figures read (chain of custody, apheresis and drug doses are not read;
#: ``pro_answers`` only for the scored instruments' median and range over time).
RELEASE_TABLES = (
    "centres",
    "patients",
    "eligibility",
    "mobilisations",
    "conditioning",
    "transplants",
    "adverse_events",
    "deaths",
    "edss_visits",
    "relapses",
    "mri_scans",
    "dmt_exposures",
    "costs",
    "pro_answers",
)
#: Patient columns that say who a person is or how to reach them are never read into a release.
SKIPPED_COLUMNS = frozenset({"consent_version", "consent_sharing", "consent_recontact", "consent_date"})


@dataclass(frozen=True)
class Cut:
    """The typed tables of a cut (``tables``), the number of patients left out per centre for lack of
    publication consent (``excluded``), the cut date and the SHA-256 of the rows used (``digest``)."""

    cut: dt.date
    tables: dict[str, pd.DataFrame] = field(repr=False)
    excluded: dict[str, int]
    digest: str
    rows: dict[str, int]
    everyone: dict[str, pd.DataFrame] | None = field(default=None, repr=False)


def _typed_column(values: list, kind: str, decimal_places: int | None) -> pd.Series:
    """One column of raw database values as the dtype :func:`openhsct.registry.formats.typed_frame`
    gives (dates as datetime64, decimals as float rounded to the field's places, integers as Int64,
    text as string with missing as "")."""
    if kind == "date":
        return pd.Series(
            pd.to_datetime([None if v is None else str(v)[:10] for v in values], format="%Y-%m-%d")
        )
    if kind == "decimal":
        arr = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
        return pd.Series(np.round(arr, decimal_places or 0), dtype="float64")
    if kind == "integer":
        return pd.Series([None if v is None else int(v) for v in values], dtype="Int64")
    if kind == "datetime":
        return pd.Series(pd.to_datetime([None if v is None else str(v) for v in values], utc=True, format="ISO8601"))
    return pd.Series(["" if v is None else str(v) for v in values], dtype="string")


def read_table(name: str) -> pd.DataFrame:
    """One exchange table read with a raw cursor (only :data:`RELEASE_TABLES`' columns), typed, sorted by
    its key."""
    from django.db import connection

    from openhsct.registry.exchange import tables
    from openhsct.registry.exporter import _lookups

    table = tables()[name]
    cols = [c for c in table.columns if c.name not in SKIPPED_COLUMNS]
    lookups = dict(zip(table.column_names, _lookups(table), strict=True))
    qs = table.model.objects.values_list(*[lookups[c.name] for c in cols])
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in cols]
    frame = pd.DataFrame(
        {c.name: _typed_column(list(v), c.kind, c.decimal_places) for c, v in zip(cols, columns, strict=True)}
    )
    key = [k for k in table.key if k in frame.columns]
    return frame.sort_values(key, kind="stable").reset_index(drop=True) if len(frame) else frame


def read_registry(progress: Callable[[str], None] | None = None) -> dict[str, pd.DataFrame]:
    """Every table of :data:`RELEASE_TABLES` that the schema has, typed."""
    from openhsct.registry.exchange import tables

    known = tables()
    out = {}
    for name in RELEASE_TABLES:
        if name in known:
            out[name] = read_table(name)
            if progress:
                progress(name)
    return out


def _date_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]


def _row_limits(frame: pd.DataFrame, limit: pd.Timestamp, freezes: dict[str, dt.date] | None) -> pd.Series:
    """Each row's cut: the release's, or its centre's freeze date when that is earlier."""
    if not freezes:
        return pd.Series(limit, index=frame.index)
    frozen = {code: min(pd.Timestamp(day), limit) for code, day in freezes.items()}
    return frame["centre_code"].astype(str).map(frozen).fillna(limit).astype("datetime64[ns]")


def apply_cut(
    tables: dict[str, pd.DataFrame], cut: dt.date, *, transplanted_only: bool = True,
    freezes: dict[str, dt.date] | None = None,
) -> dict[str, pd.DataFrame]:
    """The tables as known on ``cut`` (module docstring): patients transplanted by then (every patient
    when ``transplanted_only`` is false: the DMT comparators), rows dated by then, later dates inside kept
    rows blanked, last contact moved back to the cut. ``freezes`` (centre code -> date its data are frozen
    up to) cuts a frozen centre at its freeze date when that is earlier (``docs/releases.md``)."""
    limit = pd.Timestamp(cut)
    if transplanted_only:
        tx = tables["transplants"]
        chosen = tx.loc[(tx["day0"] <= _row_limits(tx, limit, freezes)).to_numpy(), ["centre_code", "patient_code"]]
    else:
        chosen = tables["patients"][["centre_code", "patient_code"]]
    kept = pd.MultiIndex.from_frame(chosen.astype(str))
    out = {}
    for name, frame in tables.items():
        if "patient_code" not in frame.columns:
            out[name] = frame
            continue
        key = pd.MultiIndex.from_arrays([frame["centre_code"].astype(str), frame["patient_code"].astype(str)])
        f = frame.loc[key.isin(kept)].copy()
        dates = _date_columns(f)
        if name != "patients" and dates:
            first = dates[0]
            f = f.loc[~(f[first] > _row_limits(f, limit, freezes)).to_numpy()]
            dates = dates[1:]
        for col in dates:
            row_limit = _row_limits(f, limit, freezes)
            later = (f[col] > row_limit).to_numpy()
            if col == "last_contact_date":
                f.loc[later, col] = row_limit[later]
            else:
                f.loc[later, col] = pd.NaT
        out[name] = f.reset_index(drop=True)
    return out


def registry_digest(tables: dict[str, pd.DataFrame]) -> str:
    """SHA-256 of the rows used: every table's name, columns and values in key order, as CSV text."""
    h = hashlib.sha256()
    for name in sorted(tables):
        frame = tables[name]
        h.update(f"[{name}]\n".encode())
        h.update(frame.to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n").encode())
    return h.hexdigest()


def hold_back(tables: dict[str, pd.DataFrame], previous: dict[str, int]) -> dict[str, pd.DataFrame]:
    """The tables without the newest transplanted patients of each centre whose cohort would grow by 1-4
    since the previous release (``previous``: centre code -> patients it published), so that no reader
    can subtract two releases to single out a handful of new patients; they enter the next release in
    which their centre has grown by 5 or more (``docs/disclosure.md``)."""
    tx = tables["transplants"].sort_values(["centre_code", "day0", "patient_code"], kind="stable")
    drop = []
    for code, rows in tx.groupby(tx["centre_code"].astype(str), sort=True):
        before = previous.get(code)
        grown = len(rows) - before if before is not None else 0
        if 0 < grown < 5:
            drop.extend((code, str(p)) for p in rows["patient_code"].iloc[-grown:])
    if not drop:
        return tables
    held = pd.MultiIndex.from_tuples(drop)
    out = {}
    for name, frame in tables.items():
        if "patient_code" not in frame.columns:
            out[name] = frame
            continue
        key = pd.MultiIndex.from_arrays([frame["centre_code"].astype(str), frame["patient_code"].astype(str)])
        out[name] = frame.loc[~key.isin(held)].reset_index(drop=True)
    return out


def make_cut(tables: dict[str, pd.DataFrame], cut: dt.date, *, previous: dict[str, int] | None = None,
             freezes: dict[str, dt.date] | None = None) -> Cut:
    """The cut of already-read typed tables: :func:`apply_cut`, then consent, then the digest. ``everyone``
    holds every consenting patient's rows by the cut, transplanted or not (the aHSCT-vs-DMT comparison).
    ``previous`` (centre -> patients published by the latest release) holds back a growth of 1-4
    (:func:`hold_back`). ``freezes``: centres cut at their freeze date (:func:`apply_cut`)."""
    from openhsct.registry.consent import publishable

    consent = publishable(apply_cut(tables, cut, freezes=freezes))
    everyone = publishable(apply_cut(tables, cut, transplanted_only=False, freezes=freezes)).tables
    used = hold_back(consent.tables, previous) if previous else consent.tables
    return Cut(
        cut=cut,
        tables=used,
        excluded=dict(sorted(consent.excluded.items())),
        digest=registry_digest(everyone),
        rows={name: len(f) for name, f in sorted(everyone.items())},
        everyone=everyone,
    )
