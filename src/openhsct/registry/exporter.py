"""Export the registry as an exchange bundle (CSV or Parquet), and read tables for analysis.

``registry_frames`` is the one read path that other layers use: outcomes, the portal and the import's
own comparison all see the registry as the same canonical tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from openhsct.errors import OpenHSCTError
from openhsct.registry.exchange import NATURAL_REFS, Table, tables
from openhsct.registry.formats import python_to_text, typed_frame

Progress = Callable[[str, int], None]


def _lookups(table: Table) -> list[str]:
    """ORM lookups that produce each exchange column, in column order."""
    out = []
    for c in table.columns:
        if table.name == "centres":
            out.append(c.name)
        elif c.name == "centre_code":
            out.append("centre__centre_code" if table.name == "patients" else "patient__centre__centre_code")
        elif c.name == "patient_code" and table.name != "patients":
            out.append("patient__patient_code")
        elif c.field_name in NATURAL_REFS:
            out.append(f"{c.field_name}__{NATURAL_REFS[c.field_name][2]}")
        else:
            out.append(c.name)
    return out


def table_frame(table: Table, centre_codes: Iterable[str] | None = None, *, with_pk: bool = False) -> pd.DataFrame:
    """One table as canonical text, sorted by its key (optionally with the row's primary key ``_pk``)."""
    qs = table.model.objects.all()
    if centre_codes is not None:
        codes = list(centre_codes)
        if table.name == "centres":
            qs = qs.filter(centre_code__in=codes)
        elif table.name == "patients":
            qs = qs.filter(centre__centre_code__in=codes)
        else:
            qs = qs.filter(patient__centre__centre_code__in=codes)
    lookups = _lookups(table)
    rows = list(qs.values_list(*lookups, "pk").iterator(chunk_size=20000))
    names = table.column_names
    if not rows:
        frame = pd.DataFrame({n: pd.Series(dtype=object) for n in [*names, "_pk"]})
    else:
        cols = list(zip(*rows, strict=True))
        data = {}
        for c, values in zip(table.columns, cols[:-1], strict=True):
            data[c.name] = [python_to_text(v, c) for v in values]
        data["_pk"] = cols[-1]
        frame = pd.DataFrame(data)
        frame = frame.sort_values(list(table.key), kind="stable").reset_index(drop=True)
    return frame if with_pk else frame.drop(columns="_pk")


def registry_frames(centre_codes: Iterable[str] | None = None, *, typed: bool = False,
                    progress: Progress | None = None) -> dict[str, pd.DataFrame]:
    """Every table of the registry (or of some centres) as DataFrames keyed by table name.

    Returns canonical text by default (what the exchange files hold); ``typed=True`` gives dates as
    ``datetime64``, numbers as floats/nullable ints — the form :mod:`openhsct.outcomes` expects.
    """
    codes = list(centre_codes) if centre_codes is not None else None
    out = {}
    for name, table in tables().items():
        frame = table_frame(table, codes)
        out[name] = typed_frame(frame, list(table.columns)) if typed else frame
        if progress:
            progress(name, len(frame))
    return out


def write_frames(frames: dict[str, pd.DataFrame], out_dir: Path, fmt: str = "csv") -> list[Path]:
    """Write canonical-text tables to ``out_dir`` as CSV or Parquet; returns the files written."""
    if fmt not in {"csv", "parquet"}:
        raise OpenHSCTError(f"unknown format {fmt!r}: use csv or parquet")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in frames.items():
        table = tables()[name]
        path = out_dir / f"{name}.{fmt}"
        if fmt == "csv":
            frame[table.column_names].to_csv(path, index=False)
        else:
            typed_frame(frame, list(table.columns)).to_parquet(path, index=False)
        written.append(path)
    return written


def export_bundle(out_dir: Path, *, fmt: str = "csv", centre_codes: Iterable[str] | None = None,
                  actor: str = "cli", progress: Progress | None = None) -> dict[str, int]:
    """Export the registry (or some centres) as a bundle and record the export in the audit history.

    Returns the number of rows written per table.
    """
    from openhsct.registry.audit import record_export

    frames = registry_frames(centre_codes, progress=progress)
    write_frames(frames, Path(out_dir), fmt)
    counts = {name: len(f) for name, f in frames.items()}
    record_export(actor=actor, destination=str(out_dir), fmt=fmt,
                  centre_codes=list(centre_codes) if centre_codes is not None else None, counts=counts)
    return counts
