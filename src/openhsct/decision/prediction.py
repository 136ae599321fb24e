""" "Someone like me": an individual prediction of progression-free survival and transplant-related
mortality after aHSCT, fitted on the registry.

* **Training table** (:func:`cohort_from_registry`): one row per transplanted patient, built from the outcomes
  engine (:func:`openhsct.outcomes.endpoints.registry_outcomes`), so the endpoints are those of
  ``docs/endpoints.md``: PFS is the engine's ``pfs_time``/``pfs_event``; TRM is death from any cause by
  day 100 (the UK 2025 convention; Boffa et al. 2021). The person's inputs are the pre-transplant baseline:
  age at transplant, sex, phenotype, the engine's baseline EDSS, years since onset, and, from the last
  eligibility assessment on or before day 0, relapses in the prior 12 months, Gd+ lesions and prior DMTs.
* **PFS** (:func:`fit_prediction_model`): a Cox model (:func:`openhsct.outcomes.cox_ph`, Efron ties; Cox
  1972, J R Stat Soc B 34:187) with the Breslow (1972) baseline cumulative hazard
  H0(t) = sum_{t_j <= t} d_j / sum_{i in R_j} exp(x_i'b). For a person z, H(t|z) = H0(t) exp(z'b) and
  S(t|z) = exp(-H(t|z)); its variance is Tsiatis' (1981, Ann Stat 9:93)
  exp(2 z'b) [ sum_{t_j <= t} d_j / S0_j^2 + q(t)' V q(t) ], q(t) = sum_{t_j <= t} (z - xbar_j) d_j / S0_j,
  as R ``survfit.coxph(ctype = 1)``; the limits are taken on the log(-log S) scale (delta method). The
  person's curve stops at the last event time with at least 10 patients at risk (Pocock et al. 2002, Lancet
  359:1686, doi:10.1016/S0140-6736(02)08594-X): beyond it the steps rest on a handful of patients, and the
  MS model carries the last annual hazard forward.
  Validation: Harrell's C apparent and corrected for optimism by the bootstrap (Harrell, Lee & Mark 1996),
  calibration at the horizon by quintile of predicted risk against Kaplan-Meier, and the calibration slope
  (see :mod:`openhsct.decision.validation`). With ``landmark_years`` only the patients still event-free at
  the landmark are used, with time counted from it (van Houwelingen 2007, Scand J Stat 34:70).
* **TRM**: rare, so never fitted with more covariates than the events allow (10 events per covariate;
  Peduzzi et al. 1996, J Clin Epidemiol 49:1373). Below 10 events the pooled registry rate with its exact
  Clopper-Pearson interval is given to everyone; otherwise Firth's penalised logistic regression
  (:mod:`openhsct.decision.firth`) on age (10-19 events) or on age and EDSS (20 or more).
* **Refusal** (:func:`predict_individual`): no number is given outside the training data: a numeric input
  outside the training minimum-maximum, a category with fewer than 20 patients or 5 events, or a model
  fitted on fewer than 50 events raise :class:`OutsideTrainingData`, naming each offending input.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from openhsct.decision.firth import FirthLogit, firth_logistic
from openhsct.decision.validation import calibration_by_group, harrell_c
from openhsct.errors import OpenHSCTError

DAYS_PER_YEAR = 365.25
PERSON_KEYS = (
    "age_years",
    "sex",
    "phenotype",
    "edss",
    "disease_duration_years",
    "relapses_12m",
    "gd_lesions",
    "prior_dmts",
)
NUMERIC_KEYS = ("age_years", "edss", "disease_duration_years", "relapses_12m", "gd_lesions", "prior_dmts")
COUNT_KEYS = ("relapses_12m", "gd_lesions", "prior_dmts")
CATEGORIES = {"sex": ("F", "M"), "phenotype": ("RRMS", "SPMS", "PPMS")}
REFERENCE_LEVEL = {"sex": "F", "phenotype": "RRMS"}
EDSS_BANDS = (("0-3.5", 0.0, 3.5), ("4-5.5", 4.0, 5.5), ("6+", 6.0, 9.5))
LABELS = {
    "age_years": "age (years)",
    "sex": "sex",
    "phenotype": "phenotype",
    "edss": "EDSS",
    "disease_duration_years": "disease duration (years)",
    "relapses_12m": "relapses in the last 12 months",
    "gd_lesions": "Gd+ lesions",
    "prior_dmts": "prior DMTs",
}
MIN_CATEGORY_PATIENTS = 20
MIN_CATEGORY_EVENTS = 5
MIN_MODEL_EVENTS = 50
MIN_AT_RISK = 10
EVENTS_PER_COVARIATE = 10
TRM_DAY = 100
TRM_COVARIATES = ("age_years", "edss")


class InvalidPerson(OpenHSCTError, ValueError):
    """A person's inputs break the input rules (missing key, unknown category, EDSS off the 0.5 grid, …)."""

    exit_code = 2


