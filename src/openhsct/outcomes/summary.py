"""The centre summary the portal shows, the all-centre reference, and per-centre rows for funnel plots.

:func:`centre_summary` returns a JSON-serialisable dict (shape documented in ``docs/endpoints.md``): every
count and estimate travels with ``n`` (or ``n_risk``), the number of patients it came from, so the portal can
suppress numbers from fewer than 5 patients. No patient code ever leaves this module.

The statistics are the package's own: Kaplan–Meier (:mod:`.kaplan_meier`), cumulative incidence with Gray's
variance (:mod:`.competing_risks`), Clopper–Pearson (:mod:`.binomial`), CDW by msprog rules
(:mod:`.progression`), NEDA-3 (:mod:`.neda`); endpoints are defined in :mod:`.endpoints`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from openhsct.outcomes.binomial import binomial_ci
from openhsct.outcomes.competing_risks import cumulative_incidence
from openhsct.outcomes.currency import RATES_DATE, RATES_SOURCE, conversion_rates, convert
from openhsct.outcomes.endpoints import (
    DAYS_PER_YEAR,
    EDSS_BANDS,
    ENDPOINTS,
    SURVIVAL_KEYS,
    TRM_LABELS,
    TRM_TEXT,
    Locator,
    RegistryOutcomes,
    edss_change,
    endpoint_data,
    procedure_mortality,
    registry_outcomes,
)
from openhsct.outcomes.followup import data_as_of, followup_completeness
from openhsct.outcomes.kaplan_meier import kaplan_meier, km_summary, reverse_km_median_followup
from openhsct.outcomes.neda import neda3
from openhsct.outcomes.pro import pro_block

SURVIVAL_YEARS = (1, 2, 5, 10)
EDSS_CHANGE_YEARS = (1, 2, 5)
NEDA_YEARS = (2, 5)
CURVE_POINTS = 200
STRATA = ("phenotype", "edss_band", "intensity", "era")
# The top-level sections of a centre summary, in the order a reader meets them (the portal's contract).
SUMMARY_SECTIONS = (
    "centre", "as_of", "n_patients", "per_year", "followup", "endpoints", "trm", "trm_family", "neda3",
    "grade3_events", "edss_change", "did_not_do_well", "costs", "strata", "pro",
)
TIMING_BANDS = (
    (-math.inf, 0, "before day 0"),
    (0, 100, "day 0-100"),
    (100, 365, "day 101-365"),
    (365, 2 * 365.25, "year 1-2"),
    (2 * 365.25, 5 * 365.25, "year 2-5"),
    (5 * 365.25, math.inf, "after year 5"),
)


def _num(x) -> float | None:
    """A float for JSON, ``None`` for NaN/inf/missing."""
    if x is None or x is pd.NA or x is pd.NaT:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _thin(frame: pd.DataFrame, max_points: int) -> pd.DataFrame:
    """At most ``max_points`` rows, always keeping the first and last (the curve's shape for a plot)."""
    if len(frame) <= max_points:
        return frame
    idx = np.unique(np.linspace(0, len(frame) - 1, max_points).round().astype(int))
    return frame.iloc[idx]


# ---- survival endpoints ---------------------------------------------------------------------------


def _empty_at(years) -> list[dict]:
    return [
        {"years": int(y), "estimate": None, "lower": None, "upper": None, "std_err": None, "n_risk": 0}
        for y in years
    ]


def known_status(time_days: np.ndarray, event: np.ndarray, day: float) -> int:
    """Patients whose status at ``day`` is known: still followed at ``day`` or with the event (or a
    competing event, for a cause code) by then; those censored earlier are left out."""
    t = np.asarray(time_days, dtype=float)
    e = np.asarray(event)
    return int(((t >= day) | ((e != 0) & (t <= day))).sum())


def boundary_interval(estimate: float | None, n_known: int) -> tuple[float, float] | None:
    """The 95 % interval of a Kaplan–Meier or cumulative-incidence estimate of exactly 0 or 1: the exact
    (Clopper–Pearson) interval of 0 or all of ``n_known`` patients (those whose status at that time is
    known). The log and Greenwood intervals collapse to a point there ("100 % (100 % to 100 %)"), and the
    log-log interval is undefined; with no censoring before that time this is the exact binomial interval
    of the whole group. Returns ``(lower, upper)``, or None when the estimate lies strictly inside (0, 1)
    or no status is known."""
    if estimate is None or n_known <= 0 or 0.0 < estimate < 1.0:
        return None
    ci = binomial_ci(n_known if estimate >= 1.0 else 0, n_known, method="exact")
    return float(ci.lower), float(ci.upper)


def _with_boundary(block: dict, time_days: np.ndarray, event: np.ndarray, day: float) -> dict:
    """``block`` (estimate, lower, upper) with :func:`boundary_interval` where the estimate is 0 or 1."""
    exact = boundary_interval(block.get("estimate"), known_status(time_days, event, day))
    if exact is not None:
        block["lower"], block["upper"] = exact
        block["interval"] = "exact binomial (estimate at 0 or 1)"
    return block


def survival_at(time_days: np.ndarray, event: np.ndarray, years=SURVIVAL_YEARS) -> list[dict]:
    """Kaplan–Meier survival at each of ``years`` with its log-scale 95 % CI, standard error and number at
    risk; ``None`` beyond the last observation (R ``summary.survfit`` leaves those times out). Where the
    estimate is 0 or 1 the interval is the exact binomial one of :func:`boundary_interval`."""
    if len(time_days) == 0:
        return _empty_at(years)
    summary = km_summary(np.asarray(time_days) / DAYS_PER_YEAR, event, times=list(years))
    at = summary.at.set_index("time")
    out = []
    for y in years:
        if float(y) in at.index:
            r = at.loc[float(y)]
            block = {
                "years": int(y),
                "estimate": _num(r["survival"]),
                "lower": _num(r["lower"]),
                "upper": _num(r["upper"]),
                "std_err": _num(r["std_err"]),
                "n_risk": int(r["n_risk"]),
            }
            out.append(_with_boundary(block, time_days, event, float(y) * DAYS_PER_YEAR))
        else:
            out.append(_empty_at([y])[0])
    return out


def survival_endpoint(
    patients: pd.DataFrame, key: str, years=SURVIVAL_YEARS, max_points: int = CURVE_POINTS
) -> dict:
    """One endpoint's block: definition, n, events, the Kaplan–Meier curve (years) and estimates at ``years``."""
    spec = ENDPOINTS[key]
    t, e = endpoint_data(patients, key)
    block = {
        "label": spec.label,
        "kind": "survival" if key in SURVIVAL_KEYS else "incidence",
        "definition": spec.definition,
        "source": spec.source,
        "events_counted": spec.events,
        "censoring": spec.censoring,
        "n": int(t.size),
        "events": int(e.sum()),
        "curve": [],
        "at": survival_at(t, e, years),
    }
    if t.size:
        km = kaplan_meier(t / DAYS_PER_YEAR, e)
        steps = km.loc[(km["n_event"] > 0).to_numpy() | (np.arange(len(km)) == len(km) - 1)]
        steps = _thin(steps, max_points)
        block["curve"] = [
            {"time_years": 0.0, "survival": 1.0, "lower": 1.0, "upper": 1.0, "n_risk": int(t.size)}
        ] + [
            {
                "time_years": float(r.time),
                "survival": _num(r.survival),
                "lower": _num(r.lower),
                "upper": _num(r.upper),
                "n_risk": int(r.n_risk),
            }
            for r in steps.itertuples()
        ]
    return block


# ---- transplant-related mortality -----------------------------------------------------------------


def _cif_at(cif: pd.DataFrame, t: float) -> dict:
    row = cif.loc[cif["time"] <= t]
    if not len(row):
        return {"estimate": 0.0, "lower": 0.0, "upper": 0.0}
    r = row.iloc[-1]
    return {"estimate": _num(r["cif"]), "lower": _num(r["lower"]), "upper": _num(r["upper"])}


def trm_incidence(time_days: np.ndarray, cause: np.ndarray) -> pd.DataFrame:
    """Cumulative incidence of TRM (cause 1) with cause 2 competing; all zeros when there is no TRM death."""
    time_days = np.asarray(time_days, dtype=float)
    cause = np.asarray(cause)
    if time_days.size and (cause == 1).any():
        cif = cumulative_incidence(time_days, cause)
        return cif.loc[cif["cause"] == 1].reset_index(drop=True)
    times = np.unique(time_days)
    return pd.DataFrame(
        {
            "time": times,
            "cause": 1,
            "cif": 0.0,
            "var": 0.0,
            "lower": 0.0,
            "upper": 0.0,
            "n_risk": np.array([(time_days >= t).sum() for t in times], dtype=int),
            "n_event": 0,
        }
    )


def trm_times(patients: pd.DataFrame, definition: str) -> tuple[np.ndarray, np.ndarray]:
    """(time in days, cause: 0 censored, 1 the definition's death, 2 competing death) of every patient for a
    TRM definition computed from the patient table: ``day100`` — any death by day 100, later deaths
    competing; ``attributed`` — deaths attributed to the transplant (or unknown), others competing."""
    if definition == "day100":
        death = patients["death_day"].to_numpy(dtype=float)
        dead = ~np.isnan(death)
        cause = np.where(dead & (death <= 100), 1, np.where(dead, 2, 0)).astype(np.int8)
        return patients["nrm_time"].to_numpy(dtype=float), cause
    if definition == "attributed":
        return patients["nrm_time"].to_numpy(dtype=float), patients["nrm_cause"].to_numpy()
    raise ValueError(f"no TRM definition {definition!r}")


def trm_block(patients: pd.DataFrame, definition: str, max_points: int = CURVE_POINTS) -> dict:
    """TRM cumulative incidence at day 100 and year 1 (with n at risk), and its curve in days, for one
    definition (``day100`` or ``attributed``: :data:`openhsct.outcomes.endpoints.TRM_TEXT`)."""
    text, source = TRM_TEXT[definition]
    t, c = trm_times(patients, definition)
    block = {
        "label": TRM_LABELS[definition],
        "definition": text,
        "source": source,
        "definition_key": definition,
        "n": int(t.size),
        "deaths": int((c == 1).sum()),
        "competing_deaths": int((c == 2).sum()),
    }
    cif = trm_incidence(t, c) if t.size else None
    for name, day in (("day100", 100.0), ("year1", DAYS_PER_YEAR)):
        at = _with_boundary(_cif_at(cif, day), t, c, day) if t.size else {
            "estimate": None, "lower": None, "upper": None}
        at["n_risk"] = int((t >= day).sum())
        at["events"] = int(((c == 1) & (t <= day)).sum())
        block[name] = at
    block["curve"] = []
    if t.size:
        steps = cif.loc[(cif["n_event"] > 0).to_numpy() | (np.arange(len(cif)) == len(cif) - 1)]
        block["curve"] = [
            {"time_days": 0.0, "cif": 0.0, "lower": 0.0, "upper": 0.0, "n_risk": int(t.size)}
        ] + [
            {
                "time_days": float(r.time),
                "cif": _num(r.cif),
                "lower": _num(r.lower),
                "upper": _num(r.upper),
                "n_risk": int(r.n_risk),
            }
            for r in _thin(steps, max_points).itertuples()
        ]
    return block


def trm_family(tables: dict[str, pd.DataFrame], patients: pd.DataFrame, as_of) -> dict:
    """The three mortality measures, each labelled with its definition: ``day100`` (all-cause death by day
    100, the comparison with published series), ``attributed`` (non-relapse mortality attributed to the
    transplant, read at 1 year) and ``procedure_itt`` (deaths from the start of mobilisation, intention to
    treat, :func:`openhsct.outcomes.endpoints.procedure_mortality`)."""
    return {
        "day100": trm_block(patients, "day100"),
        "attributed": trm_block(patients, "attributed"),
        "procedure_itt": procedure_mortality(tables, as_of=as_of),
    }


# ---- other blocks ---------------------------------------------------------------------------------


def _rows_of(frame: pd.DataFrame | None, patients: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows of a patient-level table that belong to ``patients``, and each row's position in it."""
    if frame is None or not len(frame):
        return pd.DataFrame(columns=[] if frame is None else frame.columns), np.zeros(0, dtype=np.int64)
    pos = Locator(patients["centre_code"].to_numpy(), patients["patient_code"].to_numpy())(frame)
    keep = pos >= 0
    return frame.loc[keep], pos[keep]


def grade3_block(tables: dict[str, pd.DataFrame], patients: pd.DataFrame) -> dict:
    """Patients with at least one CTCAE grade >= 3 adverse event recorded, with a Clopper–Pearson CI."""
    ae, pos = _rows_of(tables.get("adverse_events"), patients)
    n = len(patients)
    grade = pd.to_numeric(ae["grade"], errors="coerce").to_numpy(dtype=float) if len(ae) else np.zeros(0)
    k = int(np.unique(pos[grade >= 3]).size)
    block = {
        "patients_with": k,
        "n": n,
        "estimate": None,
        "lower": None,
        "upper": None,
        "method": "Clopper-Pearson",
        "window": "all adverse events recorded (mobilisation onwards)",
    }
    if n:
        ci = binomial_ci(k, n, method="exact")
        block.update(estimate=ci.estimate, lower=ci.lower, upper=ci.upper)
    return block


def _quartiles(values: np.ndarray) -> dict:
    if not values.size:
        return {"median": None, "q1": None, "q3": None}
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3)}


