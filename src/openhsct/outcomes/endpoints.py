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
CONF_TOL_DAYS = (7, 2 * 365.25)  # msprog's default confirmation window: conf_days - 7 to conf_days + 2 years
BASELINE_WINDOW_DAYS = 365
EDSS_WINDOW_DAYS = 91
MIST_IGNORE_DAYS = 91
PIRA_RELAPSE_WINDOW = {"prec": (0, 0), "event": (90, 30), "conf": (90, 30), "prec_type": "baseline"}
TRM_DEFINITIONS = ("day100", "attributed")
EDSS_BANDS = ("0-3.0", "3.5-5.5", "6.0+")
ERAS = ((None, 2009, "before 2010"), (2010, 2017, "2010-2017"), (2018, None, "2018+"))


def registry_delta(baseline_edss) -> np.ndarray:
    """Minimum EDSS worsening from a baseline (Kappos et al. *JAMA Neurol* 2020;77:1132; MSBase: Kalincik et
    al. *Brain* 2015;138:3287): +1.5 from 0, +1.0 from 1.0 to 5.5, +0.5 above 5.5."""
    b = np.asarray(baseline_edss, dtype=float)
    return np.where(b == 0, 1.5, np.where(b <= 5.5, 1.0, 0.5))


registry_delta.vectorised = True  # msprog calls it once on the array of reference values


@dataclass(frozen=True)
class EndpointSettings:
    """How the disability endpoints are derived: the EDSS baseline, the worsening thresholds, the
    confirmation, which visits may start an event, and where PFS is censored.

    ``baseline``: ``"pre_mobilisation"`` — the last EDSS on or before the start of mobilisation (day 0 when no
    mobilisation is recorded), within ``baseline_window_days`` before it and at least
    ``baseline_relapse_gap_days`` after any relapse onset; ``"pre_day0"`` — the last EDSS on or before day 0
    within the window, relapses ignored. ``thresholds``: ``"registry"`` (:func:`registry_delta`) or
    ``"msprog"`` (pymsprog's +1.5 / +1.0 up to 5.0 / +0.5 above 5.0). ``ignore_first_days``: EDSS visits
    after day 0 and before this day are not used (neither as onset nor as confirmation), so worsening with
    onset in the first 3 months is ignored (MIST, Burt et al. *JAMA* 2019;321:165, counted progression from
    year 1). ``pfs_censoring``: ``"confirmable"`` — at the last EDSS visit from which a worsening could still
    have been confirmed; ``"last_contact"`` — at the latest contact of any kind (the earlier definition).
    """

    name: str
    baseline: str = "pre_mobilisation"
    thresholds: str = "registry"
    baseline_window_days: float = BASELINE_WINDOW_DAYS
    baseline_relapse_gap_days: float = 30
    conf_days: float = CDW_CONF_DAYS
    relapse_to_conf: float = 30
    ignore_first_days: float = 0
    pfs_censoring: str = "confirmable"

    @property
    def delta_fun(self):
        """The threshold function msprog receives (``None``: msprog's own EDSS thresholds)."""
        return registry_delta if self.thresholds == "registry" else None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


DEFINITIONS: dict[str, EndpointSettings] = {
    "registry": EndpointSettings("registry"),
    "mist": EndpointSettings("mist", ignore_first_days=MIST_IGNORE_DAYS),
    "openhsct-0.1": EndpointSettings(
        "openhsct-0.1",
        baseline="pre_day0",
        thresholds="msprog",
        baseline_relapse_gap_days=0,
        pfs_censoring="last_contact",
    ),
}
"""The registry's definition (default), the MIST-like sensitivity setting (worsening with onset in the first
3 months ignored) and the earlier definition of OpenHSCT 0.1, kept as a named sensitivity setting."""