class OutsideTrainingData(OpenHSCTError, ValueError):
    """The person lies outside what the model was trained on; ``problems`` names each input and the
    training range. The CLI and the portal show the message instead of a number."""

    exit_code = 3

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        message = (
            "No individual prediction: this person lies outside the registry data the model was trained on. "
            + "; ".join(self.problems)
            + "."
        )
        super().__init__(message, details=self.problems)


class NotEnoughData(OpenHSCTError, ValueError):
    """The registry holds too little to fit the model at all (no patient or no event)."""

    exit_code = 2


# ---- the person ------------------------------------------------------------------------------------


def _number(value, key: str, problems: list[str]) -> float | None:
    if isinstance(value, bool) or value is None:
        problems.append(f"{key}: a number is needed (got {value!r})")
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        problems.append(f"{key}: a number is needed (got {value!r})")
        return None
    if not math.isfinite(x) or x < 0:
        problems.append(f"{key}: must be a finite number >= 0 (got {value!r})")
        return None
    return x


def validate_person(person: Mapping) -> dict:
    """The person's eight inputs checked and normalised (numbers as float, categories upper-case).

    Returns a new dict with exactly :data:`PERSON_KEYS`; raises :class:`InvalidPerson` listing every broken
    rule: a missing key, sex not F/M, phenotype not RRMS/SPMS/PPMS, EDSS not in 0-9.5 by 0.5, a negative
    or non-whole count.
    """
    if not isinstance(person, Mapping):
        raise InvalidPerson(f"a person is a mapping of {', '.join(PERSON_KEYS)}")
    problems: list[str] = [f"{k}: missing" for k in PERSON_KEYS if k not in person]
    unknown = sorted(set(person) - set(PERSON_KEYS))
    problems += [f"{k}: not an input of the model (inputs: {', '.join(PERSON_KEYS)})" for k in unknown]
    out: dict = {}
    for key, levels in CATEGORIES.items():
        if key in person:
            value = str(person[key]).strip().upper()
            if value not in levels:
                problems.append(f"{key}: must be one of {'/'.join(levels)} (got {person[key]!r})")
            out[key] = value
    for key in NUMERIC_KEYS:
        if key not in person:
            continue
        x = _number(person[key], key, problems)
        if x is None:
            continue
        if key == "edss" and (x > 9.5 or not float(2 * x).is_integer()):
            problems.append(f"edss: must be 0 to 9.5 in steps of 0.5 (got {person[key]!r})")
        if key in COUNT_KEYS and not x.is_integer():
            problems.append(f"{key}: must be a whole number (got {person[key]!r})")
        out[key] = x
    if problems:
        raise InvalidPerson("the person's inputs are not valid: " + "; ".join(problems), details=problems)
    return {k: out[k] for k in PERSON_KEYS}


def edss_band(edss) -> np.ndarray:
    """EDSS band of the "similar patients": 0-3.5, 4-5.5, 6+ (``None`` where missing)."""
    e = np.asarray(edss, dtype=float)
    out = np.select([e <= 3.5, e <= 5.5, e >= 6.0], [b[0] for b in EDSS_BANDS], default=None)
    return np.where(np.isnan(e), None, out).astype(object)


# ---- the training table ----------------------------------------------------------------------------


def _baseline_eligibility(tables: dict[str, pd.DataFrame], patients: pd.DataFrame) -> pd.DataFrame:
    """Relapses in the prior 12 months, Gd+ lesions and prior DMT count from each patient's last eligibility
    assessment on or before day 0 (NaN where none)."""
    from openhsct.outcomes.endpoints import Locator

    n = len(patients)
    out = pd.DataFrame({k: np.full(n, np.nan) for k in COUNT_KEYS})
    elig = tables.get("eligibility")
    if elig is None or not len(elig):
        return out
    locate = Locator(patients["centre_code"].to_numpy(), patients["patient_code"].to_numpy())
    pid = locate(elig)
    when = pd.to_datetime(elig["assessment_date"]).to_numpy()
    day0 = patients["day0"].to_numpy()
    ok = pid >= 0
    ok[ok] &= when[ok] <= day0[pid[ok]]
    rows = pd.DataFrame(
        {
            "pid": pid[ok],
            "when": when[ok],
            "relapses_12m": pd.to_numeric(elig["relapses_prior_12m"], errors="coerce").to_numpy()[ok],
            "gd_lesions": pd.to_numeric(elig["gd_lesions"], errors="coerce").to_numpy()[ok],
            "prior_dmts": pd.to_numeric(elig["prior_dmt_count"], errors="coerce").to_numpy()[ok],
        }
    )
    last = rows.sort_values(["pid", "when"], kind="stable").drop_duplicates("pid", keep="last")
    for key in COUNT_KEYS:
        out.loc[last["pid"].to_numpy(), key] = last[key].to_numpy(dtype=float)
    return out


