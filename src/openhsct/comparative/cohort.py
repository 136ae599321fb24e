"""The comparison cohort from the registry's exchange tables: aHSCT patients and the people assessed for
aHSCT who were treated with a named high-efficacy DMT instead, with covariates at the index date and
outcomes counted from it.

*Who.* aHSCT arm: every patient with a transplant (index = day 0). Comparator arm: patients with an
eligibility assessment decided ``not_eligible`` or ``deferred``, no transplant, and a course of the named
drug (:data:`COMPARATORS`) starting from 180 days before to 365 days after their latest such assessment
(index = the start of that course); follow-up after the index is required in both arms.

*Covariates at the index* (the MSBase set; Kalincik et al., *JAMA Neurol* 2023;80:702-713,
doi:10.1001/jamaneurol.2023.1184): age (index year - birth year), female, disease duration (years from
onset, or diagnosis when onset is missing), EDSS (the last visit within 365 days up to the index, else
the assessment's), relapse onsets in the 12 and 24 months before the index, prior DMTs (the
assessment's count), Gd-enhancing lesions (the last assessed MRI within 365 days up to the index, else
the assessment's, else 0), phenotype, country and centre.

*Outcomes from the index* (days): 6-month (24-week) confirmed disability worsening and improvement by
:func:`openhsct.outcomes.progression.msprog` with a fixed baseline (the EDSS above) and MSBase's
thresholds (+1.5 from 0, +1.0 from 1.0 to 5.5, +0.5 above 5.5; Kalincik et al., *Brain*
2015;138:3287-3298, doi:10.1093/brain/awv258), censored at the last visit from which a change could
still have been confirmed; first relapse, censored at the last contact; relapse count and follow-up
years for the annualised relapse rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from openhsct.comparative.errors import ComparativeError
from openhsct.outcomes.endpoints import registry_delta

COMPARATORS: dict[str, tuple[str, ...]] = {
    "natalizumab": ("natalizumab",),
    "ocrelizumab": ("ocrelizumab", "ofatumumab"),
    "alemtuzumab": ("alemtuzumab",),
    "cladribine": ("cladribine",),
    "fingolimod": ("fingolimod",),
}
DAYS_PER_YEAR = 365.25
CONF_DAYS = 24 * 7
CONF_TOL_DAYS = (7, 2 * 365.25)
WINDOW_DAYS = 365
START_WINDOW_DAYS = (-180, 365)


def _days(values) -> np.ndarray:
    """Dates as float days since 1970-01-01 (NaN for missing)."""
    s = pd.to_datetime(pd.Series(values), errors="coerce")
    out = (s - pd.Timestamp("1970-01-01")).dt.days.to_numpy(dtype=float)
    return out


def _keyed(frame: pd.DataFrame, index: pd.MultiIndex) -> np.ndarray:
    """Row position of each record's patient in ``index`` (-1: not in the cohort)."""
    key = pd.MultiIndex.from_arrays([frame["centre_code"].astype(str), frame["patient_code"].astype(str)])
    return index.get_indexer(key)


