"""NEDA-3 (no evidence of disease activity) after aHSCT, and the MRI-activity rule it rests on.

NEDA-3 at horizon H (Havrdova et al. *Lancet Neurol* 2009;8:254; as used for aHSCT by Sormani et al.
*Neurology* 2017;88:2115 and Muraro et al. *JAMA Neurol* 2017;74:459): over (day 0, H] the patient had

* no clinical relapse (onset after day 0),
* no confirmed disability worsening (CDW by the msprog rules against the pre-transplant baseline; see
  :mod:`openhsct.outcomes.endpoints`), and
* no MRI activity: no new or enlarging T2 lesion and no gadolinium-enhancing (Gd+) lesion on any scan after the
  post-transplant re-baseline scan.

**MRI re-baseline.** Lesions seen in the first months reflect inflammation that began before the
immunoablation took effect; so a new reference scan is taken after treatment and activity is counted only
after it (the re-baselining of the MAGNIMS–CMSC–NAIMS consensus, Wattjes et al. *Lancet Neurol*
2021;20:653, "3–6 months after starting" a highly effective therapy; the EBMT recommendations, Sharrack et al.
*Bone Marrow Transplant* 2020;55:283, schedule MRI at about 6 months and then yearly). Rule used here: the
re-baseline scan is the first scan dated on or after day ``rebaseline_from_days`` (default 90, the start of
that 3–6-month window); T2 activity on it or before it is not counted, a Gd+ lesion on it is (enhancement
lasts weeks, so it formed after the treatment); every later scan counts.

**Not done is not "no activity".** A scan's T2 reading counts only when ``t2_assessed`` is ``yes``, its Gd
reading only when ``gd_assessed`` is ``yes``; ``no``/``unknown`` give no information either way. NEDA-3 is
declared only when each component was actually assessed up to the horizon (see :func:`neda3`); otherwise the
patient is *not evaluable*, never counted as free of activity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from openhsct.outcomes.binomial import binomial_ci

DAYS_PER_YEAR = 365.25
REBASELINE_FROM_DAYS = 90
HORIZON_WINDOW_DAYS = 91
STATUSES = ("neda", "eda", "died", "not_evaluable")
COMPONENTS = ("death", "relapse", "cdw", "mri")


def _assessed(values: pd.Series) -> np.ndarray:
    """``yes`` (the registry's canonical code) as True; ``no``, ``unknown`` and missing as False."""
    return values.to_numpy(dtype=object, na_value="") == "yes"


def _positive(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").fillna(0).to_numpy(dtype=float) > 0


def scan_readings(
    scans: pd.DataFrame, n_patients: int, rebaseline_from_days: float = REBASELINE_FROM_DAYS
) -> pd.DataFrame:
    """Classify post-transplant scans against the re-baseline rule.

    ``scans`` has one row per scan with ``pid`` (patient position 0..n-1), ``day`` (days from day 0) and the
    registry's ``t2_assessed, new_enlarging_t2, gd_assessed, gd_lesions``. Returns the scans sorted by
    (pid, day) with added columns ``rebaseline_day`` (the patient's re-baseline scan day, NaN if none),
    ``after_rebaseline``, ``t2_read`` / ``gd_read`` (assessed = yes), ``active`` (a read Gd with Gd+ lesions
    on or after the re-baseline scan, or a read T2 with new/enlarging lesions after it) and ``informative``
    (after the re-baseline and at least one reading done).

    Gd+ on the re-baseline scan counts: enhancement lasts a few weeks (Wattjes et al. *Lancet Neurol*
    2021;20:653), so a lesion enhancing at day 90 or later formed after the treatment. New/enlarging T2 on
    the re-baseline scan does not: it is read against the pre-treatment scan.
    """
    s = scans.sort_values(["pid", "day"], kind="stable").reset_index(drop=True)
    pid = s["pid"].to_numpy(dtype=np.int64)
    day = s["day"].to_numpy(dtype=float)
    candidate = day >= rebaseline_from_days
    rebaseline = np.full(n_patients, np.nan)
    first = pd.Series(day[candidate]).groupby(pid[candidate]).min()
    rebaseline[first.index.to_numpy(dtype=np.int64)] = first.to_numpy()
    after = day > rebaseline[pid]  # NaN compares False: no re-baseline, nothing counts
    t2_read = _assessed(s["t2_assessed"])
    gd_read = _assessed(s["gd_assessed"])
    on_rebaseline = day == rebaseline[pid]
    gd_active = gd_read & _positive(s["gd_lesions"])
    active = (after & ((t2_read & _positive(s["new_enlarging_t2"])) | gd_active)) | (on_rebaseline & gd_active)
    return s.assign(
        rebaseline_day=rebaseline[pid],
        after_rebaseline=after,
        t2_read=t2_read,
        gd_read=gd_read,
        active=active,
        informative=after & (t2_read | gd_read),
    )


def mri_activity(readings: pd.DataFrame, n_patients: int) -> pd.DataFrame:
    """Per patient (index 0..n-1): ``rebaseline_day``, ``mri_active_day`` (first active scan after the
    re-baseline) and ``last_mri_day`` (last informative scan after the re-baseline, else the re-baseline scan
    itself; NaN when there is none), all in days from day 0."""
    out = pd.DataFrame(
        index=pd.RangeIndex(n_patients),
        columns=["rebaseline_day", "mri_active_day", "last_mri_day"],
        dtype=float,
    )
    pid = readings["pid"].to_numpy(dtype=np.int64)
    day = readings["day"].to_numpy(dtype=float)
    reb = readings.groupby("pid")["rebaseline_day"].first()
    out.loc[reb.index, "rebaseline_day"] = reb.to_numpy()
    act = readings["active"].to_numpy()
    first_active = pd.Series(day[act]).groupby(pid[act]).min()
    out.loc[first_active.index, "mri_active_day"] = first_active.to_numpy()
    inf = readings["informative"].to_numpy()
    last = pd.Series(day[inf]).groupby(pid[inf]).max()
    out.loc[last.index, "last_mri_day"] = last.to_numpy()
    out["last_mri_day"] = out["last_mri_day"].fillna(out["rebaseline_day"])
    return out


def _t2_covered(
    readings: pd.DataFrame, n_patients: int, horizon_days: float, window_days: float
) -> np.ndarray:
    """Whether T2 was read without a gap from the re-baseline scan to a scan within ±window of the horizon.

    New/enlarging T2 lesions persist, so a read scan near the horizon covers the whole interval back to the
    previous scan; a scan after the re-baseline whose T2 was *not* read breaks the chain of comparisons.
    """
    r = readings.loc[readings["after_rebaseline"].to_numpy()]
    pid = r["pid"].to_numpy(dtype=np.int64)
    day = r["day"].to_numpy(dtype=float)
    read = r["t2_read"].to_numpy()
    first_gap = np.full(n_patients, np.inf)
    gaps = pd.Series(day[~read]).groupby(pid[~read]).min()
    first_gap[gaps.index.to_numpy(dtype=np.int64)] = gaps.to_numpy()
    in_window = read & (np.abs(day - horizon_days) <= window_days)
    first_cover = np.full(n_patients, np.inf)
    cover = pd.Series(day[in_window]).groupby(pid[in_window]).min()
    first_cover[cover.index.to_numpy(dtype=np.int64)] = cover.to_numpy()
    return np.isfinite(first_cover) & (first_cover < first_gap)


@dataclass(frozen=True)
class Neda3Result:
    """NEDA-3 at one horizon: the proportion with no evidence of disease activity among evaluable patients,
    with its Clopper–Pearson interval, the count per status and per first failing component, and the
    per-patient table (``patients``: ``status``, ``first_failure``, ``failure_day``)."""

    horizon_years: float
    n: int
    n_evaluable: int
    n_neda: int
    estimate: float
    lower: float
    upper: float
    status_counts: dict
    first_failure_counts: dict
    patients: pd.DataFrame = field(repr=False)
    settings: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        row = {
            k: getattr(self, k)
            for k in ("horizon_years", "n", "n_evaluable", "n_neda", "estimate", "lower", "upper")
        }
        row.update({f"n_{s}": self.status_counts.get(s, 0) for s in STATUSES})
        return pd.DataFrame([row])


def neda3(
    patients: pd.DataFrame,
    readings: pd.DataFrame,
    horizon_years: float = 2.0,
    *,
    window_days: float = HORIZON_WINDOW_DAYS,
    death_is_failure: bool = True,
    conf_level: float = 0.95,
) -> Neda3Result:
    """NEDA-3 status of every patient at ``horizon_years`` after day 0, and the proportion NEDA-3.

    ``patients`` is the per-patient table of :func:`openhsct.outcomes.endpoints.registry_outcomes` (columns
    ``fu_days, death_day, relapse_day, cdw_day, has_baseline, last_edss_day``); ``readings`` its scan table
    (:func:`scan_readings`). With h = 365.25 H days and w = ``window_days``:

    * failure ("eda") when a relapse or a CDW starts in (0, h], or an active scan after the re-baseline is
      dated up to h + w (the year-H scan may come a little late); "died" when death comes first, by h;
    * "neda" when there is no failure and every component was assessed up to the horizon: last contact and
      an EDSS visit at or after h - w, a pre-transplant EDSS baseline, and T2 read on every scan from the
      re-baseline to a scan within h ± w (:func:`_t2_covered`); Gd+ counts wherever gadolinium was given;
    * "not_evaluable" otherwise (short or incomplete follow-up, MRI not read).

    The proportion is NEDA / (NEDA + EDA + died) with ``death_is_failure`` (death counts as failure, as in
    event-free survival), else NEDA / (NEDA + EDA).
    """
    n = len(patients)
    h = float(horizon_years) * DAYS_PER_YEAR
    w = float(window_days)
    active = readings.loc[readings["active"].to_numpy() & (readings["day"].to_numpy() <= h + w)]
    mri_day = np.full(n, np.nan)
    first = active.groupby("pid")["day"].min()
    mri_day[first.index.to_numpy(dtype=np.int64)] = first.to_numpy()
    days = np.column_stack(
        [
            patients["death_day"].to_numpy(dtype=float),
            np.where(patients["relapse_day"].to_numpy(dtype=float) <= h, patients["relapse_day"], np.nan),
            np.where(patients["cdw_day"].to_numpy(dtype=float) <= h, patients["cdw_day"], np.nan),
            mri_day,
        ]
    )
    days[:, 0] = np.where(days[:, 0] <= h, days[:, 0], np.nan)
    any_failure = ~np.all(np.isnan(days), axis=1)
    filled = np.where(np.isnan(days), np.inf, days)
    which = np.argmin(filled, axis=1)
    failure_day = np.where(any_failure, filled[np.arange(n), which], np.nan)
    first_failure = np.where(any_failure, np.asarray(COMPONENTS, dtype=object)[which], None)

    evaluable = (
        (patients["fu_days"].to_numpy(dtype=float) >= h - w)
        & (patients["last_edss_day"].to_numpy(dtype=float) >= h - w)
        & patients["has_baseline"].to_numpy(dtype=bool)
        & _t2_covered(readings, n, h, w)
    )
    status = np.where(
        any_failure, np.where(which == 0, "died", "eda"), np.where(evaluable, "neda", "not_evaluable")
    )
    table = pd.DataFrame(
        {"status": status, "first_failure": first_failure, "failure_day": failure_day}, index=patients.index
    )
    counts = {s: int((status == s).sum()) for s in STATUSES}
    denominator = counts["neda"] + counts["eda"] + (counts["died"] if death_is_failure else 0)
    if denominator:
        ci = binomial_ci(counts["neda"], denominator, method="exact", conf_level=conf_level)
        estimate, lower, upper = ci.estimate, ci.lower, ci.upper
    else:
        estimate = lower = upper = float("nan")
    failures = {c: int((first_failure == c).sum()) for c in COMPONENTS}
    return Neda3Result(
        horizon_years=float(horizon_years),
        n=n,
        n_evaluable=denominator,
        n_neda=counts["neda"],
        estimate=estimate,
        lower=lower,
        upper=upper,
        status_counts=counts,
        first_failure_counts=failures,
        patients=table,
        settings={
            "window_days": w,
            "death_is_failure": death_is_failure,
            "conf_level": conf_level,
            "method": "Clopper-Pearson",
        },
    )