def costs_block(
    tables: dict[str, pd.DataFrame],
    patients: pd.DataFrame,
    currency: str = "EUR",
    rates: Mapping[str, float] | None = None,
) -> dict:
    """Cost per patient (sum of the patient's records, converted to ``currency``): median and quartiles,
    overall and per category (among patients with a record in that category)."""
    multipliers = conversion_rates(currency, rates)
    costs, pos = _rows_of(tables.get("costs"), patients)
    block = {
        "currency": currency.upper(),
        "rates": multipliers,
        "rates_source": RATES_SOURCE if rates is None else "rates given by the caller",
        "rates_date": RATES_DATE if rates is None else None,
        "n_patients": 0,
        **_quartiles(np.zeros(0)),
        "by_category": [],
    }
    if not len(costs):
        return block
    amount = convert(
        costs["amount"].to_numpy(dtype=float), costs["currency"].to_numpy(dtype=object), currency, rates
    )
    totals = np.bincount(pos, weights=amount, minlength=len(patients))
    has = np.bincount(pos, minlength=len(patients)) > 0
    block.update(n_patients=int(has.sum()), **_quartiles(totals[has]))
    cat_codes, categories = pd.factorize(costs["category"].to_numpy(dtype=object), sort=True)
    cell = cat_codes.astype(np.int64) * len(patients) + pos
    sums = np.bincount(cell, weights=amount, minlength=len(categories) * len(patients)).reshape(
        len(categories), -1
    )
    present = np.bincount(cell, minlength=len(categories) * len(patients)).reshape(len(categories), -1) > 0
    for k, cat in enumerate(categories):
        values = sums[k][present[k]]
        block["by_category"].append(
            {"category": str(cat), **_quartiles(values), "n_patients": int(values.size)}
        )
    return block


