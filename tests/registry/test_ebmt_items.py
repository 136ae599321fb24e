"""EBMT-grade registry items: database constraints, import rules, migration of existing data, the demo
round trip, the synthetic cohort and the data dictionary."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from django.db import IntegrityError, transaction

from openhsct.errors import ValidationError
from openhsct.registry import models as m
from openhsct.registry.exchange import NOT_EXCHANGED, tables
from openhsct.registry.exporter import registry_frames, write_frames
from openhsct.registry.importer import import_bundle
from openhsct.registry.item_rules import instance_problems
from tests.clinic_urls import patient_url
from tests.committed import committed_once
from tests.registry.bundle_factory import small_bundle, write

NEW_TABLES = ("viral_loads", "igg_levels", "late_effects", "reproductive_health", "second_transplants")


# ------------------------------------------------------------------------------------ database level


@pytest.fixture
def records(db):
    """One transplanted patient at a synthetic centre with a mobilisation, collection and product."""
    centre = m.Centre.objects.create(centre_code="NRT", name="Northwind", country="GBR", synthetic="yes")
    patient = m.Patient.objects.create(centre=centre, patient_code="P1", sex="female", birth_year=1985,
                                       phenotype="RRMS", consent_status="given")
    mob = m.Mobilisation.objects.create(patient=patient, mobilisation_id="M1", regimen="Cy + G-CSF", gcsf="yes",
                                        start_date=dt.date(2020, 1, 1))
    coll = m.ApheresisCollection.objects.create(patient=patient, collection_id="A1", mobilisation=mob,
                                                collection_date=dt.date(2020, 1, 10), cd34_1e6_per_kg=Decimal("5"))
    return {"patient": patient, "mobilisation": mob, "collection": coll}


def _product(records, **kw):
    base = dict(patient=records["patient"], bag_id="B1", collection=records["collection"],
                cryopreservation_date=dt.date(2020, 1, 10), storage_location="Tank 1", status="stored")
    return m.CellProduct(**{**base, **kw})


def _transplant(records, **kw):
    base = dict(patient=records["patient"], day0=dt.date(2020, 2, 1), cd34_infused_1e6_per_kg=Decimal("4"))
    return m.Transplant(**{**base, **kw})


def _conditioning(records, **kw):
    base = dict(patient=records["patient"], regimen="Cy200", intensity="low", atg="no", rituximab="no",
                start_date=dt.date(2020, 1, 27))
    return m.Conditioning(**{**base, **kw})


def _dmt(records, **kw):
    base = dict(patient=records["patient"], drug="ocrelizumab", start_date=dt.date(2018, 1, 1))
    return m.DmtExposure(**{**base, **kw})


def _mri(records, **kw):
    base = dict(patient=records["patient"], scan_date=dt.date(2021, 1, 1), t2_assessed="yes", gd_assessed="no")
    return m.MriScan(**{**base, **kw})


def _edss(records, **kw):
    return m.EdssVisit(**{"patient": records["patient"], "visit_date": dt.date(2021, 1, 1), "edss": Decimal("3.0"),
                          **kw})


BAD = [
    ("fresh product with a cryopreservation date", _product, {"preservation": "fresh"}, "cryopreservation_date"),
    ("cryopreserved product without its date", _product,
     {"preservation": "cryopreserved", "cryopreservation_date": None}, "cryopreservation_date"),
    ("engraftment never below with a date", _transplant,
     {"neutrophil_engraftment_status": "never_below", "neutrophil_engraftment_date": dt.date(2020, 2, 12)},
     "neutrophil_engraftment_date"),
    ("engraftment achieved without a date", _transplant, {"platelet_engraftment_status": "achieved"},
     "platelet_engraftment_date"),
    ("Karnofsky above 100", _transplant, {"karnofsky": 110}, "karnofsky"),
    ("ATG brand without ATG", _conditioning, {"atg_brand": "thymoglobulin"}, "atg_brand"),
    ("ATG dose without ATG", _conditioning, {"atg_mg_per_kg": Decimal("6")}, "atg_mg_per_kg"),
    ("TBI above 20 Gy", _conditioning, {"tbi_gy": Decimal("24")}, "tbi_gy"),
    ("restart reason before aHSCT", _dmt, {"after_ahsct": "no", "restart_reason": "relapse"}, "restart_reason"),
    ("last dose before the start", _dmt, {"last_dose_date": dt.date(2017, 12, 1)}, "last_dose_date"),
    ("comparator scan after the scan", _mri, {"comparator_scan_date": dt.date(2021, 6, 1)}, "comparator_scan_date"),
    ("pyramidal score above 6", _edss, {"fs_pyramidal": 7}, "fs_pyramidal"),
    ("blinded assessor on a self-reported EDSS", _edss,
     {"assessment_mode": "self_reported", "assessor_blinded": "yes"}, "assessor_blinded"),
]


@pytest.mark.parametrize(("make", "values", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_database_refuses_bad_combinations(records, make, values, field):
    row = make(records, **values)
    with pytest.raises(IntegrityError), transaction.atomic():
        row.save()


@pytest.mark.parametrize(("make", "values", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_model_validation_names_the_field_or_rule(records, make, values, field):
    """Forms and the admin call full_clean(): the rule is named before the database sees the row."""
    from django.core.exceptions import ValidationError as DjangoValidationError

    row = make(records, **values)
    with pytest.raises(DjangoValidationError) as info:
        row.full_clean()
    assert field in str(info.value)


def test_good_combinations_are_stored(records):
    _product(records, preservation="fresh", cryopreservation_date=None).save()
    _transplant(records, neutrophil_engraftment_status="achieved", neutrophil_engraftment_date=dt.date(2020, 2, 11),
                platelet_engraftment_status="never_below", karnofsky=90, hct_ci=0, lvef_percent=60).save()
    _conditioning(records, atg="yes", atg_brand="grafalon", atg_mg_per_kg=Decimal("6.00")).save()
    _dmt(records, stop_date=dt.date(2019, 6, 1), last_dose_date=dt.date(2019, 3, 1), stop_reason="ahsct").save()
    row = _edss(records, fs_pyramidal=2, assessment_mode="in_person", assessor_blinded="no", t25fw_s=Decimal("5.1"))
    row.save()
    assert row.row_version == 1
    assert m.CellProduct.objects.get().cryopreservation_date is None


def test_instance_problems_names_each_broken_rule(records):
    assert instance_problems(_product(records, preservation="fresh")) == {
        "cryopreservation_date": "cryopreservation_date must be empty when preservation is 'fresh'"}
    assert instance_problems(_dmt(records, last_dose_date=dt.date(2017, 1, 1))) == {
        "last_dose_date": "last_dose_date must be on or after start_date"}
    assert instance_problems(_product(records, preservation="cryopreserved")) == {}


# ---------------------------------------------------------------------------------------- migration


@pytest.mark.django_db(transaction=True)
def test_migration_0004_keeps_existing_data_and_fills_what_it_implies():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("registry", "0003_patient_reported_outcomes")], [("registry", "0004_ebmt_items")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        if connection.vendor == "postgresql":  # the registry at 0003 had no audit triggers (installed after
            with connection.cursor() as cursor:  # migrate, for the audit chain of 0005): rows as it wrote them
                cursor.execute("DROP FUNCTION IF EXISTS openhsct_audit_raw() CASCADE")
        old = executor.loader.project_state(before).apps
        centre = old.get_model("registry", "Centre").objects.create(centre_code="OLD", name="Old", country="GBR")
        patient = old.get_model("registry", "Patient").objects.create(
            centre=centre, patient_code="P1", sex="male", birth_year=1980, phenotype="RRMS", consent_status="given")
        mob = old.get_model("registry", "Mobilisation").objects.create(
            patient=patient, mobilisation_id="M1", regimen="Cy", gcsf="yes", start_date=dt.date(2019, 1, 1))
        coll = old.get_model("registry", "ApheresisCollection").objects.create(
            patient=patient, collection_id="A1", mobilisation=mob, collection_date=dt.date(2019, 1, 10),
            cd34_1e6_per_kg=Decimal("5.00"))
        old.get_model("registry", "CellProduct").objects.create(
            patient=patient, bag_id="B1", collection=coll, cryopreservation_date=dt.date(2019, 1, 10),
            storage_location="Tank", status="infused")
        old.get_model("registry", "Transplant").objects.create(
            patient=patient, day0=dt.date(2019, 2, 1), cd34_infused_1e6_per_kg=Decimal("4.00"),
            neutrophil_engraftment_date=dt.date(2019, 2, 11))
        dmt = old.get_model("registry", "DmtExposure")
        dmt.objects.create(patient=patient, drug="natalizumab", start_date=dt.date(2015, 1, 1),
                           stop_date=dt.date(2018, 10, 1))
        dmt.objects.create(patient=patient, drug="ocrelizumab", start_date=dt.date(2021, 1, 1))

        executor = MigrationExecutor(connection)
        executor.migrate(after)
        new = executor.loader.project_state(after).apps
        product = new.get_model("registry", "CellProduct").objects.get()
        assert product.cryopreservation_date == dt.date(2019, 1, 10) and product.preservation == "cryopreserved"
        tx = new.get_model("registry", "Transplant").objects.get()
        assert (tx.neutrophil_engraftment_status, tx.platelet_engraftment_status) == ("achieved", "")
        assert tx.neutrophil_engraftment_date == dt.date(2019, 2, 11) and tx.row_version == 1
        flags = dict(new.get_model("registry", "DmtExposure").objects.values_list("drug", "after_ahsct"))
        assert flags == {"natalizumab": "no", "ocrelizumab": "yes"}
    finally:
        from django.core.management.sql import emit_post_migrate_signal

        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        emit_post_migrate_signal(verbosity=0, interactive=False, db=connection.alias)  # the audit guards again


# ------------------------------------------------------------------------------------------- import


def _with_items() -> dict[str, list[dict]]:
    """The small hand-written bundle plus rows of every new table and new columns filled."""
    b = copy.deepcopy(small_bundle())
    p1 = {"centre_code": "NRT", "patient_code": "P001"}
    b["cell_products"][0]["preservation"] = "cryopreserved"
    b["viral_loads"] = [{**p1, "sample_date": "2018-04-17", "virus": "cmv", "load_iu_per_ml": "2400",
                         "reactivation": "yes", "preemptive_treatment": "valganciclovir"}]
    b["igg_levels"] = [{**p1, "sample_date": "2018-06-18", "igg_g_per_l": "5.6", "replacement": "no"}]
    b["late_effects"] = [{**p1, "effect_id": "L1", "effect": "ptld", "diagnosis_date": "2018-09-01",
                          "description": "EBV-positive"}]
    b["reproductive_health"] = [{**p1, "record_date": "2019-03-20", "amenorrhoea": "yes", "menopause": "no",
                                 "amh_pmol_per_l": "1.2", "fertility_preservation": "oocytes", "pregnancy": "no",
                                 "pregnancy_outcome": ""}]
    b["second_transplants"] = [{**p1, "transplant_date": "2022-05-02", "kind": "autologous",
                                "indication": "ms_activity"}]
    return b


def test_new_tables_import_and_export_identically(db, tmp_path):
    folder = write(_with_items(), tmp_path / "in")
    report = import_bundle(folder)
    assert all(report.created[name] == 1 for name in NEW_TABLES)
    out = tmp_path / "out"
    write_frames(registry_frames(), out)
    for f in folder.glob("*.csv"):
        a = pd.read_csv(f, dtype=str, keep_default_na=False)
        b = pd.read_csv(out / f.name, dtype=str, keep_default_na=False)
        pd.testing.assert_frame_equal(a.sort_values(list(a.columns)).reset_index(drop=True),
                                      b.sort_values(list(b.columns)).reset_index(drop=True), obj=f.name)


def _errors(tmp_path, bundle) -> list[str]:
    with pytest.raises(ValidationError) as info:
        import_bundle(write(bundle, tmp_path / "bad"))
    assert m.Patient.objects.count() == 0
    return info.value.details


IMPORT_BAD = [
    ("cell_products", 0, {"preservation": "fresh"}, "cell_products.csv:2:cryopreservation_date: must be empty "
                                                     "when preservation is 'fresh'"),
    ("transplants", 0, {"neutrophil_engraftment_status": "not_achieved"},
     "transplants.csv:2:neutrophil_engraftment_date: must be empty when neutrophil_engraftment_status is "
     "'never_below' or 'not_achieved'"),
    ("mobilisations", 0, {"gcsf": "no", "gcsf_days": "5"}, "mobilisations.csv:2:gcsf_days: must be empty when gcsf "
                                                           "is 'no'"),
    ("viral_loads", 0, {"sample_date": "2030-01-01"}, None),
    ("second_transplants", 0, {"transplant_date": "2018-03-01"},
     "second_transplants.csv:2:transplant_date: a second transplant must be after the first one's day0"),
    ("igg_levels", 0, {"igg_g_per_l": "75.0"}, "igg_levels.csv:2:igg_g_per_l:"),
    ("reproductive_health", 0, {"pregnancy_outcome": "live_birth"},
     "reproductive_health.csv:2:pregnancy_outcome: must be empty when pregnancy is 'no'"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("table", "row", "values", "expected"), IMPORT_BAD, ids=[f"{b[0]}-{i}" for i, b in
                                                                                  enumerate(IMPORT_BAD)])
def test_import_names_file_row_and_column_and_writes_nothing(tmp_path, table, row, values, expected):
    bundle = _with_items()
    bundle[table][row].update(values)
    details = _errors(tmp_path, bundle)
    if expected is None:  # a date after the patient's death or in the future: named on its column
        assert any(d.startswith(f"{table}.csv:2:sample_date") for d in details), details
    else:
        assert any(d.startswith(expected) for d in details), details


# ---------------------------------------------------------------------------- synthetic round trip


@pytest.fixture(scope="module")
def cohort():
    from openhsct.registry.synth import generate

    return generate(centres=3, patients=400, seed=11)


def test_demo_bundle_import_export_is_byte_identical_with_the_new_tables(db, tmp_path, cohort):
    """As ``openhsct demo`` builds it: the synthetic cohort plus comparators (a quarter of the patients)."""
    from openhsct.registry.synth import write_bundle
    from openhsct.registry.synth_comparators import add_comparators

    write_bundle(add_comparators(cohort, 100, 11), tmp_path / "synth")
    import_bundle(tmp_path / "synth")
    write_frames(registry_frames(), tmp_path / "again")
    for name in tables():
        assert (tmp_path / "synth" / f"{name}.csv").read_bytes() == (tmp_path / "again" / f"{name}.csv").read_bytes(), name
    for name in NEW_TABLES[:4]:
        assert len(cohort[name]) > 0, name


def test_synth_draws_every_item_and_is_deterministic(cohort):
    from openhsct.registry.synth import generate

    again = generate(centres=3, patients=400, seed=11)
    assert all(cohort[n].equals(again[n]) for n in cohort)
    other = generate(centres=3, patients=400, seed=12)
    assert not cohort["viral_loads"].equals(other["viral_loads"])
    for name, table in tables().items():
        assert list(cohort[name].columns) == table.column_names, name
    tx = cohort["transplants"]
    cmv = (tx["cmv_serostatus"] == "positive").mean()
    assert 0.55 < cmv < 0.77  # CMV seroprevalence 66 % (Zuhair et al. 2019)
    assert set(tx["neutrophil_engraftment_status"]) <= {"achieved", ""}
    assert "never_below" in set(tx["platelet_engraftment_status"])
    assert (tx["platelet_engraftment_status"] == "achieved").eq(tx["platelet_engraftment_date"] != "").all()
    ae = cohort["adverse_events"]
    assert set(ae.loc[ae["category"] == "secondary_autoimmunity", "autoimmunity_type"]) <= {"thyroid", "itp",
                                                                                             "aiha", "other"}
    assert (ae.loc[ae["category"] != "infection", "organism"] == "").all()
    assert (cohort["dmt_exposures"]["after_ahsct"] == "yes").any()
    assert (cohort["dmt_exposures"]["stop_reason"] == "ahsct").any()
    visits = cohort["edss_visits"]
    assert (visits["fs_pyramidal"] != "").mean() > 0.8 and (visits["sdmt"] != "").any()


def test_generate_keeps_the_tables_drawn_before_the_items():
    """The items come from their own random stream: the base cohort is what it was without them."""
    import numpy as np

    from openhsct.registry import synth, synth_items

    calls = []

    def no_items(tabs, coh, seed, as_of):  # every item column and table left empty
        calls.append(seed)
        for name, columns in synth.TABLE_COLUMNS.items():
            tabs.setdefault(name, pd.DataFrame(columns=list(columns)))
            for col in columns:
                if col not in tabs[name]:
                    tabs[name][col] = ""

    original = synth_items.add_items
    synth_items.add_items = no_items
    try:
        bare = synth.generate(centres=2, patients=50, seed=3)
    finally:
        synth_items.add_items = original
    full = synth.generate(centres=2, patients=50, seed=3)
    assert calls == [3]
    for col in ("edss", "visit_date"):
        assert np.array_equal(bare["edss_visits"][col].to_numpy(), full["edss_visits"][col].to_numpy())
    assert bare["transplants"]["day0"].equals(full["transplants"]["day0"])


# -------------------------------------------------------------------------------------- dictionary


def test_dictionary_lists_every_item_with_unit_code_list_and_source():
    from openhsct.registry.dictionary_sources import EBMT_MAP, SOURCES
    from openhsct.registry.exchange import data_dictionary_markdown

    text = data_dictionary_markdown()
    for name in NEW_TABLES:
        assert f"## `{name}`" in text
    assert "| `atg_brand` | code | no | `thymoglobulin`, `grafalon`, `atgam`, `other` |" in text
    assert "G-CSF daily dose, µg/kg/day" in text and "Serum IgG, g/L" in text
    for (table, column) in SOURCES:
        assert column in tables()[table].column_names, (table, column)
    for (table, column) in EBMT_MAP:
        assert column in tables()[table].column_names, (table, column)
        assert f"`{table}.{column}`" in text
    assert "not exchanged" not in text and all(c not in text for c in NOT_EXCHANGED)
    assert "EBMT MED-A / MED-B" in text and "unmatched" in text


# ------------------------------------------------------------------------------------- clinic forms


def _clinic_world(folder: Path) -> int:
    """Creates the cast and imports the small NRT bundle; returns the NRT staff member's primary key."""
    from openhsct.registry.audit import acting_as
    from tests.conftest import make_cast

    cast = make_cast()
    with acting_as("cli:test"):
        import_bundle(write(small_bundle(), folder / "bundle"), actor="cli:test")
    return cast["north_staff"].pk


