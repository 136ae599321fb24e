"""The disclosure rules on hand-made typed values: each rule by its type, never by a key name."""

from __future__ import annotations

from openhsct.releases.disclosure import (
    ALL_HAD_IT,
    COMPLEMENT,
    DIFFERENCE,
    FEW_AT_RISK,
    SMALL_GROUP,
    disclose,
)
from openhsct.releases.values import Count, Curve, CurvePoint, Estimate, Rate, Suppressed, Table, to_plain


def test_a_group_of_1_to_4_is_suppressed_and_0_or_5_shown():
    assert disclose(Count(3)) == Suppressed(SMALL_GROUP, "count")
    assert disclose(Count(0)) == Count(0)
    assert disclose(Count(5)) == Count(5)


def test_a_subgroup_that_leaves_1_to_4_of_its_group_is_suppressed():
    assert disclose(Count(37, of=40)) == Suppressed(DIFFERENCE, "count")
    assert disclose(Count(35, of=40)) == Count(35, of=40)
    assert disclose(Count(40, of=40)) == Count(40, of=40)


def test_harm_within_a_group_of_5_or_more_is_shown_exactly():
    r = Rate(events=2, n=40, estimate=0.05, lower=0.006, upper=0.17)
    assert disclose(r) == r
    assert to_plain(disclose(r))["events"] == 2
    assert disclose(Rate(events=2, n=4)) == Suppressed(SMALL_GROUP, "rate")


def test_the_rules_follow_the_type_whatever_the_key():
    tree = {"deaths": Count(2), "anything": Rate(events=1, n=30), "n": "3"}
    out = disclose(tree)
    assert out["deaths"] == Suppressed(SMALL_GROUP, "count")
    assert out["anything"] == Rate(events=1, n=30)
    assert out["n"] == "3"  # words are not numbers of people


def test_a_stratum_cell_where_everyone_had_the_event_is_suppressed():
    assert disclose(Rate(events=6, n=6, stratum=True)) == Suppressed(ALL_HAD_IT, "rate")
    assert disclose(Rate(events=6, n=6)) == Rate(events=6, n=6)  # a whole centre: not a stratum
    assert disclose(Estimate(0.0, 0.0, 0.0, 7, n_risk=7, stratum=True, events=7)) == Suppressed(ALL_HAD_IT, "estimate")


def test_an_estimate_needs_5_patients_and_5_at_risk():
    assert disclose(Estimate(0.8, 0.7, 0.9, 4)) == Suppressed(SMALL_GROUP, "estimate")
    assert disclose(Estimate(0.8, 0.7, 0.9, 40, n_risk=3)) == Suppressed(FEW_AT_RISK, "estimate")


def test_curves_keep_grid_points_with_5_at_risk():
    pts = (CurvePoint(0, 1, 1, 1, 20), CurvePoint(3, 0.9, 0.8, 1, 12), CurvePoint(4, 0.9, 0.8, 1, 11),
           CurvePoint(6, 0.8, 0.7, 0.9, 4))
    out = disclose(Curve(n=20, points=pts))
    assert [p.months for p in out.points] == [0, 3]
    assert disclose(Curve(n=4, points=pts)) == Suppressed(SMALL_GROUP, "curve")


def test_complementary_suppression_in_a_margin():
    t = Table(total=30, cells=(("2019", Count(3)), ("2020", Count(12)), ("2021", Count(15))))
    rows = {r["level"]: r["n"] for r in disclose(t)}
    assert rows["2019"] == Suppressed(SMALL_GROUP, "count")
    assert rows["2020"] == Suppressed(COMPLEMENT, "count")  # the smallest other cell
    assert rows["2021"] == Count(15)
    two = Table(total=30, cells=(("a", Count(2)), ("b", Count(1)), ("c", Count(9)), ("d", Count(18))))
    rows = {r["level"]: r["n"] for r in disclose(two)}
    hidden = [k for k, v in rows.items() if isinstance(v, Suppressed)]
    assert hidden == ["a", "b", "c"]  # 2 + 1 = 3 < 5: one more
    none = Table(total=30, cells=(("a", Count(10)), ("b", Count(20))))
    assert all(isinstance(r["n"], Count) for r in disclose(none))


def test_a_suppressed_stratum_takes_its_estimates_with_it():
    t = Table(total=20, cells=(("PPMS", Count(2)), ("RRMS", Count(18))),
              details=(("PPMS", {"os": Estimate(1.0, 1.0, 1.0, 2)}), ("RRMS", {"os": Estimate(0.9, 0.8, 1, 18)})))
    rows = {r["level"]: r for r in disclose(t)}
    assert isinstance(rows["PPMS"]["os"], Suppressed) and isinstance(rows["RRMS"]["os"], Suppressed)
