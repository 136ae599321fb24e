"""The synthetic cohort: deterministic, in the exchange format, obeying every import rule, and with
rates inside the published ranges that docs/synthetic-data.md cites.

The checks are written here with pandas, independently of the generator and of the importer; one last
test also runs the registry's own validation when pytest-django is active.
"""

from __future__ import annotations

import sys
from datetime import date

import numpy as np
import pandas as pd
import pytest

from openhsct.registry.synth import generate, write_bundle

AS_OF = date(2026, 6, 30)
P = ["centre_code", "patient_code"]

# docs/exchange-format.md, columns in model field order.
COLUMNS = {
    "centres": "centre_code name country city synthetic",
    "patients": "centre_code patient_code sex birth_year phenotype onset_date diagnosis_date consent_status "
    "consent_date consent_version consent_publication consent_sharing consent_recontact consent_withdrawal_date last_contact_date",
    "eligibility": "centre_code patient_code assessment_date edss relapses_prior_12m gd_assessed gd_lesions "
    "prior_dmt_count prior_dmts decision reason",
    "mobilisations": "centre_code patient_code mobilisation_id regimen cyclophosphamide_g_per_m2 gcsf start_date "
    "end_date weight_kg height_cm gcsf_ug_per_kg_day gcsf_days plerixafor steroid_cover",
    "apheresis": "centre_code patient_code collection_id mobilisation_id collection_date cd34_1e6_per_kg volume_ml "
    "cell_source",
    "cell_products": "centre_code patient_code bag_id collection_id cryopreservation_date storage_location status "
    "preservation",
    "custody_events": "centre_code patient_code bag_id seq event event_at performed_by location",
    "conditioning": "centre_code patient_code regimen intensity atg rituximab start_date end_date weight_kg "
    "height_cm atg_brand atg_mg_per_kg steroid_cover tbi_gy rituximab_mg",
    "conditioning_drugs": "centre_code patient_code drug total_dose dose_unit",
    "transplants": "centre_code patient_code day0 cd34_infused_1e6_per_kg admission_date discharge_date "
    "neutrophil_engraftment_date platelet_engraftment_date graft_manipulation neutrophil_engraftment_status "
    "platelet_engraftment_status engraftment_convention cmv_serostatus ebv_serostatus antiviral_prophylaxis "
    "pjp_prophylaxis antifungal_prophylaxis hct_ci karnofsky lvef_percent activity_modifier progression_modifier "
    "edss_12m_before edss_24m_before",
    "adverse_events": "centre_code patient_code ae_id category ctcae_term grade onset_date resolution_date "
    "attribution serious organism infection_site reactivation preemptive_treatment autoimmunity_type",
    "deaths": "centre_code patient_code death_date cause cause_category transplant_related primary_cause "
    "contributory_cause_1 contributory_cause_2 autopsy",
    "edss_visits": "centre_code patient_code visit_date edss fs_visual fs_brainstem fs_pyramidal fs_cerebellar "
    "fs_sensory fs_bowel_bladder fs_cerebral fs_ambulation assessor_certified assessor_blinded assessment_mode "
    "t25fw_s nhpt_dominant_s nhpt_nondominant_s sdmt",
    "relapses": "centre_code patient_code onset_date objective_signs infection_excluded steroids severity",
    "mri_scans": "centre_code patient_code scan_date t2_assessed new_enlarging_t2 gd_assessed gd_lesions region "
    "field_strength comparator_scan_date reading steroids_within_30d",
    "dmt_exposures": "centre_code patient_code drug start_date stop_date last_dose_date stop_reason after_ahsct "
    "restart_reason",
    "costs": "centre_code patient_code cost_date category amount currency",
    "pro_answers": "centre_code patient_code response_date instrument item answer source",
    "viral_loads": "centre_code patient_code sample_date virus load_iu_per_ml reactivation preemptive_treatment",
    "igg_levels": "centre_code patient_code sample_date igg_g_per_l replacement",
    "late_effects": "centre_code patient_code effect_id effect diagnosis_date description",
    "reproductive_health": "centre_code patient_code record_date amenorrhoea menopause amh_pmol_per_l "
    "fertility_preservation pregnancy pregnancy_outcome",
    "second_transplants": "centre_code patient_code transplant_date kind indication",
}
KEYS = {
    "centres": ["centre_code"],
    "patients": P,
    "eligibility": [*P, "assessment_date"],
    "mobilisations": [*P, "mobilisation_id"],
    "apheresis": [*P, "collection_id"],
    "cell_products": [*P, "bag_id"],
    "custody_events": [*P, "bag_id", "seq"],
    "conditioning": P,
    "conditioning_drugs": [*P, "drug"],
    "transplants": P,
    "adverse_events": [*P, "ae_id"],
    "deaths": P,
    "edss_visits": [*P, "visit_date"],
    "relapses": [*P, "onset_date"],
    "mri_scans": [*P, "scan_date"],
    "dmt_exposures": [*P, "drug", "start_date"],
    "costs": [*P, "cost_date", "category"],
    "pro_answers": [*P, "response_date", "instrument", "item", "source"],
    "viral_loads": [*P, "sample_date", "virus"],
    "igg_levels": [*P, "sample_date"],
    "late_effects": [*P, "effect_id"],
    "reproductive_health": [*P, "record_date"],
    "second_transplants": [*P, "transplant_date"],
}
DECIMALS = {
    "edss": 1,
    "cyclophosphamide_g_per_m2": 2,
    "cd34_1e6_per_kg": 2,
    "volume_ml": 1,
    "total_dose": 2,
    "cd34_infused_1e6_per_kg": 2,
    "amount": 2,
}
INTEGERS = {
    "birth_year",
    "relapses_prior_12m",
    "gd_lesions",
    "prior_dmt_count",
    "seq",
    "grade",
    "new_enlarging_t2",
}
CODES = {
    "sex": {"female", "male", "other", "unknown"},
    "phenotype": {"RRMS", "SPMS", "PPMS", "other"},
    "consent_status": {"given", "withdrawn", "not_given"},
    "gd_assessed": {"yes", "no", "unknown"},
    "t2_assessed": {"yes", "no", "unknown"},
    "decision": {"eligible", "not_eligible", "deferred"},
    "gcsf": {"yes", "no"},
    "status": {"stored", "thawed", "infused", "discarded"},
    "event": {"frozen", "stored", "moved", "thawed", "infused", "discarded"},
    "intensity": {"low", "intermediate", "high"},
    "atg": {"yes", "no"},
    "rituximab": {"yes", "no"},
    "dose_unit": {"mg/kg", "mg/m2", "g/m2", "mg"},
    "category": None,  # differs by table, checked below
    "attribution": {"related", "unrelated", "unknown"},
    "serious": {"yes", "no"},
    "synthetic": {"yes"},
    "cause_category": {
        "ms_progression",
        "infection",
        "transplant_toxicity",
        "malignancy",
        "other",
        "unknown",
    },
    "transplant_related": {"yes", "no", "unknown"},
}
DATE_RE = r"\d{4}-\d{2}-\d{2}"


