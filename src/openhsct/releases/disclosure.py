"""The disclosure rules of a release, acting on the types of :mod:`openhsct.releases.values`.

The policy (``docs/disclosure.md``, with its sources) protects *groups*, not events:

1. **No group of 1-4.** A :class:`~.values.Count` of 1-4 people is suppressed; so is every value that
   rests on fewer than 5 patients (a :class:`~.values.Rate` or :class:`~.values.Estimate` with ``n`` < 5,
   a curve point with fewer than 5 at risk).
2. **No group of 1-4 by differencing.** A group drawn from a published group (``of``) is suppressed when
   the rest of that group (``of - n``) is 1-4; in a :class:`~.values.Table` (one margin that adds up to
   its total) a lone suppressed cell, or suppressed cells adding up to fewer than 5, get complementary
   suppression of the next smallest cells.
3. **Harm is shown exactly.** Within a group of 5 or more, events are published as counted; nothing is
   rounded or hidden because the number of events is small.
4. **No attribute disclosure.** A stratum cell (``stratum=True``) in which every member had the event is
   suppressed.
5. **No exact time.** Curves are published only on the fixed grid (:data:`~.values.GRID_MONTHS`) and
   only while at least 5 remain at risk; other times appear only as bands.

Pure functions; the rules look at a value's type and fields, never at the name it is stored under.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openhsct.releases.values import (
    GRID_MONTHS,
    Count,
    Curve,
    Estimate,
    Rate,
    Suppressed,
    Table,
)

MIN_GROUP = 5
SMALL_GROUP = "rests on a group of fewer than 5 patients"
DIFFERENCE = "would reveal a group of fewer than 5 patients by difference"
COMPLEMENT = "suppressed so that a smaller suppressed group cannot be worked out from the total"
ALL_HAD_IT = "every patient of this group had the event"
FEW_AT_RISK = "fewer than 5 patients still at risk"


def small(n: int | None) -> bool:
    """True for 1 to 4 people (zero reveals no one)."""
    return n is not None and 0 < n < MIN_GROUP


def _rest_small(n: int, of: int | None) -> bool:
    return of is not None and small(of - n)


def count_rule(c: Count) -> Count | Suppressed:
    """Rules 1-2 for a group count."""
    if small(c.n):
        return Suppressed(SMALL_GROUP, "count")
    if _rest_small(c.n, c.of):
        return Suppressed(DIFFERENCE, "count")
    return c


def rate_rule(r: Rate) -> Rate | Suppressed:
    """Rules 1-4 for events among a group: the group must be >= 5 (and not leave 1-4 of its parent);
    the events are kept as counted, unless a stratum cell's every member had the event."""
    if r.n < MIN_GROUP:
        return Suppressed(SMALL_GROUP, "rate")
    if _rest_small(r.n, r.of):
        return Suppressed(DIFFERENCE, "rate")
    if r.stratum and r.events >= r.n:
        return Suppressed(ALL_HAD_IT, "rate")
    return r


def estimate_rule(e: Estimate) -> Estimate | Suppressed:
    """Rules 1, 2 and 4 for an estimate: its group and its number at risk must be >= 5."""
    if e.n < MIN_GROUP:
        return Suppressed(SMALL_GROUP, "estimate")
    if _rest_small(e.n, e.of):
        return Suppressed(DIFFERENCE, "estimate")
    if e.n_risk is not None and e.n_risk < MIN_GROUP:
        return Suppressed(FEW_AT_RISK, "estimate")
    if e.stratum and e.events is not None and e.events >= e.n:
        return Suppressed(ALL_HAD_IT, "estimate")
    return e


def curve_rule(c: Curve) -> Curve | Suppressed:
    """Rules 1 and 5: a curve of fewer than 5 patients is suppressed; off-grid points and points with
    fewer than 5 at risk are dropped."""
    if c.n < MIN_GROUP:
        return Suppressed(SMALL_GROUP, "curve")
    if _rest_small(c.n, c.of):
        return Suppressed(DIFFERENCE, "curve")
    grid = set(GRID_MONTHS)
    points = tuple(p for p in c.points if p.months in grid and p.n_risk >= MIN_GROUP)
    return Curve(n=c.n, points=points, rising=c.rising, of=c.of)


def table_rule(t: Table) -> list[dict]:
    """Rules 1-2 for one margin, with complementary suppression: while the suppressed cells are a single
    cell or add up to fewer than 5 people, the smallest shown non-zero cell is suppressed too. Returns one
    ``{"level", "n", **details}`` per cell; a suppressed cell's details are suppressed with it."""
    out: dict[str, Count | Suppressed] = {}
    for level, c in t.cells:
        out[level] = Suppressed(SMALL_GROUP, "count") if small(c.n) else c
    hidden = [lvl for lvl, v in out.items() if isinstance(v, Suppressed)]
    sizes = dict(t.cells)

    def exposed() -> bool:
        total = sum(sizes[lvl].n for lvl in hidden)
        return bool(hidden) and (len(hidden) == 1 or small(total))

    while exposed():
        shown = sorted(
            (c.n, lvl) for lvl, c in out.items() if isinstance(c, Count) and c.n > 0
        )
        if not shown:
            break
        lvl = shown[0][1]
        out[lvl] = Suppressed(COMPLEMENT, "count")
        hidden.append(lvl)
    details = dict(t.details)
    rows = []
    for level, _ in t.cells:
        shown = is_shown(out[level])
        extra = {
            k: disclose(v) if shown else Suppressed(out[level].reason, "cell")
            for k, v in (details.get(level) or {}).items()
        }
        rows.append({"level": level, "n": out[level], **extra})
    return rows


def coarser_margin(rows: list[dict], finer: list[dict]) -> list[dict]:
    """Rule 2 across margins: disclosed cells of a margin that groups the levels of a finer margin over
    the same patients (relapsing / progressive over the kinds of MS) are kept only when the finer margin
    hides no cell; otherwise every cell is suppressed, so that no hidden finer cell can be worked out as a
    coarse cell minus the finer cells shown. Returns the rows."""
    if all(is_shown(r["n"]) for r in finer):
        return rows
    return [
        {"level": r["level"], **{k: Suppressed(COMPLEMENT, "count" if k == "n" else "cell") for k in r if k != "level"}}
        for r in rows
    ]


def disclose(obj: Any) -> Any:
    """The public version of a tree of typed values (dicts, lists, tuples of them): each value replaced by
    what its rule lets through. Anything that is not a typed value (words, labels) passes unchanged."""
    if isinstance(obj, Count):
        return count_rule(obj)
    if isinstance(obj, Rate):
        return rate_rule(obj)
    if isinstance(obj, Estimate):
        return estimate_rule(obj)
    if isinstance(obj, Curve):
        return curve_rule(obj)
    if isinstance(obj, Table):
        return table_rule(obj)
    if isinstance(obj, Mapping):
        return {k: disclose(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [disclose(v) for v in obj]
    return obj


def is_shown(value: Any) -> bool:
    """True unless the value was suppressed."""
    return not isinstance(value, Suppressed)