def endpoint_settings(definition: str | EndpointSettings) -> EndpointSettings:
    """The settings named ``definition`` (a key of :data:`DEFINITIONS`), or ``definition`` itself."""
    if isinstance(definition, EndpointSettings):
        return definition
    try:
        return DEFINITIONS[definition]
    except KeyError:
        raise ValueError(
            f"endpoint definition must be one of {', '.join(DEFINITIONS)}; got {definition!r}"
        ) from None


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
_BASELINE_TEXT = (
    "baseline = the last EDSS before mobilisation starts (before day 0 when no mobilisation is recorded), "
    "within 365 days and at least 30 days after any relapse onset"
)
_CDW_TEXT = (
    "an EDSS rise of >=1.5 from 0, >=1.0 from 1.0 to 5.5, >=0.5 above 5.5, confirmed >=24 weeks later at a "
    "visit not within 30 days after a relapse"
)
_CDW_SOURCES = (
    "Kappos et al. JAMA Neurol 2020;77:1132 (thresholds, 24-week confirmation); Kalincik et al. Brain "
    "2015;138:3287 (MSBase); msprog rules: Montobbio et al. Mult Scler 2024;30:1185"
)
_EDSS_CENSORING = (
    "the last EDSS visit from which a worsening could still have been confirmed (a later visit 24 weeks on); "
    "a death more than a year after the last EDSS visit (and after year 1) is censored there"
)
_PIRA_SOURCES = (
    "Kappos et al. JAMA Neurol 2020;77:1132; Mueller et al. JAMA Neurol 2023;80:1232 (harmonised PIRA "
    "definition); MSBase standardised PIRA, JAMA Neurol 2025, doi:10.1001/jamaneurol.2025.0495"
)

ENDPOINTS: dict[str, Endpoint] = {
    "pfs": Endpoint(
        "pfs",
        "Progression-free survival",
        f"Alive without confirmed disability worsening (CDW) from the pre-transplant EDSS baseline: {_CDW_TEXT} "
        f"(fixed {_BASELINE_TEXT}).",
        "Muraro et al. JAMA Neurol 2017;74:459 (PFS after aHSCT); " + _CDW_SOURCES,
        "first CDW (date of the worsened visit) or death from any cause",
        _EDSS_CENSORING + "; patients without a pre-transplant EDSS are not in this endpoint",
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
        "Alive without a Gd+ lesion on or after the post-transplant re-baseline scan (the first scan on or "
        "after day 90: enhancement lasts weeks, so it shows activity after treatment) or a new/enlarging T2 "
        "lesion on any later scan; readings count only where assessed.",
        "Sormani et al. Neurology 2017;88:2115; re-baselining: Wattjes et al. Lancet Neurol 2021;20:653; "
        "Sharrack et al. BMT 2020;55:283",
        "first active scan, or death from any cause",
        "last informative scan from the re-baseline on (day 0 when there is none): not scanned is not inactive",
    ),
    "efs": Endpoint(
        "efs",
        "NEDA-3 (no evidence of disease activity)",
        "Alive with no evidence of disease activity: no relapse, no CDW and no MRI activity (NEDA-3 as a "
        "Kaplan-Meier event-free survival, as Sormani 2017, Burman 2014 and Silfverberg 2023 report it).",
        "Havrdova et al. Lancet Neurol 2009;8:254 (NEDA); Sormani et al. Neurology 2017;88:2115; "
        "Burman et al. J Neurol Neurosurg Psychiatry 2014, doi:10.1136/jnnp-2013-307207",
        "first of relapse, CDW, MRI activity, or death from any cause",
        "the earliest of the components' last assessments (the last confirmable EDSS visit, the last "
        "informative scan); patients without a pre-transplant EDSS are not in this endpoint",
    ),
    "os": Endpoint(
        "os",
        "Overall survival",
        "Alive.",
        _SOURCES_SURVIVAL,
        "death from any cause",
        "last contact (latest of last_contact_date, visits, scans, relapses)",
    ),
    "cdi": Endpoint(
        "cdi",
        "Confirmed disability improvement",
        f"An EDSS fall of at least the worsening threshold of the baseline, confirmed >=24 weeks later "
        f"(msprog CDI, fixed {_BASELINE_TEXT}); shown as the share of patients improved.",
        "Kappos et al. JAMA Neurol 2020;77:1132; Muraro et al. JAMA Neurol 2017;74:459; " + _CDW_SOURCES,
        "first confirmed improvement (date of the improved visit)",
        _EDSS_CENSORING.split(";")[0] + ", or death",
        competing="death (censored)",
    ),
    "pira": Endpoint(
        "pira",
        "Progression independent of relapse activity (PIRA)",
        "Confirmed worsening against a roving baseline reset after each relapse, with no relapse from 90 days "
        "before to 30 days after the worsening and its confirmation; shown as the share of patients with a "
        "first PIRA.",
        _PIRA_SOURCES,
        "first PIRA (date of the worsened visit)",
        _EDSS_CENSORING.split(";")[0] + ", or death",
        competing="death (censored)",
    ),
    "raw": Endpoint(
        "raw",
        "Relapse-associated worsening (RAW)",
        "Confirmed worsening (roving baseline reset after each relapse) starting within 90 days after a "
        "relapse onset; shown as the share of patients with a first RAW.",
        _PIRA_SOURCES,
        "first RAW (date of the worsened visit)",
        _EDSS_CENSORING.split(";")[0] + ", or death",
        competing="death (censored)",
    ),
}
SURVIVAL_KEYS = ("pfs", "rfs", "mri_afs", "efs", "os")
"""Endpoints read as the share still free of the event; the others (cdi, pira, raw) as the share with it."""

