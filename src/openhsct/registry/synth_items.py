"""The transplant and follow-up items of EBMT MED-A/MED-B depth in the synthetic cohort.

:func:`add_items` adds, to the tables :func:`openhsct.registry.synth.generate` has drawn, the columns
and tables for body size, mobilisation and conditioning detail, engraftment codes, infections, viral
loads, IgG, secondary autoimmunity codes, late effects, reproductive health, causes of death, second
transplants, fitness, functional systems and timed tests, relapse confirmation, MRI detail, Lublin
modifiers and DMT stop/restart. It draws from its own generator (``SeedSequence([seed, ITEM_STREAM])``),
so every other synthetic value stays as it was; the same seed gives the same items.

Each rate is set below with its source; "illustrative" marks a value chosen for a plausible demo where
no published figure was used. ``docs/synthetic-data.md`` lists them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from openhsct.registry import synth as S

ITEM_STREAM = 0x4542_4D54  # "EBMT": the items' own random stream

# The columns this module adds to tables drawn before it (other generators leave them empty).
ITEM_COLUMNS = frozenset({
    "weight_kg", "height_cm", "gcsf_ug_per_kg_day", "gcsf_days", "plerixafor", "steroid_cover", "cell_source",
    "preservation", "atg_brand", "atg_mg_per_kg", "tbi_gy", "rituximab_mg", "graft_manipulation",
    "neutrophil_engraftment_status", "platelet_engraftment_status", "engraftment_convention", "cmv_serostatus",
    "ebv_serostatus", "antiviral_prophylaxis", "pjp_prophylaxis", "antifungal_prophylaxis", "hct_ci", "karnofsky",
    "lvef_percent", "activity_modifier", "progression_modifier", "edss_12m_before", "edss_24m_before", "organism",
    "infection_site", "reactivation", "preemptive_treatment", "autoimmunity_type", "primary_cause",
    "contributory_cause_1", "contributory_cause_2", "autopsy", "fs_visual", "fs_brainstem", "fs_pyramidal",
    "fs_cerebellar", "fs_sensory", "fs_bowel_bladder", "fs_cerebral", "fs_ambulation", "assessor_certified",
    "assessor_blinded", "assessment_mode", "t25fw_s", "nhpt_dominant_s", "nhpt_nondominant_s", "sdmt",
    "objective_signs", "infection_excluded", "steroids", "severity", "region", "field_strength",
    "comparator_scan_date", "reading", "steroids_within_30d", "last_dose_date", "stop_reason", "after_ahsct",
    "restart_reason",
})

# Body size: adult height by sex, mean (sd) cm, from the NCD Risk Factor Collaboration's estimates for
# European adults (NCD-RisC 2016, eLife 5:e13410, doi:10.7554/eLife.13410: ~165 cm women, ~178 cm men);
# weight as body-mass index 24.5 (sd 4.5) x height² (illustrative).
HEIGHT_CM = {"female": (165.0, 7.0), "male": (178.0, 7.0)}
BMI = (24.5, 4.5)
WEIGHT_CHANGE_KG = 1.5  # sd of the change from mobilisation to conditioning (illustrative)
# G-CSF 5 or 10 µg/kg/day after cyclophosphamide, 10 alone (EBMT guidelines, Snowden et al. 2012, Bone
# Marrow Transplant 47:770-790, doi:10.1038/bmt.2011.185); days and the shares of each dose illustrative.
GCSF_10_P = 0.6
GCSF_DAYS = (4, 8)
PLERIXAFOR_P = 0.04  # poor mobilisers (illustrative; as POOR_MOBILISER_P)
MOB_STEROID_P = 0.5  # prednisone cover with G-CSF against an MS flare (illustrative)
ATG_BRAND_P = {"thymoglobulin": 0.8, "grafalon": 0.15, "atgam": 0.05}  # illustrative
ATG_STEROID_P = 0.97  # methylprednisolone with each ATG dose (illustrative; usual practice)
CD34_SELECTION_P = 0.03  # graft CD34+ selection (illustrative; HALT-MS selected, most centres do not)
CIBMTR_CONVENTION_P = 0.1  # centres that date engraftment by the CIBMTR rule (illustrative)
PLATELET_NEVER_BELOW_SHARE = 0.6  # of missing platelet dates: never below 20 (rest not recorded; illustr.)
# CMV seroprevalence in the WHO European region 66 % (Zuhair et al. 2019, Rev Med Virol 29:e2034,
# doi:10.1002/rmv.2034); EBV seropositive adults ~95 % (illustrative).
CMV_POSITIVE_P = 0.66
EBV_POSITIVE_P = 0.95
PROPHYLAXIS_P = {"antiviral": 0.98, "pjp": 0.95, "antifungal": 0.6}  # illustrative
HCT_CI_P = (0.6, 0.2, 0.1, 0.06, 0.04)  # HCT-CI 0/1/2/3/4 (illustrative; MS candidates are fit)
KARNOFSKY_BY_EDSS = ((9, (0.25, 0.6, 0.15, 0.0)), (13, (0.0, 0.3, 0.6, 0.1)), (20, (0.0, 0.0, 0.4, 0.6)))
# up to EDSS 4.5 / 6.5 / higher (half steps 9 / 13 / 20): Karnofsky 100/90/80/70 (illustrative)
LVEF = (62.0, 5.0, 50, 75)  # mean, sd, range % (illustrative)
ACTIVE_P = (0.9, 0.6, 0.5)  # Lublin 2014 "active" at transplant by phenotype (illustrative)
PROGRESSING_P = (0.0, 0.8, 0.9)  # "with progression" (RRMS: not applicable; illustrative)
EDSS_STEP_BEFORE = (0.4, 0.35, 0.25)  # EDSS 12 months before = now minus 0 / 0.5 / 1.0 (illustrative)
# Infections: organism and site of each synthetic infectious event by its CTCAE term.
INFECTION_DETAIL = {
    "Cytomegalovirus infection reactivation": ("cmv", "bloodstream", "yes"),  # viraemia
    "Epstein-Barr virus infection reactivation": ("ebv", "bloodstream", "yes"),
    "Sepsis": ("", "bloodstream", "no"),
    "Urinary tract infection": ("", "urinary", "no"),
    "Lung infection": ("", "lung", "no"),
}
SEPSIS_ORGANISMS = {"staphylococcus_aureus": 0.2, "cons": 0.3, "escherichia_coli": 0.25, "klebsiella": 0.1,
                    "pseudomonas": 0.1, "unknown": 0.05}  # illustrative
UTI_ORGANISMS = {"escherichia_coli": 0.7, "klebsiella": 0.15, "enterococcus": 0.1, "unknown": 0.05}  # illustr.
LUNG_ORGANISMS = {"unknown": 0.5, "influenza": 0.1, "rsv": 0.1, "sars_cov_2": 0.1, "aspergillus": 0.1,
                  "pneumocystis": 0.05, "streptococcus": 0.05}  # illustrative
PREEMPTIVE_P = 0.7  # viral reactivation events treated pre-emptively (illustrative)
AUTOIMMUNITY = {"Hypothyroidism": "thyroid", "Hyperthyroidism": "thyroid", "Platelet count decreased": "itp"}
# Viral load monitoring after day 0 (days), CMV in seropositive and EBV in every patient given ATG;
# positive results as the reactivation events in the adverse event table (illustrative loads, IU/mL).
CMV_DAYS = (14, 28, 42, 56, 90)
EBV_DAYS = (28, 56, 90)
REACTIVATION_LOAD = {"cmv": 1_000, "ebv": 10_000}
IGG_DAYS = (90, 365)
IGG = ((6.5, 2.0), (8.0, 2.0))  # g/L at day 90 and 1 year, mean (sd) (illustrative; low after ATG/rituximab)
IGG_REPLACEMENT_BELOW = 4.0
# Late effects per patient-year after transplant (illustrative; rare in aHSCT for MS).
MALIGNANCY_PER_Y = 0.002
HAEM_MALIGNANCY_PER_Y = 0.0005
PTLD_P = 0.003  # within the first year, with ATG (illustrative)
SECOND_TRANSPLANT_P = 0.004  # a further autologous transplant for MS activity, years 2-6 (illustrative)
# Reproductive health one year after day 0 in women below 50: amenorrhoea rising with age and intensity
# (illustrative), AMH pmol/L lognormal, fertility preservation and pregnancy (illustrative).
AMENORRHOEA_P = {"low": 0.15, "intermediate": 0.3, "high": 0.6}
AMENORRHOEA_AGE_OR = 1.1  # per year above 35
FERTILITY_PRESERVATION_P = {"none": 0.55, "oocytes": 0.15, "embryos": 0.05, "gnrh_agonist": 0.15,
                            "declined": 0.1}
AMH_MEDIAN, AMH_SIGMA = 3.0, 0.9
PREGNANCY_P = 0.03
# EDSS visits: how the score was obtained and the timed tests (illustrative).
MODE_P = {"in_person": 0.9, "phone": 0.04, "self_reported": 0.06}
CERTIFIED_P = 0.8
BLINDED_P = 0.1
TIMED_TESTS_P = 0.6
RELAPSE_CONFIRMATION = {"objective_signs": (0.85, 0.1), "infection_excluded": (0.9, 0.05),
                        "steroids": (0.6, 0.35)}  # yes, no; rest unknown (illustrative)
SEVERITY_P = {"mild": 0.4, "moderate": 0.45, "severe": 0.15}  # illustrative
MRI_REGION_P = {"brain": 0.75, "brain_and_spine": 0.2, "spine": 0.05}
MRI_3T_P = 0.6
MRI_CENTRAL_P = 0.15
MRI_STEROIDS_P = 0.05
# DMTs: the last line before aHSCT stops for it; earlier lines for these reasons (illustrative).
STOP_REASON_P = {"lack_of_efficacy": 0.6, "adverse_event": 0.2, "safety_risk": 0.1, "patient_choice": 0.05,
                 "pregnancy": 0.05}
PULSED = ("rituximab", "ocrelizumab", "ofatumumab", "alemtuzumab", "cladribine")  # last dose before stop
RESTART_P = 0.5  # a DMT restarted within a year of a relapse after aHSCT (illustrative)
RESTART_DRUGS = {"ocrelizumab": 0.5, "natalizumab": 0.3, "rituximab": 0.2}
OCRELIZUMAB_APPROVED = 2017  # FDA and EMA approval year (as in the DMT table of openhsct.registry.synth)


def _pick(rng: np.random.Generator, p: dict[str, float], size: int) -> np.ndarray:
    """``size`` codes drawn with the probabilities ``p`` (normalised)."""
    keys = np.array(list(p), dtype=object)
    w = np.array(list(p.values()), dtype=float)
    return keys[S._choice(rng, w / w.sum(), size)]


def _yes_no_unknown(rng: np.random.Generator, p_yes: float, p_no: float, size: int) -> np.ndarray:
    u = rng.random(size)
    return np.where(u < p_yes, "yes", np.where(u < p_yes + p_no, "no", "unknown")).astype(object)


def _pid(frame: pd.DataFrame) -> np.ndarray:
    """Patient index of each row: synthetic codes are ``S`` and a zero-padded running number of one
    width, read here from the characters' code points (no per-row Python)."""
    if frame.empty:
        return np.zeros(0, dtype=np.int64)
    codes = frame[S.PC].to_numpy(dtype=str)
    width = codes.dtype.itemsize // 4
    digits = codes.view(np.uint32).reshape(codes.size, width)[:, 1:].astype(np.int64) - ord("0")
    return digits @ (10 ** np.arange(width - 2, -1, -1, dtype=np.int64)) - 1