def _disease_duration(tables: dict[str, pd.DataFrame], patients: pd.DataFrame) -> np.ndarray:
    """Years from MS onset to day 0 (NaN where the onset date is missing or after day 0)."""
    from openhsct.outcomes.endpoints import Locator

    source = tables["patients"]
    locate = Locator(patients["centre_code"].to_numpy(), patients["patient_code"].to_numpy())
    pid = locate(source)
    onset = np.full(len(patients), np.datetime64("NaT", "ns"))
    ok = pid >= 0
    onset[pid[ok]] = pd.to_datetime(source["onset_date"]).to_numpy()[ok]
    years = (patients["day0"].to_numpy() - onset) / np.timedelta64(1, "D") / DAYS_PER_YEAR
    return np.where(years >= 0, years, np.nan)


def cohort_from_registry(tables: dict[str, pd.DataFrame], *, as_of=None, outcomes=None) -> pd.DataFrame:
    """The training table: one row per transplanted patient.

    Columns: the person keys (:data:`PERSON_KEYS`; NaN/None where the registry lacks them), ``pfs_years``
    and ``pfs_event`` (the engine's PFS in years; NaN without a pre-transplant EDSS) and ``trm_event``
    (1 = death from any cause by day 100, 0 = alive at day 100 or died later, NaN = followed for less than
    100 days). ``tables`` are the typed exchange tables; ``outcomes`` may pass an already computed
    :class:`~openhsct.outcomes.endpoints.RegistryOutcomes` of the same tables.
    """
    from openhsct.outcomes.endpoints import registry_outcomes

    if outcomes is None:
        outcomes = registry_outcomes(tables, as_of=as_of)
    p = outcomes.patients
    sex = p["sex"].astype(str).str.lower().map({"female": "F", "male": "M"})
    phenotype = p["phenotype"].astype(str).where(p["phenotype"].astype(str).isin(CATEGORIES["phenotype"]))
    death = p["death_day"].to_numpy(dtype=float)
    fu = p["fu_days"].to_numpy(dtype=float)
    trm = np.where(death <= TRM_DAY, 1.0, np.where((death > TRM_DAY) | (fu >= TRM_DAY), 0.0, np.nan))
    cohort = pd.DataFrame(
        {
            "age_years": p["age"].to_numpy(dtype=float),
            "sex": sex.astype(object).where(sex.notna(), None).to_numpy(),
            "phenotype": phenotype.astype(object).where(phenotype.notna(), None).to_numpy(),
            "edss": p["baseline_edss"].to_numpy(dtype=float),
            "disease_duration_years": _disease_duration(tables, p),
        }
    )
    cohort = pd.concat([cohort, _baseline_eligibility(tables, p)], axis=1)
    cohort["pfs_years"] = p["pfs_time"].to_numpy(dtype=float) / DAYS_PER_YEAR
    cohort["pfs_event"] = np.where(
        np.isnan(cohort["pfs_years"]), np.nan, p["pfs_event"].to_numpy(dtype=float)
    )
    cohort["trm_event"] = trm
    return cohort[[*PERSON_KEYS, "pfs_years", "pfs_event", "trm_event"]]


# ---- the fitted model ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TrmModel:
    """Day-100 transplant-related mortality: the pooled rate (``method="pooled"``) or a Firth model."""

    method: str
    events: int
    n: int
    estimate: float
    lower: float
    upper: float
    covariates: tuple[str, ...]
    note: str
    firth: FirthLogit | None = field(default=None, repr=False)
    conf_level: float = 0.95

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("firth", "covariates")}]
        )


