"""Endpoints from the registry: hand-computed on the small registry of ``registry_cases``, then consistency
with the estimators and the edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from openhsct.outcomes.endpoints import (
    edss_band,
    edss_change,
    endpoint_data,
    era,
    registry_delta,
    registry_outcomes,
)
from openhsct.outcomes.kaplan_meier import kaplan_meier
from tests.outcomes import registry_cases


@pytest.fixture(scope="module")
def outcomes():
    return registry_outcomes(registry_cases.tables(), as_of=registry_cases.AS_OF)


def _by_code(outcomes) -> pd.DataFrame:
    return outcomes.patients.set_index("patient_code")


def test_follow_up_and_death_days(outcomes):
    p = _by_code(outcomes)
    assert p.loc["PA", "fu_days"] == 882  # last contact 2022-06-01
    assert p.loc["PB", "death_day"] == 40
    assert p.loc["PC", "death_day"] == 1310
    assert p.loc["PD", "fu_days"] == 31
    assert p.loc["PE", "death_day"] == 200
    assert p.loc["PF", "fu_days"] == 366
    assert np.isnan(p.loc["PA", "death_day"])


def test_baseline_is_the_last_pre_transplant_edss(outcomes):
    p = _by_code(outcomes)
    assert p.loc["PA", "baseline_edss"] == 3.0
    assert p.loc["PB", "baseline_edss"] == 6.0
    assert not p.loc["PD", "has_baseline"]  # only a post-transplant visit
    assert list(p.loc[["PA", "PB", "PC"], "edss_band"]) == ["0-3.0", "6.0+", "0-3.0"]


def test_progression_free_survival_by_hand(outcomes):
    p = _by_code(outcomes)
    # A: CDW 3.0 -> 4.0 at day 366, confirmed at day 547; B, E: death in year 1.
    assert p.loc["PA", "cdw_day"] == 366
    assert (p.loc["PA", "pfs_time"], p.loc["PA", "pfs_event"]) == (366, 1)
    assert (p.loc["PB", "pfs_time"], p.loc["PB", "pfs_event"]) == (40, 1)
    # C: EDSS at days 366 and 731, death at day 1310 (579 days after the last EDSS visit): censored at day
    # 366, the last visit from which a worsening could still have been confirmed (731 - 366 >= 24 weeks).
    assert p.loc["PC", "edss_censor_day"] == 366
    assert (p.loc["PC", "pfs_time"], p.loc["PC", "pfs_event"]) == (366, 0)
    assert np.isnan(p.loc["PD", "pfs_time"])  # no baseline: not in PFS
    # F: one EDSS visit after day 0 (day 366) and nothing later: no worsening could have been confirmed.
    assert (p.loc["PF", "pfs_time"], p.loc["PF", "pfs_event"]) == (0, 0)
    t, e = endpoint_data(outcomes.patients, "pfs")
    assert len(t) == 5 and e.sum() == 3


def test_relapse_free_survival_by_hand(outcomes):
    p = _by_code(outcomes)
    assert (p.loc["PC", "rfs_time"], p.loc["PC", "rfs_event"]) == (458, 1)
    assert (p.loc["PA", "rfs_time"], p.loc["PA", "rfs_event"]) == (882, 0)
    assert (p.loc["PB", "rfs_time"], p.loc["PB", "rfs_event"]) == (40, 1)


def test_mri_activity_free_survival_counts_after_rebaseline_only(outcomes):
    p = _by_code(outcomes)
    # A's lesions on the day-91 re-baseline scan do not count; censored at its last read scan (day 735).
    assert p.loc["PA", "rebaseline_day"] == 91
    assert np.isnan(p.loc["PA", "mri_active_day"])
    assert (p.loc["PA", "mri_afs_time"], p.loc["PA", "mri_afs_event"]) == (735, 0)
    # C: one new T2 lesion at day 735.
    assert (p.loc["PC", "mri_afs_time"], p.loc["PC", "mri_afs_event"]) == (735, 1)
    # D: never scanned, alive: censored at day 0; B: death is an event.
    assert (p.loc["PD", "mri_afs_time"], p.loc["PD", "mri_afs_event"]) == (0, 0)
    assert (p.loc["PB", "mri_afs_time"], p.loc["PB", "mri_afs_event"]) == (40, 1)


def test_event_free_survival_is_the_first_component(outcomes):
    p = _by_code(outcomes)
    assert (p.loc["PA", "efs_time"], p.loc["PA", "efs_event"]) == (366, 1)  # CDW
    # C: relapse at day 458, but EDSS is assessable only to day 366 (last confirmable visit): EFS is censored
    # at the earliest of the components' last assessments, and an event after it is not counted (counting it
    # while event-free patients are censored earlier would bias NEDA-3 downwards).
    assert p.loc["PC", "edss_censor_day"] == 366 and p.loc["PC", "last_mri_day"] == 735
    assert (p.loc["PC", "efs_time"], p.loc["PC", "efs_event"]) == (366, 0)
    assert np.isnan(p.loc["PD", "efs_time"])


def test_trm_causes_attributed_and_day100():
    tables = registry_cases.tables()
    att = registry_outcomes(tables, as_of=registry_cases.AS_OF, trm_definition="attributed").patients
    att = att.set_index("patient_code")
    d100 = registry_outcomes(tables, as_of=registry_cases.AS_OF).patients  # day 100 is the default
    d100 = d100.set_index("patient_code")
    # B: related (TRM); C: not related (competing); E: unknown -> TRM when attributed, competing by day 100 rule.
    assert list(att.loc[["PA", "PB", "PC", "PE"], "trm_cause"]) == [0, 1, 2, 1]
    assert list(d100.loc[["PA", "PB", "PC", "PE"], "trm_cause"]) == [0, 1, 2, 2]
    with pytest.raises(ValueError, match="trm_definition"):
        registry_outcomes(tables, trm_definition="any")


def test_overall_survival_equals_kaplan_meier_on_the_derived_times(outcomes):
    p = outcomes.patients
    t, e = endpoint_data(p, "os")
    km = kaplan_meier(t, e)
    hand = kaplan_meier([882, 40, 1310, 31, 200, 366], [0, 1, 1, 0, 1, 0])
    pd.testing.assert_frame_equal(km, hand)


def test_as_of_drops_later_records():
    early = registry_outcomes(registry_cases.tables(), as_of="2020-12-31").patients.set_index("patient_code")
    assert "PD" not in early.index  # transplanted in 2021
    assert np.isnan(early.loc["PC", "death_day"])  # died in 2023
    assert early.loc["PE", "death_day"] == 200
    assert early.loc["PA", "fu_days"] == 365  # capped at the as-of date
    assert np.isnan(early.loc["PA", "cdw_day"])  # the worsened visit (2021-01-01) is after the as-of date


def test_edss_change_at_anniversaries(outcomes):
    table = edss_change(outcomes, years=(1, 2, 5)).set_index("years")
    # Year 1: A +1.0 from 3.0 (worse), C 0 (stable); year 2: the same; year 5: nobody.
    assert table.loc[1, "n"] == 3  # A, C and F (F: 3.0 -> 3.0 at day 366)
    assert table.loc[1, "worse"] == 1 and table.loc[1, "stable"] == 2 and table.loc[1, "improved"] == 0
    assert table.loc[1, "mean_change"] == pytest.approx(1 / 3)
    assert table.loc[2, "n"] == 2 and table.loc[2, "median_change"] == 0.5
    assert table.loc[5, "n"] == 0 and np.isnan(table.loc[5, "mean_change"])


def test_bands_eras_and_minimum_change():
    assert list(edss_band([0, 3.0, 3.5, 5.5, 6.0, np.nan])) == [
        "0-3.0",
        "0-3.0",
        "3.5-5.5",
        "3.5-5.5",
        "6.0+",
        "unknown",
    ]
    assert list(era([2009, 2010, 2017, 2018])) == ["before 2010", "2010-2017", "2010-2017", "2018+"]
    assert list(registry_delta([0, 1.0, 5.0, 5.5, 6.0])) == [1.5, 1.0, 1.0, 1.0, 0.5]


def test_empty_registry_gives_no_patients():
    data = registry_cases.rows()
    empty = {"centres": data["centres"]}
    out = registry_outcomes(registry_cases.tables(empty), as_of="2023-01-01")
    assert len(out.patients) == 0
    assert edss_change(out).loc[0, "n"] == 0


def test_synthetic_registry_endpoints_are_sane():
    from openhsct.registry import synth

    tables = {k: synth.typed(v) for k, v in synth.generate(3, 400, 7).items()}
    p = registry_outcomes(tables).patients
    assert len(p) > 300
    for key in ("os", "pfs", "rfs", "mri_afs", "efs"):
        t, e = endpoint_data(p, key)
        assert (t >= 0).all() and set(np.unique(e)) <= {0, 1}
    # Death is an event of every survival endpoint, so each has at least the deaths as events.
    assert p["efs_event"].sum() >= p.loc[p["has_baseline"], "os_event"].sum()
    assert (p["efs_time"].dropna() <= p.loc[p["has_baseline"], "pfs_time"]).all()
    assert (p["pfs_time"].dropna() <= p.loc[p["has_baseline"], "os_time"]).all()
    assert set(p["trm_cause"]) <= {0, 1, 2}
