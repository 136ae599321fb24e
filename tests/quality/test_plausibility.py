"""Every soft check on hand-built rows: the value that warns, the value just inside, and the message."""

from __future__ import annotations

import datetime as dt

import pytest

from openhsct.quality import plausibility as pl

D = dt.date


def visits(*pairs) -> tuple[pl.Visit, ...]:
    return tuple(pl.Visit(i + 1, D.fromisoformat(day), edss) for i, (day, edss) in enumerate(pairs))


def test_edss_jump_of_two_within_six_months_warns_on_the_later_visit():
    rows = pl.PatientRows(visits=visits(("2020-01-10", 3.0), ("2020-07-09", 5.0)))
    [w] = pl.edss_jumps(rows)
    assert (w.code, w.ref) == ("edss_jump", pl.Ref("EdssVisit", 2, "edss"))
    assert "EDSS 5 on 2020-07-09 differs by 2 from EDSS 3 on 2020-01-10" in w.message


@pytest.mark.parametrize(("second", "edss"), [
    ("2020-07-10", 5.0),  # exactly 6 months later: not "less than 6 months"
    ("2020-07-09", 4.5),  # a change of 1.5
])
def test_edss_jump_needs_two_points_in_less_than_six_months(second, edss):
    assert pl.edss_jumps(pl.PatientRows(visits=visits(("2020-01-10", 3.0), (second, edss)))) == []


def test_edss_fall_of_two_also_warns():
    assert [w.code for w in pl.edss_jumps(pl.PatientRows(visits=visits(("2020-01-10", 6.0), ("2020-03-01", 4.0))))] == [
        "edss_jump"]


def test_progression_baseline_follows_the_endpoint_rule():
    rows = pl.PatientRows(
        visits=visits(("2018-01-01", 2.0), ("2019-01-20", 3.0), ("2019-02-15", 4.0), ("2019-03-05", 6.0)),
        relapses=(D(2019, 2, 1),),
        mobilisation_starts=(D(2019, 3, 1),),
        transplant=(1, D(2019, 4, 1), 5.0, None),
    )
    # 2019-02-15 is 14 days after the relapse, 2019-03-05 after mobilisation, 2018-01-01 too early
    assert pl.progression_baseline(rows).date == D(2019, 1, 20)


def test_pre_transplant_visit_that_moves_the_baseline_warns():
    before = pl.PatientRows(visits=visits(("2019-01-20", 3.0)), transplant=(1, D(2019, 4, 1), 5.0, None))
    after = pl.PatientRows(visits=(*before.visits, pl.Visit(None, D(2019, 3, 1), 4.5)), transplant=before.transplant)
    [w] = pl.baseline_changes(before, after)
    assert w.code == "baseline_change" and w.ref.pk is None
    assert "EDSS 3 on 2019-01-20 becomes EDSS 4.5 on 2019-03-01" in w.message


def test_visit_that_leaves_the_baseline_value_alone_does_not_warn():
    before = pl.PatientRows(visits=visits(("2019-01-20", 3.0)), transplant=(1, D(2019, 4, 1), 5.0, None))
    same = pl.PatientRows(visits=(*before.visits, pl.Visit(None, D(2019, 3, 1), 3.0)), transplant=before.transplant)
    later = pl.PatientRows(visits=(*before.visits, pl.Visit(None, D(2019, 6, 1), 7.0)), transplant=before.transplant)
    assert pl.baseline_changes(before, same) == [] and pl.baseline_changes(before, later) == []


def test_cd34_infused_above_collected_warns():
    rows = pl.PatientRows(transplant=(7, D(2019, 4, 1), 6.5, None), collected=(3.0, 3.2))
    [w] = pl.cd34_above_collected(rows)
    assert w.ref == pl.Ref("Transplant", 7, "cd34_infused_1e6_per_kg")
    assert "CD34+ infused (6.5 ×10⁶/kg) is more than was collected (6.2 ×10⁶/kg)" in w.message
    assert pl.cd34_above_collected(pl.PatientRows(transplant=(7, D(2019, 4, 1), 6.2, None), collected=(3.0, 3.2))) == []


