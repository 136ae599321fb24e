"""The log-rank test of equal survival across groups, as R ``survival::survdiff`` (rho = 0).

At each distinct event time t_j, with n_j at risk (n_gj in group g) and d_j events (d_gj in group g):

    E_g   = sum_j d_j n_gj / n_j
    V_gh  = sum_j d_j (n_j - d_j) / (n_j - 1) * n_gj / n_j * (1[g = h] - n_hj / n_j)

and the statistic is (O - E)' V^- (O - E) on (number of groups with E > 0) - 1 degrees of freedom,
computed as survdiff does: keep groups with E > 0 and drop the first of them (Mantel 1966; Peto & Peto
1972).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2

from openhsct.outcomes._validate import as_event, as_group, as_time, check_lengths


@dataclass(frozen=True, eq=False)
class LogrankTest:
    """Log-rank chi-square with the per-group observed and expected event counts."""

    statistic: float
    df: int
    p_value: float
    n: pd.Series
    observed: pd.Series
    expected: pd.Series
    variance: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """One row per group: n, observed, expected, (O - E)^2 / E, with the test repeated."""
        frame = pd.DataFrame({"n": self.n, "observed": self.observed, "expected": self.expected})
        frame["o_minus_e_sq_over_e"] = (frame["observed"] - frame["expected"]) ** 2 / frame["expected"]
        frame["statistic"] = self.statistic
        frame["df"] = self.df
        frame["p_value"] = self.p_value
        return frame.rename_axis("group").reset_index()


def logrank_test(time, event, group) -> LogrankTest:
    """Log-rank test that survival is equal across ``group``, equal to R ``survdiff(Surv(time, event) ~ group)``.

    Groups are ordered as R's ``factor`` (sorted labels).
    """
    t = as_time(time)
    e = as_event(event)
    codes, labels = as_group(group)
    check_lengths(time=t, event=e, group=codes)
    ng = len(labels)
    uniq, inverse = np.unique(t, return_inverse=True)
    cell = inverse * ng + codes
    total = np.bincount(cell, minlength=uniq.size * ng).reshape(uniq.size, ng)
    dead = np.bincount(cell, weights=e, minlength=uniq.size * ng).reshape(uniq.size, ng)
    at_risk = np.cumsum(total[::-1], axis=0)[::-1].astype(np.float64)
    keep = dead.sum(axis=1) > 0
    n_g, d_g = at_risk[keep], dead[keep]
    n_j, d_j = n_g.sum(axis=1), d_g.sum(axis=1)

    share = n_g / n_j[:, None]
    expected = (d_j[:, None] * share).sum(axis=0)
    observed = d_g.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(n_j > 1, d_j * (n_j - d_j) / (n_j - 1), 0.0)
    variance = np.einsum("t,tg->g", scale, share) * np.eye(ng) - np.einsum("t,tg,th->gh", scale, share, share)

    used = np.flatnonzero(expected > 0)
    if used.size < 2:
        stat = 0.0
    else:
        diff = (observed - expected)[used][1:]
        try:
            stat = float(diff @ np.linalg.solve(variance[np.ix_(used, used)][1:, 1:], diff))
        except np.linalg.LinAlgError:
            # R's survdiff stops here too ("system is exactly singular").
            raise ValueError(
                "the log-rank variance is singular (for example every event at one time with nobody "
                "left at risk): the test is undefined"
            ) from None
    df = max(int(used.size) - 1, 0)
    index = pd.Index(labels, name="group")
    return LogrankTest(
        statistic=stat,
        df=df,
        p_value=float(chi2.sf(stat, df)) if df > 0 else float("nan"),
        n=pd.Series(total.sum(axis=0), index=index, name="n"),
        observed=pd.Series(observed, index=index, name="observed"),
        expected=pd.Series(expected, index=index, name="expected"),
        variance=pd.DataFrame(variance, index=index, columns=index),
    )
