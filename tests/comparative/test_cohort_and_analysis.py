"""The comparison cohort from synthetic registry tables (with comparators), a hand-built case for the
covariates at the index, and the whole analysis."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from openhsct.comparative.analysis import compare_treatments
from openhsct.comparative.cohort import comparison_cohort
from openhsct.comparative.errors import ComparativeError
from openhsct.comparative.simulate import simulate_comparison
from openhsct.registry import synth
from openhsct.registry.synth_comparators import add_comparators


@pytest.fixture(scope="module")
def text_tables():
    return add_comparators(synth.generate(centres=3, patients=300, seed=5), 240, 5)


@pytest.fixture(scope="module")
def tables(text_tables):
    return {name: synth.typed(frame) for name, frame in text_tables.items()}


def test_comparators_are_ordinary_registry_rows(text_tables):
    patients = text_tables["patients"]
    comparators = patients.loc[patients["patient_code"].str.startswith("C")]
    assert len(comparators) == 240 and list(patients.columns) == list(synth.TABLE_COLUMNS["patients"])
    el = text_tables["eligibility"]
    decisions = el.loc[el["patient_code"].str.startswith("C"), "decision"]
    assert set(decisions) <= {"not_eligible", "deferred"}
    key = patients[["centre_code", "patient_code"]].apply(tuple, axis=1)
    assert key.is_unique and key.tolist() == sorted(key)  # still sorted by the table's key
    again = add_comparators(synth.generate(centres=3, patients=300, seed=5), 240, 5)
    pd.testing.assert_frame_equal(again["edss_visits"], text_tables["edss_visits"])


def test_natalizumab_cohort(tables):
    c = comparison_cohort(tables, "natalizumab")
    assert set(c["treat"]) == {0, 1}
    assert set(c.loc[c["treat"] == 0, "drug"]) == {"natalizumab"} and set(c.loc[c["treat"] == 1, "drug"]) == {"aHSCT"}
    assert (c["fu_days"] > 0).all() and (c["cdw_time"] >= 0).all() and (c["relapse_time"] > 0).all()
    assert c["edss"].between(0, 9.5).all() and (c["relapses_24m"] >= c["relapses_12m"]).all()
    # Confounding as generated: comparators older, with fewer recent relapses.
    by = c.groupby("treat")
    assert by["age"].mean()[0] > by["age"].mean()[1]
    assert by["relapses_12m"].mean()[0] < by["relapses_12m"].mean()[1]
    anti_cd20 = comparison_cohort(tables, "ocrelizumab")
    assert set(anti_cd20.loc[anti_cd20["treat"] == 0, "drug"]) <= {"ocrelizumab", "ofatumumab"}
    one = comparison_cohort(tables, "natalizumab", centre="SYN01")
    assert set(one["centre_code"]) == {"SYN01"}
    with pytest.raises(ComparativeError, match="comparator"):
        comparison_cohort(tables, "aspirin")
    with pytest.raises(ComparativeError, match="no comparison possible"):
        comparison_cohort(tables, "natalizumab", country="XXX")


def _hand_tables() -> dict[str, pd.DataFrame]:
    """One transplanted patient (T1) and one natalizumab patient (D1), in canonical text."""
    rows = {
        "centres": [["AAA", "Synthetic A", "SWE", "A-town", "yes"]],
        "patients": [
            ["AAA", "T1", "female", "1980", "RRMS", "2010-01-01", "2010-06-01", "given", "2019-01-01", "2023-01-01"],
            ["AAA", "D1", "male", "1970", "SPMS", "", "2005-01-01", "given", "2019-01-01", "2023-01-01"],
        ],
        "eligibility": [
            ["AAA", "T1", "2019-06-01", "3.5", "2", "yes", "2", "2", "a;b", "eligible", ""],
            ["AAA", "D1", "2019-06-01", "5.0", "0", "no", "", "1", "a", "deferred", "patient preference"],
        ],
        "transplants": [["AAA", "T1", "2020-01-01"]],
        "dmt_exposures": [["AAA", "D1", "natalizumab", "2019-07-01", ""]],
        "edss_visits": [["AAA", "T1", "2019-12-01", "4.0"], ["AAA", "T1", "2020-07-01", "3.0"],
                        ["AAA", "D1", "2019-06-01", "5.0"], ["AAA", "D1", "2020-01-01", "6.0"],
                        ["AAA", "D1", "2020-07-01", "6.0"]],
        "relapses": [["AAA", "T1", "2019-03-01"], ["AAA", "T1", "2018-06-01"], ["AAA", "D1", "2020-03-01"]],
        "mri_scans": [["AAA", "T1", "2019-11-01", "yes", "1", "yes", "3"]],
    }
    cols = {"centres": ["centre_code", "name", "country", "city", "synthetic"],
            "transplants": ["centre_code", "patient_code", "day0"]}
    out = {}
    for name, data in rows.items():
        columns = cols.get(name) or list(synth.TABLE_COLUMNS[name])
        if name == "patients":
            columns = ["centre_code", "patient_code", "sex", "birth_year", "phenotype", "onset_date",
                       "diagnosis_date", "consent_status", "consent_date", "last_contact_date"]
        # Items the cohort does not read (added to a table later) are left empty.
        data = [row + [""] * (len(columns) - len(row)) for row in data]
        out[name] = synth.typed(pd.DataFrame(data, columns=columns))
    return out


def test_covariates_and_outcomes_at_the_index_by_hand():
    c = comparison_cohort(_hand_tables(), "natalizumab").set_index("patient_code")
    t, d = c.loc["T1"], c.loc["D1"]
    assert t["treat"] == 1 and d["treat"] == 0
    assert t["age"] == 40 and d["age"] == 49  # index years 2020 and 2019
    assert t["edss"] == 4.0 and d["edss"] == 5.0  # last visit within a year up to the index
    assert t["relapses_12m"] == 1 and t["relapses_24m"] == 2  # 2019-03-01; and 2018-06-01
    assert t["gd_lesions"] == 3 and d["gd_lesions"] == 0  # MRI before day 0; D1 not assessed
    assert t["disease_duration_y"] == pytest.approx(10.0, abs=0.01)
    assert d["disease_duration_y"] == pytest.approx((pd.Timestamp("2019-07-01") - pd.Timestamp("2005-01-01")).days / 365.25, abs=0.01)
    assert d["relapse_event"] == 1 and d["relapse_time"] == (pd.Timestamp("2020-03-01") - pd.Timestamp("2019-07-01")).days
    assert d["relapses"] == 1 and t["relapses"] == 0 and t["relapse_event"] == 0


def test_whole_analysis_on_simulated_data_is_json_ready():
    d = simulate_comparison(n=500, seed=3)
    d["cdw_time"], d["cdw_event"] = d["time"], d["event"]
    d["cdi_time"], d["cdi_event"] = d["time"], np.zeros(len(d), dtype=int)
    d["relapse_time"], d["relapse_event"] = d["time"], (d["relapses"] > 0).astype(int)
    a = compare_treatments(d, comparator="synthetic")
    frame = a.to_frame()
    assert set(frame["outcome"]) == {"cdw", "relapse"}  # no improvement events: noted, not fatal
    assert any("cdi" in note or "no events" in note for e in a.effects for note in e.notes)
    assert a.main is not None and a.main.lower < a.main.estimate < a.main.upper
    assert a.e_value.estimate > 1 and set(a.sensitivity) == {"untrimmed", "trimmed"}
    assert a.arr_matched.estimate < 1
    json.dumps(a.to_dict(), allow_nan=False)
    iptw_first = compare_treatments(d, method="iptw", estimand="ATE", truncate=(0.01, 0.99))
    assert iptw_first.main.variance == "survey" and iptw_first.balance.s_d_denom == "pooled"


def test_too_few_patients_is_a_clear_user_error():
    d = simulate_comparison(n=30, seed=1)
    with pytest.raises(ComparativeError, match="too few patients to compare"):
        compare_treatments(d.assign(cdw_time=d["time"], cdw_event=d["event"]), min_group=20)