TRM_TEXT = {
    "day100": (
        "Deaths from any cause within 100 days of re-infusion (day 0): cumulative incidence, death after day 100 "
        "competing. The convention of the published aHSCT series this is compared with.",
        "Muraro et al. J Neurol Neurosurg Psychiatry 2025, doi:10.1136/jnnp-2025-336755 (UK, 14 centres); "
        "Boffa et al. Neurology 2021 (Italy); Silfverberg et al. J Neurol Neurosurg Psychiatry 2023, "
        "doi:10.1136/jnnp-2023-331864 (Sweden)",
    ),
    "attributed": (
        "Non-relapse mortality attributed to the transplant: cumulative incidence of death recorded as "
        "transplant-related (or with attribution unknown: a centre cannot lower it by leaving attribution "
        "blank), any time after day 0; deaths recorded as not transplant-related compete.",
        "EBMT/CIBMTR non-relapse mortality by attribution; Sharrack et al. BMT 2020;55:283; Muraro et al. "
        "JAMA Neurol 2017;74:459",
    ),
    "procedure_itt": (
        "Procedure-related mortality, intention to treat: deaths from any cause from the start of mobilisation "
        "to day 100 after re-infusion (or within 365 days of the start of mobilisation for a patient never "
        "re-infused), among every patient who started mobilisation at least that long before the data cut "
        "or died; exact (Clopper-Pearson) interval.",
        "Intention-to-treat counting as in Burt et al. JAMA 2019;321:165 (MIST); EBMT autoimmune guidelines, "
        "Sharrack et al. BMT 2020;55:283",
    ),
}
TRM_LABELS = {
    "day100": "Deaths from any cause by day 100",
    "attributed": "Transplant-attributed deaths (non-relapse mortality) by 1 year",
    "procedure_itt": "Deaths from the start of mobilisation to day 100 (intention to treat)",
}


