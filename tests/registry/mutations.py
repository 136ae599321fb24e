"""A catalogue of mutations of a valid exchange bundle, for the import fuzz tests.

A bundle is held in memory as :class:`Bundle`: per table file, its header and rows of *raw CSV cell
text* (already quoted where needed), plus whole-file byte transforms. Each mutation changes one place
and returns the :class:`Expect` it must trigger — the ``FILE:ROW:COLUMN`` the import must name and a
regular expression its rule text must match — or, for mutations that keep the data valid (a byte-order
mark, CRLF line ends, reordered columns, escaped formula text), ``None`` and the change the export must
show instead.

Kinds: ``cell`` mutations change one cell of one row (several may share a file, never a row);
``line`` mutations break one row's CSV shape (the strict reader names the row and reads on);
``file`` mutations own their whole file (nothing else touches it).
"""

from __future__ import annotations

import csv
import io
import random
import re
from dataclasses import dataclass, field

from openhsct.registry.exchange import Column, Table, tables
from openhsct.registry.validation import NON_ASCII_DIGITS

# Free-text columns (no code list, no item rule, not a key): where identifiers and formulas may hide.
FREE_TEXT = {("centres", "name"), ("centres", "city"), ("eligibility", "reason"), ("mobilisations", "regimen"),
             ("cell_products", "storage_location"), ("custody_events", "performed_by"),
             ("custody_events", "location"), ("deaths", "cause"), ("late_effects", "description")}


@dataclass(frozen=True)
class Expect:
    """Where the import must report an injected error: file, line (``-`` for a whole file), column
    (``-`` for none) and a regular expression over the rule text."""

    file: str
    row: str
    column: str
    rule: str

    @property
    def prefix(self) -> str:
        """Returns the ``FILE:ROW:COLUMN: `` start of the report line."""
        return f"{self.file}:{self.row}:{self.column}: "

    def found_in(self, lines: list[str]) -> bool:
        """Returns whether some report line is at this place and matches the rule."""
        return any(line.startswith(self.prefix) and re.search(self.rule, line[len(self.prefix):])
                   for line in lines)


def quote(value: str) -> str:
    """Returns ``value`` as one RFC 4180 cell (quoted only where needed)."""
    return '"' + value.replace('"', '""') + '"' if any(ch in value for ch in '",\r\n') else value


@dataclass
class TableFile:
    """One table file: header, rows of raw cell text, an optional whole-file replacement."""

    name: str
    header: list[str]
    rows: list[list[str]]
    file_name: str = ""
    raw: bytes | None = None
    bom: bool = False
    crlf: bool = False
    latin1_at: tuple[int, int] | None = None  # (row index, field): a Latin-1 byte placed in that cell
    owner: str = ""  # the file-kind mutation that owns this file
    touched_rows: set[int] = field(default_factory=set)
    appended: bool = False

    def to_bytes(self) -> bytes:
        """Returns the file's bytes after every mutation."""
        if self.raw is not None:
            return self.raw
        end = "\r\n" if self.crlf else "\n"
        lines = [",".join(quote(h) for h in self.header)] + [",".join(r) for r in self.rows]
        data = (end.join(lines) + end).encode("utf-8")
        if self.latin1_at is not None:
            data = data.replace("\u00e9".encode(), b"\xe9")
        return (b"\xef\xbb\xbf" if self.bom else b"") + data


@dataclass
class Bundle:
    """A bundle being mutated: its files, extra files, and the cells the export must show changed."""

    files: dict[str, TableFile]
    extra: dict[str, bytes] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)
    exported: dict[tuple[str, int, str], str] = field(default_factory=dict)  # (table, row, column) → text

    @classmethod
    def from_bytes(cls, contents: dict[str, bytes]) -> Bundle:
        """Returns the bundle of ``<table>.csv`` contents (valid, as ``openhsct synth`` writes them)."""
        files = {}
        for fname, data in contents.items():
            name = fname.removesuffix(".csv")
            rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
            files[name] = TableFile(name, rows[0], [[quote(v) for v in r] for r in rows[1:]], fname)
        return cls(files)

    def write(self, folder) -> None:
        """Write every file into ``folder``. Returns nothing."""
        for name, f in self.files.items():
            (folder / self.renamed.get(name, f.file_name)).write_bytes(f.to_bytes())
        for fname, data in self.extra.items():
            (folder / fname).write_bytes(data)


@dataclass(frozen=True)
class Mutation:
    """A named change; ``apply(bundle, rng)`` returns its :class:`Expect`, None when the bundle stays
    valid, or raises :class:`NotApplicable`."""

    name: str
    kind: str  # cell | line | file | extra
    apply: object