def _days(frame: pd.DataFrame, col: str) -> np.ndarray:
    """A date column as days since 1970-01-01 (``_NA`` where empty)."""
    s = frame[col].to_numpy(dtype=str)
    out = np.full(s.size, S._NA, dtype=np.int64)
    filled = s != ""
    if filled.any():
        out[filled] = s[filled].astype("datetime64[D]").astype(np.int64)
    return out


def _dec(values: np.ndarray, places: int, missing: np.ndarray | None = None) -> np.ndarray:
    return S._fmt_dec(np.round(values, places), places, missing)


def add_items(tables: dict[str, pd.DataFrame], coh, seed: int, as_of: int) -> None:
    """Add the items' columns and tables to ``tables`` in place. Returns nothing."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, ITEM_STREAM]))
    sex = tables["patients"]["sex"].to_numpy()
    size = _body_size(coh, sex, rng)
    _mobilisations(tables, size, rng)
    tables["apheresis"]["cell_source"] = "peripheral_blood"
    tables["cell_products"]["preservation"] = "cryopreserved"  # the custody chain freezes every bag
    _conditioning(tables, size, rng)
    _transplants(tables, coh, rng)
    _adverse_events(tables, rng)
    _deaths(tables, rng)
    _edss_visits(tables, rng)
    _relapses(tables, rng)
    _mri_scans(tables, rng)
    _dmt_exposures(tables, coh, rng)
    _monitoring(tables, coh, rng, as_of)
    _late_effects(tables, coh, sex, rng)


def _body_size(coh, sex: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Height (cm) and weight (kg) of every patient at mobilisation."""
    female = sex == "female"
    mean = np.where(female, HEIGHT_CM["female"][0], HEIGHT_CM["male"][0])
    height = np.clip(rng.normal(mean, 7.0), 145, 205)
    bmi = np.clip(rng.normal(BMI[0], BMI[1], coh.n), 17, 40)
    weight = np.clip(bmi * (height / 100) ** 2, 40, 160)
    return height, weight