@pytest.fixture(scope="class")
def _clinic_rows(django_db_setup, django_db_blocker, tmp_path_factory):
    """The cast and the small NRT bundle, committed once for the clinic form tests and wiped after them."""
    yield from committed_once(django_db_blocker, lambda: _clinic_world(tmp_path_factory.mktemp("clinic")))


@pytest.fixture
def clinic(db, _clinic_rows, client):
    """The cast, the small NRT bundle imported, and the NRT staff member signed in (what a test writes is
    rolled back)."""
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(pk=_clinic_rows))
    return client


def _post(client, slug: str, **data):
    return client.post(patient_url("NRT", "P001", f"add/{slug}/"), {f"{slug}-{k}": v for k, v in data.items()})


class TestClinicForms:
    """The clinic forms over the small NRT bundle, imported once for the class (``clinic``)."""

    def test_clinic_forms_record_the_new_items(self, clinic):
        page = clinic.get(patient_url("NRT", "P001")).content.decode()
        for slug in ("dmt", "viral-load", "igg", "late-effect", "reproductive", "second-transplant"):
            assert f'id="add-{slug}"' in page, slug
        assert 'name="late-effect-effect_id"' in page and 'value="L1"' in page
        assert _post(clinic, "viral-load", sample_date="2018-04-20", virus="ebv", load_iu_per_ml="15000",
                     reactivation="yes", preemptive_treatment="rituximab").status_code == 302
        assert _post(clinic, "edss", visit_date="2023-03-01", edss="3,5", assessment_mode="in_person",
                     assessor_certified="yes", assessor_blinded="no", fs_pyramidal="2", t25fw_s="5,4",
                     sdmt="51").status_code == 302
        assert _post(clinic, "dmt", drug="ocrelizumab", start_date="2021-09-01", after_ahsct="yes",
                     restart_reason="relapse").status_code == 302
        load = m.ViralLoad.objects.get()
        assert (load.virus, load.load_iu_per_ml, load.preemptive_treatment) == ("ebv", 15000, "rituximab")
        visit = m.EdssVisit.objects.get(visit_date=dt.date(2023, 3, 1))
        assert (visit.edss, visit.fs_pyramidal, visit.t25fw_s, visit.sdmt) == (Decimal("3.5"), 2, Decimal("5.4"), 51)
        assert m.DmtExposure.objects.get(drug="ocrelizumab").restart_reason == "relapse"


    @pytest.mark.parametrize(("kind", "data", "field"), [
        ("dmt", {"drug": "natalizumab", "start_date": "2015-01-01", "after_ahsct": "no", "restart_reason": "relapse"},
         "restart_reason"),
        ("edss", {"visit_date": "2023-03-01", "edss": "3.0", "fs_cerebral": "6"}, "fs_cerebral"),
        ("reproductive", {"record_date": "2019-01-01", "pregnancy": "no", "pregnancy_outcome": "live_birth"},
         "pregnancy_outcome"),
        ("mri", {"scan_date": "2023-01-01", "t2_assessed": "no", "gd_assessed": "no",
                 "comparator_scan_date": "2023-02-01"}, "comparator_scan_date"),
        ("second-transplant", {"transplant_date": "2017-01-01", "kind": "autologous", "indication": "ms_activity"},
         "transplant_date"),
    ])
    def test_clinic_forms_refuse_bad_combinations_next_to_the_field(self, clinic, kind, data, field):
        """The import's rule is shown on the field it names, and nothing is written."""
        before = {model: model.objects.count() for model in (m.DmtExposure, m.EdssVisit, m.ReproductiveHealth,
                                                             m.MriScan, m.SecondTransplant)}
        response = _post(clinic, kind, **data)
        assert response.status_code == 400
        assert f'id="{kind}-{field}-error"' in response.content.decode()
        assert before == {model: model.objects.count() for model in before}


