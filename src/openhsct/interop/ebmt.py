"""An EBMT-style summary: one row per transplant with the MED-A (autoimmune disease) items the registry holds.

The column names follow the items of EBMT's Minimum Essential Data form A for autoimmune diseases as a
centre reads them on the paper form; ``docs/ebmt.md`` gives each column's source in the registry and the
items the registry does not hold. This is a convenience for data managers who re-key data into EBMT's
registry system; it is not an EBMT product and carries no EBMT certification.

Only patients whose consent covers sharing with EBMT/CIBMTR (``consent_sharing`` yes, consent given) are
written; the number left out is returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from openhsct.registry.csvsafe import rows_text

# (column of the summary, where it comes from) — the map documented in docs/ebmt.md
COLUMNS: tuple[tuple[str, str], ...] = (
    ("Centre code (local)", "patients.centre_code"),
    ("Patient code (UPN, local)", "patients.patient_code"),
    ("Sex", "patients.sex"),
    ("Year of birth", "patients.birth_year"),
    ("Primary disease", "constant: Multiple sclerosis"),
    ("Disease subtype", "patients.phenotype"),
    ("Date of first symptoms", "patients.onset_date"),
    ("Date of diagnosis", "patients.diagnosis_date"),
    ("EDSS before HSCT", "eligibility.edss of the last assessment on or before day 0"),
    ("Date of EDSS before HSCT", "eligibility.assessment_date"),
    ("Relapses in the 12 months before HSCT", "eligibility.relapses_prior_12m"),
    ("Number of prior disease-modifying treatments", "eligibility.prior_dmt_count"),
    ("Prior disease-modifying treatments", "eligibility.prior_dmts"),
    ("Mobilisation regimen", "mobilisations.regimen (first)"),
    ("Mobilisation cyclophosphamide (g/m2)", "mobilisations.cyclophosphamide_g_per_m2"),
    ("Mobilisation G-CSF", "mobilisations.gcsf"),
    ("Date of first apheresis", "apheresis.collection_date (earliest)"),
    ("CD34+ cells collected (x10^6/kg)", "apheresis.cd34_1e6_per_kg (sum)"),
    ("Stem cell source", "constant: peripheral blood (autologous)"),
    ("Conditioning regimen", "conditioning.regimen"),
    ("Conditioning intensity", "conditioning.intensity"),
    ("Conditioning drugs and total doses", "conditioning_drugs.drug, total_dose, dose_unit"),
    ("ATG in conditioning", "conditioning.atg"),
    ("Rituximab", "conditioning.rituximab"),
    ("Date of HSCT (day 0)", "transplants.day0"),
    ("CD34+ cells infused (x10^6/kg)", "transplants.cd34_infused_1e6_per_kg"),
    ("Date of ANC recovery (>= 0.5 x10^9/L)", "transplants.neutrophil_engraftment_date"),
    ("Date of platelet recovery (>= 20 x10^9/L)", "transplants.platelet_engraftment_date"),
    ("ANC recovery", "transplants.neutrophil_engraftment_status"),
    ("Platelet recovery", "transplants.platelet_engraftment_status"),
    ("Weight at HSCT (kg)", "conditioning.weight_kg"),
    ("Height at HSCT (cm)", "conditioning.height_cm"),
    ("Performance score (Karnofsky) at HSCT", "transplants.karnofsky"),
    ("Comorbidity index (HCT-CI)", "transplants.hct_ci"),
    ("CMV serostatus", "transplants.cmv_serostatus"),
    ("Graft manipulation", "transplants.graft_manipulation"),
    ("ATG type", "conditioning.atg_brand"),
    ("ATG total dose (mg/kg)", "conditioning.atg_mg_per_kg"),
    ("TBI total dose (Gy)", "conditioning.tbi_gy"),
    ("Secondary autoimmune disease type", "adverse_events.autoimmunity_type (distinct, ;-separated)"),
    ("Subsequent HSCT date", "second_transplants.transplant_date (first)"),
    ("Secondary autoimmune disease", "adverse_events.category secondary_autoimmunity (yes/no)"),
    ("Worst CTCAE grade of infections", "adverse_events.grade where category infection (max)"),
    ("Date of last contact", "patients.last_contact_date"),
    ("Survival status", "deaths (dead/alive)"),
    ("Date of death", "deaths.death_date"),
    ("Main cause of death", "deaths.cause_category"),
    ("Death related to transplant", "deaths.transplant_related"),
    ("Main cause of death (code)", "deaths.primary_cause"),
    ("Contributory causes of death (codes)", "deaths.contributory_cause_1, contributory_cause_2"),
    ("Autopsy", "deaths.autopsy"),
)
UNMATCHED: tuple[str, ...] = (
    "Disease status / response assessed by the EBMT criteria",
    "Hospital readmissions",
)


@dataclass(frozen=True)
class EbmtExport:
    """The summary (one row per transplant) and how many transplanted patients were left out for consent."""

    rows: pd.DataFrame
    excluded: int

    def to_frame(self) -> pd.DataFrame:
        return self.rows


def _first(frame: pd.DataFrame, by: list[str], sort: str) -> pd.DataFrame:
    return frame.sort_values([*by, sort], kind="stable").drop_duplicates(by, keep="first")


def ebmt_summary(frames: dict[str, pd.DataFrame]) -> EbmtExport:
    """The EBMT-style summary of canonical-text registry tables."""
    key = ["centre_code", "patient_code"]
    tx = frames["transplants"][[*key, "day0", "cd34_infused_1e6_per_kg", "neutrophil_engraftment_date",
                                "platelet_engraftment_date", "neutrophil_engraftment_status",
                                "platelet_engraftment_status", "karnofsky", "hct_ci", "cmv_serostatus",
                                "graft_manipulation"]]
    p = frames["patients"].merge(tx, on=key)
    allowed = (p["consent_status"] == "given") & (p["consent_sharing"] == "yes")
    excluded = int((~allowed).sum())
    p = p.loc[allowed]
    el = frames["eligibility"].merge(tx[[*key, "day0"]], on=key)
    el = el.loc[el["assessment_date"] <= el["day0"]].sort_values([*key, "assessment_date"])
    el = el.drop_duplicates(key, keep="last").drop(columns="day0")
    mob = _first(frames["mobilisations"], key, "start_date")
    aph = frames["apheresis"].assign(cd34=pd.to_numeric(frames["apheresis"]["cd34_1e6_per_kg"]))
    aph = aph.groupby(key, as_index=False).agg(first_aph=("collection_date", "min"), cd34=("cd34", "sum"))
    drugs = frames["conditioning_drugs"].assign(
        d=lambda f: f["drug"] + " " + f["total_dose"] + " " + f["dose_unit"])
    drugs = drugs.groupby(key, as_index=False).agg(drugs=("d", "; ".join))
    ae = frames["adverse_events"].assign(grade_n=lambda f: pd.to_numeric(f["grade"]))
    sad = ae.loc[ae["category"] == "secondary_autoimmunity"]
    autoimm = sad.groupby(key, as_index=False).agg(
        sad_type=("autoimmunity_type", lambda s: ";".join(sorted({v for v in s if v})))).assign(sad="yes")
    second = _first(frames["second_transplants"], key, "transplant_date")[[*key, "transplant_date"]]
    inf = ae.loc[ae["category"] == "infection"].groupby(key, as_index=False).agg(inf=("grade_n", "max"))
    out = (p.merge(el, on=key, how="left", suffixes=("", "_el"))
           .merge(mob, on=key, how="left", suffixes=("", "_mob"))
           .merge(aph, on=key, how="left").merge(frames["conditioning"], on=key, how="left", suffixes=("", "_cond"))
           .merge(drugs, on=key, how="left").merge(autoimm, on=key, how="left").merge(inf, on=key, how="left")
           .merge(frames["deaths"], on=key, how="left").merge(second, on=key, how="left"))
    contributory = (out["contributory_cause_1"].fillna("") + ";" + out["contributory_cause_2"].fillna("")).str.strip(";")
    rows = pd.DataFrame({
        "Centre code (local)": out["centre_code"], "Patient code (UPN, local)": out["patient_code"],
        "Sex": out["sex"], "Year of birth": out["birth_year"], "Primary disease": "Multiple sclerosis",
        "Disease subtype": out["phenotype"], "Date of first symptoms": out["onset_date"],
        "Date of diagnosis": out["diagnosis_date"], "EDSS before HSCT": out["edss"],
        "Date of EDSS before HSCT": out["assessment_date"],
        "Relapses in the 12 months before HSCT": out["relapses_prior_12m"],
        "Number of prior disease-modifying treatments": out["prior_dmt_count"],
        "Prior disease-modifying treatments": out["prior_dmts"],
        "Mobilisation regimen": out["regimen"],
        "Mobilisation cyclophosphamide (g/m2)": out["cyclophosphamide_g_per_m2"],
        "Mobilisation G-CSF": out["gcsf"], "Date of first apheresis": out["first_aph"],
        "CD34+ cells collected (x10^6/kg)": out["cd34"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}"),
        "Stem cell source": "Peripheral blood (autologous)",
        "Conditioning regimen": out["regimen_cond"], "Conditioning intensity": out["intensity"],
        "Conditioning drugs and total doses": out["drugs"], "ATG in conditioning": out["atg"],
        "Rituximab": out["rituximab"], "Date of HSCT (day 0)": out["day0"],
        "CD34+ cells infused (x10^6/kg)": out["cd34_infused_1e6_per_kg"],
        "Date of ANC recovery (>= 0.5 x10^9/L)": out["neutrophil_engraftment_date"],
        "Date of platelet recovery (>= 20 x10^9/L)": out["platelet_engraftment_date"],
        "ANC recovery": out["neutrophil_engraftment_status"], "Platelet recovery": out["platelet_engraftment_status"],
        "Weight at HSCT (kg)": out["weight_kg_cond"], "Height at HSCT (cm)": out["height_cm_cond"],
        "Performance score (Karnofsky) at HSCT": out["karnofsky"], "Comorbidity index (HCT-CI)": out["hct_ci"],
        "CMV serostatus": out["cmv_serostatus"], "Graft manipulation": out["graft_manipulation"],
        "ATG type": out["atg_brand"], "ATG total dose (mg/kg)": out["atg_mg_per_kg"],
        "TBI total dose (Gy)": out["tbi_gy"], "Secondary autoimmune disease type": out["sad_type"],
        "Subsequent HSCT date": out["transplant_date"],
        "Secondary autoimmune disease": out["sad"].fillna("no"),
        "Worst CTCAE grade of infections": out["inf"].map(lambda v: "" if pd.isna(v) else str(int(v))),
        "Date of last contact": out["last_contact_date"],
        "Survival status": out["death_date"].map(lambda v: "alive" if pd.isna(v) or v == "" else "dead"),
        "Date of death": out["death_date"], "Main cause of death": out["cause_category"],
        "Death related to transplant": out["transplant_related"],
        "Main cause of death (code)": out["primary_cause"], "Contributory causes of death (codes)": contributory,
        "Autopsy": out["autopsy"],
    }, columns=[c for c, _ in COLUMNS])
    return EbmtExport(rows.fillna("").reset_index(drop=True), excluded)


def export_ebmt(path: Path, *, centre_codes=None) -> EbmtExport:
    """Write the EBMT-style summary CSV of the registry (or some centres) to ``path``."""
    from openhsct.registry.exporter import registry_frames

    result = ebmt_summary(registry_frames(list(centre_codes) if centre_codes else None))
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = result.rows
    Path(path).write_text(rows_text(list(rows.columns), rows.itertuples(index=False, name=None)),
                          encoding="utf-8", newline="")  # the one CSV writer: opened in spreadsheets to re-key
    return result
