"""Canonical text for exchange values, so that import → export reproduces a bundle exactly.

Both directions go through here: database values (``date``, ``Decimal``, ``datetime``, ``int``) and
validated CSV strings are written the same way — ISO dates, decimals with the field's decimal places,
datetimes in UTC as ``YYYY-MM-DDTHH:MM:SS+00:00``, empty text for missing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd

from openhsct.registry.exchange import Column


def python_to_text(value, column: Column) -> str:
    """Canonical text of one database value."""
    if value is None:
        return ""
    if column.kind == "decimal":
        return f"{Decimal(value):.{column.decimal_places}f}"
    if column.kind == "datetime":
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    if column.kind == "date":
        return value.isoformat()
    return str(value)


def text_to_canonical(values: pd.Series, column: Column) -> pd.Series:
    """Canonical text of already-validated CSV strings (``""`` stays ``""``)."""
    filled = values != ""
    if not filled.any() or column.kind in {"text", "code", "reference", "date"}:
        return values
    out = values.copy()
    if column.kind == "decimal":
        nums = pd.to_numeric(values[filled]).to_numpy(dtype=float)
        out[filled] = np.char.mod(f"%.{column.decimal_places}f", nums)
    elif column.kind == "integer":
        out[filled] = pd.to_numeric(values[filled]).astype("int64").astype(str)
    elif column.kind == "datetime":
        stamps = pd.to_datetime(values[filled], utc=True, format="ISO8601")
        out[filled] = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return out


def text_to_python(value: str, column: Column):
    """The database value of one canonical string (``None`` for empty)."""
    if value == "":
        return "" if column.kind in {"text", "code"} else None
    if column.kind == "decimal":
        return Decimal(value)
    if column.kind == "integer":
        return int(value)
    if column.kind == "date":
        return dt.date.fromisoformat(value)
    if column.kind == "datetime":
        return dt.datetime.fromisoformat(value)
    return value


def typed_frame(frame: pd.DataFrame, columns: list[Column]) -> pd.DataFrame:
    """A copy of a canonical-text frame with real dtypes (dates, floats, nullable ints), for
    analysis and Parquet."""
    out = pd.DataFrame(index=frame.index)
    for c in columns:
        s = frame[c.name]
        if c.kind == "date":
            out[c.name] = pd.to_datetime(s.replace("", None), format="%Y-%m-%d")
        elif c.kind == "datetime":
            out[c.name] = pd.to_datetime(s.replace("", None), utc=True, format="ISO8601")
        elif c.kind == "decimal":
            out[c.name] = pd.to_numeric(s.replace("", None)).astype("float64")
        elif c.kind == "integer":
            out[c.name] = pd.to_numeric(s.replace("", None)).astype("Int64")
        else:
            out[c.name] = s.astype("string")
    return out


def typed_to_text(frame: pd.DataFrame, columns: list[Column]) -> pd.DataFrame:
    """Inverse of :func:`typed_frame` (used when reading Parquet): canonical text for every column."""
    out = pd.DataFrame(index=frame.index)
    for c in columns:
        s = frame[c.name]
        missing = s.isna()
        if c.kind == "date":
            text = pd.to_datetime(s).dt.strftime("%Y-%m-%d")
        elif c.kind == "datetime":
            text = pd.to_datetime(s, utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        elif c.kind == "decimal":
            text = pd.Series(np.char.mod(f"%.{c.decimal_places}f", s.fillna(0).to_numpy(float)), index=s.index)
        elif c.kind == "integer":
            text = s.fillna(0).astype("int64").astype(str)
        else:
            text = s.astype(object).where(~missing, "").astype(str)
        out[c.name] = text.where(~missing, "").astype(object)
    return out