def procedure_mortality(tables: dict[str, pd.DataFrame], *, as_of=None, window_days: float = 100.0,
                        untransplanted_days: float = 365.0) -> dict:
    """Procedure-related mortality counted from the start of mobilisation (intention to treat).

    The denominator is every patient whose first mobilisation started on or before ``as_of`` and whose
    window is complete: the window runs from the start of mobilisation to ``window_days`` after day 0, or
    to ``untransplanted_days`` after the start of mobilisation for a patient not re-infused by the cut. A
    patient who died is always in the denominator; one whose window is still open at the cut is not. The
    numerator counts deaths from any cause within the window, including deaths before day 0. Returns a dict:
    ``n`` (patients), ``events`` (deaths), ``before_day0`` (deaths before re-infusion), ``estimate``,
    ``lower``, ``upper`` (Clopper-Pearson 95 %), ``conf_level``, ``definition``, ``label``, ``source``.
    """
    from openhsct.outcomes.binomial import binomial_ci

    as_of = pd.Timestamp(as_of) if as_of is not None else data_as_of(tables)
    cut = as_of.to_datetime64()
    mob = tables.get("mobilisations")
    text, source = TRM_TEXT["procedure_itt"]
    out = {"n": 0, "events": 0, "before_day0": 0, "estimate": None, "lower": None, "upper": None,
           "conf_level": 0.95, "definition": text, "label": TRM_LABELS["procedure_itt"], "source": source,
           "definition_key": "procedure_itt"}
    if mob is None or not len(mob):
        return out
    start = pd.to_datetime(mob["start_date"])
    first = (
        pd.DataFrame({"centre_code": mob["centre_code"].astype(str).to_numpy(),
                      "patient_code": mob["patient_code"].astype(str).to_numpy(), "start": start.to_numpy()})
        .loc[(start <= as_of).to_numpy()]
        .groupby(["centre_code", "patient_code"], as_index=False)["start"].min()
    )
    locate = Locator(first["centre_code"].to_numpy(dtype=object), first["patient_code"].to_numpy(dtype=object))

    def on_list(name: str, col: str) -> np.ndarray:
        values = np.full(len(first), np.datetime64("NaT"), dtype="datetime64[ns]")
        frame = tables.get(name)
        if frame is None or not len(frame):
            return values
        pos = locate(frame)
        dates = pd.to_datetime(frame[col]).to_numpy()
        ok = (pos >= 0) & ~np.isnat(dates) & (dates <= cut)
        order = np.argsort(dates[ok], kind="stable")[::-1]  # earliest written last: the earliest wins
        values[pos[ok][order]] = dates[ok][order]
        return values

    day0 = on_list("transplants", "day0")
    death = on_list("deaths", "death_date")
    end = np.where(
        np.isnat(day0),
        first["start"].to_numpy() + np.timedelta64(int(untransplanted_days), "D"),
        day0 + np.timedelta64(int(window_days), "D"),
    )
    died = ~np.isnat(death) & (death >= first["start"].to_numpy()) & (death <= end)
    complete = died | (end <= cut)
    n = int(complete.sum())
    k = int(died.sum())
    out.update(n=n, events=k, before_day0=int((died & (np.isnat(day0) | (death < day0))).sum()))
    if n:
        ci = binomial_ci(k, n, method="exact")
        out.update(estimate=ci.estimate, lower=ci.lower, upper=ci.upper)
    return out


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


def _mobilisation_day(tables, locate: Locator, day0, as_of, n: int) -> np.ndarray:
    """First mobilisation start per patient, in days from day 0 (NaN: none recorded)."""
    mob = _dated(tables.get("mobilisations"), locate, day0, "start_date", as_of)
    return _per_patient(mob, n, "min")


