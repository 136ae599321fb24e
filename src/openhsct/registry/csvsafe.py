"""The one CSV writer of OpenHSCT: RFC 4180 files that are safe to open in a spreadsheet.

Every CSV the project writes — exchange bundles, portal downloads, report tables, release archives,
clinic and audit exports — goes through :func:`write_csv` or :func:`csv_text`:

* RFC 4180 quoting (a cell holding a comma, quote, CR or LF is quoted, quotes doubled), LF line ends
  unless a caller asks for CRLF, UTF-8;
* in **text** columns a value that begins with ``=``, ``+``, ``-``, ``@``, Tab, CR, LF or ``'`` gets one
  leading ``'``. These are the formula triggers of OWASP's "CSV Injection" page plus the quote itself,
  so the escape is undone exactly: import removes exactly one leading ``'`` from text columns
  (:func:`unescape_text`), and import of an export is the identity;
* **numeric and date** columns are written as they are (typed), so ``-0.5`` stays a number.

A column is text unless the caller names it numeric; for exchange tables the data dictionary's column
kinds decide (:func:`frame_csv`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

#: OWASP's formula trigger characters plus the escape quote itself.
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "'")


def escape_cell(value: object) -> str:
    """Returns the text of a text cell, with one leading ``'`` when it begins with a trigger."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(TRIGGERS) else text


def unescape_cell(text: str) -> str:
    """Returns ``text`` without exactly one leading ``'`` (the inverse of :func:`escape_cell`)."""
    return text[1:] if text.startswith("'") else text


def unescape_text(values: pd.Series) -> pd.Series:
    """:func:`unescape_cell` over a column of strings, stripped again afterwards (stored text never
    begins or ends with white space). Returns a Series; untouched when no value begins with ``'``."""
    quoted = values.str.startswith("'").fillna(False).to_numpy(dtype=bool)
    if not quoted.any():
        return values
    out = values.copy()
    out[quoted] = values[quoted].str[1:].str.strip()
    return out


def _cell(value: object, text: bool) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return escape_cell(value) if text else str(value)


_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def _numeric_by_content(columns: list[list[str]]) -> list[bool]:
    """Returns, per column, whether every filled cell is a plain number (then it is written typed)."""
    return [any(columns_cell != "" for columns_cell in col)
            and all(v == "" or _NUMBER.fullmatch(v) is not None for v in col) for col in columns]


def rows_text(header: Sequence[str], rows: Iterable[Sequence[object]], *, numeric: Iterable[str] | None = None,
              lineterminator: str = "\n") -> str:
    """Returns safe CSV text of ``header`` and ``rows``. Columns named in ``numeric`` are written
    unescaped; by default, the columns whose every filled cell is a plain number."""
    names = [str(h) for h in header]
    raw = [["" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v) for v in row] for row in rows]
    columns = [list(col) for col in zip(*raw, strict=True)] if raw else [[] for _ in names]
    typed = (_numeric_by_content(columns) if numeric is None
             else [n in set(numeric) for n in names])
    frame = pd.DataFrame({i: col for i, col in enumerate(columns)}, dtype=object)
    frame.columns = names if len(set(names)) == len(names) else list(range(len(names)))
    text = csv_text(frame, numeric=[str(frame.columns[i]) for i, t in enumerate(typed) if t],
                    lineterminator=lineterminator)
    if list(frame.columns) != names:  # repeated header names: write the real header line
        first, _, rest = text.partition(lineterminator)
        text = ",".join(_quote(n) for n in names) + lineterminator + rest
    return text


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    """Returns the columns of ``frame`` whose dtype is numeric, boolean or a date (written typed)."""
    return [str(c) for c in frame.columns
            if pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_datetime64_any_dtype(frame[c])]


def escape_frame(frame: pd.DataFrame, numeric: Iterable[str]) -> pd.DataFrame:
    """Returns a copy of ``frame`` whose text columns (all but ``numeric``) carry the escape."""
    typed = set(numeric)
    out = frame.copy()
    for c in frame.columns:
        if str(c) in typed:
            continue
        s = frame[c]
        text = s.astype(object).where(s.notna(), "").astype(str)
        hit = text.str.startswith(TRIGGERS).to_numpy(dtype=bool)
        if hit.any():
            text = text.copy()
            text[hit] = "'" + text[hit]
        out[c] = text.where(s.notna(), None) if s.isna().any() else text
    return out


def _quote(value: str) -> str:
    """Returns one RFC 4180 cell: quoted (quotes doubled) when it holds a comma, quote, CR or LF."""
    return '"' + value.replace('"', '""') + '"' if any(ch in value for ch in '",\r\n') else value


def _column_cells(s: pd.Series) -> list[str]:
    """Returns a column's cells as RFC 4180 text (missing values empty)."""
    values = ["" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v) for v in s.tolist()]
    if any(ch in "\x1f".join(values) for ch in '",\r\n'):  # one scan of the whole column
        values = [_quote(v) for v in values]
    return values


def _typed_cells(s: pd.Series) -> list[str]:
    """Returns a typed (numeric, boolean or date) column's cells exactly as pandas writes them."""
    lines = s.to_frame().to_csv(index=False, header=False, lineterminator="\n").split("\n")[:-1]
    return ["" if v == '""' else v for v in lines]


def csv_text(frame: pd.DataFrame, *, numeric: Iterable[str] | None = None, lineterminator: str = "\n") -> str:
    """Returns ``frame`` as safe CSV text (no index): RFC 4180 quoting of every cell that holds a comma,
    quote, CR or LF (Python's csv module leaves a lone CR unquoted), the formula escape in text columns.
    ``numeric`` names the typed columns; by default the frame's numeric and date dtypes."""
    typed = numeric_columns(frame) if numeric is None else list(numeric)
    safe = escape_frame(frame, typed)
    header = lineterminator.join([",".join(_quote(str(c)) for c in safe.columns)])
    if not len(safe):
        return header + lineterminator
    kept = {str(c) for c in typed}
    cols = [_typed_cells(safe[c]) if str(c) in kept and safe[c].dtype != object else _column_cells(safe[c])
            for c in safe.columns]
    lines = [",".join(row) if row != ("",) else '""' for row in zip(*cols, strict=True)]
    return header + lineterminator + lineterminator.join(lines) + lineterminator


def exchange_numeric(columns) -> list[str]:
    """Returns the names of the exchange columns (see :mod:`openhsct.registry.exchange`) that are not
    text: integers, decimals, dates and date-times."""
    return [c.name for c in columns if c.kind not in {"text", "code", "reference"}]


def frame_csv(frame: pd.DataFrame, columns) -> str:
    """Returns an exchange table (canonical text, columns as ``columns``) as safe CSV text."""
    names = [c.name for c in columns]
    return csv_text(frame[names], numeric=exchange_numeric(columns))


def write_csv(path: Path, frame: pd.DataFrame, *, numeric: Iterable[str] | None = None) -> Path:
    """Write ``frame`` to ``path`` as safe UTF-8 CSV (see :func:`csv_text`); returns ``path``."""
    Path(path).write_text(csv_text(frame, numeric=numeric), encoding="utf-8", newline="")
    return Path(path)


def csv_response(text: str, filename: str):
    """Returns a Django download of CSV ``text``: attachment, ``text/csv; charset=utf-8``, nosniff."""
    from django.http import HttpResponse

    response = HttpResponse(text.encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
