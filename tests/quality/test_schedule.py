"""The visit schedule on fixed dates: targets, due, overdue, met, and the protocol's text."""

from __future__ import annotations

import datetime as dt

import pytest

from openhsct.quality import schedule as sch

DAY0 = dt.date(2020, 1, 31)


def test_default_targets_are_day_100_six_and_twelve_months_then_yearly():
    got = [(t.label, t.date) for t in sch.targets(DAY0, sch.default_protocol(), dt.date(2023, 3, 1))]
    assert got == [("day 100", dt.date(2020, 5, 10)), ("6 months", dt.date(2020, 7, 31)),
                   ("12 months", dt.date(2021, 1, 31)), ("24 months", dt.date(2022, 1, 31)),
                   ("36 months", dt.date(2023, 1, 31))]


def test_a_centre_protocol_is_read_and_checked():
    p = sch.Protocol(sch.parse_milestones("30d, 3m 6m"), repeat_months=6, window_days=14)
    got = [t.label for t in sch.targets(DAY0, p, dt.date(2021, 2, 1))]
    assert got == ["day 30", "3 months", "6 months", "12 months"]
    for bad, message in [("6x", "'6x' is not a milestone"), ("12m 6m", "increasing order"), ("", "at least one")]:
        with pytest.raises(sch.ScheduleError, match=message):
            sch.parse_milestones(bad)


@pytest.mark.parametrize(("today", "visits", "state"), [
    (dt.date(2020, 4, 9), [], None),  # day-100 window (2020-04-10 to 2020-06-09) not open yet
    (dt.date(2020, 4, 10), [], "due"),
    (dt.date(2020, 6, 9), [], "due"),
    (dt.date(2020, 6, 10), [], "overdue"),
    (dt.date(2020, 6, 10), [dt.date(2020, 5, 1)], None),  # met inside the window
    (dt.date(2020, 6, 10), [dt.date(2020, 3, 1)], "overdue"),  # a visit before the window does not count
    (dt.date(2020, 7, 1), [], "due"),  # judged on the 6-month visit now (window from 2020-07-01)
    (dt.date(2020, 9, 1), [dt.date(2020, 8, 31)], None),  # seen after the window: not chased
])
def test_follow_up_state(today, visits, state):
    got = sch.follow_up("P1", DAY0, visits, sch.default_protocol(), today)
    assert (got.state if got else None) == state


def test_overdue_reports_the_milestone_and_last_visit():
    got = sch.follow_up("P1", DAY0, [dt.date(2021, 1, 20)], sch.default_protocol(), dt.date(2022, 3, 15))
    assert (got.milestone, got.target, got.window_end, got.last_visit, got.state) == (
        "24 months", dt.date(2022, 1, 31), dt.date(2022, 3, 2), dt.date(2021, 1, 20), "overdue")


def test_repeats_after_a_last_milestone_in_days_count_from_its_date():
    p = sch.Protocol(sch.parse_milestones("100d"), repeat_months=6)
    got = [(t.label, t.date) for t in sch.targets(DAY0, p, dt.date(2021, 1, 1))]
    assert got == [("day 100", dt.date(2020, 5, 10)), ("day 100 + 6 months", dt.date(2020, 11, 10))]
    assert sch.targets(DAY0, sch.Protocol(sch.parse_milestones("6m"), repeat_months=0), dt.date(2030, 1, 1)) == [
        sch.Target("6 months", dt.date(2020, 7, 31))]