class NotApplicable(Exception):  # noqa: N818 - a signal, not an error
    """The mutation has no place to act in this bundle."""


# ------------------------------------------------------------------------------------------ choosing


def _columns(table: Table, kinds: set[str], *, keys: bool = False) -> list[Column]:
    return [c for c in table.columns if c.kind in kinds and (keys or c.name not in table.key)]


def _free_cell(b: Bundle, rng: random.Random, pick, *, nonempty: bool = True,
               free_text: bool = False) -> tuple[TableFile, int, int, Column]:
    """A row not yet touched, in a file no file-kind mutation owns, and one of its columns chosen by
    ``pick(table) -> columns``. Returns (file, row index, field index, column)."""
    options = []
    for name, f in b.files.items():
        if f.owner or not f.rows:
            continue
        table = tables()[name]
        cols = [c for c in pick(table) if not free_text or (name, c.name) in FREE_TEXT]
        if cols and f.header == table.column_names:
            options.append((f, table, cols))
    rng.shuffle(options)
    for f, _table, cols in options:
        rows = [i for i in range(len(f.rows)) if i not in f.touched_rows]
        rng.shuffle(rows)
        for i in rows[:8]:
            rng.shuffle(cols)
            for c in cols:
                j = f.header.index(c.name)
                if not nonempty or f.rows[i][j] != "":
                    f.touched_rows.add(i)
                    return f, i, j, c
    raise NotApplicable


def _set(b: Bundle, rng, pick, value, rule: str, **kw) -> Expect:
    f, i, j, c = _free_cell(b, rng, pick, **kw)
    text = value(f.rows[i][j], c) if callable(value) else value
    f.rows[i][j] = text
    return Expect(f.file_name, str(i + 2), c.name, rule)


def _numeric(t: Table) -> list[Column]:
    return _columns(t, {"integer", "decimal"})


def _dates(t: Table) -> list[Column]:
    return _columns(t, {"date"})


def _digits(text: str, zero: str) -> str:
    return "".join(chr(ord(zero) + int(ch)) if ch.isdigit() else ch for ch in text)


# ---------------------------------------------------------------------------------------- bad values

def not_a_number(b, rng):
    return _set(b, rng, _numeric, "abc", r"not a (whole )?number")


def full_width(b, rng):
    return _set(b, rng, lambda t: _numeric(t) + _dates(t), lambda v, c: _digits(v, "\uff10"),
                re.escape(NON_ASCII_DIGITS))


def arabic_indic(b, rng):
    return _set(b, rng, lambda t: _numeric(t) + _dates(t), lambda v, c: _digits(v, "\u0660"),
                re.escape(NON_ASCII_DIGITS))


def four_hundred_digits(b, rng):
    return _set(b, rng, _numeric, "9" * 400, r"digits|must be|number")


def exponent(b, rng):
    return _set(b, rng, _numeric, rng.choice(["1e309", "1e5", "-2E3"]), r"exponent|finite")


def not_finite(b, rng):
    return _set(b, rng, _numeric, rng.choice(["NaN", "inf", "-Infinity"]), r"finite")


def too_precise(b, rng):
    def value(v, c):
        return "1." + "1" * ((c.decimal_places or 0) + 3)
    return _set(b, rng, lambda t: _columns(t, {"decimal"}), value, r"more than \d+ decimals")


def out_of_range(b, rng):
    def pick(t):
        return [c for c in _numeric(t) if c.max_value is not None]
    return _set(b, rng, pick, lambda v, c: str(int(c.max_value) + 1), r"must be")


def year_zero(b, rng):
    return _set(b, rng, _dates, "0000-01-01", r"not a date")


def future_date(b, rng):
    return _set(b, rng, _dates, "2099-01-01", r"in the future")


def unknown_code(b, rng):
    return _set(b, rng, lambda t: _columns(t, {"code"}), "zz_unknown", r"not one of")


def markup_number(b, rng):
    return _set(b, rng, _numeric, rng.choice(["[/bold]1", "[/]", ":100:", "[red]x"]), r"not a (whole )?number")


def huge_cell(b, rng):
    def pick(t):
        return [c for c in _columns(t, {"text"}) if c.max_length]
    return _set(b, rng, pick, "x" * 1_000_000, r"longer than \d+ characters")


def dangling_patient(b, rng):
    def pick(t):
        return [] if t.name in {"centres", "patients"} else [t.column("patient_code")]
    f, i, j, c = _free_cell(b, rng, pick)
    if f.appended:
        raise NotApplicable
    f.rows[i][j] = "ZZNOPE9"
    return Expect(f.file_name, str(i + 2), "patient_code", r"no such patient")


