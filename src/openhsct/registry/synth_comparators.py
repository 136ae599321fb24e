"""Synthetic comparators: people assessed for aHSCT who were treated with a high-efficacy DMT instead.

Added to a synthetic bundle (:func:`openhsct.registry.synth.generate`) as ordinary registry rows --
``patients``, an ``eligibility`` assessment decided ``not_eligible`` or ``deferred``, ``dmt_exposures``
(earlier platform drugs, then the high-efficacy drug from 2-16 weeks after the assessment, ongoing),
``edss_visits``, ``relapses`` and ``mri_scans`` -- so that ``openhsct compare-treatments`` can be tried
on the demo. Every person is fictional. The choices (see ``docs/synthetic-data.md``):

- *Confounding as in the registries*: comparators are older (mean 43 vs 36 at aHSCT), more often
  secondary progressive (40 %), with fewer relapses before the assessment and less Gd activity, as
  aHSCT patients were younger with more relapses in Kalincik et al., *JAMA Neurol* 2023;80:702-713.
- *A known true effect*: the latent hazard of confirmed disability worsening is the aHSCT arm's
  (``PROGRESSION_PER_Y`` of the phenotype, as in ``synth``) divided by :data:`TRUE_HR_CDW`, and the
  relapse rate the aHSCT arm's (``RELAPSE_PER_Y``) divided by :data:`TRUE_RATE_RATIO`, so within a
  phenotype the aHSCT-vs-DMT hazard ratio of latent worsening is exactly ``TRUE_HR_CDW``. EDSS is then
  measured as for transplanted patients (every 6 months +/- 4 weeks, some visits missed, the same rater
  noise), so the measured endpoint carries the same measurement error in both arms.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from openhsct.registry import synth as S
from openhsct.registry.synth_items import ITEM_COLUMNS

TRUE_HR_CDW = 0.35  # aHSCT vs DMT, latent worsening (illustrative; MIST HR 0.07, MSBase vs fingolimod ~0.3)
TRUE_RATE_RATIO = 0.20  # aHSCT vs DMT relapse rate (illustrative; MSBase ARR 0.09 vs 0.2-0.4 on DMTs)
DRUG_P = {  # high-efficacy drug of the comparator (illustrative shares)
    "natalizumab": 0.35,
    "ocrelizumab": 0.25,
    "fingolimod": 0.20,
    "alemtuzumab": 0.08,
    "cladribine": 0.07,
    "ofatumumab": 0.05,
}
PHENOTYPE_P = (0.55, 0.40, 0.05)  # RRMS / SPMS / PPMS among comparators
AGE_MEAN, AGE_SD = 43.0, 9.0
PRIOR_RELAPSES_MEAN = (0.6, 0.25, 0.0)  # in the 12 months before the assessment, by phenotype
GD_ACTIVE_P = (0.35, 0.15, 0.05)
IMPROVER_P = 0.08  # sustained EDSS improvement on a DMT (illustrative)
MRI_ACTIVITY_P = 0.12  # per yearly scan on a high-efficacy DMT (illustrative)
PLATFORM = ("interferon beta-1a", "glatiramer acetate", "dimethyl fumarate", "teriflunomide")
_APPROVAL = {d[0]: d[1] for d in S.DMTS}


def _date(days) -> str:
    return str(np.datetime64(int(days), "D"))


def add_comparators(
    tables: dict[str, pd.DataFrame], n: int, seed: int, as_of: date = S.AS_OF
) -> dict[str, pd.DataFrame]:
    """``tables`` (canonical text, as ``generate`` returns them) with ``n`` comparator patients spread
    over its centres. Returns a new dict; rows stay sorted by each table's key. The same arguments
    always give the same rows."""
    if n <= 0:
        return dict(tables)
    rng = np.random.default_rng([seed, 15])
    centres = tables["centres"]["centre_code"].astype(str).to_numpy()
    out = {name: [] for name in ("patients", "eligibility", "dmt_exposures", "edss_visits", "relapses", "mri_scans")}
    last_day = (np.datetime64(as_of, "D") - np.datetime64("1970-01-01", "D")).astype(np.int64)
    drugs, shares = list(DRUG_P), np.array(list(DRUG_P.values()))
    for i in range(n):
        _one(rng, out, centres[i % centres.size], f"C{i + 1:07d}", last_day, drugs, shares / shares.sum())
    result = dict(tables)
    for name, rows in out.items():
        extra = pd.DataFrame(rows, columns=list(_COLUMNS[name])).astype(object)
        for col in S.TABLE_COLUMNS[name]:
            if col not in extra.columns:  # a column this generator does not know: the bundle's usual value
                mode = tables[name][col].mode()  # (the transplant items stay empty: these were never transplanted)
                extra[col] = mode.iloc[0] if len(mode) and col not in ITEM_COLUMNS else ""
        extra = extra[list(S.TABLE_COLUMNS[name])]
        merged = pd.concat([tables[name].astype(object), extra], ignore_index=True)
        key = [c for c in _SORT[name] if c in merged.columns]
        result[name] = merged.sort_values(key, kind="stable").reset_index(drop=True)
    return result


_COLUMNS = {
    "patients": ("centre_code", "patient_code", "sex", "birth_year", "phenotype", "onset_date", "diagnosis_date",
                 "consent_status", "consent_date", "last_contact_date"),
    "eligibility": ("centre_code", "patient_code", "assessment_date", "edss", "relapses_prior_12m", "gd_assessed",
                    "gd_lesions", "prior_dmt_count", "prior_dmts", "decision", "reason"),
    "dmt_exposures": ("centre_code", "patient_code", "drug", "start_date", "stop_date"),
    "edss_visits": ("centre_code", "patient_code", "visit_date", "edss"),
    "relapses": ("centre_code", "patient_code", "onset_date"),
    "mri_scans": ("centre_code", "patient_code", "scan_date", "t2_assessed", "new_enlarging_t2", "gd_assessed",
                  "gd_lesions"),
}
_SORT = {
    "patients": ["centre_code", "patient_code"],
    "eligibility": ["centre_code", "patient_code", "assessment_date"],
    "dmt_exposures": ["centre_code", "patient_code", "drug", "start_date"],
    "edss_visits": ["centre_code", "patient_code", "visit_date"],
    "relapses": ["centre_code", "patient_code", "onset_date"],
    "mri_scans": ["centre_code", "patient_code", "scan_date"],
}


def _one(rng, out, centre: str, code: str, last_day: int, drugs, shares) -> None:
    """Append one comparator's rows to ``out``."""
    drug = drugs[int(rng.choice(len(drugs), p=shares))]
    first_year = max(_APPROVAL.get(drug, 2006), 2007)
    lo = (np.datetime64(f"{first_year}-01-01", "D") - np.datetime64("1970-01-01", "D")).astype(np.int64)
    assess = int(rng.integers(lo, last_day - 400))
    start = assess + int(rng.integers(14, 113))
    pheno = int(rng.choice(3, p=PHENOTYPE_P))
    age = int(np.clip(round(rng.normal(AGE_MEAN, AGE_SD)), 19, 70))
    year = int(_date(start)[:4])
    duration_d = int(np.clip(np.exp(rng.normal(np.log(9.0 if pheno == 0 else 15.0), 0.5)), 1.6, age - 14) * 365.25)
    onset = assess - duration_d
    diagnosis = onset + int(min(rng.exponential(1.5) * 365.25, duration_d - 200))
    mean, sd, low, high = S.EDSS_BASELINE[pheno]
    b = int(round(np.clip(rng.normal(mean + 0.5, sd), low, high) * 2))
    sex = ("female", "male")[int(rng.random() >= 0.68)]
    end = int(min(last_day - rng.integers(0, 90), start + 180 + rng.exponential(1 / 0.04) * 365.25))

    prior_rel = min(rng.poisson(PRIOR_RELAPSES_MEAN[pheno]), 4)
    rel_days = sorted({assess - 7 - int(rng.integers(0, 350)) for _ in range(prior_rel)})
    rel_days += sorted({assess - 365 - int(rng.integers(1, 365)) for _ in range(rng.poisson(0.3))})
    rate = S.RELAPSE_PER_Y[pheno] / TRUE_RATE_RATIO * rng.gamma(S.RELAPSE_FRAILTY_SHAPE, 1 / S.RELAPSE_FRAILTY_SHAPE)
    k = rng.poisson(rate * max(end - start, 0) / 365.25)
    rel_days += sorted(set((start + rng.integers(1, max(end - start, 2), k)).tolist()))
    prior_rel_12 = sum(assess - 365 < d <= assess for d in rel_days)

    gd_assessed = ("yes", "no", "unknown")[int(rng.choice(3, p=S.GD_ASSESSED_P))]
    gd = 1 + rng.poisson(1.2) if rng.random() < GD_ACTIVE_P[pheno] else 0
    n_prior = int(min(rng.poisson(1.0) + 1, len(PLATFORM)))
    prior = list(rng.permutation(PLATFORM)[:n_prior])
    decision = "not_eligible" if rng.random() < S.NOT_ELIGIBLE_SHARE else "deferred"
    reasons = S.NOT_ELIGIBLE_REASONS if decision == "not_eligible" else S.DEFERRAL_REASONS
    reason = reasons[int(rng.choice(len(reasons), p=[p for _, p in reasons]))][0]

    out["patients"].append([centre, code, sex, str(year - age), ("RRMS", "SPMS", "PPMS")[pheno], _date(onset),
                            _date(diagnosis), "given", _date(assess - int(rng.integers(0, 15))), _date(end)])
    out["eligibility"].append([centre, code, _date(assess), f"{b / 2:.1f}", str(prior_rel_12), gd_assessed,
                               str(gd) if gd_assessed == "yes" else "", str(n_prior), ";".join(prior),
                               decision, reason])
    course_end = assess - int(rng.integers(0, 60))
    for j, name in enumerate(reversed(prior)):
        c_start = course_end - 365 * (j + 1)
        out["dmt_exposures"].append([centre, code, name, _date(c_start), _date(c_start + 335)])
    out["dmt_exposures"].append([centre, code, drug, _date(start), ""])
    for d in rel_days:
        out["relapses"].append([centre, code, _date(d)])
    _edss(rng, out, centre, code, pheno, b, assess, start, end)
    _mri(rng, out, centre, code, gd_assessed, gd, assess, start, end, rel_days)