def _mobilisations(tables: dict, size: tuple[np.ndarray, np.ndarray], rng: np.random.Generator) -> None:
    mob = tables["mobilisations"]
    pid, n = _pid(mob), len(mob)
    height, weight = size
    gcsf = (mob["gcsf"] == "yes").to_numpy()
    alone = (mob["cyclophosphamide_g_per_m2"] == "").to_numpy()
    dose = np.where(alone | (rng.random(n) < GCSF_10_P), 10.0, 5.0)
    mob["weight_kg"] = _dec(weight[pid], 1)
    mob["height_cm"] = _dec(height[pid], 1)
    mob["gcsf_ug_per_kg_day"] = _dec(dose, 1, ~gcsf)
    mob["gcsf_days"] = S._fmt_int(S._uniform_int(rng, GCSF_DAYS[0], GCSF_DAYS[1], n), ~gcsf)
    mob["plerixafor"] = S._yes(rng.random(n) < PLERIXAFOR_P)
    mob["steroid_cover"] = S._yes(rng.random(n) < MOB_STEROID_P)


def _conditioning(tables: dict, size: tuple[np.ndarray, np.ndarray], rng: np.random.Generator) -> None:
    cond, drugs = tables["conditioning"], tables["conditioning_drugs"]
    pid, n = _pid(cond), len(cond)
    height, weight = size
    atg = (cond["atg"] == "yes").to_numpy()
    rtx = (cond["rituximab"] == "yes").to_numpy()
    dose = _drug_dose(cond, drugs, "ATG")
    rtx_mg = _drug_dose(cond, drugs, "rituximab")
    cond["weight_kg"] = _dec(np.clip(weight[pid] + rng.normal(0, WEIGHT_CHANGE_KG, n), 40, 160), 1)
    cond["height_cm"] = _dec(height[pid], 1)
    cond["atg_brand"] = np.where(atg, _pick(rng, ATG_BRAND_P, n), "").astype(object)
    cond["atg_mg_per_kg"] = _dec(np.nan_to_num(dose), 2, ~atg | np.isnan(dose))
    cond["steroid_cover"] = np.where(atg, S._yes(rng.random(n) < ATG_STEROID_P), "no").astype(object)
    cond["tbi_gy"] = _dec(np.zeros(n), 1)  # no synthetic regimen irradiates
    cond["rituximab_mg"] = _dec(np.nan_to_num(rtx_mg), 1, ~rtx | np.isnan(rtx_mg))