def _arms(tables: dict[str, pd.DataFrame], comparator: str) -> pd.DataFrame:
    """One row per patient in either arm: centre_code, patient_code, treat, index_day, drug, assessment row."""
    drugs = COMPARATORS[comparator]
    tx = tables["transplants"][["centre_code", "patient_code", "day0"]].copy()
    tx["index_day"] = _days(tx["day0"])
    tx = tx.dropna(subset=["index_day"]).drop_duplicates(["centre_code", "patient_code"])
    tx_key = set(zip(tx["centre_code"].astype(str), tx["patient_code"].astype(str), strict=True))

    el = tables["eligibility"].copy()
    el["assess_day"] = _days(el["assessment_date"])
    el = el.loc[el["decision"].astype(str).isin(["not_eligible", "deferred"])]
    el = el.sort_values(["centre_code", "patient_code", "assess_day"]).drop_duplicates(
        ["centre_code", "patient_code"], keep="last"
    )
    el = el.loc[[k not in tx_key for k in zip(el["centre_code"].astype(str), el["patient_code"].astype(str), strict=True)]]
    dmt = tables["dmt_exposures"].copy()
    dmt = dmt.loc[dmt["drug"].astype(str).str.lower().isin(drugs)]
    dmt["start_day"] = _days(dmt["start_date"])
    merged = el.merge(dmt[["centre_code", "patient_code", "drug", "start_day"]], on=["centre_code", "patient_code"])
    gap = merged["start_day"] - merged["assess_day"]
    merged = merged.loc[(gap >= START_WINDOW_DAYS[0]) & (gap <= START_WINDOW_DAYS[1])]
    merged = merged.sort_values(["centre_code", "patient_code", "start_day"]).drop_duplicates(
        ["centre_code", "patient_code"], keep="first"
    )
    control = pd.DataFrame(
        {
            "centre_code": merged["centre_code"].astype(str),
            "patient_code": merged["patient_code"].astype(str),
            "treat": 0,
            "index_day": merged["start_day"].to_numpy(),
            "drug": merged["drug"].astype(str),
        }
    )
    treated = pd.DataFrame(
        {
            "centre_code": tx["centre_code"].astype(str),
            "patient_code": tx["patient_code"].astype(str),
            "treat": 1,
            "index_day": tx["index_day"].to_numpy(),
            "drug": "aHSCT",
        }
    )
    return pd.concat([treated, control], ignore_index=True)


def _last_before(frame: pd.DataFrame, pos: np.ndarray, day: np.ndarray, value: np.ndarray,
                 index_day: np.ndarray, n: int) -> np.ndarray:
    """Per patient, ``value`` of the last record dated within WINDOW_DAYS up to the index (NaN: none)."""
    ok = (pos >= 0) & ~np.isnan(day) & ~np.isnan(value)
    rel = day[ok] - index_day[pos[ok]]
    keep = (rel <= 0) & (rel >= -WINDOW_DAYS)
    p, d, v = pos[ok][keep], rel[keep], value[ok][keep]
    out = np.full(n, np.nan)
    if p.size:
        order = np.lexsort((d, p))
        last = np.flatnonzero(np.append(p[order][1:] != p[order][:-1], True))
        out[p[order][last]] = v[order][last]
    return out


def _count_between(pos: np.ndarray, day: np.ndarray, index_day: np.ndarray, lo: float, hi: float, n: int) -> np.ndarray:
    ok = pos >= 0
    rel = day[ok] - index_day[pos[ok]]
    hit = (rel > lo) & (rel <= hi)
    return np.bincount(pos[ok][hit], minlength=n)


def _assessment(tables, cohort: pd.DataFrame, index: pd.MultiIndex) -> pd.DataFrame:
    """The eligibility assessment nearest before (or at) each patient's index: edss, gd, prior DMTs."""
    el = tables["eligibility"].copy()
    el["day"] = _days(el["assessment_date"])
    el["pos"] = _keyed(el, index)
    el = el.loc[el["pos"] >= 0]
    el = el.loc[el["day"] <= cohort["index_day"].to_numpy()[el["pos"].to_numpy()] + START_WINDOW_DAYS[1]]
    el = el.sort_values(["pos", "day"]).drop_duplicates("pos", keep="last")
    out = pd.DataFrame(index=range(len(cohort)), columns=["edss", "gd", "prior"], dtype=float)
    out.loc[el["pos"].to_numpy(), "edss"] = pd.to_numeric(el["edss"], errors="coerce").to_numpy(dtype=float)
    out.loc[el["pos"].to_numpy(), "gd"] = pd.to_numeric(el["gd_lesions"], errors="coerce").to_numpy(dtype=float)
    out.loc[el["pos"].to_numpy(), "prior"] = pd.to_numeric(el["prior_dmt_count"], errors="coerce").to_numpy(dtype=float)
    return out


