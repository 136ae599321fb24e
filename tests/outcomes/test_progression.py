"""``msprog`` on small hand-computed courses: thresholds, confirmation, baselines, RAW / PIRA, edge cases."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from openhsct.outcomes.progression import MsprogArgumentError, msprog
from openhsct.outcomes.progression.thresholds import compute_delta, delta_per_visit


def _visits(course: dict[str, list[tuple[int, float]]]) -> pd.DataFrame:
    start = pd.Timestamp("2020-01-01")
    rows = [(sid, start + pd.Timedelta(days=d), v) for sid, visits in course.items() for d, v in visits]
    return pd.DataFrame(rows, columns=["id", "date", "EDSS"])


def _relapses(onsets: dict[str, list[int]]) -> pd.DataFrame:
    start = pd.Timestamp("2020-01-01")
    rows = [(sid, start + pd.Timedelta(days=d)) for sid, days in onsets.items() for d in days]
    return pd.DataFrame(rows, columns=["id", "date"])


def test_minimum_change_by_reference_edss():
    """+1.5 from 0, +1.0 up to 5.0 (pymsprog's code: ``0 < baseline <= 5``), +0.5 above."""
    assert [compute_delta(b) for b in (0, 0.5, 5.0, 5.5, 9.5)] == [1.5, 1.0, 1.0, 0.5, 0.5]
    np.testing.assert_array_equal(
        delta_per_visit(np.array([0, 0.5, 5.0, 5.5, 9.5]), "edss"), [1.5, 1, 1, 0.5, 0.5]
    )


def test_confirmed_worsening_needs_the_threshold_and_a_confirmation():
    course = {
        "zero_plus_1": [(0, 0.0), (100, 1.0), (200, 1.0)],  # +1.0 from 0: below the 1.5 threshold
        "zero_plus_1.5": [(0, 0.0), (100, 1.5), (200, 1.5)],
        "five_plus_0.5": [(0, 5.0), (100, 5.5), (200, 5.5)],  # +0.5 from 5.0: below the 1.0 threshold
        "5.5_plus_0.5": [(0, 5.5), (100, 6.0), (200, 6.0)],
        "unconfirmed": [(0, 2.0), (100, 3.0), (200, 2.0)],
        "too_early": [(0, 2.0), (100, 3.0), (150, 3.0)],  # 50 days < 84 - 7
    }
    res = msprog(_visits(course)).results.set_index("id")
    assert res["nevent"].to_dict() == {
        "zero_plus_1": 0,
        "zero_plus_1.5": 1,
        "five_plus_0.5": 0,
        "5.5_plus_0.5": 1,
        "unconfirmed": 0,
        "too_early": 0,
    }
    assert res.loc["zero_plus_1.5", "time2event"] == 100
    assert res.loc["unconfirmed", "time2event"] == 200  # no event: total follow-up


def test_roving_baseline_finds_a_second_worsening():
    course = {"A": [(0, 2.0), (100, 3.0), (200, 3.0), (300, 4.0), (400, 4.0)]}
    fixed = msprog(_visits(course), event="multiple").results
    roving = msprog(_visits(course), event="multiple", baseline="roving").results
    # Fixed baseline 2.0: 3.0 (day 100) confirmed; search resumes after day 200, 4.0 is again one CDW from 2.0.
    assert fixed["time2event"].tolist() == [100, 300] and fixed["bl2event"].tolist() == [100, 300]
    # Roving: baseline moves to the confirmation (day 200, 3.0), so the second event is 100 days from it.
    assert roving["time2event"].tolist() == [100, 300] and roving["bl2event"].tolist() == [100, 100]


def test_relapse_within_assoc_is_raw_otherwise_pira():
    course = {"raw": [(0, 2.0), (100, 3.5), (200, 3.5)], "pira": [(0, 2.0), (300, 3.5), (400, 3.5)]}
    res = msprog(_visits(course), relapse=_relapses({"raw": [60], "pira": [60]}), RAW_PIRA=True).results
    assert res.set_index("id")["CDW_type"].to_dict() == {"raw": "RAW", "pira": "PIRA"}


def test_confirmation_visit_near_a_relapse_does_not_confirm():
    course = {"A": [(0, 2.0), (100, 3.0), (200, 3.0)]}
    res = msprog(_visits(course), relapse=_relapses({"A": [190]})).results  # 10 days < relapse_to_conf 30
    assert res["nevent"].tolist() == [0]


def test_improvement_and_first_event():
    course = {"A": [(0, 4.0), (100, 3.0), (200, 3.0), (300, 4.5), (400, 4.5)]}
    first = msprog(_visits(course), event="first").results
    assert first[["event_type", "time2event"]].values.tolist() == [["CDI", 100]]
    cdw = msprog(_visits(course), event="firstCDW").results
    assert cdw["nevent"].tolist() == [0]  # 4.5 is only +0.5 from the fixed baseline 4.0


def test_impute_last_visit_counts_an_unconfirmed_last_worsening():
    course = {"A": [(0, 2.0), (100, 2.0), (200, 3.5)]}
    assert msprog(_visits(course)).results["nevent"].tolist() == [0]
    assert msprog(_visits(course), impute_last_visit=1).results["time2event"].tolist() == [200]


def test_same_day_visits_keep_the_last_listed_and_rows_may_come_unsorted():
    visits = _visits({"A": [(200, 3.0), (0, 2.0), (100, 2.0), (100, 3.0)]})
    res = msprog(visits, conf_days=84).results
    assert res["time2event"].tolist() == [100]


def test_single_visit_subject_has_no_event():
    res = msprog(_visits({"A": [(0, 2.0)]})).results
    assert res[["nevent", "time2event"]].values.tolist() == [[0, 0]]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"event": "firstEDSS"},
        {"baseline": "moving"},
        {"impute_last_visit": 0.5},
        {"return_unconfirmed": True},
        {"relapse_indep": {"prec": (None, 0), "event": (90, 30), "conf": (90, 30)}},
        {"outcome": "custom"},
    ],
)
def test_unsupported_or_invalid_arguments_raise(kwargs):
    with pytest.raises(MsprogArgumentError):
        msprog(_visits({"A": [(0, 2.0), (100, 3.0)]}), **kwargs)


def test_pure_python_path_gives_the_same_events():
    """The same code with numba switched off (NUMBA_DISABLE_JIT=1) is the readable reference path."""
    script = (
        "import sys; sys.path.insert(0, '.');"
        "from tests.outcomes.msprog_ref.cohort import synthetic_cohort;"
        "from openhsct.outcomes.progression import msprog;"
        "v, r = synthetic_cohort(25, 5);"
        "res = msprog(v, relapse=r, event='multiple', RAW_PIRA=True, baseline='roving', include_value=True);"
        "sys.stdout.write(res.results.to_csv(index=False))"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    pure = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, check=True, capture_output=True, text=True
    ).stdout
    from tests.outcomes.msprog_ref.cohort import synthetic_cohort

    v, r = synthetic_cohort(25, 5)
    jitted = msprog(v, relapse=r, event="multiple", RAW_PIRA=True, baseline="roving", include_value=True)
    assert pure == jitted.results.to_csv(index=False)
    assert (jitted.results["nevent"] > 0).sum() > 10
