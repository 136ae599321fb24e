"""The small-numbers rule, in one place, for every public page and export.

**No number computed from fewer than 5 patients is shown** (``MIN_N``), and a count of 1–4 people is
shown as ``"<5"``. This is the rule of the UK Office for National Statistics' and HFEA's published
tables (cells of 1–4 suppressed) and the reason SRTR and CIBMTR print no centre estimate from a handful of
patients: such numbers could point at a person, and they are too unreliable to guide anyone.

:func:`suppress` walks a :func:`openhsct.outcomes.summary.centre_summary` dict and returns a copy in which

- a centre with fewer than 5 patients keeps only its name, country, the as-of date and ``"<5"``;
- an estimate block whose ``n`` (patients it is computed from) is under 5 becomes
  ``{"suppressed": True, "reason": SMALL_N_TEXT}`` (its numbers dropped);
- a curve keeps only the points with at least 5 patients at risk (Kaplan-Meier and cumulative
  incidence curves are cut where fewer than 5 remain, as is usual for published curves);
- a count of people from 1 to 4 (events, deaths, per-year cells, improved/stable/worse…) becomes ``"<5"``;
- the de-identified "did not do well" list is kept only for a centre with at least 5 patients, and
  without the exact day (the timing band stays).

:func:`suppress_rows` does the same for per-centre tables (the centre list and the comparison).
Every public view, the report and the CSV go through :mod:`openhsct.portal.selectors`, which applies these
functions; nothing else in the portal reads unsuppressed numbers.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from typing import Any

MIN_N = 5
SMALL = "<5"
SMALL_N_TEXT = "fewer than 5 patients — not shown to protect privacy and because it would be unreliable"

# Keys that hold a number of people: shown as "<5" when 1–4 (also every key starting with "n_" and every
# value of a dict whose key ends with "_counts").
COUNT_KEYS = frozenset(
    {
        "n",
        "events",
        "deaths",
        "competing_deaths",
        "patients_with",
        "alive",
        "seen",
        "improved",
        "stable",
        "worse",
        "observed",
        "count",
        "trm_events_day100",
        "followup_alive",
        "followup_seen",
    }
)
# Keys that give the number of patients a block is computed from: the smallest present counts.
DENOMINATOR_KEYS = ("n", "n_patients", "n_evaluable", "n_risk", "pfs_n", "trm_n_day100")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def small(v: Any) -> bool:
    """True for a number of people from 1 to MIN_N - 1 (zero is shown: it reveals no one)."""
    return _is_number(v) and not (isinstance(v, float) and math.isnan(v)) and 0 < v < MIN_N


def mask_count(v: Any) -> Any:
    """A count of people, with 1–4 replaced by ``"<5"``."""
    return SMALL if small(v) else v


def suppressed_block(**keep: Any) -> dict:
    """What is left of an estimate computed from fewer than 5 patients."""
    return {"suppressed": True, "reason": SMALL_N_TEXT, **keep}


def is_count_key(key: Any) -> bool:
    return isinstance(key, str) and (key in COUNT_KEYS or key.startswith("n_"))


def _denominator(block: Mapping) -> float | None:
    """The fewest patients any estimate of ``block`` rests on (``"<5"`` counts as 1), or None."""
    found = []
    for key in DENOMINATOR_KEYS:
        v = block.get(key)
        if _is_number(v):
            found.append(v)
        elif v == SMALL:
            found.append(1)
    return min(found) if found else None


def _mask_value(key: Any, v: Any) -> Any:
    if is_count_key(key):
        return mask_count(v)
    if isinstance(key, str) and key.endswith("_counts") and isinstance(v, Mapping):
        return {k: mask_count(x) for k, x in v.items()}
    return v


def _mask_counts(block: dict) -> dict:
    return {k: _mask_value(k, v) for k, v in block.items()}


def scrub(obj: Any, parent_n: float | None = None) -> Any:
    """Generic pass over any nested structure: a dict whose own ``n`` (or, failing that, its parent's) is
    under 5 is replaced by a suppressed block; counts of 1–4 become ``"<5"``; curve points with fewer than
    5 at risk are dropped. Idempotent, so it is safe to run after the specific rules below."""
    if isinstance(obj, list):
        out = []
        for item in obj:
            if isinstance(item, Mapping) and _is_number(item.get("n_risk")) and item["n_risk"] < MIN_N:
                continue
            out.append(scrub(item, parent_n))
        return out
    if not isinstance(obj, Mapping):
        return obj
    if obj.get("suppressed"):
        return {k: v for k, v in obj.items() if k in ("year", "years") or not _is_number(v)}
    own = _denominator(obj)
    n = own if own is not None else parent_n
    if (
        n is not None
        and n < MIN_N
        and any(
            _is_number(v) for k, v in obj.items() if k not in ("year", "years") and k not in DENOMINATOR_KEYS
        )
    ):
        keep = {k: v for k, v in obj.items() if k in ("year", "years", "label", "definition", "source")}
        return suppressed_block(**keep, **({"n": mask_count(own)} if own is not None else {}))
    return {
        k: (_mask_value(k, v) if is_count_key(k) or str(k).endswith("_counts") else scrub(v, n))
        for k, v in obj.items()
    }


def _suppress_curve_block(block: Mapping | None) -> dict | None:
    """An endpoint or TRM block: suppressed whole under 5 patients, curve cut where < 5 at risk,
    ``at`` estimates with < 5 at risk suppressed, event counts masked."""
    if block is None:
        return None
    n = _denominator(block)
    if n is None or n < MIN_N:
        return suppressed_block(
            **{k: block[k] for k in ("label", "definition", "source") if k in block}, n=mask_count(n)
        )
    out = _mask_counts(dict(block))
    if "curve" in block:
        out["curve"] = [
            dict(p) for p in block["curve"] if not (_is_number(p.get("n_risk")) and p["n_risk"] < MIN_N)
        ]
    if "at" in block:
        out["at"] = [
            suppressed_block(years=a.get("years"))
            if _is_number(a.get("n_risk")) and a["n_risk"] < MIN_N
            else dict(a)
            for a in block["at"]
        ]
    return out


def _suppress_rows(rows: Iterable[Mapping], keep: tuple[str, ...]) -> list[dict]:
    out = []
    for row in rows:
        n = _denominator(row)
        if n is not None and n < MIN_N:
            out.append(suppressed_block(**{k: row[k] for k in keep if k in row}, n=mask_count(n)))
        else:
            out.append(_mask_counts(dict(row)))
    return out


def _small_centre(summary: Mapping) -> dict:
    """All that is shown of a centre with fewer than 5 patients."""
    return {
        "centre": dict(summary.get("centre", {})),
        "as_of": summary.get("as_of"),
        "n_patients": mask_count(summary.get("n_patients")),
        "suppressed": True,
        "reason": SMALL_N_TEXT,
        "per_year": [],
        "followup": suppressed_block(),
        "endpoints": {},
        "trm": None,
        "trm_family": {},
        "neda3": [],
        "grade3_events": None,
        "edss_change": [],
        "did_not_do_well": [],
        "costs": None,
        "strata": {},
    }


def suppress(summary: Mapping, *, min_n: int = MIN_N) -> dict:
    """The public version of a centre summary: every number from fewer than ``min_n`` patients removed
    and every count of 1–4 people shown as ``"<5"`` (see the module docstring for each rule)."""
    if min_n != MIN_N:
        raise ValueError(f"the public threshold is fixed at {MIN_N}")
    s = copy.deepcopy(dict(summary))
    n_patients = s.get("n_patients")
    if not _is_number(n_patients) or n_patients < MIN_N:
        return _small_centre(s)
    s["suppressed"] = False
    s["per_year"] = [_mask_counts(dict(r)) for r in s.get("per_year", [])]
    fu = dict(s.get("followup") or {})
    if _is_number(fu.get("alive")) and fu["alive"] < MIN_N:
        fu = suppressed_block(alive=mask_count(fu["alive"]))
    s["followup"] = _mask_counts(fu)
    s["endpoints"] = {k: _suppress_curve_block(v) for k, v in (s.get("endpoints") or {}).items()}
    s["trm"] = _suppress_curve_block(s.get("trm"))
    s["trm_family"] = {k: _suppress_curve_block(v) for k, v in (s.get("trm_family") or {}).items()}
    s["neda3"] = _suppress_rows(s.get("neda3") or [], ("years", "method"))
    g3 = s.get("grade3_events")
    if g3 is not None:
        s["grade3_events"] = _suppress_rows([g3], ("method",))[0]
    s["edss_change"] = _suppress_rows(s.get("edss_change") or [], ("years",))
    # The exact day of a bad outcome could point at a person; the public list keeps the timing band only.
    s["did_not_do_well"] = [
        {k: v for k, v in r.items() if k != "days_from_day0"} for r in s.get("did_not_do_well") or []
    ]
    costs = s.get("costs")
    if costs is not None:
        if not _is_number(costs.get("n_patients")) or costs["n_patients"] < MIN_N:
            s["costs"] = suppressed_block(
                currency=costs.get("currency"), n_patients=mask_count(costs.get("n_patients"))
            )
        else:
            costs = dict(costs)
            costs["by_category"] = _suppress_rows(costs.get("by_category") or [], ("category",))
            s["costs"] = costs
    strata = {}
    for by, levels in (s.get("strata") or {}).items():
        strata[by] = {}
        for level, block in levels.items():
            n = _denominator(block)
            strata[by][level] = suppressed_block(n=mask_count(n)) if n is None or n < MIN_N else block
    s["strata"] = strata
    return scrub(s)


# In a per-centre row, the fields that rest on fewer patients than the centre's ``n``: each group is
# blanked when its own denominator is under 5.
ROW_FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "trm_n_day100": (
        "trm_events_day100",
        "trm_rate",
        "trm_cif_day100",
        "trm_cif_day100_lower",
        "trm_cif_day100_upper",
        "trm_expected_day100",
        "trm_o_over_e",
        "trm_shrunk_ratio",
        "oe_shrunk",
        "oe_lower",
        "oe_upper",
        "oe_tier",
        "trm_position",
    ),
    "pfs_5y_n_risk": (
        "pfs_5y",
        "pfs_5y_se",
        "pfs_5y_lower",
        "pfs_5y_upper",
        "pfs_5y_effective_n",
        "pfs_position",
    ),
    "followup_alive": ("followup_share", "followup_seen"),
}


def suppress_rows(
    rows: Iterable[Mapping],
    *,
    label_keys: tuple[str, ...] = ("centre_code", "name", "country", "city", "synthetic"),
) -> list[dict]:
    """Per-centre rows (the centre list, the comparison table): a centre with ``n`` under 5 keeps only
    its labels; within the others, each group of :data:`ROW_FIELD_GROUPS` whose own denominator is under 5
    is blanked (``None``, with ``<group>_suppressed``), and counts of 1–4 become ``"<5"``."""
    out = []
    for row in rows:
        row = dict(row)
        n = row.get("n")
        if not _is_number(n) or n < MIN_N:
            out.append(suppressed_block(**{k: row[k] for k in label_keys if k in row}, n=mask_count(n)))
            continue
        for denom, fields in ROW_FIELD_GROUPS.items():
            d = row.get(denom)
            if _is_number(d) and d < MIN_N:
                for f in fields:
                    if f in row:
                        row[f] = None
                row[f"{denom}_suppressed"] = True
        out.append(_mask_counts(row))
    return out