def _drug_dose(cond: pd.DataFrame, drugs: pd.DataFrame, name: str) -> np.ndarray:
    """Each conditioning row's total dose of the drug whose name contains ``name`` (NaN where none)."""
    names = {d for r in S.REGIMENS.values() for d, _, _ in r.drugs} | {"rituximab"}  # the drugs synth writes
    hit = drugs.loc[drugs["drug"].isin([d for d in names if name in d]).to_numpy()]
    dose = pd.Series(hit["total_dose"].astype(float).to_numpy(), index=_pid(hit))
    dose = dose[~dose.index.duplicated()]
    return dose.reindex(_pid(cond)).to_numpy(dtype=float)


def _transplants(tables: dict, coh, rng: np.random.Generator) -> None:
    tx = tables["transplants"]
    pid, n = _pid(tx), len(tx)
    neut = (tx["neutrophil_engraftment_date"] != "").to_numpy()
    plat = (tx["platelet_engraftment_date"] != "").to_numpy()
    never = rng.random(n) < PLATELET_NEVER_BELOW_SHARE
    tx["graft_manipulation"] = np.where(rng.random(n) < CD34_SELECTION_P, "cd34_selection", "none").astype(object)
    tx["neutrophil_engraftment_status"] = np.where(neut, "achieved", "").astype(object)
    tx["platelet_engraftment_status"] = np.where(plat, "achieved", np.where(never, "never_below", "")).astype(object)
    centre_cibmtr = {c: rng.random() < CIBMTR_CONVENTION_P for c in sorted(set(tables["centres"][S.CC]))}
    cibmtr = np.array([centre_cibmtr[c] for c in tx[S.CC].tolist()], dtype=bool)
    tx["engraftment_convention"] = np.where(cibmtr, "cibmtr", "ebmt").astype(object)
    tx["cmv_serostatus"] = np.where(rng.random(n) < CMV_POSITIVE_P, "positive", "negative").astype(object)
    tx["ebv_serostatus"] = np.where(rng.random(n) < EBV_POSITIVE_P, "positive", "negative").astype(object)
    for name, p in PROPHYLAXIS_P.items():
        tx[f"{name}_prophylaxis"] = S._yes(rng.random(n) < p)
    tx["hct_ci"] = S._fmt_int(S._choice(rng, HCT_CI_P, n))
    edss_h = coh.edss_h[pid]
    karnofsky = np.zeros(n, dtype=np.int64)
    for top, p in reversed(KARNOFSKY_BY_EDSS):
        k = 100 - 10 * S._choice(rng, p, n)
        karnofsky = np.where(edss_h <= top, k, karnofsky)
    tx["karnofsky"] = S._fmt_int(karnofsky)
    tx["lvef_percent"] = S._fmt_int(np.clip(np.round(rng.normal(LVEF[0], LVEF[1], n)), LVEF[2], LVEF[3]).astype(int))
    pheno = coh.pheno[pid]
    tx["activity_modifier"] = np.where(rng.random(n) < np.take(ACTIVE_P, pheno), "active", "not_active").astype(object)
    progressing = rng.random(n) < np.take(PROGRESSING_P, pheno)
    tx["progression_modifier"] = np.where(pheno == 0, "not_applicable",
                                          np.where(progressing, "with_progression", "without_progression")).astype(object)
    before12 = np.clip(edss_h - S._choice(rng, EDSS_STEP_BEFORE, n), 0, 19)
    before24 = np.clip(before12 - S._choice(rng, EDSS_STEP_BEFORE, n), 0, 19)
    tx["edss_12m_before"] = S._EDSS_TEXT[before12]
    tx["edss_24m_before"] = S._EDSS_TEXT[before24]
    tables["transplants"] = tx[list(S.TABLE_COLUMNS["transplants"])]


