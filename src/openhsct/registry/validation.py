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
        """Returns ``FILE:ROW:COLUMN: rule (value)``, each user-given part cut to a readable length and
        control characters shown escaped (a 1 MB cell or a name with line breaks is never echoed)."""
        row = "-" if self.row <= 0 else str(self.row)
        return f"{_shown(self.file, 80)}:{row}:{_shown(self.column, 80)}: {self.rule} ({_shown(self.value, 60)})"


def _shown(text: str, limit: int) -> str:
    """Returns ``text`` cut to ``limit`` characters (with "...") and its control characters escaped."""
    cut = text if len(text) <= limit else text[:limit - 3] + "..."
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in cut):
        cut = "".join(ch if ord(ch) >= 32 and ord(ch) != 127 else f"\\x{ord(ch):02x}" for ch in cut)
    return cut


# ASCII digits only: ``\d`` alone would take full-width "１９８６" or Arabic-Indic "٣" for digits
_INT = re.compile(r"^[+-]?\d+$", re.ASCII)
_DEC = re.compile(r"^[+-]?(\d+)(?:\.(\d+))?$", re.ASCII)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_OFFSET = r"(?a:Z|[+-]\d{2}:?\d{2})$"
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
        bad = _bad_cells(s[~empty], c, _storage(table, c))
        if bad is not None:
            for rule, mask in bad:
                if not mask.any():
                    continue
                idx = mask[mask].index
                m = frame.index.isin(idx)
                out.flag(frame, m, file, c.name, rule)
                ok &= ~m
    return ok


# Rule texts shared by the import, the clinic forms and the admin (a test compares the three).
NON_ASCII_DIGITS = "digits must be 0–9 (full-width, Arabic-Indic and other non-ASCII digits are refused)"
NOT_FINITE = "not a finite number (NaN and infinity are refused)"
EXPONENT = "not a plain number (write it without an exponent such as 1e5)"
NOT_NUMBER = "not a number (use a dot for decimals)"
NOT_WHOLE = "not a whole number"
NUL_CHARACTER = "contains a NUL character"
FUTURE_DATE = "date is in the future"
UNREADABLE_NUMBER = "too many digits: not a number the registry can hold"

# The largest whole number each integer field holds on every supported database (PostgreSQL's limits).
_INTEGER_MAX = {"SmallIntegerField": 32767, "PositiveSmallIntegerField": 32767, "IntegerField": 2147483647,
                "PositiveIntegerField": 2147483647, "BigIntegerField": 9223372036854775807,
                "PositiveBigIntegerField": 9223372036854775807}


@dataclass(frozen=True)
class Storage:
    """What the database column of an exchange column holds: digits before the decimal point (decimals)
    and the largest whole number (integers); None where not limited."""

    int_digits: int | None = None
    int_max: int | None = None


def _storage(table: Table, c: Column) -> Storage:
    """The storage limits of ``c`` in ``table``'s model (see :class:`Storage`)."""
    if c.field_name is None or c.kind not in {"decimal", "integer"}:
        return Storage()
    f = table.model._meta.get_field(c.field_name)
    if c.kind == "decimal":
        return Storage(int_digits=f.max_digits - f.decimal_places)
    return Storage(int_max=_INTEGER_MAX.get(f.get_internal_type()))


def non_ascii_digits(s: pd.Series) -> pd.Series:
    """Where a value holds a Unicode digit other than 0–9 (full-width ``１``, Arabic-Indic ``٣`` …)."""
    candidate = re2_match(s, r"[^\x00-\x7f]")
    out = pd.Series(False, index=s.index)
    if candidate.any():
        out[candidate] = s[candidate].map(lambda v: any(ch.isdigit() and not ch.isascii() for ch in str(v))
                                          ).to_numpy(dtype=bool)
    return out