def _timing(days: np.ndarray) -> np.ndarray:
    out = np.empty(days.size, dtype=object)
    for lo, hi, label in TIMING_BANDS:
        out[(days > lo) & (days <= hi)] = label
    out[days == 0] = "day 0-100"
    return out


def did_not_do_well(tables: dict[str, pd.DataFrame], patients: pd.DataFrame) -> list[dict]:
    """Deaths, confirmed disability worsening and grade >= 3 adverse events, one row each, described by
    transplant year, phenotype, EDSS band, event and timing only (never the patient code), ordered by
    transplant year and day."""
    parts = []
    dead = patients["death_day"].notna().to_numpy()
    parts.append(
        pd.DataFrame(
            {
                "pid": np.flatnonzero(dead),
                "day": patients["death_day"].to_numpy()[dead],
                "event": "death (" + patients["death_cause_category"].to_numpy()[dead].astype(str) + ")",
            }
        )
    )
    cdw = patients["cdw_day"].notna().to_numpy()
    parts.append(
        pd.DataFrame(
            {
                "pid": np.flatnonzero(cdw),
                "day": patients["cdw_day"].to_numpy()[cdw],
                "event": "confirmed disability worsening",
            }
        )
    )
    ae, pos = _rows_of(tables.get("adverse_events"), patients)
    if len(ae):
        grade = pd.to_numeric(ae["grade"], errors="coerce").to_numpy(dtype=float)
        sel = grade >= 3
        onset = pd.to_datetime(ae["onset_date"]).to_numpy()[sel]
        day = (onset - patients["day0"].to_numpy()[pos[sel]]) / np.timedelta64(1, "D")
        parts.append(
            pd.DataFrame(
                {
                    "pid": pos[sel],
                    "day": day,
                    "event": "grade "
                    + grade[sel].astype(int).astype(str)
                    + " adverse event ("
                    + ae["category"].astype(str).to_numpy()[sel]
                    + ")",
                }
            )
        )
    rows = pd.concat(parts, ignore_index=True)
    if not len(rows):
        return []
    pid = rows["pid"].to_numpy(dtype=np.int64)
    rows["transplant_year"] = patients["transplant_year"].to_numpy()[pid]
    rows["phenotype"] = patients["phenotype"].to_numpy()[pid]
    rows["edss_band"] = patients["edss_band"].to_numpy()[pid]
    rows["days_from_day0"] = np.round(rows["day"].to_numpy(dtype=float)).astype(int)
    rows["timing"] = _timing(rows["days_from_day0"].to_numpy())
    rows = rows.sort_values(["transplant_year", "days_from_day0", "event"], kind="stable")
    cols = ["transplant_year", "phenotype", "edss_band", "event", "timing", "days_from_day0"]
    columns = [
        rows[c].to_numpy(dtype=np.int64 if c in ("transplant_year", "days_from_day0") else object).tolist()
        for c in cols
    ]
    return [dict(zip(cols, r, strict=True)) for r in zip(*columns, strict=True)]