def _adverse_events(tables: dict, rng: np.random.Generator) -> None:
    ae = tables["adverse_events"]
    n = len(ae)
    term = ae["ctcae_term"].to_numpy()
    infection = (ae["category"] == "infection").to_numpy()
    organism = np.full(n, "", dtype=object)
    site = np.full(n, "", dtype=object)
    reactivation = np.full(n, "", dtype=object)
    for t, (org, where, react) in INFECTION_DETAIL.items():
        at = (term == t) & infection
        site[at], reactivation[at] = where, react
        organism[at] = org
    for t, p in (("Sepsis", SEPSIS_ORGANISMS), ("Urinary tract infection", UTI_ORGANISMS),
                 ("Lung infection", LUNG_ORGANISMS)):
        at = np.flatnonzero((term == t) & infection)
        organism[at] = _pick(rng, p, at.size)
    site[infection & (site == "")] = "unknown"
    organism[infection & (organism == "")] = "unknown"
    reactivation[infection & (reactivation == "")] = "no"
    viral = reactivation == "yes"
    ae["organism"] = organism
    ae["infection_site"] = site
    ae["reactivation"] = reactivation
    ae["preemptive_treatment"] = np.where(viral, S._yes(rng.random(n) < PREEMPTIVE_P),
                                          np.where(infection, "no", "")).astype(object)
    autoimmune = (ae["category"] == "secondary_autoimmunity").to_numpy()
    ae["autoimmunity_type"] = np.where(autoimmune, pd.Series(term).map(AUTOIMMUNITY).fillna("other").to_numpy(),
                                       "").astype(object)


# Local cause-of-death code of each synthetic cause (the ``cause`` text written by the base generator).
CAUSE_CODES = {
    "sepsis": "infection_bacterial", "CMV pneumonitis": "infection_viral",
    "invasive fungal infection": "infection_fungal", "cardiotoxicity": "cardiac_toxicity",
    "acute respiratory distress syndrome": "pulmonary_toxicity", "multi-organ failure": "multiorgan_failure",
    "MS progression": "ms_progression", "malignancy": "secondary_malignancy", "infection": "infection_unknown",
    "cardiovascular disease": "other", "suicide": "suicide", "unknown": "unknown",
}
AUTOPSY_P = 0.2  # illustrative
CONTRIBUTORY_P = 0.3  # a contributory cause recorded (illustrative)


def _deaths(tables: dict, rng: np.random.Generator) -> None:
    d = tables["deaths"]
    n = len(d)
    primary = d["cause"].map(CAUSE_CODES).fillna("other").to_numpy(dtype=object)
    has_contrib = rng.random(n) < CONTRIBUTORY_P
    contrib = np.where(np.isin(primary, ["ms_progression", "multiorgan_failure"]), "infection_unknown",
                       "multiorgan_failure")
    d["primary_cause"] = primary
    d["contributory_cause_1"] = np.where(has_contrib & (primary != "unknown"), contrib, "").astype(object)
    d["contributory_cause_2"] = ""
    d["autopsy"] = S._yes(rng.random(n) < AUTOPSY_P)


# Neurostatus functional system scores typical of each EDSS half step 0.0-10.0 (visual, brainstem,
# pyramidal, cerebellar, sensory, bowel/bladder, cerebral) and the ambulation score (illustrative, in
# line with the Neurostatus-EDSS definitions; Kurtzke 1983, doi:10.1212/WNL.33.11.1444).
_FS_BY_HALF_STEP = np.array([
    [0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0, 0], [0, 0, 1, 0, 1, 0, 0, 0], [1, 0, 1, 1, 1, 0, 0, 0],
    [1, 1, 2, 1, 1, 1, 0, 0], [1, 1, 2, 2, 2, 1, 1, 0], [1, 1, 3, 2, 2, 1, 1, 0], [2, 1, 3, 2, 2, 2, 1, 0],
    [2, 1, 3, 3, 2, 2, 1, 1], [2, 2, 3, 3, 3, 2, 1, 2], [2, 2, 4, 3, 3, 2, 2, 3], [2, 2, 4, 3, 3, 3, 2, 4],
    [2, 2, 4, 3, 3, 3, 2, 6], [3, 2, 4, 3, 3, 3, 2, 8], [3, 3, 4, 3, 4, 3, 2, 10], [3, 3, 5, 4, 4, 4, 3, 11],
    [4, 3, 5, 4, 4, 5, 3, 13], [4, 4, 5, 4, 4, 5, 3, 14], [4, 4, 5, 4, 5, 5, 4, 15], [4, 4, 5, 4, 5, 5, 4, 16],
    [4, 4, 5, 4, 5, 5, 4, 16],
])
_FS_COLUMNS = ("fs_visual", "fs_brainstem", "fs_pyramidal", "fs_cerebellar", "fs_sensory", "fs_bowel_bladder",
               "fs_cerebral", "fs_ambulation")
