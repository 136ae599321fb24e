"""REDCap: a data dictionary generated from the models, and import of a project's "records" CSV export.

One REDCap instrument (form) per exchange table. Tables with one row per patient (the patient, the centre,
conditioning, re-infusion, death) are plain instruments of the record; the others are *repeating*
instruments (visits, relapses, scans, adverse events, …), as REDCap's "repeating instruments" feature
exports them: one row per instance, with ``redcap_repeat_instrument`` and ``redcap_repeat_instance`` set
(REDCap documentation, "Repeating Instruments and Events"; Harris PA et al. Research electronic data
capture (REDCap). J Biomed Inform 2009;42(2):377-81, doi:10.1016/j.jbi.2008.08.010).

Field names are ``<prefix>_<column>`` (lower case, unique across the project). Coded columns are radio
buttons with numeric raw values ``1..n`` in the order of the model's choices; dates validate as
``date_ymd``, date-times as ``datetime_seconds_ymd`` (UTC). Import converts the rows to exchange tables and
hands them to the registry's all-or-nothing import; problems read ``FILE:ROW:FIELD: rule (value)``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from openhsct.errors import OpenHSCTError, ValidationError
from openhsct.interop.fhir import Origin, import_frames

DICTIONARY_COLUMNS = (
    "Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
    "Choices, Calculations, OR Slider Labels", "Field Note", "Text Validation Type OR Show Slider Number",
    "Text Validation Min", "Text Validation Max", "Identifier?", "Branching Logic (Show field only if...)",
    "Required Field?", "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name",
    "Matrix Ranking?", "Field Annotation",
)
RECORD_ID = "record_id"
PREFIX = {
    "centres": "ctr", "patients": "pt", "eligibility": "elig", "mobilisations": "mob", "apheresis": "aph",
    "cell_products": "bag", "custody_events": "cust", "conditioning": "cond", "conditioning_drugs": "drug",
    "transplants": "tx", "adverse_events": "ae", "deaths": "death", "edss_visits": "edss", "relapses": "rel",
    "mri_scans": "mri", "dmt_exposures": "dmt", "costs": "cost", "pro_answers": "pro", "viral_loads": "vl",
    "igg_levels": "igg", "late_effects": "late", "reproductive_health": "repro", "second_transplants": "tx2",
}
# A count is asked only when its assessment was done (the registry's rule; REDCap branching logic)
BRANCHING = {("eligibility", "gd_lesions"): "gd_assessed", ("mri_scans", "gd_lesions"): "gd_assessed",
             ("mri_scans", "new_enlarging_t2"): "t2_assessed", ("conditioning", "atg_brand"): "atg",
             ("conditioning", "atg_mg_per_kg"): "atg", ("conditioning", "rituximab_mg"): "rituximab",
             ("dmt_exposures", "restart_reason"): "after_ahsct",
             ("reproductive_health", "pregnancy_outcome"): "pregnancy"}
_VALIDATION = {"date": "date_ymd", "datetime": "datetime_seconds_ymd", "integer": "integer", "decimal": "number"}


def _tables():
    from openhsct.registry.exchange import tables

    return tables()


def repeating(table) -> bool:
    """True for tables with several rows per patient (REDCap repeating instruments)."""
    return table.name != "centres" and tuple(table.key) != ("centre_code", "patient_code")


def fields(table) -> list[tuple[str, object]]:
    """(REDCap field name, exchange column) of one table's instrument, in column order."""
    out = []
    for c in table.columns:
        if c.name == "patient_code" or (c.name == "centre_code" and table.name != "patients"):
            continue
        out.append((f"{PREFIX[table.name]}_{c.name}", c))
    return out


def _choices(c) -> str:
    return " | ".join(f"{i}, {code}" for i, code in enumerate(c.choices, start=1))


def _field_row(name: str, form: str, c) -> dict:
    row = dict.fromkeys(DICTIONARY_COLUMNS, "")
    row.update({"Variable / Field Name": name, "Form Name": form, "Field Label": c.name.replace("_", " "),
                "Field Note": c.description, "Required Field?": "y" if c.required else ""})
    if c.choices:
        row.update({"Field Type": "radio", "Choices, Calculations, OR Slider Labels": _choices(c)})
    else:
        row["Field Type"] = "notes" if c.kind == "text" and (c.max_length or 0) > 255 else "text"
        row["Text Validation Type OR Show Slider Number"] = _VALIDATION.get(c.kind, "")
        if c.kind in {"integer", "decimal"}:
            row["Text Validation Min"] = "" if c.min_value is None else str(c.min_value)
            row["Text Validation Max"] = "" if c.max_value is None else str(c.max_value)
    return row