def _d(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s.where(s != "", None), format="%Y-%m-%d")


def _join(left: pd.DataFrame, right: pd.DataFrame, on: list[str] = P) -> pd.DataFrame:
    return left.merge(right, on=on, suffixes=("", "_r"))


@pytest.fixture(scope="module")
def big() -> dict[str, pd.DataFrame]:
    return generate(centres=12, patients=20_000, seed=2026, as_of=AS_OF)


@pytest.fixture(scope="module")
def small() -> dict[str, pd.DataFrame]:
    return generate(centres=3, patients=400, seed=7, as_of=AS_OF)


# ------------------------------------------------------------------------------------------ format


def test_same_seed_gives_identical_tables_and_another_seed_does_not(small):
    again = generate(centres=3, patients=400, seed=7, as_of=AS_OF)
    for name, frame in small.items():
        pd.testing.assert_frame_equal(frame, again[name], obj=name)
    other = generate(centres=3, patients=400, seed=8, as_of=AS_OF)
    assert not other["edss_visits"].equals(small["edss_visits"])


def test_every_table_has_the_exchange_columns_in_order(small):
    assert list(small) == list(COLUMNS)
    for name, cols in COLUMNS.items():
        assert list(small[name].columns) == cols.split(), name


def test_every_cell_is_canonical_text(big):
    for name, frame in big.items():
        for col in frame.columns:
            s = frame[col]
            assert pd.api.types.infer_dtype(s, skipna=False) in {"string", "empty"}, (
                f"{name}.{col} holds non-text"
            )
            filled = s[s != ""]
            if col.endswith("_date") or col == "day0":
                assert filled.str.fullmatch(DATE_RE).all(), f"{name}.{col}"
                pd.to_datetime(filled, format="%Y-%m-%d")  # real calendar dates
            elif col == "event_at":
                assert filled.str.fullmatch(DATE_RE + r"T\d{2}:\d{2}:\d{2}\+00:00").all()
            elif col in DECIMALS:
                assert filled.str.fullmatch(rf"\d+\.\d{{{DECIMALS[col]}}}").all(), f"{name}.{col}"
            elif col in INTEGERS:
                assert filled.str.fullmatch(r"0|[1-9]\d*").all(), f"{name}.{col}"
            elif col in CODES and CODES[col] is not None:
                assert set(s) <= CODES[col], f"{name}.{col}: {set(s) - CODES[col]}"
            assert not s.str.contains("\n").any()


