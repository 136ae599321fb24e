"""``openhsct import``: validate a whole bundle, then write it in one transaction — or write nothing.

Re-importing the same bundle changes nothing; a row whose key exists is updated (with its before and
after in the audit history) only when a value differs. Rows already in the registry but absent from the
bundle are left alone: a bundle adds and corrects, it never deletes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from openhsct.errors import OpenHSCTError, ValidationError
from openhsct.registry.bulk import References, insert_rows
from openhsct.registry.csvsafe import unescape_text
from openhsct.registry.exchange import NATURAL_REFS, Column, Table, tables
from openhsct.registry.formats import (
    TEXT_KINDS,
    decode_csv,
    split_csv,
    text_to_canonical,
    text_to_python,
    typed_to_text,
)
from openhsct.registry.item_rules import check_item_dates, check_row_rules
from openhsct.registry.rules import check_dates, check_patient_consistency, check_references
from openhsct.registry.validation import (
    ROW,
    Collector,
    Problem,
    check_cell_values,
    check_header,
    check_unique,
    re2_match,
    str_strip,
    strip_values,
)

Progress = Callable[[str, int], None]
PATIENT = ["centre_code", "patient_code"]


@dataclass
class ImportReport:
    """What an import did: rows created, updated and unchanged per table."""

    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)

    @property
    def total_created(self) -> int:
        return sum(self.created.values())

    @property
    def total_updated(self) -> int:
        return sum(self.updated.values())


def read_bundle(path: Path, out: Collector) -> dict[str, pd.DataFrame]:
    """Read every table file of a bundle folder as text; record unreadable or unknown files."""
    path = Path(path)
    if not path.is_dir():
        raise OpenHSCTError(f"{path} is not a folder: a bundle is a folder of <table>.csv files")
    check_manifest(path)
    frames: dict[str, pd.DataFrame] = {}
    known = tables()
    for f in sorted(path.iterdir()):
        if f.name.startswith("."):
            continue
        if f.suffix.lower() in {".csv", ".parquet"} and f.suffix not in {".csv", ".parquet"}:
            out.add(f.name, 0, "-", f"file names are lower case: rename it to {f.stem.lower()}{f.suffix.lower()}")
            continue
        if f.suffix not in {".csv", ".parquet"}:
            continue
        if f.stem not in known:
            out.add(f.name, 0, "-", f"not a table of the exchange format (tables: {', '.join(known)})")
            continue
        if f.stem in frames:
            out.add(f.name, 0, "-", "the same table is given as both CSV and Parquet")
            continue
        frames[f.stem] = _read_one(f, known[f.stem], out)
    if not frames and not out.problems:
        out.add(path.name or str(path), 0, "-", "the folder holds no table files (<table>.csv or "
                f"<table>.parquet; tables: {', '.join(known)})")
    return {k: v for k, v in frames.items() if v is not None}


def check_manifest(path: Path) -> None:
    """Refuse a bundle that an export did not finish, or whose ``MANIFEST.sha256`` does not match its
    files; a bundle without a manifest (made by hand) passes. Returns nothing.

    Raises :class:`~openhsct.errors.ValidationError` (exit status 2) naming each file that differs.
    """
    from openhsct.registry.exporter import INCOMPLETE, MANIFEST, file_sha256

    path = Path(path)
    if (path / INCOMPLETE).exists():
        raise ValidationError(f"{path}: this bundle is an export that did not finish ({INCOMPLETE} is "
                              "present); nothing was imported. Export again.")
    manifest = path / MANIFEST
    if not manifest.exists():
        return
    problems: list[str] = []
    listed: dict[str, str] = {}
    try:
        text = manifest.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{manifest}: cannot be read ({type(exc).__name__}); nothing was imported.") from None
    for number, line in enumerate(text.splitlines(), start=1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest) or "/" in name:
            problems.append(f"{MANIFEST}:{number}: not a line '<sha256>  <file>'")
            continue
        listed[name] = digest
    for name, digest in sorted(listed.items()):
        f = path / name
        if not f.is_file():
            problems.append(f"{name}: listed in {MANIFEST} but missing")
        elif file_sha256(f) != digest:
            problems.append(f"{name}: its SHA-256 differs from {MANIFEST} (the file was changed or cut short)")
    for f in sorted(path.iterdir()):
        if f.suffix in {".csv", ".parquet"} and not f.name.startswith(".") and f.name not in listed:
            problems.append(f"{f.name}: not listed in {MANIFEST}")
    if problems:
        raise ValidationError(f"{path}: the bundle does not match its {MANIFEST}; nothing was imported.",
                              details=problems)


def _read_one(f: Path, table: Table, out: Collector) -> pd.DataFrame | None:
    try:
        if f.suffix == ".csv":
            frame = _read_csv_arrow(f)
            if frame is None:
                frame = _read_csv_strict(f, table, out)
                if frame is None:
                    return None
        else:
            raw = pd.read_parquet(f)
            if not check_header(list(raw.columns), table, f.name, out):
                return None
            frame = typed_to_text(raw, list(table.columns))
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, OSError, ValueError) as exc:
        out.add(f.name, 0, "-", f"cannot be read: {str(exc).splitlines()[0]}")
        return None
    if f.suffix == ".csv" and not check_header([c for c in frame.columns if c != ROW], table, f.name, out):
        return None
    rows = frame[ROW] if ROW in frame.columns else pd.RangeIndex(2, len(frame) + 2)
    frame = frame[table.column_names].copy()
    for c in table.columns:
        if c.kind in TEXT_KINDS:
            frame[c.name] = unescape_text(frame[c.name])
    frame[ROW] = np.asarray(rows)
    frame.attrs["file"] = f.name
    return frame


def _read_csv_strict(f: Path, table: Table, out: Collector) -> pd.DataFrame | None:
    """The CSV file read by :func:`~openhsct.registry.formats.split_csv`, which refuses malformed CSV
    (wrong encoding, stray or unbalanced quotes, bare CR, line breaks or NUL in cells, short or long
    rows) instead of repairing it: each fault is recorded as FILE:ROW:COLUMN. Returns the stripped text
    frame with its line numbers in ``_row``, or None when the header itself cannot be read."""
    text, fault = decode_csv(f.read_bytes())
    split = split_csv(text) if fault is None else None
    faults = [fault] if fault is not None else split.faults
    header = split.header if split is not None else []
    names = header or table.column_names
    for x in faults:
        column = "-" if x.field is None or x.field >= len(names) else names[x.field]
        out.add(f.name, x.row, column, x.rule, x.value)
    if not header:
        return None
    if len(set(header)) != len(header) or "" in header:
        out.add(f.name, 1, "-", "the header names a column twice or leaves one unnamed")
        return None
    records = split.records
    frame = pd.DataFrame([fields for _, fields in records], columns=header, dtype=object)
    if frame.empty:
        frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in header})
    frame = pd.DataFrame({c: str_strip(frame[c].astype(object)) for c in header})
    frame[ROW] = [r for r, _ in records]
    return frame


def _read_csv_arrow(f: Path) -> pd.DataFrame | None:
    """The CSV file read by Arrow's parser (both cores), or None where it might differ from pandas'.

    The frame equals what ``pd.read_csv(dtype=str, keep_default_na=False)`` followed by ``str.strip``
    gives. Arrow and pandas split plain CSV the same way; files with quotes, NUL bytes or bare carriage
    returns, fewer than two columns, or an unusual header (empty or repeated names, which pandas renames)
    are left to pandas, as is anything Arrow cannot read (pandas then names the problem).
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    data = f.read_bytes()
    if (b'"' in data or b"\x00" in data or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n"))
            or b"\n\n" in data or b"\n\r\n" in data or data.startswith((b"\n", b"\r", b"\xff\xfe", b"\xfe\xff"))):
        return None  # the strict reader names each fault (Arrow would skip blank lines silently)
    try:
        t = pcsv.read_csv(pa.py_buffer(data),
                          read_options=pcsv.ReadOptions(autogenerate_column_names=True),
                          convert_options=pcsv.ConvertOptions(strings_can_be_null=False,
                                                              quoted_strings_can_be_null=False))
    except (pa.ArrowException, ValueError):
        return None
    if t.num_rows == 0 or t.num_columns < 2 or not all(pa.types.is_string(x.type) for x in t.schema):
        return None  # the header row keeps every column text; anything else is no header pandas reads
    names = [t.column(i)[0].as_py() for i in range(t.num_columns)]
    if "" in names or len(set(names)) != len(names):
        return None
    body = t.slice(1)
    return pd.DataFrame({n: strip_values(body.column(i).combine_chunks()) for i, n in enumerate(names)})