def test_ebmt_summary_carries_the_new_items(db, tmp_path):
    from openhsct.interop import ebmt

    bundle = _with_items()
    bundle["patients"][0]["consent_sharing"] = "yes"
    bundle["mobilisations"][0].update(weight_kg="70.0", height_cm="168.0")
    bundle["conditioning"][0].update(weight_kg="68.5", height_cm="168.0")
    bundle["transplants"][0].update(karnofsky="90", cmv_serostatus="positive", neutrophil_engraftment_status="achieved")
    import_bundle(write(bundle, tmp_path / "in"))
    row = ebmt.ebmt_summary(registry_frames()).rows.iloc[0]
    assert (row["Weight at HSCT (kg)"], row["Performance score (Karnofsky) at HSCT"]) == ("68.5", "90")
    assert (row["CMV serostatus"], row["ANC recovery"]) == ("positive", "achieved")
    assert row["Subsequent HSCT date"] == "2022-05-02"


@pytest.mark.django_db
def test_new_tables_are_covered_by_the_after_death_rule(tmp_path):
    bundle = _with_items()
    bundle["igg_levels"].append({"centre_code": "NRT", "patient_code": "P002", "sample_date": "2019-06-01",
                                 "igg_g_per_l": "6.0", "replacement": "no"})  # P002 died on 2019-05-06
    details = _errors(tmp_path, bundle)
    assert any(d.startswith("igg_levels.csv:3:sample_date: nothing can be recorded after death_date")
               for d in details), details
