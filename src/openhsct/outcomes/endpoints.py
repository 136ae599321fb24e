"""Transplant endpoints derived from the registry tables, one row per transplanted patient.

Time zero is day 0 (re-infusion of the cells) for every endpoint; times are in days. Definitions, sources,
events, censoring and competing risks are in ``docs/endpoints.md`` and in :data:`ENDPOINTS`. Everything is
vectorised over patients: the tables are located on the patient list once (``get_indexer`` on the
(centre, patient) key), reduced with ``groupby`` minima/maxima, and confirmed disability worsening comes from
one :func:`openhsct.outcomes.progression.msprog` call over the whole cohort.

The registry tables are the exchange tables with ``typed=True`` dtypes (``docs/exchange-format.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from openhsct.outcomes.followup import data_as_of
from openhsct.outcomes.neda import REBASELINE_FROM_DAYS, mri_activity, scan_readings

DAYS_PER_YEAR = 365.25
CDW_CONF_DAYS = 24 * 7
BASELINE_WINDOW_DAYS = 365
EDSS_WINDOW_DAYS = 91
TRM_DEFINITIONS = ("attributed", "day100")
EDSS_BANDS = ("0-3.0", "3.5-5.5", "6.0+")
ERAS = ((None, 2009, "before 2010"), (2010, 2017, "2010-2017"), (2018, None, "2018+"))


@dataclass(frozen=True)
class Endpoint:
    """How one endpoint is defined: what the portal prints beside the number."""

    key: str
    label: str
    definition: str
    source: str
    events: str
    censoring: str
    competing: str = "none (death is an event)"
    time_zero: str = "day 0 (re-infusion of the autologous cells)"


_SOURCES_SURVIVAL = (
    "EBMT/CIBMTR survival conventions; Muraro et al. JAMA Neurol 2017;74:459; Sormani et al. Neurology "
    "2017;88:2115; Sharrack et al. Bone Marrow Transplant 2020;55:283"
)

ENDPOINTS: dict[str, Endpoint] = {
    "pfs": Endpoint(
        "pfs",
        "Progression-free survival",
        "Alive without confirmed disability worsening (CDW) from the pre-transplant EDSS baseline: an EDSS rise "
        "of >=1.5 from 0, >=1.0 from 1.0-5.0, >=0.5 above 5.0, confirmed >=24 weeks later (msprog rules, fixed "
        "baseline = last EDSS in the year before day 0).",
        "Muraro et al. JAMA Neurol 2017;74:459 (PFS after aHSCT); CDW rules: Montobbio et al. Mult Scler "
        "2024;30:1185 (msprog); Sormani et al. Neurology 2017;88:2115",
        "first CDW (date of the worsened visit) or death from any cause",
        "last contact; patients without a pre-transplant EDSS are not in this endpoint",
    ),
    "rfs": Endpoint(
        "rfs",
        "Relapse-free survival",
        "Alive without a clinical relapse with onset after day 0.",
        "Burt et al. JAMA 2015;313:275; Muraro et al. JAMA Neurol 2017;74:459; "
        + "Sharrack et al. BMT 2020;55:283",
        "first relapse onset after day 0, or death from any cause",
        "last contact",
    ),
    "mri_afs": Endpoint(
        "mri_afs",
        "MRI-activity-free survival",
        "Alive without a new/enlarging T2 or Gd+ lesion on any scan after the post-transplant re-baseline scan "
        "(first scan on or after day 90); readings count only where assessed.",
        "Sormani et al. Neurology 2017;88:2115; re-baselining: Wattjes et al. Lancet Neurol 2021;20:653; "
        "Sharrack et al. BMT 2020;55:283",
        "first active scan after the re-baseline scan, or death from any cause",
        "last informative scan after the re-baseline (day 0 when there is none): not scanned is not inactive",
    ),
    "efs": Endpoint(
        "efs",
        "Event-free survival (NEDA-3)",
        "Alive with no evidence of disease activity: no relapse, no CDW and no MRI activity after the "
        "re-baseline scan (NEDA-3 as a time-to-event endpoint).",
        "Havrdova et al. Lancet Neurol 2009;8:254 (NEDA); Sormani et al. Neurology 2017;88:2115; "
        "Muraro et al. JAMA Neurol 2017;74:459",
        "first of relapse, CDW, MRI activity, or death from any cause",
        "last contact; patients without a pre-transplant EDSS are not in this endpoint",
    ),
    "os": Endpoint(
        "os",
        "Overall survival",
        "Alive.",
        _SOURCES_SURVIVAL,
        "death from any cause",
        "last contact (latest of last_contact_date, visits, scans, relapses)",
    ),
}

TRM_TEXT = {
    "attributed": (
        "Transplant-related mortality: cumulative incidence of death recorded as transplant-related "
        "(transplant_related = yes, or unknown: a centre cannot lower its TRM by leaving attribution unknown); "
        "competing event: death recorded as not transplant-related.",
        "EBMT/CIBMTR non-relapse mortality by attribution; Sharrack et al. BMT 2020;55:283; Muraro et al. "
        "JAMA Neurol 2017;74:459",
    ),
    "day100": (
        "Transplant-related mortality: cumulative incidence of death from any cause within 100 days of day 0; "
        "competing event: death after day 100 (so there is none before day 100).",
        "Boffa et al. Neurology 2021; UK 2025 practice (TRM = any death <= 100 days)",
    ),
}


@dataclass(frozen=True)
class RegistryOutcomes:
    """Endpoints of every transplanted patient (``patients``, one row each, index 0..n-1), with the EDSS
    assessments (``visits``: pid, day, edss) and classified post-transplant scans (``readings``) they came
    from, the data-as-of date and the settings."""

    patients: pd.DataFrame
    visits: pd.DataFrame = field(repr=False)
    readings: pd.DataFrame = field(repr=False)
    as_of: pd.Timestamp
    settings: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        return self.patients


# ---- locating rows on the patient list -----------------------------------------------------------


def _key(frame: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays(
        [frame["centre_code"].to_numpy(dtype=object), frame["patient_code"].to_numpy(dtype=object)]
    )


class Locator:
    """Finds the position of (centre_code, patient_code) rows in a list of patients.

    When patient codes are unique across the list (the usual case) one hash lookup on the code and a check of
    the centre is enough, several times faster on a million rows than a two-level index; otherwise the
    two-level (centre, patient) index is used.
    """

    def __init__(self, centre_codes: np.ndarray, patient_codes: np.ndarray):
        self.centres = np.asarray(centre_codes, dtype=object)
        self.codes = pd.Index(np.asarray(patient_codes, dtype=object))
        self.unique = self.codes.is_unique
        if not self.unique:
            self.keys = pd.MultiIndex.from_arrays([self.centres, self.codes.to_numpy()])

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        """Position of every row of ``frame`` in the list, -1 where the patient is not in it."""
        if not len(self.codes) or not len(frame):
            return np.full(len(frame), -1, dtype=np.int64)
        centre = frame["centre_code"].to_numpy(dtype=object)
        if not self.unique:
            return self.keys.get_indexer(
                pd.MultiIndex.from_arrays([centre, frame["patient_code"].to_numpy(dtype=object)])
            )
        pos = self.codes.get_indexer(frame["patient_code"].to_numpy(dtype=object))
        same = self.centres[np.maximum(pos, 0)] == centre
        return np.where((pos >= 0) & same, pos, -1)


def _dated(
    frame: pd.DataFrame | None,
    locate: Locator,
    day0: np.ndarray,
    date_col: str,
    as_of: pd.Timestamp,
    columns: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Rows of ``frame`` of transplanted patients dated up to ``as_of``: ``pid``, ``day`` (from day 0) and
    the requested columns."""
    if frame is None or not len(frame):
        return pd.DataFrame({"pid": np.zeros(0, np.int64), "day": np.zeros(0), **{c: [] for c in columns}})
    dates = frame[date_col]
    dates = (dates if pd.api.types.is_datetime64_dtype(dates) else pd.to_datetime(dates)).to_numpy()
    pid = locate(frame)
    keep = (pid >= 0) & ~np.isnat(dates) & (dates <= as_of.to_datetime64())
    pid = pid[keep]
    days = (dates[keep] - day0[pid]) / np.timedelta64(1, "D")
    out = pd.DataFrame({"pid": pid, "day": days.astype(float)})
    for c in columns:
        out[c] = frame[c].to_numpy()[keep]
    return out


