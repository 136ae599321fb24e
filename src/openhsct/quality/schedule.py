"""The per-protocol follow-up schedule: which visit each transplanted patient is due for, or overdue for.

A schedule is a list of milestones after day 0 (default ``100d 6m 12m``: day +100, 6 and 12 months) and a
repeat interval after the last one (default every 12 months), as in the EBMT follow-up forms (day 100,
6 months, then yearly; Sharrack B et al. 2020, Bone Marrow Transplantation 55:283–306,
doi:10.1038/s41409-019-0684-0). A visit within ``window_days`` either side of a milestone's target date
meets it.

Each patient is judged on their **latest opened milestone** (the last one whose window has opened by the
day): met when an EDSS visit falls in its window; otherwise *due* while its window is still open and
*overdue* once it has closed. An earlier milestone that was missed but followed by a later visit is not
chased any more.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from openhsct.quality.plausibility import add_months

DEFAULT_MILESTONES = "100d 6m 12m"
DEFAULT_REPEAT_MONTHS = 12
DEFAULT_WINDOW_DAYS = 30
_MILESTONE = re.compile(r"^(\d{1,4})([dm])$")


class ScheduleError(ValueError):
    """A schedule's milestones cannot be read (the message names the bad part)."""


@dataclass(frozen=True)
class Milestone:
    """One step of a schedule: ``amount`` days (``unit`` "d") or months ("m") after day 0."""

    amount: int
    unit: str

    @property
    def label(self) -> str:
        return f"day {self.amount}" if self.unit == "d" else f"{self.amount} months"

    def target(self, day0: dt.date) -> dt.date:
        if self.unit == "d":
            return day0 + dt.timedelta(days=self.amount)
        return add_months(day0, self.amount)


@dataclass(frozen=True)
class Protocol:
    """A centre's schedule: milestones, repeat interval in months (0: none) and window in days."""

    milestones: tuple[Milestone, ...]
    repeat_months: int = DEFAULT_REPEAT_MONTHS
    window_days: int = DEFAULT_WINDOW_DAYS


def parse_milestones(text: str) -> tuple[Milestone, ...]:
    """Read ``"100d 6m 12m"``; raises :class:`ScheduleError` naming a part that is not ``<n>d`` or ``<n>m``,
    or milestones out of order."""
    parts = text.replace(",", " ").split()
    if not parts:
        raise ScheduleError("give at least one milestone, e.g. 100d 6m 12m")
    out = []
    for part in parts:
        match = _MILESTONE.match(part.strip().lower())
        if not match or int(match.group(1)) == 0:
            raise ScheduleError(f"'{part}' is not a milestone: write days as 100d or months as 6m")
        out.append(Milestone(int(match.group(1)), match.group(2)))
    day0 = dt.date(2001, 1, 31)
    targets = [m.target(day0) for m in out]
    if any(b <= a for a, b in zip(targets, targets[1:], strict=False)):
        raise ScheduleError(f"milestones must be in increasing order: {text}")
    return tuple(out)


def default_protocol() -> Protocol:
    return Protocol(parse_milestones(DEFAULT_MILESTONES))


@dataclass(frozen=True)
class Target:
    """One scheduled visit of one patient: its label and target date."""

    label: str
    date: dt.date


def targets(day0: dt.date, protocol: Protocol, until: dt.date) -> list[Target]:
    """The patient's scheduled visits whose target date is on or before ``until``, in order: the
    milestones, then one every ``repeat_months`` after the last milestone."""
    out = [Target(m.label, m.target(day0)) for m in protocol.milestones]
    last = protocol.milestones[-1]
    step = 1
    while protocol.repeat_months:
        months = protocol.repeat_months * step
        if last.unit == "m":
            t = Target(f"{last.amount + months} months", add_months(day0, last.amount + months))
        else:
            t = Target(f"{last.label} + {months} months", add_months(last.target(day0), months))
        if t.date > until:
            break
        out.append(t)
        step += 1
    return [t for t in out if t.date <= until]


@dataclass(frozen=True)
class FollowUp:
    """Where a patient stands on ``today``: the milestone they are judged on, its window, their last visit
    and the state ("due" or "overdue")."""

    patient_code: str
    day0: dt.date
    milestone: str
    target: dt.date
    window_start: dt.date
    window_end: dt.date
    last_visit: dt.date | None
    state: str


def follow_up(patient_code: str, day0: dt.date, visits: list[dt.date], protocol: Protocol,
              today: dt.date) -> FollowUp | None:
    """The patient's due or overdue visit on ``today``, or None when the latest opened milestone is met
    (or none has opened yet)."""
    window = dt.timedelta(days=protocol.window_days)
    opened = [t for t in targets(day0, protocol, today + window) if t.date - window <= today]
    if not opened:
        return None
    t = opened[-1]
    start, end = t.date - window, t.date + window
    if any(start <= v <= max(end, today) for v in visits):
        return None  # met in the window, or seen since it opened
    last = max((v for v in visits if v <= today), default=None)
    state = "due" if today <= end else "overdue"
    return FollowUp(patient_code, day0, t.label, t.date, start, end, last, state)