def _has_nul(s: pd.Series) -> pd.Series:
    """Where a value holds a NUL character (PostgreSQL cannot store one in text)."""
    arr = _arrow(s)
    if arr is None:
        return s.astype(str).str.contains("\x00", regex=False)
    return pd.Series(_mask(pc.match_substring(arr, "\x00")), index=s.index)


def _not_a_number(s: pd.Series, wrong: pd.Series, generic: str) -> list[tuple[str, pd.Series]]:
    """Why each ``wrong`` value is not a number: not finite, an exponent, or ``generic``."""
    text = s[wrong].str.strip().str.lower().str.lstrip("+-")
    finite = text.isin({"nan", "inf", "infinity", "snan", "qnan"})
    exponent = ~finite & text.str.fullmatch(r"(?a:\d+(?:\.\d*)?|\.\d+)e[+-]?\d+")
    rest = ~finite & ~exponent
    return [(NOT_FINITE, _spread(finite, s.index)), (EXPONENT, _spread(exponent, s.index)),
            (generic, _spread(rest, s.index))]


def _spread(mask: pd.Series, index: pd.Index) -> pd.Series:
    """``mask`` over a subset, as a mask over ``index`` (False elsewhere)."""
    out = pd.Series(False, index=index)
    out[mask.index[mask.to_numpy(dtype=bool)]] = True
    return out


def _bad_cells(s: pd.Series, c: Column, storage: Storage = Storage()) -> list[tuple[str, pd.Series]] | None:
    if s.empty:
        return None
    found: list[tuple[str, pd.Series]] = []
    if c.kind in {"integer", "decimal", "date", "datetime"}:
        foreign = non_ascii_digits(s)
        if foreign.any():  # one clear message for these, not also "not a number"
            found.append((NON_ASCII_DIGITS, foreign))
            s = s[~foreign]
    if c.kind == "code":
        found.append((f"not one of {', '.join(c.choices)}", ~s.isin(c.choices)))
    elif c.kind == "integer":
        not_int = ~str_match(s, _INT, _INT_FAST)
        found += _not_a_number(s, not_int, NOT_WHOLE)
        nums = pd.to_numeric(s.where(~not_int), errors="coerce")
        found.append((UNREADABLE_NUMBER, ~not_int & nums.isna()))
        found += _range_rules(nums, c)
        if storage.int_max is not None and c.max_value is None:
            found.append((f"must be ≤ {storage.int_max} (the largest number the field holds)",
                          nums.abs() > storage.int_max))
    elif c.kind == "decimal":
        found += _decimal_rules(s, c, storage)
    elif c.kind == "date":
        parsed = pd.to_datetime(s.where(str_match(s, _DATE, _DATE_FAST)), format="%Y-%m-%d", errors="coerce")
        found.append(("not a date (YYYY-MM-DD)", parsed.isna()))
        found.append((FUTURE_DATE, parsed > pd.Timestamp(today())))
    elif c.kind == "datetime":
        parsed = pd.to_datetime(s, utc=True, format="ISO8601", errors="coerce")
        naive = ~str_search(s, _OFFSET, _OFFSET_FAST)
        found.append(("not an ISO 8601 date-time with offset (e.g. 2024-05-01T09:30:00+00:00)", parsed.isna() | naive))
        found.append((FUTURE_DATE, parsed > pd.Timestamp.now(tz="UTC")))
    if c.kind == "text":
        found += identifier_rules(s)
    if c.kind in {"text", "reference", "code"}:
        if c.max_length:
            found.append((f"longer than {c.max_length} characters", str_len(s) > c.max_length))
        found.append((NUL_CHARACTER, _has_nul(s)))
    return found


