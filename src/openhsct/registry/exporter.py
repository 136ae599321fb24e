"""Export the registry as an exchange bundle (CSV or Parquet), and read tables for analysis.

``registry_frames`` is the one read path that other layers use: outcomes, the portal and the import's
own comparison all see the registry as the same canonical tables.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from openhsct.errors import OpenHSCTError
from openhsct.registry.csvsafe import frame_csv
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
            path.write_text(frame_csv(frame, table.columns), encoding="utf-8", newline="")
        else:
            typed_frame(frame, list(table.columns)).to_parquet(path, index=False)
        written.append(path)
    return written


MANIFEST = "MANIFEST.sha256"
INCOMPLETE = ".openhsct-export-incomplete"
_TMP_TAG = ".openhsct-tmp-"


def export_bundle(out_dir: Path, *, fmt: str = "csv", centre_codes: Iterable[str] | None = None,
                  actor: str = "cli", progress: Progress | None = None) -> dict[str, int]:
    """Export the registry (or some centres) as a bundle and record the export in the audit history.

    The bundle is written into a hidden sibling folder, ``MANIFEST.sha256`` last, and renamed into place
    only when complete (:func:`write_bundle_atomically`), so a killed export never leaves a torn bundle at
    ``out_dir``. Returns the number of rows written per table.
    """
    from openhsct.registry.audit import record_export

    frames = registry_frames(centre_codes, progress=progress)
    write_bundle_atomically(Path(out_dir), lambda tmp: write_frames(frames, tmp, fmt))
    counts = {name: len(f) for name, f in frames.items()}
    record_export(actor=actor, destination=str(out_dir), fmt=fmt,
                  centre_codes=list(centre_codes) if centre_codes is not None else None, counts=counts)
    return counts


def write_bundle_atomically(out_dir: Path, write: Callable[[Path], list[Path]]) -> None:
    """Let ``write(folder)`` fill a temporary sibling of ``out_dir``, add ``MANIFEST.sha256`` over the
    files it wrote, and rename the folder into place. Returns nothing.

    The temporary folder holds an ``.openhsct-export-incomplete`` marker until the manifest is written,
    and import refuses a folder with that marker. An existing ``out_dir`` is replaced only when it holds
    nothing but a bundle's files (tables and manifest); anything else stops the export with a message.
    """
    out_dir = Path(out_dir)
    _check_replaceable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}{_TMP_TAG}{os.getpid()}-{secrets.token_hex(4)}")
    tmp.mkdir()
    try:
        (tmp / INCOMPLETE).write_text("an export was interrupted before it finished\n", encoding="utf-8")
        files = write(tmp)
        write_manifest(tmp, files)
        for f in [*files, tmp / MANIFEST]:
            _fsync(f)
        (tmp / INCOMPLETE).unlink()
        _fsync(tmp)
        _swap_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_manifest(folder: Path, files: Iterable[Path]) -> Path:
    """Write ``MANIFEST.sha256`` (``sha256sum`` format, sorted by name) for ``files`` in ``folder``.

    Returns the manifest's path; ``sha256sum -c MANIFEST.sha256`` checks the bundle by hand.
    """
    lines = [f"{file_sha256(f)}  {Path(f).name}\n" for f in sorted(files, key=lambda p: Path(p).name)]
    path = Path(folder) / MANIFEST
    path.write_text("".join(lines), encoding="utf-8")
    return path


def file_sha256(path: Path) -> str:
    """Returns the SHA-256 of a file's bytes as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_replaceable(out_dir: Path) -> None:
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise OpenHSCTError(f"{out_dir} exists and is not a folder: choose a new folder for the export")
    known = set(tables())
    foreign = [p.name for p in out_dir.iterdir()
               if not (p.is_file() and (p.name == MANIFEST or (p.suffix in {".csv", ".parquet"} and p.stem in known)))]
    if foreign:
        raise OpenHSCTError(
            f"{out_dir} holds files that are not part of a bundle ({', '.join(sorted(foreign)[:5])}); "
            "the export replaces the whole folder, so choose an empty or new folder")


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Remove temporary folders that killed exports to ``out_dir`` left behind (their process is gone)."""
    for p in out_dir.parent.glob(f".{out_dir.name}{_TMP_TAG}*"):
        pid = p.name.rsplit(_TMP_TAG, 1)[-1].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _swap_into_place(tmp: Path, out_dir: Path) -> None:
    """Rename ``tmp`` to ``out_dir``; an older bundle there is moved aside first, then removed."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}{_TMP_TAG}{os.getpid()}-old-{secrets.token_hex(4)}")
        out_dir.rename(old)
    tmp.rename(out_dir)
    _fsync(out_dir.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _fsync(path: Path) -> None:
    """Flush a file's or folder's contents to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
