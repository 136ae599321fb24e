"""Canonical text for exchange values, so that import → export reproduces a bundle exactly.

Both directions go through here: database values (``date``, ``Decimal``, ``datetime``, ``int``) and
validated CSV strings are written the same way — ISO dates, decimals with the field's decimal places,
datetimes in UTC as ``YYYY-MM-DDTHH:MM:SS+00:00``, empty text for missing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
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


# ----------------------------------------------------------------------------------- strict CSV reading

#: Column kinds held as text (the ones the formula escape of :mod:`openhsct.registry.csvsafe` applies to).
TEXT_KINDS = frozenset({"text", "code", "reference"})


@dataclass(frozen=True)
class CsvFault:
    """Why a CSV file cannot be read as written: ``row`` is the record's line (header = 1), ``field`` the
    0-based field index where the fault lies (``None`` when it is not in one field)."""

    row: int
    field: int | None
    rule: str
    value: str = ""


@dataclass
class CsvText:
    """A CSV file split into its header and records, with every fault found on the way."""

    header: list[str]
    records: list[tuple[int, list[str]]]
    faults: list[CsvFault]


NOT_UTF8 = "not UTF-8 text (save the file as UTF-8; Latin-1, Windows-1252 and UTF-16 files are refused)"
UTF16 = "UTF-16 text (save the file as UTF-8)"
UNBALANCED_QUOTE = "a quote opens here and never closes"
STRAY_QUOTE = "a quote inside a cell that is not quoted (quote the whole cell and double the quote)"
AFTER_QUOTE = "text after a closing quote (quote the whole cell and double any quote inside it)"
BARE_CR = "a carriage return that does not end a line (CR alone is refused)"
LINE_BREAK = "a line break inside a cell"
NUL_IN_CELL = "contains a NUL character"
EMPTY_FILE = "the file is empty: a table file starts with its header row"

_QUOTED = re.compile(r'"((?:[^"]|"")*)"')
_PLAIN = re.compile(r'[^,"\r\n]*')


def decode_csv(data: bytes) -> tuple[str | None, CsvFault | None]:
    """The text of a CSV file's bytes: strict UTF-8, a leading UTF-8 byte-order mark dropped (as
    spreadsheets write it). Returns (text, None), or (None, fault) naming the row and field of the first
    byte that is not UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, CsvFault(1, None, UTF16)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        row = data.count(b"\n", 0, exc.start) + 1
        field = _fields_before(data[line_start:exc.start].decode("utf-8", errors="replace"))
        return None, CsvFault(row, field, NOT_UTF8, data[exc.start:exc.start + 8].hex(" "))


def _fields_before(prefix: str) -> int:
    """Returns how many separators outside quotes ``prefix`` (the start of a line) holds: the index of
    the field at its end."""
    count, quoted = 0, False
    for ch in prefix:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            count += 1
    return count


def split_csv(text: str) -> CsvText:
    """Split RFC 4180 CSV text (LF or CRLF line ends) into header and records, refusing rather than
    repairing: unbalanced or stray quotes, bare carriage returns, line breaks or NUL characters inside
    cells, and records whose field count differs from the header's are faults (the record is dropped).

    Returns the :class:`CsvText`; its ``records`` are ``(row, fields)`` pairs. An unclosed quote ends the
    reading of the file at its record.
    """
    good: list[tuple[int, list[str]]] = []
    faults: list[CsvFault] = []
    pos, n, row = 0, len(text), 1
    while pos < n:
        fields, pos, fault = _record(text, pos, row)
        if fault is not None:
            faults.append(fault)
            if fault.rule == UNBALANCED_QUOTE:
                break
            pos = _next_line(text, pos)
        else:
            good.append((row, fields))
        row += 1
    if not good and not faults:
        return CsvText([], [], [CsvFault(1, None, EMPTY_FILE)])
    if not good or good[0][0] != 1:
        return CsvText([], [], faults)
    header = good[0][1]
    width = len(header)
    records = []
    for r, fields in good[1:]:
        if len(fields) == width:
            records.append((r, fields))
        else:
            faults.append(CsvFault(r, min(len(fields), width - 1),
                                   f"has {len(fields)} field(s); the header has {width}"))
    return CsvText(header, records, sorted(faults, key=lambda f: (f.row, f.field or 0)))


def _next_line(text: str, pos: int) -> int:
    """The position after the next line end at or after ``pos``."""
    nl = text.find("\n", pos)
    return len(text) if nl < 0 else nl + 1


def _record(text: str, pos: int, row: int) -> tuple[list[str], int, CsvFault | None]:
    """One record from ``pos``. Returns (fields, position after its line end, fault or None)."""
    fields: list[str] = []
    n = len(text)
    while True:
        if pos < n and text[pos] == '"':
            m = _QUOTED.match(text, pos)
            if m is None:
                return fields, n, CsvFault(row, len(fields), UNBALANCED_QUOTE)
            value = m.group(1).replace('""', '"')
            if "\r" in value or "\n" in value:
                return fields, m.end(), CsvFault(row, len(fields), LINE_BREAK, value)
            pos = m.end()
            if pos < n and text[pos] not in ",\r\n":
                return fields, pos, CsvFault(row, len(fields), AFTER_QUOTE, value)
        else:
            m = _PLAIN.match(text, pos)
            value = m.group(0)
            pos = m.end()
        if "\x00" in value:
            return fields, pos, CsvFault(row, len(fields), NUL_IN_CELL, value)
        fields.append(value)
        if pos >= n:
            return fields, n, None
        ch = text[pos]
        if ch == ",":
            pos += 1
            continue
        if ch == "\n":
            return fields, pos + 1, None
        if text.startswith("\r\n", pos):
            return fields, pos + 2, None
        if ch == "\r":
            return fields, pos, CsvFault(row, len(fields) - 1, BARE_CR, value)
        return fields, pos, CsvFault(row, len(fields) - 1, STRAY_QUOTE, value)