def _per_patient(values: pd.DataFrame, n: int, how: str, mask: np.ndarray | None = None) -> np.ndarray:
    """min or max of ``day`` per patient (NaN where a patient has no row)."""
    v = values if mask is None else values.loc[mask]
    out = np.full(n, np.nan)
    if len(v):
        red = v.groupby("pid")["day"].agg(how)
        out[red.index.to_numpy(dtype=np.int64)] = red.to_numpy()
    return out


def edss_band(edss) -> np.ndarray:
    """EDSS bands of the summary: 0–3.0, 3.5–5.5, 6.0+ ("unknown" when missing)."""
    e = np.asarray(edss, dtype=float)
    out = np.select([e <= 3.0, e <= 5.5, e >= 6.0], EDSS_BANDS, default="unknown")
    return np.where(np.isnan(e), "unknown", out).astype(object)


def era(year) -> np.ndarray:
    """Transplant era: before 2010, 2010–2017, 2018+."""
    y = np.asarray(year, dtype=float)
    return np.select([y <= 2009, y <= 2017, y >= 2018], [e[2] for e in ERAS], default="unknown").astype(
        object
    )


def minimum_change(baseline_edss) -> np.ndarray:
    """Minimum meaningful EDSS change from a baseline (msprog/pymsprog): 1.5 from 0, 1.0 up to 5.0, 0.5 above."""
    b = np.asarray(baseline_edss, dtype=float)
    return np.where(b == 0, 1.5, np.where(b <= 5.0, 1.0, 0.5))


