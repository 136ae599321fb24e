"""FHIR R4 out and in: one transaction ``Bundle`` per patient, read back through the registry's import.

Every exchange table maps to one FHIR R4 resource type (``SPECS``). A column that a standard element can
hold is written there (dates to ``effectiveDateTime``/``performedPeriod``, EDSS to ``valueQuantity``, doses
to ``dosage.dose``, amounts to ``priceOverride``); every other column travels as an extension
``https://openhsct.org/fhir/StructureDefinition/<column>`` with its canonical text, so that export →
import → export gives the same bundle byte for byte. Codes are SNOMED CT or LOINC where one exists (listed
in ``docs/fhir.md``), otherwise the local code system ``https://openhsct.org/fhir/CodeSystem/openhsct``.
Patients are pseudonymous: registry code, year of birth and sex only.

The models are ``fhir.resources.R4B`` (version 8 of the package defaults to R5). Import does not write the
database itself: it converts the bundles to exchange tables and hands them to
:func:`openhsct.registry.importer.import_bundle`, so the same all-or-nothing rules apply; problems are
reported as ``FILE:ENTRY:PATH: rule (value)`` (ENTRY counts from 0, as ``Bundle.entry`` does).
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from openhsct.errors import OpenHSCTError, ValidationError

BASE = "https://openhsct.org/fhir"
EXT = f"{BASE}/StructureDefinition/"
LOCAL = f"{BASE}/CodeSystem/openhsct"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UUID_NS = uuid.UUID("6f1c4f0e-8a3b-5d7e-9c2a-0f4b6d8e1a2c")

MS = {"system": SNOMED, "code": "24700007", "display": "Multiple sclerosis"}
PHENOTYPES = {
    "RRMS": {"system": SNOMED, "code": "426373005", "display": "Relapsing remitting multiple sclerosis"},
    "SPMS": {"system": SNOMED, "code": "425500002", "display": "Secondary progressive multiple sclerosis"},
    "PPMS": {"system": SNOMED, "code": "428700003", "display": "Primary progressive multiple sclerosis"},
    "other": {"system": LOCAL, "code": "ms-phenotype-other", "display": "Other MS phenotype"},
}
EDSS = {"system": SNOMED, "code": "273554001", "display": "Kurtzke Expanded Disability Status Scale"}


def _local(code: str, display: str) -> dict:
    return {"coding": [{"system": LOCAL, "code": code, "display": display}], "text": display}


@dataclass(frozen=True)
class Spec:
    """How one exchange table's rows become one kind of resource.

    ``fields`` maps a column to the dotted path of the standard element that holds it (list positions as
    numbers); ``fixed`` holds the elements every such resource has; ``subject`` the path of the patient
    reference (None for centres); every other non-code column is an extension.
    """

    resource: str
    fixed: dict
    fields: dict[str, str] = field(default_factory=dict)
    subject: str | None = "subject"


def _obs(code: dict, **fields: str) -> Spec:
    return Spec("Observation", {"status": "final", "code": code}, dict(fields))


SPECS: dict[str, Spec] = {
    "centres": Spec("Organization", {"active": True},
                    {"name": "name", "city": "address.0.city", "country": "address.0.country"}, None),
    "patients": Spec("Patient", {}, {"sex": "gender", "birth_year": "birthDate"}, None),
    "eligibility": _obs(_local("eligibility-assessment", "aHSCT eligibility assessment"),
                        assessment_date="effectiveDateTime", decision="valueCodeableConcept.coding.0.code"),
    "mobilisations": Spec("Procedure", {"status": "completed", "code": _local("mobilisation",
                                                                             "Stem cell mobilisation")},
                          {"start_date": "performedPeriod.start", "end_date": "performedPeriod.end",
                           "regimen": "note.0.text"}),
    "apheresis": Spec("Procedure", {"status": "completed", "code": _local("apheresis",
                                                                         "Apheresis (stem cell collection)")},
                      {"collection_date": "performedDateTime"}),
    "cell_products": Spec("BiologicallyDerivedProduct", {"productCategory": "cells"},
                          {"bag_id": "identifier.1.value"}, "collection.source"),
    "custody_events": Spec("Procedure", {"status": "completed", "code": _local("custody-event",
                                                                              "Cell product custody event")},
                           {"event_at": "performedDateTime", "performed_by": "performer.0.actor.display",
                            "location": "location.display"}),
    "conditioning": Spec("Procedure", {"status": "completed", "code": _local("conditioning",
                                                                            "Conditioning regimen")},
                         {"start_date": "performedPeriod.start", "end_date": "performedPeriod.end",
                          "regimen": "note.0.text"}),
    "conditioning_drugs": Spec("MedicationAdministration", {"status": "completed"},
                               {"drug": "medicationCodeableConcept.text", "total_dose": "dosage.dose.value",
                                "dose_unit": "dosage.dose.unit"}),
    "transplants": Spec("Procedure", {"status": "completed", "code": _local(
        "autologous-hsct-reinfusion", "Autologous haematopoietic stem cell re-infusion (day 0)")},
        {"day0": "performedDateTime"}),
    "adverse_events": Spec("AdverseEvent", {"actuality": "actual"},
                           {"ctcae_term": "event.text", "onset_date": "date"}),
    "deaths": _obs(_local("death", "Death"), death_date="effectiveDateTime", cause="valueString"),
    "edss_visits": Spec("Observation", {"status": "final", "code": {"coding": [EDSS], "text": "EDSS"},
                                        "valueQuantity": {"unit": "score"}},
                        {"visit_date": "effectiveDateTime", "edss": "valueQuantity.value"}),
    "relapses": _obs(_local("ms-relapse", "Multiple sclerosis relapse (onset)"), onset_date="effectiveDateTime"),
    "mri_scans": Spec("Observation", {"status": "final", "code": _local("mri-scan", "MRI brain/spine for MS activity"),
                                      "component": [
                                          {"code": _local("new-enlarging-t2", "New or enlarging T2 lesions")},
                                          {"code": _local("gd-enhancing", "Gadolinium-enhancing lesions")}]},
                      {"scan_date": "effectiveDateTime", "new_enlarging_t2": "component.0.valueInteger",
                       "gd_lesions": "component.1.valueInteger"}),
    "dmt_exposures": Spec("MedicationStatement", {"status": "unknown"},
                          {"drug": "medicationCodeableConcept.text", "start_date": "effectivePeriod.start",
                           "stop_date": "effectivePeriod.end"}),
    "costs": Spec("ChargeItem", {"status": "billable", "code": _local("cost", "Cost of care")},
                  {"cost_date": "occurrenceDateTime", "amount": "priceOverride.value",
                   "currency": "priceOverride.currency"}),
    "pro_answers": Spec("Observation", {"status": "final", "category": [{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}]}],
        "code": {"coding": [{"system": f"{BASE}/CodeSystem/pro-item"}]}},
        {"response_date": "effectiveDateTime", "item": "code.coding.0.code", "answer": "valueString"}),
    "viral_loads": _obs(_local("viral-load", "Viral load (DNA, IU/mL)"), sample_date="effectiveDateTime"),
    "igg_levels": Spec("Observation", {"status": "final", "code": _local("serum-igg", "Serum IgG"),
                                       "valueQuantity": {"unit": "g/L"}},
                       {"sample_date": "effectiveDateTime", "igg_g_per_l": "valueQuantity.value"}),
    "late_effects": _obs(_local("late-effect", "Late effect of transplant"), diagnosis_date="effectiveDateTime"),
    "reproductive_health": _obs(_local("reproductive-health", "Gonadal function and fertility"),
                                record_date="effectiveDateTime"),
    "second_transplants": Spec("Procedure", {"status": "completed", "code": _local(
        "further-hsct", "Further haematopoietic stem cell transplant")}, {"transplant_date": "performedDateTime"}),
}
SINGLE_IDENTIFIER = {"AdverseEvent"}  # identifier 0..1 in R4
# Elements with a fixed system beside a mapped code
_CODE_SYSTEMS = {("eligibility", "decision"): f"{BASE}/CodeSystem/eligibility-decision"}


# ------------------------------------------------------------------------------------------ paths


def _set(obj: dict, path: str, value) -> None:
    parts = path.split(".")
    cur = obj
    for i, part in enumerate(parts[:-1]):
        nxt_is_index = parts[i + 1].isdigit()
        if part.isdigit():
            idx = int(part)
            while len(cur) <= idx:
                cur.append({} if not nxt_is_index else [])
            cur = cur[idx]
        else:
            cur = cur.setdefault(part, [] if nxt_is_index else {})
    last = parts[-1]
    if last.isdigit():
        idx = int(last)
        while len(cur) <= idx:
            cur.append(None)
        cur[idx] = value
    else:
        cur[last] = value


def _get(obj, path: str):
    cur = obj
    for part in path.split("."):
        if part.isdigit():
            idx = int(part)
            if not isinstance(cur, list) or len(cur) <= idx:
                return None
            cur = cur[idx]
        else:
            if not isinstance(cur, dict) or part not in cur:
                return None
            cur = cur[part]
    return cur


def _deep_copy(obj):
    return json.loads(json.dumps(obj))


# ------------------------------------------------------------------------------------------ export


def _json_value(text: str, kind: str):
    """The JSON value of a canonical text cell for a standard element."""
    if kind == "decimal":
        return float(Decimal(text))
    if kind == "integer":
        return int(text)
    return text


def _text_value(value) -> str:
    """Canonical-ish text of a JSON value read back (decimals keep the digits written)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _identifier(table: str, row: dict, key: Iterable[str]) -> dict:
    return {"system": f"{BASE}/{table}", "value": "|".join(str(row[k]) for k in key)}