def comparison_cohort(
    tables: dict[str, pd.DataFrame],
    comparator: str = "natalizumab",
    centre: str | None = None,
    country: str | None = None,
) -> pd.DataFrame:
    """The analysis frame: one row per patient of either arm, with ``treat`` (1 aHSCT), the covariates of
    :data:`openhsct.comparative.propensity.MSBASE_COVARIATES` plus ``centre``, and the outcome columns
    ``cdw_time, cdw_event, cdi_time, cdi_event, relapse_time, relapse_event`` (days from the index),
    ``relapses`` (count after the index) and ``fu_years``. ``centre`` / ``country`` restrict both arms.
    Patients without follow-up after the index, or without an EDSS baseline, are left out."""
    if comparator not in COMPARATORS:
        raise ComparativeError(f"comparator {comparator!r}: use one of {', '.join(COMPARATORS)}")
    arms = _arms(tables, comparator)
    centres = tables["centres"][["centre_code", "country"]].astype(str)
    arms = arms.merge(centres, on="centre_code", how="left")
    if centre is not None:
        arms = arms.loc[arms["centre_code"] == centre]
    if country is not None:
        arms = arms.loc[arms["country"].str.upper() == country.upper()]
    arms = arms.reset_index(drop=True)
    n_treated, n_control = int((arms["treat"] == 1).sum()), int((arms["treat"] == 0).sum())
    if n_treated == 0 or n_control == 0:
        raise ComparativeError(
            f"no comparison possible: {n_treated} aHSCT and {n_control} {comparator} patients in this selection"
        )
    n = len(arms)
    index = pd.MultiIndex.from_arrays([arms["centre_code"], arms["patient_code"]])
    idx_day = arms["index_day"].to_numpy(dtype=float)

    pt = tables["patients"].copy()
    pt["pos"] = _keyed(pt, index)
    pt = pt.loc[pt["pos"] >= 0].set_index("pos").reindex(range(n))
    index_year = pd.to_datetime(pd.Series(idx_day), unit="D").dt.year.to_numpy(dtype=float)
    onset = _days(pt["onset_date"])
    onset = np.where(np.isnan(onset), _days(pt["diagnosis_date"]), onset)
    last_contact = _days(pt["last_contact_date"]) - idx_day

    visits = tables["edss_visits"]
    v_pos = _keyed(visits, index)
    v_day = _days(visits["visit_date"])
    v_edss = pd.to_numeric(visits["edss"], errors="coerce").to_numpy(dtype=float)
    rel = tables["relapses"]
    r_pos = _keyed(rel, index)
    r_day = _days(rel["onset_date"])
    mri = tables["mri_scans"]
    m_pos = _keyed(mri, index)
    m_gd = np.where(mri["gd_assessed"].astype(str) == "yes",
                    pd.to_numeric(mri["gd_lesions"], errors="coerce").to_numpy(dtype=float), np.nan)
    assess = _assessment(tables, arms, index)

    edss = _last_before(visits, v_pos, v_day, v_edss, idx_day, n)
    edss = np.where(np.isnan(edss), assess["edss"].to_numpy(dtype=float), edss)
    gd = _last_before(mri, m_pos, _days(mri["scan_date"]), m_gd, idx_day, n)
    gd = np.where(np.isnan(gd), assess["gd"].to_numpy(dtype=float), gd)
    frame = pd.DataFrame(
        {
            "centre_code": arms["centre_code"],
            "patient_code": arms["patient_code"],
            "treat": arms["treat"].astype(np.int64),
            "drug": arms["drug"],
            "index_day": idx_day,
            "age": index_year - pd.to_numeric(pt["birth_year"], errors="coerce").to_numpy(dtype=float),
            "female": (pt["sex"].astype(str) == "female").to_numpy(dtype=np.int64),
            "disease_duration_y": np.round((idx_day - onset) / DAYS_PER_YEAR, 2),
            "edss": edss,
            "relapses_12m": _count_between(r_pos, r_day, idx_day, -365, 0, n),
            "relapses_24m": _count_between(r_pos, r_day, idx_day, -730, 0, n),
            "prior_dmt_count": np.nan_to_num(assess["prior"].to_numpy(dtype=float)),
            "gd_lesions": np.nan_to_num(gd),
            "phenotype": pt["phenotype"].astype(str).to_numpy(),
            "country": arms["country"],
            "centre": arms["centre_code"],
            "fu_days": last_contact,
        }
    )
    frame = _outcomes(frame, v_pos, v_day, v_edss, r_pos, r_day)
    keep = (frame["fu_days"] > 0) & frame["edss"].notna() & frame["age"].notna() & frame["disease_duration_y"].notna()
    return frame.loc[keep].reset_index(drop=True)