def _stratum(patients: pd.DataFrame) -> dict:
    def at5(key: str) -> dict:
        t, e = endpoint_data(patients, key)
        a = survival_at(t, e, (5,))[0]
        return {**{k: a[k] for k in ("estimate", "lower", "upper", "n_risk")}, "n": int(t.size)}

    t = patients["trm_time"].to_numpy(dtype=float)
    c = patients["trm_cause"].to_numpy()
    trm = (_with_boundary(_cif_at(trm_incidence(t, c), 100.0), t, c, 100.0) if t.size
           else {"estimate": None, "lower": None, "upper": None})
    trm.update(n_risk=int((t >= 100).sum()), n=int(t.size), events=int(((c == 1) & (t <= 100)).sum()))
    return {"n": len(patients), "pfs_5y": at5("pfs"), "os_5y": at5("os"), "trm_day100": trm}


def strata_block(patients: pd.DataFrame) -> dict:
    """5-year PFS and OS and day-100 TRM within each level of phenotype, EDSS band, intensity and era."""
    out = {}
    patients = patients[
        [*STRATA, *(f"{k}_{x}" for k in ("pfs", "os") for x in ("time", "event")), "trm_time", "trm_cause"]
    ]
    for col in STRATA:
        levels = pd.unique(patients[col].astype(str))
        order = list(EDSS_BANDS) + ["unknown"] if col == "edss_band" else sorted(levels)
        out[col] = {
            lvl: _stratum(patients.loc[(patients[col] == lvl).to_numpy()]) for lvl in order if lvl in levels
        }
    return out