def test_required_cells_are_filled(big):
    optional = {
        "onset_date",
        "diagnosis_date",
        "consent_date",
        "last_contact_date",
        "gd_lesions",
        "prior_dmts",
        "reason",
        "cyclophosphamide_g_per_m2",
        "end_date",
        "volume_ml",
        "admission_date",
        "discharge_date",
        "neutrophil_engraftment_date",
        "platelet_engraftment_date",
        "resolution_date",
        "cause",
        "new_enlarging_t2",
        "stop_date",
        "city",
        "consent_withdrawal_date",
        # EBMT-grade items recorded only where they apply (docs/exchange-format.md)
        "atg_brand",
        "atg_mg_per_kg",
        "rituximab_mg",
        "neutrophil_engraftment_status",
        "platelet_engraftment_status",
        "organism",
        "infection_site",
        "reactivation",
        "preemptive_treatment",
        "autoimmunity_type",
        "contributory_cause_1",
        "contributory_cause_2",
        *(f"fs_{s}" for s in ("visual", "brainstem", "pyramidal", "cerebellar", "sensory", "bowel_bladder",
                               "cerebral", "ambulation")),
        "assessor_certified",
        "assessor_blinded",
        "t25fw_s",
        "nhpt_dominant_s",
        "nhpt_nondominant_s",
        "sdmt",
        "comparator_scan_date",
        "last_dose_date",
        "stop_reason",
        "restart_reason",
        "description",
        "pregnancy_outcome",
    }
    for name, frame in big.items():
        for col in frame.columns:
            if col not in optional:
                assert (frame[col] != "").all(), f"{name}.{col} has empty cells"


def test_withdrawn_consent_has_a_withdrawal_date_within_follow_up(big):
    p = big["patients"]
    withdrawn = p["consent_status"] == "withdrawn"
    assert withdrawn.any()
    assert ((p["consent_withdrawal_date"] != "") == withdrawn).all()
    w = p.loc[withdrawn]
    assert (w["consent_withdrawal_date"] >= w["consent_date"]).all()
    assert (w["consent_withdrawal_date"] <= w["last_contact_date"]).all()


def test_keys_are_unique_and_rows_sorted_by_key(big):
    for name, key in KEYS.items():
        frame = big[name]
        assert not frame.duplicated(key).any(), name
        sortable = frame[key].copy()
        if "seq" in key:
            sortable["seq"] = sortable["seq"].astype(int)
        assert sortable.equals(sortable.sort_values(key, kind="stable")), f"{name} not sorted by {key}"


def test_codes_by_table(big):
    assert set(big["adverse_events"]["category"]) <= {"infection", "secondary_autoimmunity", "other"}
    assert set(big["costs"]["category"]) <= {
        "mobilisation",
        "apheresis",
        "cryopreservation",
        "conditioning",
        "hospital_stay",
        "drugs",
        "follow_up",
        "travel",
        "other",
    }
    assert big["costs"]["currency"].str.fullmatch("[A-Z]{3}").all()
    assert big["centres"]["country"].str.fullmatch("[A-Z]{3}").all()
    assert set(big["costs"]["currency"]) >= {"RUB", "USD", "GBP", "EUR", "MXN"}


def test_centres_are_marked_synthetic_and_fictional(big):
    c = big["centres"]
    assert (c["synthetic"] == "yes").all()
    assert c["name"].str.contains("Synthetic").all()
    assert c["name"].is_unique and len(c) == 12
    assert set(big["patients"]["centre_code"]) == set(c["centre_code"])
    assert big["patients"]["patient_code"].str.fullmatch(r"S\d{7}").all()


# ------------------------------------------------------------------------------------------- rules