# ---- the cohort -----------------------------------------------------------------------------------


def _cohort(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp) -> pd.DataFrame:
    """Transplanted patients (day 0 up to ``as_of``) with their baseline covariates."""
    tx = tables["transplants"]
    day0 = pd.to_datetime(tx["day0"])
    tx = tx.loc[(day0 <= as_of).to_numpy()]
    cohort = pd.DataFrame(
        {
            "centre_code": tx["centre_code"].to_numpy(dtype=object).astype(str).astype(object),
            "patient_code": tx["patient_code"].to_numpy(dtype=object).astype(str).astype(object),
            "day0": pd.to_datetime(tx["day0"]).to_numpy(),
        }
    )
    locate = Locator(cohort["centre_code"].to_numpy(), cohort["patient_code"].to_numpy())

    def attach(name: str, cols: dict[str, object]) -> None:
        """Copy ``cols`` of table ``name`` onto the cohort, ``fill`` where the patient has no row or value."""
        frame = tables.get(name)
        at = locate(frame) if frame is not None else np.zeros(0, dtype=np.int64)
        rows = np.flatnonzero(at >= 0)
        for col, fill in cols.items():
            if isinstance(fill, str):
                values = np.full(len(cohort), fill, dtype=object)
                src = frame[col].to_numpy(dtype=object)[rows] if rows.size else np.zeros(0, dtype=object)
                values[at[rows]] = np.where(pd.isna(src), fill, src)
            else:
                values = np.full(len(cohort), fill)
                if rows.size:
                    values[at[rows]] = frame[col].to_numpy(dtype=values.dtype, na_value=fill)[rows]
            cohort[col] = values

    cohort["transplant_year"] = cohort["day0"].dt.year.astype(int)
    attach(
        "patients",
        {
            "phenotype": "unknown",
            "sex": "unknown",
            "birth_year": np.nan,
            "last_contact_date": np.datetime64("NaT", "ns"),
        },
    )
    attach("conditioning", {"intensity": "unknown"})
    cohort["age"] = cohort["transplant_year"].to_numpy(dtype=float) - cohort.pop("birth_year").to_numpy(
        dtype=float
    )
    cohort["era"] = era(cohort["transplant_year"])
    return cohort