def _followup(tables, outcomes: RegistryOutcomes) -> dict:
    p = outcomes.patients
    comp = followup_completeness(tables, as_of=outcomes.as_of, by=None)
    block = {
        "alive": int(comp["alive"].iloc[0]),
        "seen": int(comp["seen"].iloc[0]),
        "share": _num(comp["share"].iloc[0]),
        "window_days": 365,
        "median_followup_years": None,
        "median_followup_lower": None,
        "median_followup_upper": None,
    }
    if len(p):
        mf = reverse_km_median_followup(p["os_time"].to_numpy() / DAYS_PER_YEAR, p["os_event"].to_numpy())
        block.update(
            median_followup_years=_num(mf.median),
            median_followup_lower=_num(mf.lower),
            median_followup_upper=_num(mf.upper),
        )
    return block


def _neda_block(outcomes: RegistryOutcomes) -> list[dict]:
    """NEDA-3 at 2 and 5 years: the Kaplan–Meier event-free survival of :data:`ENDPOINTS` ``efs`` (the
    published form), with the crude proportion among evaluable patients as a secondary figure."""
    t, e = endpoint_data(outcomes.patients, "efs")
    km = survival_at(t, e, NEDA_YEARS)
    out = []
    for y, a in zip(NEDA_YEARS, km, strict=True):
        r = neda3(outcomes.patients, outcomes.readings, y)
        out.append(
            {
                "years": y,
                "n": int(t.size),
                "estimate": a["estimate"],
                "lower": a["lower"],
                "upper": a["upper"],
                "n_risk": a["n_risk"],
                "method": "Kaplan-Meier (event-free survival)",
                "crude": {
                    "n": r.n,
                    "n_evaluable": r.n_evaluable,
                    "n_neda": r.n_neda,
                    "estimate": _num(r.estimate),
                    "lower": _num(r.lower),
                    "upper": _num(r.upper),
                    "status_counts": r.status_counts,
                    "first_failure_counts": r.first_failure_counts,
                    "method": "proportion among evaluable patients (Clopper-Pearson)",
                },
            }
        )
    return out


