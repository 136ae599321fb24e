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
from openhsct.evidence.rates import clopper_pearson


def _study_text(keys: pd.Series) -> tuple[list[str], list[str]]:
    """The public label (``Author Year (country, n = N)``) and citation of each study key
    (:mod:`openhsct.evidence.display`), read from the shipped cohorts table."""
    from openhsct.evidence.dataset import load_cohorts
    from openhsct.evidence.display import public_citation, study_label, unique_labels

    rows = load_cohorts().set_index("key")
    records = [{"key": k, **rows.loc[k].to_dict()} if k in rows.index else {"key": k} for k in keys]
    return unique_labels([study_label(r) for r in records]), [public_citation(r) for r in records]


def _study_intervals(events: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Each study's interval: ``expit(yi -/+ z sqrt(vi))`` with escalc ``PLO`` (1/2 added to zero cells)
    when 0 < events < n; the exact Clopper-Pearson interval when a study has no event or only events
    (there the logit interval with its 1/2 correction would exclude 0% or 100%, which the data allow)."""
    yi, vi = escalc_prop(events, n, "PLO")
    z = stats.norm.isf((1 - level / 100) / 2)
    lower = np.array(transf_ilogit(yi - z * np.sqrt(vi)), dtype=float)
    upper = np.array(transf_ilogit(yi + z * np.sqrt(vi)), dtype=float)
    for i in np.flatnonzero((events <= 0) | (events >= n)):
        exact = clopper_pearson(float(events[i]), float(n[i]), level / 100)
        lower[i], upper[i] = exact.lower, exact.upper
    return lower, upper


def forest_data(pooled: PooledOutcome) -> pd.DataFrame:
    """One row per study (observed proportion with its 95% CI, ``weight_pct``, its public ``label`` and
    ``citation``) and a last row ``key = "pooled"`` with the pooled proportion (population-averaged for
    ``glmm``), its CI and the prediction interval; no pooled row when the result is a single study
    (nothing is pooled).

    Study CIs are ``expit(yi -/+ z sqrt(vi))`` with escalc ``PLO``, exact (Clopper-Pearson) for studies
    with 0 or n events (:func:`_study_intervals`); a single study keeps the exact Clopper-Pearson
    interval of the result. ``events`` is a count of people with the outcome's event only for count
    outcomes (deaths); for outcomes reported as a percentage it is the percentage times the patients
    (not a count of people, see :mod:`openhsct.evidence.pooling`).
    """
    s = pooled.studies
    labels, citations = _study_text(s["key"])
    ci_lower, ci_upper = _study_intervals(s["events"].to_numpy(float), s["n"].to_numpy(float), pooled.level)
    rows = pd.DataFrame(
        {
            "key": s["key"],
            "label": labels,
            "citation": citations,
            "n": s["n"],
            "events": s["events"],
            "proportion": s["observed"],
            "ci_lower": ci_lower,
            "ci_upper": ci_upper,
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
                "label": f"Pooled ({what}k = {pooled.k})",
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
