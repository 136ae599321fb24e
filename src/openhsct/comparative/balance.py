"""Covariate balance before and after matching or weighting, as R MatchIt's ``summary()``.

For each covariate (factors expanded to one indicator per level) and the distance: the (weighted)
means per group, the standardised mean difference (SMD) and the variance ratio (Stuart, *Stat Sci*
2010;25:1-21, doi:10.1214/09-STS313; Austin, *Stat Med* 2009;28:3083-3107, doi:10.1002/sim.3697):

- SMD = (mean_treated - mean_control) / s, with both means weighted after matching/weighting but s
  always from the unweighted sample: the treated group's SD for the ATT ("treated"), the square root
  of the mean of the two groups' variances for the ATE ("pooled"). Variances use the n - 1 divisor;
  a 0/1 covariate uses p(1 - p). A difference below sqrt(machine epsilon) is reported raw.
- Variance ratio = weighted variance treated / control (w normalised to sum 1, divided by
  1 - sum w^2), for covariates that are not 0/1.

Balance is taken as reached when every |SMD| is below ``threshold`` (0.1, Austin 2009).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from openhsct.comparative.propensity import as_treat, model_matrix

_EPS = float(np.sqrt(np.finfo(float).eps))
S_D_DENOMS = ("treated", "pooled")


def _wvar(x: np.ndarray, binary: bool, w: np.ndarray | None = None) -> float:
    w = np.ones(x.size) if w is None else w
    w = w / w.sum()
    mx = float(np.sum(w * x))
    if binary:
        return mx * (1 - mx)
    return float(np.sum(w * (x - mx) ** 2) / (1 - np.sum(w * w)))


def _pooled_sd_proportional(x: np.ndarray, t: np.ndarray, binary: bool) -> float:
    n = x.size
    if binary:
        return float(np.sqrt(sum(x[t == g].sum() * (1 - x[t == g].sum() / (t == g).sum()) / n for g in (0, 1))))
    centred = x.astype(float).copy()
    for g in (0, 1):
        centred[t == g] -= x[t == g].mean()
    return float(np.sqrt(np.sum(centred**2) / (n - 2)))


def _one(x: np.ndarray, t: np.ndarray, w: np.ndarray | None, s_d_denom: str) -> tuple[float, ...]:
    """(mean treated, mean control, SMD, variance ratio) for one column, as MatchIt's ``bal1var``."""
    binary = bool(np.all((x == 0) | (x == 1)))
    ww = np.ones(x.size) if w is None else w
    i1, i0 = t == 1, t == 0
    m1 = float(np.sum(x[i1] * ww[i1]) / np.sum(ww[i1]))
    m0 = float(np.sum(x[i0] * ww[i0]) / np.sum(ww[i0]))
    diff = m1 - m0
    too_small = np.sum(ww[i1] != 0) < 2 and np.sum(ww[i0] != 0) < 2
    smd = diff
    if abs(diff) > _EPS and not too_small:
        if s_d_denom == "treated":
            sd = np.sqrt(_wvar(x[i1], binary))
        else:
            sd = np.sqrt((_wvar(x[i1], binary) + _wvar(x[i0], binary)) / 2)
        if not np.isfinite(sd) or sd < _EPS:
            sd = _pooled_sd_proportional(x, t, binary)
        smd = diff / sd
    vr = np.nan
    if not binary and not too_small:
        den = _wvar(x[i0], False, ww[i0])
        # a comparator arm whose (weighted) values are all equal has no variance: the ratio is undefined
        vr = _wvar(x[i1], False, ww[i1]) / den if den > 0 else np.nan
    return m1, m0, smd, vr


@dataclass(frozen=True, eq=False)
class Balance:
    """Balance table (one row per covariate level, and the distance when given) before (``_un``) and
    after (``_adj``) adjustment; ``threshold`` the |SMD| target."""

    table: pd.DataFrame
    threshold: float
    s_d_denom: str

    @property
    def max_abs_smd(self) -> float:
        """The largest |SMD| after adjustment over the covariates (not the distance)."""
        rows = self.table.drop(index="distance", errors="ignore")
        return float(rows["smd_adj"].abs().max())

    @property
    def balanced(self) -> bool:
        """Whether every covariate's |SMD| after adjustment is below the threshold."""
        return self.max_abs_smd < self.threshold

    @property
    def unbalanced(self) -> list[str]:
        """The covariates whose |SMD| after adjustment is at or above the threshold."""
        rows = self.table.drop(index="distance", errors="ignore")
        return list(rows.index[rows["smd_adj"].abs() >= self.threshold])

    def to_frame(self) -> pd.DataFrame:
        """The balance table."""
        return self.table

    def love_plot_svg(self) -> str:
        """A love plot (|SMD| per covariate, before and after, with the threshold) as SVG text."""
        import altair as alt
        import vl_convert

        t = self.table.drop(index="distance", errors="ignore").reset_index()
        long = pd.concat(
            [
                pd.DataFrame({"covariate": t["covariate"], "sample": "before", "abs_smd": t["smd_un"].abs()}),
                pd.DataFrame({"covariate": t["covariate"], "sample": "after", "abs_smd": t["smd_adj"].abs()}),
            ]
        )
        points = (
            alt.Chart(long)
            .mark_point(filled=True, size=60)
            .encode(
                x=alt.X("abs_smd:Q", title="absolute standardised mean difference"),
                y=alt.Y("covariate:N", sort=list(t["covariate"]), title=None),
                color=alt.Color("sample:N", title=None, sort=["before", "after"]),
                shape=alt.Shape("sample:N", title=None, sort=["before", "after"]),
            )
        )
        rule = alt.Chart(pd.DataFrame({"x": [self.threshold]})).mark_rule(strokeDash=[4, 4]).encode(x="x:Q")
        chart = (points + rule).properties(width=380, height=18 * len(t) + 20, title="Covariate balance")
        return vl_convert.vegalite_to_svg(chart.to_json())


def balance_table(
    data: pd.DataFrame,
    treat,
    covariates: Sequence[str],
    weights=None,
    distance=None,
    s_d_denom: str = "treated",
    threshold: float = 0.1,
) -> Balance:
    """Balance of ``covariates`` between treat = 1 and 0, unweighted and with ``weights`` (matching or
    IPT weights), as MatchIt ``summary()`` with ``s.d.denom`` "treated" (ATT) or "pooled" (ATE).
    Returns :class:`Balance`."""
    t = as_treat(treat)
    x = model_matrix(data, covariates, contrasts=False)
    if distance is not None:
        x = pd.concat([pd.DataFrame({"distance": np.asarray(distance, float)}, index=x.index), x], axis=1)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    rows = []
    for col in x.columns:
        v = x[col].to_numpy(dtype=np.float64)
        un = _one(v, t, None, s_d_denom)
        adj = _one(v, t, w, s_d_denom) if w is not None else un
        rows.append((col, *un, *adj))
    table = pd.DataFrame(
        rows,
        columns=[
            "covariate", "mean_treated_un", "mean_control_un", "smd_un", "var_ratio_un",
            "mean_treated_adj", "mean_control_adj", "smd_adj", "var_ratio_adj",
        ],
    ).set_index("covariate")
    return Balance(table=table, threshold=threshold, s_d_denom=s_d_denom)