def validate_bundle(frames: dict[str, pd.DataFrame], out: Collector) -> tuple[dict, dict]:
    """Check cells, keys, references and date order. Returns (bundle frames, effective frames).

    Effective frames overlay the bundle's valid rows on the registry's rows for the same centres.
    """
    clean, effective, _ = _validate(frames, out)
    return clean, effective


def _validate(frames: dict[str, pd.DataFrame], out: Collector) -> tuple[dict, dict, dict]:
    """:func:`validate_bundle`, also returning the registry's rows it read (with their ``_pk``), which
    the writer compares the bundle with."""
    from openhsct.registry.exporter import table_frame

    known = tables()
    clean: dict[str, pd.DataFrame] = {}
    repeats: set[str] = set()  # tables whose file repeats a key (only there can dropping repeats matter)
    for name, table in known.items():
        frame = frames.get(name)
        if frame is None:
            clean[name] = pd.DataFrame(columns=[*table.column_names, ROW])
            continue
        file = frame.attrs.get("file", f"{name}.csv")
        ok = check_cell_values(frame, table, file, out)
        textual_key = all(table.column(k).kind in {"text", "code", "reference", "date"} for k in table.key)
        if check_unique(frame, table, file, out) or not textual_key:  # canonical numbers may repeat a key
            repeats.add(name)
        frame = frame.loc[ok.to_numpy()].copy()
        for c in table.columns:
            frame[c.name] = canonical_text(frame[c.name], c)
        frame.attrs["file"] = file
        clean[name] = frame
    centre_codes = set(clean["centres"]["centre_code"].unique()) | set(clean["patients"]["centre_code"].unique())
    for name, frame in clean.items():
        if name not in {"centres", "patients"}:
            centre_codes |= set(frame["centre_code"].unique())
    effective: dict[str, pd.DataFrame] = {}
    registry: dict[str, pd.DataFrame] = {}
    for name, table in known.items():
        registry[name] = table_frame(table, sorted(centre_codes) if name != "centres" else None, with_pk=True)
        db = registry[name].drop(columns="_pk")
        db[ROW] = float("nan")
        new = clean[name].drop_duplicates(list(table.key), keep="first") if name in repeats else clean[name]
        if len(db):
            combined = pd.concat([new, db], ignore_index=True).drop_duplicates(list(table.key), keep="first")
        else:
            combined = new.reset_index(drop=True)
        combined.attrs["file"] = clean[name].attrs.get("file", f"{name}.csv")
        effective[name] = combined
    check_references(effective, out)
    check_dates(effective, out)
    check_patient_consistency(effective, out)
    check_row_rules(clean, out)  # rules between the columns of one row (CHECK constraints)
    check_item_dates(effective, out)
    from openhsct.quality.freeze import check_bundle as check_freezes

    check_freezes(clean, registry, out)  # rows dated within a centre's data freeze (docs/data-quality.md)
    return clean, effective, registry