@dataclass(frozen=True, eq=False)
class PredictionModel:
    """The fitted PFS Cox model with its Breslow baseline and validation, and the TRM model.

    ``baseline`` has one row per distinct event time (``time`` in years from transplant or landmark,
    ``events``, ``n_risk``, ``s0``: the risk-set sum of exp(x'b) with centred covariates, ``hazard`` = events / s0) and
    ``xbar``: the risk-weighted covariate means at those times (centred), for the variance of a prediction.
    """

    covariates: tuple[str, ...]
    coef: pd.Series
    covariance: pd.DataFrame
    means: pd.Series
    baseline: pd.DataFrame = field(repr=False)
    xbar: np.ndarray = field(repr=False)
    horizon_years: float
    landmark_years: float | None
    n_patients: int
    n_events: int
    c_index: float
    c_index_apparent: float
    calibration: pd.DataFrame = field(repr=False)
    calibration_slope: float
    calibration_slope_apparent: float
    n_bootstrap: int
    n_bootstrap_used: int
    seed: int
    ranges: dict
    categories: pd.DataFrame = field(repr=False)
    excluded: dict
    trm: TrmModel
    training: pd.DataFrame | None = field(repr=False)
    max_followup_years: float
    conf_level: float = 0.95
    #: For a model read back from a release (``training`` is None): patients per ``"phenotype|band"`` group
    #: as published (None where the disclosure rules suppressed the count).
    similar_counts: Mapping[str, int | None] | None = field(default=None, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The Cox coefficients: one row per covariate (coef, se, hazard ratio and its limits)."""
        from scipy.stats import norm

        z = norm.ppf(1 - (1 - self.conf_level) / 2)
        se = np.sqrt(np.diag(self.covariance.to_numpy()))
        return pd.DataFrame(
            {
                "coef": self.coef.to_numpy(),
                "se": se,
                "hazard_ratio": np.exp(self.coef.to_numpy()),
                "hr_lower": np.exp(self.coef.to_numpy() - z * se),
                "hr_upper": np.exp(self.coef.to_numpy() + z * se),
            },
            index=pd.Index(self.covariates, name="covariate"),
        )

    def summary(self) -> dict:
        """Plain-Python description of the model and its validation (for JSON and reports)."""
        return {
            "n_patients": self.n_patients,
            "n_events": self.n_events,
            "horizon_years": self.horizon_years,
            "landmark_years": self.landmark_years,
            "c_index": self.c_index,
            "c_index_apparent": self.c_index_apparent,
            "calibration_slope": self.calibration_slope,
            "calibration_slope_apparent": self.calibration_slope_apparent,
            "n_bootstrap": self.n_bootstrap,
            "n_bootstrap_used": self.n_bootstrap_used,
            "coefficients": _records(self.to_frame().reset_index()),
            "calibration": _records(self.calibration),
            "ranges": {k: list(v) for k, v in self.ranges.items()},
            "categories": _records(self.categories),
            "excluded": dict(self.excluded),
            "trm": {
                "method": self.trm.method,
                "events": self.trm.events,
                "n": self.trm.n,
                "estimate": self.trm.estimate,
                "lower": self.trm.lower,
                "upper": self.trm.upper,
                "covariates": list(self.trm.covariates),
                "note": self.trm.note,
            },
        }


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts of plain Python values, NaN as None."""
    out = []
    for rec in frame.to_dict("records"):
        clean = {}
        for k, v in rec.items():
            v = v.item() if hasattr(v, "item") else v
            clean[str(k)] = None if isinstance(v, float) and math.isnan(v) else v
        out.append(clean)
    return out


def _check_cohort(cohort: pd.DataFrame) -> None:
    missing = [c for c in (*PERSON_KEYS, "pfs_years", "pfs_event", "trm_event") if c not in cohort.columns]
    if missing:
        raise ValueError(f"the cohort lacks the columns {', '.join(missing)} (see cohort_from_registry)")


def _pfs_rows(cohort: pd.DataFrame, landmark_years: float | None) -> tuple[pd.DataFrame, dict]:
    """Complete cases for the PFS model (after the landmark), and how many were left out and why."""
    excluded: dict[str, int] = {}
    data = cohort.loc[cohort["pfs_years"].notna()].copy()
    excluded["no PFS (no pre-transplant EDSS)"] = int(len(cohort) - len(data))
    complete = data[list(PERSON_KEYS)].notna().all(axis=1)
    for key, levels in CATEGORIES.items():
        complete &= data[key].isin(levels)
    excluded["missing or unknown inputs"] = int((~complete).sum())
    data = data.loc[complete]
    if landmark_years is not None:
        alive = data["pfs_years"] > landmark_years
        excluded[f"event or censored before the {landmark_years:g}-year landmark"] = int((~alive).sum())
        data = data.loc[alive].copy()
        data["pfs_years"] = data["pfs_years"] - landmark_years
    return data.reset_index(drop=True), excluded


def _category_support(data: pd.DataFrame) -> pd.DataFrame:
    """Patients and PFS events per category level, and whether the level is supported (>= 20 and >= 5)."""
    rows = []
    for key, levels in CATEGORIES.items():
        for level in levels:
            mine = data[key] == level
            n, events = int(mine.sum()), int(data.loc[mine, "pfs_event"].sum())
            rows.append(
                {
                    "input": key,
                    "level": level,
                    "n": n,
                    "events": events,
                    "supported": n >= MIN_CATEGORY_PATIENTS and events >= MIN_CATEGORY_EVENTS,
                }
            )
    return pd.DataFrame(rows)


def _design(data: pd.DataFrame, covariates: tuple[str, ...]) -> np.ndarray:
    """The covariate matrix: numeric inputs as they are, ``<key>_<level>`` as 0/1 indicators."""
    cols = []
    for c in covariates:
        if c in NUMERIC_KEYS:
            cols.append(data[c].to_numpy(dtype=float))
        else:
            key, level = c.split("=", 1)
            cols.append((data[key] == level).to_numpy(dtype=float))
    return np.column_stack(cols) if cols else np.zeros((len(data), 0))


def _choose_covariates(data: pd.DataFrame, support: pd.DataFrame) -> tuple[str, ...]:
    """Numeric inputs that vary, and an indicator ``key=level`` for each supported non-reference level."""
    chosen = [k for k in NUMERIC_KEYS if data[k].nunique() > 1]
    for key in CATEGORIES:
        ok = support.loc[(support["input"] == key) & support["supported"], "level"].tolist()
        present = [lv for lv in ok if (data[key] == lv).any()]
        reference = (
            REFERENCE_LEVEL[key] if REFERENCE_LEVEL[key] in present else (present[0] if present else None)
        )
        chosen += [f"{key}={lv}" for lv in present if lv != reference]
    return tuple(chosen)


def _cox(x: np.ndarray, time: np.ndarray, event: np.ndarray, names: tuple[str, ...]):
    from openhsct.outcomes.cox import cox_ph

    frame = pd.DataFrame(x, columns=list(names))
    frame["__time"] = time
    frame["__event"] = event
    return cox_ph(frame, "__time", "__event")


def _breslow(
    xc: np.ndarray, time: np.ndarray, event: np.ndarray, beta: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """Breslow baseline (time, events, s0, hazard) at each distinct event time, and xbar (centred)."""
    order = np.argsort(time, kind="stable")
    t, e, x = time[order], event[order], xc[order]
    w = np.exp(x @ beta)
    tail_w = np.cumsum(w[::-1])[::-1]
    tail_wx = np.cumsum((w[:, None] * x)[::-1], axis=0)[::-1]
    times, counts = np.unique(t[e == 1], return_counts=True)
    first = np.searchsorted(t, times, side="left")
    s0 = tail_w[first]
    base = pd.DataFrame(
        {"time": times, "events": counts, "n_risk": t.size - first, "s0": s0, "hazard": counts / s0}
    )
    return base, tail_wx[first] / s0[:, None]


def _survival_curve(
    coef: np.ndarray,
    covariance: np.ndarray,
    baseline: pd.DataFrame,
    xbar: np.ndarray,
    zc: np.ndarray,
    times: np.ndarray,
    conf_level: float,
) -> pd.DataFrame:
    """S(t|z) for centred covariates ``zc``, the standard error of H(t|z) (Tsiatis) and the log(-log)
    limits at ``times``."""
    from openhsct.outcomes.kaplan_meier import survival_ci

    risk = float(np.exp(zc @ coef))
    hazard, s0, events = (baseline[c].to_numpy() for c in ("hazard", "s0", "events"))
    idx = np.searchsorted(baseline["time"].to_numpy(), times, side="right")
    cum = np.concatenate(([0.0], np.cumsum(hazard)))[idx]
    varh = np.concatenate(([0.0], np.cumsum(events / s0**2)))[idx]
    q_steps = (zc[None, :] - xbar) * hazard[:, None]
    q = np.vstack([np.zeros((1, zc.size)), np.cumsum(q_steps, axis=0)])[idx]
    quad = np.einsum("ij,jk,ik->i", q, covariance, q)
    se_h = np.sqrt(risk**2 * (varh + quad))
    surv = np.exp(-cum * risk)
    lower, upper = survival_ci(surv, se_h, "log-log", conf_level)
    at_one = surv == 1.0
    return pd.DataFrame(
        {
            "time": times,
            "survival": surv,
            "std_err": se_h,
            "lower": np.where(at_one, 1.0, lower),
            "upper": np.where(at_one, 1.0, upper),
        }
    )


def _survival_at(model: PredictionModel, z: np.ndarray, times: np.ndarray) -> pd.DataFrame:
    """S(t|z) with its log(-log) limits at ``times`` for the uncentred covariate vector ``z``."""
    return _survival_curve(
        model.coef.to_numpy(),
        model.covariance.to_numpy(),
        model.baseline,
        model.xbar,
        z - model.means.to_numpy(),
        times,
        model.conf_level,
    ).drop(columns="std_err")


def breslow_survival(
    data: pd.DataFrame, duration_col: str, event_col: str, newdata: pd.DataFrame, times, conf_level=0.95
) -> pd.DataFrame:
    """Predicted survival from a Cox model (Efron ties) with the Breslow baseline, as R
    ``summary(survfit(coxph(...), newdata, ctype = 1, conf.type = "log-log"), times)``.

    ``data``: the duration, the event and the covariates (every other column); ``newdata``: the same
    covariates. Returns ``row, time, survival, std_err, lower, upper`` (``std_err``: of the cumulative hazard,
    R's ``std.err``).
    """
    from openhsct.outcomes.cox import cox_ph

    fit = cox_ph(data, duration_col, event_col, conf_level=conf_level)
    names = list(fit.coef.index)
    x = data[names].to_numpy(dtype=float)
    means = x.mean(axis=0)
    baseline, xbar = _breslow(
        x - means,
        data[duration_col].to_numpy(dtype=float),
        data[event_col].to_numpy(dtype=int),
        fit.coef.to_numpy(),
    )
    grid = np.asarray(times, dtype=float)
    out = []
    for row, z in enumerate(newdata[names].to_numpy(dtype=float)):
        curve = _survival_curve(
            fit.coef.to_numpy(), fit.covariance.to_numpy(), baseline, xbar, z - means, grid, conf_level
        )
        out.append(curve.assign(row=row))
    return pd.concat(out, ignore_index=True)[["row", "time", "survival", "std_err", "lower", "upper"]]


def _bootstrap(
    x: np.ndarray, t: np.ndarray, e: np.ndarray, names: tuple[str, ...], n_bootstrap: int, seed: int
) -> tuple[float, float, int]:
    """Harrell's optimism of C (mean of C_boot - C_orig) and the mean slope of the bootstrap models' linear
    predictors on the original data; with the number of replicates that could be fitted."""
    rng = np.random.default_rng(seed)
    optimism, slopes = [], []
    for _ in range(n_bootstrap):
        idx = rng.integers(0, t.size, t.size)
        if e[idx].sum() == 0:
            continue
        try:
            fit = _cox(x[idx], t[idx], e[idx], names)
            beta = fit.coef.to_numpy()
            lp_orig = x @ beta
            slope = _cox(lp_orig[:, None], t, e, ("lp",)).coef.iloc[0]
        except (ValueError, np.linalg.LinAlgError):
            continue
        optimism.append(harrell_c(t[idx], x[idx] @ beta, e[idx]) - harrell_c(t, lp_orig, e))
        slopes.append(slope)
    if not optimism:
        return float("nan"), float("nan"), 0
    return float(np.mean(optimism)), float(np.mean(slopes)), len(optimism)


def fit_trm_model(cohort: pd.DataFrame, conf_level: float = 0.95) -> TrmModel:
    """Day-100 TRM: the pooled rate with its Clopper-Pearson interval below 10 events per covariate,
    else Firth's logistic regression on age (10-19 events) or on age and EDSS (20 or more)."""
    from openhsct.outcomes.binomial import binomial_ci

    known = cohort.loc[cohort["trm_event"].notna()]
    k, n = int(known["trm_event"].sum()), int(len(known))
    if n == 0:
        raise NotEnoughData("no transplanted patient with 100 days of follow-up: TRM cannot be estimated")
    n_cov = min(len(TRM_COVARIATES), k // EVENTS_PER_COVARIATE)
    pooled = binomial_ci(k, n, method="exact", conf_level=conf_level)
    if n_cov == 0:
        note = (
            f"{k} deaths by day {TRM_DAY} among {n} patients: fewer than {EVENTS_PER_COVARIATE} events per "
            "covariate, so no individual TRM model is fitted; the pooled registry rate (exact Clopper-Pearson "
            "interval) is given for everyone."
        )
        return TrmModel(
            "pooled", k, n, pooled.estimate, pooled.lower, pooled.upper, (), note, None, conf_level
        )
    covs = TRM_COVARIATES[:n_cov]
    data = known[[*covs, "trm_event"]].dropna().astype(float)
    fit = firth_logistic(data, "trm_event", conf_level=conf_level)
    note = (
        f"{k} deaths by day {TRM_DAY} among {n} patients: Firth penalised logistic regression on "
        f"{' and '.join(LABELS[c] for c in covs)} (at most one covariate per {EVENTS_PER_COVARIATE} events)."
    )
    return TrmModel("firth", k, n, pooled.estimate, pooled.lower, pooled.upper, covs, note, fit, conf_level)


def fit_prediction_model(
    cohort: pd.DataFrame,
    horizon_years: float = 5.0,
    landmark_years: float | None = None,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> PredictionModel:
    """Fit the PFS Cox model (Breslow baseline) and the TRM model on ``cohort`` (:func:`cohort_from_registry`).

    Returns a :class:`PredictionModel` with Harrell's C (apparent and optimism-corrected over
    ``n_bootstrap`` resamples drawn from ``seed``), calibration at ``horizon_years`` by quintile against
    Kaplan-Meier and the calibration slope (1 apparent by construction; the reported slope is the bootstrap
    one), ``n_patients`` and ``n_events``. Category levels with fewer than 20 patients or 5 events are left
    out of the fit (and refused at prediction). Raises :class:`NotEnoughData` without patients or events.
    """
    _check_cohort(cohort)
    if not horizon_years > 0:
        raise ValueError(f"horizon_years must be positive, got {horizon_years!r}")
    if landmark_years is not None and not landmark_years >= 0:
        raise ValueError(f"landmark_years must be >= 0, got {landmark_years!r}")
    data, excluded = _pfs_rows(cohort, landmark_years)
    support = _category_support(data)
    unsupported = support.loc[~support["supported"]]
    keep = np.ones(len(data), dtype=bool)
    for rec in unsupported.itertuples():
        keep &= (data[rec.input] != rec.level).to_numpy()
    excluded["category with too few patients or events"] = int((~keep).sum())
    data = data.loc[keep].reset_index(drop=True)
    t = data["pfs_years"].to_numpy(dtype=float)
    e = data["pfs_event"].to_numpy(dtype=int)
    if len(data) == 0 or e.sum() == 0:
        raise NotEnoughData(
            f"the registry has {len(data)} patients with complete inputs and {int(e.sum())} PFS events: "
            "no prediction model can be fitted"
        )
    if (t >= horizon_years).sum() < MIN_AT_RISK:
        raise NotEnoughData(
            f"fewer than {MIN_AT_RISK} patients are followed to the {horizon_years:g}-year horizon"
        )
    names = _choose_covariates(data, support)
    x = _design(data, names)
    fit = _cox(x, t, e, names)
    beta = fit.coef.to_numpy()
    means = x.mean(axis=0)
    xc = x - means
    baseline, xbar = _breslow(xc, t, e, beta)
    lp = xc @ beta
    c_apparent = harrell_c(t, lp, e)
    optimism, slope, used = _bootstrap(x, t, e, names, n_bootstrap, seed)
    h0 = float(baseline.loc[baseline["time"] <= horizon_years, "hazard"].sum())
    calibration = calibration_by_group(t, e, np.exp(-h0 * np.exp(lp)), horizon_years)
    ranges = {k: (float(data[k].min()), float(data[k].max())) for k in NUMERIC_KEYS}
    return PredictionModel(
        covariates=names,
        coef=pd.Series(beta, index=list(names), name="coef"),
        covariance=pd.DataFrame(fit.covariance.to_numpy(), index=list(names), columns=list(names)),
        means=pd.Series(means, index=list(names), name="mean"),
        baseline=baseline,
        xbar=xbar,
        horizon_years=float(horizon_years),
        landmark_years=None if landmark_years is None else float(landmark_years),
        n_patients=int(len(data)),
        n_events=int(e.sum()),
        c_index=c_apparent - optimism,
        c_index_apparent=c_apparent,
        calibration=calibration,
        calibration_slope=slope,
        calibration_slope_apparent=float(_cox(lp[:, None], t, e, ("lp",)).coef.iloc[0]),
        n_bootstrap=int(n_bootstrap),
        n_bootstrap_used=used,
        seed=int(seed),
        ranges=ranges,
        categories=support,
        excluded=excluded,
        trm=fit_trm_model(cohort),
        training=data,
        max_followup_years=float(t.max()),
    )


# ---- one person ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class IndividualPrediction(Mapping):
    """What the model predicts for one person; readable as a mapping with the documented keys
    (``pfs_5y``, ``pfs_5y_lower``, ``pfs_5y_upper``, ``trm``, ``trm_lower``, ``trm_upper``,
    ``survival_curve``, ``n_similar``, ``c_index``, ``calibration_slope``) and a few more that say how."""

    pfs_5y: float
    pfs_5y_lower: float
    pfs_5y_upper: float
    trm: float
    trm_lower: float
    trm_upper: float
    survival_curve: pd.DataFrame = field(repr=False)
    n_similar: int | None
    c_index: float
    calibration_slope: float
    horizon_years: float
    trm_method: str
    trm_note: str
    n_patients: int
    n_events: int
    conf_level: float = 0.95

    def __getitem__(self, key: str):
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    @classmethod
    def _keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def to_frame(self) -> pd.DataFrame:
        """One row per estimate: ``measure, estimate, lower, upper``."""
        return pd.DataFrame(
            [
                {
                    "measure": f"pfs_{self.horizon_years:g}y",
                    "estimate": self.pfs_5y,
                    "lower": self.pfs_5y_lower,
                    "upper": self.pfs_5y_upper,
                },
                {
                    "measure": "trm_day100",
                    "estimate": self.trm,
                    "lower": self.trm_lower,
                    "upper": self.trm_upper,
                },
            ]
        )

    def to_dict(self) -> dict:
        """Plain Python values (the curve as a list of records) for JSON."""
        out = {k: getattr(self, k) for k in self._keys() if k != "survival_curve"}
        out["survival_curve"] = _records(self.survival_curve)
        return out


def refusal_reasons(model: PredictionModel, person: Mapping) -> list[str]:
    """Why no prediction may be given for ``person`` (validated): each numeric input outside the training
    range, each category with too few patients or events, and a model on fewer than 50 events."""
    problems = []
    if model.n_events < MIN_MODEL_EVENTS:
        problems.append(
            f"the model was fitted on {model.n_events} progression events; at least {MIN_MODEL_EVENTS} are "
            "needed for an individual prediction"
        )
    for key in NUMERIC_KEYS:
        lo, hi = model.ranges[key]
        if not lo <= person[key] <= hi:
            problems.append(f"{key} = {person[key]:g} is outside the training range {lo:g} to {hi:g}")
    cats = model.categories
    for key in CATEGORIES:
        row = cats.loc[(cats["input"] == key) & (cats["level"] == person[key])].iloc[0]
        if not row["supported"]:
            held = (
                "too few patients or events in the training data"
                if "n" not in cats.columns
                else f"{row['n']} patients and {row['events']} events in the training data"
            )
            problems.append(
                f"{key} = {person[key]}: {held} "
                f"(at least {MIN_CATEGORY_PATIENTS} patients and {MIN_CATEGORY_EVENTS} events are needed)"
            )
    return problems


def similar_key(person: Mapping) -> str:
    """The group of "similar patients" of a (validated) person: ``"<phenotype>|<EDSS band>"``."""
    return f"{person['phenotype']}|{edss_band([person['edss']])[0]}"


def n_similar(model: PredictionModel, person: Mapping) -> int | None:
    """Training patients with the person's phenotype and EDSS band; for a model read back from a release,
    the published count (None where it was suppressed)."""
    if model.training is None:
        return (model.similar_counts or {}).get(similar_key(validate_person(person)))
    return int(len(similar_patients(model, person)))


def similar_patients(model: PredictionModel, person: Mapping) -> pd.DataFrame:
    """Training patients with the person's phenotype and EDSS band (0-3.5, 4-5.5, 6+). Raises
    ``ValueError`` for a model read back from a release, which holds no patient rows."""
    person = validate_person(person)
    data = model.training
    if data is None:
        raise ValueError("a model read back from a release holds no patient rows")
    band = edss_band([person["edss"]])[0]
    same = (data["phenotype"] == person["phenotype"]).to_numpy() & (edss_band(data["edss"]) == band)
    return data.loc[same]


def similar_km(model: PredictionModel, person: Mapping) -> pd.DataFrame:
    """Kaplan-Meier PFS (years) of the training patients with the person's phenotype and EDSS band, as
    :func:`openhsct.outcomes.kaplan_meier` returns it (empty when there is none)."""
    from openhsct.outcomes.kaplan_meier import kaplan_meier

    same = similar_patients(model, person)
    if not len(same):
        return pd.DataFrame(columns=["time", "n_risk", "n_event", "survival", "std_err", "lower", "upper"])
    return kaplan_meier(same["pfs_years"], same["pfs_event"])


def _trm_for(model: PredictionModel, person: Mapping) -> tuple[float, float, float]:
    trm = model.trm
    if trm.firth is None:
        return trm.estimate, trm.lower, trm.upper
    return trm.firth.predict({k: person[k] for k in trm.covariates})


def predict_individual(model: PredictionModel, person: Mapping) -> IndividualPrediction:
    """PFS at the model's horizon and day-100 TRM for ``person``, with 95% limits and the PFS curve.

    Raises :class:`InvalidPerson` for broken inputs and :class:`OutsideTrainingData` (naming each offending
    input and the training range) when the person lies outside the training data or the model rests on
    fewer than 50 events.
    """
    person = validate_person(person)
    problems = refusal_reasons(model, person)
    if problems:
        raise OutsideTrainingData(problems)
    z = _design(pd.DataFrame([person]), model.covariates)[0]
    base = model.baseline
    times = np.concatenate(([0.0], base.loc[base["n_risk"] >= MIN_AT_RISK, "time"].to_numpy()))
    curve = _survival_at(model, z, times)
    at = _survival_at(model, z, np.array([model.horizon_years])).iloc[0]
    trm, trm_lower, trm_upper = _trm_for(model, person)
    return IndividualPrediction(
        pfs_5y=float(at["survival"]),
        pfs_5y_lower=float(at["lower"]),
        pfs_5y_upper=float(at["upper"]),
        trm=trm,
        trm_lower=trm_lower,
        trm_upper=trm_upper,
        survival_curve=curve,
        n_similar=n_similar(model, person),
        c_index=model.c_index,
        calibration_slope=model.calibration_slope,
        horizon_years=model.horizon_years,
        trm_method=model.trm.method,
        trm_note=model.trm.note,
        n_patients=model.n_patients,
        n_events=model.n_events,
        conf_level=model.conf_level,
    )
