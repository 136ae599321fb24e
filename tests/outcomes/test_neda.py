"""NEDA-3: the MRI re-baseline rule, "not done is not no activity", and the status at a horizon."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from openhsct.outcomes.binomial import binomial_ci
from openhsct.outcomes.endpoints import registry_outcomes
from openhsct.outcomes.neda import mri_activity, neda3, scan_readings
from tests.outcomes import registry_cases


def _scans(*rows) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["pid", "day", "t2_assessed", "new_enlarging_t2", "gd_assessed", "gd_lesions"]
    )


def test_rebaseline_scan_is_the_first_on_or_after_day_90():
    s = _scans((0, 30, "yes", 5, "yes", 2), (0, 95, "yes", 3, "yes", 1), (0, 400, "yes", 0, "yes", 0))
    r = scan_readings(s, 1)
    assert list(r["rebaseline_day"]) == [95, 95, 95]
    # Before the re-baseline nothing counts; on it, the Gd+ lesion counts (it formed after treatment: enhancement
    # lasts weeks) but its 3 new T2 lesions, read against the pre-treatment scan, would not.
    assert list(r["active"]) == [False, True, False]
    act = mri_activity(r, 1)
    assert act.loc[0, "mri_active_day"] == 95 and act.loc[0, "last_mri_day"] == 400


def test_new_t2_on_the_rebaseline_scan_is_not_activity():
    s = _scans((0, 30, "yes", 5, "yes", 2), (0, 95, "yes", 3, "yes", 0), (0, 400, "yes", 0, "yes", 0))
    r = scan_readings(s, 1)
    assert list(r["active"]) == [False, False, False]
    assert np.isnan(mri_activity(r, 1).loc[0, "mri_active_day"])


def test_a_later_rebaseline_day_moves_the_reference():
    s = _scans((0, 95, "yes", 0, "yes", 0), (0, 150, "yes", 1, "no", pd.NA), (0, 400, "yes", 0, "yes", 0))
    assert mri_activity(scan_readings(s, 1), 1).loc[0, "mri_active_day"] == 150
    assert np.isnan(mri_activity(scan_readings(s, 1, rebaseline_from_days=120), 1).loc[0, "mri_active_day"])


def test_readings_not_done_are_not_activity_and_not_absence():
    s = _scans(
        (0, 100, "yes", 0, "yes", 0),
        (0, 200, "no", 4, "unknown", 3),  # counts recorded but not assessed: ignored
        (1, 100, "yes", 0, "no", pd.NA),
        (1, 300, "unknown", pd.NA, "yes", 2),  # Gd read: active
    )
    r = scan_readings(s, 2)
    assert list(r["active"]) == [False, False, False, True]
    assert list(r["informative"]) == [False, False, False, True]
    act = mri_activity(r, 2)
    assert act.loc[0, "last_mri_day"] == 100  # the unread scan at 200 informs nothing
    assert act.loc[1, "mri_active_day"] == 300


def test_patient_without_scans_has_no_rebaseline():
    act = mri_activity(scan_readings(_scans((1, 50, "yes", 1, "yes", 1)), 3), 3)
    assert act["rebaseline_day"].isna().all() and act["last_mri_day"].isna().all()


@pytest.fixture(scope="module")
def outcomes():
    return registry_outcomes(registry_cases.tables(), as_of=registry_cases.AS_OF)


def _status(result, outcomes) -> dict:
    return dict(zip(outcomes.patients["patient_code"], result.patients["status"], strict=True))


def test_neda3_at_one_year_by_hand(outcomes):
    r = neda3(outcomes.patients, outcomes.readings, 1)
    status = _status(r, outcomes)
    # A: CDW at day 366 > 365.25, T2 read at day 370 (within ±91 of the horizon): NEDA.
    # B (day 40) and E (day 200) died. C: the scan near year 1 (day 375) had no T2 reading: not evaluable.
    # D: followed 31 days; F: EDSS at day 366 but never scanned: not evaluable.
    assert status == {
        "PA": "neda",
        "PB": "died",
        "PC": "not_evaluable",
        "PD": "not_evaluable",
        "PE": "died",
        "PF": "not_evaluable",
    }
    assert (r.n_neda, r.n_evaluable) == (1, 3)
    ci = binomial_ci(1, 3, method="exact")
    assert (r.estimate, r.lower, r.upper) == pytest.approx((ci.estimate, ci.lower, ci.upper))
    assert r.first_failure_counts == {"death": 2, "relapse": 0, "cdw": 0, "mri": 0}


def test_neda3_at_two_years_by_hand(outcomes):
    r = neda3(outcomes.patients, outcomes.readings, 2)
    status = _status(r, outcomes)
    failure = dict(zip(outcomes.patients["patient_code"], r.patients["first_failure"], strict=True))
    assert status["PA"] == "eda" and failure["PA"] == "cdw"
    assert status["PC"] == "eda" and failure["PC"] == "relapse"  # relapse day 458 before the MRI lesion (735)
    assert r.patients.loc[outcomes.patients["patient_code"] == "PC", "failure_day"].item() == 458
    assert (r.n_neda, r.n_evaluable) == (0, 4)


def test_death_need_not_count_as_failure(outcomes):
    r = neda3(outcomes.patients, outcomes.readings, 1, death_is_failure=False)
    assert (r.n_neda, r.n_evaluable, r.estimate) == (1, 1, 1.0)
    frame = r.to_frame()
    assert frame.loc[0, "n_died"] == 2 and frame.loc[0, "n"] == 6


def test_mri_activity_just_after_the_horizon_window_is_not_counted(outcomes):
    # C's new T2 lesion is at day 735: inside 2 years + 91 days, outside 1 year + 91 days.
    p = outcomes.patients.copy()
    p.loc[p["patient_code"] == "PC", "relapse_day"] = np.nan
    two = neda3(p, outcomes.readings, 2)
    assert two.patients.loc[p["patient_code"] == "PC", "first_failure"].item() == "mri"
    assert two.patients.loc[p["patient_code"] == "PC", "status"].item() == "eda"


def test_no_evaluable_patient_gives_nan_not_zero(outcomes):
    r = neda3(outcomes.patients, outcomes.readings, 15)
    assert r.status_counts == {"neda": 0, "eda": 2, "died": 2, "not_evaluable": 2}
    assert r.n_evaluable == 4 and r.estimate == 0.0
    data = {
        name: [row for row in rows if row.get("patient_code", "PD") in ("PD", "PF")]
        for name, rows in registry_cases.rows().items()
    }
    short = registry_outcomes(registry_cases.tables(data), as_of=registry_cases.AS_OF)
    r = neda3(short.patients, short.readings, 1)
    assert r.n == 2 and r.n_evaluable == 0 and np.isnan(r.estimate)
