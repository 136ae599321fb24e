"""A synthetic multi-centre aHSCT-for-MS cohort, through the whole pathway, in the exchange format.

``generate(centres, patients, seed)`` returns one DataFrame per exchange table (see
``docs/exchange-format.md``), every cell already canonical text: ISO dates, UTC datetimes
``YYYY-MM-DDTHH:MM:SS+00:00``, decimals with the model field's decimal places, ``yes``/``no`` codes and
``""`` for missing. ``write_bundle`` writes them as a bundle folder the importer reads.

Everything is drawn from one ``numpy.random.Generator`` seeded by ``seed`` and is vectorised over patients
(rows are built with ``np.repeat``/``cumsum``), so 100,000 patients take seconds and the same arguments
give the same tables. Every rate is set in one place below, with its source; ``docs/synthetic-data.md``
lists them. The centres, cities and people are fictional: the data describe no real centre or patient.

Time is held as integer days since 1970-01-01 (custody times as minutes); text is made at the end
through lookup tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

AS_OF = date(2026, 6, 30)

# Exchange tables, columns in file order (model field order; docs/exchange-format.md) and the key
# the rows are sorted by.
CC, PC = "centre_code", "patient_code"
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "centres": ("centre_code", "name", "country", "city", "synthetic"),
    "patients": (
        CC,
        PC,
        "sex",
        "birth_year",
        "phenotype",
        "onset_date",
        "diagnosis_date",
        "consent_status",
        "consent_date",
        "consent_version",
        "consent_publication",
        "consent_sharing",
        "consent_recontact",
        "consent_withdrawal_date",
        "last_contact_date",
    ),
    "eligibility": (
        CC,
        PC,
        "assessment_date",
        "edss",
        "relapses_prior_12m",
        "gd_assessed",
        "gd_lesions",
        "prior_dmt_count",
        "prior_dmts",
        "decision",
        "reason",
    ),
    "mobilisations": (
        CC,
        PC,
        "mobilisation_id",
        "regimen",
        "cyclophosphamide_g_per_m2",
        "gcsf",
        "start_date",
        "end_date",
        "weight_kg",
        "height_cm",
        "gcsf_ug_per_kg_day",
        "gcsf_days",
        "plerixafor",
        "steroid_cover",
    ),
    "apheresis": (
        CC,
        PC,
        "collection_id",
        "mobilisation_id",
        "collection_date",
        "cd34_1e6_per_kg",
        "volume_ml",
        "cell_source",
    ),
    "cell_products": (
        CC,
        PC,
        "bag_id",
        "collection_id",
        "cryopreservation_date",
        "storage_location",
        "status",
        "preservation",
    ),
    "custody_events": (CC, PC, "bag_id", "seq", "event", "event_at", "performed_by", "location"),
    "conditioning": (CC, PC, "regimen", "intensity", "atg", "rituximab", "start_date", "end_date", "weight_kg",
                     "height_cm", "atg_brand", "atg_mg_per_kg", "steroid_cover", "tbi_gy", "rituximab_mg"),
    "conditioning_drugs": (CC, PC, "drug", "total_dose", "dose_unit"),
    "transplants": (
        CC,
        PC,
        "day0",
        "cd34_infused_1e6_per_kg",
        "admission_date",
        "discharge_date",
        "neutrophil_engraftment_date",
        "platelet_engraftment_date",
        "graft_manipulation",
        "neutrophil_engraftment_status",
        "platelet_engraftment_status",
        "engraftment_convention",
        "cmv_serostatus",
        "ebv_serostatus",
        "antiviral_prophylaxis",
        "pjp_prophylaxis",
        "antifungal_prophylaxis",
        "hct_ci",
        "karnofsky",
        "lvef_percent",
        "activity_modifier",
        "progression_modifier",
        "edss_12m_before",
        "edss_24m_before",
    ),
    "adverse_events": (
        CC,
        PC,
        "ae_id",
        "category",
        "ctcae_term",
        "grade",
        "onset_date",
        "resolution_date",
        "attribution",
        "serious",
        "organism",
        "infection_site",
        "reactivation",
        "preemptive_treatment",
        "autoimmunity_type",
    ),
    "deaths": (CC, PC, "death_date", "cause", "cause_category", "transplant_related", "primary_cause",
               "contributory_cause_1", "contributory_cause_2", "autopsy"),
    "edss_visits": (CC, PC, "visit_date", "edss", "fs_visual", "fs_brainstem", "fs_pyramidal", "fs_cerebellar",
                    "fs_sensory", "fs_bowel_bladder", "fs_cerebral", "fs_ambulation", "assessor_certified",
                    "assessor_blinded", "assessment_mode", "t25fw_s", "nhpt_dominant_s", "nhpt_nondominant_s",
                    "sdmt"),
    "relapses": (CC, PC, "onset_date", "objective_signs", "infection_excluded", "steroids", "severity"),
    "mri_scans": (CC, PC, "scan_date", "t2_assessed", "new_enlarging_t2", "gd_assessed", "gd_lesions", "region",
                  "field_strength", "comparator_scan_date", "reading", "steroids_within_30d"),
    "dmt_exposures": (CC, PC, "drug", "start_date", "stop_date", "last_dose_date", "stop_reason", "after_ahsct",
                      "restart_reason"),
    "costs": (CC, PC, "cost_date", "category", "amount", "currency"),
    "pro_answers": (CC, PC, "response_date", "instrument", "item", "answer", "source"),
    "viral_loads": (CC, PC, "sample_date", "virus", "load_iu_per_ml", "reactivation", "preemptive_treatment"),
    "igg_levels": (CC, PC, "sample_date", "igg_g_per_l", "replacement"),
    "late_effects": (CC, PC, "effect_id", "effect", "diagnosis_date", "description"),
    "reproductive_health": (CC, PC, "record_date", "amenorrhoea", "menopause", "amh_pmol_per_l",
                            "fertility_preservation", "pregnancy", "pregnancy_outcome"),
    "second_transplants": (CC, PC, "transplant_date", "kind", "indication"),
}

# Column kinds for typed (Parquet) output, matching openhsct.registry.formats.typed_frame.
_DATE_COLS = {
    "onset_date",
    "diagnosis_date",
    "consent_date",
    "consent_withdrawal_date",
    "last_contact_date",
    "assessment_date",
    "start_date",
    "end_date",
    "collection_date",
    "cryopreservation_date",
    "day0",
    "admission_date",
    "discharge_date",
    "neutrophil_engraftment_date",
    "platelet_engraftment_date",
    "resolution_date",
    "death_date",
    "visit_date",
    "scan_date",
    "stop_date",
    "cost_date",
    "comparator_scan_date",
    "last_dose_date",
    "sample_date",
    "record_date",
    "transplant_date",
}
_DATETIME_COLS = {"event_at"}
_DECIMAL_COLS = {
    "edss",
    "cyclophosphamide_g_per_m2",
    "cd34_1e6_per_kg",
    "volume_ml",
    "total_dose",
    "cd34_infused_1e6_per_kg",
    "amount",
    "weight_kg",
    "height_cm",
    "gcsf_ug_per_kg_day",
    "atg_mg_per_kg",
    "tbi_gy",
    "rituximab_mg",
    "edss_12m_before",
    "edss_24m_before",
    "t25fw_s",
    "nhpt_dominant_s",
    "nhpt_nondominant_s",
    "igg_g_per_l",
    "amh_pmol_per_l",
}
_INTEGER_COLS = {
    "birth_year",
    "relapses_prior_12m",
    "gd_lesions",
    "prior_dmt_count",
    "seq",
    "grade",
    "new_enlarging_t2",
    "gcsf_days",
    "hct_ci",
    "karnofsky",
    "lvef_percent",
    "fs_visual",
    "fs_brainstem",
    "fs_pyramidal",
    "fs_cerebellar",
    "fs_sensory",
    "fs_bowel_bladder",
    "fs_cerebral",
    "fs_ambulation",
    "sdmt",
    "load_iu_per_ml",
}

_NA = -(10**9)  # missing date (days) in the integer arrays

# ------------------------------------------------------------------------------------------------ rates
# Every rate the cohort is drawn from, with its source. "evidence" = the package's evidence dataset (cohorts.csv /
# costs.csv rows by key); "illustrative" = a plausible value chosen for a demo, not a published figure.

SEX_P = {"female": 0.655, "male": 0.343, "unknown": 0.002}  # ~2:1 F:M in aHSCT series (Mexico 401/617,
# Shevchenko 60/99, Burt 2015 85/151; evidence)
PHENOTYPE_P = (0.70, 0.25, 0.05)  # RRMS/SPMS/PPMS; aHSCT series are mostly RRMS (Burt 2015 123/151,
# UK 2025, Melnichenko); 70/25/5 is illustrative
NOT_TRANSPLANTED_P = 0.05  # assessed but not (yet) transplanted: eligibility row only (illustrative)
NOT_ELIGIBLE_SHARE = 0.6  # of those: not_eligible vs deferred (illustrative)
EARLIER_DEFERRAL_P = 0.04  # transplanted patients with an earlier "deferred" assessment (illustrative)
WITHDRAWN_CONSENT_P = 0.004  # illustrative
FIRST_YEAR, YEAR_GROWTH = 2005, 1.12  # transplant years 2005..; activity grows ~12 %/year (MS indications
# rose steadily in EBMT activity surveys; the Moscow centre almost doubled 2014-16, costs.csv 2016 row)
AGE_MEAN = (36.0, 43.0, 44.0)  # age at aHSCT by phenotype: mean 36 (Burt 2015, MIST, Shevchenko 35);
AGE_SD = 8.0  # progressive older (Mexico median 46-47). Kept within 19-65 (birth year = year(day0) - age)
DURATION_MEDIAN_Y = (6.0, 13.0, 8.0)  # disease duration at assessment, lognormal (illustrative)
DIAGNOSIS_DELAY_MEAN_Y = (1.2, 2.0, 2.5)  # onset -> diagnosis, exponential (illustrative)
ONSET_MISSING_P = 0.03
EDSS_BASELINE = ((3.5, 1.2, 1.0, 6.5), (5.5, 1.0, 3.0, 7.0), (5.5, 1.0, 3.0, 7.0))  # mean, sd, min, max by
# phenotype. RRMS median 2.0-3.5 (Melnichenko 2.0, Shevchenko 3.5, MIST mean 3.4, trials EDSS 2-6);
# progressive ~5.5-6.5 (Muraro 6.5, Kalincik progressive 5.7, Boffa 6.0)
PRIOR_RELAPSES_RRMS = (1, 0.8)  # relapses in the 12 months before assessment: RRMS 1 + Poisson(0.8) (MIST
PRIOR_RELAPSES_SPMS = 0.45  # needed >= 2, RAM-MS >= 1); SPMS Poisson(0.45); PPMS none (illustrative)
GD_ASSESSED_P = (0.85, 0.10, 0.05)  # eligibility/baseline MRI: yes/no/unknown (illustrative)
GD_ACTIVE_P = (0.60, 0.30, 0.15)  # baseline Gd+ by phenotype (illustrative; trials require activity)
DMT_LINES_MEAN = (1.6, 1.5, 0.6)  # prior DMTs: RRMS 1 + Poisson(1.6); SPMS Poisson(1.5); PPMS Poisson(0.6)
# (MIST eligibility: relapses despite DMT; illustrative counts)
POOR_MOBILISER_P = 0.04  # second mobilisation needed (illustrative; ~5 % poor mobilisers in autoimmune aHSCT)
COLLECTIONS_P = (0.55, 0.33, 0.12)  # apheresis sessions per mobilisation: 1/2/3 (illustrative)
CD34_MEDIAN, CD34_SIGMA = 6.5, 0.55  # total CD34+ x10^6/kg, lognormal (illustrative median in the 5-8 range; Mexico median
# 4.6 infused, Murrieta). Total kept >= 2.2 so that >= 2.0 is infused
BACKUP_BAG_P = 0.45  # centre keeps one bag back when >= 2.0 x10^6/kg remain (illustrative)
NEUTROPHIL_DAY = (10.0, 1.6, 7, 16)  # mean, sd, min, max day of ANC engraftment (illustrative: day +9-11)
PLATELET_DAY_MEDIAN, PLATELET_SIGMA = 12.0, 0.30  # platelet engraftment, lognormal, days 7-60 (illustrative)
PLATELET_MISSING_P = 0.06  # never < 20 or not recorded (illustrative; 3x that with low intensity)
TRM_BASE_P = 0.011  # death <= 100 days, transplant-related; pooled TRM 2.1 % (Sormani 2017), 1.34 % (Ge
# 2019), 1 % (Zhang 2020), 1.4 % (UK 2025, Boffa 2021), 0 % (Pirogov, Mexico, MIST)
TRM_OR = {"edss_ge_6": 2.0, "age_ge_50": 1.8, "high": 2.8, "before_2008": 1.8}  # higher with higher
# baseline EDSS and in older studies (Sormani 2017), 3.13 % high intensity and 1.93 % before 2006 (Ge 2019)
LATE_DEATH_PER_Y = 0.0025  # later deaths, per year, x3 with EDSS >= 6 and x1.5 age >= 50 (illustrative;
# Ge 2019 overall mortality 3.58 % vs TRM 1.34 %)
LTFU_PER_Y = {"domestic": 0.01, "travel": 0.10}  # loss to follow-up per year: a domestic centre with
# active follow-up keeps ~90 % of its living patients seen yearly (CIBMTR/SRTR publish completeness beside
# results and flag < 90 %); higher where most patients travel from abroad (Mexico follow-up 3-42 months,
# self-reported EDSS; illustrative)
VISIT_EVERY_D, VISIT_JITTER_D, VISIT_MISSED_P = 182.625, 28, 0.08  # EDSS every 6 months +/- 4 weeks
MRI_MISSED_P = 0.15
IMPROVER_P = (0.35, 0.15, 0.10)  # sustained EDSS improvement: RRMS 32-41 % improve >= 1.0 at 2 y (Burt
# 2015, Melnichenko), MIST mean 3.4 -> 2.4 at 1 y; progressive fewer (illustrative)
PROGRESSION_PER_Y = (0.040, 0.11, 0.12)  # true confirmed-progression hazard by phenotype; with visit
# noise the measured 5-y progression is ~10-20 % RRMS (Boffa 2021 85.5 % free), ~30-40 % progressive
# (Boffa 71 % free, Zhang SPMS PFS 60 %), ~20-30 % overall (Sormani 2017 23.3 % at 5 y)
EDSS_NOISE_LOW = (0.02, 0.14, 0.68, 0.14, 0.02)  # -1.0/-0.5/0/+0.5/+1.0 at EDSS <= 5.5 (inter-rater
EDSS_NOISE_HIGH = (0.0, 0.07, 0.86, 0.07, 0.0)  # agreement ~ +/-0.5, better at high EDSS; illustrative)
RELAPSE_PER_Y = (0.038, 0.02, 0.006)  # post-aHSCT relapse rate with gamma frailty (shape 0.5): RRMS 5-y
RELAPSE_FRAILTY_SHAPE = 0.5  # relapse-free (1 + 5 r / 0.5)^-0.5 = 85 % (Melnichenko 88 %, HALT-MS 87 %,
# Nabizadeh 81 %, Burt 2015 80 % at 4 y)
MRI_ACTIVITY_P = (0.03, 0.02, 0.01)  # per post-transplant scan, +0.5 after a relapse (Nabizadeh MRI
# activity-free 89 %; Atkins none; illustrative)


@dataclass(frozen=True)
class Regimen:
    """A conditioning regimen: label, EBMT intensity class, serotherapy and drug doses (protocol shape)."""

    label: str
    intensity: str
    atg: bool
    rituximab: bool
    days: int  # conditioning starts on day -days and ends on day -1
    drugs: tuple[tuple[str, float, str], ...]  # drug, total dose, unit


# Doses follow the published regimen shapes (evidence cohorts.csv regimen column; MIST Cy 200 mg/kg + rATG
# 6 mg/kg; Mexico Cy 200 mg/kg + rituximab; Atkins busulfan + Cy + rATG); exact amounts illustrative.
REGIMENS: dict[str, Regimen] = {
    "cy_atg": Regimen(
        "Cy200+rATG",
        "intermediate",
        True,
        False,
        5,
        (("cyclophosphamide", 200.0, "mg/kg"), ("rabbit ATG", 6.0, "mg/kg")),
    ),
    "beam_atg": Regimen(
        "BEAM+ATG",
        "intermediate",
        True,
        False,
        6,
        (
            ("carmustine", 300.0, "mg/m2"),
            ("etoposide", 800.0, "mg/m2"),
            ("cytarabine", 800.0, "mg/m2"),
            ("melphalan", 140.0, "mg/m2"),
            ("rabbit ATG", 5.0, "mg/kg"),
        ),
    ),
    "rbeam": Regimen(
        "reduced-intensity BEAM-like",
        "low",
        False,
        True,
        6,
        (
            ("carmustine", 150.0, "mg/m2"),
            ("etoposide", 400.0, "mg/m2"),
            ("cytarabine", 400.0, "mg/m2"),
            ("melphalan", 70.0, "mg/m2"),
            ("rituximab", 500.0, "mg"),
        ),
    ),
    "bucy_atg": Regimen(
        "BU+Cy+rATG",
        "high",
        True,
        False,
        9,
        (("busulfan", 9.6, "mg/kg"), ("cyclophosphamide", 200.0, "mg/kg"), ("rabbit ATG", 5.0, "mg/kg")),
    ),
    "cy_rtx": Regimen(
        "Cy200+rituximab",
        "low",
        False,
        True,
        5,
        (("cyclophosphamide", 200.0, "mg/kg"), ("rituximab", 1000.0, "mg")),
    ),
    "cy": Regimen("Cy200", "low", False, False, 5, (("cyclophosphamide", 200.0, "mg/kg"),)),
}
_REGIMEN_KEYS = tuple(REGIMENS)


@dataclass(frozen=True)
class CentreProfile:
    """How a kind of centre works: country, currency, regimens, mobilisation, admissions, follow-up, cost."""

    country: str
    currency: str
    regimens: tuple[tuple[str, float], ...]
    mobilisation_cy_g_per_m2: float | None  # None: G-CSF alone
    inpatient_p: float
    travel: bool  # most patients come from abroad: travel costs, more loss to follow-up
    size: float  # relative number of patients
    cost_total: float  # typical cost of one transplant episode, local currency, price year 2020
    inflation: float  # yearly price change for older/newer years


# Totals (evidence costs.csv): Moscow 970,000 RUB quote and 2.15 M RUB state tariff (a price of ~1.5 M RUB is often quoted, unsourced);
# Northwestern US$ 125,000; Mexico/Russia ~US$ 60,000 cash (~1.1 M MXN); Haukeland EUR 66,304 and Careggi
# EUR 46,600; GBP, CAD and SEK illustrative (no price found).
PROFILES: tuple[CentreProfile, ...] = (
    CentreProfile("RUS", "RUB", (("rbeam", 0.75), ("cy", 0.25)), None, 1.0, True, 2.0, 1_500_000, 0.07),
    CentreProfile("USA", "USD", (("cy_atg", 0.85), ("cy", 0.15)), 2.0, 1.0, False, 1.0, 125_000, 0.03),
    CentreProfile("GBR", "GBP", (("cy_atg", 0.6), ("beam_atg", 0.4)), 2.0, 1.0, False, 1.2, 45_000, 0.03),
    CentreProfile("MEX", "MXN", (("cy_rtx", 1.0),), 2.0, 0.1, True, 2.0, 1_100_000, 0.045),
    CentreProfile("ITA", "EUR", (("beam_atg", 0.85), ("cy_atg", 0.15)), 4.0, 1.0, False, 1.0, 55_000, 0.025),
    CentreProfile("CAN", "CAD", (("bucy_atg", 0.7), ("cy_atg", 0.3)), 4.5, 1.0, False, 0.5, 110_000, 0.025),
    CentreProfile("SWE", "SEK", (("cy_atg", 0.9), ("beam_atg", 0.1)), 2.0, 1.0, False, 0.8, 650_000, 0.025),
)

_STEMS = (
    "Northwind",
    "Eastmere",
    "Southfold",
    "Westbrook",
    "Highmoor",
    "Lowhaven",
    "Silverlake",
    "Oakridge",
    "Ravenford",
    "Ashcombe",
    "Brightwater",
    "Cedarholm",
    "Duskvale",
    "Elmstead",
    "Foxmere",
    "Glenwick",
    "Hollowmere",
    "Ironbridge",
    "Juniper Falls",
    "Kestrelby",
)
_CITY_SUFFIX = ("Harbour", "Crossing", "Heights", "Vale", "Bridge", "Point", "Hill")

# Disease-modifying therapies: name, first approval year (approximate, EMA/FDA; rituximab off-label),
# weight as first line, weight later, weight in progressive MS.
DMTS: tuple[tuple[str, int, float, float, float], ...] = (
    ("interferon beta-1b", 1993, 3.0, 0.5, 1.0),
    ("interferon beta-1a", 1996, 4.0, 0.8, 1.0),
    ("glatiramer acetate", 1996, 3.5, 0.8, 0.8),
    ("mitoxantrone", 2000, 0.05, 0.3, 1.2),
    ("natalizumab", 2006, 0.5, 3.0, 0.8),
    ("rituximab", 2008, 0.2, 1.2, 1.5),
    ("fingolimod", 2010, 0.8, 3.0, 0.8),
    ("teriflunomide", 2012, 2.0, 0.8, 0.5),
    ("dimethyl fumarate", 2013, 2.5, 1.2, 0.5),
    ("alemtuzumab", 2013, 0.1, 1.5, 0.3),
    ("ocrelizumab", 2017, 0.5, 3.0, 3.0),
    ("cladribine", 2017, 0.3, 1.5, 0.3),
    ("siponimod", 2019, 0.0, 0.3, 1.5),
    ("ofatumumab", 2020, 0.5, 1.5, 0.5),
)

COST_SHARES = {
    "other": 0.04,
    "mobilisation": 0.08,
    "apheresis": 0.06,
    "cryopreservation": 0.04,
    "conditioning": 0.12,
    "drugs": 0.16,
    "hospital_stay": 0.42,
    "travel": 0.05,
    "follow_up": 0.01,
}  # of the episode total; follow_up per yearly review (illustrative)


# ---------------------------------------------------------------------------------------- text helpers


@lru_cache(maxsize=1)
def _date_text() -> np.ndarray:
    days = np.arange(np.datetime64("1900-01-01"), np.datetime64("2101-01-01"), dtype="datetime64[D]")
    return days.astype(str).astype(object)


_DAY_1900 = -25567  # 1900-01-01 as days since 1970-01-01
_TIME_TEXT = np.array([f"T{m // 60:02d}:{m % 60:02d}:00+00:00" for m in range(1440)], dtype=object)
_EDSS_TEXT = np.array([f"{h / 2:.1f}" for h in range(21)], dtype=object)


def _to_day(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def _year(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _fmt_date(days: np.ndarray) -> np.ndarray:
    """ISO text of integer days; ``_NA`` gives ``""``."""
    days = np.asarray(days, dtype=np.int64)
    missing = days == _NA
    out = _date_text()[np.where(missing, _DAY_1900, days) - _DAY_1900]
    out[missing] = ""
    return out


def _fmt_datetime(minutes: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DDTHH:MM:SS+00:00`` of integer minutes since 1970-01-01 UTC."""
    return _date_text()[minutes // 1440 - _DAY_1900] + _TIME_TEXT[minutes % 1440]


def _fmt_int(values: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    """Decimal text of integers (``""`` where ``missing``)."""
    vals = np.asarray(values, dtype=np.int64)
    out = _fixed_text(vals, 0) if vals.size else np.zeros(0, dtype=object)
    if missing is not None:
        out[missing] = ""
    return out


def _fmt_dec(values: np.ndarray, places: int, missing: np.ndarray | None = None) -> np.ndarray:
    """Fixed-point text with ``places`` decimals (values are rounded to them first)."""
    vals = np.asarray(values, dtype=float)
    if missing is not None:
        vals = np.where(missing, 0.0, vals)
    scaled = np.round(vals * 10**places).astype(np.int64)
    out = _fixed_text(scaled, places) if scaled.size else np.zeros(0, dtype=object)
    if missing is not None:
        out[missing] = ""
    return out


def _fixed_text(scaled: np.ndarray, places: int) -> np.ndarray:
    """Text of ``scaled / 10**places`` with ``places`` decimals; a lookup table when the range is small."""
    lo, hi = int(scaled.min()), int(scaled.max())
    if lo >= 0 and hi < min(200_000, 2 * scaled.size):
        lut = np.array(
            [f"{i / 10**places:.{places}f}" if places else str(i) for i in range(hi + 1)], dtype=object
        )
        return lut[scaled]
    if places == 0:
        return scaled.astype(str).astype(object)
    return np.array([f"{v / 10**places:.{places}f}" for v in scaled.tolist()], dtype=object)


def _yes(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, "yes", "no").astype(object)


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row owner and index within owner for ``counts[i]`` rows per owner."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(counts.size), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(owner.size) - starts[owner]


def _choice(rng: np.random.Generator, p, size: int) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return rng.choice(p.size, size=size, p=p / p.sum())


def _uniform_int(rng: np.random.Generator, low, high, size: int | None = None) -> np.ndarray:
    """Integers uniform in [low, high] (inclusive), element-wise; ``size`` when both bounds are scalars."""
    low, high = np.asarray(low, dtype=np.int64), np.asarray(high, dtype=np.int64)
    shape = np.broadcast(low, high).shape if size is None else (size,)
    return low + np.floor(rng.random(shape) * (high - low + 1)).astype(np.int64)


# -------------------------------------------------------------------------------------------- cohort


@dataclass
class _Cohort:
    """Per-patient arrays (one element per patient; dates as days since 1970-01-01, ``_NA`` if none)
    shared by the table builders. Built once by :func:`_cohort`; the builders only read it."""

    n: int
    profile: np.ndarray
    codes: np.ndarray  # patient codes (object)
    centre_codes: np.ndarray  # centre code of each patient (object)
    tx: np.ndarray  # transplanted
    pheno: np.ndarray  # 0 RRMS, 1 SPMS, 2 PPMS
    age: np.ndarray  # at transplant (or would-be transplant)
    regimen: np.ndarray  # index into _REGIMEN_KEYS
    assess: np.ndarray  # the deciding eligibility assessment
    earlier: np.ndarray  # an earlier deferred assessment, or _NA
    onset: np.ndarray
    diagnosis: np.ndarray
    mob_start: np.ndarray
    cond_start: np.ndarray
    day0: np.ndarray
    edss_h: np.ndarray  # EDSS at the deciding assessment, in half steps
    earlier_edss_h: np.ndarray
    not_eligible: np.ndarray  # decision not_eligible (else deferred) among the not transplanted
    ne_reason: np.ndarray  # index into NOT_ELIGIBLE_REASONS
    end_fu: np.ndarray  # last contact
    horizon: np.ndarray  # last day a clinical event can fall on (the day before death for the dead)
    death: np.ndarray
    trm: np.ndarray  # died <= 100 days, transplant-related
    trm_cause: np.ndarray  # index into _TRM_CAUSES
    plan: _Plan


@dataclass(frozen=True)
class _Plan:
    """The collection schedule: sessions per mobilisation (column 1 = second mobilisation, 0 = none),
    days from mobilisation start to first apheresis, days between mobilisations, and the whole span."""

    n_coll: np.ndarray
    lag: np.ndarray
    m2_gap: np.ndarray
    span: np.ndarray


NOT_ELIGIBLE_REASONS = (
    ("EDSS above the centre limit", 0.4),
    ("no inflammatory activity", 0.3),
    ("cardiac comorbidity", 0.2),
    ("previous malignancy", 0.1),
)
DEFERRAL_REASONS = (
    ("active infection", 0.25),
    ("awaiting DMT washout", 0.35),
    ("further MRI requested", 0.25),
    ("patient preference", 0.15),
)


def generate(centres: int, patients: int, seed: int, as_of: date = AS_OF) -> dict[str, pd.DataFrame]:
    """A synthetic cohort of ``patients`` spread over ``centres`` fictional centres, as exchange tables.

    Returns ``{table: DataFrame}`` for every table of ``docs/exchange-format.md``, columns in file order,
    rows sorted by the table's key, every cell canonical text. Nothing is dated after ``as_of``; the
    same ``(centres, patients, seed, as_of)`` always gives the same tables.
    """
    if centres < 1:
        raise ValueError("centres must be at least 1")
    if patients < 0:
        raise ValueError("patients must be zero or more")
    if as_of.year < FIRST_YEAR + 1:
        raise ValueError(f"as_of must be in {FIRST_YEAR + 1} or later (transplants start in {FIRST_YEAR})")
    rng = np.random.default_rng(seed)
    centre_frame, sizes = _centres(centres, patients, rng)
    coh = _cohort(centre_frame, sizes, _to_day(as_of), rng)
    dmt = _dmt_history(coh, rng)
    rel_pid, rel_day = _relapses(coh, rng)
    tables: dict[str, pd.DataFrame] = {"centres": centre_frame, "patients": _patients_table(coh, rng)}
    tables["eligibility"], baseline_gd = _eligibility_table(coh, dmt, rel_pid, rel_day, rng)
    collections = _collection_tables(coh, rng)
    tables.update(collections.tables)
    tables.update(_conditioning_tables(coh, rng))
    tables["adverse_events"] = _adverse_events_table(coh, rng)
    tables["deaths"] = _deaths_table(coh, rng)
    tables["edss_visits"] = _edss_table(coh, rng)
    tables["relapses"] = _frame(coh, rel_pid, {"onset_date": _fmt_date(rel_day)}, [rel_day])
    tables["mri_scans"] = _mri_table(coh, baseline_gd, rel_pid, rel_day, rng)
    pid, drug, start, stop = dmt
    tables["dmt_exposures"] = _frame(
        coh,
        pid,
        {"drug": DMT_NAMES[drug], "start_date": _fmt_date(start), "stop_date": _fmt_date(stop)},
        [_DMT_RANK[drug], start],
    )
    tables["costs"] = _costs_table(coh, collections, rng)
    tables["pro_answers"] = pro_answers_table(tables["edss_visits"], seed)
    from openhsct.registry.synth_items import add_items  # it builds on this module's helpers

    add_items(tables, coh, seed, _to_day(as_of))  # its own random stream: the tables above are unchanged
    return {name: tables[name][list(columns)] for name, columns in TABLE_COLUMNS.items()}


DMT_NAMES = np.array([d[0] for d in DMTS], dtype=object)
_DMT_RANK = np.argsort(np.argsort(DMT_NAMES.astype(str)))  # alphabetical rank, for key order


def _frame(
    coh: _Cohort, pid: np.ndarray, cols: dict[str, np.ndarray], sort_keys: list[np.ndarray]
) -> pd.DataFrame:
    """A patient-level table: centre/patient codes first, rows sorted by patient then ``sort_keys``."""
    order = np.lexsort([*reversed(sort_keys), pid])
    data = {CC: coh.centre_codes[pid][order], PC: coh.codes[pid][order]}
    for name, values in cols.items():
        data[name] = np.asarray(values, dtype=object)[order]
    return pd.DataFrame(data, columns=[CC, PC, *cols])


def _rank(values: np.ndarray) -> np.ndarray:
    """Alphabetical rank of text values (to sort rows by a text key column)."""
    return pd.factorize(pd.Series(values, dtype=object), sort=True)[0]


def _centres(k: int, n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """Fictional centres (profile i mod 7) and how many patients each has (every centre >= 1 when n >= k)."""
    width = max(2, len(str(k)))
    codes = [f"SYN{i + 1:0{width}d}" for i in range(k)]
    stems = [
        _STEMS[i % len(_STEMS)] + ("" if i < len(_STEMS) else f" {i // len(_STEMS) + 1}") for i in range(k)
    ]
    prof = [PROFILES[i % len(PROFILES)] for i in range(k)]
    frame = pd.DataFrame(
        {
            "centre_code": codes,
            "name": [f"{s} Synthetic Transplant Centre" for s in stems],
            "country": [p.country for p in prof],
            "city": [f"{s} {_CITY_SUFFIX[i % len(_CITY_SUFFIX)]}" for i, s in enumerate(stems)],
            "synthetic": ["yes"] * k,
        },
        dtype=object,
    )
    weight = np.array([p.size for p in prof]) * rng.gamma(2.0, 1.0, k)
    base = np.ones(k, dtype=np.int64) if n >= k else np.zeros(k, dtype=np.int64)
    sizes = base + rng.multinomial(n - int(base.sum()), weight / weight.sum())
    return frame, sizes


def _cohort(centre_frame: pd.DataFrame, sizes: np.ndarray, as_of: int, rng: np.random.Generator) -> _Cohort:
    """Demography, disease history, the pathway dates and the end of follow-up of every patient."""
    n = int(sizes.sum())
    centre = np.repeat(np.arange(len(centre_frame)), sizes)
    profile = centre % len(PROFILES)
    width = max(7, len(str(n)))
    codes = np.array([f"S{i + 1:0{width}d}" for i in range(n)], dtype=object)
    centre_codes = centre_frame["centre_code"].to_numpy(dtype=object)[centre]
    tx = rng.random(n) >= NOT_TRANSPLANTED_P
    pheno = _choice(rng, PHENOTYPE_P, n)
    regimen = _regimens(profile, rng)

    # Transplant (or would-be transplant) date: year weights grow by YEAR_GROWTH a year.
    latest = min(as_of - 180, _to_day(date(int(_year(np.array([as_of]))[0]), 1, 1)) - 1)  # a full year before
    years = np.arange(FIRST_YEAR, int(_year(np.array([latest]))[0]) + 1)
    year = years[_choice(rng, YEAR_GROWTH ** (years - FIRST_YEAR), n)]
    jan1 = (year - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    day0 = np.minimum(jan1 + _uniform_int(rng, 0, 364, n), latest)
    age = np.clip(np.round(rng.normal(np.take(AGE_MEAN, pheno), AGE_SD)), 19, 65).astype(np.int64)

    # Pathway, backwards from day 0: conditioning, the collections, mobilisation, assessment.
    plan = _collection_plan(n, profile, rng)
    cond_start = day0 - np.array([REGIMENS[r].days for r in _REGIMEN_KEYS])[regimen]
    mob_start = cond_start - _uniform_int(rng, 14, 56, n) - plan.span
    assess = mob_start - _uniform_int(rng, 14, 90, n)

    duration = np.exp(rng.normal(np.log(np.take(DURATION_MEDIAN_Y, pheno)), 0.55))
    duration = np.clip(duration, 1.6, age - 13.0)
    onset = assess - np.round(duration * 365.25).astype(np.int64)
    delay = np.round(rng.exponential(np.take(DIAGNOSIS_DELAY_MEAN_Y, pheno)) * 365.25).astype(np.int64)
    diagnosis = onset + np.minimum(delay, assess - onset - 200)
    has_earlier = tx & (rng.random(n) < EARLIER_DEFERRAL_P) & (diagnosis <= assess - 400)
    earlier = np.where(has_earlier, assess - _uniform_int(rng, 120, 365, n), _NA)

    mean, sd, lo, hi = (np.array(x) for x in zip(*EDSS_BASELINE, strict=True))
    edss_h = np.round(np.clip(rng.normal(mean[pheno], sd[pheno]), lo[pheno], hi[pheno]) * 2).astype(np.int64)
    earlier_edss_h = np.maximum(edss_h - (rng.random(n) < 0.3), 0)
    not_eligible = ~tx & (rng.random(n) < NOT_ELIGIBLE_SHARE)
    ne_reason = _choice(rng, [p for _, p in NOT_ELIGIBLE_REASONS], n)
    edss_h = np.where(not_eligible & (ne_reason == 0), _uniform_int(rng, 14, 16, n), edss_h)

    # What ends follow-up: transplant-related death, later death, loss to follow-up, or the data cut.
    intensity = np.array([REGIMENS[r].intensity for r in _REGIMEN_KEYS])[regimen]
    odds = (
        TRM_BASE_P
        / (1 - TRM_BASE_P)
        * np.where(edss_h >= 12, TRM_OR["edss_ge_6"], 1.0)
        * np.where(age >= 50, TRM_OR["age_ge_50"], 1.0)
        * np.where(intensity == "high", TRM_OR["high"], 1.0)
        * np.where(year < 2008, TRM_OR["before_2008"], 1.0)
    )
    trm = tx & (rng.random(n) < odds / (1 + odds))
    trm_day = day0 + np.clip(np.round(rng.gamma(2.0, 16.0, n)), 4, 100).astype(np.int64)
    trm_cause = _choice(rng, [c[4] for c in _TRM_CAUSES], n)
    hazard = LATE_DEATH_PER_Y * np.where(edss_h >= 12, 3.0, 1.0) * np.where(age >= 50, 1.5, 1.0)
    late_day = day0 + 101 + np.round(rng.exponential(1 / hazard) * 365.25).astype(np.int64)
    travel = np.array([p.travel for p in PROFILES])[profile]
    ltfu_rate = np.where(travel, LTFU_PER_Y["travel"], LTFU_PER_Y["domestic"])
    ltfu_day = day0 + 180 + np.round(rng.exponential(1 / ltfu_rate) * 365.25).astype(np.int64)
    recent = as_of - _uniform_int(rng, 0, 90, n)
    seen_after = np.minimum(assess + _uniform_int(rng, 0, 30, n), as_of)

    death_day = np.where(trm, trm_day, late_day)
    dead = tx & (death_day <= np.minimum(ltfu_day, as_of))
    lost = tx & ~dead & (ltfu_day < recent)
    end_fu = np.where(dead, death_day, np.where(lost, ltfu_day, np.where(tx, recent, seen_after)))
    return _Cohort(
        n=n,
        profile=profile,
        codes=codes,
        centre_codes=centre_codes,
        tx=tx,
        pheno=pheno,
        age=age,
        regimen=regimen,
        assess=assess,
        earlier=earlier,
        onset=onset,
        diagnosis=diagnosis,
        mob_start=mob_start,
        cond_start=cond_start,
        day0=day0,
        edss_h=edss_h,
        earlier_edss_h=earlier_edss_h,
        not_eligible=not_eligible,
        ne_reason=ne_reason,
        end_fu=end_fu,
        horizon=np.where(dead, end_fu - 1, end_fu),
        death=np.where(dead, death_day, _NA),
        trm=trm & dead,
        trm_cause=trm_cause,
        plan=plan,
    )


def _regimens(profile: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Conditioning regimen of each patient, drawn from the centre profile's mix."""
    regimen = np.zeros(profile.size, dtype=np.int64)
    u = rng.random(profile.size)
    for pi, prof in enumerate(PROFILES):
        at = profile == pi
        cum = np.cumsum([p for _, p in prof.regimens])
        idx = np.minimum(np.searchsorted(cum / cum[-1], u[at], side="right"), len(cum) - 1)
        regimen[at] = np.array([_REGIMEN_KEYS.index(r) for r, _ in prof.regimens])[idx]
    return regimen


def _collection_plan(n: int, profile: np.ndarray, rng: np.random.Generator) -> _Plan:
    """When collections happen, from the first mobilisation's start.

    Cyclophosphamide + G-CSF: first apheresis on day 9-12; G-CSF alone: day 4-5; sessions on consecutive
    days; poor mobilisers get a second mobilisation 3-6 weeks after the first one's last session.
    """
    cy = np.array([p.mobilisation_cy_g_per_m2 is not None for p in PROFILES])[profile]
    lag = np.where(cy, _uniform_int(rng, 9, 12, n), _uniform_int(rng, 4, 5, n))
    n1 = 1 + _choice(rng, COLLECTIONS_P, n)
    poor = rng.random(n) < POOR_MOBILISER_P
    n2 = np.where(poor, 1 + _choice(rng, COLLECTIONS_P, n), 0)
    m2_gap = _uniform_int(rng, 21, 42, n)
    span = lag + (n1 - 1) + np.where(poor, m2_gap + lag + (n2 - 1), 0)
    return _Plan(np.stack([n1, n2], axis=1), lag, m2_gap, span)


# ------------------------------------------------------------------------------------------- tables


def _patients_table(coh: _Cohort, rng: np.random.Generator) -> pd.DataFrame:
    n = coh.n
    sex = np.array(list(SEX_P), dtype=object)[_choice(rng, list(SEX_P.values()), n)]
    onset = np.where(rng.random(n) < ONSET_MISSING_P, _NA, coh.onset)
    first = np.where(coh.earlier != _NA, coh.earlier, coh.assess)
    consent = first - _uniform_int(rng, 0, 14, n)
    withdrawn = rng.random(n) < WITHDRAWN_CONSENT_P
    # withdrawal halfway through follow-up; sharing and recontact scopes in a fixed pattern (illustrative,
    # drawn without the generator so the rest of the cohort does not change)
    withdrawal = np.where(withdrawn, consent + (coh.end_fu - consent) // 2, _NA)
    yes_no = np.array(["yes", "no"], dtype=object)
    index = np.arange(n)
    return _frame(
        coh,
        np.arange(n),
        {
            "sex": sex,
            "birth_year": _fmt_int(_year(coh.day0) - coh.age),
            "phenotype": np.array(["RRMS", "SPMS", "PPMS"], dtype=object)[coh.pheno],
            "onset_date": _fmt_date(onset),
            "diagnosis_date": _fmt_date(coh.diagnosis),
            "consent_status": np.where(withdrawn, "withdrawn", "given").astype(object),
            "consent_date": _fmt_date(consent),
            "consent_version": np.full(n, "v1", dtype=object),
            "consent_publication": np.full(n, "yes", dtype=object),
            "consent_sharing": yes_no[(index % 3 != 0).astype(int)],
            "consent_recontact": yes_no[(index % 5 != 0).astype(int)],
            "consent_withdrawal_date": _fmt_date(withdrawal),
            "last_contact_date": _fmt_date(coh.end_fu),
        },
        [],
    )


def _dmt_history(coh: _Cohort, rng: np.random.Generator):
    """Prior DMT courses, back to back from after diagnosis until a washout before mobilisation.

    Each course lasts >= 90 days, then a gap of up to 30 days; the drug is drawn by line (first / later)
    or phenotype (progressive) among those approved by the course's start year, never the same drug twice
    in a row. Returns row arrays (patient, drug index, start, stop), stop ``_NA`` while ongoing.
    """
    n = coh.n
    want = rng.poisson(np.take(DMT_LINES_MEAN, coh.pheno)) + (coh.pheno == 0)
    want = np.minimum(want, np.where(coh.pheno == 0, 6, 4))
    first = np.maximum(coh.diagnosis + _uniform_int(rng, 30, 730, n), _to_day(date(1993, 6, 1)))
    last_stop = np.where(
        coh.tx, coh.mob_start - _uniform_int(rng, 14, 120, n), coh.assess - _uniform_int(rng, 0, 60, n)
    )
    span = last_stop - first
    count = np.clip(np.minimum(want, span // 120), 0, None).astype(np.int64)
    pid, line = _expand(count)
    m = pid.size
    w = rng.exponential(1.0, m) + 0.5
    wsum = np.bincount(pid, weights=w, minlength=n)
    seg = 120 + np.floor((span - 120 * count)[pid] * w / np.maximum(wsum[pid], 1e-12)).astype(np.int64)
    before = (
        np.cumsum(seg) - seg
    )  # running total; minus the patient's first row's value = own earlier courses
    start = first[pid] + before - before[np.arange(m) - line]
    is_last = line == count[pid] - 1
    stop = np.where(is_last, last_stop[pid], start + seg - _uniform_int(rng, 0, 30, m))
    ongoing = is_last & ~coh.tx[pid] & (rng.random(m) < 0.7)  # not transplanted: often still on it
    stop = np.where(ongoing, _NA, stop)

    approval = np.array([d[1] for d in DMTS])
    weight = np.array([[d[2], d[3], d[4]] for d in DMTS])  # (drug, first line / later / progressive)
    start_year = _year(start)
    drug = np.zeros(m, dtype=np.int64)
    progressive = coh.pheno[pid] > 0
    for ln in range(int(line.max()) + 1 if m else 0):
        at = np.flatnonzero(line == ln)
        approved = approval[None, :] <= start_year[at, None]
        wt = weight[:, np.where(progressive[at], 2, min(ln, 1))].T * approved
        if ln > 0:
            wt[np.arange(at.size), drug[at - 1]] = 0.0
        wt = np.where(wt.sum(axis=1, keepdims=True) > 0, wt, approved.astype(float))
        cum = np.cumsum(wt, axis=1)
        u = rng.random(at.size) * cum[:, -1]
        drug[at] = np.minimum((cum <= u[:, None]).sum(axis=1), len(DMTS) - 1)
    return pid, drug, start, stop


def _prior_dmts(dmt, who: np.ndarray, when: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct drugs started before ``when`` for patients ``who``: (count, names in order of first use)."""
    pid, drug, start, _ = dmt
    at = np.full(n, _NA, dtype=np.int64)
    at[who] = when
    keep = start < at[pid]
    p, d = pid[keep], drug[keep]  # rows are in (patient, start) order
    first = np.unique(p * len(DMTS) + d, return_index=True)[1]  # first course of each (patient, drug)
    first.sort()
    p, d = p[first], d[first]
    count = np.bincount(p, minlength=n)
    _, pos = _expand(count)
    joined = np.full(n, "", dtype=object)
    for j in range(int(pos.max()) + 1 if pos.size else 0):  # append the j-th drug of each patient
        at_j = pos == j
        joined[p[at_j]] = (joined[p[at_j]] + (";" if j else "")) + DMT_NAMES[d[at_j]]
    return count[who], joined[who]


def _relapses(coh: _Cohort, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Relapse onsets, sorted by (patient, date): the first attack (RRMS/SPMS), those of the 12 months
    before assessment (stratified so dates differ), and post-transplant relapses (Poisson with gamma
    frailty, RELAPSE_PER_Y) from day +30 to each patient's horizon."""
    n = coh.n
    first_pid = np.flatnonzero(coh.pheno < 2)
    prior = np.where(
        coh.pheno == 0,
        PRIOR_RELAPSES_RRMS[0] + rng.poisson(PRIOR_RELAPSES_RRMS[1], n),
        np.where(coh.pheno == 1, rng.poisson(PRIOR_RELAPSES_SPMS, n), 0),
    )
    prior = np.minimum(prior, 6)
    p_pid, k = _expand(prior)
    width = 358.0 / np.maximum(prior[p_pid], 1)
    p_day = coh.assess[p_pid] - 7 - np.floor((k + rng.random(p_pid.size)) * width).astype(np.int64)

    frailty = rng.gamma(RELAPSE_FRAILTY_SHAPE, 1 / RELAPSE_FRAILTY_SHAPE, n)
    start = coh.day0 + 30
    days = np.clip(coh.horizon - start + 1, 0, None)
    post = np.where(coh.tx, rng.poisson(np.take(RELAPSE_PER_Y, coh.pheno) * frailty * days / 365.25), 0)
    q_pid, _ = _expand(post)
    q_day = start[q_pid] + np.floor(rng.random(q_pid.size) * days[q_pid]).astype(np.int64)

    pid = np.concatenate([first_pid, p_pid, q_pid])
    day = np.concatenate([coh.onset[first_pid], p_day, q_day])
    key = np.unique(_key(pid, day))  # distinct (patient, date), sorted
    return key // _KEY_SPAN, key % _KEY_SPAN + _DAY_1900


_KEY_SPAN = 100_000  # days 1900..2173: (patient, day) packed in one int64 for searchsorted


def _key(pid: np.ndarray, day: np.ndarray) -> np.ndarray:
    return pid.astype(np.int64) * _KEY_SPAN + (day - _DAY_1900)


def _eligibility_table(coh: _Cohort, dmt, rel_pid, rel_day, rng) -> tuple[pd.DataFrame, tuple]:
    """The deciding assessment of each patient (eligible; not_eligible/deferred when not transplanted)
    and an earlier deferred one for a few. Relapse counts are read back from the relapse rows; Gd
    counts are given only when gd_assessed is yes. Also returns the baseline Gd (assessed, count)."""
    n = coh.n
    first = np.flatnonzero(coh.earlier != _NA)
    pid = np.concatenate([np.arange(n), first])
    when = np.concatenate([coh.assess, coh.earlier[first]])
    m = pid.size
    is_earlier = np.arange(m) >= n
    edss_h = np.concatenate([coh.edss_h, coh.earlier_edss_h[first]])
    not_eligible = np.concatenate([coh.not_eligible, np.zeros(first.size, bool)])
    deferred = np.concatenate([~coh.tx & ~coh.not_eligible, np.ones(first.size, bool)])
    ne_reason = np.array([r for r, _ in NOT_ELIGIBLE_REASONS], dtype=object)[coh.ne_reason[pid]]
    df_reason = np.array([r for r, _ in DEFERRAL_REASONS], dtype=object)[
        _choice(rng, [p for _, p in DEFERRAL_REASONS], m)
    ]
    decision = np.where(not_eligible, "not_eligible", np.where(deferred, "deferred", "eligible")).astype(
        object
    )
    reason = np.where(not_eligible, ne_reason, np.where(deferred, df_reason, "")).astype(object)

    rel_key = _key(rel_pid, rel_day)
    relapses = np.searchsorted(rel_key, _key(pid, when), side="right") - np.searchsorted(
        rel_key, _key(pid, when - 365), side="right"
    )
    gd_assessed = _choice(rng, GD_ASSESSED_P, m)
    active = rng.random(m) < np.take(GD_ACTIVE_P, coh.pheno[pid])
    active &= ~(not_eligible & (ne_reason == "no inflammatory activity"))
    gd = np.where(active, 1 + rng.poisson(1.5, m), 0)
    count, names = np.zeros(m, dtype=np.int64), np.full(m, "", dtype=object)
    for sel in (~is_earlier, is_earlier):
        count[sel], names[sel] = _prior_dmts(dmt, pid[sel], when[sel], n)
    frame = _frame(
        coh,
        pid,
        {
            "assessment_date": _fmt_date(when),
            "edss": _EDSS_TEXT[edss_h],
            "relapses_prior_12m": _fmt_int(relapses),
            "gd_assessed": _ASSESSED[gd_assessed],
            "gd_lesions": _fmt_int(gd, gd_assessed != 0),
            "prior_dmt_count": _fmt_int(count),
            "prior_dmts": names,
            "decision": decision,
            "reason": reason,
        },
        [when],
    )
    return frame, (gd_assessed[:n], gd[:n])


_ASSESSED = np.array(["yes", "no", "unknown"], dtype=object)


@dataclass
class _Collections:
    """The collection-side tables and what the cost table needs from them."""

    tables: dict[str, pd.DataFrame]
    a_pid: np.ndarray  # apheresis rows: patient, date
    a_day: np.ndarray
    b_pid: np.ndarray  # bag rows: patient, cryopreservation date
    b_cryo: np.ndarray
    stay_pid: np.ndarray  # transplanted patients: start and end of the transplant stay
    stay_start: np.ndarray
    stay_end: np.ndarray


def _collection_tables(coh: _Cohort, rng: np.random.Generator) -> _Collections:
    """Mobilisations, apheresis collections, cell products (bags), custody events and the transplant row."""
    plan = coh.plan
    tx = np.flatnonzero(coh.tx)
    cy_dose = np.array([p.mobilisation_cy_g_per_m2 or 0.0 for p in PROFILES])[coh.profile]
    poor = plan.n_coll[:, 1] > 0

    # Mobilisations: M1 for every transplanted patient, M2 for poor mobilisers.
    m_pid = np.concatenate([tx, tx[poor[tx]]])
    m_no = np.concatenate([np.ones(tx.size, np.int64), np.full(int(poor[tx].sum()), 2)])
    m1_last = coh.mob_start + plan.lag + plan.n_coll[:, 0] - 1
    m_start = np.where(m_no == 1, coh.mob_start[m_pid], m1_last[m_pid] + plan.m2_gap[m_pid])
    n_coll = plan.n_coll[m_pid, m_no - 1]
    m_end = m_start + plan.lag[m_pid] + n_coll - 1
    m_end = np.where(rng.random(m_pid.size) < 0.05, _NA, m_end)
    cy = cy_dose[m_pid]
    mob_ids = np.array(["", "M1", "M2"], dtype=object)
    mob = _frame(
        coh,
        m_pid,
        {
            "mobilisation_id": mob_ids[m_no],
            "regimen": np.where(cy > 0, "cyclophosphamide + G-CSF", "G-CSF alone").astype(object),
            "cyclophosphamide_g_per_m2": _fmt_dec(cy, 2, cy == 0),
            "gcsf": _yes(np.ones(m_pid.size, bool)),
            "start_date": _fmt_date(m_start),
            "end_date": _fmt_date(m_end),
        },
        [m_no],
    )

    # Apheresis: CD34+ per patient lognormal (>= 2.5 so that >= 2.0 is infused); a poor mobiliser's first
    # mobilisation yields 0.2-1.8; sessions share the yield 1 / 0.6-0.4 / 0.5-0.3-0.2 with +/-15 % noise.
    a_mob, a_k = _expand(n_coll)
    a_pid, a_mno = m_pid[a_mob], m_no[a_mob]
    a_day = m_start[a_mob] + plan.lag[a_pid] + a_k
    total = np.clip(np.exp(rng.normal(np.log(CD34_MEDIAN), CD34_SIGMA, coh.n)), 2.5, 30.0)
    poor_m1 = np.exp(rng.normal(np.log(1.0), 0.4, coh.n)).clip(0.2, 1.8)
    share = np.array([[1.0, 0, 0], [0.6, 0.4, 0], [0.5, 0.3, 0.2]])[n_coll[a_mob] - 1, a_k]
    per_mob = np.where(
        poor[a_pid] & (a_mno == 1),
        poor_m1[a_pid],
        np.where(poor[a_pid], np.maximum(total[a_pid] - poor_m1[a_pid], 2.5), total[a_pid]),
    )
    noise = np.clip(np.exp(rng.normal(0, 0.1, a_pid.size)), 0.85, 1.15)
    cd34 = np.maximum(np.round(per_mob * share * noise, 2), 0.05)
    volume = np.clip(np.round(rng.normal(280, 60, a_pid.size), 1), 80, 600)
    a_seq = np.zeros(a_pid.size, np.int64)  # collection number within the patient, from 1, in date order
    _, within = _expand(np.bincount(a_pid, minlength=coh.n))
    a_seq[np.lexsort([a_day, a_pid])] = within + 1
    collection_id = np.array([f"A{i}" for i in a_seq.tolist()], dtype=object)
    apheresis = _frame(
        coh,
        a_pid,
        {
            "collection_id": collection_id,
            "mobilisation_id": mob_ids[a_mno],
            "collection_date": _fmt_date(a_day),
            "cd34_1e6_per_kg": _fmt_dec(cd34, 2),
            "volume_ml": _fmt_dec(volume, 1, rng.random(a_pid.size) < 0.02),
        },
        [a_seq],
    )

    # Bags: 1-4 per collection (about one per 3.5 x10^6/kg); the patient's last bag kept back when >= 2.0 remain without it.
    n_bags = np.clip(np.round(cd34 / 3.5 + rng.random(a_pid.size)), 1, 4).astype(np.int64)
    b_coll, b_k = _expand(n_bags)
    b_pid = a_pid[b_coll]
    nb = b_pid.size
    bag_cd34 = cd34[b_coll] / n_bags[b_coll]
    p_total = np.bincount(a_pid, weights=cd34, minlength=coh.n)
    rank = np.lexsort([b_k, a_seq[b_coll], b_pid])
    last_bag = np.zeros(nb, bool)
    last_bag[rank[np.r_[b_pid[rank][1:] != b_pid[rank][:-1], True]] if nb else rank] = True
    keep = (rng.random(coh.n) < BACKUP_BAG_P) & (np.bincount(b_pid, minlength=coh.n) >= 2)
    backup = last_bag & keep[b_pid] & (p_total[b_pid] - bag_cd34 >= 2.0)
    infused_cd34 = p_total - np.bincount(b_pid, weights=np.where(backup, bag_cd34, 0.0), minlength=coh.n)
    cryo = (a_day + (rng.random(a_pid.size) < 0.15))[b_coll]  # same or next day, per collection
    bag_id = np.array(
        [
            f"{c}-{a}-{k + 1}"
            for c, a, k in zip(
                coh.codes[b_pid].tolist(), collection_id[b_coll].tolist(), b_k.tolist(), strict=True
            )
        ],
        dtype=object,
    )

    # Custody (minutes): frozen -> stored -> (moved) -> thawed -> infused on day 0; a kept-back bag stays
    # stored, and is discarded after 5-10 years if that falls within follow-up.
    tank = _uniform_int(rng, 1, 4, nb)
    frozen = cryo * 1440 + _uniform_int(rng, 15 * 60, 20 * 60 + 59, nb)
    stored = frozen + _uniform_int(rng, 60, 240, nb)
    d0 = coh.day0[b_pid]
    thawed = d0 * 1440 + 8 * 60 + _uniform_int(rng, 0, 120, nb) + 25 * b_k
    infused = thawed + _uniform_int(rng, 10, 30, nb)
    discard_day = d0 + _uniform_int(rng, 5 * 365, 10 * 365, nb)
    discarded = backup & (discard_day <= coh.horizon[b_pid])
    next_day = np.where(backup, np.where(discarded, discard_day, coh.horizon[b_pid]), d0)
    moved = (rng.random(nb) < 0.2) & (next_day - cryo >= 4)
    move_day = cryo + 1 + np.floor(rng.random(nb) * np.maximum(next_day - cryo - 2, 1)).astype(np.int64)
    moved_at = move_day * 1440 + _uniform_int(rng, 9 * 60, 16 * 60, nb)
    discarded_at = discard_day * 1440 + _uniform_int(rng, 10 * 60, 15 * 60, nb)
    tank2 = tank % 4 + 1
    status = np.where(backup, np.where(discarded, "discarded", "stored"), "infused").astype(object)
    rack = _uniform_int(rng, 1, 12, nb)
    products = _frame(
        coh,
        b_pid,
        {
            "bag_id": bag_id,
            "collection_id": collection_id[b_coll],
            "cryopreservation_date": _fmt_date(cryo),
            "storage_location": _text("Cryostore tank ", np.where(moved, tank2, tank), " rack ", rack),
            "status": status,
        },
        [a_seq[b_coll], b_k],
    )

    tech = _text("lab tech ", _uniform_int(rng, 1, 9, nb))
    nurse = _text("nurse ", _uniform_int(rng, 1, 20, nb))
    lab = np.full(nb, "Cell processing laboratory", dtype=object)
    ward = np.full(nb, "Transplant ward", dtype=object)
    events = (  # name, minute, present, performed_by, location
        ("frozen", frozen, np.ones(nb, bool), tech, lab),
        ("stored", stored, np.ones(nb, bool), tech, _text("Cryostore tank ", tank)),
        ("moved", moved_at, moved, tech, _text("Cryostore tank ", tank2)),
        ("thawed", thawed, ~backup, nurse, ward),
        ("infused", infused, ~backup, nurse, ward),
        ("discarded", discarded_at, discarded, tech, lab),
    )
    present = np.stack([e[2] for e in events], axis=1)
    bag, ev = np.nonzero(present)
    seq = np.cumsum(present, axis=1)[bag, ev]
    custody = _frame(
        coh,
        b_pid[bag],
        {
            "bag_id": bag_id[bag],
            "seq": _fmt_int(seq),
            "event": np.array([e[0] for e in events], dtype=object)[ev],
            "event_at": _fmt_datetime(np.stack([e[1] for e in events], axis=1)[bag, ev]),
            "performed_by": np.stack([e[3] for e in events], axis=1)[bag, ev],
            "location": np.stack([e[4] for e in events], axis=1)[bag, ev],
        },
        [a_seq[b_coll][bag], b_k[bag], seq],
    )

    # Transplant: engraftment (later with high intensity), admission from conditioning to discharge.
    day0 = coh.day0[tx]
    intensity = np.array([REGIMENS[r].intensity for r in _REGIMEN_KEYS])[coh.regimen[tx]]
    shift = np.where(intensity == "high", 1.0, np.where(intensity == "low", -0.5, 0.0))
    mu, sd, lo, hi = NEUTROPHIL_DAY
    neut = day0 + np.clip(np.round(rng.normal(mu + shift, sd)), lo, hi).astype(np.int64)
    plt_days = np.exp(rng.normal(np.log(PLATELET_DAY_MEDIAN) + shift / 10, PLATELET_SIGMA))
    plt_missing = rng.random(tx.size) < PLATELET_MISSING_P * np.where(intensity == "low", 3, 1)
    plate = np.where(plt_missing, _NA, day0 + np.clip(np.round(plt_days), 7, 60).astype(np.int64))
    inpatient = rng.random(tx.size) < np.array([p.inpatient_p for p in PROFILES])[coh.profile[tx]]
    admission = np.where(inpatient, coh.cond_start[tx] - _uniform_int(rng, 0, 2, tx.size), _NA)
    discharge = np.where(inpatient, neut + _uniform_int(rng, 2, 8, tx.size), _NA)
    horizon = coh.horizon[tx]
    stay_end = np.where(inpatient, np.minimum(discharge, horizon), neut)
    neut, plate, discharge = (np.where(d > horizon, _NA, d) for d in (neut, plate, discharge))
    transplants = _frame(
        coh,
        tx,
        {
            "day0": _fmt_date(day0),
            "cd34_infused_1e6_per_kg": _fmt_dec(infused_cd34[tx], 2),
            "admission_date": _fmt_date(admission),
            "discharge_date": _fmt_date(discharge),
            "neutrophil_engraftment_date": _fmt_date(neut),
            "platelet_engraftment_date": _fmt_date(plate),
        },
        [],
    )
    return _Collections(
        tables={
            "mobilisations": mob,
            "apheresis": apheresis,
            "cell_products": products,
            "custody_events": custody,
            "transplants": transplants,
        },
        a_pid=a_pid,
        a_day=a_day,
        b_pid=b_pid,
        b_cryo=cryo,
        stay_pid=tx,
        stay_start=np.where(inpatient, admission, day0),
        stay_end=stay_end,
    )


def _text(*parts) -> np.ndarray:
    """Element-wise concatenation of strings and integer arrays, as an object array."""
    out = None
    for p in parts:
        piece = p if isinstance(p, str) else np.asarray(p).astype(str).astype(object)
        out = piece if out is None else out + piece
    return np.asarray(out, dtype=object)


def _conditioning_tables(coh: _Cohort, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Conditioning per transplanted patient and its drugs (protocol doses; 10 % reduced to 75 %; some
    Cy200+rATG courses add rituximab 500 mg)."""
    t = np.flatnonzero(coh.tx)
    reg = coh.regimen[t]
    regs = [REGIMENS[r] for r in _REGIMEN_KEYS]
    add_rtx = (reg == _REGIMEN_KEYS.index("cy_atg")) & (rng.random(t.size) < 0.15)
    conditioning = _frame(
        coh,
        t,
        {
            "regimen": np.array([r.label for r in regs], dtype=object)[reg],
            "intensity": np.array([r.intensity for r in regs], dtype=object)[reg],
            "atg": _yes(np.array([r.atg for r in regs])[reg]),
            "rituximab": _yes(np.array([r.rituximab for r in regs])[reg] | add_rtx),
            "start_date": _fmt_date(coh.cond_start[t]),
            "end_date": _fmt_date(coh.day0[t] - 1),
        },
        [],
    )
    # A (regimen, position) table of drugs; position len(drugs) is the rituximab add-on.
    width = max(len(r.drugs) for r in regs) + 1
    names = np.full((len(regs), width), "", dtype=object)
    doses = np.zeros((len(regs), width))
    units = np.full((len(regs), width), "", dtype=object)
    for i, r in enumerate(regs):
        for j, (drug, dose, unit) in enumerate([*r.drugs, ("rituximab", 500.0, "mg")]):
            names[i, j], doses[i, j], units[i, j] = drug, dose, unit
    n_drugs = np.array([len(r.drugs) for r in regs])[reg] + add_rtx
    owner, pos = _expand(n_drugs)
    d_reg = reg[owner]
    dose = doses[d_reg, pos] * np.where(np.repeat(rng.random(t.size) < 0.10, n_drugs), 0.75, 1.0)
    drug = names[d_reg, pos]
    return {
        "conditioning": conditioning,
        "conditioning_drugs": _frame(
            coh,
            t[owner],
            {"drug": drug, "total_dose": _fmt_dec(dose, 2), "dose_unit": units[d_reg, pos]},
            [_rank(drug)],
        ),
    }


# Adverse events: term, category, attribution, anchor (mobilisation start / conditioning start / day 0),
# onset window in days after it, grade 1-5 probabilities, resolution after (days) or None (often
# ongoing). Per-patient rates are in _ae_rates: febrile neutropenia in most intermediate/high-intensity
# courses, CMV/EBV reactivation mainly with ATG, secondary autoimmunity (thyroid ~7 %, ITP ~2 %) in
# the first years (illustrative values in the ranges of the EBMT 2020 guidelines, Sharrack et al.).
_AE_TYPES = (
    ("Febrile neutropenia", "other", "related", "day0", (2, 9), (0, 0, 0.9, 0.1, 0), (2, 7)),
    ("Febrile neutropenia", "other", "related", "mob", (6, 10), (0, 0, 0.95, 0.05, 0), (2, 6)),
    ("Bone pain", "other", "related", "mob", (3, 8), (0.8, 0.2, 0, 0, 0), (1, 5)),
    ("Infusion related reaction", "other", "related", "cond", (0, 2), (0.5, 0.45, 0.05, 0, 0), (1, 2)),
    ("Mucositis oral", "other", "related", "day0", (3, 9), (0.4, 0.4, 0.2, 0, 0), (5, 14)),
    (
        "Cytomegalovirus infection reactivation",
        "infection",
        "related",
        "day0",
        (14, 60),
        (0.4, 0.45, 0.15, 0, 0),
        (14, 42),
    ),
    (
        "Epstein-Barr virus infection reactivation",
        "infection",
        "related",
        "day0",
        (21, 90),
        (0.5, 0.4, 0.1, 0, 0),
        (14, 60),
    ),
    ("Sepsis", "infection", "related", "day0", (3, 30), (0, 0, 0.6, 0.4, 0), (5, 20)),
    ("Urinary tract infection", "infection", "unknown", "day0", (0, 120), (0, 0.8, 0.2, 0, 0), (5, 14)),
    ("Lung infection", "infection", "unknown", "day0", (7, 180), (0, 0.6, 0.4, 0, 0), (7, 28)),
    ("Hypothyroidism", "secondary_autoimmunity", "related", "day0", (180, 1460), (0, 0.9, 0.1, 0, 0), None),
    ("Hyperthyroidism", "secondary_autoimmunity", "related", "day0", (180, 1460), (0, 0.6, 0.4, 0, 0), None),
    (
        "Platelet count decreased",
        "secondary_autoimmunity",
        "related",
        "day0",
        (90, 720),
        (0, 0, 0.6, 0.4, 0),
        (30, 180),
    ),
)


def _ae_rates(coh: _Cohort, t: np.ndarray) -> list[np.ndarray]:
    """Per-patient probability of each _AE_TYPES entry, by regimen features."""
    reg = coh.regimen[t]
    regs = [REGIMENS[r] for r in _REGIMEN_KEYS]
    intensity = np.array([r.intensity for r in regs])[reg]
    atg = np.array([r.atg for r in regs])[reg]
    rtx = np.array([r.rituximab for r in regs])[reg]
    beam = np.isin(np.array(_REGIMEN_KEYS)[reg], ["beam_atg", "rbeam", "bucy_atg"])
    cy_mob = np.array([p.mobilisation_cy_g_per_m2 is not None for p in PROFILES])[coh.profile[t]]
    one = np.ones(t.size)
    return [
        np.where(intensity == "high", 0.70, np.where(intensity == "intermediate", 0.55, 0.35)),
        0.08 * cy_mob,
        0.15 * one,
        0.2 * atg,
        np.where(beam, 0.55, 0.12),
        np.where(atg, 0.30, 0.10),
        np.where(rtx, 0.03, np.where(atg, 0.20, 0.05)),
        0.04 * np.where(intensity == "high", 2.0, 1.0),
        0.12 * one,
        0.06 * one,
        0.04 * one,
        0.03 * one,
        0.015 * np.where(atg, 1.5, 1.0),
    ]


def _adverse_events_table(coh: _Cohort, rng: np.random.Generator) -> pd.DataFrame:
    """Adverse events by type and regimen, and a grade-5 event for each transplant-related death.

    Nothing starts after the horizon (the fatal event may fall on the day of death); a resolution after
    the horizon is left empty (ongoing at last contact). ``ae_id`` numbers events by onset.
    """
    t = np.flatnonzero(coh.tx)
    anchors = {"mob": coh.mob_start[t], "cond": coh.cond_start[t], "day0": coh.day0[t]}
    pids, onsets, grades, durs, terms, cats, attrs = [], [], [], [], [], [], []
    for (term, cat, attr, anchor, (w0, w1), gp, res), rate in zip(_AE_TYPES, _ae_rates(coh, t), strict=True):
        hit = rng.random(t.size) < rate
        onset = anchors[anchor] + _uniform_int(rng, w0, w1, t.size)
        grade = 1 + _choice(rng, gp, t.size)
        if res is None:
            dur = np.where(rng.random(t.size) < 0.7, _NA, _uniform_int(rng, 90, 360, t.size))
        else:
            dur = _uniform_int(rng, res[0], res[1], t.size)
        k = int(hit.sum())
        pids.append(t[hit]), onsets.append(onset[hit]), grades.append(grade[hit]), durs.append(dur[hit])
        terms.append(np.full(k, term, dtype=object)), cats.append(np.full(k, cat, dtype=object))
        attrs.append(np.full(k, attr, dtype=object))
    dead = np.flatnonzero(coh.trm)
    cause = coh.trm_cause[dead]
    pids.append(dead)
    onsets.append(np.maximum(coh.death[dead] - _uniform_int(rng, 0, 10, dead.size), coh.day0[dead]))
    grades.append(np.full(dead.size, 5)), durs.append(np.full(dead.size, _NA))
    terms.append(np.array([c[2] for c in _TRM_CAUSES], dtype=object)[cause])
    cats.append(np.array([c[3] for c in _TRM_CAUSES], dtype=object)[cause])
    attrs.append(np.full(dead.size, "related", dtype=object))
    pid, on, grade, dur, term, cat, attr = (
        np.concatenate(x) for x in (pids, onsets, grades, durs, terms, cats, attrs)
    )
    fatal = grade == 5
    keep = (on <= coh.horizon[pid]) | (fatal & (on <= coh.end_fu[pid]))
    pid, on, grade, dur, term, cat, attr, fatal = (
        x[keep] for x in (pid, on, grade, dur, term, cat, attr, fatal)
    )
    resolution = np.where((dur == _NA) | (on + dur > coh.horizon[pid]), _NA, on + dur)
    serious = (grade >= 3) | ((cat == "infection") & (rng.random(pid.size) < 0.1))
    counts = np.bincount(pid, minlength=coh.n)
    _, within = _expand(counts)
    ae_no = np.zeros(pid.size, np.int64)
    ae_no[np.lexsort([on, pid])] = within + 1
    width = max(2, len(str(int(counts.max()) if counts.size else 1)))
    return _frame(
        coh,
        pid,
        {
            "ae_id": np.array([f"AE{i:0{width}d}" for i in ae_no.tolist()], dtype=object),
            "category": cat,
            "ctcae_term": term,
            "grade": _fmt_int(grade),
            "onset_date": _fmt_date(on),
            "resolution_date": _fmt_date(resolution),
            "attribution": attr,
            "serious": _yes(serious),
        },
        [ae_no],
    )


# Transplant-related deaths: cause, cause_category, CTCAE term and category of the fatal event, share.
_TRM_CAUSES = (
    ("sepsis", "infection", "Sepsis", "infection", 0.30),
    ("CMV pneumonitis", "infection", "Cytomegalovirus infection reactivation", "infection", 0.10),
    ("invasive fungal infection", "infection", "Lung infection", "infection", 0.10),
    ("cardiotoxicity", "transplant_toxicity", "Heart failure", "other", 0.20),
    (
        "acute respiratory distress syndrome",
        "transplant_toxicity",
        "Adult respiratory distress syndrome",
        "other",
        0.15,
    ),
    ("multi-organ failure", "transplant_toxicity", "Multi-organ failure", "other", 0.15),
)
# Later deaths: cause, category, share with EDSS >= 6, share below (illustrative).
_LATE_CAUSES = (
    ("MS progression", "ms_progression", 0.45, 0.15),
    ("malignancy", "malignancy", 0.15, 0.30),
    ("infection", "infection", 0.15, 0.15),
    ("cardiovascular disease", "other", 0.10, 0.20),
    ("suicide", "other", 0.05, 0.10),
    ("unknown", "unknown", 0.10, 0.10),
)


def _deaths_table(coh: _Cohort, rng: np.random.Generator) -> pd.DataFrame:
    """One row per observed death: transplant-related within 100 days, or a later cause (an infection
    in the first year counts as transplant-related; malignancy as unknown)."""
    dead = np.flatnonzero(coh.death != _NA)
    trm = coh.trm[dead]
    tc = coh.trm_cause[dead]
    high = coh.edss_h[dead] >= 12
    lc = np.where(
        high,
        _choice(rng, [c[2] for c in _LATE_CAUSES], dead.size),
        _choice(rng, [c[3] for c in _LATE_CAUSES], dead.size),
    )
    late_cause = np.array([c[0] for c in _LATE_CAUSES], dtype=object)[lc]
    late_cat = np.array([c[1] for c in _LATE_CAUSES], dtype=object)[lc]
    first_year = coh.death[dead] - coh.day0[dead] <= 365
    late_related = np.where(
        (late_cat == "infection") & first_year,
        "yes",
        np.where(np.isin(late_cat, ["malignancy", "unknown"]), "unknown", "no"),
    )
    return _frame(
        coh,
        dead,
        {
            "death_date": _fmt_date(coh.death[dead]),
            "cause": np.where(trm, np.array([c[0] for c in _TRM_CAUSES], dtype=object)[tc], late_cause),
            "cause_category": np.where(
                trm, np.array([c[1] for c in _TRM_CAUSES], dtype=object)[tc], late_cat
            ),
            "transplant_related": np.where(trm, "yes", late_related).astype(object),
        },
        [],
    )


def _edss_table(coh: _Cohort, rng: np.random.Generator) -> pd.DataFrame:
    """EDSS at each assessment (the eligibility value) and every ~6 months after day 0 (some missed).

    Latent course in half steps: baseline b, minus an improvement for IMPROVER_P of patients (half of it
    before month 9); from an exponential time (PROGRESSION_PER_Y) on, b plus the confirmed-progression
    step for b (+1.5 from 0, +1.0 up to 5.5, +0.5 above; sometimes 0.5 more);
    measured = latent + rater noise (EDSS_NOISE_*), kept within 0-9.5.
    """
    n = coh.n
    span = np.where(coh.tx, coh.horizon - coh.day0, -1)
    n_vis = np.floor(span / VISIT_EVERY_D).astype(np.int64)
    n_vis -= coh.day0 + np.round(n_vis * VISIT_EVERY_D).astype(np.int64) > coh.horizon  # rounding at the edge
    pid, k = _expand(np.maximum(n_vis, 0))
    nominal = coh.day0[pid] + np.round((k + 1) * VISIT_EVERY_D).astype(np.int64)
    visit = np.minimum(
        nominal + _uniform_int(rng, -VISIT_JITTER_D, VISIT_JITTER_D, pid.size), coh.horizon[pid]
    )
    kept = rng.random(pid.size) >= VISIT_MISSED_P
    pid, visit = pid[kept], visit[kept]
    t = visit - coh.day0[pid]

    b = coh.edss_h
    improver = rng.random(n) < np.take(IMPROVER_P, coh.pheno)
    imp = np.minimum(np.where(improver, 1 + _choice(rng, (0.4, 0.4, 0.2), n), 0), b)
    prog_day = np.round(rng.exponential(1 / np.take(PROGRESSION_PER_Y, coh.pheno)) * 365.25).astype(np.int64)
    step = np.where(b == 0, 3, np.where(b <= 11, 2, 1)) + (rng.random(n) < 0.3)
    imp_now = np.where(t < 270, (imp[pid] + 1) // 2, imp[pid])
    latent = np.clip(np.where(t >= prog_day[pid], b[pid] + step[pid], b[pid] - imp_now), 0, 19)
    noise = np.where(
        latent <= 11, _choice(rng, EDSS_NOISE_LOW, pid.size), _choice(rng, EDSS_NOISE_HIGH, pid.size)
    )
    measured = np.clip(latent + noise - 2, 0, 19)

    first = np.flatnonzero(coh.earlier != _NA)
    all_pid = np.concatenate([np.arange(n), first, pid])
    day = np.concatenate([coh.assess, coh.earlier[first], visit])
    edss = np.concatenate([coh.edss_h, coh.earlier_edss_h[first], measured])
    return _frame(coh, all_pid, {"visit_date": _fmt_date(day), "edss": _EDSS_TEXT[edss]}, [day])


def _mri_table(
    coh: _Cohort, baseline_gd, rel_pid: np.ndarray, rel_day: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """A baseline MRI in the month before assessment (its Gd result is the eligibility one) and, after
    day 0, one at 6 months (+/- 30 days) then yearly (+/- 45 days), some missed. Activity is rare
    (MRI_ACTIVITY_P, x1.5 in the first two years) and likelier (+0.5) after a relapse since the last scan."""
    n = coh.n
    gd_assessed0, gd0 = baseline_gd
    base_day = coh.assess - _uniform_int(rng, 0, 30, n)
    t2_assessed0 = _choice(rng, (0.8, 0.15, 0.05), n)
    t2_0 = np.where(gd0 > 0, 1 + rng.poisson(2.0, n), rng.poisson(0.3, n))

    span = np.where(coh.tx, coh.horizon - coh.day0, 0)
    n_scans = np.where(span >= 212, 1 + np.clip((span - 45) // 365, 0, None), 0)
    pid, k = _expand(n_scans)
    nominal = coh.day0[pid] + np.where(k == 0, 182, 365 * k)
    jitter = np.where(k == 0, _uniform_int(rng, -30, 30, pid.size), _uniform_int(rng, -45, 45, pid.size))
    scan = nominal + jitter  # the count above keeps every scan within the horizon
    kept = rng.random(pid.size) >= MRI_MISSED_P
    pid, k, scan = pid[kept], k[kept], scan[kept]
    prev = np.where(k == 0, coh.day0[pid], scan - 365)
    rel_key = _key(rel_pid, rel_day)
    relapse = (
        np.searchsorted(rel_key, _key(pid, scan), side="right")
        - np.searchsorted(rel_key, _key(pid, prev), side="right")
    ) > 0
    p = np.take(MRI_ACTIVITY_P, coh.pheno[pid]) * np.where(k <= 2, 1.5, 1.0) + 0.5 * relapse
    active = rng.random(pid.size) < p
    t2_assessed = _choice(rng, (0.85, 0.10, 0.05), pid.size)
    gd_assessed = _choice(rng, (0.6, 0.35, 0.05), pid.size)
    t2 = np.where(active, 1 + rng.poisson(1.0, pid.size), 0)
    gd = np.where(active & (rng.random(pid.size) < 0.6), 1 + rng.poisson(0.5, pid.size), 0)

    t2a = np.concatenate([t2_assessed0, t2_assessed])
    gda = np.concatenate([gd_assessed0, gd_assessed])
    day = np.concatenate([base_day, scan])
    return _frame(
        coh,
        np.concatenate([np.arange(n), pid]),
        {
            "scan_date": _fmt_date(day),
            "t2_assessed": _ASSESSED[t2a],
            "new_enlarging_t2": _fmt_int(np.concatenate([t2_0, t2]), t2a != 0),
            "gd_assessed": _ASSESSED[gda],
            "gd_lesions": _fmt_int(np.concatenate([gd0, gd]), gda != 0),
        },
        [day],
    )


def _costs_table(coh: _Cohort, col: _Collections, rng: np.random.Generator) -> pd.DataFrame:
    """Costs in the centre's currency: the episode total (CentreProfile.cost_total, price year 2020,
    changed by ``inflation`` a year) split by COST_SHARES with lognormal noise (sd 0.15): screening for
    everyone; mobilisation, apheresis (per session), cryopreservation, conditioning, drugs, the stay (by
    its length) for the transplanted; travel for 60 % where patients fly in; follow-up yearly up to 5 y."""
    n = coh.n
    prof = coh.profile
    total = np.array([p.cost_total for p in PROFILES])[prof]
    infl = np.array([p.inflation for p in PROFILES])[prof]
    currency = np.array([p.currency for p in PROFILES], dtype=object)[prof]
    travel = np.array([p.travel for p in PROFILES])[prof]
    tx = np.flatnonzero(coh.tx)
    big = np.iinfo(np.int64).max
    first_coll, first_cryo = np.full(n, big), np.full(n, big)
    np.minimum.at(first_coll, col.a_pid, col.a_day)
    np.minimum.at(first_cryo, col.b_pid, col.b_cryo)
    sessions = np.bincount(col.a_pid, minlength=n)
    stay = np.zeros(n)
    stay[col.stay_pid] = (col.stay_end - col.stay_start) / 21.0
    stay_day = np.zeros(n, np.int64)
    stay_day[col.stay_pid] = col.stay_start
    fly = tx[travel[tx] & (rng.random(tx.size) < 0.6)]
    f_owner, f_k = _expand(np.clip((coh.horizon[tx] - coh.day0[tx]) // 365, 0, 5))
    f_pid = tx[f_owner]
    parts = (  # patients, date, category, multiplier of the category's share
        (np.arange(n), coh.assess, "other", np.ones(n)),
        (tx, coh.mob_start[tx], "mobilisation", np.ones(tx.size)),
        (tx, first_coll[tx], "apheresis", sessions[tx] / 1.6),
        (tx, first_cryo[tx], "cryopreservation", np.ones(tx.size)),
        (tx, coh.cond_start[tx], "conditioning", np.ones(tx.size)),
        (tx, coh.cond_start[tx], "drugs", np.ones(tx.size)),
        (tx, stay_day[tx], "hospital_stay", np.clip(stay[tx], 0.3, 3.0)),
        (fly, coh.mob_start[fly] - 1, "travel", np.ones(fly.size)),
        (f_pid, coh.day0[f_pid] + 365 * (f_k + 1), "follow_up", np.ones(f_pid.size)),
    )
    pid = np.concatenate([p[0] for p in parts])
    day = np.concatenate([p[1] for p in parts])
    cat = np.concatenate([np.full(p[0].size, p[2], dtype=object) for p in parts])
    scale = np.concatenate([p[3] * COST_SHARES[p[2]] for p in parts])
    amount = (
        total[pid] * scale * (1 + infl[pid]) ** (_year(day) - 2020) * np.exp(rng.normal(0, 0.15, pid.size))
    )
    return _frame(
        coh,
        pid,
        {
            "cost_date": _fmt_date(day),
            "category": cat,
            "amount": _fmt_dec(amount, 2),
            "currency": currency[pid],
        },
        [day, _rank(cat)],
    )


# ---------------------------------------------------------------------------------------------- writing


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """A canonical-text table with real dtypes (as ``openhsct.registry.formats.typed_frame`` makes them):
    dates ``datetime64``, datetimes UTC, decimals float, counts ``Int64``, codes ``string``."""
    out = pd.DataFrame(index=frame.index)
    for name in frame.columns:
        s = frame[name].where(frame[name] != "", None)
        if name in _DATE_COLS:
            out[name] = pd.to_datetime(s, format="%Y-%m-%d")
        elif name in _DATETIME_COLS:
            out[name] = pd.to_datetime(s, utc=True, format="ISO8601")
        elif name in _DECIMAL_COLS:
            out[name] = pd.to_numeric(s).astype("float64")
        elif name in _INTEGER_COLS:
            out[name] = pd.to_numeric(s).astype("Int64")
        else:
            out[name] = frame[name].astype("string")
    return out


def write_bundle(tables: dict[str, pd.DataFrame], out_dir: str | Path, fmt: str = "csv") -> list[Path]:
    """Write tables as ``<table>.csv`` (canonical text, no index) or typed ``<table>.parquet`` into
    ``out_dir`` (created if needed). Returns the files written, in table order."""
    if fmt not in {"csv", "parquet"}:
        raise ValueError(f"unknown format {fmt!r}: use csv or parquet")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in tables.items():
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            _write_csv(frame, path)
        else:
            typed(frame).to_parquet(path, index=False)
        written.append(path)
    return written


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """CSV byte for byte as ``DataFrame.to_csv(index=False)`` writes text columns (minimal quoting,
    ``\n`` line ends), several times faster: rows are joined in Python from column lists."""
    cols = []
    for name in frame.columns:
        col = frame[name].tolist()
        if _needs_quote("\x1f".join(col)):  # one C-speed scan of the whole column
            col = [_quote(v) for v in col]
        cols.append(col)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(_quote(c) for c in frame.columns) + "\n")
        if len(frame):
            fh.write("\n".join(map(",".join, zip(*cols, strict=True))))
            fh.write("\n")


def _needs_quote(v: str) -> bool:
    return any(ch in v for ch in '",\n\r')


def _quote(v: str) -> str:
    return '"' + v.replace('"', '""') + '"' if _needs_quote(v) else v


# ---------------------------------------------------------------------------------- patient-reported

PRO_STREAM = 0x50524F  # a second random stream ("PRO"), so the other tables draw exactly as before
PRO_ANSWERED_P = 0.6  # share of clinic visits with a questionnaire answered by the patient
# PDDS step most often reported at each EDSS half step (0.0, 0.5, ..., 10.0); PDDS and EDSS correlate
# strongly (Spearman rho 0.78, Learmonth et al. 2013, BMC Neurol 13:37, doi:10.1186/1471-2377-13-37).
_PDDS_FOR_EDSS_H = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 4, 6, 7, 7, 8, 8, 8, 8, 8])
_EMPLOYMENT = np.array(["full_time", "part_time", "not_working_ms", "sick_leave", "retired", "other"], dtype=object)
_EMPLOYMENT_P = (0.35, 0.2, 0.25, 0.05, 0.1, 0.05)


def pro_answers_table(edss_visits: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Synthetic PDDS and employment answers (``source`` patient) on PRO_ANSWERED_P of the EDSS visit days.

    Drawn from their own generator (``SeedSequence([seed, PRO_STREAM])``), so adding them leaves every
    other synthetic table unchanged. PDDS is the step usual for the measured EDSS, one step off in a quarter
    of answers (kept within 0-8). Returns the exchange table, rows sorted by its key.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, PRO_STREAM]))
    n = len(edss_visits)
    answered = rng.random(n) < PRO_ANSWERED_P
    shift = _choice(rng, (0.125, 0.75, 0.125), n) - 1
    employment = _EMPLOYMENT[_choice(rng, _EMPLOYMENT_P, n)]
    v = edss_visits.loc[answered]
    half = np.round(v["edss"].astype(float).to_numpy() * 2).astype(int)
    pdds = np.clip(_PDDS_FOR_EDSS_H[half] + shift[answered], 0, 8).astype(str).astype(object)
    base = {CC: v[CC].to_numpy(), PC: v[PC].to_numpy(), "response_date": v["visit_date"].to_numpy()}
    parts = [
        pd.DataFrame({**base, "instrument": "pdds", "item": "pdds", "answer": pdds}),
        pd.DataFrame({**base, "instrument": "employment", "item": "employment_status",
                      "answer": employment[answered]}),
    ]
    out = pd.concat(parts, ignore_index=True)
    out["source"] = "patient"
    key = [CC, PC, "response_date", "instrument", "item", "source"]
    out = out.sort_values(key, kind="stable").reset_index(drop=True)
    return out[list(TABLE_COLUMNS["pro_answers"])].astype(object)