def _full_url(identifier: dict) -> str:
    return "urn:uuid:" + str(uuid.uuid5(UUID_NS, identifier["system"] + "#" + identifier["value"]))


def _resource(table: str, row: dict, columns, key, subject_url: str | None) -> dict:
    """One resource for one exchange row (canonical text cells)."""
    spec = SPECS[table]
    res: dict = {"resourceType": spec.resource, **_deep_copy(spec.fixed)}
    ident = _identifier(table, row, key)
    res["identifier"] = ident if spec.resource in SINGLE_IDENTIFIER else [ident]
    extensions = []
    for c in columns:
        value = row[c.name]
        if c.name in {"centre_code", "patient_code"} and table != "centres":
            continue
        if value == "":
            continue
        if c.name in spec.fields:
            kind = "text" if c.name == "birth_year" else c.kind
            _set(res, spec.fields[c.name], _json_value(value, kind))
            system = _CODE_SYSTEMS.get((table, c.name))
            if system:
                _set(res, spec.fields[c.name].rsplit(".", 1)[0] + ".system", system)
        else:
            extensions.append({"url": EXT + c.name, "valueString": value})
    if extensions:
        res["extension"] = extensions
    if spec.subject and subject_url:
        _set(res, spec.subject, {"reference": subject_url})
    return res