def test_values_within_their_ranges(big):
    for name, col in (("eligibility", "edss"), ("edss_visits", "edss")):
        e = big[name][col].astype(float)
        assert e.between(0, 10).all() and ((e * 2) % 1 == 0).all()
    assert (big["apheresis"]["cd34_1e6_per_kg"].astype(float) > 0).all()
    assert (big["transplants"]["cd34_infused_1e6_per_kg"].astype(float) >= 2.0).all()
    assert big["adverse_events"]["grade"].astype(int).between(1, 5).all()
    assert (big["costs"]["amount"].astype(float) > 0).all()
    assert (big["conditioning_drugs"]["total_dose"].astype(float) > 0).all()


def test_references_between_tables_exist(big):
    patients = pd.MultiIndex.from_frame(big["patients"][P])
    assert big["patients"]["centre_code"].isin(big["centres"]["centre_code"]).all()
    for name, frame in big.items():
        if name not in {"centres", "patients"}:
            assert pd.MultiIndex.from_frame(frame[P]).isin(patients).all(), name
    for child, col, parent in (
        ("apheresis", "mobilisation_id", "mobilisations"),
        ("cell_products", "collection_id", "apheresis"),
        ("custody_events", "bag_id", "cell_products"),
    ):
        keys = pd.MultiIndex.from_frame(big[parent][[*P, col]])
        assert pd.MultiIndex.from_frame(big[child][[*P, col]]).isin(keys).all(), child


def test_dates_follow_the_pathway(big):
    b = big
    p = b["patients"]
    assert (_d(p["onset_date"]) <= _d(p["diagnosis_date"])).where(p["onset_date"] != "", True).all()
    mob = b["mobilisations"]
    assert (_d(mob["start_date"]) <= _d(mob["end_date"])).where(mob["end_date"] != "", True).all()
    a = _join(b["apheresis"], mob[[*P, "mobilisation_id", "start_date"]], [*P, "mobilisation_id"])
    assert (_d(a["collection_date"]) >= _d(a["start_date"])).all() and len(a) == len(b["apheresis"])
    cond = b["conditioning"]
    a = _join(b["apheresis"], cond[[*P, "start_date"]])
    assert (_d(a["collection_date"]) < _d(a["start_date"])).all()
    t = _join(b["transplants"], cond[[*P, "start_date", "end_date"]])
    assert len(t) == len(b["transplants"]) == len(cond)
    day0 = _d(t["day0"])
    assert (_d(t["start_date"]) <= day0).all() and (_d(t["start_date"]) <= _d(t["end_date"])).all()
    for col in ("neutrophil_engraftment_date", "platelet_engraftment_date"):
        assert (_d(t[col]) > day0).where(t[col] != "", True).all(), col
    assert (_d(t["admission_date"]) <= day0).where(t["admission_date"] != "", True).all()
    assert (_d(t["discharge_date"]) >= day0).where(t["discharge_date"] != "", True).all()
    cp = _join(
        b["cell_products"], b["apheresis"][[*P, "collection_id", "collection_date"]], [*P, "collection_id"]
    )
    assert (_d(cp["cryopreservation_date"]) >= _d(cp["collection_date"])).all()
    ev = b["custody_events"].assign(
        at=pd.to_datetime(b["custody_events"]["event_at"], utc=True),
        seq=b["custody_events"]["seq"].astype(int),
    )
    ev = ev.sort_values([*P, "bag_id", "seq"])
    assert (ev.groupby([*P, "bag_id"])["at"].diff().dropna() > pd.Timedelta(0)).all()
    assert (ev["seq"] == ev.groupby([*P, "bag_id"]).cumcount() + 1).all()
    ae = b["adverse_events"]
    assert (_d(ae["resolution_date"]) >= _d(ae["onset_date"])).where(ae["resolution_date"] != "", True).all()
    first_mob = mob.groupby(P, as_index=False)["start_date"].min()
    ae = _join(ae, first_mob)
    assert len(ae) == len(b["adverse_events"])  # every AE belongs to a mobilised patient
    assert (_d(ae["onset_date"]) >= _d(ae["start_date"])).all()
    dmt = b["dmt_exposures"]
    assert (_d(dmt["stop_date"]) >= _d(dmt["start_date"])).where(dmt["stop_date"] != "", True).all()
    # Before a transplant every DMT has stopped before mobilisation (restarts after aHSCT come after day 0).
    restarts = dmt[dmt["after_ahsct"] == "yes"]
    r = _join(restarts, b["transplants"][[*P, "day0"]])
    assert len(r) == len(restarts) and (_d(r["start_date"]) > _d(r["day0"])).all()
    d = _join(dmt[dmt["after_ahsct"] == "no"], first_mob)
    assert (_d(d["stop_date"]) <= _d(d["start_date_r"])).all()


