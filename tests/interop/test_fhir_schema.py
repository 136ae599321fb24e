"""Exported bundles validate against HL7's official FHIR R4 JSON schema (besides the R4B models)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from openhsct.interop.fhir import patient_bundles
from openhsct.registry.synth import generate

SCHEMA = Path(__file__).parent / "fhir_r4" / "fhir.schema.json.gz"


@pytest.fixture(scope="module")
def validator():
    """``validate(bundle)`` → the schema errors: the bundle's shell against ``Bundle``, then each resource
    against its own type's definition (the same checks as the schema's ``oneOf`` over all resource types,
    which takes far longer)."""
    import jsonschema

    schema = json.loads(gzip.decompress(SCHEMA.read_bytes()))
    assert schema["id"] == "http://hl7.org/fhir/json-schema/4.0"

    def of(name):
        return jsonschema.Draft6Validator({"$ref": f"#/definitions/{name}", "definitions": schema["definitions"]})

    cache = {}

    def validate(bundle):
        shell = {**bundle, "entry": [{k: v for k, v in e.items() if k != "resource"} for e in bundle["entry"]]}
        errors = [f"Bundle {list(e.absolute_path)}: {e.message[:120]}" for e in of("Bundle").iter_errors(shell)]
        for i, entry in enumerate(bundle["entry"]):
            kind = entry["resource"]["resourceType"]
            v = cache.setdefault(kind, of(kind))
            errors += [f"entry {i} {kind} {list(e.absolute_path)}: {e.message[:120]}"
                       for e in v.iter_errors(entry["resource"])]
        return errors

    return validate


def test_every_resource_kind_validates_against_the_r4_schema(validator):
    bundles = patient_bundles(generate(centres=2, patients=8, seed=5))
    kinds = set()
    for name, bundle in bundles.items():
        assert validator(bundle) == [], name
        kinds |= {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"Patient", "Condition", "Procedure", "MedicationAdministration", "MedicationStatement",
            "Observation", "AdverseEvent", "BiologicallyDerivedProduct", "ChargeItem", "Organization"} <= kinds


def test_the_schema_catches_a_broken_resource(validator):
    bundle = next(iter(patient_bundles(generate(centres=1, patients=1, seed=5)).values()))
    bundle["entry"][0]["resource"]["active"] = "yes"  # Organization.active is a boolean
    assert validator(bundle)
    bundle["entry"][0]["resource"]["active"] = True
    bundle["entry"][0]["request"]["url"] = "Organization?identifier=a b"  # a uri has no spaces
    assert validator(bundle)