def _already_canonical(column: Column) -> str:
    """An RE2 pattern for text that ``text_to_canonical`` returns unchanged: integers and decimals of at
    most 14 significant digits (they survive the int64/float round trip digit for digit) and date-times
    of 1700–2199 already written in UTC."""
    if column.kind == "integer":
        return r"^(?:0|-?[1-9][0-9]{0,13})$"
    if column.kind == "decimal":
        places = column.decimal_places or 0
        return rf"^-?(?:0|[1-9][0-9]{{0,{max(0, 13 - places)}}})" + (rf"\.[0-9]{{{places}}}$" if places else "$")
    return r"^(?:1[7-9]|2[01])[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\+00:00$"  # years pandas holds


def canonical_text(values: pd.Series, column: Column) -> pd.Series:
    """Exactly :func:`~openhsct.registry.formats.text_to_canonical`, which runs only on the values that
    are not already in canonical form (a bundle written by ``openhsct export`` or ``synth`` has none)."""
    if column.kind not in {"integer", "decimal", "datetime"} or values.empty:
        return text_to_canonical(values, column)
    done = re2_match(values, _already_canonical(column))
    todo = ~done & (values != "").to_numpy(dtype=bool)
    if not todo.any():
        return values
    out = values.copy()
    out[todo] = text_to_canonical(values[todo], column).to_numpy()
    return out