def test_custody_matches_the_bag_status(big):
    ev = big["custody_events"]
    last = (
        ev.assign(seq=ev["seq"].astype(int)).sort_values([*P, "bag_id", "seq"]).groupby([*P, "bag_id"]).last()
    )
    status = big["cell_products"].set_index([*P, "bag_id"])["status"]
    expected = last["event"].replace({"moved": "stored"})
    assert (status.loc[expected.index] == expected).all()
    infused = ev[ev["event"] == "infused"].merge(big["transplants"][[*P, "day0"]], on=P)
    assert (infused["event_at"].str[:10] == infused["day0"]).all()


def test_nothing_after_death_or_last_contact_or_as_of(big):
    b = big
    p = b["patients"][[*P, "last_contact_date"]]
    deaths = b["deaths"][[*P, "death_date"]]
    dated = [
        ("eligibility", "assessment_date"),
        ("edss_visits", "visit_date"),
        ("relapses", "onset_date"),
        ("mri_scans", "scan_date"),
        ("adverse_events", "onset_date"),
        ("adverse_events", "resolution_date"),
        ("transplants", "day0"),
        ("transplants", "discharge_date"),
        ("transplants", "platelet_engraftment_date"),
        ("transplants", "neutrophil_engraftment_date"),
        ("costs", "cost_date"),
        ("dmt_exposures", "stop_date"),
        ("conditioning", "start_date"),
        ("mobilisations", "start_date"),
        ("apheresis", "collection_date"),
        ("cell_products", "cryopreservation_date"),
    ]
    for name, col in dated:
        f = b[name][[*P, col]]
        f = f[f[col] != ""]
        assert (_d(f[col]) <= pd.Timestamp(AS_OF)).all(), (name, col)
        lc = _join(f, p)
        assert (_d(lc[col]) <= _d(lc["last_contact_date"])).all(), (name, col)
        dd = _join(f, deaths)
        assert (_d(dd[col]) <= _d(dd["death_date"])).all(), (name, col)
    ev = _join(b["custody_events"], p)
    assert (ev["event_at"].str[:10] <= ev["last_contact_date"]).all()
    dp = _join(deaths, p)
    assert (dp["last_contact_date"] <= dp["death_date"]).all()
    dt = _join(deaths, b["transplants"][[*P, "day0"]])
    assert len(dt) == len(deaths) and (_d(dt["death_date"]) > _d(dt["day0"])).all()
    # Visits, relapses, MRI and AEs strictly before death except the fatal AE itself.
    for name, col in (("edss_visits", "visit_date"), ("mri_scans", "scan_date"), ("relapses", "onset_date")):
        dd = _join(b[name], deaths)
        assert (dd[col] < dd["death_date"]).all(), name


def test_counts_are_given_exactly_when_assessed(big):
    for name, flag, count in (
        ("eligibility", "gd_assessed", "gd_lesions"),
        ("mri_scans", "gd_assessed", "gd_lesions"),
        ("mri_scans", "t2_assessed", "new_enlarging_t2"),
    ):
        f = big[name]
        assert ((f[flag] == "yes") == (f[count] != "")).all(), (name, count)
        assert set(f[flag]) == {"yes", "no", "unknown"}, (name, flag)


def test_age_at_transplant_is_18_to_65_and_onset_after_birth(big):
    t = _join(big["transplants"][[*P, "day0"]], big["patients"])
    age = t["day0"].str[:4].astype(int) - t["birth_year"].astype(int)
    assert age.between(19, 65).all()  # 18-65 whether or not the birthday has passed
    p = big["patients"]
    on = p[p["onset_date"] != ""]
    assert (on["onset_date"].str[:4].astype(int) - on["birth_year"].astype(int) >= 10).all()