def _condition(row: dict, patient_url: str) -> dict:
    """The MS diagnosis of a patient row: SNOMED CT 24700007 with the phenotype concept."""
    ident = _identifier("conditions", row, ["centre_code", "patient_code"])
    res = {
        "resourceType": "Condition",
        "identifier": [ident],
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "active"}]},
        "code": {"coding": [MS, PHENOTYPES[row["phenotype"]]], "text": "Multiple sclerosis"},
        "subject": {"reference": patient_url},
    }
    if row["onset_date"]:
        res["onsetDateTime"] = row["onset_date"]
    if row["diagnosis_date"]:
        res["extension"] = [{"url": EXT + "diagnosis_date", "valueString": row["diagnosis_date"]}]
    return res


def _identifiers(res: dict) -> list[dict]:
    ident = res.get("identifier") or []
    return [ident] if isinstance(ident, dict) else list(ident)


ENGRAFTMENT = {
    "neutrophil_engraftment_date": _local("neutrophil-engraftment",
                                          "Neutrophil engraftment: first of 3 days with ANC >= 0.5 x10^9/L"),
    "platelet_engraftment_date": _local("platelet-engraftment",
                                        "Platelet engraftment: first of 7 days with platelets >= 20 x10^9/L "
                                        "unsupported"),
}
# Resources written for readers that the import does not read back (their content is in another resource).
DERIVED = {"conditions", "engraftment"}


def _engraftment(row: dict, patient_url: str) -> list[dict]:
    """Observations of the engraftment dates of a transplant row (the dates stay on the re-infusion
    Procedure too, which is what the import reads)."""
    out = []
    for column, code in ENGRAFTMENT.items():
        if row[column]:
            ident = _identifier("engraftment", {**row, "what": column}, ["centre_code", "patient_code", "what"])
            out.append({"resourceType": "Observation", "identifier": [ident], "status": "final", "code": code,
                        "subject": {"reference": patient_url}, "effectiveDateTime": row[column]})
    return out


def _entry(res: dict) -> dict:
    ident = _identifiers(res)[0]
    search = quote(f"{ident['system']}|{ident['value']}", safe=":/|")
    return {"fullUrl": _full_url(ident), "resource": res,
            "request": {"method": "PUT", "url": f"{res['resourceType']}?identifier={search}"}}


