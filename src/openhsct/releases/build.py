"""Building a release: every public figure computed from a cut, disclosed, and written as parts.

:func:`build_parts` turns a :class:`~openhsct.releases.cut.Cut` into ``{part name: bytes}``. The
per-centre parts are independent tasks (:func:`centre_part`) that run in this process or on a Dask
cluster; each is a pure function of its centre's rows, the cut date and the settings, and writes
canonical JSON (sorted keys, numbers rounded to 6 significant digits), so the bytes are the same
whatever the number of workers.

Parts (the archive's public tables are derived from them by :mod:`openhsct.releases.archive`):

- ``centres.json`` — the centre list (a centre with fewer than 5 publishable patients is listed by name
  only and its patients enter no other figure of the release);
- ``centre/<code>.json`` — one centre's page: disclosed figures, sentences and SVG charts;
- ``comparison.json`` — the centre comparison, its funnel plots and the all-centre targets;
- ``overall.json`` — the summary card's figures for all published centres together;
- ``evidence.json`` — the published evidence, pooled, for each outcome and filter the page offers;
- ``consent.json`` — patients left out for lack of publication consent, per centre;
- ``decision.json`` — the decision aid's prediction model and its "similar patients"
  (:mod:`openhsct.releases.decision`);
- ``centre/<code>/report.pdf`` — the centre report (when PDFs are asked for).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import pandas as pd

from openhsct.releases.disclosure import MIN_GROUP, disclose
from openhsct.releases.values import Count, Estimate, Rate, to_plain

EVIDENCE_OUTCOMES = ("trm", "pfs_2y", "pfs_5y", "neda_2y", "neda_5y", "rfs_5y")
EVIDENCE_FILTERS = {
    "phenotype": ("RRMS only", "mixed", "unknown"),
    "intensity": ("low", "intermediate", "high", "mixed", "unclassified"),
    "era": ("before 2020", "2020 or later", "unknown"),
}
#: The published outcome each centre figure stands beside on its page.
CENTRE_EVIDENCE = (("trm", "deaths from any cause by day 100"), ("pfs_5y", "progression-free survival at 5 years"))


NO_COMPARISON = "not enough patients in one of the two groups of this release to compare"


@dataclass(frozen=True)
class BuildSettings:
    """What a release is built with; recorded in its manifest."""

    currency: str = "EUR"
    trm_definition: str = "day100"
    definition: str = "registry"
    pdf: bool = False
    charts: bool = True
    comparative: bool = True
    min_group: int = MIN_GROUP
    decision: bool = True
    decision_bootstrap: int = 200

    def to_dict(self) -> dict:
        return asdict(self)


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, UTF-8, a final newline."""
    return (json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n").encode()


def _chart(chart) -> dict | None:
    return None if chart is None else {"svg": str(chart.svg), "summary": chart.summary}


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


# ---- one centre -------------------------------------------------------------------------------------


def _sentences(page: dict) -> dict:
    """Plain-language sentences of a centre page, from its disclosed figures."""
    out = {"endpoints": {}}
    for ep in page["endpoints"]:
        shown = [a for a in ep["at"] if not a["value"].get("suppressed") and a["value"].get("estimate") is not None]
        if not shown:
            out["endpoints"][ep["key"]] = f"{ep['label']}: not enough patients or follow-up to estimate."
            continue
        five = [a for a in shown if a["years"] == 5]
        a = five[0] if five else shown[-1]
        v, years = a["value"], a["years"]
        when = f"{years} year{'s' if years != 1 else ''}"
        if ep["kind"] == "incidence":
            out["endpoints"][ep["key"]] = (
                f"{ep['label']}: about {round(100 * v['estimate'])} in 100 people treated here had it within "
                f"{when} (95% CI {round(100 * v['lower'])} to {round(100 * v['upper'])})."
            )
        else:
            out["endpoints"][ep["key"]] = (
                f"{ep['label']}: about {round(100 * v['estimate'])} in 100 people treated here were event-free "
                f"{when} later (95% CI {round(100 * v['lower'])} to {round(100 * v['upper'])})."
            )
    trm = page["trm"]
    d = trm["day100"] if trm["definition_key"] == "day100" else trm["year1"]
    deaths = trm["deaths"]
    if d.get("suppressed") or deaths.get("suppressed"):
        out["trm"] = f"{trm['label']}: not shown ({d.get('reason') or deaths.get('reason')})."
    else:
        out["trm"] = (
            f"{d['events']} of {d['n']} patients died "
            + ("of any cause within 100 days of the transplant" if trm["definition_key"] == "day100"
               else "of causes attributed to the transplant within a year")
            + f" ({_pct(d['estimate'])}, 95% CI {_pct(d['lower'])} to {_pct(d['upper'])})."
        )
    g3 = page["grade3"]
    out["grade3"] = (
        f"Severe side effects: not shown ({g3['reason']})."
        if g3.get("suppressed")
        else f"{g3['events']} of {g3['n']} patients had at least one severe (grade 3 or worse) side effect "
        f"({_pct(g3['estimate'])}, 95% CI {_pct(g3['lower'])} to {_pct(g3['upper'])})."
    )
    return out


def _charts(page: dict) -> dict:
    from openhsct.portal import charts

    colours = {"pfs": charts.BLUE, "rfs": charts.GREEN, "mri_afs": charts.ORANGE, "efs": charts.VERMILION,
               "os": charts.BLACK}
    per_year = [
        {"year": r["level"], "n": r["n"] if isinstance(r["n"], int) else "not shown"} for r in page["per_year"]
    ]
    out = {"per_year": _chart(charts.per_year_chart(per_year)), "endpoints": {}}
    for ep in page["endpoints"]:
        curve = ep["curve"]
        pts = [] if isinstance(curve, dict) else [
            {"time_years": p["months"] / 12, "survival": p["value"], "lower": p["lower"], "upper": p["upper"]}
            for p in curve
        ]
        out["endpoints"][ep["key"]] = _chart(
            charts.survival_chart(pts, ep["label"], colours.get(ep["key"], charts.BLUE),
                                  rising=ep["kind"] == "incidence")
        )
    curve = page["trm"]["curve"]
    pts = [] if isinstance(curve, dict) else [
        {"time_days": round(p["months"] * 365.25 / 12), "cif": p["value"], "lower": p["lower"], "upper": p["upper"]}
        for p in curve
    ]
    out["trm"] = _chart(charts.cif_chart(pts, page["trm"]["label"]))
    edss = [
        {"years": r["years"], "median_change": r["median_change"].get("estimate"),
         "mean_change": r["mean_change"].get("estimate")}
        for r in page["edss_change"]
        if not r["median_change"].get("suppressed")
    ]
    out["edss"] = _chart(charts.edss_chart(edss))
    return out


def _centre_evidence(page: dict, evidence: Mapping, *, charts: bool = True) -> list[dict]:
    """This centre's day-100 deaths and 5-year PFS beside the published pooled estimate and its
    prediction interval, with the reading (within/above/below) from
    :func:`openhsct.outcomes.comparison.interval_position`."""
    from openhsct.outcomes.comparison import interval_position
    from openhsct.portal.charts import forest_chart

    out = []
    for outcome, name in CENTRE_EVIDENCE:
        pooled = evidence.get(outcome)
        if not pooled or pooled["kind"] != "pooled":
            continue
        if outcome == "trm":
            mine = page["trm"]["day100"] if page["trm"]["definition_key"] == "day100" else {"suppressed": True}
            label = "This centre: deaths from any cause by day 100"
        else:
            ep = next((e for e in page["endpoints"] if e["key"] == "pfs"), None)
            at5 = [a["value"] for a in (ep or {}).get("at", []) if a["years"] == 5]
            mine = at5[0] if at5 else {"suppressed": True}
            label = "This centre: PFS at 5 years"
        rows = [
            {"label": f"Published studies pooled (population-averaged, k = {pooled['k']})",
             "estimate": pooled["proportion"], "lower": pooled["ci_lower"], "upper": pooled["ci_upper"],
             "kind": "pooled"},
            {"label": "Range expected for a new centre (95% PI)", "estimate": pooled["proportion"],
             "lower": pooled["pi_lower"], "upper": pooled["pi_upper"], "kind": "prediction"},
        ]
        crude = pooled.get("crude") or {}
        published = (
            f"population-averaged pooled estimate {pooled['proportion']:.1%}; crude rate "
            f"{crude['estimate']:.1%}, {crude['events']:,.0f} of {crude['n']:,}"
            if outcome == "trm" and crude
            else f"pooled estimate {pooled['proportion']:.1%}"
        )
        if not mine.get("suppressed") and mine.get("estimate") is not None:
            rows.append({"label": label, "estimate": mine["estimate"], "lower": mine["lower"],
                         "upper": mine["upper"], "kind": "centre"})
            where = interval_position(mine["estimate"], pooled["pi_lower"], pooled["pi_upper"])
            sentence = (
                f"This centre's {name} ({_pct(mine['estimate'])}) is {where} the range the published studies "
                f"predict for a new centre ({_pct(pooled['pi_lower'])} to {_pct(pooled['pi_upper'])}; {published})."
            )
        else:
            sentence = (
                f"This centre's {name} is not shown (too few patients or not enough follow-up); published "
                f"series: {published}."
            )
        title = f"{pooled['label']}: this centre and the published evidence"
        chart = forest_chart(rows, title=title, k=pooled["k"]) if charts else None
        out.append({"outcome": outcome, "label": pooled["label"], "k": pooled["k"], "model": pooled.get("model"),
                    "n_total": pooled.get("n_total"), "rows": rows, "sentence": sentence, "chart": _chart(chart)})
    return out


def centre_part(
    code: str, tables: dict[str, pd.DataFrame], cut: dt.date, settings: BuildSettings, evidence: Mapping
) -> bytes:
    """One centre's page as canonical JSON: the typed figures (:mod:`openhsct.releases.public`) after
    the disclosure rules, its sentences and charts. ``tables`` hold this centre's rows only."""
    from openhsct.outcomes.comparison import FOLLOWUP_FLAG_SHARE
    from openhsct.outcomes.endpoints import registry_outcomes
    from openhsct.outcomes.summary import _centre_info, summarise
    from openhsct.releases.disclosure import coarser_margin
    from openhsct.releases.public import course_table, local_costs, typed_summary

    info = _centre_info(tables, code)
    outcomes = registry_outcomes(
        tables, as_of=pd.Timestamp(cut), trm_definition=settings.trm_definition, definition=settings.definition
    )
    summary = summarise(tables, outcomes, info, currency=settings.currency)
    typed = typed_summary(outcomes, summary)
    typed["course"] = course_table(outcomes.patients)
    typed["costs_local"] = local_costs(tables, outcomes.patients)
    public = disclose(typed)
    public["course"] = coarser_margin(public["course"], public["strata"]["phenotype"])
    page = to_plain(public)
    page["first_year"] = first_year(page["per_year"])
    page["centre"] = {k: info.get(k) for k in ("centre_code", "name", "country", "city", "synthetic")}
    share = page["followup"]["completeness"]
    page["followup"]["flag"] = not share.get("suppressed") and (share.get("estimate") or 0.0) < FOLLOWUP_FLAG_SHARE
    page["as_of"] = cut.isoformat()
    page["sentences"] = _sentences(page)
    page["charts"] = _charts(page) if settings.charts else {"endpoints": {}}
    page["evidence"] = _centre_evidence(page, evidence, charts=settings.charts)
    return canonical_json(page)


def first_year(per_year: list[dict]) -> int | None:
    """The first year listed in a disclosed per-year table (its levels are public even where the count
    is not), or None when it lists none."""
    years = [int(r["level"]) for r in per_year if str(r["level"]).isdigit()]
    return min(years) if years else None


# ---- the whole registry ------------------------------------------------------------------------------


def overall_part(tables: dict[str, pd.DataFrame], cut: dt.date, settings: BuildSettings) -> bytes:
    """The summary card's figures for all published centres together (``tables`` holds their rows only):
    progression-free and relapse-free survival and NEDA-3 (event-free survival) at 2 and 5 years, deaths
    by the release's definition at day 100, patients with a severe side effect, each with its 95 % interval
    (exact binomial at 0 or 1), after the disclosure rules. The centre pages set each centre beside them."""
    from openhsct.outcomes.endpoints import endpoint_data, registry_outcomes
    from openhsct.outcomes.summary import grade3_block, survival_at, trm_block

    outcomes = registry_outcomes(
        tables, as_of=pd.Timestamp(cut), trm_definition=settings.trm_definition, definition=settings.definition
    )
    p = outcomes.patients
    n = len(p)
    endpoints = {}
    for key in ("pfs", "rfs", "efs"):
        t, e = endpoint_data(p, key)
        endpoints[key] = [
            {"years": a["years"], "value": Estimate(a["estimate"], a["lower"], a["upper"], int(t.size),
                                                    n_risk=a["n_risk"])}
            for a in survival_at(t, e, (2, 5))
        ]
    trm = trm_block(p, settings.trm_definition)
    d = trm["day100"]
    g3 = grade3_block(tables, p)
    typed = {
        "n_patients": Count(n),
        "endpoints": endpoints,
        "trm_day100": Estimate(d["estimate"], d["lower"], d["upper"], n, events=d["events"]),
        "grade3": Rate(events=g3["patients_with"], n=g3["n"], estimate=g3["estimate"], lower=g3["lower"],
                       upper=g3["upper"], method=g3["method"]),
    }
    return canonical_json({"as_of": cut.isoformat(), **to_plain(disclose(typed))})


def published_centres(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Centres with at least 5 publishable patients, in code order (the others enter no figure)."""
    counts = tables["patients"]["centre_code"].astype(str).value_counts()
    return sorted(c for c, n in counts.items() if n >= MIN_GROUP)


def restrict(tables: dict[str, pd.DataFrame], codes: list[str]) -> dict[str, pd.DataFrame]:
    """The rows of the centres ``codes`` only (the centre table included)."""
    keep = set(codes)
    return {
        name: f.loc[f["centre_code"].astype(str).isin(keep).to_numpy()].reset_index(drop=True)
        if "centre_code" in f.columns
        else f
        for name, f in tables.items()
    }


def centres_part(tables: dict[str, pd.DataFrame], published: list[str], cut: dt.date) -> bytes:
    """The centre list: every centre by name; its number of patients only when it is published."""
    counts = tables["patients"]["centre_code"].astype(str).value_counts()
    rows = []
    for r in tables["centres"].sort_values("centre_code").itertuples():
        code = str(r.centre_code)
        n = int(counts.get(code, 0))
        rows.append({
            "centre_code": code, "name": str(r.name), "country": str(r.country), "city": str(r.city),
            "synthetic": str(r.synthetic).lower() == "yes", "published": code in published,
            "n": to_plain(disclose(Count(n))) if code in published else {"suppressed": True, "reason": (
                "fewer than 5 patients: this centre's patients enter no figure of this release")},
        })
    return canonical_json({"as_of": cut.isoformat(), "centres": rows})


def consent_part(excluded: Mapping[str, int], cut: dt.date) -> bytes:
    """Patients left out for lack of publication consent, per centre, under the group rule."""
    return canonical_json({
        "as_of": cut.isoformat(),
        "excluded": {code: to_plain(disclose(Count(int(k)))) for code, k in sorted(excluded.items())},
    })


def comparison_part(tables: dict[str, pd.DataFrame], cut: dt.date, settings: BuildSettings) -> bytes:
    """The centre comparison (:func:`openhsct.outcomes.comparison.compare_centres`) as typed rows after
    disclosure, with both funnel plots and the all-centre targets."""
    from openhsct.outcomes.comparison import compare_centres, funnel_limits
    from openhsct.outcomes.endpoints import endpoint_data, registry_outcomes
    from openhsct.outcomes.summary import centre_comparison, survival_at
    from openhsct.portal import charts

    outcomes = registry_outcomes(
        tables, as_of=pd.Timestamp(cut), trm_definition=settings.trm_definition, definition=settings.definition
    )
    t, e = endpoint_data(outcomes.patients, "pfs")
    pfs5 = survival_at(t, e, (5,))[0]
    p0_pfs = pfs5["estimate"] if pfs5["n_risk"] >= MIN_GROUP else None
    comp = compare_centres(centre_comparison(tables, outcomes=outcomes), p0_pfs)
    centres = tables["centres"].set_index(tables["centres"]["centre_code"].astype(str))
    rows = []
    for r in comp.rows.to_dict("records"):
        n = int(r["n"])
        c = centres.loc[r["centre_code"]]
        typed = {
            "n": Count(n),
            "followup": {"completeness": Estimate(r["followup_share"], None, None, int(r["followup_alive"])),
                         "flag": bool(r["followup_flag"])},
            "trm": {
                "rate": _rate(r["trm_events_day100"], r["trm_n_day100"], r["trm_rate"], of=n),
                "cif_day100": Estimate(r["trm_cif_day100"], r["trm_cif_day100_lower"], r["trm_cif_day100_upper"],
                                       n, events=int(r["trm_events_day100"])),
                "expected": Estimate(r["trm_expected_day100"], None, None, int(r["trm_n_day100"]), of=n),
                "oe": Estimate(r["oe_shrunk"], r["oe_lower"], r["oe_upper"], int(r["trm_n_day100"]), of=n),
                "tier": r["oe_tier"], "position": r["trm_position"],
            },
            "pfs_5y": {
                "value": Estimate(r["pfs_5y"], None, None, n, n_risk=int(r["pfs_5y_n_risk"])),
                "effective_n": r["pfs_5y_effective_n"], "se": r["pfs_5y_se"], "position": r["pfs_position"],
            },
        }
        row = to_plain(disclose(typed))
        if row["trm"]["rate"].get("suppressed"):
            row["trm"].update(tier=None, position=None)
        if row["pfs_5y"]["value"].get("suppressed"):
            row["pfs_5y"].update(effective_n=None, se=None, position=None)
        row.update(centre_code=r["centre_code"], name=str(c["name"]), country=str(c["country"]),
                   city=str(c["city"]), synthetic=str(c["synthetic"]).lower() == "yes")
        rows.append(row)
    funnels = {}
    pts = [
        {"centre_code": r["centre_code"], "x": r["trm"]["rate"]["n"], "rate": r["trm"]["rate"]["estimate"],
         "flag": "below 90%" if r["followup"]["flag"] else "complete (≥ 90%)", "position": r["trm"]["position"]}
        for r in rows if not r["trm"]["rate"].get("suppressed") and r["trm"]["rate"]["estimate"] is not None
    ]
    if comp.trm_rate is not None and pts and settings.charts:
        funnels["trm"] = _chart(charts.funnel_chart(
            pts, funnel_limits(comp.trm_rate, max(p["x"] for p in pts)), p0=comp.trm_rate,
            title="Deaths from any cause by day 100", x_title="Patients with known day-100 status"))
    pts = [
        {"centre_code": r["centre_code"], "x": r["pfs_5y"]["effective_n"], "rate": r["pfs_5y"]["value"]["estimate"],
         "flag": "below 90%" if r["followup"]["flag"] else "complete (≥ 90%)", "position": r["pfs_5y"]["position"]}
        for r in rows if r["pfs_5y"]["effective_n"] is not None and not r["pfs_5y"]["value"].get("suppressed")
    ]
    if p0_pfs is not None and pts and settings.charts:
        funnels["pfs"] = _chart(charts.funnel_chart(
            pts, funnel_limits(p0_pfs, max(p["x"] for p in pts), method="normal"), p0=p0_pfs,
            title="Progression-free survival at 5 years",
            x_title="Effective number of patients (precision of the estimate)"))
    return canonical_json(to_plain({
        "as_of": cut.isoformat(), "rows": rows, "trm_rate": comp.trm_rate, "pfs_5y": p0_pfs, "funnels": funnels,
    }))


def _rate(events, n_known, rate, *, of: int):
    return Rate(events=int(events), n=int(n_known), estimate=rate, of=of)


@lru_cache(maxsize=1)
def evidence_part() -> bytes:
    """The published evidence as the ``/evidence/`` page offers it: each outcome pooled over all studies
    and within each single filter value, with its forest plot."""
    from openhsct.portal import charts
    from openhsct.releases.evidence import pooled_evidence

    out = {}
    for outcome in EVIDENCE_OUTCOMES:
        for by in [()] + [((col, v),) for col, values in EVIDENCE_FILTERS.items() for v in values]:
            pooled = pooled_evidence(outcome, by)
            key = outcome + "".join(f"|{c}={v}" for c, v in by)
            if pooled is None:
                out[key] = None
                continue
            rows = [
                {"label": r["label"], "estimate": r["proportion"], "lower": r["ci_lower"], "upper": r["ci_upper"],
                 "kind": "study"}
                for r in pooled["forest"] if r["key"] != "pooled"
            ]
            if pooled["kind"] == "pooled":
                what = "Pooled, population-averaged" if pooled["marginal"] else "Pooled"
                rows.append({"label": f"{what} (k = {pooled['k']})", "estimate": pooled["proportion"],
                             "lower": pooled["ci_lower"], "upper": pooled["ci_upper"], "kind": "pooled"})
                rows.append({"label": "Prediction interval (95%)", "estimate": pooled["proportion"],
                             "lower": pooled["pi_lower"], "upper": pooled["pi_upper"], "kind": "prediction"})
            pooled = dict(pooled)
            pooled["chart"] = _chart(charts.forest_chart(rows, title=pooled["label"]))
            out[key] = _jsonable(pooled)
    return canonical_json(out)


def _jsonable(obj: Any) -> Any:
    """Plain JSON values (numpy scalars as Python numbers, NaN/inf as None), numbers rounded."""
    import math

    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, str):
        obj = obj.item()
    if isinstance(obj, float):
        return float(f"{obj:.6g}") if math.isfinite(obj) else None
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    return str(obj)


def comparative_part(everyone: dict[str, pd.DataFrame]) -> bytes:
    """The registry's aHSCT-vs-DMT comparison for each comparator (:mod:`openhsct.comparative`, formatted
    by :func:`openhsct.releases.comparative.public_context`: no figure on fewer than 5 patients or events,
    no matched group whose unmatched rest is 1-4), overall and per country."""
    from openhsct.comparative.analysis import compare_treatments
    from openhsct.comparative.cohort import COMPARATORS, comparison_cohort
    from openhsct.comparative.errors import ComparativeError
    from openhsct.releases.comparative import hidden_countries, public_context

    out = {}
    for comparator in COMPARATORS:
        try:
            cohort = comparison_cohort(everyone, comparator)
            registry = public_context(compare_treatments(cohort, comparator=comparator))
        except ComparativeError:
            # The analysis's own message names the size of each group; a release says only why not.
            out[comparator] = {"registry": {"available": False, "reason": NO_COMPARISON}, "countries": []}
            continue
        contexts, counts = {}, {}
        for country in sorted(cohort["country"].unique()):
            sub = cohort.loc[cohort["country"] == country].reset_index(drop=True)
            counts[country] = (int((sub["treat"] == 1).sum()), int((sub["treat"] == 0).sum()))
            try:
                contexts[country] = public_context(compare_treatments(sub, comparator=comparator), charts=False)
            except ComparativeError:
                continue
        hidden = hidden_countries(counts, set(counts) - set(contexts))
        countries = [{"country": c, **ctx} for c, ctx in contexts.items() if c not in hidden]
        out[comparator] = {"registry": registry, "countries": countries}
    return canonical_json(_jsonable(out))


def without_held_back(everyone: dict[str, pd.DataFrame], tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """``everyone`` without the transplanted patients that the cut holds back
    (:func:`openhsct.releases.cut.hold_back`), so that the aHSCT arm of the comparison never counts a
    patient the centre pages leave out."""

    def keys(frame: pd.DataFrame) -> pd.MultiIndex:
        return pd.MultiIndex.from_arrays([frame["centre_code"].astype(str), frame["patient_code"].astype(str)])

    held = keys(everyone["transplants"]).difference(keys(tables["transplants"]))
    if not len(held):
        return everyone
    return {
        name: f.loc[~keys(f).isin(held)].reset_index(drop=True) if "patient_code" in f.columns else f
        for name, f in everyone.items()
    }


def centre_tasks(tables: dict[str, pd.DataFrame], published: list[str]) -> dict[str, dict[str, pd.DataFrame]]:
    """Each published centre's own rows."""
    return {code: restrict(tables, [code]) for code in published}


def build_parts(
    cut,
    settings: BuildSettings,
    *,
    client=None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, bytes]:
    """Every part of a release (module docstring) from ``cut`` (:class:`~openhsct.releases.cut.Cut`);
    the per-centre parts on ``client`` (a Dask ``distributed.Client``) when given."""
    tick = progress or (lambda name: None)
    tables = cut.tables
    published = published_centres(tables)
    shown = restrict(tables, published)
    parts: dict[str, bytes] = {}
    parts["centres.json"] = centres_part(tables, published, cut.cut)
    tick("centres.json")
    parts["consent.json"] = consent_part(cut.excluded, cut.cut)
    tick("consent.json")
    parts["evidence.json"] = evidence_part()
    tick("evidence.json")
    evidence = {k: v for k, v in json.loads(parts["evidence.json"]).items() if "|" not in k}
    parts["comparison.json"] = comparison_part(shown, cut.cut, settings)
    tick("comparison.json")
    parts["overall.json"] = overall_part(shown, cut.cut, settings)
    tick("overall.json")
    if settings.comparative and cut.everyone is not None:
        parts["comparative.json"] = comparative_part(restrict(without_held_back(cut.everyone, tables), published))
        tick("comparative.json")
    decision = None
    if settings.decision:
        from openhsct.releases.decision import decision_part

        if client is None:
            parts["decision.json"] = decision_part(shown, cut.cut, n_bootstrap=settings.decision_bootstrap)
            tick("decision.json")
        else:  # the model's bootstrap runs on a worker beside the centre pages
            decision = client.submit(decision_part, client.scatter([shown], hash=False)[0], cut.cut,
                                     n_bootstrap=settings.decision_bootstrap, pure=False)
    tasks = centre_tasks(shown, published)
    if client is None:
        for code, sub in tasks.items():
            parts[f"centre/{code}.json"] = centre_part(code, sub, cut.cut, settings, evidence)
            tick(f"centre/{code}.json")
    else:
        from distributed import as_completed

        # Each centre's rows travel to a worker once (scattered), not inside the task graph.
        # (a list of one: a dict given to scatter would be scattered value by value)
        shared = client.scatter([dict(evidence)], broadcast=True, hash=False)[0]
        futures = {
            client.submit(centre_part, code, client.scatter([sub], hash=False)[0], cut.cut, settings, shared,
                          pure=False): code
            for code, sub in tasks.items()
        }
        for fut in as_completed(list(futures)):
            code = futures[fut]
            parts[f"centre/{code}.json"] = fut.result()
            tick(f"centre/{code}.json")
    if decision is not None:
        parts["decision.json"] = decision.result()
        tick("decision.json")
    return dict(sorted(parts.items()))


