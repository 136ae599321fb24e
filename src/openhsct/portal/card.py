"""The summary card that opens every centre page and page 1 of its report: the answer first.

Formatting only. Every figure comes from the release: the centre's stored page (``centre/<code>.json``),
the all-centre figures (``overall.json``) and the published evidence stored on the page; prices are
converted with the shipped, dated rates of :mod:`openhsct.portal.currency`. The card is a list of
items, in the order a reader asks: how many were treated and since when; progression-free, relapse-free
and no-evidence-of-disease-activity at 2 and 5 years out of 100; deaths and severe side effects out of
1,000; the price; this centre beside all centres and beside the published studies (overlap of ranges,
never a rank); the follow-up flag beside the numbers it affects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openhsct.portal import currency as fx
from openhsct.portal.templatetags.portal_tags import _shown, out_of, range_of

#: The outcomes shown at 2 and 5 years: (key on the page, name, abbreviation, what "free" means).
OUTCOMES = (
    ("pfs", "Progression-free", "PFS", "alive without their disability getting worse (confirmed EDSS worsening)"),
    ("rfs", "Relapse-free", "RFS", "alive without a relapse"),
    ("efs", "No evidence of disease activity", "NEDA-3",
     "alive with no relapse, no worsening of disability and no new activity on MRI scans"),
)
FLAG = "Follow-up below 90 %: these numbers may look better or worse than they are."


def _value_at(items: list[Mapping] | None, years: int) -> Mapping | None:
    """The value at ``years`` of a list of ``{"years", "value"}`` items, or None."""
    return next((a["value"] for a in items or [] if a.get("years") == years), None)


def _figure(block: Mapping | None, scale: int) -> dict:
    """One number of the card: ``text`` (N out of scale), ``range`` (95 % range) and whether it is shown."""
    block = block or {"suppressed": True, "reason": "not in this release"}
    return {"text": out_of(block, scale), "range": range_of(block, scale), "shown": _shown(block)}


def _page_series(page: Mapping, key: str) -> list[Mapping]:
    """The 2- and 5-year values of an outcome on a centre page (NEDA-3 from its own block)."""
    if key == "efs":
        return page.get("neda3") or []
    ep = next((e for e in page.get("endpoints") or [] if e["key"] == key), None)
    return (ep or {}).get("at") or []


def outcome_items(page: Mapping) -> list[dict]:
    """Progression-free, relapse-free and NEDA-3 at 2 and 5 years, out of 100, each with its range and
    one plain sentence; progression-free also by course of MS where the groups allow."""
    items = []
    for key, name, short, meaning in OUTCOMES:
        series = _page_series(page, key)
        cells = [{"years": y, **_figure(_value_at(series, y), 100)} for y in (2, 5)]
        item = {"key": key, "name": name, "abbr": short, "scale": 100, "cells": cells,
                "explain": f"Out of 100 people like those treated here, about this many were {meaning} "
                           "2 and 5 years after the transplant.",
                "flag": bool((page.get("followup") or {}).get("flag"))}
        if key == "pfs":
            item["by_course"] = course_items(page)
        items.append(item)
    return items


def course_items(page: Mapping) -> list[dict]:
    """Progression-free at 5 years for relapsing and for progressive MS (empty when the release holds no
    such split)."""
    names = {"relapsing": "relapsing MS", "progressive": "progressive MS"}
    return [{"name": names.get(r["level"], r["level"]), **_figure(r.get("pfs_5y"), 100)}
            for r in page.get("course") or []]


def risk_items(page: Mapping) -> list[dict]:
    """Deaths (by the release's definition) and severe side effects, out of 1,000."""
    trm = page.get("trm") or {}
    day100 = trm.get("definition_key", "day100") == "day100"
    deaths = trm.get("day100") if day100 else trm.get("year1")
    when = "within 100 days of the transplant, from any cause" if day100 else "within a year, of causes attributed to the transplant"
    return [
        {"key": "trm", "name": "Deaths related to the transplant", "scale": 1000, **_figure(deaths, 1000),
         "explain": f"Out of 1,000 people treated here, about this many died {when}.",
         "flag": bool((page.get("followup") or {}).get("flag"))},
        {"key": "grade3", "name": "Severe side effects", "scale": 1000, **_figure(page.get("grade3"), 1000),
         "explain": "Out of 1,000 people treated here, about this many had at least one severe side effect "
                    "(grade 3 or worse on the CTCAE scale) recorded from mobilisation onwards."},
    ]


def _money(amount: float, code: str) -> str:
    """An amount rounded to a whole unit with thousands separators and its currency code."""
    return f"{amount:,.0f} {code}"


def price_item(page: Mapping, reader: str) -> dict:
    """The median price of the transplant episode in the centre's own currency and in ``reader``'s, with
    the middle half of prices, the number of patients, the price years and the rates used."""
    costs = page.get("costs_local") or page.get("costs")
    if not costs:
        return {"shown": False, "text": "No prices recorded for this centre."}
    median = costs.get("median") or {}
    if median.get("suppressed") or median.get("estimate") is None:
        return {"shown": False, "text": f"Not shown ({median.get('reason', 'too few patients')})."}
    own = costs["currency"]
    n = costs.get("patients")
    years = costs.get("price_years") or ""
    out = {
        "shown": True, "own_currency": own, "reader_currency": reader,
        "own": _money(median["estimate"], own),
        "own_middle": f"{_money(median['lower'], own)} and {_money(median['upper'], own)}",
        "n": n if isinstance(n, int) else None,
        "price_years": years,
        "explain": "The median price of the transplant episode as the centre recorded it (half the patients "
                   "paid less, half more); prices are as recorded in their year, not adjusted for inflation.",
    }
    if reader != own:
        try:
            out["reader"] = _money(fx.convert(median["estimate"], own, reader), reader)
            out["reader_middle"] = (f"half between {_money(fx.convert(median['lower'], own, reader), reader)} and "
                                    f"{_money(fx.convert(median['upper'], own, reader), reader)}")
            out["rates"] = fx.rate_sentence(own, reader)
        except KeyError as exc:
            out["rates"] = f"Not converted: {exc.args[0]}."
    return out


def _overlap(mine: Mapping | None, theirs: Mapping | None) -> str | None:
    """``"overlaps"`` or ``"does not overlap"`` for two 95 % ranges, or None when either is missing."""
    if not (_shown(mine) and _shown(theirs)):
        return None
    for b in (mine, theirs):
        if b.get("lower") is None or b.get("upper") is None:
            return None
    apart = mine["upper"] < theirs["lower"] or theirs["upper"] < mine["lower"]
    return "does not overlap" if apart else "overlaps"


def _pair(name: str, mine: Mapping | None, theirs: Mapping | None, scale: int) -> str | None:
    """``<name> (a to b out of scale) overlaps theirs (c to d)``, or None when it cannot be said."""
    verb = _overlap(mine, theirs)
    if verb is None:
        return None
    return (f"this centre's range for {name} ({range_of(mine, scale)} out of {scale:,}) {verb} "
            f"the range ({range_of(theirs, scale)})")


def all_centres_sentence(page: Mapping, overall: Mapping | None) -> str:
    """One sentence: this centre's ranges for progression-free at 5 years and deaths beside those of all
    published centres together."""
    if not overall:
        return "The figures for all centres together are not part of this release."
    trm = page.get("trm") or {}
    mine_deaths = trm.get("day100") if trm.get("definition_key", "day100") == "day100" else trm.get("year1")
    pairs = [
        _pair("progression-free at 5 years", _value_at(_page_series(page, "pfs"), 5),
              _value_at((overall.get("endpoints") or {}).get("pfs"), 5), 100),
        _pair("deaths related to the transplant", mine_deaths, overall.get("trm_day100"), 1000),
    ]
    pairs = [p for p in pairs if p]
    if not pairs:
        return "Beside all centres together: too few patients here to set this centre's ranges beside theirs."
    n = overall.get("n_patients")
    who = f"all {n:,} patients of the published centres together" if isinstance(n, int) else "all centres together"
    return (f"Beside {who}: " + "; ".join(pairs) + ". Overlapping ranges mean the data cannot tell the two "
            "apart; ranges that do not overlap can also reflect the patients each centre treats.")


def studies_sentence(page: Mapping) -> str:
    """One sentence: this centre's ranges beside the range the published studies expect for a centre."""
    pairs = []
    for ev in page.get("evidence") or []:
        rows = {r.get("kind"): r for r in ev.get("rows") or []}
        scale = 1000 if ev.get("outcome") == "trm" else 100
        name = "deaths from any cause by day 100" if ev.get("outcome") == "trm" else "progression-free at 5 years"
        mine, theirs = rows.get("centre"), rows.get("prediction")
        if mine and theirs:
            pair = _pair(name, {**mine, "suppressed": False}, {**theirs, "suppressed": False}, scale)
            if pair:
                pairs.append(pair + f" expected for a centre from {ev.get('k')} published cohorts")
    if not pairs:
        return "Beside the published studies: too few patients or studies here to set the ranges side by side."
    return "Beside the published studies: " + "; ".join(pairs) + "."


def treated_item(page: Mapping) -> dict:
    """How many were treated, since when, with the median follow-up and its completeness."""
    fu = page.get("followup") or {}
    completeness = fu.get("completeness") or {}
    median = fu.get("median_years") or {}
    return {
        "n": page.get("n_patients"), "since": page.get("first_year"),
        "followup_years": median.get("estimate") if _shown(median) else None,
        "followup_range": (median.get("lower"), median.get("upper")) if _shown(median) else None,
        "completeness": completeness.get("estimate") if _shown(completeness) else None,
        "flag": bool(fu.get("flag")),
    }


def summary_card(page: Mapping, overall: Mapping | None, reader: str = fx.DEFAULT) -> dict[str, Any]:
    """The summary card of a centre page (module docstring) as template data."""
    return {
        "treated": treated_item(page),
        "outcomes": outcome_items(page),
        "risks": risk_items(page),
        "price": price_item(page, reader),
        "all_centres": all_centres_sentence(page, overall),
        "studies": studies_sentence(page),
        "flag_text": FLAG,
        "currency": reader,
        "currencies": fx.reader_currencies(),
    }
