"""FHIR R4: every bundle parses with the R4B models; export → import into an empty registry → the same CSV."""

from __future__ import annotations

import json

import pytest

from openhsct.errors import ValidationError
from openhsct.interop import fhir
from openhsct.registry.exporter import registry_frames, write_frames
from tests.interop.conftest import assert_same_csv, empty_registry

pytestmark = pytest.mark.django_db(transaction=False)


def test_fhir_round_trip_is_byte_for_byte(synthetic_registry, tmp_path):
    from fhir.resources.R4B.bundle import Bundle

    counts = fhir.export_fhir(tmp_path / "fhir")
    files = sorted((tmp_path / "fhir").glob("*.json"))
    assert counts["bundles"] == len(files) == 2 + 20
    kinds = set()
    for f in files:  # every written file parses back with the R4B models
        b = Bundle.model_validate_json(f.read_text(encoding="utf-8"))
        assert b.type == "transaction"
        kinds |= {e.resource.get_resource_type() for e in b.entry}
    assert {"Patient", "Condition", "Procedure", "MedicationAdministration", "Observation",
            "AdverseEvent", "Organization"} <= kinds
    empty_registry()
    report = fhir.import_fhir(tmp_path / "fhir")
    assert report.created["patients"] == 20 and report.created["pro_answers"] > 0
    again = tmp_path / "again"
    write_frames(registry_frames(), again)
    assert_same_csv(synthetic_registry, again)


def test_patient_bundle_is_pseudonymous_and_coded(synthetic_registry, tmp_path):
    fhir.export_fhir(tmp_path / "fhir")
    bundles = [json.loads(f.read_text()) for f in sorted((tmp_path / "fhir").glob("patient-*.json"))]
    bundle = next(b for b in bundles if "autologous-hsct-reinfusion" in json.dumps(b) and "mri-scan" in json.dumps(b))
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert len(patient["birthDate"]) == 4 and "name" not in patient and "address" not in patient
    condition = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition")
    assert {"system": "http://snomed.info/sct", "code": "24700007", "display": "Multiple sclerosis"} in \
        condition["code"]["coding"]
    edss = [e["resource"] for e in bundle["entry"] if e["resource"].get("code", {}).get("text") == "EDSS"]
    assert edss and all(r["code"]["coding"][0]["code"] == "273554001" for r in edss)
    codes = {r["code"]["coding"][0]["code"] for r in (e["resource"] for e in bundle["entry"]) if "code" in r
             and "coding" in r["code"]}
    assert {"neutrophil-engraftment", "autologous-hsct-reinfusion", "mri-scan"} <= codes
    mri = next(e["resource"] for e in bundle["entry"] if e["resource"].get("code", {}).get("text", "").startswith("MRI"))
    assert [c["code"]["coding"][0]["code"] for c in mri["component"]] == ["new-enlarging-t2", "gd-enhancing"]


def test_import_reports_file_entry_and_path_and_writes_nothing(synthetic_registry, tmp_path):
    from openhsct.registry import models as m

    fhir.export_fhir(tmp_path / "fhir")
    empty_registry()
    path = sorted((tmp_path / "fhir").glob("patient-*.json"))[0]
    bundle = json.loads(path.read_text())
    i, obs = next((i, e["resource"]) for i, e in enumerate(bundle["entry"])
                  if e["resource"].get("code", {}).get("text") == "EDSS")
    obs["valueQuantity"]["value"] = 3.7  # not a half step
    path.write_text(json.dumps(bundle))
    with pytest.raises(ValidationError) as info:
        fhir.import_fhir(tmp_path / "fhir")
    assert any(d.startswith(f"{path.name}:{i}:valueQuantity.value:") for d in info.value.details), \
        info.value.details
    assert m.Patient.objects.count() == 0


def test_unparseable_resource_is_reported_with_its_entry(tmp_path, db):
    (tmp_path / "b.json").write_text(json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                      "effectiveDateTime": "2020-13-45"}}]}))
    with pytest.raises(ValidationError) as info:
        fhir.import_fhir(tmp_path)
    assert info.value.details[0].startswith("b.json:0:effectiveDateTime:")


def test_every_table_mapping_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "fhir.md").read_text(encoding="utf-8")
    for table, spec in fhir.SPECS.items():
        assert f"| `{table}` | {spec.resource} |" in doc