def _edss_assessments(tables, locate: Locator, day0, as_of) -> pd.DataFrame:
    """EDSS from follow-up visits and eligibility assessments, one per patient and day (the visit wins),
    sorted by patient and day."""
    visits = _dated(tables.get("edss_visits"), locate, day0, "visit_date", as_of, ("edss",))
    elig = _dated(tables.get("eligibility"), locate, day0, "assessment_date", as_of, ("edss",))
    pid = np.concatenate([visits["pid"].to_numpy(), elig["pid"].to_numpy()]).astype(np.int64)
    day = np.concatenate([visits["day"].to_numpy(), elig["day"].to_numpy()])
    edss = np.concatenate(
        [pd.to_numeric(f["edss"], errors="coerce").to_numpy(dtype=float) for f in (visits, elig)]
    )
    src = np.repeat([0, 1], [len(visits), len(elig)])
    ok = ~np.isnan(edss)
    pid, day, edss, src = pid[ok], day[ok], edss[ok], src[ok]
    order = np.lexsort((src, day, pid))
    pid, day, edss = pid[order], day[order], edss[order]
    first = np.ones(pid.size, dtype=bool)
    first[1:] = (pid[1:] != pid[:-1]) | (day[1:] != day[:-1])
    return pd.DataFrame({"pid": pid[first], "day": day[first], "edss": edss[first]})


def _baseline(visits: pd.DataFrame, n: int, window_days: float) -> tuple[np.ndarray, np.ndarray]:
    """Last EDSS on or before day 0 and within ``window_days`` before it: (value, day)."""
    pre = visits.loc[(visits["day"] <= 0) & (visits["day"] >= -window_days)]
    last = pre.drop_duplicates("pid", keep="last")
    value = np.full(n, np.nan)
    day = np.full(n, np.nan)
    value[last["pid"].to_numpy()] = last["edss"].to_numpy(dtype=float)
    day[last["pid"].to_numpy()] = last["day"].to_numpy(dtype=float)
    return value, day


def _cdw_day(
    visits: pd.DataFrame, relapses: pd.DataFrame, baseline_day: np.ndarray, conf_days: float
) -> np.ndarray:
    """Day of the first CDW against the fixed pre-transplant baseline, by msprog (NaN: none / no baseline)."""
    from openhsct.outcomes.progression import msprog

    n = baseline_day.size
    out = np.full(n, np.nan)
    bl = baseline_day[visits["pid"].to_numpy()]
    use = visits.loc[(visits["day"].to_numpy() >= bl) & ~np.isnan(bl)]
    if not len(use):
        return out
    rel = relapses.loc[~np.isnan(baseline_day[relapses["pid"].to_numpy()])] if len(relapses) else relapses
    result = msprog(
        use[["pid", "day", "edss"]],
        subj_col="pid",
        value_col="edss",
        date_col="day",
        date_format="day",
        relapse=rel[["pid", "day"]] if len(rel) else None,
        event="firstCDW",
        baseline="fixed",
        conf_days=conf_days,
        relapse_to_bl=0,
        include_dates=True,
    ).results
    hit = result.loc[result["nevent"] > 0]
    if not len(hit):
        return out
    out[hit["pid"].to_numpy(dtype=np.int64)] = hit["date"].to_numpy(dtype=float)
    return out


