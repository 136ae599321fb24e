"""One centre's (or all centres') public figures as typed values, before the disclosure rules.

Every number comes from :mod:`openhsct.outcomes` (the summary, Kaplan-Meier, cumulative incidence); this
module only says what each number *is* (a group count, a rate, an estimate, a curve on the grid) so that
:mod:`openhsct.releases.disclosure` can judge it. No exact day leaves here: curves are read on the
fixed grid, and bad outcomes are counted by time band.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from openhsct.releases.disclosure import SMALL_GROUP
from openhsct.releases.values import (
    GRID_MONTHS,
    Count,
    Curve,
    CurvePoint,
    Estimate,
    Rate,
    Suppressed,
    Table,
    Text,
)

DAYS_PER_MONTH = 365.25 / 12
#: The strata shown on a centre page (era is left out: the per-year table already shows when patients
#: were treated, and two margins over the same years would let a suppressed year be worked out).
PUBLIC_STRATA = ("phenotype", "edss_band", "intensity")
ENDPOINT_ORDER = ("pfs", "rfs", "mri_afs", "efs", "os", "cdi", "pira", "raw")


def km_curve(time_days: np.ndarray, event: np.ndarray, *, rising: bool = False, of: int | None = None) -> Curve:
    """The Kaplan-Meier curve (or, ``rising``, 1 - S with the interval flipped) on the public grid."""
    from openhsct.outcomes.kaplan_meier import km_summary

    n = int(len(time_days))
    if n == 0:
        return Curve(n=0, rising=rising, of=of)
    years = [m / 12 for m in GRID_MONTHS]
    at = km_summary(np.asarray(time_days, dtype=float) / 365.25, event, times=years).at
    points = []
    for r in at.itertuples():
        months = int(round(float(r.time) * 12))
        s, lo, hi = float(r.survival), float(r.lower), float(r.upper)
        lo, hi = _exact_at_boundary(s, lo, hi, time_days, event, months * DAYS_PER_MONTH)
        if rising:
            s, lo, hi = 1 - s, 1 - hi, 1 - lo
        points.append(CurvePoint(months, s, lo, hi, int(r.n_risk)))
    return Curve(n=n, points=tuple(points), rising=rising, of=of)


def cif_curve(time_days: np.ndarray, cause: np.ndarray) -> Curve:
    """The cumulative incidence of cause 1 (Gray's interval) on the public grid, read as the step
    function of :func:`openhsct.outcomes.summary.trm_incidence`; points after the last observation are
    left out."""
    from openhsct.outcomes.summary import trm_incidence

    t = np.asarray(time_days, dtype=float)
    n = int(t.size)
    if n == 0:
        return Curve(n=0, rising=True)
    cif = trm_incidence(t, np.asarray(cause))
    times = cif["time"].to_numpy(dtype=float)
    points = []
    for m in GRID_MONTHS:
        day = m * DAYS_PER_MONTH
        if day > t.max():
            break
        i = int(np.searchsorted(times, day, side="right")) - 1
        value = (0.0, 0.0, 0.0) if i < 0 else tuple(float(cif[c].iloc[i]) for c in ("cif", "lower", "upper"))
        lo, hi = _exact_at_boundary(value[0], value[1], value[2], t, cause, day)
        points.append(CurvePoint(m, value[0], lo, hi, int((t >= day).sum())))
    return Curve(n=n, points=tuple(points), rising=True)


def _exact_at_boundary(
    value: float, lower: float, upper: float, time_days: np.ndarray, event: np.ndarray, day: float
) -> tuple[float, float]:
    """``(lower, upper)``, replaced by the exact binomial interval where ``value`` is 0 or 1
    (:func:`openhsct.outcomes.summary.boundary_interval`)."""
    from openhsct.outcomes.summary import boundary_interval, known_status

    exact = boundary_interval(value, known_status(time_days, event, day))
    return (lower, upper) if exact is None else exact


def _estimate(block: dict, n: int, **extra: Any) -> Estimate:
    """An estimate block of the summary (estimate, lower, upper, n_risk) as a typed estimate."""
    return Estimate(
        estimate=block.get("estimate"),
        lower=block.get("lower"),
        upper=block.get("upper"),
        n=n,
        n_risk=block.get("n_risk"),
        **extra,
    )


def _endpoint(patients: pd.DataFrame, key: str, block: dict) -> dict:
    from openhsct.outcomes.endpoints import endpoint_data

    t, e = endpoint_data(patients, key)
    rising = block["kind"] == "incidence"
    of = len(patients)
    at = []
    for a in block["at"]:
        est = _estimate(a, block["n"], of=of)
        if rising and a.get("estimate") is not None:
            est = Estimate(1 - a["estimate"], 1 - a["upper"], 1 - a["lower"], block["n"], a.get("n_risk"), of=of)
        at.append({"years": a["years"], "value": est})
    return {
        "key": key,
        "label": Text(block["label"]),
        "kind": block["kind"],
        "definition": Text(block["definition"]),
        "source": Text(block.get("source") or ""),
        "events": Rate(events=block["events"], n=block["n"], of=of),
        "at": at,
        "curve": km_curve(t, e, rising=rising, of=of),
    }


def _trm(patients: pd.DataFrame, block: dict) -> dict:
    from openhsct.outcomes.summary import trm_times

    t, c = trm_times(patients, block["definition_key"])
    n = block["n"]
    return {
        "label": Text(block["label"]),
        "definition": Text(block["definition"]),
        "source": Text(block.get("source") or ""),
        "definition_key": block["definition_key"],
        "deaths": Rate(events=block["deaths"], n=n),
        "day100": _estimate(block["day100"], n, events=block["day100"]["events"]),
        "year1": _estimate(block["year1"], n, events=block["year1"]["events"]),
        "curve": cif_curve(t, c),
    }


def _per_year(summary: dict) -> Table:
    n = summary["n_patients"]
    return Table(total=n, cells=tuple((str(r["year"]), Count(r["n"], of=n, stratum=True)) for r in summary["per_year"]))


def _harm(summary: dict) -> list[dict]:
    """'Who did not do well' as counts: deaths by cause, confirmed worsening and grade >= 3 adverse events
    by kind, each by time band (counts of events among all the centre's patients)."""
    n = summary["n_patients"]
    counts: Counter = Counter()
    for r in summary["did_not_do_well"]:
        what = r["event"]
        if what.startswith("grade "):
            what = "grade 3 or worse adverse event" + what[what.index(" adverse event") + len(" adverse event"):]
        counts[(what, r["timing"])] += 1
    return [
        {"what": what, "band": band, "count": Rate(events=k, n=n)}
        for (what, band), k in sorted(counts.items())
    ]


def _edss(summary: dict) -> list[dict]:
    out = []
    of = summary["n_patients"]
    for r in summary["edss_change"]:
        n = int(r["n"])
        out.append(
            {
                "years": r["years"],
                "mean_change": Estimate(r.get("mean_change"), None, None, n, of=of),
                "median_change": Estimate(r.get("median_change"), None, None, n, of=of),
                "improved": Rate(events=int(r["improved"]), n=n, of=of),
                "stable": Rate(events=int(r["stable"]), n=n, of=of),
                "worse": Rate(events=int(r["worse"]), n=n, of=of),
            }
        )
    return out


def _costs(summary: dict) -> dict | None:
    c = summary.get("costs")
    if not c or not c.get("n_patients"):
        return None
    n = summary["n_patients"]
    k = int(c["n_patients"])
    return {
        "currency": c["currency"],
        "rates_source": c.get("rates_source") or "",
        "patients": Count(k, of=n),
        "median": Estimate(c["median"], c["q1"], c["q3"], k, of=n),
        "by_category": [
            {
                "category": r["category"],
                "patients": Count(r["n_patients"], of=n),
                "median": Estimate(r["median"], r["q1"], r["q3"], r["n_patients"], of=n),
            }
            for r in c["by_category"]
        ],
    }


#: The course of MS each kind belongs to on the summary card (other and unknown kinds belong to neither).
COURSE = {"relapsing": ("RRMS",), "progressive": ("SPMS", "PPMS")}


def course_table(patients: pd.DataFrame) -> Table:
    """Relapsing and progressive MS (:data:`COURSE`) as one margin of stratum cells, each with its 5-year
    progression-free survival (Kaplan–Meier, exact binomial interval at 0 or 1). The cells need not add
    up to the centre: :func:`openhsct.releases.disclosure.coarser_margin` shows them only where the
    kind-of-MS margin hides nothing."""
    from openhsct.outcomes.endpoints import endpoint_data
    from openhsct.outcomes.summary import survival_at

    n = len(patients)
    kinds = patients["phenotype"].astype(str).to_numpy()
    cells, details = [], []
    for course, members in COURSE.items():
        sub = patients.loc[np.isin(kinds, members)]
        k = len(sub)
        t, e = endpoint_data(sub, "pfs")
        a = survival_at(t, e, (5,))[0]
        events = int((e.astype(bool) & (t <= 5 * 365.25)).sum())
        cells.append((course, Count(k, of=n, stratum=True)))
        details.append((course, {"pfs_5y": _estimate(a, k, stratum=True, events=events)}))
    return Table(total=n, cells=tuple(cells), details=tuple(details))


def own_currency(costs: pd.DataFrame) -> str | None:
    """The currency most of a centre's cost records are in (ties: the first in alphabetical order), or
    None without records."""
    if costs is None or not len(costs):
        return None
    counts = costs["currency"].astype(str).str.upper().value_counts()
    return str(sorted(counts[counts == counts.max()].index)[0])


def local_costs(tables: dict[str, pd.DataFrame], patients: pd.DataFrame) -> dict | None:
    """The cost per patient in the centre's own currency (:func:`own_currency`): median and quartiles of
    the total over the patients with records (a group drawn from the centre's patients), the years the
    prices were recorded in, and the currency; None without records."""
    from openhsct.outcomes.summary import costs_block

    costs = tables.get("costs")
    currency = own_currency(costs)
    if currency is None:
        return None
    c = costs_block(tables, patients, currency)
    if not c["n_patients"]:
        return None
    years = pd.to_datetime(costs["cost_date"], errors="coerce").dt.year.dropna()
    k = int(c["n_patients"])
    return {
        "currency": currency,
        "patients": Count(k, of=len(patients)),
        "median": Estimate(c["median"], c["q1"], c["q3"], k, of=len(patients)),
        "price_years": Text(f"{int(years.min())} to {int(years.max())}" if len(years) else ""),
    }


def _strata(patients: pd.DataFrame, summary: dict) -> dict:
    """Per stratum: the margin of group counts (complementary suppression acts on it) and, per level,
    5-year PFS and OS and day-100 deaths, each marked as a stratum cell."""
    from openhsct.outcomes.endpoints import endpoint_data

    n = summary["n_patients"]
    out = {}
    for by in PUBLIC_STRATA:
        levels = summary["strata"].get(by) or {}
        cells, details = [], []
        for level, b in levels.items():
            sel = (patients[by].astype(str) == level).to_numpy()
            sub = patients.loc[sel]
            k = int(b["n"])
            detail = {}
            for key, name in (("pfs", "pfs_5y"), ("os", "os_5y")):
                t, e = endpoint_data(sub, key)
                events = int((e.astype(bool) & (t <= 5 * 365.25)).sum())
                detail[name] = _estimate(b[name], k, stratum=True, events=events)
            trm = b["trm_day100"]
            detail["trm_day100"] = _estimate(trm, k, stratum=True, events=trm.get("events"))
            cells.append((level, Count(k, of=n, stratum=True)))
            details.append((level, detail))
        out[by] = Table(total=n, cells=tuple(cells), details=tuple(details))
    return out


def _pro(summary: dict) -> dict:
    """Patient-reported outcomes (:func:`openhsct.outcomes.pro.pro_block`): per scored instrument and time
    window since day 0, the median score with its range as an estimate resting on the patients who
    answered (a group drawn from the centre's patients); a window that :mod:`openhsct.outcomes.pro`
    already left out (fewer than 5 answered) stays out."""
    n = summary["n_patients"]
    out = {}
    for code, block in sorted((summary.get("pro") or {}).items()):
        windows = []
        for w in block["windows"]:
            value = (
                Suppressed(SMALL_GROUP, "estimate")
                if w["suppressed"] or w["n"] is None
                else Estimate(w["estimate"], w["lower"], w["upper"], int(w["n"]), of=n)
            )
            windows.append({"window": w["window"], "value": value})
        out[code] = {"label": Text(block["label"]), "windows": windows}
    return out


def typed_summary(outcomes, summary: dict, procedure: dict | None = None) -> dict:
    """The typed public figures of one summary (:func:`openhsct.outcomes.summary.summarise`) computed
    from ``outcomes`` (:class:`openhsct.outcomes.endpoints.RegistryOutcomes`)."""
    p = outcomes.patients
    n = summary["n_patients"]
    fu = summary["followup"]
    eps = summary["endpoints"]
    family = {}
    for key, block in summary["trm_family"].items():
        if key == "procedure_itt":
            family[key] = {
                "label": Text(block["label"]),
                "definition": Text(block["definition"]),
                "measure": Rate(
                    events=int(block["events"]), n=int(block["n"]), estimate=block.get("estimate"),
                    lower=block.get("lower"), upper=block.get("upper"),
                ),
            }
        else:
            read = "year1" if key == "attributed" else "day100"
            family[key] = {
                "label": Text(block["label"]),
                "definition": Text(block["definition"]),
                "measure": _estimate(block[read], block["n"], events=block[read]["events"]),
            }
    g3 = summary["grade3_events"]
    return {
        "n_patients": Count(n),
        "per_year": _per_year(summary),
        "followup": {
            "completeness": Rate(events=fu["seen"], n=fu["alive"], estimate=fu.get("share")),
            "median_years": Estimate(
                fu.get("median_followup_years"), fu.get("median_followup_lower"),
                fu.get("median_followup_upper"), n,
            ),
        },
        "endpoints": [_endpoint(p, k, eps[k]) for k in ENDPOINT_ORDER if k in eps],
        "trm": _trm(p, summary["trm"]),
        "trm_family": family,
        "neda3": [
            {"years": r["years"], "value": _estimate(r, r["n"], of=n)} for r in summary["neda3"]
        ],
        "grade3": Rate(
            events=g3["patients_with"], n=g3["n"], estimate=g3.get("estimate"), lower=g3.get("lower"),
            upper=g3.get("upper"), method=g3.get("method", ""),
        ),
        "edss_change": _edss(summary),
        "harm": _harm(summary),
        "costs": _costs(summary),
        "strata": _strata(p, summary),
        "pro": _pro(summary),
    }