# ---- the summaries -----------------------------------------------------------------------------------


def _tables_of(tables: dict[str, pd.DataFrame], centre_code: str) -> dict[str, pd.DataFrame]:
    return {
        name: f.loc[(f["centre_code"].astype(str) == centre_code).to_numpy()] if "centre_code" in f else f
        for name, f in tables.items()
    }


def summarise(
    tables: dict[str, pd.DataFrame],
    outcomes: RegistryOutcomes,
    centre: dict,
    *,
    currency: str = "EUR",
    rates: Mapping[str, float] | None = None,
) -> dict:
    """The summary dict of the patients in ``outcomes`` (whose rows ``tables`` holds)."""
    p = outcomes.patients
    years = p["transplant_year"].value_counts().sort_index()
    return {
        "centre": centre,
        "as_of": outcomes.as_of.date().isoformat(),
        "n_patients": len(p),
        "settings": outcomes.settings,
        "per_year": [{"year": int(y), "n": int(n)} for y, n in years.items()],
        "followup": _followup(tables, outcomes),
        "endpoints": {key: survival_endpoint(p, key) for key in ENDPOINTS},
        "trm": trm_block(p, outcomes.settings["trm_definition"]),
        "trm_family": trm_family(tables, p, outcomes.as_of),
        "neda3": _neda_block(outcomes),
        "grade3_events": grade3_block(tables, p),
        "edss_change": [
            {k: (_num(v) if isinstance(v, float) else int(v)) for k, v in r.items()}
            for r in edss_change(outcomes, EDSS_CHANGE_YEARS).to_dict("records")
        ],
        "did_not_do_well": did_not_do_well(tables, p),
        "costs": costs_block(tables, p, currency, rates),
        "strata": strata_block(p),
        "pro": pro_block(tables, p),
    }