def import_bundle(path: Path, *, actor: str = "cli", progress: Progress | None = None,
                  dry_run: bool = False, origin: dict | None = None) -> ImportReport:
    """Validate the bundle at ``path`` and, when every rule holds, write it atomically.

    ``origin`` (optional) names what the bundle was converted from, for the audit event (``source``,
    ``sha256``, ``converted_from``): a FHIR folder or REDCap file rather than the temporary bundle.

    Raises :class:`~openhsct.errors.ValidationError` (exit status 2) listing every problem as
    ``FILE:ROW:COLUMN: rule (value)``; nothing is written then.
    """
    from openhsct.registry.locks import import_lock

    with import_lock():  # another import's writes between reading the registry and writing would tear it
        return _import_locked(Path(path), actor=actor, progress=progress, dry_run=dry_run, origin=origin)


def _import_locked(path: Path, *, actor: str, progress: Progress | None, dry_run: bool,
                   origin: dict | None = None) -> ImportReport:
    """:func:`import_bundle` under the import lock. Returns the report."""
    from django.db import transaction

    out = Collector()
    frames = read_bundle(Path(path), out)
    clean, effective, registry = _validate(frames, out)
    del frames, effective  # only the clean rows are written: free the rest first (a national bundle is GBs)
    if out.problems:
        problems = sorted(set(out.problems), key=_problem_order)
        record_refusal(path, actor=actor, problems=len(problems))
        raise ValidationError(
            f"{path}: {len(problems)} problem(s); nothing was imported.",
            details=[str(p) for p in problems],
        )
    report = ImportReport()
    if dry_run:
        for name, frame in clean.items():
            report.created[name] = len(frame)
        return report
    refs = References()
    with transaction.atomic():
        from openhsct.registry.audit import begin_bulk_load, max_pk, record_rows

        begin_bulk_load()  # the audit chain's lock first: the new rows are then exactly those above each mark
        marks = {name: max_pk(table.model) for name, table in tables().items()}
        try:
            for name, table in tables().items():
                _write_table(table, clean[name], registry[name], refs, report, actor)
                refs.forget(name)
                if progress:
                    progress(name, len(clean[name]))
            refs.wait()
        finally:
            refs.close()
        for name, table in tables().items():  # one create event per new row, in this transaction
            if report.created.get(name):
                record_rows(actor=actor, model=table.model, pks_after=marks[name], via="import")
        from openhsct.registry.audit import record_import

        touched = {code for frame in clean.values() if len(frame) for code in frame["centre_code"].unique()}
        described = origin or {"source": str(path), "sha256": bundle_checksum(Path(path))}
        record_import(actor=actor, source=described["source"], checksum=described["sha256"], report=report,
                      centre_codes=touched, extra={k: v for k, v in described.items() if k not in {"source", "sha256"}})
    return report


def record_refusal(path: Path, *, actor: str, problems: int) -> None:
    """Write the one audit event of a refused import (action ``denied``, model ``import``: what was
    offered, its checksum and how many problems); nothing else is written. Returns nothing."""
    from openhsct.registry.audit import record_event

    try:
        checksum = bundle_checksum(Path(path))
    except OSError:
        checksum = ""
    record_event(action="denied", model="import", actor=actor,
                 detail={"event": "import refused", "source": str(path), "sha256": checksum,
                         "problems": problems})


def _problem_order(p: Problem) -> tuple:
    order = list(tables())
    stem = p.file.rsplit(".", 1)[0]
    return (order.index(stem) if stem in order else len(order), p.file, p.row, p.column, p.rule)


def bundle_checksum(path: Path) -> str:
    """SHA-256 over the bundle's table files (names and bytes), to identify what was imported."""
    h = hashlib.sha256()
    for f in sorted(Path(path).glob("*")):
        if f.suffix in {".csv", ".parquet"}:
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------- writing