def _outcomes(frame: pd.DataFrame, v_pos, v_day, v_edss, r_pos, r_day) -> pd.DataFrame:
    n = len(frame)
    idx_day = frame["index_day"].to_numpy(dtype=float)
    fu = frame["fu_days"].to_numpy(dtype=float)
    ok = v_pos >= 0
    vis = pd.DataFrame({"pid": v_pos[ok], "day": v_day[ok] - idx_day[v_pos[ok]], "edss": v_edss[ok]})
    vis = vis.loc[(vis["day"] > 0) & (vis["day"] <= fu[vis["pid"].to_numpy()]) & vis["edss"].notna()]
    base = pd.DataFrame({"pid": np.arange(n), "day": 0.0, "edss": frame["edss"].to_numpy(dtype=float)})
    base = base.loc[base["edss"].notna()]
    visits = pd.concat([base, vis]).sort_values(["pid", "day"], kind="stable").reset_index(drop=True)
    ok = r_pos >= 0
    rel = pd.DataFrame({"pid": r_pos[ok], "day": r_day[ok] - idx_day[r_pos[ok]]})
    after = rel.loc[(rel["day"] > 0) & (rel["day"] <= fu[rel["pid"].to_numpy()])]
    confirmable = _last_confirmable_day(visits, n)
    for key, event in (("cdw", "firstCDW"), ("cdi", "firstCDI")):
        day = _first_event(visits, rel, n, event)
        has = ~np.isnan(day)  # a confirmed onset always lies on or before the last confirmable visit
        frame[f"{key}_time"] = np.where(has, day, confirmable)
        frame[f"{key}_event"] = has.astype(np.int64)
    first = after.groupby("pid")["day"].min()
    rday = np.full(n, np.nan)
    rday[first.index.to_numpy(dtype=np.int64)] = first.to_numpy()
    frame["relapse_time"] = np.where(np.isnan(rday), fu, rday)
    frame["relapse_event"] = (~np.isnan(rday)).astype(np.int64)
    frame["relapses"] = np.bincount(after["pid"].to_numpy(dtype=np.int64), minlength=n)
    frame["fu_years"] = fu / DAYS_PER_YEAR
    return frame


def _first_event(visits: pd.DataFrame, relapses: pd.DataFrame, n: int, event: str) -> np.ndarray:
    """Day of each patient's first msprog ``event`` (firstCDW / firstCDI) from the index (NaN: none)."""
    from openhsct.outcomes.progression import msprog

    out = np.full(n, np.nan)
    if not len(visits):
        return out
    result = msprog(
        visits[["pid", "day", "edss"]],
        subj_col="pid",
        value_col="edss",
        date_col="day",
        date_format="day",
        relapse=relapses[["pid", "day"]] if len(relapses) else None,
        event=event,
        baseline="fixed",
        delta_fun=registry_delta,
        conf_days=CONF_DAYS,
        conf_tol_days=CONF_TOL_DAYS,
        relapse_to_bl=0,
        relapse_to_conf=30,
        include_dates=True,
    ).results
    hit = result.loc[result["nevent"] > 0]
    if len(hit):
        out[hit["pid"].to_numpy(dtype=np.int64)] = hit["date"].to_numpy(dtype=float)
    return out


def _last_confirmable_day(visits: pd.DataFrame, n: int) -> np.ndarray:
    """Per patient, the last visit after the index with a later visit in the confirmation window
    (CONF_DAYS - 7 days to CONF_DAYS + 2 years after it); 0 when there is none."""
    pid = visits["pid"].to_numpy(dtype=np.int64)
    day = visits["day"].to_numpy(dtype=float)
    keys = pid * 1e7 + day
    lo = np.searchsorted(keys, keys + CONF_DAYS - CONF_TOL_DAYS[0], side="left")
    hi = np.searchsorted(keys, keys + CONF_DAYS + CONF_TOL_DAYS[1], side="right")
    ok = (hi > lo) & (day > 0)
    out = np.zeros(n)
    if ok.any():
        last = pd.Series(day[ok]).groupby(pid[ok]).max()
        out[last.index.to_numpy(dtype=np.int64)] = last.to_numpy()
    return out
