"""Typed public values: what every number of a release is, so that disclosure rules act on types.

A release holds no bare numbers. Each public figure is one of:

- :class:`Count` — a number of people forming a group (patients transplanted in a year, in a stratum),
  with the size of the group it is drawn from (``of``), so a reader can tell what differencing reveals;
- :class:`Rate` — events counted among a group: numerator, denominator and, where computed, the
  proportion with its interval (``2 of 40 died, 5.0 %, 95 % CI …``);
- :class:`Estimate` — a model estimate (Kaplan-Meier, cumulative incidence, median) with its interval and
  the number of patients it rests on;
- :class:`Curve` — a survival or incidence curve on the fixed public grid, each point with its number at
  risk;
- :class:`Text` — a label, a definition or a citation (no number of people);
- :class:`Suppressed` — what is left of a value that the rules removed, with the reason.

``stratum=True`` marks a cell of a table split by a patient characteristic (kind of MS, EDSS band,
intensity, era, transplant year): such a cell in which everyone, or no one, had the event tells something
about each member, so the disclosure rules treat it as an attribute disclosure
(:mod:`openhsct.releases.disclosure`). Every value turns into plain JSON with :func:`to_plain`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The public curve grid, in months: every 3 months to year 2, then yearly to year 15.
GRID_MONTHS: tuple[int, ...] = tuple(range(0, 25, 3)) + tuple(range(36, 181, 12))
#: The time bands in which any public time is shown (no exact day is ever published).
TIME_BANDS: tuple[str, ...] = ("day 0-100", "day 101-365", "year 1-2", "year 2-5", "over 5 years")


def _finite(x: Any) -> float | None:
    """A float, or None for missing/NaN/inf."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Count:
    """``n`` people forming a group, drawn from a group of ``of`` people (``None`` when it is a top-level
    cohort such as a centre's patients)."""

    n: int
    of: int | None = None
    stratum: bool = False


@dataclass(frozen=True)
class Rate:
    """``events`` among ``n`` people (a group drawn from ``of``), with the proportion and its interval."""

    events: int
    n: int
    estimate: float | None = None
    lower: float | None = None
    upper: float | None = None
    of: int | None = None
    stratum: bool = False
    method: str = ""


@dataclass(frozen=True)
class Estimate:
    """An estimate with its interval resting on ``n`` patients (a group drawn from ``of``)."""

    estimate: float | None
    lower: float | None
    upper: float | None
    n: int
    n_risk: int | None = None
    of: int | None = None
    stratum: bool = False
    events: int | None = None


@dataclass(frozen=True)
class CurvePoint:
    """One grid point: months after day 0, the value, its interval and the number still at risk."""

    months: int
    value: float | None
    lower: float | None
    upper: float | None
    n_risk: int


@dataclass(frozen=True)
class Curve:
    """A curve on :data:`GRID_MONTHS` for a group of ``n`` patients."""

    n: int
    points: tuple[CurvePoint, ...] = field(default_factory=tuple)
    rising: bool = False
    of: int | None = None


@dataclass(frozen=True)
class Text:
    """Words: a label, a definition, a source, a date that is the release's own (the cut)."""

    text: str


@dataclass(frozen=True)
class Suppressed:
    """A value the rules removed; ``reason`` says which rule."""

    reason: str
    kind: str = ""


PublicValue = Count | Rate | Estimate | Curve | Text | Suppressed


@dataclass(frozen=True)
class Table:
    """Cells of one margin: group counts keyed by level, whose sum is the group ``total`` (a table split
    by a patient characteristic). Complementary suppression acts on it."""

    total: int
    cells: tuple[tuple[str, Count], ...]
    details: tuple[tuple[str, Mapping], ...] = ()


def to_plain(value: Any) -> Any:
    """Plain JSON-able data (dicts, lists, numbers, strings) for templates and files; a suppressed value
    becomes ``{"suppressed": True, "reason": …}`` and every number is rounded to 6 significant places so
    that rebuilding gives the same bytes."""
    if isinstance(value, Suppressed):
        return {"suppressed": True, "reason": value.reason}
    if isinstance(value, Text):
        return value.text
    if isinstance(value, Count):
        return value.n
    if isinstance(value, Rate):
        return {
            "suppressed": False,
            "events": value.events,
            "n": value.n,
            "estimate": _round(value.estimate),
            "lower": _round(value.lower),
            "upper": _round(value.upper),
            **({"method": value.method} if value.method else {}),
        }
    if isinstance(value, Estimate):
        out = {
            "suppressed": False,
            "estimate": _round(value.estimate),
            "lower": _round(value.lower),
            "upper": _round(value.upper),
            "n": value.n,
        }
        if value.n_risk is not None:
            out["n_risk"] = value.n_risk
        if value.events is not None:
            out["events"] = value.events
        return out
    if isinstance(value, Curve):
        return [
            {
                "months": p.months,
                "value": _round(p.value),
                "lower": _round(p.lower),
                "upper": _round(p.upper),
                "n_risk": p.n_risk,
            }
            for p in value.points
        ]
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, float):
        return _round(value)
    return value


def _round(x: float | None) -> float | None:
    x = _finite(x)
    return None if x is None else float(f"{x:.6g}")
