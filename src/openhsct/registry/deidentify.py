"""``openhsct export --deidentified``: a research export without direct identifiers.

What it does to the exchange tables (docs/security.md, "Exports"):

* **Free text is dropped**: every text column that is not part of a table's key (centre names and
  cities, reasons, regimens, locations, people, causes, descriptions, answers typed as text).
* **Pseudonymous codes become HMAC-SHA256 values** (hex) under the key in ``OPENHSCT_HMAC_KEY``: patient
  codes and the record identifiers that can embed them (bag, mobilisation, collection, adverse-event and
  late-effect ids). The same key gives the same values, so exports can be linked by whoever holds it;
  without the key the codes cannot be recovered or tested.
* **Dates become whole days from the patient's day 0** (the transplant's ``day0``; for a patient
  without a transplant, the patient's earliest recorded date — ``patients.anchor`` says which) and
  date-times become whole seconds from 00:00 UTC of that day. Every interval within a patient is kept
  exactly; no calendar date leaves.
* **Birth year becomes a five-year band** (``1980-1984``).
* ``README.md`` states the method and *k*: the size of the smallest group of patients sharing
  (sex, birth-year band, centre, transplant year), computed on the registry before export.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from openhsct.errors import OpenHSCTError

KEY_ENV = "OPENHSCT_HMAC_KEY"
HASHED = ("patient_code", "bag_id", "mobilisation_id", "collection_id", "ae_id", "effect_id")
PATIENT = ["centre_code", "patient_code"]


def hmac_key() -> bytes:
    """Returns the HMAC key from ``OPENHSCT_HMAC_KEY``.

    Raises :class:`~openhsct.errors.OpenHSCTError` when it is missing or shorter than 32 characters.
    """
    key = os.environ.get(KEY_ENV, "")
    if len(key) < 32:
        raise OpenHSCTError(f"{KEY_ENV} is {'too short' if key else 'not set'}: a de-identified export needs a "
                            "secret key of at least 32 characters in this environment variable (for example "
                            "from `python -c 'import secrets; print(secrets.token_hex(32))'`); nothing was "
                            "written.", exit_code=2)
    return key.encode("utf-8")


def pseudonym(key: bytes, column: str, centre: str, patient: str, value: str) -> str:
    """Returns the HMAC-SHA256 (hex) of one code, bound to its column, centre and patient."""
    message = "\x1f".join((column, centre, patient, value)).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _anchors(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Returns each patient's anchor date (day 0, else the earliest date) and its kind."""
    from openhsct.registry.exchange import tables

    dates = []
    for name, frame in frames.items():
        for c in tables()[name].columns:
            if c.kind == "date" and name != "centres" and len(frame):
                d = frame.loc[frame[c.name] != "", [*PATIENT, c.name]].rename(columns={c.name: "date"})
                dates.append(d)
    earliest = (pd.concat(dates).groupby(PATIENT)["date"].min().rename("first") if dates
                else pd.Series(dtype=object, name="first"))
    day0 = frames["transplants"].set_index(PATIENT)["day0"] if len(frames["transplants"]) else pd.Series(dtype=object)
    out = frames["patients"][PATIENT].set_index(PATIENT)
    out["anchor_date"] = day0.reindex(out.index).fillna(earliest.reindex(out.index))
    out["anchor"] = ["day0" if pd.notna(v) else "first_record" for v in day0.reindex(out.index)]
    return out


def _days(values: pd.Series, anchors: pd.Series) -> pd.Series:
    """Returns whole days from each row's anchor (empty stays empty)."""
    out = pd.Series("", index=values.index, dtype=object)
    filled = (values != "") & anchors.notna().to_numpy()
    if filled.any():
        a = pd.to_datetime(anchors[filled.to_numpy()].to_numpy(), format="%Y-%m-%d")
        v = pd.to_datetime(values[filled].to_numpy(), format="%Y-%m-%d")
        out[filled] = [str(x) for x in (v - a).days]
    return out


def _seconds(values: pd.Series, anchors: pd.Series) -> pd.Series:
    """Returns whole seconds from 00:00 UTC of each row's anchor day (empty stays empty)."""
    out = pd.Series("", index=values.index, dtype=object)
    for i, (v, a) in enumerate(zip(values, anchors, strict=True)):
        if v and isinstance(a, str):
            at = dt.datetime.fromisoformat(v)
            start = dt.datetime.fromisoformat(a).replace(tzinfo=dt.UTC)
            out.iloc[i] = str(int((at - start).total_seconds()))
    return out


def _band(year: str) -> str:
    if not year:
        return ""
    lo = int(year) // 5 * 5
    return f"{lo}-{lo + 4}"