def test_neutrophil_engraftment_after_day_30_warns():
    late = pl.PatientRows(transplant=(7, D(2019, 4, 1), 5.0, D(2019, 5, 2)))
    [w] = pl.late_engraftment(late)
    assert "day +31" in w.message and w.ref.field == "neutrophil_engraftment_date"
    assert pl.late_engraftment(pl.PatientRows(transplant=(7, D(2019, 4, 1), 5.0, D(2019, 5, 1)))) == []


def test_relapse_with_an_unchanged_edss_visit_within_30_days_warns():
    rows = pl.PatientRows(visits=visits(("2020-01-10", 3.0), ("2020-03-25", 3.0)), relapses=(D(2020, 3, 1),))
    [w] = pl.relapse_unchanged_edss(rows)
    assert w.ref == pl.Ref("EdssVisit", 2, "edss") and "24 days after the relapse of 2020-03-01" in w.message
    changed = pl.PatientRows(visits=visits(("2020-01-10", 3.0), ("2020-03-25", 4.0)), relapses=(D(2020, 3, 1),))
    too_late = pl.PatientRows(visits=visits(("2020-01-10", 3.0), ("2020-04-01", 3.0)), relapses=(D(2020, 3, 1),))
    assert pl.relapse_unchanged_edss(changed) == [] and pl.relapse_unchanged_edss(too_late) == []


def test_dose_per_kg_and_per_m2_outside_the_usual_range_warns():
    rows = pl.PatientRows(doses=(
        pl.Dose(1, "ConditioningDrug", "total_dose", "Cyclophosphamide", 250.0, "mg/kg"),
        pl.Dose(2, "ConditioningDrug", "total_dose", "rATG", 6.0, "mg/kg"),
        pl.Dose(3, "Mobilisation", "cyclophosphamide_g_per_m2", "mobilisation cyclophosphamide", 8.0, "g/m2"),
        pl.Dose(4, "ConditioningDrug", "total_dose", "unknown drug", 1e6, "mg"),
    ))
    found = {w.ref.pk: w.message for w in pl.dose_ranges(rows)}
    assert set(found) == {1, 3}
    assert found[1] == "Cyclophosphamide 250 mg/kg is outside the usual range 100–200 mg/kg."
    assert found[3].startswith("mobilisation cyclophosphamide 8000 mg/m² is outside")


def test_dose_in_mg_needs_weight_and_is_checked_when_known():
    dose = pl.Dose(1, "ConditioningDrug", "total_dose", "cyclophosphamide", 21000.0, "mg")
    assert pl.dose_ranges(pl.PatientRows(doses=(dose,))) == []  # no weight: cannot be checked
    [w] = pl.dose_ranges(pl.PatientRows(doses=(dose,), weight_kg=70.0, height_cm=170.0))
    assert "300 mg/kg" in w.message
    # mg/kg to mg/m2 through Mosteller's body surface area: 70 kg, 170 cm -> 1.818 m2
    assert pl.body_surface_area(70, 170) == pytest.approx(1.8181, abs=1e-4)
    melphalan = pl.Dose(2, "ConditioningDrug", "total_dose", "melphalan", 5.0, "mg/kg")
    assert pl.dose_per(melphalan, "mg/m2", 70.0, 170.0) == pytest.approx(5 * 70 / 1.8181, rel=1e-3)
    assert pl.dose_per(melphalan, "mg/m2", None, None) is None


def test_new_warnings_keep_only_what_the_new_record_brings():
    before = pl.PatientRows(visits=visits(("2020-01-10", 3.0), ("2020-03-01", 5.5)))  # already a jump
    after = pl.PatientRows(visits=(*before.visits, pl.Visit(None, D(2020, 5, 1), 3.0)))
    fresh = pl.new_warnings(before, after)
    assert [(w.code, w.ref.pk) for w in fresh] == [("edss_jump", None)]
    assert len(pl.warnings(after)) == 2
