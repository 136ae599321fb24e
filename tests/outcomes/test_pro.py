"""PRO instruments and their summary: hand-checked scoring, the small-numbers rule, windows since day 0."""

from __future__ import annotations

import pandas as pd
import pytest

from openhsct.outcomes.instruments import INSTRUMENTS, check_answer, score_pdds
from openhsct.outcomes.pro import pro_over_time, window_labels


@pytest.mark.parametrize(("answers", "expected"), [
    ({"pdds": "0"}, 0.0),          # normal
    ({"pdds": "4"}, 4.0),          # early cane
    ({"pdds": "8"}, 8.0),          # bedridden
    ({"pdds": ""}, None),          # the one item unanswered: no score (nothing to impute)
    ({}, None),                    # item absent
    ({"pdds": "9"}, None),         # outside 0-8
    ({"pdds": " 3 "}, 3.0),        # stray spaces from a CSV cell
])
def test_pdds_score_is_the_chosen_step_and_missing_gives_none(answers, expected):
    assert score_pdds(answers) == expected


def test_instrument_codes_match_the_registry_choices():
    from openhsct.registry.models import PRO_ITEMS, ProAnswer

    assert set(INSTRUMENTS) == set(ProAnswer.Instrument.values)
    ours = {(i.code, item.item_id): (item.codes() or None) for i in INSTRUMENTS.values() for item in i.items}
    assert ours == PRO_ITEMS
    for inst in INSTRUMENTS.values():
        assert inst.licence and inst.source and inst.schedule_months == 6


def test_check_answer_names_the_problem():
    assert check_answer("pdds", "pdds", "5") is None
    assert "one of 0, 1" in check_answer("pdds", "pdds", "x")
    assert "unknown item" in check_answer("pdds", "walk", "1")
    assert check_answer("comment", "text", "Tired in the afternoons.") is None
    assert "longer than" in check_answer("comment", "text", "x" * 2001)


def test_windows_since_day0():
    assert list(window_labels([-10, 0, 1, 365, 366, 800])) == [
        "baseline", "baseline", "year 1", "year 1", "year 2", "year 3"]


def _answers(rows):
    return pd.DataFrame(rows, columns=["centre_code", "patient_code", "response_date", "instrument", "item",
                                       "answer", "source"])


def test_median_and_range_per_window_with_suppression():
    patients = pd.DataFrame({"centre_code": "A", "patient_code": [f"P{i}" for i in range(6)],
                             "day0": pd.Timestamp("2020-01-01")})
    rows = []
    for i, (base, y1) in enumerate([(2, 1), (3, 2), (4, 2), (5, 3), (6, 5), (1, 0)]):
        rows.append(("A", f"P{i}", "2019-12-01", "pdds", "pdds", str(base), "patient"))
        if i < 4:  # only 4 patients answer in year 1: suppressed
            rows.append(("A", f"P{i}", "2020-06-01", "pdds", "pdds", str(y1), "patient"))
    # a clinician's entry the same day does not displace the patient's own answer
    rows.append(("A", "P0", "2019-12-01", "pdds", "pdds", "8", "clinician"))
    s = pro_over_time(_answers(rows), patients)
    frame = s.to_frame().set_index("window")
    # baseline: 2, 3, 4, 5, 6, 1 -> median 3.5, range 1-6
    assert frame.loc["baseline", ["n", "estimate", "lower", "upper"]].tolist() == [6, 3.5, 1.0, 6.0]
    assert bool(frame.loc["year 1", "suppressed"]) and pd.isna(frame.loc["year 1", "estimate"])


def test_unscored_answers_are_left_out():
    patients = pd.DataFrame({"centre_code": "A", "patient_code": [f"P{i}" for i in range(5)],
                             "day0": pd.Timestamp("2020-01-01")})
    rows = [("A", f"P{i}", "2021-06-01", "pdds", "pdds", str(i), "patient") for i in range(5)]
    rows.append(("A", "P0", "2021-07-01", "pdds", "pdds", "", "patient"))  # later, unanswered
    frame = pro_over_time(_answers(rows), patients).to_frame().set_index("window")
    assert frame.loc["year 2", ["n", "estimate", "lower", "upper"]].tolist() == [5, 2.0, 0.0, 4.0]
