"""A small valid bundle written by hand, for import tests that break one rule at a time."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

P = {"centre_code": "NRT"}


def _rows(patient: str, **cols) -> dict:
    return {"centre_code": "NRT", "patient_code": patient, **cols}


def small_bundle() -> dict[str, list[dict]]:
    """Two transplanted patients (one died on day +40 of a transplant-related infection) at centre NRT."""
    return {
        "centres": [{"centre_code": "NRT", "name": "Northwind Synthetic Centre", "country": "GBR",
                     "city": "Northwind", "synthetic": "yes"}],
        "patients": [
            _rows("P001", sex="female", birth_year="1985", phenotype="RRMS", onset_date="2010-03-01",
                  diagnosis_date="2011-01-15", consent_status="given", consent_date="2018-01-10",
                  last_contact_date="2024-06-01"),
            _rows("P002", sex="male", birth_year="1979", phenotype="SPMS", onset_date="2005-05-01",
                  diagnosis_date="2006-02-01", consent_status="given", consent_date="2019-02-01",
                  last_contact_date="2019-05-06"),
        ],
        "eligibility": [
            _rows("P001", assessment_date="2018-01-10", edss="3.5", relapses_prior_12m="2", gd_assessed="yes",
                  gd_lesions="3", prior_dmt_count="2", prior_dmts="natalizumab;fingolimod", decision="eligible",
                  reason=""),
            _rows("P002", assessment_date="2019-02-01", edss="6.0", relapses_prior_12m="0", gd_assessed="no",
                  gd_lesions="", prior_dmt_count="3", prior_dmts="", decision="eligible", reason="active SPMS"),
        ],
        "mobilisations": [
            _rows("P001", mobilisation_id="M1", regimen="cyclophosphamide + G-CSF", cyclophosphamide_g_per_m2="2.00",
                  gcsf="yes", start_date="2018-02-01", end_date="2018-02-12"),
            _rows("P002", mobilisation_id="M1", regimen="cyclophosphamide + G-CSF", cyclophosphamide_g_per_m2="2.00",
                  gcsf="yes", start_date="2019-02-10", end_date="2019-02-20"),
        ],
        "apheresis": [
            _rows("P001", collection_id="A1", mobilisation_id="M1", collection_date="2018-02-11",
                  cd34_1e6_per_kg="6.20", volume_ml="250.0"),
            _rows("P002", collection_id="A1", mobilisation_id="M1", collection_date="2019-02-19",
                  cd34_1e6_per_kg="4.10", volume_ml=""),
        ],
        "cell_products": [
            _rows("P001", bag_id="B-P001-1", collection_id="A1", cryopreservation_date="2018-02-11",
                  storage_location="Tank 2", status="infused"),
            _rows("P002", bag_id="B-P002-1", collection_id="A1", cryopreservation_date="2019-02-19",
                  storage_location="Tank 1", status="infused"),
        ],
        "custody_events": [
            _rows("P001", bag_id="B-P001-1", seq="1", event="frozen", event_at="2018-02-11T15:00:00+00:00",
                  performed_by="lab tech A", location="Cell lab"),
            _rows("P001", bag_id="B-P001-1", seq="2", event="thawed", event_at="2018-03-20T08:00:00+00:00",
                  performed_by="lab tech B", location="Ward 5"),
            _rows("P001", bag_id="B-P001-1", seq="3", event="infused", event_at="2018-03-20T09:00:00+00:00",
                  performed_by="nurse C", location="Ward 5"),
        ],
        "conditioning": [
            _rows("P001", regimen="Cy200+rATG", intensity="intermediate", atg="yes", rituximab="no",
                  start_date="2018-03-15", end_date="2018-03-19"),
            _rows("P002", regimen="BEAM+ATG", intensity="intermediate", atg="yes", rituximab="no",
                  start_date="2019-03-20", end_date="2019-03-26"),
        ],
        "conditioning_drugs": [
            _rows("P001", drug="cyclophosphamide", total_dose="200.00", dose_unit="mg/kg"),
            _rows("P001", drug="rATG", total_dose="6.00", dose_unit="mg/kg"),
        ],
        "transplants": [
            _rows("P001", day0="2018-03-20", cd34_infused_1e6_per_kg="5.80", admission_date="2018-03-14",
                  discharge_date="2018-04-05", neutrophil_engraftment_date="2018-03-30",
                  platelet_engraftment_date="2018-04-01"),
            _rows("P002", day0="2019-03-27", cd34_infused_1e6_per_kg="3.90", admission_date="2019-03-19",
                  discharge_date="", neutrophil_engraftment_date="2019-04-07", platelet_engraftment_date=""),
        ],
        "adverse_events": [
            _rows("P001", ae_id="AE1", category="infection", ctcae_term="Febrile neutropenia", grade="3",
                  onset_date="2018-03-24", resolution_date="2018-03-29", attribution="related", serious="yes"),
            _rows("P002", ae_id="AE1", category="infection", ctcae_term="Sepsis", grade="5",
                  onset_date="2019-04-25", resolution_date="", attribution="related", serious="yes"),
        ],
        "deaths": [
            _rows("P002", death_date="2019-05-06", cause="Sepsis", cause_category="infection",
                  transplant_related="yes"),
        ],
        "edss_visits": [
            _rows("P001", visit_date="2018-01-10", edss="3.5"),
            _rows("P001", visit_date="2018-09-20", edss="3.0"),
            _rows("P001", visit_date="2019-03-18", edss="3.0"),
            _rows("P002", visit_date="2019-02-01", edss="6.0"),
        ],
        "relapses": [_rows("P001", onset_date="2017-11-02")],
        "mri_scans": [
            _rows("P001", scan_date="2018-01-05", t2_assessed="yes", new_enlarging_t2="4", gd_assessed="yes",
                  gd_lesions="3"),
            _rows("P001", scan_date="2019-03-10", t2_assessed="yes", new_enlarging_t2="0", gd_assessed="no",
                  gd_lesions=""),
        ],
        "dmt_exposures": [
            _rows("P001", drug="natalizumab", start_date="2013-01-01", stop_date="2016-06-30"),
            _rows("P001", drug="fingolimod", start_date="2016-08-01", stop_date="2017-12-15"),
        ],
        "costs": [
            _rows("P001", cost_date="2018-03-20", category="hospital_stay", amount="1500000.00", currency="RUB"),
            _rows("P002", cost_date="2019-03-27", category="hospital_stay", amount="52000.00", currency="GBP"),
        ],
    }


def write(bundle: dict[str, list[dict]], folder: Path) -> Path:
    """Write the bundle's tables as CSV (column order as the exchange format) and return the folder."""
    from openhsct.registry.exchange import tables

    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in bundle.items():
        cols = tables()[name].column_names
        pd.DataFrame(rows, columns=cols).to_csv(folder / f"{name}.csv", index=False)
    return folder