def test_eligibility_agrees_with_the_other_tables(big):
    el = big["eligibility"]
    tx = big["transplants"].set_index(P).index
    deciding = el.sort_values("assessment_date").groupby(P).last()
    transplanted = deciding.index.isin(tx)
    assert (deciding.loc[transplanted, "decision"] == "eligible").all()
    assert deciding.loc[~transplanted, "decision"].isin(["not_eligible", "deferred"]).all()
    assert (deciding.loc[~transplanted, "reason"] != "").all()
    # Every assessment also appears as an EDSS visit with the same score.
    v = el.merge(big["edss_visits"], left_on=[*P, "assessment_date"], right_on=[*P, "visit_date"])
    assert len(v) == len(el) and (v["edss_x"] == v["edss_y"]).all()
    # The relapse count is that of the relapse rows in the 12 months before.
    r = el.merge(big["relapses"], on=P)
    lag = (_d(r["assessment_date"]) - _d(r["onset_date"])).dt.days
    n = r[(lag >= 0) & (lag < 365)].groupby([*P, "assessment_date"]).size()
    got = el.set_index([*P, "assessment_date"])["relapses_prior_12m"].astype(int)
    assert (n.reindex(got.index, fill_value=0) == got).all()
    # prior_dmts lists distinct drugs started before the assessment, count matching.
    names = el["prior_dmts"].str.split(";").map(lambda x: [d for d in x if d])
    assert (names.map(len) == el["prior_dmt_count"].astype(int)).all()
    assert (names.map(lambda x: len(set(x)) == len(x))).all()


# ------------------------------------------------------------------------------------------- rates


def _km(time: np.ndarray, event: np.ndarray, at: float) -> float:
    """Kaplan-Meier survival at ``at``: product of (1 - d/n) over event times <= at."""
    df = pd.DataFrame({"t": time, "e": event.astype(int)}).sort_values("t")
    g = df.groupby("t")["e"].agg(["sum", "count"])
    at_risk = g["count"][::-1].cumsum()[::-1]
    s = 1 - g["sum"] / at_risk
    return float(s[s.index <= at].prod())


def _transplanted(big) -> pd.DataFrame:
    t = big["transplants"][[*P, "day0"]].merge(big["patients"], on=P)
    return t.merge(big["deaths"][[*P, "death_date", "transplant_related"]], on=P, how="left").fillna("")


def _progression(big) -> pd.DataFrame:
    """Time to 6-month confirmed EDSS progression from the last pre-transplant EDSS (+1.5 from 0, +1.0 up
    to 5.5, +0.5 above), confirmed at the next visit >= 150 days later; censored at the last visit."""
    t = _transplanted(big)[[*P, "day0", "phenotype"]]
    v = big["edss_visits"].merge(t, on=P)
    v["days"] = (_d(v["visit_date"]) - _d(v["day0"])).dt.days
    v["edss"] = v["edss"].astype(float)
    base = v[v["days"] <= 0].sort_values("days").groupby(P)["edss"].last().rename("base")
    post = v[v["days"] > 0].merge(base, left_on=P, right_index=True).sort_values([*P, "days"])
    thr = np.where(post["base"] == 0, 1.5, np.where(post["base"] <= 5.5, 1.0, 0.5))
    post["up"] = post["edss"] >= post["base"] + thr
    g = post.groupby(P)
    post["next_up"], post["next_days"] = g["up"].shift(-1), g["days"].shift(-1)
    post["event"] = post["up"] & (post["next_up"] == True) & (post["next_days"] - post["days"] >= 150)  # noqa: E712
    first = post[post["event"]].groupby(P)["days"].min().rename("event_days")
    last = post.groupby(P)["days"].max().rename("last_days")
    out = t.set_index(P).join(last, how="inner").join(first)
    out["event"] = out["event_days"].notna()
    out["time"] = out["event_days"].fillna(out["last_days"])
    return out


def test_phenotype_sex_and_not_transplanted_shares(big):
    p = big["patients"]
    share = p["phenotype"].value_counts(normalize=True)
    assert 0.66 <= share["RRMS"] <= 0.74 and 0.21 <= share["SPMS"] <= 0.29 and 0.03 <= share["PPMS"] <= 0.07
    assert 0.6 <= (p["sex"] == "female").mean() <= 0.72
    not_tx = 1 - len(big["transplants"]) / len(p)
    assert 0.03 <= not_tx <= 0.07
    assert (p["last_contact_date"] < "2025-06-30").mean() > 0.05  # some lost to follow-up


def test_transplant_years_spread_and_grow(big):
    year = big["transplants"]["day0"].str[:4].astype(int)
    assert year.min() == 2005 and year.max() == 2025
    counts = year.value_counts().sort_index()
    assert counts.loc[2021:2025].sum() > 2 * counts.loc[2005:2009].sum()


def test_transplant_related_mortality_is_about_1_to_3_percent_and_rises_with_edss(big):
    t = _transplanted(big)
    el = big["eligibility"][big["eligibility"]["decision"] == "eligible"][[*P, "edss"]]
    t = t.merge(el, on=P)
    days = (_d(t["death_date"]) - _d(t["day0"])).dt.days
    trm = (t["transplant_related"] == "yes") & (days <= 100)
    assert 0.005 <= trm.mean() <= 0.04
    high = t["edss"].astype(float) >= 6
    assert trm[high].mean() > 1.3 * trm[~high].mean()
    later = (t["death_date"] != "") & ~trm
    assert later.mean() < 0.06