def _medication_time(res: dict, conditioning: dict | None, transplant: dict | None, patient: dict) -> None:
    """MedicationAdministration needs a time: the conditioning period, else day 0, else the birth year."""
    if conditioning and conditioning["start_date"]:
        res["effectivePeriod"] = {"start": conditioning["start_date"]}
        if conditioning["end_date"]:
            res["effectivePeriod"]["end"] = conditioning["end_date"]
    elif transplant:
        res["effectiveDateTime"] = transplant["day0"]
    else:
        res["effectiveDateTime"] = patient["birth_year"]


def patient_bundles(frames: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """One transaction Bundle per patient (and one per centre, for its Organization), keyed by file name.

    ``frames`` are the registry's canonical-text tables (:func:`openhsct.registry.exporter.registry_frames`).
    """
    from openhsct.registry.exchange import tables

    known = tables()
    org_entries: dict[str, dict] = {}
    for row in frames["centres"].to_dict("records"):
        res = _resource("centres", row, known["centres"].columns, known["centres"].key, None)
        org_entries[row["centre_code"]] = _entry(res)
    bundles = {f"centre-{code}.json": _bundle([e]) for code, e in org_entries.items()}
    per_patient: dict[tuple[str, str], dict[str, list[dict]]] = {}
    for name, frame in frames.items():
        if name in {"centres", "patients"} or frame.empty:
            continue
        for row in frame.to_dict("records"):
            per_patient.setdefault((row["centre_code"], row["patient_code"]), {}).setdefault(name, []).append(row)
    for prow in frames["patients"].to_dict("records"):
        key = (prow["centre_code"], prow["patient_code"])
        patient = _resource("patients", prow, known["patients"].columns, known["patients"].key, None)
        org = org_entries.get(prow["centre_code"])
        entries = [org] if org else []
        if org:
            patient["managingOrganization"] = {"reference": org["fullUrl"]}
        pentry = _entry(patient)
        url = pentry["fullUrl"]
        entries += [pentry, _entry(_condition(prow, url))]
        rows = per_patient.get(key, {})
        for name in known:
            for row in rows.get(name, []):
                res = _resource(name, row, known[name].columns, known[name].key, url)
                if name == "conditioning_drugs":
                    _medication_time(res, (rows.get("conditioning") or [None])[0],
                                     (rows.get("transplants") or [None])[0], prow)
                if name == "deaths":
                    patient["deceasedDateTime"] = row["death_date"]
                entries.append(_entry(res))
                if name == "transplants":
                    entries += [_entry(o) for o in _engraftment(row, url)]
        bundles[f"patient-{_safe(prow['centre_code'])}-{_safe(prow['patient_code'])}.json"] = _bundle(entries)
    return bundles


def _safe(code: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in code)


def _bundle(entries: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def check_r4b(bundle: dict) -> None:
    """Parse a bundle with the ``fhir.resources.R4B`` models; raises pydantic's ValidationError."""
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(bundle)


def export_fhir(out_dir: Path, *, centre_codes: Iterable[str] | None = None, actor: str = "cli") -> dict[str, int]:
    """Write one JSON transaction Bundle per patient (and per centre) into ``out_dir``, each checked
    against the R4B models first. Returns counts of files and resources written."""
    from openhsct.registry.audit import record_export
    from openhsct.registry.exporter import registry_frames

    codes = list(centre_codes) if centre_codes else None
    frames = registry_frames(codes)
    bundles = patient_bundles(frames)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n_resources = 0
    for name, bundle in bundles.items():
        check_r4b(bundle)
        (out_dir / name).write_text(json.dumps(bundle, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        n_resources += len(bundle["entry"])
    counts = {"bundles": len(bundles), "resources": n_resources}
    record_export(actor=actor, destination=str(out_dir), fmt="fhir", centre_codes=codes, counts=counts)
    return counts


# ------------------------------------------------------------------------------------------ import


@dataclass
class Origin:
    """Where a converted row came from: the file and the entry (FHIR) or line (REDCap) in it."""

    file: str
    entry: int
    table: str


@dataclass
class FhirTables:
    """Exchange tables read from bundles, with where each row came from (for error messages)."""

    frames: dict[str, pd.DataFrame]
    origins: dict[str, list[Origin]]
    problems: list[str]


def _table_of(res: dict) -> str | None:
    for ident in _identifiers(res):
        system = str(ident.get("system", ""))
        if system.startswith(BASE + "/"):
            return system[len(BASE) + 1:]
    return None


def _decimal_json(text: str):
    return json.loads(text, parse_float=Decimal)


def read_bundles(paths: Iterable[Path]) -> FhirTables:
    """Read transaction bundles into exchange tables (canonical text). Parsing and mapping problems are
    collected as ``FILE:ENTRY:PATH: rule (value)``."""
    from pydantic import ValidationError as PydanticError

    from openhsct.registry.exchange import tables

    known = tables()
    rows: dict[str, list[dict]] = {name: [] for name in known}
    origins: dict[str, list[Origin]] = {name: [] for name in known}
    seen: dict[str, set] = {name: set() for name in known}
    problems: list[str] = []
    for path in paths:
        fname = path.name
        try:
            bundle = _decimal_json(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(f"{fname}:0:-: not a readable JSON file ({exc})")
            continue
        try:
            check_r4b(json.loads(path.read_text(encoding="utf-8")))
        except PydanticError as exc:
            for err in exc.errors():
                loc = list(err["loc"])
                entry = loc[1] if len(loc) > 1 and loc[0] == "entry" else 0
                where = ".".join(str(x) for x in loc[3:]) or ".".join(str(x) for x in loc) or "-"
                problems.append(f"{fname}:{entry}:{where}: {err['msg']} ({err.get('input')!s:.60})")
            continue
        if bundle.get("resourceType") != "Bundle":
            problems.append(f"{fname}:0:resourceType: a Bundle is expected ({bundle.get('resourceType')})")
            continue
        _read_entries(fname, bundle.get("entry") or [], known, rows, origins, seen, problems)
    frames = {}
    for name, table in known.items():
        frames[name] = pd.DataFrame(rows[name], columns=table.column_names).fillna("")
    return FhirTables(frames, origins, problems)


def _read_entries(fname, entries, known, rows, origins, seen, problems) -> None:
    patients: dict[str, tuple[str, str]] = {}
    conditions: dict[str, dict] = {}
    for entry in entries:
        res = entry.get("resource") or {}
        if res.get("resourceType") == "Patient" and _table_of(res) == "patients":
            row = _row_of("patients", res, known["patients"])
            patients[entry.get("fullUrl", "")] = (row["centre_code"], row["patient_code"])
        elif res.get("resourceType") == "Condition":
            conditions[str(_get(res, "subject.reference"))] = res
    for i, entry in enumerate(entries):
        res = entry.get("resource") or {}
        table = _table_of(res)
        if table in DERIVED:
            continue
        if table not in known or SPECS[table].resource != res.get("resourceType"):
            problems.append(f"{fname}:{i}:identifier: not a resource OpenHSCT exports "
                            f"({res.get('resourceType')} {table})")
            continue
        spec = SPECS[table]
        row = _row_of(table, res, known[table])
        if spec.subject:
            ref = str(_get(res, spec.subject + ".reference"))
            if ref not in patients:
                problems.append(f"{fname}:{i}:{spec.subject}.reference: refers to no Patient in this bundle ({ref})")
                continue
            row["centre_code"], row["patient_code"] = patients[ref]
        if table == "patients":
            cond = conditions.get(entry.get("fullUrl", ""))
            if cond is None:
                problems.append(f"{fname}:{i}:-: the Patient has no MS Condition in this bundle "
                                f"({row['patient_code']})")
                continue
            row.update(_from_condition(cond))
        key = tuple(row[k] for k in known[table].key)
        if key in seen[table]:
            continue
        seen[table].add(key)
        rows[table].append(row)
        origins[table].append(Origin(fname, i, table))


def _row_of(table: str, res: dict, t) -> dict:
    spec = SPECS[table]
    ext = {str(e.get("url", ""))[len(EXT):]: e.get("valueString", "") for e in res.get("extension") or []
           if str(e.get("url", "")).startswith(EXT)}
    row = {}
    for c in t.columns:
        if c.name in spec.fields:
            row[c.name] = _text_value(_get(res, spec.fields[c.name]))
        else:
            row[c.name] = str(ext.get(c.name, ""))
    if table == "centres":
        return row
    if table == "patients":
        ident = (_identifiers(res) or [{}])[0].get("value", "")
        centre, _, code = str(ident).partition("|")
        row["centre_code"], row["patient_code"] = centre, code
    return row


def _from_condition(cond: dict) -> dict:
    phenotype = ""
    for coding in _get(cond, "code.coding") or []:
        for name, concept in PHENOTYPES.items():
            if coding.get("system") == concept["system"] and coding.get("code") == concept["code"]:
                phenotype = name
    ext = {str(e.get("url", ""))[len(EXT):]: e.get("valueString", "") for e in cond.get("extension") or []}
    return {"phenotype": phenotype, "onset_date": str(cond.get("onsetDateTime", "") or ""),
            "diagnosis_date": str(ext.get("diagnosis_date", ""))}


def _where(table: str, column: str) -> str:
    spec = SPECS[table]
    if table == "patients" and column in {"phenotype", "onset_date", "diagnosis_date"}:
        return f"Condition.{column}"
    if column in spec.fields:
        return spec.fields[column]
    if column in {"centre_code", "patient_code"}:
        return "identifier" if table in {"centres", "patients"} else f"{spec.subject}.reference"
    return f"extension[{EXT}{column}]"


def relabel(detail: str, origins: dict[str, list[Origin]], where=None) -> str:
    """``table.csv:ROW:COLUMN: rule`` → ``FILE:ENTRY:PATH: rule`` for a row that came from another format
    (``where(table, column)`` names the place of a column there; FHIR element paths by default)."""
    where = where or _where
    head, sep, rest = detail.partition(": ")
    parts = head.split(":")
    if len(parts) != 3:
        return detail
    file, row, column = parts
    table = file.rsplit(".", 1)[0]
    try:
        origin = origins[table][int(row) - 2]
    except (KeyError, ValueError, IndexError):
        return detail
    return f"{origin.file}:{origin.entry}:{where(table, column)}{sep}{rest}"


def import_fhir(folder: Path, *, actor: str = "cli", dry_run: bool = False, progress=None):
    """Import every ``*.json`` Bundle of ``folder`` through the registry's all-or-nothing import.

    Returns the :class:`~openhsct.registry.importer.ImportReport`; raises
    :class:`~openhsct.errors.ValidationError` listing ``FILE:ENTRY:PATH: rule (value)`` otherwise.
    """
    folder = Path(folder)
    files = sorted(folder.glob("*.json")) if folder.is_dir() else [folder]
    if not files or not all(f.exists() for f in files):
        raise OpenHSCTError(f"{folder}: no FHIR bundles (*.json) found")
    read = read_bundles(files)
    if read.problems:
        raise ValidationError(f"{folder}: {len(read.problems)} problem(s); nothing was imported.",
                              details=read.problems)
    return import_frames(read.frames, read.origins, source=folder, actor=actor, dry_run=dry_run,
                         progress=progress)


def import_frames(frames: dict[str, pd.DataFrame], origins: dict, *, source: Path, actor: str,
                  dry_run: bool = False, progress=None, where=None):
    """Write converted exchange tables to a temporary bundle and import it with ``import_bundle``;
    validation problems are relabelled to where each row came from (``origins``)."""
    from openhsct.registry.csvsafe import frame_csv
    from openhsct.registry.exchange import tables
    from openhsct.registry.importer import import_bundle

    with tempfile.TemporaryDirectory(prefix="openhsct-interop-") as tmp:
        for name, frame in frames.items():
            if len(frame):  # the one CSV writer: its escape is what the import undoes, so text arrives exactly
                text = frame_csv(frame, tables()[name].columns)
                (Path(tmp) / f"{name}.csv").write_text(text, encoding="utf-8", newline="")
        try:
            report = import_bundle(Path(tmp), actor=actor, dry_run=dry_run, progress=progress,
                                   origin=_origin(Path(source)))
        except ValidationError as exc:
            details = [relabel(d, origins, where) for d in exc.details]
            raise ValidationError(f"{source}: {len(details)} problem(s); nothing was imported.",
                                  details=details) from None
        return report


def _origin(source: Path) -> dict:
    """What the audit history names as imported: the FHIR folder or REDCap file with the SHA-256 of its
    files, not the temporary bundle it was converted to. Returns the audit event's source keys."""
    import hashlib

    files = sorted(source.glob("*.json")) if source.is_dir() else [source]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode())
        digest.update(f.read_bytes())
    return {"source": str(source), "sha256": digest.hexdigest(),
            "converted_from": "fhir" if source.is_dir() else "redcap"}
