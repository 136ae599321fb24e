"""Each rule of the registry's endpoint definitions on a one- or few-patient registry worked out by hand
(docs/endpoints.md): PFS censoring, the baseline, the thresholds, confirmation near a relapse, the MIST
setting, confirmed improvement, PIRA/RAW, deaths, and procedure-related mortality from mobilisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from openhsct.outcomes.endpoints import procedure_mortality, registry_outcomes
from tests.outcomes import registry_cases

DAY0 = pd.Timestamp("2015-01-01")
AS_OF = "2024-12-31"


def _date(day: float) -> str:
    return (DAY0 + pd.Timedelta(days=day)).date().isoformat()


def _patient(code: str, visits, *, relapses=(), mobilised: float | None = None, death: float | None = None,
             last: float | None = None, transplanted: bool = True) -> dict[str, list[dict]]:
    """Rows of one patient: EDSS ``visits`` as (day, edss) — days before 0 are pre-transplant — relapse onset
    days, mobilisation start day, death day, last contact day."""
    rows = registry_cases.rows()
    base = {k: v for k, v in rows["patients"][0].items() if k not in ("centre_code", "patient_code")}
    out: dict[str, list[dict]] = {k: [] for k in rows}
    out["centres"] = rows["centres"][:1]
    out["patients"] = [{"centre_code": "C1", "patient_code": code, **base,
                        "last_contact_date": _date(last) if last is not None else ""}]
    if transplanted:
        tx = {k: v for k, v in rows["transplants"][0].items() if k not in ("centre_code", "patient_code")}
        out["transplants"] = [{"centre_code": "C1", "patient_code": code, **tx, "day0": _date(0)}]
        cond = {k: v for k, v in rows["conditioning"][0].items() if k not in ("centre_code", "patient_code")}
        out["conditioning"] = [{"centre_code": "C1", "patient_code": code, **cond}]
    out["edss_visits"] = [{"centre_code": "C1", "patient_code": code, "visit_date": _date(d), "edss": str(e)}
                          for d, e in visits]
    out["relapses"] = [{"centre_code": "C1", "patient_code": code, "onset_date": _date(d)} for d in relapses]
    if mobilised is not None:
        out["mobilisations"] = [{"centre_code": "C1", "patient_code": code, "mobilisation_id": "M1",
                                 "regimen": "cyclophosphamide + G-CSF", "cyclophosphamide_g_per_m2": "2.00",
                                 "gcsf": "yes", "start_date": _date(mobilised), "end_date": ""}]
    if death is not None:
        out["deaths"] = [{"centre_code": "C1", "patient_code": code, "death_date": _date(death), "cause": "",
                          "cause_category": "infection", "transplant_related": "yes"}]
    return out


def _merge(*parts: dict[str, list[dict]]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for part in parts:
        for name, rows in part.items():
            out.setdefault(name, [])
            out[name] += [r for r in rows if name != "centres" or r not in out[name]]
    return out


def _one(data, definition="registry") -> pd.Series:
    p = registry_outcomes(registry_cases.tables(data), as_of=AS_OF, definition=definition).patients
    return p.iloc[0]


STABLE = [(-30, 3.0), (182, 3.0), (365, 3.0), (548, 3.0), (730, 3.0)]


def test_a_phone_contact_years_later_does_not_extend_progression_free_time():
    data = _patient("Q", STABLE, last=8 * 365)
    p = _one(data)
    # the last visit (730) cannot confirm anything; 548 could have been confirmed by 730 (182 days)
    assert (p["pfs_time"], p["pfs_event"]) == (548, 0)
    assert _one(data, "openhsct-0.1")["pfs_time"] == 8 * 365  # the earlier definition: last contact


def test_a_last_visit_too_soon_after_the_one_before_cannot_confirm_it():
    p = _one(_patient("Q", [(-30, 3.0), (182, 3.0), (365, 3.0), (400, 3.0)], last=400))
    assert p["edss_censor_day"] == 182  # 365 -> 400 is 35 days: no confirmation possible


def test_baseline_is_the_last_edss_before_mobilisation_not_during_the_admission():
    data = _patient("Q", [(-60, 3.0), (-10, 4.0), (182, 4.0), (365, 4.0)], mobilised=-40, last=365)
    p = _one(data)
    assert (p["baseline_edss"], p["baseline_day"]) == (3.0, -60)
    assert p["cdw_day"] == 182  # 3.0 -> 4.0 confirmed at 365
    old = _one(data, "openhsct-0.1")
    assert (old["baseline_edss"], old["baseline_day"]) == (4.0, -10)
    assert np.isnan(old["cdw_day"])


def test_baseline_is_at_least_30_days_after_a_relapse_onset():
    p = _one(_patient("Q", [(-100, 2.0), (-50, 3.5)], relapses=[-60], last=10))
    assert (p["baseline_edss"], p["baseline_day"]) == (2.0, -100)
    assert _one(_patient("Q", [(-100, 2.0), (-20, 3.5)], relapses=[-60], last=10))["baseline_edss"] == 3.5


def test_baseline_window_is_365_days():
    assert not _one(_patient("Q", [(-400, 2.0), (182, 2.0)], last=182))["has_baseline"]


def test_from_baseline_5_5_worsening_needs_a_full_point():
    visits = [(-30, 5.5), (182, 6.0), (365, 6.0), (548, 6.5), (730, 6.5)]
    assert _one(_patient("Q", visits, last=730))["cdw_day"] == 548  # +1.0 (5.5 -> 6.5)
    assert _one(_patient("Q", visits, last=730), "openhsct-0.1")["cdw_day"] == 182  # pymsprog: +0.5 above 5.0
    assert _one(_patient("Q", [(-30, 6.0), (182, 6.5), (365, 6.5)], last=365))["cdw_day"] == 182  # +0.5 above 5.5


def test_confirmation_within_30_days_after_a_relapse_does_not_count():
    assert np.isnan(_one(_patient("Q", [(-30, 2.0), (182, 3.0), (365, 3.0)], relapses=[350], last=365))["cdw_day"])
    assert _one(_patient("Q", [(-30, 2.0), (182, 3.0), (365, 3.0)], relapses=[300], last=365))["cdw_day"] == 182


def test_mist_setting_ignores_worsening_with_onset_in_the_first_3_months():
    data = _patient("Q", [(-30, 2.0), (60, 3.5), (240, 3.5), (420, 3.5)], last=420)
    assert _one(data)["cdw_day"] == 60
    assert _one(data, "mist")["cdw_day"] == 240


def test_confirmed_improvement_replaces_a_single_better_visit():
    assert np.isnan(_one(_patient("Q", [(-30, 4.0), (182, 3.0), (365, 4.0)], last=365))["cdi_day"])
    p = _one(_patient("Q", [(-30, 4.0), (182, 3.0), (365, 3.0)], last=365))
    assert (p["cdi_day"], p["cdi_time"], p["cdi_event"]) == (182, 182, 1)


def test_worsening_soon_after_a_relapse_is_raw_and_without_a_relapse_is_pira():
    raw = _one(_patient("Q", [(-30, 2.0), (182, 2.0), (320, 3.0), (500, 3.0), (730, 3.0)], relapses=[300],
                        last=730))
    assert raw["raw_day"] == 320 and np.isnan(raw["pira_day"])
    pira = _one(_patient("Q", [(-30, 2.0), (182, 2.0), (365, 3.0), (548, 3.0)], last=548))
    assert pira["pira_day"] == 365 and np.isnan(pira["raw_day"])
    assert (pira["pira_time"], pira["pira_event"]) == (365, 1)


def test_deaths_count_in_year_one_or_within_a_year_of_the_last_edss_visit():
    early = _one(_patient("Q", [(-30, 3.0)], death=200, last=200))
    assert (early["pfs_time"], early["pfs_event"]) == (200, 1)  # no visit after day 0, died in year 1
    near = _one(_patient("Q", STABLE, death=900, last=900))  # 170 days after the last visit (730)
    assert (near["pfs_time"], near["pfs_event"]) == (900, 1)
    far = _one(_patient("Q", STABLE, death=1500, last=1500))  # 770 days after the last visit
    assert (far["pfs_time"], far["pfs_event"]) == (548, 0)
    assert (far["os_time"], far["os_event"]) == (1500, 1)


def test_procedure_mortality_counts_from_mobilisation_including_deaths_before_day_0():
    data = _merge(
        _patient("M1", [], mobilised=-60, death=-20, transplanted=False),  # died before re-infusion
        _patient("M2", [], mobilised=-50, death=50),  # died day 50: counted
        _patient("M3", [], mobilised=-50, death=150),  # died day 150: outside the window
        _patient("M4", [], mobilised=-50, last=3000),  # alive
    )
    recent = _patient("M5", [], mobilised=None, transplanted=False)
    recent["mobilisations"] = [{**data["mobilisations"][0], "patient_code": "M5", "start_date": "2024-12-01"}]
    data = _merge(data, recent)
    r = procedure_mortality(registry_cases.tables(data), as_of=AS_OF)
    # M5 started mobilisation 30 days before the cut and is alive: its window is open, so it is not counted.
    assert (r["n"], r["events"], r["before_day0"]) == (4, 2, 1)
    assert r["estimate"] == pytest.approx(0.5)
    assert r["label"] == "Deaths from the start of mobilisation to day 100 (intention to treat)"


def _pfs_at(patients: pd.DataFrame, years: float) -> tuple[float, int]:
    from openhsct.outcomes.endpoints import endpoint_data
    from openhsct.outcomes.summary import survival_at

    t, e = endpoint_data(patients, "pfs")
    a = survival_at(t, e, (years,))[0]
    return a["estimate"], a["n_risk"]


def test_on_a_synthetic_registry_a_late_phone_contact_moves_only_the_earlier_definition():
    """Every living patient gets a phone contact on the cut date (no new visit): the registry's PFS at 5 years
    and its number at risk do not move; the earlier last-contact definition's rise."""
    from openhsct.registry.synth import generate, typed

    tables = {k: typed(v) for k, v in generate(centres=2, patients=300, seed=11).items()}
    cut = pd.Timestamp("2025-06-30")
    called = dict(tables)
    patients = tables["patients"].copy()
    dead = set(tables["deaths"]["patient_code"])
    alive = ~patients["patient_code"].isin(dead)
    patients.loc[alive, "last_contact_date"] = cut
    called["patients"] = patients
    for definition, moves in (("registry", False), ("openhsct-0.1", True)):
        before = _pfs_at(registry_outcomes(tables, as_of=cut, definition=definition).patients, 5)
        after = _pfs_at(registry_outcomes(called, as_of=cut, definition=definition).patients, 5)
        if moves:
            assert after[1] > before[1] and after[0] > before[0]
        else:
            assert after == before
