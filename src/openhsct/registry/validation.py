"""Validation of a whole bundle before anything is written.

Every problem is collected — not only the first — as ``FILE:ROW:COLUMN: rule (value)``, where ROW is the
line number in the file (the header is line 1). Checks are vectorised with pandas so a national
registry's bundle validates in seconds.

The slow string primitives (regular expressions, lengths, stripping) run first as Arrow compute kernels
(RE2, ASCII) that can only *accept* a value Python's ``re`` would accept too; the few values they do not
accept are decided by Python's own ``re``/``str`` on that subset. So every rule, and every message, is
exactly what the plain pandas code gives — only faster on clean data.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from openhsct.registry.exchange import Column, Table, describe_rule, tables

ROW = "_row"  # line number in the file; NaN for rows that come from the database


@dataclass(frozen=True, order=True)
class Problem:
    """One broken rule, located by file, line and column."""

    file: str
    row: int
    column: str
    rule: str
    value: str = ""

    def __str__(self) -> str:
        row = "-" if self.row <= 0 else str(self.row)
        shown = self.value if len(self.value) <= 60 else self.value[:57] + "..."
        return f"{self.file}:{row}:{self.column}: {self.rule} ({shown})"


_INT = re.compile(r"^[+-]?\d+$")
_DEC = re.compile(r"^[+-]?(\d+)(?:\.(\d+))?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"
# RE2 twins that accept a subset of what the Python patterns accept (ASCII digits only; RE2's ``$`` is
# the end of the text, Python's also allows a final newline): a value they accept needs no second look.
_INT_FAST = r"^[+-]?[0-9]+$"
_DEC_FAST = r"^[+-]?[0-9]+(?:\.[0-9]+)?$"
_DATE_FAST = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_OFFSET_FAST = r"(?:Z|[+-][0-9]{2}:?[0-9]{2})$"


# The characters for which ``str.isspace`` is true, i.e. those ``str.strip`` removes (Unicode 15; a test
# compares this with a scan of every code point, so a new Unicode version cannot slip by).
SPACES = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
          "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


@cache
def _edge_bytes() -> tuple[pa.Array, pa.Array]:
    """Bytes that may begin, and that may end, a value ``str.strip`` changes: the first and last UTF-8
    bytes of :data:`SPACES`."""
    encoded = [ch.encode() for ch in SPACES]
    first = sorted({b[:1] for b in encoded})
    last = sorted({b[-1:] for b in encoded})
    return pa.array(first, type=pa.binary()), pa.array(last, type=pa.binary())


def _edge_space(arr: pa.Array) -> np.ndarray:
    """Where a value may begin or end with a character ``str.strip`` removes (a superset: the caller
    strips those values with Python's own ``str.strip``)."""
    raw = arr.cast(pa.binary())
    first, last = _edge_bytes()
    return _mask(pc.or_(pc.is_in(pc.binary_slice(raw, 0, 1), value_set=first),
                        pc.is_in(pc.binary_slice(raw, -1), value_set=last)))


def _arrow(s: pd.Series) -> pa.Array | None:
    """The values as an Arrow string array, or None when they are not all Python strings."""
    try:
        arr = pa.array(s.to_numpy(dtype=object), type=pa.string())
    except (pa.ArrowException, TypeError, UnicodeEncodeError):
        return None
    return arr if arr.null_count == 0 else None


def _mask(result: pa.Array) -> np.ndarray:
    return np.asarray(result.to_numpy(zero_copy_only=False), dtype=bool)


def re2_match(s: pd.Series, pattern: str) -> np.ndarray:
    """Where the RE2 ``pattern`` matches (all False when the values are not all strings)."""
    arr = _arrow(s)
    if arr is None:
        return np.zeros(len(s), dtype=bool)
    return _mask(pc.match_substring_regex(arr, pattern))


def str_match(s: pd.Series, pattern: re.Pattern, fast: str) -> pd.Series:
    """Exactly ``s.str.match(pattern)`` for a Series of strings; RE2 ``fast`` decides the clean values."""
    arr = _arrow(s)
    if arr is None:
        return s.str.match(pattern)
    hit = _mask(pc.match_substring_regex(arr, fast))
    out = pd.Series(hit, index=s.index)
    if not hit.all():
        rest = s[~hit]
        out[~hit] = rest.str.match(pattern).to_numpy(dtype=bool)
    return out


def str_search(s: pd.Series, pattern: str, fast: str) -> pd.Series:
    """Exactly ``s.str.contains(pattern, regex=True)`` for a Series of strings (RE2 ``fast`` first)."""
    arr = _arrow(s)
    if arr is None:
        return s.str.contains(pattern, regex=True)
    hit = _mask(pc.match_substring_regex(arr, fast))
    out = pd.Series(hit, index=s.index)
    if not hit.all():
        out[~hit] = s[~hit].str.contains(pattern, regex=True).to_numpy(dtype=bool)
    return out


def str_len(s: pd.Series) -> pd.Series:
    """Exactly ``s.str.len()`` (code points) for a Series of strings, counted by Arrow."""
    arr = _arrow(s)
    if arr is None:
        return s.str.len()
    return pd.Series(pc.utf8_length(arr).to_numpy(zero_copy_only=False), index=s.index)


def str_strip(s: pd.Series) -> pd.Series:
    """Exactly ``s.str.strip()``: only values that begin or end with white space are touched."""
    arr = _arrow(s)
    if arr is None:
        return s.str.strip()
    edge = _edge_space(arr)
    if not edge.any():
        return s
    out = s.copy()
    out[edge] = s[edge].str.strip()
    return out


def strip_values(arr: pa.Array) -> np.ndarray:
    """Exactly ``str.strip()`` of each value of an Arrow string array (without nulls), as an object array.

    Each distinct value becomes one Python string that all its cells share: a national bundle repeats
    its codes, dates and patient codes many times, and shared strings take a fraction of the memory and
    hash once in every later ``merge``, ``isin`` and ``duplicated``.
    """
    encoded = arr.dictionary_encode()
    distinct = encoded.dictionary.to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(_edge_space(encoded.dictionary)).tolist():
        distinct[i] = distinct[i].strip()
    return distinct[encoded.indices.to_numpy()]


def _decimal_shape(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """For ``s.str.extract(_DEC)``: where it finds no number, and how many digits follow the dot
    (0 when none), computed exactly as the extract would but by Arrow for the clean values."""
    arr = _arrow(s)
    if arr is None:
        parts = s.str.extract(_DEC)
        return parts[0].isna(), parts[1].fillna("").str.len()
    hit = _mask(pc.match_substring_regex(arr, _DEC_FAST))
    dot = pc.find_substring(arr, ".").to_numpy(zero_copy_only=False)
    length = pc.utf8_length(arr).to_numpy(zero_copy_only=False)
    frac = np.where(dot >= 0, length - dot - 1, 0)
    not_num = pd.Series(~hit, index=s.index)
    frac_len = pd.Series(np.where(hit, frac, 0).astype(np.int64), index=s.index)
    if not hit.all():
        slow = s[~hit].str.extract(_DEC)
        not_num[~hit] = slow[0].isna().to_numpy()
        frac_len[~hit] = slow[1].fillna("").str.len().to_numpy(dtype=np.int64)
    return not_num, frac_len


class Collector:
    """Accumulates problems; ``flag`` turns a boolean mask over a frame into problems."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, file: str, row: int, column: str, rule: str, value: str = "") -> None:
        self.problems.append(Problem(file, int(row), column, rule, str(value)))

    def flag(self, frame: pd.DataFrame, mask, file: str, column: str, rule: str, value_col: str | None = None) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        bad = frame.loc[mask]
        rows = bad[ROW].to_numpy()
        values = bad[value_col or column].astype(str).to_numpy() if (value_col or column) in bad else [""] * len(bad)
        for r, v in zip(rows, values, strict=True):
            if not pd.isna(r):
                self.add(file, int(r), column, rule, v)


def check_cell_values(frame: pd.DataFrame, table: Table, file: str, out: Collector) -> pd.Series:
    """Check every cell against its column's type, code list, range and length.

    Returns a boolean Series: True for rows with no cell problem (later checks use only those).
    """
    ok = pd.Series(True, index=frame.index)
    for c in table.columns:
        s = frame[c.name]
        empty = s == ""
        if c.required:
            out.flag(frame, empty, file, c.name, "required value is missing")
            ok &= ~empty
        bad = _bad_cells(s[~empty], c)
        if bad is not None:
            for rule, mask in bad:
                if not mask.any():
                    continue
                idx = mask[mask].index
                m = frame.index.isin(idx)
                out.flag(frame, m, file, c.name, rule)
                ok &= ~m
    return ok


def _bad_cells(s: pd.Series, c: Column) -> list[tuple[str, pd.Series]] | None:
    if s.empty:
        return None
    found: list[tuple[str, pd.Series]] = []
    if c.kind == "code":
        found.append((f"not one of {', '.join(c.choices)}", ~s.isin(c.choices)))
    elif c.kind == "integer":
        not_int = ~str_match(s, _INT, _INT_FAST)
        found.append(("not a whole number", not_int))
        found += _range_rules(pd.to_numeric(s.where(~not_int), errors="coerce"), c)
    elif c.kind == "decimal":
        not_num, frac_len = _decimal_shape(s)
        found.append(("not a number (use a dot for decimals)", not_num))
        too_many = frac_len > (c.decimal_places or 0)
        found.append((f"more than {c.decimal_places} decimals", too_many & ~not_num))
        nums = pd.to_numeric(s.where(~not_num), errors="coerce")
        found += _range_rules(nums, c)
        if c.step is not None:
            off = ((nums / float(c.step)) % 1).abs() > 1e-9
            found.append((f"not in steps of {c.step}", off & nums.notna()))
    elif c.kind == "date":
        parsed = pd.to_datetime(s.where(str_match(s, _DATE, _DATE_FAST)), format="%Y-%m-%d", errors="coerce")
        found.append(("not a date (YYYY-MM-DD)", parsed.isna()))
        today = pd.Timestamp(dt.date.today())
        found.append(("date is in the future", parsed > today))
    elif c.kind == "datetime":
        parsed = pd.to_datetime(s, utc=True, format="ISO8601", errors="coerce")
        naive = ~str_search(s, _OFFSET, _OFFSET_FAST)
        found.append(("not an ISO 8601 date-time with offset (e.g. 2024-05-01T09:30:00+00:00)", parsed.isna() | naive))
    if c.max_length and c.kind in {"text", "reference", "code"}:
        found.append((f"longer than {c.max_length} characters", str_len(s) > c.max_length))
    return found


def _range_rules(nums: pd.Series, c: Column) -> list[tuple[str, pd.Series]]:
    rules = []
    rule = describe_rule(Column(c.name, c.kind, c.required, min_value=c.min_value, max_value=c.max_value,
                                min_exclusive=c.min_exclusive)).split("; ")
    text = "must be " + " and ".join(r for r in rule if r.startswith(("≥", ">", "≤")))
    out_of = pd.Series(False, index=nums.index)
    if c.min_value is not None:
        lo = float(c.min_value)
        out_of |= (nums <= lo) if c.min_exclusive else (nums < lo)
    if c.max_value is not None:
        out_of |= nums > float(c.max_value)
    if c.min_value is not None or c.max_value is not None:
        rules.append((text, out_of & nums.notna()))
    return rules


def check_header(frame_columns: list[str], table: Table, file: str, out: Collector) -> bool:
    """Every expected column present, none unknown. Returns True when the header is usable."""
    expected = table.column_names
    missing = [c for c in expected if c not in frame_columns]
    unknown = [c for c in frame_columns if c not in expected]
    for c in missing:
        out.add(file, 1, c, "required column is missing from the header")
    for c in unknown:
        out.add(file, 1, c, f"unknown column (expected: {', '.join(expected)})")
    return not missing


def check_unique(frame: pd.DataFrame, table: Table, file: str, out: Collector) -> bool:
    """A table's key identifies one row: report every repeat, naming the first row.

    Returns True when some key is repeated.
    """
    key = list(table.key)
    dup = frame.duplicated(key, keep="first")
    if not dup.any():
        return False
    first_rows = frame.loc[~frame.duplicated(key, keep="first")].set_index(key)[ROW]
    for _, r in frame.loc[dup].iterrows():
        k = tuple(r[c] for c in key)
        first = first_rows.loc[k] if len(key) > 1 else first_rows.loc[k[0]]
        out.add(file, int(r[ROW]), key[-1], f"duplicate key ({', '.join(key)}) already on row {int(first)}",
                "/".join(k))
    return True


def all_tables() -> dict[str, Table]:
    return tables()