def _edss(rng, out, centre, code, pheno, b, assess, start, end) -> None:
    """The assessment EDSS, then visits every 6 months from the drug start with latent worsening at an
    exponential time with rate PROGRESSION_PER_Y / TRUE_HR_CDW, measured with synth's rater noise."""
    out["edss_visits"].append([centre, code, _date(assess), f"{b / 2:.1f}"])
    prog_day = rng.exponential(1 / (S.PROGRESSION_PER_Y[pheno] / TRUE_HR_CDW)) * 365.25
    step = (3 if b == 0 else 2 if b <= 11 else 1) + int(rng.random() < 0.3)
    imp = min(1 + int(rng.random() < 0.3), b) if rng.random() < IMPROVER_P else 0
    k = 1
    seen = {assess}
    while True:
        day = start + int(round(k * S.VISIT_EVERY_D)) + int(rng.integers(-S.VISIT_JITTER_D, S.VISIT_JITTER_D + 1))
        if day > end:
            break
        k += 1
        if rng.random() < S.VISIT_MISSED_P or day in seen:
            continue
        seen.add(day)
        t = day - start
        latent = int(np.clip(b + step if t >= prog_day else b - imp, 0, 19))
        noise = S.EDSS_NOISE_LOW if latent <= 11 else S.EDSS_NOISE_HIGH
        measured = int(np.clip(latent + int(rng.choice(5, p=noise)) - 2, 0, 19))
        out["edss_visits"].append([centre, code, _date(day), f"{measured / 2:.1f}"])


def _mri(rng, out, centre, code, gd_assessed, gd, assess, start, end, rel_days) -> None:
    """A baseline MRI before the assessment (its Gd result is the assessment's) and yearly scans on the drug."""
    base = assess - int(rng.integers(0, 31))
    out["mri_scans"].append([centre, code, _date(base), "yes", str(int(gd > 0) + rng.poisson(0.5)), gd_assessed,
                             str(gd) if gd_assessed == "yes" else ""])
    k = 1
    while start + 365 * k + 45 <= end:
        scan = start + 365 * k + int(rng.integers(-45, 46))
        k += 1
        if rng.random() < S.MRI_MISSED_P:
            continue
        relapse = any(scan - 365 < d <= scan for d in rel_days)
        active = rng.random() < MRI_ACTIVITY_P + 0.3 * relapse
        t2 = 1 + rng.poisson(1.0) if active else 0
        g = 1 + rng.poisson(0.5) if active and rng.random() < 0.6 else 0
        out["mri_scans"].append([centre, code, _date(scan), "yes", str(t2), "yes", str(g)])