def _baseline(
    visits: pd.DataFrame,
    relapses: pd.DataFrame,
    reference_day: np.ndarray,
    settings: EndpointSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """The EDSS baseline of every patient: the last assessment on or before ``reference_day`` (the start
    of mobilisation, or day 0) and at most ``baseline_window_days`` before it, and not within
    ``baseline_relapse_gap_days`` after a relapse onset. Returns (value, day), NaN where there is none."""
    n = reference_day.size
    ref = reference_day[visits["pid"].to_numpy()]
    day = visits["day"].to_numpy(dtype=float)
    ok = (day <= ref) & (day >= ref - settings.baseline_window_days)
    gap = settings.baseline_relapse_gap_days
    if gap > 0 and len(relapses):
        ok &= ~_near_relapse(visits["pid"].to_numpy(), day, relapses, gap)
    pre = visits.loc[ok]
    last = pre.drop_duplicates("pid", keep="last")
    value = np.full(n, np.nan)
    bday = np.full(n, np.nan)
    value[last["pid"].to_numpy()] = last["edss"].to_numpy(dtype=float)
    bday[last["pid"].to_numpy()] = last["day"].to_numpy(dtype=float)
    return value, bday


def _near_relapse(pid: np.ndarray, day: np.ndarray, relapses: pd.DataFrame, gap: float) -> np.ndarray:
    """Whether each (pid, day) lies within ``gap`` days after (or on) a relapse onset of the same patient."""
    r = relapses.sort_values(["pid", "day"], kind="stable")
    scale = 1e7  # days never reach this, so pid * scale + day orders by patient, then day
    keys = r["pid"].to_numpy(dtype=float) * scale + r["day"].to_numpy(dtype=float)
    at = np.searchsorted(keys, pid.astype(float) * scale + day, side="right") - 1
    found = at >= 0
    prev_pid = np.where(found, r["pid"].to_numpy()[np.maximum(at, 0)], -1)
    prev_day = np.where(found, r["day"].to_numpy(dtype=float)[np.maximum(at, 0)], np.nan)
    return (prev_pid == pid) & (day - prev_day < gap)


def _disability_visits(visits: pd.DataFrame, baseline_day: np.ndarray, settings: EndpointSettings) -> pd.DataFrame:
    """The visits the disability endpoints read: each patient's baseline, then the visits after day 0
    (from ``ignore_first_days`` on when that is set)."""
    bl = baseline_day[visits["pid"].to_numpy()]
    day = visits["day"].to_numpy(dtype=float)
    first = max(settings.ignore_first_days, 0.0)
    keep = ~np.isnan(bl) & ((day == bl) | ((day > 0) & (day >= first)))
    return visits.loc[keep]


def _msprog_first(
    visits: pd.DataFrame, relapses: pd.DataFrame, n: int, settings: EndpointSettings, event: str
) -> np.ndarray:
    """Day of each patient's first event of type ``event`` (msprog: firstCDW, firstCDI, firstPIRA, firstRAW)
    from the disability visits (NaN: none).

    CDW and CDI use the fixed pre-transplant baseline. PIRA and RAW use a roving baseline reset after each
    relapse, relapse-free windows of 90 days before to 30 days after the event and its confirmation
    (Kappos et al. *JAMA Neurol* 2020;77:1132), and RAW is worsening within 90 days of a relapse onset.
    Confirmation: ``settings.conf_days`` (24 weeks), not within ``settings.relapse_to_conf`` days after a
    relapse.
    """
    from openhsct.outcomes.progression import msprog

    out = np.full(n, np.nan)
    if not len(visits):
        return out
    has = np.zeros(n, dtype=bool)
    has[visits["pid"].to_numpy()] = True
    rel = relapses.loc[has[relapses["pid"].to_numpy()]] if len(relapses) else relapses
    roving = event in ("firstPIRA", "firstRAW")
    result = msprog(
        visits[["pid", "day", "edss"]],
        subj_col="pid",
        value_col="edss",
        date_col="day",
        date_format="day",
        relapse=rel[["pid", "day"]] if len(rel) else None,
        event=event,
        baseline="roving" if roving else "fixed",
        relapse_rebl=roving,
        relapse_indep=PIRA_RELAPSE_WINDOW if roving else None,
        delta_fun=settings.delta_fun,
        conf_days=settings.conf_days,
        conf_tol_days=CONF_TOL_DAYS,
        relapse_to_bl=0,
        relapse_to_conf=settings.relapse_to_conf,
        include_dates=True,
    ).results
    hit = result.loc[result["nevent"] > 0]
    if len(hit):
        out[hit["pid"].to_numpy(dtype=np.int64)] = hit["date"].to_numpy(dtype=float)
    return out


def last_confirmable_day(visits: pd.DataFrame, n: int, settings: EndpointSettings) -> np.ndarray:
    """Per patient, the last EDSS visit after day 0 from which a worsening could still have been confirmed:
    the last visit v with a later visit w in the msprog confirmation window, ``conf_days - 7 <= w - v <=
    conf_days + 2 years``. 0 where there is none (nothing could have been confirmed after day 0).

    This is where progression-free survival is censored: a worsening first seen at a later visit could not
    have been confirmed, so time after it is not progression-free time that was observed.
    """
    v = visits.sort_values(["pid", "day"], kind="stable")
    pid = v["pid"].to_numpy(dtype=np.int64)
    day = v["day"].to_numpy(dtype=float)
    scale = 1e7
    keys = pid * scale + day
    lo = np.searchsorted(keys, keys + settings.conf_days - CONF_TOL_DAYS[0], side="left")
    hi = np.searchsorted(keys, keys + settings.conf_days + CONF_TOL_DAYS[1], side="right")
    ok = (hi > lo) & (day > 0)
    out = np.zeros(n)
    if ok.any():
        last = pd.Series(day[ok]).groupby(pid[ok]).max()
        out[last.index.to_numpy(dtype=np.int64)] = last.to_numpy()
    return out


def registry_outcomes(
    tables: dict[str, pd.DataFrame],
    *,
    as_of=None,
    definition: str | EndpointSettings = "registry",
    trm_definition: str = "day100",
    rebaseline_from_days: float = REBASELINE_FROM_DAYS,
) -> RegistryOutcomes:
    """Every endpoint of every transplanted patient, as event/censoring times from day 0 (days).

    Columns of ``patients``: identifiers and covariates (``centre_code, patient_code, day0, transplant_year,
    phenotype, sex, age, intensity, era, baseline_edss, baseline_day, edss_band, has_baseline``), the raw
    event days (``death_day, relapse_day, cdw_day, cdi_day, pira_day, raw_day, rebaseline_day,
    mri_active_day, last_mri_day, last_edss_day, edss_censor_day, fu_days``) and, per endpoint in
    :data:`ENDPOINTS`, ``<key>_time`` / ``<key>_event`` (NaN time = patient not in that endpoint), plus
    ``trm_time`` / ``trm_cause`` (0 censored, 1 TRM, 2 competing death) for ``trm_definition`` and
    ``nrm_time`` / ``nrm_cause`` (death attributed to the transplant, other deaths competing).

    Records dated after ``as_of`` (default: the latest date in the registry) are ignored. ``definition``
    names the disability settings (:data:`DEFINITIONS`: ``"registry"``, ``"mist"`` or the earlier
    ``"openhsct-0.1"``). ``trm_definition`` is ``"day100"`` (all-cause death by day 100, the published
    convention) or ``"attributed"`` (see :data:`TRM_TEXT`).
    """
    if trm_definition not in TRM_DEFINITIONS:
        raise ValueError(
            f"trm_definition must be one of {', '.join(TRM_DEFINITIONS)}; got {trm_definition!r}"
        )
    settings = endpoint_settings(definition)
    as_of = pd.Timestamp(as_of) if as_of is not None else data_as_of(tables)
    p = _cohort(tables, as_of)
    n = len(p)
    locate = Locator(p["centre_code"].to_numpy(), p["patient_code"].to_numpy())
    day0 = p["day0"].to_numpy()

    visits = _edss_assessments(tables, locate, day0, as_of)
    relapses = _dated(tables.get("relapses"), locate, day0, "onset_date", as_of)
    if settings.baseline == "pre_mobilisation":
        reference = np.fmin(_mobilisation_day(tables, locate, day0, as_of, n), 0.0)
    else:
        reference = np.zeros(n)
    baseline, baseline_day = _baseline(visits, relapses, reference, settings)
    p["baseline_edss"] = baseline
    p["baseline_day"] = baseline_day
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

    disability = _disability_visits(visits, baseline_day, settings)
    p["death_day"] = death_day
    p["death_transplant_related"] = related
    p["death_cause_category"] = cause
    p["relapse_day"] = _per_patient(relapses, n, "min", (relapses["day"] > 0).to_numpy())
    for col, event in (("cdw_day", "firstCDW"), ("cdi_day", "firstCDI"), ("pira_day", "firstPIRA"),
                       ("raw_day", "firstRAW")):
        p[col] = _msprog_first(disability, relapses, n, settings, event)
    p = pd.concat([p, mri], axis=1)
    p["last_edss_day"] = _per_patient(post_visits, n, "max")
    if settings.pfs_censoring == "confirmable":
        p["edss_censor_day"] = np.minimum(last_confirmable_day(disability, n, settings), fu)
    else:
        p["edss_censor_day"] = fu
    p["fu_days"] = fu
    _add_endpoints(p, trm_definition)
    run = {
        "definition": settings.name,
        **settings.as_dict(),
        "trm_definition": trm_definition,
        "rebaseline_from_days": rebaseline_from_days,
        "as_of": as_of.date().isoformat(),
    }
    return RegistryOutcomes(patients=p, visits=visits, readings=readings, as_of=as_of, settings=run)


DEATH_GAP_DAYS = DAYS_PER_YEAR


def _first_event(censor: np.ndarray, *days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time to the first of ``days`` (NaN = did not happen) on or before ``censor``, else censored there."""
    first = np.fmin.reduce(days) if len(days) > 1 else days[0]
    event = ~np.isnan(first) & (first <= censor)
    return np.where(event, first, censor), event.astype(np.int8)


def _counted_death(death: np.ndarray, last_assessed: np.ndarray) -> np.ndarray:
    """Deaths that end a disability endpoint: those within :data:`DEATH_GAP_DAYS` of the last EDSS visit
    after day 0, or in the first year after day 0. A death after a longer gap in assessments is censored at
    the endpoint's censoring time instead, since a worsening may have come first unseen (as the US FDA's
    guidance on progression-free survival censors deaths after missed assessments)."""
    last = np.nan_to_num(last_assessed, nan=0.0)
    counted = (death <= last + DEATH_GAP_DAYS) | (death <= DEATH_GAP_DAYS)
    return np.where(counted, death, np.nan)


def _add_endpoints(p: pd.DataFrame, trm_definition: str) -> None:
    fu = p["fu_days"].to_numpy()
    death = p["death_day"].to_numpy()
    cdw = p["cdw_day"].to_numpy()
    relapse = p["relapse_day"].to_numpy()
    mri = p["mri_active_day"].to_numpy()
    baseline = p["has_baseline"].to_numpy()
    edss_censor = p["edss_censor_day"].to_numpy()

    p["os_time"], p["os_event"] = _first_event(fu, death)
    last_edss = p["last_edss_day"].to_numpy()
    pfs_death = _counted_death(death, last_edss)
    t, e = _first_event(np.fmax(edss_censor, pfs_death), cdw, pfs_death)
    p["pfs_time"], p["pfs_event"] = np.where(baseline, t, np.nan), e
    p["rfs_time"], p["rfs_event"] = _first_event(fu, relapse, death)
    mri_censor = np.nan_to_num(np.minimum(p["last_mri_day"].to_numpy(), fu), nan=0.0)
    p["mri_afs_time"], p["mri_afs_event"] = _first_event(np.fmax(mri_censor, death), mri, death)
    efs_censor = np.minimum(edss_censor, mri_censor)
    efs_death = _counted_death(death, last_edss)
    t, e = _first_event(
        np.fmax(efs_censor, efs_death),
        np.where(cdw <= efs_censor, cdw, np.nan),
        np.where(relapse <= efs_censor, relapse, np.nan),
        np.where(mri <= efs_censor, mri, np.nan),
        efs_death,
    )
    p["efs_time"], p["efs_event"] = np.where(baseline, t, np.nan), e
    for key in ("cdi", "pira", "raw"):
        censor = np.fmin(edss_censor, death)
        t, e = _first_event(censor, p[f"{key}_day"].to_numpy())
        p[f"{key}_time"], p[f"{key}_event"] = np.where(baseline, t, np.nan), e

    dead = ~np.isnan(death)
    if trm_definition == "day100":
        trm = dead & (death <= 100)
    else:
        trm = dead & (p["death_transplant_related"].to_numpy() != "no")
    p["trm_time"] = np.where(dead, death, fu)
    p["trm_cause"] = np.where(trm, 1, np.where(dead, 2, 0)).astype(np.int8)
    attributed = dead & (p["death_transplant_related"].to_numpy() != "no")
    p["nrm_time"] = p["trm_time"]
    p["nrm_cause"] = np.where(attributed, 1, np.where(dead, 2, 0)).astype(np.int8)


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
    earlier on a tie); patients without a baseline or such a visit are left out. Among them, ``worse``
    counts those with a confirmed disability worsening (CDW) starting on or before that visit, ``improved``
    those with a confirmed disability improvement (CDI) by then and no CDW, ``stable`` the rest: a single visit's change
    is never called improvement or worsening. Returns one row per year: ``years, n, mean_change,
    median_change, improved, stable, worse``.
    """
    p = outcomes.patients
    v = outcomes.visits
    v = v.loc[v["day"] > 0]
    base = p["baseline_edss"].to_numpy(dtype=float)
    cdw = p["cdw_day"].to_numpy(dtype=float)
    cdi = p["cdi_day"].to_numpy(dtype=float)
    rows = []
    for y in years:
        target = y * DAYS_PER_YEAR
        dist = np.abs(v["day"].to_numpy() - target)
        near = v.assign(dist=dist).loc[dist <= window_days]
        near = near.sort_values(["pid", "dist", "day"], kind="stable").drop_duplicates("pid")
        pid = near["pid"].to_numpy()
        b = base[pid]
        ok = ~np.isnan(b)
        change = near["edss"].to_numpy(dtype=float)[ok] - b[ok]
        pid, seen = pid[ok], near["day"].to_numpy(dtype=float)[ok]
        worsened = cdw[pid] <= seen
        worse = int(worsened.sum())
        improved = int(((cdi[pid] <= seen) & ~worsened).sum())
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