def test_five_year_progression_by_phenotype(big):
    pr = _progression(big)
    five = 5 * 365.25
    overall = 1 - _km(pr["time"].to_numpy(), pr["event"].to_numpy(), five)
    rr = pr[pr["phenotype"] == "RRMS"]
    prog = pr[pr["phenotype"] != "RRMS"]
    rr5 = 1 - _km(rr["time"].to_numpy(), rr["event"].to_numpy(), five)
    prog5 = 1 - _km(prog["time"].to_numpy(), prog["event"].to_numpy(), five)
    assert 0.18 <= overall <= 0.32, overall
    assert 0.08 <= rr5 <= 0.22, rr5
    assert 0.25 <= prog5 <= 0.50, prog5


def test_rrms_improve_early_on_average(big):
    t = _transplanted(big)[[*P, "day0", "phenotype"]]
    v = big["edss_visits"].merge(t[t["phenotype"] == "RRMS"], on=P)
    days = (_d(v["visit_date"]) - _d(v["day0"])).dt.days
    e = v["edss"].astype(float)
    before = e[days <= 0].mean()
    year1 = e[(days > 300) & (days < 430)].mean()
    assert -1.0 <= year1 - before <= -0.2


def test_relapses_are_rare_after_transplant(big):
    t = _transplanted(big)
    t = t[t["phenotype"] == "RRMS"]
    r = big["relapses"].merge(t[[*P, "day0"]], on=P)
    first = r[r["onset_date"] > r["day0"]].groupby(P)["onset_date"].min().rename("first")
    t = t.set_index(P).join(first)
    end = np.where(t["first"].notna(), _d(t["first"].fillna("")), _d(t["last_contact_date"]))
    time = (pd.to_datetime(end) - _d(t["day0"])).dt.days.to_numpy()
    rfs5 = _km(time, t["first"].notna().to_numpy(), 5 * 365.25)
    assert 0.78 <= rfs5 <= 0.92, rfs5


def test_mri_activity_is_occasional(big):
    m = big["mri_scans"].merge(big["transplants"][[*P, "day0"]], on=P)
    post = m[m["scan_date"] > m["day0"]]
    active = (post["new_enlarging_t2"].replace("", "0").astype(int) > 0) | (
        post["gd_lesions"].replace("", "0").astype(int) > 0
    )
    assert 0.01 <= active.mean() <= 0.10
    base = m[m["scan_date"] < m["day0"]]
    assert (base["gd_lesions"].replace("", "0").astype(int) > 0).mean() > 0.3


def test_engraftment_and_cd34(big):
    t = big["transplants"]
    day0 = _d(t["day0"])
    neut = (_d(t["neutrophil_engraftment_date"]) - day0).dt.days.dropna()
    assert neut.between(7, 16).all() and 9 <= neut.median() <= 11
    plt = (_d(t["platelet_engraftment_date"]) - day0).dt.days
    assert 10 <= plt.median() <= 14 and 0.02 <= plt.isna().mean() <= 0.25
    total = big["apheresis"].assign(c=big["apheresis"]["cd34_1e6_per_kg"].astype(float)).groupby(P)["c"].sum()
    assert 5 <= total.median() <= 8
    assert (big["mobilisations"]["mobilisation_id"] == "M2").mean() < 0.1


def test_adverse_events_cover_infection_and_autoimmunity(big):
    ae = big["adverse_events"]
    n = len(big["transplants"])
    per = ae.groupby("ctcae_term")[P].apply(lambda f: len(f.drop_duplicates())) / n
    assert 0.3 <= per["Febrile neutropenia"] <= 0.8
    assert 0.1 <= per["Cytomegalovirus infection reactivation"] <= 0.4
    assert 0.05 <= per["Epstein-Barr virus infection reactivation"] <= 0.3
    auto = ae[ae["category"] == "secondary_autoimmunity"][P].drop_duplicates()
    assert 0.03 <= len(auto) / n <= 0.15
    fatal = ae[ae["grade"] == "5"].merge(big["deaths"], on=P)
    assert len(fatal) == (ae["grade"] == "5").sum() and (fatal["transplant_related"] == "yes").all()