# Timed tests by EDSS (illustrative): T25FW 4.5 s at EDSS 0 rising ~25 % a step, walking only up to EDSS 6.5;
# 9HPT 19 s rising ~8 % a step; SDMT 55 correct answers falling 2.5 a step.


def _edss_visits(tables: dict, rng: np.random.Generator) -> None:
    v = tables["edss_visits"]
    n = len(v)
    half = np.round(v["edss"].astype(float).to_numpy() * 2).astype(np.int64)
    mode = _pick(rng, MODE_P, n)
    examined = mode == "in_person"
    fs = _FS_BY_HALF_STEP[half]
    for i, col in enumerate(_FS_COLUMNS):
        v[col] = S._fmt_int(fs[:, i], ~examined)
    rated = mode != "self_reported"
    v["assessor_certified"] = np.where(rated, S._yes(rng.random(n) < CERTIFIED_P), "").astype(object)
    v["assessor_blinded"] = np.where(rated, S._yes(rng.random(n) < BLINDED_P), "").astype(object)
    v["assessment_mode"] = mode
    timed = examined & (rng.random(n) < TIMED_TESTS_P)
    walks = timed & (half <= 13)
    edss = half / 2
    t25 = np.clip(4.5 * 1.25 ** edss * np.exp(rng.normal(0, 0.15, n)), 2.5, 180)
    nhpt_d = np.clip(19 * 1.08 ** edss * np.exp(rng.normal(0, 0.12, n)), 12, 300)
    nhpt_n = np.clip(nhpt_d * np.exp(rng.normal(0.05, 0.08, n)), 12, 300)
    sdmt = np.clip(np.round(55 - 2.5 * edss + rng.normal(0, 8, n)), 0, 110).astype(np.int64)
    v["t25fw_s"] = _dec(t25, 1, ~walks)
    v["nhpt_dominant_s"] = _dec(nhpt_d, 1, ~timed)
    v["nhpt_nondominant_s"] = _dec(nhpt_n, 1, ~timed)
    v["sdmt"] = S._fmt_int(sdmt, ~timed)


def _relapses(tables: dict, rng: np.random.Generator) -> None:
    r = tables["relapses"]
    n = len(r)
    for col, (p_yes, p_no) in RELAPSE_CONFIRMATION.items():
        r[col] = _yes_no_unknown(rng, p_yes, p_no, n)
    r["severity"] = _pick(rng, SEVERITY_P, n)


def _mri_scans(tables: dict, rng: np.random.Generator) -> None:
    m = tables["mri_scans"]
    n = len(m)
    pid = _pid(m)
    same_as_previous = np.r_[False, pid[1:] == pid[:-1]] if n else np.zeros(0, dtype=bool)
    previous = np.r_[[""], m["scan_date"].to_numpy()[:-1]] if n else np.zeros(0, dtype=object)
    compared = same_as_previous & (m["t2_assessed"] == "yes").to_numpy()
    m["region"] = _pick(rng, MRI_REGION_P, n)
    m["field_strength"] = np.where(rng.random(n) < MRI_3T_P, "3T", "1.5T").astype(object)
    m["comparator_scan_date"] = np.where(compared, previous, "").astype(object)
    m["reading"] = np.where(rng.random(n) < MRI_CENTRAL_P, "central", "local").astype(object)
    m["steroids_within_30d"] = S._yes(rng.random(n) < MRI_STEROIDS_P)