def data_dictionary() -> pd.DataFrame:
    """The REDCap data dictionary (18 standard columns) of a project that mirrors the registry."""
    from openhsct.registry.exchange import Column

    rows = [_field_row(RECORD_ID, "patients", Column(RECORD_ID, "text", True,
                                                     "Record ID: <centre_code>-<patient_code>"))]
    rows[0]["Field Label"] = "Record ID"
    patient_code = Column("patient_code", "text", True, "Pseudonymous patient code", max_length=32)
    for name, table in _tables().items():
        form = name
        for field_name, c in fields(table):
            rows.append(_field_row(field_name, form, c))
            flag = BRANCHING.get((name, c.name))
            if flag:
                yes = table.column(flag).choices.index("yes") + 1
                rows[-1]["Branching Logic (Show field only if...)"] = f"[{PREFIX[name]}_{flag}] = '{yes}'"
            if name == "patients" and c.name == "centre_code":
                rows.append(_field_row("pt_patient_code", form, patient_code))
    frame = pd.DataFrame(rows, columns=list(DICTIONARY_COLUMNS))
    order = ["patients", "centres", *[n for n in _tables() if n not in {"patients", "centres"}]]
    frame["_form"] = frame["Form Name"].map({n: i for i, n in enumerate(order)})
    return frame.sort_values("_form", kind="stable").drop(columns="_form").reset_index(drop=True)


def write_dictionary(path: Path) -> int:
    """Write the data dictionary CSV; returns the number of fields."""
    frame = data_dictionary()
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return len(frame)


# ------------------------------------------------------------------------------------------ records


def _to_redcap(value: str, c) -> str:
    if value == "":
        return ""
    if c.choices:
        return str(c.choices.index(value) + 1)
    if c.kind == "datetime":
        return value[:19].replace("T", " ")
    return value


def _from_redcap(value: str, c) -> tuple[str, str | None]:
    """(exchange text, problem) of one REDCap raw value."""
    if value == "":
        return "", None
    if c.choices:
        if value.isdigit() and 1 <= int(value) <= len(c.choices):
            return c.choices[int(value) - 1], None
        return value, f"not a choice of the field (1-{len(c.choices)})"
    if c.kind == "datetime" and len(value) >= 16 and "+" not in value[10:]:
        return value.replace(" ", "T") + ("" if len(value) > 16 else ":00") + "+00:00", None
    return value, None