def duplicate_key(b, rng):
    options = [f for f in b.files.values() if f.rows and not f.owner and not f.appended
               and f.header == tables()[f.name].column_names]
    if not options:
        raise NotApplicable
    f = rng.choice(options)
    free = [i for i in range(len(f.rows)) if i not in f.touched_rows]
    if not free:
        raise NotApplicable
    i = rng.choice(free)
    f.touched_rows.add(i)
    f.rows.append(list(f.rows[i]))
    f.touched_rows.add(len(f.rows) - 1)
    f.appended = True
    key = tables()[f.name].key
    return Expect(f.file_name, str(len(f.rows) + 1), key[-1], r"duplicate key")


# ---------------------------------------------------------------------------------- dangerous text

def email_text(b, rng):
    return _set(b, rng, lambda t: _columns(t, {"text"}), "contact jane.doe@example.org", r"e-mail",
                free_text=True)


def phone_text(b, rng):
    return _set(b, rng, lambda t: _columns(t, {"text"}), rng.choice(["tel +44 20 7946 0958", "0612345678 9"]),
                r"phone", free_text=True)


def birth_date_text(b, rng):
    return _set(b, rng, lambda t: _columns(t, {"text"}), rng.choice(["born 12/03/1985", "dob 1985-03-12"]),
                r"full date", free_text=True)