def _dmt_exposures(tables: dict, coh, rng: np.random.Generator) -> None:
    """Stop reasons and last doses of the courses before aHSCT, and DMT restarts after a relapse."""
    d = tables["dmt_exposures"]
    n = len(d)
    pid = _pid(d)
    start, stop = _days(d, "start_date"), _days(d, "stop_date")
    pulsed = d["drug"].isin(PULSED).to_numpy() & (stop != S._NA)
    last = np.where(pulsed, np.maximum(start, stop - S._uniform_int(rng, 0, 120, n)), stop)
    # the course that ends latest is the one stopped for aHSCT (rows are sorted by drug, not date)
    latest = pd.Series(stop).groupby(pid).transform("max").to_numpy() == stop
    reason = np.where(stop == S._NA, "", np.where(coh.tx[pid] & latest, "ahsct", _pick(rng, STOP_REASON_P, n)))
    d["last_dose_date"] = S._fmt_date(last)
    d["stop_reason"] = reason.astype(object)
    d["after_ahsct"] = "no"
    d["restart_reason"] = ""
    tables["dmt_exposures"] = pd.concat([d, _restarts(tables, coh, rng)], ignore_index=True).sort_values(
        [S.CC, S.PC, "drug", "start_date"], kind="stable").reset_index(drop=True)


def _restarts(tables: dict, coh, rng: np.random.Generator) -> pd.DataFrame:
    """A DMT restarted 30-180 days after the first relapse after day 0 (RESTART_P of such patients)."""
    r = tables["relapses"]
    pid, day = _pid(r), _days(r, "onset_date")
    after = coh.tx[pid] & (day > coh.day0[pid]) if len(r) else np.zeros(0, dtype=bool)
    first = pd.Series(day[after]).groupby(pid[after]).min()
    who, onset = first.index.to_numpy(dtype=np.int64), first.to_numpy(dtype=np.int64)
    start = onset + S._uniform_int(rng, 30, 180, who.size)
    keep = (rng.random(who.size) < RESTART_P) & (start <= coh.horizon[who])
    who, start = who[keep], start[keep]
    drug = _pick(rng, RESTART_DRUGS, who.size)
    # Ocrelizumab was approved in 2017; an anti-CD20 restart before then is off-label rituximab.
    drug[(drug == "ocrelizumab") & (S._year(start) < OCRELIZUMAB_APPROVED)] = "rituximab"
    columns = list(S.TABLE_COLUMNS["dmt_exposures"])
    out = pd.DataFrame({S.CC: coh.centre_codes[who], S.PC: coh.codes[who], "drug": drug,
                        "start_date": S._fmt_date(start)}, columns=columns)
    out["after_ahsct"] = "yes"
    out["restart_reason"] = "relapse"
    return out.fillna("").astype(object)


def _monitoring(tables: dict, coh, rng: np.random.Generator, as_of: int) -> None:
    """Viral loads (CMV in seropositive, EBV with ATG) and IgG after day 0, up to the last contact."""
    tx = tables["transplants"]
    pid = _pid(tx)
    atg = pd.Series((tables["conditioning"]["atg"] == "yes").to_numpy(), index=_pid(tables["conditioning"]))
    atg = atg.reindex(pid, fill_value=False).to_numpy(dtype=bool)
    cmv_pos = (tx["cmv_serostatus"] == "positive").to_numpy()
    ae = tables["adverse_events"]
    react = {v: set(_pid(ae.loc[ae["organism"] == v]).tolist()) for v in ("cmv", "ebv")}
    parts = []
    for virus, days, who in (("cmv", CMV_DAYS, cmv_pos), ("ebv", EBV_DAYS, atg)):
        p, k = S._expand(np.where(who, len(days), 0))
        patient = pid[p]
        day = coh.day0[patient] + np.asarray(days)[k]
        positive = np.isin(patient, list(react[virus])) & (k >= 1) & (k <= 2)
        limit = REACTIVATION_LOAD[virus]
        detected = rng.random(p.size) < 0.15
        load = np.where(positive, np.round(limit * np.exp(rng.normal(1.0, 0.8, p.size))),
                        np.where(detected, np.round(limit * 0.1 * np.exp(rng.normal(0, 0.8, p.size))), 0))
        treated = positive & (rng.random(p.size) < PREEMPTIVE_P)
        drug = "valganciclovir" if virus == "cmv" else "rituximab"
        keep = day <= np.minimum(coh.horizon[patient], as_of)
        parts.append(pd.DataFrame({
            "pid": patient[keep], "day": day[keep], "sample_date": S._fmt_date(day[keep]), "virus": virus,
            "load_iu_per_ml": S._fmt_int(np.minimum(load, 2_000_000_000).astype(np.int64)[keep]),
            "reactivation": S._yes(positive[keep]),
            "preemptive_treatment": np.where(treated, drug, "none")[keep].astype(object)}))
    vl = pd.concat(parts, ignore_index=True).sort_values(["pid", "day", "virus"], kind="stable")
    tables["viral_loads"] = _patient_frame(coh, vl, "viral_loads")

    p, k = S._expand(np.full(pid.size, len(IGG_DAYS)))
    patient = pid[p]
    day = coh.day0[patient] + np.asarray(IGG_DAYS)[k]
    mean, sd = np.take([m for m, _ in IGG], k), np.take([s for _, s in IGG], k)
    igg = np.clip(rng.normal(mean, sd), 1.0, 20.0)
    low = igg < IGG_REPLACEMENT_BELOW
    keep = day <= np.minimum(coh.horizon[patient], as_of)
    ig = pd.DataFrame({"pid": patient[keep], "day": day[keep], "sample_date": S._fmt_date(day[keep]),
                       "igg_g_per_l": _dec(igg[keep], 1),
                       "replacement": S._yes((low & (rng.random(p.size) < 0.5))[keep])})
    tables["igg_levels"] = _patient_frame(coh, ig.sort_values(["pid", "day"], kind="stable"), "igg_levels")