def records_frame(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The registry's tables as a REDCap "records" export (raw values, repeating instruments)."""
    dd = data_dictionary()
    field_names = list(dd["Variable / Field Name"])
    forms = list(dict.fromkeys(dd["Form Name"]))
    columns = ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance"]
    for form in forms:
        columns += [f for f, frm in zip(field_names, dd["Form Name"], strict=True) if frm == form and f != RECORD_ID]
        columns.append(f"{form}_complete")
    known = _tables()
    centres = frames["centres"].set_index("centre_code", drop=False)
    rows: list[dict] = []
    by_patient = {name: frame.groupby(["centre_code", "patient_code"], sort=False)
                  for name, frame in frames.items() if name not in {"centres", "patients"} and len(frame)}
    for p in frames["patients"].to_dict("records"):
        rid = f"{p['centre_code']}-{p['patient_code']}"
        key = (p["centre_code"], p["patient_code"])
        base = {"record_id": rid, "pt_patient_code": p["patient_code"], "patients_complete": "2"}
        for f, c in fields(known["patients"]):
            base[f] = _to_redcap(p[c.name], c)
        if p["centre_code"] in centres.index:
            crow = centres.loc[p["centre_code"]].to_dict()
            base.update({f: _to_redcap(crow[c.name], c) for f, c in fields(known["centres"])})
            base["centres_complete"] = "2"
        repeats = []
        for name, table in known.items():
            if name in {"centres", "patients"} or name not in by_patient or key not in by_patient[name].groups:
                continue
            group = by_patient[name].get_group(key)
            if not repeating(table):
                r = group.iloc[0].to_dict()
                base.update({f: _to_redcap(r[c.name], c) for f, c in fields(table)})
                base[f"{name}_complete"] = "2"
                continue
            for k, r in enumerate(group.to_dict("records"), start=1):
                row = {"record_id": rid, "redcap_repeat_instrument": name, "redcap_repeat_instance": str(k),
                       f"{name}_complete": "2"}
                row.update({f: _to_redcap(r[c.name], c) for f, c in fields(table)})
                repeats.append(row)
        rows += [base, *repeats]
    return pd.DataFrame(rows, columns=columns).fillna("")


def export_records(path: Path, *, centre_codes=None) -> int:
    """Write the registry as a REDCap records CSV; returns the number of rows."""
    from openhsct.registry.exporter import registry_frames

    frame = records_frame(registry_frames(list(centre_codes) if centre_codes else None))
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return len(frame)


def read_records(path: Path) -> tuple[dict[str, pd.DataFrame], dict[str, list[Origin]], list[str]]:
    """Exchange tables from a REDCap records CSV, each row's origin (file, line), and the problems."""
    known = _tables()
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
        raw = list(csv.DictReader(io.StringIO(text)))
        header = next(csv.reader(io.StringIO(text)), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise OpenHSCTError(f"{path}: cannot be read as CSV ({exc})") from None
    fname = Path(path).name
    problems: list[str] = []
    allowed = set(data_dictionary()["Variable / Field Name"]) | {"redcap_repeat_instrument", "redcap_repeat_instance"}
    allowed |= {f"{n}_complete" for n in known}
    for col in header:
        if col not in allowed:
            problems.append(f"{fname}:1:{col}: not a field of the OpenHSCT REDCap project")
    if RECORD_ID not in header:
        problems.append(f"{fname}:1:{RECORD_ID}: the record ID column is missing")
        return {}, {}, problems
    records: dict[str, tuple[str, str]] = {}
    rows = {n: [] for n in known}
    origins = {n: [] for n in known}
    seen_centres: set[str] = set()
    for line, r in enumerate(raw, start=2):
        r = {k: (v or "").strip() for k, v in r.items() if k is not None}
        form = r.get("redcap_repeat_instrument", "")
        if form:
            if form not in known or not repeating(known[form]):
                problems.append(f"{fname}:{line}:redcap_repeat_instrument: not a repeating instrument ({form})")
                continue
            _collect(fname, line, r, known[form], records.get(r[RECORD_ID]), rows, origins, problems)
            continue
        centre, patient = r.get("pt_centre_code", ""), r.get("pt_patient_code", "")
        records[r[RECORD_ID]] = (centre, patient)
        _collect(fname, line, r, known["patients"], (centre, patient), rows, origins, problems)
        if centre not in seen_centres and any(r.get(f, "") for f, _ in fields(known["centres"])):
            seen_centres.add(centre)
            _collect(fname, line, r, known["centres"], (centre, patient), rows, origins, problems)
        for name, table in known.items():
            if name not in {"centres", "patients"} and not repeating(table) and any(
                    r.get(f, "") for f, _ in fields(table)):
                _collect(fname, line, r, table, (centre, patient), rows, origins, problems)
    frames = {n: pd.DataFrame(rows[n], columns=t.column_names) for n, t in known.items()}
    return frames, origins, problems


def _collect(fname, line, r, table, who, rows, origins, problems) -> None:
    if who is None:
        problems.append(f"{fname}:{line}:{RECORD_ID}: no base row for this record ({r.get(RECORD_ID)})")
        return
    row = {"centre_code": who[0], "patient_code": who[1]}
    for f, c in fields(table):
        value, problem = _from_redcap(r.get(f, ""), c)
        if problem:
            problems.append(f"{fname}:{line}:{f}: {problem} ({value})")
        row[c.name] = value
    if table.name == "centres":
        row = {"centre_code": who[0], **{c.name: row[c.name] for _, c in fields(table)}}
    rows[table.name].append(row)
    origins[table.name].append(Origin(fname, line, table.name))


def _field_of(table: str, column: str) -> str:
    if column == "patient_code":
        return "pt_patient_code"
    if column == "centre_code":
        return "pt_centre_code"
    return f"{PREFIX[table]}_{column}"


def import_records(path: Path, *, actor: str = "cli", dry_run: bool = False, progress=None):
    """Import a REDCap records CSV through the registry's all-or-nothing import.

    Returns the :class:`~openhsct.registry.importer.ImportReport`; raises
    :class:`~openhsct.errors.ValidationError` listing ``FILE:ROW:FIELD: rule (value)`` otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise OpenHSCTError(f"{path}: no such file (a REDCap records export, CSV)")
    frames, origins, problems = read_records(path)
    if problems:
        raise ValidationError(f"{path}: {len(problems)} problem(s); nothing was imported.", details=problems)
    return import_frames(frames, origins, source=path, actor=actor, dry_run=dry_run, progress=progress,
                         where=_field_of)
