"""Import validates everything before it writes anything; import → export reproduces the tables."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from openhsct.errors import ValidationError
from openhsct.registry import models as m
from openhsct.registry.exporter import registry_frames, write_frames
from openhsct.registry.importer import import_bundle
from tests.registry.bundle_factory import small_bundle, write

pytestmark = pytest.mark.django_db


def _import_errors(tmp_path, bundle) -> list[str]:
    with pytest.raises(ValidationError) as info:
        import_bundle(write(bundle, tmp_path / "bad"))
    assert info.value.exit_code == 2
    return info.value.details


def _nothing_written() -> None:
    assert m.Centre.objects.count() == 0
    assert m.Patient.objects.count() == 0
    assert m.EdssVisit.objects.count() == 0


def test_small_bundle_imports_and_exports_identically(tmp_path):
    folder = write(small_bundle(), tmp_path / "in")
    report = import_bundle(folder)
    assert report.created["patients"] == 2 and report.created["edss_visits"] == 4
    out = tmp_path / "out"
    write_frames(registry_frames(), out)
    for f in folder.glob("*.csv"):
        a = pd.read_csv(f, dtype=str, keep_default_na=False)
        b = pd.read_csv(out / f.name, dtype=str, keep_default_na=False)
        pd.testing.assert_frame_equal(a.sort_values(list(a.columns)).reset_index(drop=True),
                                      b.sort_values(list(b.columns)).reset_index(drop=True), obj=f.name)


def test_reimport_duplicates_nothing_and_updates_only_changed_rows(tmp_path):
    bundle = small_bundle()
    import_bundle(write(bundle, tmp_path / "a"))
    again = import_bundle(write(bundle, tmp_path / "b"))
    assert again.total_created == 0 and again.total_updated == 0
    assert m.EdssVisit.objects.count() == 4
    changed = copy.deepcopy(bundle)
    changed["edss_visits"][1]["edss"] = "4.0"
    third = import_bundle(write(changed, tmp_path / "c"))
    assert third.updated["edss_visits"] == 1 and third.total_created == 0
    ev = m.AuditEvent.objects.filter(action="update", model="EdssVisit").get()
    assert ev.before["edss"] == "3.0" and ev.after["edss"] == "4.0"


# One broken rule per case: (table, row index, column, new value, expected text in the message)
ONE_ERROR_CASES = [
    ("edss_visits", 0, "edss", "10.5", "edss_visits.csv:2:edss: must be"),
    ("edss_visits", 1, "edss", "3.25", "edss_visits.csv:3:edss: more than 1 decimals"),
    ("edss_visits", 1, "edss", "3.7", "not in steps of 0.5"),
    ("edss_visits", 0, "edss", "three", "edss_visits.csv:2:edss: not a number"),
    ("apheresis", 0, "cd34_1e6_per_kg", "0.00", "apheresis.csv:2:cd34_1e6_per_kg: must be > 0"),
    ("adverse_events", 0, "grade", "6", "adverse_events.csv:2:grade: must be"),
    ("adverse_events", 0, "grade", "2.5", "not a whole number"),
    ("patients", 0, "phenotype", "RMS", "patients.csv:2:phenotype: not one of RRMS, SPMS, PPMS, other (RMS)"),
    ("patients", 1, "sex", "", "patients.csv:3:sex: required value is missing"),
    ("deaths", 0, "transplant_related", "maybe", "deaths.csv:2:transplant_related: not one of"),
    ("edss_visits", 2, "visit_date", "2019-02-30", "edss_visits.csv:4:visit_date: not a date"),
    ("edss_visits", 2, "visit_date", "2099-01-01", "date is in the future"),
    ("custody_events", 0, "event_at", "2018-02-11 15:00", "custody_events.csv:2:event_at: not an ISO 8601"),
    ("edss_visits", 1, "visit_date", "2018-01-10", "edss_visits.csv:3:visit_date: duplicate key"),
    ("edss_visits", 0, "patient_code", "P999", "edss_visits.csv:2:patient_code: no such patient"),
    ("patients", 0, "centre_code", "XXX", "patients.csv:2:centre_code: no such centre"),
    ("apheresis", 0, "mobilisation_id", "M9", "apheresis.csv:2:mobilisation_id: no such mobilisation_id"),
    ("custody_events", 0, "bag_id", "B-NONE", "custody_events.csv:2:bag_id: no such bag_id"),
    ("apheresis", 0, "collection_date", "2018-03-16", "apheresis.csv:2:collection_date: collection must be before conditioning"),
    ("conditioning", 0, "start_date", "2018-03-21", "conditioning.csv:2:start_date: conditioning must start on or before day0"),
    ("transplants", 0, "neutrophil_engraftment_date", "2018-03-20", "transplants.csv:2:neutrophil_engraftment_date: engraftment must be after day0"),
    ("edss_visits", 3, "visit_date", "2019-06-01", "edss_visits.csv:5:visit_date: nothing can be recorded after death_date"),
    ("patients", 0, "diagnosis_date", "2009-01-01", "patients.csv:2:diagnosis_date: diagnosis must be on or after onset_date"),
    ("mri_scans", 1, "gd_lesions", "2", "mri_scans.csv:3:gd_lesions: must be empty unless gd_assessed is yes"),
    ("mri_scans", 0, "new_enlarging_t2", "", "mri_scans.csv:2:new_enlarging_t2: required when t2_assessed is yes"),
    ("custody_events", 2, "event_at", "2018-03-19T09:00:00+00:00", "custody events must be in time order"),
    ("costs", 0, "amount", "-5.00", "costs.csv:2:amount: must be"),
    ("patients", 0, "consent_status", "withdrawn",
     "patients.csv:2:consent_withdrawal_date: required when consent_status is withdrawn"),
    ("patients", 0, "consent_withdrawal_date", "2020-01-01",
     "patients.csv:2:consent_withdrawal_date: must be empty unless consent_status is withdrawn"),
    ("patients", 0, "consent_publication", "maybe", "patients.csv:2:consent_publication: not one of"),
]


@pytest.mark.parametrize(("table", "row", "column", "value", "expected"), ONE_ERROR_CASES,
                         ids=[f"{c[0]}-{c[2]}-{c[3] or 'empty'}" for c in ONE_ERROR_CASES])
def test_each_broken_rule_is_named_and_nothing_is_written(tmp_path, table, row, column, value, expected):
    bundle = small_bundle()
    bundle[table][row][column] = value
    errors = _import_errors(tmp_path, bundle)
    assert any(expected in e for e in errors), errors
    _nothing_written()


def test_several_errors_are_all_listed(tmp_path):
    bundle = small_bundle()
    bundle["edss_visits"][0]["edss"] = "11"
    bundle["adverse_events"][1]["grade"] = "0"
    bundle["patients"][0]["phenotype"] = "XX"
    bundle["transplants"][1]["day0"] = "2019-03-01"  # before conditioning start 2019-03-20
    errors = _import_errors(tmp_path, bundle)
    assert len(errors) >= 4
    joined = "\n".join(errors)
    for piece in ("edss_visits.csv:2:edss", "adverse_events.csv:3:grade", "patients.csv:2:phenotype",
                  "conditioning must start on or before day0"):
        assert piece in joined
    _nothing_written()


def test_header_problems_name_the_column(tmp_path):
    folder = write(small_bundle(), tmp_path / "h")
    frame = pd.read_csv(folder / "relapses.csv", dtype=str).rename(columns={"onset_date": "date"})
    frame.to_csv(folder / "relapses.csv", index=False)
    with pytest.raises(ValidationError) as info:
        import_bundle(folder)
    joined = "\n".join(info.value.details)
    assert "relapses.csv:1:onset_date: required column is missing" in joined
    assert "relapses.csv:1:date: unknown column" in joined
    _nothing_written()


def test_error_against_rows_already_in_the_registry(tmp_path):
    import_bundle(write(small_bundle(), tmp_path / "a"))
    late = {"edss_visits": [{"centre_code": "NRT", "patient_code": "P002", "visit_date": "2019-09-01",
                             "edss": "6.5"}]}
    errors = _import_errors(tmp_path, late)
    assert any("edss_visits.csv:2:visit_date: nothing can be recorded after death_date" in e for e in errors)
    assert m.EdssVisit.objects.count() == 4


def test_parquet_round_trip(tmp_path):
    import_bundle(write(small_bundle(), tmp_path / "in"))
    before = registry_frames()
    write_frames(before, tmp_path / "pq", "parquet")
    from openhsct.registry.importer import read_bundle
    from openhsct.registry.validation import Collector

    out = Collector()
    frames = read_bundle(tmp_path / "pq", out)
    assert not out.problems
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(frame.drop(columns="_row").reset_index(drop=True),
                                      before[name].reset_index(drop=True), obj=name)