def registry_outcomes(
    tables: dict[str, pd.DataFrame],
    *,
    as_of=None,
    trm_definition: str = "attributed",
    conf_days: float = CDW_CONF_DAYS,
    baseline_window_days: float = BASELINE_WINDOW_DAYS,
    rebaseline_from_days: float = REBASELINE_FROM_DAYS,
) -> RegistryOutcomes:
    """Every endpoint of every transplanted patient, as event/censoring times from day 0 (days).

    Columns of ``patients``: identifiers and covariates (``centre_code, patient_code, day0, transplant_year,
    phenotype, sex, age, intensity, era, baseline_edss, edss_band, has_baseline``), the raw event days
    (``death_day, relapse_day, cdw_day, rebaseline_day, mri_active_day, last_mri_day, last_edss_day,
    fu_days``) and, per endpoint in :data:`ENDPOINTS`, ``<key>_time`` / ``<key>_event`` (NaN time = patient
    not in that endpoint), plus ``trm_time`` / ``trm_cause`` (0 censored, 1 TRM, 2 competing death).

    Records dated after ``as_of`` (default: the latest date in the registry) are ignored. ``trm_definition``
    is ``"attributed"`` or ``"day100"`` (see :data:`TRM_TEXT`). CDW uses msprog with a fixed baseline,
    ``conf_days`` confirmation (24 weeks) and ``relapse_to_bl=0`` (the baseline stays the pre-transplant
    assessment even when a relapse preceded it, since that is what the endpoint compares against).
    """
    if trm_definition not in TRM_DEFINITIONS:
        raise ValueError(
            f"trm_definition must be one of {', '.join(TRM_DEFINITIONS)}; got {trm_definition!r}"
        )
    as_of = pd.Timestamp(as_of) if as_of is not None else data_as_of(tables)
    p = _cohort(tables, as_of)
    n = len(p)
    locate = Locator(p["centre_code"].to_numpy(), p["patient_code"].to_numpy())
    day0 = p["day0"].to_numpy()

    visits = _edss_assessments(tables, locate, day0, as_of)
    baseline, baseline_day = _baseline(visits, n, baseline_window_days)
    p["baseline_edss"] = baseline
    p["edss_band"] = edss_band(baseline)
    p["has_baseline"] = ~np.isnan(baseline)

    deaths = _dated(
        tables.get("deaths"), locate, day0, "death_date", as_of, ("transplant_related", "cause_category")
    )
    deaths = deaths.loc[deaths["day"] >= 0].drop_duplicates("pid")
    death_day = np.full(n, np.nan)
    death_day[deaths["pid"].to_numpy()] = deaths["day"].to_numpy()
    related = np.full(n, "", dtype=object)
    related[deaths["pid"].to_numpy()] = deaths["transplant_related"].astype(str).to_numpy()
    cause = np.full(n, "", dtype=object)
    cause[deaths["pid"].to_numpy()] = deaths["cause_category"].astype(str).to_numpy()

    relapses = _dated(tables.get("relapses"), locate, day0, "onset_date", as_of)
    scans = _dated(
        tables.get("mri_scans"),
        locate,
        day0,
        "scan_date",
        as_of,
        ("t2_assessed", "new_enlarging_t2", "gd_assessed", "gd_lesions"),
    )
    readings = scan_readings(scans.loc[scans["day"] > 0], n, rebaseline_from_days)
    mri = mri_activity(readings, n)

    post_visits = visits.loc[visits["day"] > 0]
    last_seen = np.fmax.reduce(
        [
            (p["last_contact_date"].to_numpy() - day0) / np.timedelta64(1, "D"),
            _per_patient(post_visits, n, "max"),
            _per_patient(scans, n, "max"),
            _per_patient(relapses, n, "max"),
            np.zeros(n),
        ]
    )
    cap = (as_of.to_datetime64() - day0) / np.timedelta64(1, "D")
    fu = np.minimum(last_seen, cap)
    fu = np.where(np.isnan(death_day), fu, death_day)

    p["death_day"] = death_day
    p["death_transplant_related"] = related
    p["death_cause_category"] = cause
    p["relapse_day"] = _per_patient(relapses, n, "min", (relapses["day"] > 0).to_numpy())
    p["cdw_day"] = _cdw_day(visits, relapses, baseline_day, conf_days)
    p = pd.concat([p, mri], axis=1)
    p["last_edss_day"] = _per_patient(post_visits, n, "max")
    p["fu_days"] = fu
    _add_endpoints(p, trm_definition)
    settings = {
        "trm_definition": trm_definition,
        "conf_days": conf_days,
        "baseline_window_days": baseline_window_days,
        "rebaseline_from_days": rebaseline_from_days,
        "as_of": as_of.date().isoformat(),
    }
    return RegistryOutcomes(patients=p, visits=visits, readings=readings, as_of=as_of, settings=settings)