def _pk_maps(table: Table) -> dict[str, dict]:
    """Lookups from natural keys to primary keys for the FKs this table needs (used for single-row
    updates; inserts use the vectorised :func:`_db_frame`)."""
    maps: dict[str, dict] = {}
    for name, frame in _pk_frames(table).items():
        keys = [c for c in frame.columns if c != "pk"]
        maps[name] = dict(zip(frame[keys].itertuples(index=False, name=None) if len(keys) > 1 else frame[keys[0]],
                              frame["pk"], strict=True))
    return maps


def _pk_frames(table: Table) -> dict[str, pd.DataFrame]:
    """Natural key → primary key tables for each foreign key of ``table``."""
    from openhsct.registry import models as m

    frames: dict[str, pd.DataFrame] = {}
    if table.name == "patients":
        frames["centre"] = pd.DataFrame(list(m.Centre.objects.values_list("centre_code", "pk")),
                                        columns=["centre_code", "pk"])
    elif table.name != "centres":
        frames["patient"] = pd.DataFrame(
            list(m.Patient.objects.values_list("centre__centre_code", "patient_code", "pk")),
            columns=["centre_code", "patient_code", "pk"])
    for c in table.columns:
        if c.field_name in NATURAL_REFS:
            col, parent, natural = NATURAL_REFS[c.field_name]
            rows = tables()[parent].model.objects.values_list(
                "patient__centre__centre_code", "patient__patient_code", natural, "pk")
            frames[c.field_name] = pd.DataFrame(list(rows), columns=["centre_code", "patient_code", col, "pk"])
    return frames


def _instance_kwargs(row: dict, table: Table, maps: dict) -> dict:
    kw = {}
    for c in table.columns:
        v = row[c.name]
        if table.name == "centres":
            kw[c.name] = text_to_python(v, c)
        elif c.name == "centre_code":
            if table.name == "patients":
                kw["centre_id"] = maps["centre"][v]
        elif c.name == "patient_code" and table.name != "patients":
            kw["patient_id"] = maps["patient"][(row["centre_code"], v)]
        elif c.field_name in NATURAL_REFS:
            kw[f"{c.field_name}_id"] = maps[c.field_name][(row["centre_code"], row["patient_code"], v)]
        else:
            kw[c.name] = text_to_python(v, c)
    return kw


def _write_table(table: Table, frame: pd.DataFrame, existing: pd.DataFrame, refs: References,
                 report: ImportReport, actor: str) -> None:
    """Insert the bundle's new rows in bulk and update, with an audit event each, rows whose values
    differ from the registry's (``existing``: the registry's rows for the bundle's centres, with ``_pk``)."""
    from openhsct.registry.audit import record_update

    names = table.column_names
    key = list(table.key)
    if frame.empty:
        report.created[table.name] = 0
        return
    if existing.empty:  # a first import: every row is new
        merged = frame[names].reset_index(drop=True)
        is_new = np.ones(len(merged), dtype=bool)
    else:
        merged = frame[names].merge(existing, on=key, how="left", suffixes=("", "__db"), indicator=True)
        is_new = (merged["_merge"] == "left_only").to_numpy()
    value_cols = [c for c in names if c not in key]
    if value_cols and (~is_new).any():
        old = merged.loc[~is_new]
        differs = pd.Series(False, index=old.index)
        for c in value_cols:
            differs |= old[c].astype(str) != old[f"{c}__db"].astype(str)
        changed = old.loc[differs]
    else:
        changed = merged.iloc[0:0]
    model = table.model
    insert_rows(table, merged.loc[is_new, names], refs)
    if len(changed):
        refs.wait()  # the ORM saves below share the connection with the background load
    maps = _pk_maps(table) if len(changed) else {}
    for _, r in changed.iterrows():
        obj = model.objects.get(pk=r["_pk"])
        before = {c: r[f"{c}__db"] for c in value_cols}
        after = {c: r[c] for c in value_cols}
        for attr, value in _instance_kwargs({**r.to_dict()}, table, maps).items():
            setattr(obj, attr, value)
        obj._audit_skip = True
        obj.save()
        record_update(actor=actor, obj=obj, before={**{k: r[k] for k in key}, **before},
                      after={**{k: r[k] for k in key}, **after}, via="import")
    report.created[table.name] = int(is_new.sum())
    report.updated[table.name] = len(changed)
    report.unchanged[table.name] = int((~is_new).sum()) - len(changed)
