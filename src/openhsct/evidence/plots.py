"""Data for forest and funnel plots, and an optional Altair forest chart rendered to SVG.

The data functions return plain DataFrames (the portal draws them and shows them as tables beside the
chart); Altair and vl-convert are imported only inside :func:`forest_chart_svg`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from openhsct.evidence.effects import escalc_prop, transf_ilogit
from openhsct.evidence.meta import RMAResult
from openhsct.evidence.pooling import PooledOutcome


def forest_data(pooled: PooledOutcome) -> pd.DataFrame:
    """One row per study (observed proportion with its 95% logit-scale CI, ``weight_pct``, citation) and a
    last row ``key = "pooled"`` with the pooled proportion (population-averaged for ``glmm``), its CI and
    the prediction interval; no pooled row when the result is a single study (nothing is pooled).

    Study CIs are ``expit(yi -/+ z sqrt(vi))`` with escalc ``PLO`` (1/2 added to zero cells); a single
    study keeps the exact Clopper-Pearson interval of the result.
    """
    s = pooled.studies
    yi, vi = escalc_prop(s["events"].to_numpy(float), s["n"].to_numpy(float), "PLO")
    z = stats.norm.isf((1 - pooled.level / 100) / 2)
    rows = pd.DataFrame(
        {
            "key": s["key"],
            "citation": s["citation"],
            "n": s["n"],
            "events": s["events"],
            "proportion": s["observed"],
            "ci_lower": transf_ilogit(yi - z * np.sqrt(vi)),
            "ci_upper": transf_ilogit(yi + z * np.sqrt(vi)),
            "weight_pct": s["weight_pct"],
            "pi_lower": np.nan,
            "pi_upper": np.nan,
        }
    )
    if pooled.kind != "pooled":
        # one study, not pooled: its own exact interval, as the result carries it
        return rows.assign(ci_lower=pooled.ci_lower, ci_upper=pooled.ci_upper)
    what = "population-averaged, " if pooled.marginal is not None else ""
    summary = pd.DataFrame(
        [
            {
                "key": "pooled",
                "citation": f"Pooled ({what}{pooled.model}, k = {pooled.k})",
                "n": pooled.n_total,
                "events": s["events"].sum(),
                "proportion": pooled.proportion,
                "ci_lower": pooled.ci_lower,
                "ci_upper": pooled.ci_upper,
                "weight_pct": 100.0,
                "pi_lower": pooled.pi_lower,
                "pi_upper": pooled.pi_upper,
            }
        ]
    )
    return pd.concat([rows, summary], ignore_index=True)


def funnel_data(fit: RMAResult, points: int = 50) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Funnel plot data: the studies (``yi``, ``sei``) and the pseudo-confidence region
    ``estimate -/+ z sei`` for ``sei`` from 0 to the largest standard error (metafor ``funnel``)."""
    sei = np.sqrt(fit.vi)
    z = stats.norm.isf((1 - fit.level / 100) / 2)
    grid = np.linspace(0, sei.max() * 1.05, points)
    studies = pd.DataFrame({"label": list(fit.labels), "yi": fit.yi, "sei": sei})
    region = pd.DataFrame({"sei": grid, "lower": fit.estimate - z * grid, "upper": fit.estimate + z * grid})
    return studies, region


def forest_chart_svg(pooled: PooledOutcome, width: int = 520) -> str:
    """A forest plot of :func:`forest_data` as an SVG string (Altair + vl-convert, no internet)."""
    import altair as alt
    import vl_convert as vlc

    data = forest_data(pooled)
    data["label"] = data["key"]
    data["percent"] = 100 * data["proportion"]
    data["lo"] = 100 * data["ci_lower"]
    data["hi"] = 100 * data["ci_upper"]
    order = data["label"].tolist()
    y = alt.Y("label:N", sort=order, title=None)
    x_title = f"{pooled.label} (%)"
    rules = alt.Chart(data).mark_rule().encode(y=y, x=alt.X("lo:Q", title=x_title), x2="hi:Q")
    points = (
        alt.Chart(data)
        .mark_square()
        .encode(
            y=y, x="percent:Q", size=alt.Size("weight_pct:Q", legend=None, scale=alt.Scale(range=[20, 200]))
        )
    )
    chart = (rules + points).properties(width=width, height=22 * len(data), title=pooled.label)
    return vlc.vegalite_to_svg(chart.to_json())