def deidentify(frames: dict[str, pd.DataFrame], key: bytes) -> dict[str, pd.DataFrame]:
    """Returns the de-identified copy of canonical-text exchange frames (see the module's text)."""
    from openhsct.registry.exchange import tables

    anchors = _anchors(frames)
    out = {}
    for name, frame in frames.items():
        table = tables()[name]
        new = pd.DataFrame(index=frame.index)
        anchor = (anchors["anchor_date"].reindex(pd.MultiIndex.from_frame(frame[PATIENT])).to_numpy()
                  if name != "centres" and len(frame) else None)
        for c in table.columns:
            s = frame[c.name]
            if c.name in HASHED and name != "centres":
                new[c.name] = [pseudonym(key, c.name, ce, p, v) if v else ""
                               for ce, p, v in zip(frame["centre_code"], frame["patient_code"], s, strict=True)]
            elif c.kind == "text" and c.name not in table.key:
                continue  # free text never leaves
            elif c.kind == "date" and name != "centres":
                new[c.name] = _days(s, pd.Series(anchor, index=s.index))
            elif c.kind == "datetime" and name != "centres":
                new[c.name] = _seconds(s, pd.Series(anchor, index=s.index))
            elif c.name == "birth_year":
                new["birth_year_band"] = s.map(_band)
            else:
                new[c.name] = s
        if name == "patients" and len(frame):
            new["anchor"] = anchors["anchor"].reindex(pd.MultiIndex.from_frame(frame[PATIENT])).to_numpy()
        out[name] = new
    return out


def smallest_group(frames: dict[str, pd.DataFrame]) -> tuple[int, int]:
    """Returns (k, number of groups): the fewest patients sharing (sex, birth-year band, centre,
    transplant year), over the registry's patients (transplant year empty when none)."""
    p = frames["patients"]
    if p.empty:
        return 0, 0
    t = frames["transplants"][[*PATIENT, "day0"]]
    merged = p.merge(t, on=PATIENT, how="left")
    groups = pd.DataFrame({"sex": merged["sex"], "band": merged["birth_year"].map(_band),
                           "centre": merged["centre_code"], "year": merged["day0"].fillna("").str[:4]})
    sizes = groups.value_counts()
    return int(sizes.min()), len(sizes)


def readme(k: int, groups: int, patients: int) -> str:
    """Returns the export's README.md text."""
    return f"""# De-identified research export (OpenHSCT)

Not medical advice. Made by `openhsct export --deidentified`.

- Patients: {patients:,}.
- **k = {k}**: the smallest number of patients sharing (sex, birth-year band, centre, transplant year),
  over {groups:,} such groups. A k below 5 means some patients are nearly unique on these
  quasi-identifiers: share this export only under a data-use agreement.
- Free text is dropped (every text column outside a table's key).
- Patient codes and record identifiers (`{'`, `'.join(HASHED)}`) are HMAC-SHA256 values (hex) under a
  secret key held by the registry; they link rows within and across exports made with the same key.
- Dates are whole days from the patient's day 0 (`patients.anchor` = `day0`), or from the patient's
  earliest recorded date when there is no transplant (`first_record`). Date-times are whole seconds from
  00:00 UTC of that day. Every interval within a patient is exact.
- Birth year is given as a five-year band (`birth_year_band`).
- CSV files follow RFC 4180; text cells that begin with `=`, `+`, `-`, `@`, Tab, CR, LF or `'` carry
  one leading `'` so that spreadsheets do not read them as formulas.
"""


def export_deidentified(out_dir: Path, *, centre_codes: Iterable[str] | None = None, actor: str = "cli") -> dict:
    """Write the de-identified export of the registry (or some centres) to ``out_dir`` (atomically, with
    ``MANIFEST.sha256``) and record it in the audit history. Returns rows per table and ``k``."""
    from openhsct.registry.audit import record_export
    from openhsct.registry.csvsafe import csv_text
    from openhsct.registry.exporter import registry_frames, write_bundle_atomically

    key = hmac_key()
    frames = registry_frames(centre_codes)
    k, groups = smallest_group(frames)
    safe = deidentify(frames, key)

    def write(folder: Path) -> list[Path]:
        files = []
        for name, frame in safe.items():
            path = folder / f"{name}.csv"
            numeric = [c for c in frame.columns if c not in HASHED and c != "centre_code"
                       and frame[c].astype(str).str.fullmatch(r"-?\d*").all()]
            path.write_text(csv_text(frame, numeric=numeric), encoding="utf-8", newline="")
            files.append(path)
        path = folder / "README.md"
        path.write_text(readme(k, groups, len(frames["patients"])), encoding="utf-8")
        return [*files, path]

    write_bundle_atomically(Path(out_dir), write)
    counts = {name: len(f) for name, f in safe.items()}
    record_export(actor=actor, destination=str(out_dir), fmt="csv-deidentified",
                  centre_codes=list(centre_codes) if centre_codes is not None else None, counts=counts)
    return {**counts, "k": k}
