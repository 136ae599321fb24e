"""The centre comparison: funnel positions, the shrunk observed/expected ratio and its tier, the crude
day-100 death rate and the follow-up flag, one row per centre.

The per-centre figures come from :func:`openhsct.outcomes.summary.centre_comparison`; this module adds
what the comparison page and its CSV show beside them, so that no web view does arithmetic on an
estimate. Funnel limits are exact binomial (deaths by day 100) or normal on the effective number of
patients (5-year PFS), after Spiegelhalter DJ (2005), *Statistics in Medicine* 24:1185-1202,
doi:10.1002/sim.1970; the shrunk ratio (O + 2)/(E + 2) and its tiers are SRTR's
(:func:`openhsct.outcomes.funnel.shrunk_oe`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from openhsct.outcomes import funnel

#: A centre whose follow-up completeness is below this share is flagged.
FOLLOWUP_FLAG_SHARE = 0.9


@dataclass(frozen=True)
class CentreComparison:
    """Per-centre rows (``rows``) and the all-centre targets: ``trm_rate`` (deaths by day 100 over
    patients with known day-100 status, all centres) and ``pfs_5y`` (the all-centre 5-year PFS)."""

    rows: pd.DataFrame = field(repr=False)
    trm_rate: float | None
    pfs_5y: float | None

    def to_frame(self) -> pd.DataFrame:
        """The per-centre rows."""
        return self.rows.copy()


def _finite(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def compare_centres(comparison: pd.DataFrame, pfs_5y_reference: float | None) -> CentreComparison:
    """Returns the comparison of :func:`~openhsct.outcomes.summary.centre_comparison` with, per centre,
    ``trm_rate`` (crude day-100 death rate), ``trm_position`` (against the all-centre rate's exact
    binomial funnel), ``oe_shrunk``/``oe_lower``/``oe_upper``/``oe_tier`` (shrunk O/E), the PFS funnel's
    ``pfs_5y_effective_n`` and ``pfs_position``, and ``followup_flag`` (completeness below 90 %)."""
    rows = comparison.copy()
    events = float(rows["trm_events_day100"].sum()) if len(rows) else 0.0
    known = float(rows["trm_n_day100"].sum()) if len(rows) else 0.0
    p0 = events / known if known else None
    rate, pos, shrunk, lo, hi, tier, eff, ppos, flag = ([] for _ in range(9))
    for r in rows.itertuples():
        n_known = int(r.trm_n_day100)
        rt = r.trm_events_day100 / n_known if n_known else None
        rate.append(rt)
        pos.append(funnel.funnel_position(rt, n_known, p0) if rt is not None and p0 is not None else None)
        s = funnel.shrunk_oe(r.trm_events_day100, _finite(r.trm_expected_day100) or 0.0)
        shrunk.append(_finite(r.trm_shrunk_ratio) if _finite(r.trm_shrunk_ratio) is not None else s.ratio)
        lo.append(s.lower)
        hi.append(s.upper)
        tier.append(s.tier)
        m = None
        pfs, se = _finite(r.pfs_5y), _finite(r.pfs_5y_se)
        if pfs is not None and se:
            m = _finite(funnel.effective_n(pfs, se))
        eff.append(m)
        ppos.append(
            funnel.funnel_position(pfs, m, pfs_5y_reference, method="normal")
            if m is not None and pfs_5y_reference is not None
            else None
        )
        share = _finite(r.followup_share)
        flag.append(share is not None and share < FOLLOWUP_FLAG_SHARE)
    rows["trm_rate"] = rate
    rows["trm_position"] = pos
    rows["oe_shrunk"] = shrunk
    rows["oe_lower"] = lo
    rows["oe_upper"] = hi
    rows["oe_tier"] = tier
    rows["pfs_5y_effective_n"] = eff
    rows["pfs_position"] = ppos
    rows["followup_flag"] = flag
    return CentreComparison(rows=rows, trm_rate=p0, pfs_5y=pfs_5y_reference)


def funnel_limits(p0: float, n_max: float, *, method: str = "binomial") -> list[dict]:
    """The funnel's 95 % and 99.8 % control limits up to ``n_max`` patients, as rows
    (:func:`openhsct.outcomes.funnel.control_limits`)."""
    return funnel.control_limits(p0, n_max, method=method)


def interval_position(estimate: float, lower: float, upper: float) -> str:
    """``"within"``, ``"above"`` or ``"below"`` an interval (a centre's estimate against the published
    studies' 95 % prediction interval)."""
    if estimate > upper:
        return "above"
    if estimate < lower:
        return "below"
    return "within"