# Free text that looks like a direct identifier (docs/security.md, "Identifiers never enter"): RE2
# patterns, searched anywhere in the cell.
IDENTIFIER_PATTERNS = (
    ("looks like an e-mail address: free text must not hold direct identifiers",
     r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    ("looks like a phone number (9 or more digits): free text must not hold direct identifiers",
     r"(?:^|[^0-9A-Za-z])\+?[0-9](?:[ ().-]{0,2}[0-9]){8,}"),
    ("looks like a full date (a date of birth?): free text must not hold dates; use the date columns",
     r"(?:^|[^0-9])(?:[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}|[0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{2,4})(?:$|[^0-9])"),
)


def identifier_rules(s: pd.Series) -> list[tuple[str, pd.Series]]:
    """Returns (rule, mask) for free-text values that look like an e-mail address, a phone number or
    a full date; a value is named under the first pattern it matches."""
    found = []
    taken = np.zeros(len(s), dtype=bool)
    for rule, pattern in IDENTIFIER_PATTERNS:
        hit = re2_match(s, pattern) & ~taken
        taken |= hit
        found.append((rule, pd.Series(hit, index=s.index)))
    return found


def _decimal_rules(s: pd.Series, c: Column, storage: Storage) -> list[tuple[str, pd.Series]]:
    """Shape, decimals, digits the column holds, range and step of decimal cells."""
    not_num, frac_len = _decimal_shape(s)
    found = _not_a_number(s, not_num, NOT_NUMBER)
    too_many = frac_len > (c.decimal_places or 0)
    found.append((f"more than {c.decimal_places} decimals", too_many & ~not_num))
    nums = pd.to_numeric(s.where(~not_num), errors="coerce")
    found.append((UNREADABLE_NUMBER, ~not_num & nums.isna()))
    if storage.int_digits is not None:
        found.append((f"too many digits: at most {storage.int_digits} before the decimal point",
                      nums.abs() >= 10.0 ** storage.int_digits))
    found += _range_rules(nums, c)
    if c.step is not None:
        off = ((nums / float(c.step)) % 1).abs() > 1e-9
        found.append((f"not in steps of {c.step}", off & nums.notna()))
    return found


def today() -> dt.date:
    """Today's date where the registry is (Django's ``TIME_ZONE``; the machine's date outside Django)."""
    from django.core.exceptions import ImproperlyConfigured
    from django.utils import timezone

    try:
        return timezone.localdate()
    except ImproperlyConfigured:
        return dt.date.today()


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


# ---------------------------------------------------------------------------------- numbers typed in forms

AMBIGUOUS_COMMA = "ambiguous number: a comma before exactly three digits may separate thousands; write 1500 or 1.5"
THOUSANDS = "write numbers without thousands separators (1500, not 1,500 or 1 500)"
_DECIMAL_COMMA = re.compile(r"[+-]?[0-9]+,[0-9]+", re.ASCII)
_SEPARATORS = ",. '\u2019\u00a0\u202f\u2009"  # comma, dot, space, apostrophes, no-break and thin spaces
_GROUPED = re.compile(r"[0-9][, '\u2019\u00a0\u202f\u2009][0-9]{3}(?![0-9])|[0-9],[0-9]+\.|[0-9]\.[0-9]+,", re.ASCII)


class NumberEntryError(ValueError):
    """A number typed in a form whose separators cannot be read safely; ``rule`` says why."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


def number_from_form(text: str) -> str:
    """The exchange text of a number a person typed: a decimal comma is read as the decimal mark
    (``3,5`` → ``3.5``), never dropped (which would read 35). Returns other text unchanged, for the cell
    rules to judge.

    Raises :class:`NumberEntryError` for a thousands separator (``1 500``, ``1.500,5``, ``1,500.5``) or
    a comma before exactly three digits (``1,500``: 1500 or 1.5?), rather than guess.
    """
    value = text.strip()
    if _DECIMAL_COMMA.fullmatch(value):
        if len(value.rsplit(",", 1)[1]) == 3:
            raise NumberEntryError(AMBIGUOUS_COMMA)
        return value.replace(",", ".")
    if re.fullmatch(rf"[+-]?[0-9][0-9{_SEPARATORS}]*", value) and _GROUPED.search(value):
        raise NumberEntryError(THOUSANDS)
    return value