def _centre_info(tables: dict[str, pd.DataFrame], centre_code: str) -> dict:
    from openhsct.errors import OpenHSCTError

    centres = tables["centres"]
    row = centres.loc[(centres["centre_code"].astype(str) == centre_code).to_numpy()]
    if not len(row):
        known = ", ".join(sorted(centres["centre_code"].astype(str)))
        raise OpenHSCTError(
            f"no centre {centre_code!r} in the registry (known: {known or 'none'})", exit_code=2
        )
    r = row.iloc[0]

    def text(v):
        return None if pd.isna(v) or str(v) == "" else str(v)

    return {
        "centre_code": centre_code,
        "name": text(r["name"]),
        "country": text(r["country"]),
        "city": text(r["city"]),
        "synthetic": str(r["synthetic"]).lower() == "yes",
    }


def centre_summary(
    tables: dict[str, pd.DataFrame],
    centre_code: str,
    *,
    as_of=None,
    currency: str = "EUR",
    rates: Mapping[str, float] | None = None,
    trm_definition: str = "day100",
    definition: str = "registry",
) -> dict:
    """The summary of one centre (JSON-serialisable dict; see ``docs/endpoints.md`` for every key).

    ``as_of`` defaults to the data-as-of date of the whole registry, so that every centre is cut at the
    same date. Costs are converted to ``currency`` with the documented fixed rates, or ``rates``.
    """
    centre = _centre_info(tables, centre_code)
    as_of = pd.Timestamp(as_of) if as_of is not None else data_as_of(tables)
    sub = _tables_of(tables, centre_code)
    outcomes = registry_outcomes(sub, as_of=as_of, trm_definition=trm_definition, definition=definition)
    return summarise(sub, outcomes, centre, currency=currency, rates=rates)


def all_centres_summary(
    tables: dict[str, pd.DataFrame],
    *,
    as_of=None,
    currency: str = "EUR",
    rates: Mapping[str, float] | None = None,
    trm_definition: str = "day100",
    outcomes: RegistryOutcomes | None = None,
    definition: str = "registry",
) -> dict:
    """The same summary over every centre together: the reference a centre is read against."""
    centres = tables["centres"]
    centre = {
        "centre_code": "ALL",
        "name": "All centres",
        "country": None,
        "city": None,
        "synthetic": bool(len(centres))
        and bool((centres["synthetic"].astype(str).str.lower() == "yes").all()),
        "n_centres": len(centres),
    }
    if outcomes is None:
        outcomes = registry_outcomes(tables, as_of=as_of, trm_definition=trm_definition, definition=definition)
    return summarise(tables, outcomes, centre, currency=currency, rates=rates)


# ---- centre comparison ----------------------------------------------------------------------------


