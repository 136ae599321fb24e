"""The centre summary: hand-computed numbers on ``registry_cases``, the contract the portal builds on, and
sanity on synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from openhsct.errors import OpenHSCTError
from openhsct.outcomes.binomial import binomial_ci
from openhsct.outcomes.currency import CurrencyError, convert
from openhsct.outcomes.endpoints import endpoint_data, registry_outcomes
from openhsct.outcomes.kaplan_meier import kaplan_meier
from openhsct.outcomes.summary import all_centres_summary, centre_comparison, centre_summary
from tests.outcomes import registry_cases

CONTRACT = {
    "centre": {"centre_code", "name", "country", "city", "synthetic"},
    "followup": {
        "alive",
        "seen",
        "share",
        "median_followup_years",
        "median_followup_lower",
        "median_followup_upper",
    },
    "trm": {"definition", "source", "n", "deaths", "day100", "year1", "curve"},
    "grade3_events": {"patients_with", "n", "estimate", "lower", "upper", "method"},
    "costs": {"currency", "rates", "rates_source", "n_patients", "median", "q1", "q3", "by_category"},
}


@pytest.fixture(scope="module")
def tables():
    return registry_cases.tables()


@pytest.fixture(scope="module")
def c1(tables):
    return centre_summary(tables, "C1", as_of=registry_cases.AS_OF)


def test_summary_has_the_portal_contract_and_is_json(c1):
    text = json.dumps(c1, allow_nan=False)
    assert set(c1) >= {
        "centre",
        "as_of",
        "n_patients",
        "per_year",
        "followup",
        "endpoints",
        "trm",
        "grade3_events",
        "edss_change",
        "did_not_do_well",
        "costs",
        "strata",
    }
    for key, fields in CONTRACT.items():
        assert set(c1[key]) >= fields, key
    assert set(c1["endpoints"]) == {"pfs", "rfs", "mri_afs", "efs", "os", "cdi", "pira", "raw"}
    kinds = {k: b["kind"] for k, b in c1["endpoints"].items()}
    assert {k for k, v in kinds.items() if v == "incidence"} == {"cdi", "pira", "raw"}
    assert set(c1["trm_family"]) == {"day100", "attributed", "procedure_itt"}
    for block in c1["endpoints"].values():
        assert set(block) >= {"label", "definition", "source", "n", "events", "curve", "at"}
        assert [a["years"] for a in block["at"]] == [1, 2, 5, 10]
    assert set(c1["strata"]) == {"phenotype", "edss_band", "intensity", "era"}
    for code in ("PA", "PB", "PC", "PD", "PE"):
        assert f'"{code}"' not in text  # never a patient code


def test_counts_and_years(c1):
    assert c1["centre"] == {
        "centre_code": "C1",
        "name": "Centre One",
        "country": "GBR",
        "city": "Oneton",
        "synthetic": True,
    }
    assert c1["as_of"] == "2023-06-30" and c1["n_patients"] == 5
    assert c1["per_year"] == [{"year": 2019, "n": 1}, {"year": 2020, "n": 3}, {"year": 2021, "n": 1}]
    assert (c1["followup"]["alive"], c1["followup"]["seen"], c1["followup"]["share"]) == (2, 0, 0.0)


def test_overall_survival_by_hand(c1):
    os_ = c1["endpoints"]["os"]
    assert (os_["n"], os_["events"]) == (5, 3)
    at = {a["years"]: a for a in os_["at"]}
    # Deaths at 40 (4 at risk) and 200 (3 at risk): S = 3/4 * 2/3 = 0.5; nobody followed to 5 years.
    assert at[1]["estimate"] == pytest.approx(0.5) and at[1]["n_risk"] == 2
    assert at[2]["estimate"] == pytest.approx(0.5) and at[2]["n_risk"] == 2
    assert at[5]["estimate"] is None and at[5]["n_risk"] == 0


def test_curve_agrees_with_kaplan_meier(tables, c1):
    c1_tables = {k: v.loc[v["centre_code"] == "C1"] for k, v in tables.items()}
    p = registry_outcomes(c1_tables, as_of=registry_cases.AS_OF).patients
    for key in ("os", "pfs", "efs"):
        t, e = endpoint_data(p, key)
        km = kaplan_meier(t / 365.25, e)
        steps = km.loc[km["n_event"] > 0]
        curve = c1["endpoints"][key]["curve"]
        assert curve[0] == {"time_years": 0.0, "survival": 1.0, "lower": 1.0, "upper": 1.0, "n_risk": len(t)}
        by_time = {round(pt["time_years"], 9): pt for pt in curve[1:]}
        for row in steps.itertuples():
            assert by_time[round(row.time, 9)]["survival"] == pytest.approx(row.survival)
            assert by_time[round(row.time, 9)]["n_risk"] == row.n_risk


def test_trm_attributed_by_hand(tables):
    trm = centre_summary(tables, "C1", as_of=registry_cases.AS_OF, trm_definition="attributed")["trm"]
    # TRM at 40 (B) and 200 (E, attribution unknown); C's death at 1310 competes; D censored at 31.
    assert (trm["n"], trm["deaths"]) == (5, 2)
    assert trm["day100"]["estimate"] == pytest.approx(0.25) and trm["day100"]["n_risk"] == 3
    assert trm["year1"]["estimate"] == pytest.approx(0.5) and trm["year1"]["n_risk"] == 2
    assert trm["day100"]["lower"] < 0.25 < trm["day100"]["upper"]


def test_trm_family_is_labelled_and_matches_each_definition(c1, tables):
    fam = c1["trm_family"]
    assert fam["day100"]["label"] == "Deaths from any cause by day 100"
    assert fam["attributed"]["label"].startswith("Transplant-attributed deaths")
    assert fam["procedure_itt"]["label"].endswith("(intention to treat)")
    attributed = centre_summary(tables, "C1", as_of=registry_cases.AS_OF, trm_definition="attributed")
    assert fam["attributed"]["year1"] == attributed["trm"]["year1"]
    assert fam["day100"] == c1["trm"]  # the public figure is the all-cause day-100 one


def test_trm_by_the_100_day_definition(tables):
    s = centre_summary(tables, "C1", as_of=registry_cases.AS_OF)
    assert s["trm"]["deaths"] == 1 and s["trm"]["definition_key"] == "day100"
    assert s["trm"]["day100"]["estimate"] == pytest.approx(0.25)
    assert s["trm"]["year1"]["estimate"] == pytest.approx(0.25)  # no TRM after day 100 by definition


def test_centre_without_deaths(tables):
    s = centre_summary(tables, "C2", as_of=registry_cases.AS_OF)
    assert s["n_patients"] == 1 and s["trm"]["deaths"] == 0
    # No death: the exact binomial range of 0 of 1 (not a collapsed 0 to 0).
    assert s["trm"]["day100"] == {"estimate": 0.0, "lower": 0.0, "upper": pytest.approx(0.975), "n_risk": 1,
                                  "events": 0, "interval": "exact binomial (estimate at 0 or 1)"}
    assert s["endpoints"]["os"]["events"] == 0
    assert s["costs"]["n_patients"] == 0 and s["costs"]["median"] is None
    assert s["did_not_do_well"] == []
    assert s["edss_change"][0] == {
        "years": 1,
        "n": 1,
        "mean_change": 0.0,
        "median_change": 0.0,
        "improved": 0,
        "stable": 1,
        "worse": 0,
    }
    json.dumps(s, allow_nan=False)


def test_unknown_centre_is_a_user_error(tables):
    with pytest.raises(OpenHSCTError, match="no centre 'XX'"):
        centre_summary(tables, "XX")


def test_grade3_events_by_hand(c1):
    g = c1["grade3_events"]
    ci = binomial_ci(2, 5, method="exact")
    assert (g["patients_with"], g["n"]) == (2, 5)
    assert (g["estimate"], g["lower"], g["upper"]) == pytest.approx((ci.estimate, ci.lower, ci.upper))


def test_costs_by_hand(c1, tables):
    c = c1["costs"]
    # A: 1000 + 100 EUR; B: 1041.10 USD = 1000 EUR; C: 826.08 GBP = 1000 EUR.
    assert c["n_patients"] == 3 and c["currency"] == "EUR"
    assert (c["median"], c["q1"], c["q3"]) == pytest.approx((1000.0, 1000.0, 1050.0))
    cats = {row["category"]: row for row in c["by_category"]}
    assert cats["drugs"]["median"] == pytest.approx(100.0) and cats["drugs"]["n_patients"] == 1
    assert cats["hospital_stay"]["n_patients"] == 3
    gbp = centre_summary(tables, "C1", as_of=registry_cases.AS_OF, currency="GBP")["costs"]
    assert gbp["median"] == pytest.approx(826.08) and gbp["rates"]["GBP"] == 1.0
    mine = centre_summary(tables, "C1", as_of=registry_cases.AS_OF, rates={"EUR": 1, "USD": 2, "GBP": 1})[
        "costs"
    ]
    assert mine["median"] == pytest.approx(826.08) and mine["rates_source"] == "rates given by the caller"


def test_currency_errors():
    with pytest.raises(CurrencyError, match="XYZ"):
        convert([1.0], ["XYZ"])
    with pytest.raises(CurrencyError, match="unknown currency"):
        convert([1.0], ["EUR"], target="XYZ")
    assert convert([92.5162, 1.0], ["RUB", "eur"]) == pytest.approx([1.0, 1.0])


def test_did_not_do_well_by_hand(c1):
    rows = c1["did_not_do_well"]
    assert [(r["transplant_year"], r["days_from_day0"], r["event"]) for r in rows] == [
        (2019, 1310, "death (malignancy)"),
        (2020, 10, "grade 3 adverse event (infection)"),
        (2020, 35, "grade 5 adverse event (infection)"),
        (2020, 40, "death (infection)"),
        (2020, 200, "death (unknown)"),
        (2020, 366, "confirmed disability worsening"),
    ]
    assert rows[0]["timing"] == "year 2-5"
    assert rows[3]["timing"] == "day 0-100" and rows[4]["timing"] == "day 101-365"
    assert all(
        set(r) == {"transplant_year", "phenotype", "edss_band", "event", "timing", "days_from_day0"}
        for r in rows
    )


def test_strata_carry_n(c1):
    pheno = c1["strata"]["phenotype"]
    assert {k: v["n"] for k, v in pheno.items()} == {"PPMS": 1, "RRMS": 3, "SPMS": 1}
    assert pheno["RRMS"]["os_5y"]["n"] == 3 and "n_risk" in pheno["RRMS"]["os_5y"]
    assert pheno["SPMS"]["trm_day100"]["events"] == 1 and pheno["SPMS"]["trm_day100"]["estimate"] == 1.0
    assert list(c1["strata"]["edss_band"]) == ["0-3.0", "3.5-5.5", "6.0+", "unknown"]
    assert set(c1["strata"]["era"]) == {"2018+"}


def test_all_centres_and_comparison(tables):
    every = all_centres_summary(tables, as_of=registry_cases.AS_OF)
    assert every["n_patients"] == 6 and every["centre"]["centre_code"] == "ALL"
    json.dumps(every, allow_nan=False)
    comp = centre_comparison(tables, as_of=registry_cases.AS_OF).set_index("centre_code")
    assert list(comp.index) == ["C1", "C2"]
    assert comp.loc["C1", "n"] == 5 and comp.loc["C1", "trm_events_day100"] == 1
    assert comp.loc["C2", "trm_events_day100"] == 0
    # Observed and expected agree in total (the model is fitted on all centres, or is the overall rate).
    assert comp["trm_expected_day100"].sum() == pytest.approx(comp["trm_events_day100"].sum())
    e = comp.loc["C2", "trm_expected_day100"]
    assert comp.loc["C2", "trm_shrunk_ratio"] == pytest.approx(2.0 / (e + 2.0))


def test_synthetic_summary_is_sane():
    from openhsct.registry import synth

    tables = {k: synth.typed(v) for k, v in synth.generate(3, 600, 11).items()}
    outcomes = registry_outcomes(tables)
    s = all_centres_summary(tables, outcomes=outcomes)
    json.dumps(s, allow_nan=False)
    assert s["n_patients"] == len(outcomes.patients) > 500
    assert sum(r["n"] for r in s["per_year"]) == s["n_patients"]
    for key, block in s["endpoints"].items():
        risk = [pt["n_risk"] for pt in block["curve"]]
        assert risk == sorted(risk, reverse=True), key
        surv = [pt["survival"] for pt in block["curve"]]
        assert surv == sorted(surv, reverse=True), key
        for a in block["at"]:
            if a["estimate"] is not None:
                assert a["lower"] <= a["estimate"] <= a["upper"]
        at5 = {a["years"]: a["estimate"] for a in block["at"]}[5]
        assert 0.3 < at5 <= 1.0, key
    assert s["endpoints"]["os"]["at"][2]["estimate"] >= s["endpoints"]["pfs"]["at"][2]["estimate"]
    assert 0 <= s["trm"]["day100"]["estimate"] < 0.1
    assert 0 < s["followup"]["share"] <= 1 and s["followup"]["median_followup_years"] > 1
    comp = centre_comparison(tables, outcomes=outcomes)
    assert comp["n"].sum() == s["n_patients"]
    assert comp["trm_expected_day100"].sum() == pytest.approx(comp["trm_events_day100"].sum(), rel=1e-6)
    assert np.isfinite(comp["trm_shrunk_ratio"]).all()