def test_costs_are_plausible_totals_in_local_currency(big):
    c = big["costs"].assign(a=big["costs"]["amount"].astype(float))
    tx = big["transplants"][P]
    episode = (
        c[c["category"] != "follow_up"].merge(tx, on=P).groupby([*P, "currency"])["a"].sum().reset_index()
    )
    med = episode.groupby("currency")["a"].median()
    assert 900_000 <= med["RUB"] <= 2_500_000
    assert 50_000 <= med["USD"] <= 175_000
    assert 600_000 <= med["MXN"] <= 2_000_000
    assert 30_000 <= med["EUR"] <= 90_000
    assert (c.groupby(P)["currency"].nunique() == 1).all()


def test_dmt_history_before_transplant(big):
    el = big["eligibility"]
    el = el[el["decision"] == "eligible"].merge(big["patients"][[*P, "phenotype"]], on=P)
    count = el["prior_dmt_count"].astype(int)
    assert count[el["phenotype"] == "RRMS"].mean() >= 1.5
    d = big["dmt_exposures"]
    assert (d["start_date"] >= "1993-01-01").all()
    late = d[d["drug"] == "ocrelizumab"]
    assert (late["start_date"] >= "2017-01-01").all()


# -------------------------------------------------------------------------------------------- files


def test_write_bundle_csv_reads_back_identically(small, tmp_path):
    files = write_bundle(small, tmp_path / "b")
    assert [f.name for f in files] == [f"{n}.csv" for n in COLUMNS]
    for name, frame in small.items():
        back = pd.read_csv(tmp_path / "b" / f"{name}.csv", dtype=str, keep_default_na=False)
        pd.testing.assert_frame_equal(back, frame.reset_index(drop=True), check_dtype=False, obj=name)
    text = (tmp_path / "b" / "centres.csv").read_text()
    assert text.startswith("centre_code,name,country,city,synthetic\n") and text.endswith("\n")


def test_write_bundle_csv_quotes_like_pandas(tmp_path):
    frame = pd.DataFrame({"a": ["x,y", 'say "hi"', ""], "b": ["1", "2", "3"]})
    write_bundle({"t": frame}, tmp_path)
    frame.to_csv(tmp_path / "ref.csv", index=False)
    assert (tmp_path / "t.csv").read_text() == (tmp_path / "ref.csv").read_text()


def test_write_bundle_parquet_is_typed_and_converts_back(small, tmp_path):
    write_bundle(small, tmp_path, fmt="parquet")
    t = pd.read_parquet(tmp_path / "transplants.parquet")
    assert str(t["day0"].dtype).startswith("datetime64")
    assert t["cd34_infused_1e6_per_kg"].dtype == "float64"
    ev = pd.read_parquet(tmp_path / "custody_events.parquet")
    assert str(ev["seq"].dtype) == "Int64" and str(ev["event_at"].dt.tz) == "UTC"
    back = t["day0"].dt.strftime("%Y-%m-%d")
    assert (back.to_numpy() == small["transplants"]["day0"].to_numpy()).all()
    with pytest.raises(ValueError):
        write_bundle(small, tmp_path, fmt="xlsx")


def test_arguments_are_checked():
    with pytest.raises(ValueError):
        generate(centres=0, patients=10, seed=1)
    with pytest.raises(ValueError):
        generate(centres=2, patients=10, seed=1, as_of=date(2004, 1, 1))
    tiny = generate(centres=5, patients=3, seed=1)
    assert len(tiny["centres"]) == 5 and len(tiny["patients"]) == 3
    early = generate(centres=2, patients=200, seed=1, as_of=date(2010, 1, 1))
    for name, frame in early.items():
        for col in frame.columns:
            if col.endswith("_date") or col == "day0":
                assert (frame[col][frame[col] != ""] <= "2010-01-01").all(), (name, col)


# pytest-django is loaded unless disabled (-p no:django); its marker exists only then.
_WITH_DB = (
    pytest.mark.django_db
    if "pytest_django" in sys.modules
    else pytest.mark.skip(reason="needs pytest-django (run without -p no:django)")
)


@_WITH_DB
def test_registry_import_accepts_the_bundle(tmp_path):
    """The registry's own validation (openhsct.registry.importer) finds no problem in a bundle."""
    from openhsct.registry.importer import import_bundle

    folder = tmp_path / "bundle"
    write_bundle(generate(centres=3, patients=300, seed=11), folder)
    report = import_bundle(folder, dry_run=True)
    assert report.created["patients"] == 300
