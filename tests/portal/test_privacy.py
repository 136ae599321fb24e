"""The small-numbers rule: no number from fewer than 5 patients survives ``suppress``; counts of 1–4 are
"<5"; zero, and numbers from 5 or more patients, are kept."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from openhsct.portal import privacy
from openhsct.portal.privacy import SMALL, suppress, suppress_rows

YEARS = ("year", "years", "transplant_year", "window_days")


def violations(obj, path="") -> list[str]:
    """Every place where a number rests on fewer than 5 patients or a count of 1–4 is shown."""
    out = []
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            out += violations(item, f"{path}[{i}]")
        return out
    if not isinstance(obj, dict):
        return out
    denoms = [v for k, v in obj.items() if k in privacy.DENOMINATOR_KEYS and isinstance(v, int | float)]
    numbers = {
        k: v
        for k, v in obj.items()
        if isinstance(v, int | float)
        and not isinstance(v, bool)
        and k not in YEARS
        and not (isinstance(v, float) and math.isnan(v))
    }
    if denoms and min(denoms) < 5 and any(k not in privacy.DENOMINATOR_KEYS for k in numbers):
        out.append(f"{path}: numbers from {min(denoms)} patients: {numbers}")
    for k, v in obj.items():
        if privacy.is_count_key(k) and isinstance(v, int | float) and 0 < v < 5:
            out.append(f"{path}.{k} = {v}")
        if str(k).endswith("_counts") and isinstance(v, dict):
            out += [f"{path}.{k}.{c} = {x}" for c, x in v.items() if isinstance(x, int) and 0 < x < 5]
        out += violations(v, f"{path}.{k}")
    return out


def _at(years, est, n_risk):
    return {"years": years, "estimate": est, "lower": est - 0.1, "upper": min(1, est + 0.1), "n_risk": n_risk}


def summary(n_patients=40) -> dict:
    """A hand-made summary with small cells in every section."""
    return {
        "centre": {"centre_code": "X", "name": "X centre", "country": "GBR", "city": "", "synthetic": True},
        "as_of": "2026-06-30",
        "n_patients": n_patients,
        "per_year": [{"year": 2019, "n": 3}, {"year": 2020, "n": 37}, {"year": 2021, "n": 0}],
        "followup": {"alive": 38, "seen": 36, "share": 36 / 38, "median_followup_years": 4.2},
        "endpoints": {
            "pfs": {
                "label": "PFS",
                "definition": "d",
                "source": "s",
                "n": 40,
                "events": 3,
                "curve": [
                    {"time_years": 0.0, "survival": 1.0, "lower": 1.0, "upper": 1.0, "n_risk": 40},
                    {"time_years": 4.0, "survival": 0.8, "lower": 0.7, "upper": 0.9, "n_risk": 12},
                    {"time_years": 9.0, "survival": 0.6, "lower": 0.3, "upper": 0.9, "n_risk": 2},
                ],
                "at": [_at(1, 0.95, 38), _at(5, 0.8, 10), _at(10, 0.6, 2)],
            },
            "os": {
                "label": "OS",
                "definition": "d",
                "source": "s",
                "n": 4,
                "events": 0,
                "curve": [],
                "at": [],
            },
        },
        "trm": {
            "definition": "d",
            "source": "s",
            "n": 40,
            "deaths": 2,
            "competing_deaths": 0,
            "day100": {"estimate": 0.05, "lower": 0.01, "upper": 0.2, "n_risk": 38, "events": 2},
            "year1": {"estimate": 0.05, "lower": 0.01, "upper": 0.2, "n_risk": 4, "events": 2},
            "curve": [{"time_days": 0.0, "cif": 0.0, "lower": 0.0, "upper": 0.0, "n_risk": 40}],
        },
        "neda3": [
            {
                "years": 2,
                "n": 40,
                "n_evaluable": 3,
                "n_neda": 2,
                "estimate": 0.66,
                "lower": 0.1,
                "upper": 0.99,
                "status_counts": {"neda": 2, "failed": 1},
                "method": "Clopper-Pearson",
            }
        ],
        "grade3_events": {
            "patients_with": 4,
            "n": 40,
            "estimate": 0.1,
            "lower": 0.03,
            "upper": 0.24,
            "method": "Clopper-Pearson",
        },
        "edss_change": [
            {
                "years": 1,
                "n": 30,
                "mean_change": -0.2,
                "median_change": 0.0,
                "improved": 8,
                "stable": 20,
                "worse": 2,
            },
            {
                "years": 5,
                "n": 4,
                "mean_change": 0.5,
                "median_change": 0.5,
                "improved": 0,
                "stable": 2,
                "worse": 2,
            },
        ],
        "did_not_do_well": [
            {
                "transplant_year": 2020,
                "phenotype": "RRMS",
                "edss_band": "3.5-5.5",
                "event": "death (infection)",
                "timing": "day 0-100",
                "days_from_day0": 41,
            }
        ],
        "costs": {
            "currency": "EUR",
            "n_patients": 30,
            "median": 50000.0,
            "q1": 40000.0,
            "q3": 60000.0,
            "by_category": [
                {"category": "travel", "n_patients": 2, "median": 900.0},
                {"category": "hospital_stay", "n_patients": 30, "median": 30000.0},
            ],
        },
        "strata": {
            "phenotype": {
                "RRMS": {
                    "n": 36,
                    "pfs_5y": {"estimate": 0.8, "lower": 0.7, "upper": 0.9, "n_risk": 9, "n": 36},
                    "os_5y": {"estimate": 0.95, "lower": 0.9, "upper": 1.0, "n_risk": 3, "n": 36},
                    "trm_day100": {
                        "estimate": 0.05,
                        "lower": 0.0,
                        "upper": 0.2,
                        "n_risk": 34,
                        "n": 36,
                        "events": 2,
                    },
                },
                "PPMS": {
                    "n": 4,
                    "pfs_5y": {"estimate": 0.5, "lower": 0.1, "upper": 0.9, "n_risk": 1, "n": 4},
                },
            }
        },
    }


def test_the_hand_made_summary_breaks_the_rule_before_suppression():
    assert len(violations(summary())) >= 10


def test_suppress_leaves_no_small_number():
    assert violations(suppress(summary())) == []


def test_counts_of_one_to_four_become_lt5_and_zero_stays():
    s = suppress(summary())
    assert s["per_year"] == [{"year": 2019, "n": SMALL}, {"year": 2020, "n": 37}, {"year": 2021, "n": 0}]
    assert s["trm"]["deaths"] == SMALL and s["endpoints"]["pfs"]["events"] == SMALL
    assert s["grade3_events"]["patients_with"] == SMALL and s["grade3_events"]["estimate"] == 0.1
    assert s["edss_change"][0]["worse"] == SMALL and s["edss_change"][0]["improved"] == 8


def test_estimates_from_fewer_than_5_are_removed_and_the_rest_kept():
    s = suppress(summary())
    assert s["endpoints"]["os"]["suppressed"] and "estimate" not in str(s["endpoints"]["os"])
    pfs = s["endpoints"]["pfs"]
    assert [p["n_risk"] for p in pfs["curve"]] == [40, 12]
    assert pfs["at"][1]["estimate"] == 0.8 and pfs["at"][2] == {
        "suppressed": True,
        "reason": privacy.SMALL_N_TEXT,
        "years": 10,
    }
    assert s["trm"]["day100"]["estimate"] == 0.05 and s["trm"]["year1"]["suppressed"]
    assert s["neda3"][0]["suppressed"] and "estimate" not in s["neda3"][0]
    assert s["edss_change"][1]["suppressed"] and s["edss_change"][1]["years"] == 5
    assert s["costs"]["by_category"][0]["suppressed"] and s["costs"]["by_category"][1]["median"] == 30000.0
    assert s["strata"]["phenotype"]["PPMS"]["suppressed"]
    assert s["strata"]["phenotype"]["RRMS"]["os_5y"]["suppressed"]
    assert s["strata"]["phenotype"]["RRMS"]["pfs_5y"]["estimate"] == 0.8


def test_did_not_do_well_loses_the_exact_day():
    s = suppress(summary())
    assert s["did_not_do_well"] == [
        {
            "transplant_year": 2020,
            "phenotype": "RRMS",
            "edss_band": "3.5-5.5",
            "event": "death (infection)",
            "timing": "day 0-100",
        }
    ]


def test_a_centre_under_5_patients_keeps_only_its_name():
    s = suppress(summary(n_patients=3))
    assert s["suppressed"] and s["n_patients"] == SMALL
    assert s["did_not_do_well"] == [] and s["endpoints"] == {} and s["trm"] is None
    assert violations(s) == []


def test_suppress_does_not_change_its_input():
    original = summary()
    suppress(original)
    assert original == summary()


def test_suppress_rows_blanks_small_centres_and_small_groups():
    rows = [
        {"centre_code": "A", "name": "A", "n": 3, "trm_events_day100": 1, "trm_n_day100": 3, "pfs_5y": 0.5},
        {
            "centre_code": "B",
            "name": "B",
            "n": 50,
            "trm_events_day100": 2,
            "trm_n_day100": 48,
            "trm_rate": 0.04,
            "pfs_5y": 0.7,
            "pfs_5y_n_risk": 3,
            "followup_alive": 47,
            "followup_share": 0.95,
        },
    ]
    a, b = suppress_rows(rows)
    assert a["suppressed"] and "pfs_5y" not in a and a["n"] == SMALL
    assert b["trm_events_day100"] == SMALL and b["trm_rate"] == 0.04
    assert b["pfs_5y"] is None and b["pfs_5y_n_risk_suppressed"] and b["followup_share"] == 0.95


counts = st.integers(min_value=0, max_value=60)


@st.composite
def blocks(draw, depth=0):
    n = draw(counts)
    block = {
        "n": n,
        "estimate": draw(st.floats(0, 1)),
        "events": draw(counts),
        "at": [{"years": y, "estimate": 0.5, "n_risk": draw(counts)} for y in (1, 5)],
        "curve": [{"time_years": t, "survival": 0.9, "n_risk": draw(counts)} for t in (0.5, 2.0)],
    }
    if depth < 2 and draw(st.booleans()):
        block["inner"] = draw(blocks(depth + 1))
    return block


@settings(max_examples=150, deadline=None)
@given(
    n_patients=counts,
    eps=st.dictionaries(st.sampled_from(["pfs", "os", "rfs"]), blocks(), max_size=3),
    per_year=st.lists(counts, max_size=6),
    strata=st.dictionaries(st.sampled_from(["a", "b"]), blocks()),
)
def test_no_small_number_survives_any_summary(n_patients, eps, per_year, strata):
    s = {
        "centre": {"centre_code": "Z"},
        "as_of": "2026-01-01",
        "n_patients": n_patients,
        "per_year": [{"year": 2000 + i, "n": c} for i, c in enumerate(per_year)],
        "followup": {"alive": n_patients, "seen": n_patients // 2, "share": 0.5},
        "endpoints": eps,
        "trm": None,
        "strata": {"phenotype": strata},
    }
    assert violations(suppress(s)) == []
