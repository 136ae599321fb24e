"""Validation of a whole bundle before anything is written.

Every problem is collected — not only the first — as ``FILE:ROW:COLUMN: rule (value)``, where ROW is the
line number in the file (the header is line 1). Checks are vectorised with pandas so a national
registry's bundle validates in seconds.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

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
        not_int = ~s.str.match(_INT)
        found.append(("not a whole number", not_int))
        found += _range_rules(pd.to_numeric(s.where(~not_int), errors="coerce"), c)
    elif c.kind == "decimal":
        parts = s.str.extract(_DEC)
        not_num = parts[0].isna()
        found.append(("not a number (use a dot for decimals)", not_num))
        too_many = parts[1].fillna("").str.len() > (c.decimal_places or 0)
        found.append((f"more than {c.decimal_places} decimals", too_many & ~not_num))
        nums = pd.to_numeric(s.where(~not_num), errors="coerce")
        found += _range_rules(nums, c)
        if c.step is not None:
            off = ((nums / float(c.step)) % 1).abs() > 1e-9
            found.append((f"not in steps of {c.step}", off & nums.notna()))
    elif c.kind == "date":
        parsed = pd.to_datetime(s.where(s.str.match(_DATE)), format="%Y-%m-%d", errors="coerce")
        found.append(("not a date (YYYY-MM-DD)", parsed.isna()))
        today = pd.Timestamp(dt.date.today())
        found.append(("date is in the future", parsed > today))
    elif c.kind == "datetime":
        parsed = pd.to_datetime(s, utc=True, format="ISO8601", errors="coerce")
        naive = ~s.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True)
        found.append(("not an ISO 8601 date-time with offset (e.g. 2024-05-01T09:30:00+00:00)", parsed.isna() | naive))
    if c.max_length and c.kind in {"text", "reference", "code"}:
        found.append((f"longer than {c.max_length} characters", s.str.len() > c.max_length))
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


def check_unique(frame: pd.DataFrame, table: Table, file: str, out: Collector) -> None:
    """A table's key identifies one row: report every repeat, naming the first row."""
    key = list(table.key)
    dup = frame.duplicated(key, keep="first")
    if not dup.any():
        return
    first_rows = frame.loc[~frame.duplicated(key, keep="first")].set_index(key)[ROW]
    for _, r in frame.loc[dup].iterrows():
        k = tuple(r[c] for c in key)
        first = first_rows.loc[k] if len(key) > 1 else first_rows.loc[k[0]]
        out.add(file, int(r[ROW]), key[-1], f"duplicate key ({', '.join(key)}) already on row {int(first)}",
                "/".join(k))


def all_tables() -> dict[str, Table]:
    return tables()