def expected_trm(patients: pd.DataFrame, day: float = 100.0) -> tuple[np.ndarray, np.ndarray, dict]:
    """Observed TRM by ``day`` (0/1) and its expected probability per patient, from a logistic model on
    baseline EDSS, age and phenotype fitted on all centres (statsmodels GLM, binomial, logit link).

    Only patients whose outcome at ``day`` is known enter (dead by then, or followed at least that long);
    others get NaN. A missing baseline EDSS or age is set to the cohort median. With no TRM death at all,
    or a model that cannot be fitted, the expected probability is the overall proportion.
    """
    import statsmodels.api as sm

    t = patients["trm_time"].to_numpy(dtype=float)
    c = patients["trm_cause"].to_numpy()
    known = (t >= day) | ((c > 0) & (t <= day))
    y = ((c == 1) & (t <= day)).astype(float)
    expected = np.full(len(patients), np.nan)
    info = {"model": f"logit(TRM by day {day:g}) ~ baseline EDSS + age + phenotype", "fitted": False}
    if not known.any():
        return np.where(known, y, np.nan), expected, info
    k = patients.loc[known]
    edss = k["baseline_edss"].astype(float)
    age = k["age"].astype(float)
    x = pd.DataFrame(
        {
            "edss": edss.fillna(edss.median() if edss.notna().any() else 0.0),
            "age": age.fillna(age.median() if age.notna().any() else 0.0),
        }
    )
    dummies = pd.get_dummies(k["phenotype"].astype(str), prefix="phenotype", drop_first=True, dtype=float)
    x = sm.add_constant(pd.concat([x, dummies], axis=1), has_constant="add")
    yk = y[known]
    p = np.full(int(known.sum()), yk.mean())
    x = x.loc[:, (x.nunique() > 1) | (x.columns == "const")]
    if 0 < yk.sum() < yk.size:
        with warnings.catch_warnings():
            # Perfect separation or a singular design: no usable model, keep the overall proportion.
            warnings.simplefilter("error")
            try:
                fit = sm.GLM(yk, x.to_numpy(dtype=float), family=sm.families.Binomial()).fit()
                if np.isfinite(fit.params).all():
                    p = fit.predict(x.to_numpy(dtype=float))
                    info.update(fitted=True, params=dict(zip(x.columns, map(float, fit.params), strict=True)))
            except (Warning, ValueError, np.linalg.LinAlgError):
                pass
    expected[known] = p
    return np.where(known, y, np.nan), expected, info


def centre_comparison(
    tables: dict[str, pd.DataFrame],
    *,
    as_of=None,
    trm_definition: str = "day100",
    outcomes: RegistryOutcomes | None = None,
    definition: str = "registry",
) -> pd.DataFrame:
    """One row per centre for funnel plots: ``n``, TRM events / n with known day-100 status / CIF at day
    100, 5-year PFS and its standard error, follow-up completeness, expected TRM (E), O/E and the shrunk
    ratio (O + 2) / (E + 2)."""
    if outcomes is None:
        outcomes = registry_outcomes(tables, as_of=as_of, trm_definition=trm_definition, definition=definition)
    p = outcomes.patients
    observed, expected, info = expected_trm(p)
    comp = followup_completeness(tables, as_of=outcomes.as_of, by="centre_code")
    rows = []
    codes = p["centre_code"].to_numpy()
    for code in sorted(pd.unique(codes)):
        sel = codes == code
        sub = p.loc[sel]
        t = sub["trm_time"].to_numpy(dtype=float)
        c = sub["trm_cause"].to_numpy()
        cif100 = _cif_at(trm_incidence(t, c), 100.0)
        pt, pe = endpoint_data(sub, "pfs")
        pfs5 = survival_at(pt, pe, (5,))[0]
        o = float(np.nansum(observed[sel]))
        e = float(np.nansum(expected[sel]))
        rows.append(
            {
                "centre_code": code,
                "n": int(sel.sum()),
                "trm_events_day100": int(o),
                "trm_n_day100": int((~np.isnan(observed[sel])).sum()),
                "trm_n_risk_day100": int((t >= 100).sum()),
                "trm_cif_day100": cif100["estimate"],
                "trm_cif_day100_lower": cif100["lower"],
                "trm_cif_day100_upper": cif100["upper"],
                "pfs_n": int(pt.size),
                "pfs_5y": pfs5["estimate"],
                "pfs_5y_se": pfs5["std_err"],
                "pfs_5y_n_risk": pfs5["n_risk"],
                "followup_alive": int(comp["alive"].get(code, 0)),
                "followup_seen": int(comp["seen"].get(code, 0)),
                "followup_share": _num(comp["share"].get(code, np.nan)),
                "trm_expected_day100": e,
                "trm_o_over_e": o / e if e > 0 else np.nan,
                "trm_shrunk_ratio": (o + 2.0) / (e + 2.0),
            }
        )
    out = pd.DataFrame(rows)
    out.attrs.update(model=info, as_of=outcomes.as_of.date().isoformat(), trm_definition=trm_definition)
    return out
