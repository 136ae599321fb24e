"""The centre page's content, shared by the web page, the downloadable report (HTML and PDF) and the CSV.

:func:`centre_context` gathers the suppressed summary (from :mod:`openhsct.portal.selectors`), the
charts and the plain-language sentences once, caches them under the registry version, and every output
renders from it — so the page, the report and the CSV always show the same numbers.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.template.loader import render_to_string

from openhsct.outcomes.summary import SUMMARY_SECTIONS
from openhsct.portal import charts, privacy, selectors

ENDPOINT_ORDER = ("pfs", "rfs", "mri_afs", "efs", "os", "cdi", "pira", "raw")
# What "surviving" means for each endpoint, in words a patient uses.
PLAIN_OUTCOME = {
    "pfs": "alive without their disability getting worse",
    "rfs": "alive without a relapse",
    "mri_afs": "alive without new MRI activity",
    "efs": "alive with no sign of MS activity (no relapse, no disability worsening, no new MRI lesions)",
    "os": "alive",
}
# What having the event means, for the endpoints read as the share of people with it.
PLAIN_INCIDENCE = {
    "cdi": "a lasting improvement in disability (confirmed 6 months later)",
    "pira": "disability worsening not linked to a relapse (PIRA)",
    "raw": "disability worsening after a relapse (RAW)",
}
COLOURS = {
    "pfs": charts.BLUE,
    "rfs": charts.GREEN,
    "mri_afs": charts.ORANGE,
    "efs": charts.VERMILION,
    "os": charts.BLACK,
}
EVIDENCE_OUTCOMES = (("trm", "trm"), ("pfs_5y", "pfs"))


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and not math.isnan(v)


def out_of_100(estimate: Any) -> int | None:
    return round(100 * estimate) if _num(estimate) else None


def endpoint_sentence(key: str, block: Mapping) -> str:
    """'Out of 100 people like those treated here, about N were <outcome> Y years later …' at the
    latest time point with an estimate (5 years when available)."""
    if block.get("suppressed"):
        return f"{block.get('label', key)}: {privacy.SMALL_N_TEXT}."
    shown = [a for a in block.get("at", []) if not a.get("suppressed") and _num(a.get("estimate"))]
    if not shown:
        return f"{block.get('label', key)}: not enough follow-up yet to estimate."
    five = [a for a in shown if a.get("years") == 5]
    a = five[0] if five else shown[-1]
    years = a["years"]
    years_text = f"{years:g} year{'s' if years != 1 else ''}"
    if block.get("kind") == "incidence":
        return (
            f"Out of 100 people like those treated here, about {out_of_100(1 - a['estimate'])} had "
            f"{PLAIN_INCIDENCE.get(key, 'the event')} within {years_text} (the true number could be between "
            f"{out_of_100(1 - a['upper'])} and {out_of_100(1 - a['lower'])})."
        )
    return (
        f"Out of 100 people like those treated here, about {out_of_100(a['estimate'])} were "
        f"{PLAIN_OUTCOME.get(key, 'event-free')} {years_text} later (the true number could be between "
        f"{out_of_100(a['lower'])} and {out_of_100(a['upper'])})."
    )


def trm_sentence(trm: Mapping | None) -> str:
    """The headline mortality (all-cause death by day 100, or the attributed measure at 1 year) per 1,000."""
    label = (trm or {}).get("label", "Deaths from any cause by day 100")
    if not trm or trm.get("suppressed"):
        return f"{label}: {privacy.SMALL_N_TEXT}."
    attributed = trm.get("definition_key") == "attributed"
    d = trm.get("year1" if attributed else "day100") or {}
    if not _num(d.get("estimate")):
        return f"{label}: not estimated."
    per_1000 = round(1000 * d["estimate"])
    what = (
        "died of causes attributed to the transplant within a year"
        if attributed
        else "died, of any cause, within 100 days of the transplant"
    )
    return (
        f"Out of 1,000 people treated here, about {per_1000} {what} (the true number could be between "
        f"{round(1000 * d['lower'])} and {round(1000 * d['upper'])})."
    )


def grade3_sentence(g3: Mapping | None) -> str:
    if not g3 or g3.get("suppressed"):
        return f"Serious side effects: {privacy.SMALL_N_TEXT}."
    if not _num(g3.get("estimate")):
        return "Serious side effects: not recorded."
    return (
        f"Out of 100 people treated here, about {out_of_100(g3['estimate'])} had at least one severe "
        f"(grade 3 or worse) side effect (between {out_of_100(g3['lower'])} and {out_of_100(g3['upper'])})."
    )


def plotted_curve(block: Mapping) -> list[dict]:
    """The curve points to draw: the summary's event steps plus its estimates at whole years (``at``), so
    the line runs on to the last time with at least 5 patients at risk rather than stopping at the last
    event. Both are the same Kaplan-Meier estimate; nothing is recomputed."""
    pts = [dict(p) for p in block.get("curve", [])]
    for a in block.get("at", []):
        if not a.get("suppressed") and _num(a.get("estimate")):
            pts.append(
                {
                    "time_years": float(a["years"]),
                    "survival": a["estimate"],
                    "lower": a.get("lower"),
                    "upper": a.get("upper"),
                    "n_risk": a.get("n_risk"),
                }
            )
    return sorted(pts, key=lambda p: p["time_years"])


def plotted_cif(trm: Mapping) -> list[dict]:
    """The TRM curve points plus the day-100 and 1-year estimates (same cumulative incidence)."""
    pts = [dict(p) for p in trm.get("curve", [])]
    for key, day in (("day100", 100.0), ("year1", 365.25)):
        a = trm.get(key) or {}
        if not a.get("suppressed") and _num(a.get("estimate")):
            pts.append(
                {
                    "time_days": day,
                    "cif": a["estimate"],
                    "lower": a.get("lower"),
                    "upper": a.get("upper"),
                    "n_risk": a.get("n_risk"),
                }
            )
    return sorted(pts, key=lambda p: p["time_days"])


def _complement(point: Mapping, value: str = "survival") -> dict:
    """A Kaplan-Meier point (its ``value`` and interval) as the share with the event: 1 - S, the interval
    flipped."""
    out = dict(point)
    for key, other in ((value, value), ("lower", "upper"), ("upper", "lower")):
        v = point.get(other)
        out[key] = 1 - v if _num(v) else None
    return out


def _endpoints(summary: Mapping) -> list[dict]:
    out = []
    eps = summary.get("endpoints") or {}
    for key in [k for k in ENDPOINT_ORDER if k in eps] + [k for k in eps if k not in ENDPOINT_ORDER]:
        block = eps[key]
        rising = block.get("kind") == "incidence"
        curve = plotted_curve(block)
        if rising:
            curve = [_complement(p) for p in curve]
        chart = (
            None
            if block.get("suppressed")
            else charts.survival_chart(curve, block.get("label", key), COLOURS.get(key, charts.BLUE), rising=rising)
        )
        at = block.get("at", [])
        if rising:
            at = [a if a.get("suppressed") else _complement(a, "estimate") for a in at]
        out.append(
            {"key": key, "block": block, "chart": chart, "at": at, "rising": rising,
             "sentence": endpoint_sentence(key, block)}
        )
    return out


#: What this centre's own figure is, named as the published one it stands beside.
EVIDENCE_NAMES = {"trm": "deaths from any cause by day 100", "pfs_5y": "progression-free survival at 5 years"}


def _centre_evidence_rows(summary: Mapping) -> list[dict]:
    """For TRM (all-cause death by day 100) and 5-year PFS: the published series' population-averaged
    (marginal) pooled proportion, its prediction interval and this centre's own estimate, as rows for a
    small forest plot, with a one-sentence reading that also gives the crude published rate. The
    median-study estimate (expit β) is never the comparison."""
    out = []
    for outcome, ours in EVIDENCE_OUTCOMES:
        pooled = selectors.pooled_evidence(outcome)
        if pooled is None or pooled["kind"] != "pooled":
            continue
        name = EVIDENCE_NAMES[outcome]
        if ours == "trm":
            trm = summary.get("trm") or {}
            mine = None if trm.get("suppressed") else trm.get("day100")
            mine_label = "This centre: deaths from any cause by day 100"
        else:
            ep = (summary.get("endpoints") or {}).get("pfs") or {}
            at5 = [a for a in ep.get("at", []) if a.get("years") == 5 and not a.get("suppressed")]
            mine = None if ep.get("suppressed") or not at5 else at5[0]
            mine_label = "This centre: PFS at 5 years"
        averaged = "population-averaged, " if pooled["marginal"] else ""
        rows = [
            {
                "label": f"Published studies pooled ({averaged}k = {pooled['k']})",
                "estimate": pooled["proportion"],
                "lower": pooled["ci_lower"],
                "upper": pooled["ci_upper"],
                "kind": "pooled",
            },
            {
                "label": "Range expected for a new centre (95% PI)",
                "estimate": pooled["proportion"],
                "lower": pooled["pi_lower"],
                "upper": pooled["pi_upper"],
                "kind": "prediction",
            },
        ]
        published = (
            f"population-averaged pooled estimate {pooled['proportion']:.1%}; crude rate "
            f"{pooled['crude']['estimate']:.1%}, {pooled['crude']['events']:,.0f} of {pooled['crude']['n']:,}"
            if ours == "trm"
            else f"pooled estimate {pooled['proportion']:.1%}"
        )
        if mine and _num(mine.get("estimate")):
            rows.append(
                {
                    "label": mine_label,
                    "estimate": mine["estimate"],
                    "lower": mine.get("lower"),
                    "upper": mine.get("upper"),
                    "kind": "centre",
                }
            )
            est = mine["estimate"]
            where = (
                "within"
                if pooled["pi_lower"] <= est <= pooled["pi_upper"]
                else "above"
                if est > pooled["pi_upper"]
                else "below"
            )
            sentence = (
                f"This centre's {name} ({est:.1%}) is {where} the range the published "
                f"studies predict for a new centre ({pooled['pi_lower']:.1%} to {pooled['pi_upper']:.1%}; "
                f"{published})."
            )
        else:
            sentence = (
                f"This centre's {name} is not shown ({privacy.SMALL_N_TEXT} or not "
                f"enough follow-up); published series: {published}."
            )
        chart = charts.forest_chart(rows, title=f"{pooled['label']}: this centre and the published evidence")
        out.append({"outcome": outcome, "pooled": pooled, "rows": rows, "chart": chart, "sentence": sentence})
    return out


def _build(centre_code: str) -> dict:
    summary = selectors.public_centre_summary(centre_code)
    ctx: dict[str, Any] = {
        "s": summary,
        "centre": summary["centre"],
        "min_n": privacy.MIN_N,
        "small_n_text": privacy.SMALL_N_TEXT,
    }
    if summary.get("suppressed"):
        return ctx
    trm = summary.get("trm") or {}
    ctx.update(
        per_year_chart=charts.per_year_chart(summary.get("per_year", [])),
        endpoints=_endpoints(summary),
        trm_chart=None if trm.get("suppressed") else charts.cif_chart(plotted_cif(trm), trm.get("label", "Deaths from any cause by day 100")),
        trm_sentence=trm_sentence(trm),
        grade3_sentence=grade3_sentence(summary.get("grade3_events")),
        edss_chart=charts.edss_chart(summary.get("edss_change", [])),
        evidence=_centre_evidence_rows(summary),
    )
    return ctx


def centre_context(centre_code: str) -> dict:
    """Everything the centre page and report show (suppressed numbers, SVG charts, sentences), cached."""
    return selectors.cached(f"centre-context:{centre_code}", lambda version: _build(centre_code))


def report_html(centre_code: str, *, request=None) -> str:
    """The standalone report page (styles inlined, charts inline): the same content as the centre page."""
    from django.contrib.staticfiles import finders

    css_path = finders.find("portal/portal.css")
    css = Path(css_path).read_text(encoding="utf-8") if css_path else ""
    ctx = {
        **centre_context(centre_code),
        "inline_css": css,
        "report": True,
        "synthetic": selectors.registry_has_synthetic(),
    }
    return render_to_string("portal/report.html", ctx, request=request)


def report_pdf(centre_code: str) -> bytes:
    """The report as PDF (WeasyPrint)."""
    import weasyprint

    return weasyprint.HTML(string=report_html(centre_code), base_url=".").write_pdf()


def summary_csv_rows(summary: Mapping) -> list[tuple[str, str, str, str]]:
    """The suppressed summary flattened to (section, item, measure, value) rows."""
    rows: list[tuple[str, str, str, str]] = []

    def walk(section: str, item: str, obj: Any) -> None:
        if isinstance(obj, Mapping):
            for k, v in obj.items():
                if isinstance(v, Mapping | list):
                    walk(section, f"{item}.{k}" if item else str(k), v)
                else:
                    rows.append((section, item, str(k), "" if v is None else str(v)))
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                label = next(
                    (str(v[k]) for k in ("year", "years", "category") if isinstance(v, Mapping) and k in v),
                    str(i),
                )
                walk(section, f"{item}[{label}]", v)
        else:
            rows.append((section, item, "value", "" if obj is None else str(obj)))

    for section in SUMMARY_SECTIONS:
        if section in summary:
            walk(section, "", summary[section])
    return rows


def summary_csv(centre_code: str) -> str:
    summary = selectors.public_centre_summary(centre_code)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["section", "item", "measure", "value"])
    w.writerows(summary_csv_rows(summary))
    return buf.getvalue()