def formula_text(b, rng):
    """Formula text is kept as text and exported with one leading ``'`` (None: the bundle stays valid)."""
    value = rng.choice(['=HYPERLINK("http://example.org","x")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-x"])
    f, i, j, c = _free_cell(b, rng, lambda t: _columns(t, {"text"}), free_text=True)
    f.rows[i][j] = quote(value)
    b.exported[(f.name, i, c.name)] = "'" + value
    return None


def escaped_formula(b, rng):
    """A cell already escaped (``'=1+2``) imports as ``=1+2`` and exports unchanged."""
    f, i, j, c = _free_cell(b, rng, lambda t: _columns(t, {"text"}), free_text=True)
    f.rows[i][j] = "'=1+2"
    b.exported[(f.name, i, c.name)] = "'=1+2"
    return None


# ---------------------------------------------------------------------------------- bad shape (lines)

def _line_target(b, rng) -> tuple[TableFile, int, int, Column]:
    return _free_cell(b, rng, lambda t: [c for c in t.columns if c.name not in t.key], nonempty=False)


def short_row(b, rng):
    f, i, _, _ = _line_target(b, rng)
    width = len(f.header)
    k = rng.randint(1, width - 1)
    f.rows[i] = f.rows[i][: width - k]
    return Expect(f.file_name, str(i + 2), f.header[width - k], r"has \d+ field\(s\); the header has")


def long_row(b, rng):
    f, i, _, _ = _line_target(b, rng)
    f.rows[i] = [*f.rows[i], "extra"]
    return Expect(f.file_name, str(i + 2), f.header[-1], r"has \d+ field\(s\); the header has")


def nul_byte(b, rng):
    f, i, j, c = _line_target(b, rng)
    v = f.rows[i][j]
    f.rows[i][j] = (v[:1] + "\x00" + v[1:]) if v and not v.startswith('"') else "7\x000"
    return Expect(f.file_name, str(i + 2), c.name, r"NUL character")


def bare_cr(b, rng):
    f, i, j, c = _line_target(b, rng)
    v = f.rows[i][j]
    f.rows[i][j] = "SY\rN02" if len(v) < 2 or v.startswith('"') else v[:1] + "\r" + v[1:]
    return Expect(f.file_name, str(i + 2), c.name, r"carriage return")


def embedded_newline(b, rng):
    f, i, j, c = _line_target(b, rng)
    f.rows[i][j] = '"a' + rng.choice(["\n", "\r\n", "\r"]) + 'b"'
    return Expect(f.file_name, str(i + 2), c.name, r"line break")


def stray_quote(b, rng):
    f, i, j, c = _line_target(b, rng)
    f.rows[i][j] = 'x"y'
    return Expect(f.file_name, str(i + 2), c.name, r"quote")


# -------------------------------------------------------------------------------- bad bytes and files

def _own_file(b, rng, name: str, *, rows: bool = True) -> TableFile:
    options = [f for f in b.files.values() if not f.owner and not f.touched_rows and (f.rows or not rows)]
    if not options:
        raise NotApplicable
    f = rng.choice(options)
    f.owner = name
    return f


def unbalanced_quote(b, rng):
    f = _own_file(b, rng, "unbalanced_quote")
    i = rng.randrange(len(f.rows))
    j = rng.randrange(len(f.header))
    f.rows[i][j] = '"' + f.rows[i][j].strip('"').replace('"', "")
    return Expect(f.file_name, str(i + 2), f.header[j], r"quote|line break")


def latin1(b, rng):
    f = _own_file(b, rng, "latin1")
    i = rng.randrange(len(f.rows))
    j = rng.randrange(len(f.header))
    before = [*f.header, *(c for r in f.rows[: i + 1] for c in r)]
    if any(ord(ch) > 127 for c in before for ch in c) or any("\u00e9" in c for r in f.rows for c in r):
        raise NotApplicable  # the first byte that is not UTF-8 must be the injected one
    f.rows[i][j] = "Caf\u00e9"
    f.latin1_at = (i, j)
    return Expect(f.file_name, str(i + 2), f.header[j], r"not UTF-8")


def utf16(b, rng):
    f = _own_file(b, rng, "utf16")
    f.raw = f.to_bytes().decode("utf-8").encode("utf-16")
    return Expect(f.file_name, "1", "-", r"UTF-16")


def empty_file(b, rng):
    f = _own_file(b, rng, "empty_file", rows=False)
    f.raw = b""
    return Expect(f.file_name, "1", "-", r"empty")


def missing_column(b, rng):
    f = _own_file(b, rng, "missing_column")
    table = tables()[f.name]
    cols = [c.name for c in table.columns if c.name not in table.key]
    if not cols:
        raise NotApplicable
    name = rng.choice(cols)
    j = f.header.index(name)
    f.header.pop(j)
    for r in f.rows:
        r.pop(j)
    return Expect(f.file_name, "1", name, r"required column is missing")


def extra_column(b, rng):
    f = _own_file(b, rng, "extra_column")
    name = rng.choice(["email", "full_name", "date_of_birth", "nhs_number"])
    f.header.append(name)
    for r in f.rows:
        r.append("x")
    return Expect(f.file_name, "1", name, r"unknown column")


def renamed_column(b, rng):
    f = _own_file(b, rng, "renamed_column")
    j = rng.randrange(len(f.header))
    old = f.header[j]
    f.header[j] = old.upper() + "_X"
    return Expect(f.file_name, "1", old, r"required column is missing")


def upper_case_name(b, rng):
    f = _own_file(b, rng, "upper_case_name", rows=False)
    b.renamed[f.name] = f.file_name.upper()
    return Expect(f.file_name.upper(), "-", "-", r"lower case")


def extra_file(b, rng):
    name = rng.choice(["notes.csv", "patients_old.csv", "identifiers.csv"])
    if name in b.extra:
        raise NotApplicable
    b.extra[name] = b"a,b\n1,2\n"
    return Expect(name, "-", "-", r"not a table")


def bom(b, rng):
    f = _own_file(b, rng, "bom", rows=False)
    f.bom = True
    return None


def crlf(b, rng):
    f = _own_file(b, rng, "crlf", rows=False)
    f.crlf = True
    return None


def reordered_columns(b, rng):
    f = _own_file(b, rng, "reordered_columns", rows=False)
    order = list(range(len(f.header)))
    rng.shuffle(order)
    f.header = [f.header[k] for k in order]
    f.rows = [[r[k] for k in order] for r in f.rows]
    return None


CATALOGUE: tuple[Mutation, ...] = tuple(Mutation(fn.__name__, kind, fn) for kind, fns in (
    ("cell", (not_a_number, full_width, arabic_indic, four_hundred_digits, exponent, not_finite, too_precise,
              out_of_range, year_zero, future_date, unknown_code, markup_number, huge_cell, dangling_patient,
              duplicate_key, email_text, phone_text, birth_date_text, formula_text, escaped_formula)),
    ("line", (short_row, long_row, nul_byte, bare_cr, embedded_newline, stray_quote)),
    ("file", (unbalanced_quote, latin1, utf16, empty_file, missing_column, extra_column, renamed_column,
              upper_case_name, bom, crlf, reordered_columns)),
    ("extra", (extra_file,)),
) for fn in fns)

BY_NAME = {m.name: m for m in CATALOGUE}


def mutate(contents: dict[str, bytes], names: list[str], seed: int) -> tuple[Bundle, list[Expect], list[str]]:
    """Apply the named mutations (those with no place to act are left out) to a valid bundle.

    Returns the mutated bundle, what each applied error mutation must trigger, and the names applied.
    """
    rng = random.Random(seed)
    b = Bundle.from_bytes(contents)
    expects: list[Expect] = []
    applied: list[str] = []
    for name in names:
        try:
            e = BY_NAME[name].apply(b, rng)
        except NotApplicable:
            continue
        applied.append(name)
        if e is not None:
            expects.append(e)
    return b, expects, applied