def _first_event(fu: np.ndarray, *days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time to the first of ``days`` (NaN = did not happen), else censored at ``fu``."""
    first = np.fmin.reduce(days) if len(days) > 1 else days[0]
    event = ~np.isnan(first)
    return np.where(event, first, fu), event.astype(np.int8)


def _add_endpoints(p: pd.DataFrame, trm_definition: str) -> None:
    fu = p["fu_days"].to_numpy()
    death = p["death_day"].to_numpy()
    cdw = p["cdw_day"].to_numpy()
    relapse = p["relapse_day"].to_numpy()
    mri = p["mri_active_day"].to_numpy()
    baseline = p["has_baseline"].to_numpy()

    p["os_time"], p["os_event"] = _first_event(fu, death)
    t, e = _first_event(fu, cdw, death)
    p["pfs_time"], p["pfs_event"] = np.where(baseline, t, np.nan), e
    p["rfs_time"], p["rfs_event"] = _first_event(fu, relapse, death)
    mri_censor = np.nan_to_num(np.minimum(p["last_mri_day"].to_numpy(), fu), nan=0.0)
    p["mri_afs_time"], p["mri_afs_event"] = _first_event(mri_censor, mri, death)
    t, e = _first_event(fu, cdw, relapse, mri, death)
    p["efs_time"], p["efs_event"] = np.where(baseline, t, np.nan), e

    dead = ~np.isnan(death)
    if trm_definition == "day100":
        trm = dead & (death <= 100)
    else:
        trm = dead & (p["death_transplant_related"].to_numpy() != "no")
    p["trm_time"] = np.where(dead, death, fu)
    p["trm_cause"] = np.where(trm, 1, np.where(dead, 2, 0)).astype(np.int8)


def endpoint_data(patients: pd.DataFrame, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(time in days, event) of the patients who are in endpoint ``key``."""
    t = patients[f"{key}_time"].to_numpy(dtype=float)
    keep = ~np.isnan(t)
    return t[keep], patients[f"{key}_event"].to_numpy()[keep]


# ---- EDSS change ------------------------------------------------------------------------------------


def edss_change(
    outcomes: RegistryOutcomes, years=(1, 2, 5), window_days: float = EDSS_WINDOW_DAYS
) -> pd.DataFrame:
    """EDSS change from the pre-transplant baseline at each anniversary in ``years``.

    The follow-up value is the visit nearest to 365.25 x year days after day 0 within ±``window_days`` (the
    earlier on a tie); patients without a baseline or such a visit are left out. Improved / worse: a change
    of at least the minimum meaningful change of the baseline (:func:`minimum_change`), else stable.
    Returns one row per year: ``years, n, mean_change, median_change, improved, stable, worse``.
    """
    p = outcomes.patients
    v = outcomes.visits
    v = v.loc[v["day"] > 0]
    base = p["baseline_edss"].to_numpy(dtype=float)
    rows = []
    for y in years:
        target = y * DAYS_PER_YEAR
        dist = np.abs(v["day"].to_numpy() - target)
        near = v.assign(dist=dist).loc[dist <= window_days]
        near = near.sort_values(["pid", "dist", "day"], kind="stable").drop_duplicates("pid")
        b = base[near["pid"].to_numpy()]
        ok = ~np.isnan(b)
        change = near["edss"].to_numpy(dtype=float)[ok] - b[ok]
        delta = minimum_change(b[ok])
        worse = int((change >= delta).sum())
        improved = int((change <= -delta).sum())
        rows.append(
            {
                "years": int(y),
                "n": int(ok.sum()),
                "mean_change": float(change.mean()) if change.size else float("nan"),
                "median_change": float(np.median(change)) if change.size else float("nan"),
                "improved": improved,
                "stable": int(ok.sum()) - improved - worse,
                "worse": worse,
            }
        )
    return pd.DataFrame(rows)