def _patient_frame(coh, frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Rows keyed by patient index ``pid`` as an exchange table (codes first, columns in file order)."""
    pid = frame["pid"].to_numpy(dtype=np.int64)
    out = frame.drop(columns=[c for c in ("pid", "day") if c in frame]).reset_index(drop=True)
    out.insert(0, S.PC, coh.codes[pid])
    out.insert(0, S.CC, coh.centre_codes[pid])
    return out[list(S.TABLE_COLUMNS[name])].astype(object)


def _late_effects(tables: dict, coh, sex: np.ndarray, rng: np.random.Generator) -> None:
    """Late effects, reproductive health one year after day 0 in women under 50, second transplants."""
    t = np.flatnonzero(coh.tx)
    years = np.maximum(coh.horizon[t] - coh.day0[t], 0) / 365.25
    atg = np.array([S.REGIMENS[r].atg for r in S._REGIMEN_KEYS])[coh.regimen[t]]
    rows = []
    for effect, hit, lo, hi in (
        ("secondary_malignancy", rng.random(t.size) < 1 - np.exp(-MALIGNANCY_PER_Y * years), 365, None),
        ("haematological_malignancy", rng.random(t.size) < 1 - np.exp(-HAEM_MALIGNANCY_PER_Y * years), 365, None),
        ("ptld", atg & (rng.random(t.size) < PTLD_P), 60, 300),
    ):
        span = coh.horizon[t] - coh.day0[t]
        top = span if hi is None else np.minimum(span, hi)
        day = coh.day0[t] + lo + np.floor(rng.random(t.size) * np.maximum(top - lo, 0)).astype(np.int64)
        ok = hit & (top > lo)
        rows.append(pd.DataFrame({"pid": t[ok], "day": day[ok], "effect": effect}))
    le = pd.concat(rows, ignore_index=True).sort_values(["pid", "day", "effect"], kind="stable")
    le["effect_id"] = "L" + (le.groupby("pid").cumcount() + 1).astype(str)
    le["diagnosis_date"] = S._fmt_date(le["day"].to_numpy(dtype=np.int64))
    le["description"] = ""
    tables["late_effects"] = _patient_frame(coh, le, "late_effects")

    woman = t[(sex[t] == "female") & (coh.age[t] < 50)]
    day = coh.day0[woman] + 365
    woman, day = woman[day <= coh.horizon[woman]], day[day <= coh.horizon[woman]]
    k = woman.size
    intensity = np.array([S.REGIMENS[r].intensity for r in S._REGIMEN_KEYS], dtype=object)[coh.regimen[woman]]
    base = np.array([AMENORRHOEA_P[i] for i in intensity.tolist()], dtype=float)
    odds = base / (1 - base) * AMENORRHOEA_AGE_OR ** np.maximum(coh.age[woman] - 35, 0)
    amenorrhoea = rng.random(k) < odds / (1 + odds)
    menopause = amenorrhoea & (coh.age[woman] >= 40) & (rng.random(k) < 0.5)
    pregnant = ~amenorrhoea & (rng.random(k) < PREGNANCY_P)
    amh = np.clip(AMH_MEDIAN * np.exp(rng.normal(0, AMH_SIGMA, k)) * np.where(amenorrhoea, 0.2, 1.0), 0, 200)
    tables["reproductive_health"] = _patient_frame(coh, pd.DataFrame({
        "pid": woman, "record_date": S._fmt_date(day), "amenorrhoea": S._yes(amenorrhoea),
        "menopause": S._yes(menopause), "amh_pmol_per_l": _dec(amh, 1),
        "fertility_preservation": _pick(rng, FERTILITY_PRESERVATION_P, k),
        "pregnancy": S._yes(pregnant),
        "pregnancy_outcome": np.where(pregnant, "ongoing", "").astype(object)}), "reproductive_health")

    again = coh.day0[t] + S._uniform_int(rng, 730, 2190, t.size)
    hit = (rng.random(t.size) < SECOND_TRANSPLANT_P) & (again <= coh.horizon[t])
    tables["second_transplants"] = _patient_frame(coh, pd.DataFrame({
        "pid": t[hit], "transplant_date": S._fmt_date(again[hit]), "kind": "autologous",
        "indication": "ms_activity"}), "second_transplants")
