"""Charts for the portal, drawn on the server: Altair specifications rendered to inline SVG by
vl-convert (no script, no font or file from the internet).

Every function takes already-suppressed public data (see :mod:`openhsct.portal.privacy`) and returns a
:class:`Chart` — the SVG with ``role="img"`` and an ``aria-label``, plus a one-sentence text summary. The
data tables that go with each chart are built by the templates from the same data. Colours are the
Okabe-Ito palette (distinguishable with common colour-vision deficiencies).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.utils.safestring import SafeString, mark_safe

BLUE, ORANGE, GREEN, VERMILION, GREY, BLACK = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#6b6b6b", "#000000"
WIDTH, HEIGHT = 520, 240
FONT = "DejaVu Sans, Verdana, sans-serif"


@dataclass(frozen=True)
class Chart:
    """An inline SVG chart and the one-sentence summary that is its text alternative."""

    svg: SafeString
    summary: str


def _num(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and not math.isnan(v)


#: Smallest chart text, in CSS pixels at the chart's natural size (charts are never drawn smaller than it).
CHART_FONT_PX = 13


def render_svg(chart, label: str) -> SafeString:
    """Render an Altair chart to SVG and mark it as one image with ``label`` for screen readers.

    Text is at least :data:`CHART_FONT_PX` pixels at the chart's natural width, and the SVG is never
    drawn narrower than that width (``min-width``): on a narrow screen the chart scrolls sideways inside
    a keyboard-focusable, labelled scroller instead of shrinking its text below a readable size. Returns
    the scroller with the SVG in it."""
    import vl_convert as vlc

    spec = (
        chart.configure(font=FONT)
        .configure_view(stroke=None)
        .configure_axis(labelFontSize=CHART_FONT_PX, titleFontSize=CHART_FONT_PX)
        .configure_legend(labelFontSize=CHART_FONT_PX, titleFontSize=CHART_FONT_PX)
        .configure_title(fontSize=CHART_FONT_PX + 1)
        .configure_text(fontSize=CHART_FONT_PX)
        .to_json()
    )
    svg = vlc.vegalite_to_svg(spec)
    natural = re.search(r'\swidth="([\d.]+)"', svg)
    svg = re.sub(r'\s(width|height)="[\d.]+"', "", svg, count=2)
    if natural:
        svg = svg.replace("<svg ", f'<svg style="min-width:{float(natural.group(1)):.0f}px" ', 1)
    # Vega labels every mark for screen readers; inside one image those labels are not allowed (and would
    # repeat the data table), so they are removed and the whole chart gets one label.
    svg = re.sub(r'\s(?:role|aria-[a-z]+)="[^"]*"', "", svg)
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{html.escape(label)}" focusable="false" ', 1)
    scroller = (
        f'<div class="chart-scroll" tabindex="0" role="region" aria-label="{html.escape(label)} '
        f'(scrolls sideways on a narrow screen)">{svg}</div>'
    )
    return mark_safe(scroller)  # noqa: S308 - SVG produced by vl-convert from our own data


def _pct_axis(title: str, domain=(0, 1)):
    import altair as alt

    return alt.Y(scale=alt.Scale(domain=list(domain)), axis=alt.Axis(format="%", title=title))


def survival_chart(curve: Sequence[Mapping], label: str, colour: str = BLUE, *, rising: bool = False) -> Chart | None:
    """Kaplan-Meier curve (step) with its pointwise 95% confidence band; ``None`` when nothing to draw.
    ``rising``: the points are a cumulative share with the event (1 - S), read upwards from 0%."""
    import altair as alt
    import pandas as pd

    pts = [p for p in curve if _num(p.get("survival"))]
    if len(pts) < 2:
        return None
    df = pd.DataFrame(pts)
    x = alt.X("time_years:Q", title="Years after transplant", scale=alt.Scale(domainMin=0),
              axis=alt.Axis(tickMinStep=1, format="d"))
    band = (
        alt.Chart(df)
        .mark_area(interpolate="step-after", opacity=0.25, color=colour)
        .encode(
            x=x,
            y=alt.Y("lower:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%", title=label)),
            y2="upper:Q",
        )
    )
    line = (
        alt.Chart(df)
        .mark_line(interpolate="step-after", color=colour, strokeWidth=2)
        .encode(x=x, y="survival:Q")
    )
    chart = alt.layer(band, line).properties(width=WIDTH, height=HEIGHT)
    last = pts[-1]
    summary = (
        f"{label}: the curve {'rises from 0%' if rising else 'falls from 100%'} to {last['survival']:.0%} at "
        f"{last['time_years']:.1f} years after transplant (shaded: 95% confidence band)."
    )
    return Chart(render_svg(chart, f"Chart: {label} over time"), summary)


def cif_chart(curve: Sequence[Mapping], label: str = "Deaths from any cause by day 100") -> Chart | None:
    """Cumulative incidence of transplant-related death (step) with its 95% band, days 0–365."""
    import altair as alt
    import pandas as pd

    pts = [p for p in curve if _num(p.get("cif"))]
    if len(pts) < 2:
        return None
    df = pd.DataFrame(pts)
    top = max(0.05, float(df["upper"].max()) * 1.1 if "upper" in df else 0.05)
    x = alt.X("time_days:Q", title="Days after transplant", scale=alt.Scale(domainMin=0))
    band = (
        alt.Chart(df)
        .mark_area(interpolate="step-after", opacity=0.25, color=VERMILION)
        .encode(
            x=x,
            y=alt.Y(
                "lower:Q",
                scale=alt.Scale(domain=[0, min(1, top)]),
                axis=alt.Axis(format="%", title="Cumulative incidence"),
            ),
            y2="upper:Q",
        )
    )
    line = (
        alt.Chart(df)
        .mark_line(interpolate="step-after", color=VERMILION, strokeWidth=2)
        .encode(x=x, y="cif:Q")
    )
    chart = alt.layer(band, line).properties(width=WIDTH, height=HEIGHT)
    last = pts[-1]
    summary = (
        f"{label}: the cumulative incidence rises from 0% to {last['cif']:.1%} by day "
        f"{int(last['time_days'])} (shaded: 95% confidence band)."
    )
    return Chart(render_svg(chart, f"Chart: {label}, cumulative incidence"), summary)


def per_year_chart(per_year: Sequence[Mapping]) -> Chart | None:
    """Bars of transplants per calendar year; years shown as ``<5`` are drawn as an empty bar."""
    import altair as alt
    import pandas as pd

    rows = [
        {"year": str(r["year"]), "n": r["n"] if _num(r["n"]) else 0, "label": str(r["n"]) if _num(r["n"]) else "–"}
        for r in per_year
    ]
    if not rows:
        return None
    df = pd.DataFrame(rows)
    # Years as slanted labels, thinned where they would touch (never run together as "200520062007").
    axis = alt.Axis(labelAngle=-45, labelOverlap="greedy", labelSeparation=4)
    base = alt.Chart(df).encode(x=alt.X("year:O", title="Year of transplant", axis=axis))
    bars = base.mark_bar(color=BLUE).encode(y=alt.Y("n:Q", title="Patients transplanted"))
    text = base.mark_text(dy=-6, color=BLACK).encode(y="n:Q", text="label:N")
    chart = alt.layer(bars, text).properties(width=WIDTH, height=180)
    busiest = max(rows, key=lambda r: r["n"])
    summary = (
        f"Transplants per year from {rows[0]['year']} to {rows[-1]['year']}; the busiest year was "
        f"{busiest['year']} ({busiest['label']} patients)."
    )
    return Chart(render_svg(chart, "Chart: patients transplanted per year"), summary)


def edss_chart(edss_change: Sequence[Mapping]) -> Chart | None:
    """Median (line) and mean (points) change in EDSS from baseline by years after transplant."""
    import altair as alt
    import pandas as pd

    rows = [r for r in edss_change if not r.get("suppressed") and _num(r.get("median_change"))]
    if not rows:
        return None
    df = pd.DataFrame(rows)
    long = pd.concat(
        [
            df.assign(statistic="median", change=df["median_change"]),
            df.assign(statistic="mean", change=df["mean_change"]),
        ]
    )[["years", "statistic", "change"]]
    lim = max(1.0, float(long["change"].abs().max()) + 0.25)
    chart = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("years:Q", title="Years after transplant"),
            y=alt.Y("change:Q", title="EDSS change from baseline", scale=alt.Scale(domain=[-lim, lim])),
            color=alt.Color(
                "statistic:N", scale=alt.Scale(domain=["median", "mean"], range=[BLUE, ORANGE]), title=None
            ),
            strokeDash=alt.StrokeDash("statistic:N", legend=None),
        )
    )
    zero = alt.Chart(pd.DataFrame({"y": [0]})).mark_rule(color=GREY).encode(y="y:Q")
    last = rows[-1]
    summary = (
        f"Disability (EDSS) change: {last['years']} years after transplant the median change from "
        f"baseline was {last['median_change']:+.1f} points (negative = better)."
    )
    return Chart(
        render_svg(
            alt.layer(zero, chart).properties(width=WIDTH, height=200),
            "Chart: change in EDSS after transplant",
        ),
        summary,
    )


def funnel_chart(
    points: Sequence[Mapping], limits: Sequence[Mapping], *, p0: float, title: str, x_title: str
) -> Chart | None:
    """A funnel plot: each centre's rate against its size, the all-centre rate (line) and the 95% and
    99.8% control limits (dashed and dotted). ``points``: centre_code, x, rate, flag; ``limits``: x, lo95,
    hi95, lo998, hi998 (from :func:`openhsct.outcomes.funnel.control_limits`)."""
    import altair as alt
    import pandas as pd

    if not points:
        return None
    pts = pd.DataFrame(points)
    lim = pd.DataFrame(limits)
    top = float(max(pts["rate"].max(), lim["hi998"].max(), p0)) * 1.05
    bottom = float(min(pts["rate"].min(), lim["lo998"].min(), p0)) * 0.95
    y = alt.Scale(domain=[max(0.0, bottom), min(1.0, top)])
    x = alt.X("x:Q", title=x_title)
    layers = [alt.Chart(pd.DataFrame({"y": [p0]})).mark_rule(color=BLACK).encode(y=alt.Y("y:Q", scale=y))]
    for col, dash in (("lo95", [6, 3]), ("hi95", [6, 3]), ("lo998", [2, 2]), ("hi998", [2, 2])):
        layers.append(
            alt.Chart(lim)
            .mark_line(color=GREY, strokeDash=dash)
            .encode(x=x, y=alt.Y(f"{col}:Q", scale=y, axis=alt.Axis(format="%", title=title)))
        )
    layers.append(
        alt.Chart(pts)
        .mark_point(filled=True, size=70)
        .encode(
            x=x,
            y=alt.Y("rate:Q", scale=y),
            color=alt.Color(
                "flag:N",
                title="Follow-up",
                scale=alt.Scale(domain=["complete (≥ 90%)", "below 90%"], range=[BLUE, VERMILION]),
            ),
            shape=alt.Shape(
                "flag:N",
                scale=alt.Scale(domain=["complete (≥ 90%)", "below 90%"], range=["circle", "triangle"]),
                legend=None,
            ),
        )
    )
    layers.append(
        alt.Chart(pts)
        .mark_text(dx=8, align="left", color=BLACK)
        .encode(x=x, y=alt.Y("rate:Q", scale=y), text="centre_code:N")
    )
    chart = alt.layer(*layers).properties(width=WIDTH, height=HEIGHT)
    outside = [p["centre_code"] for p in points if p.get("position") not in (None, "within the limits")]
    summary = f"{title}: {len(points)} centres against the all-centre rate of {p0:.1%}; " + (
        f"outside the 95% limits: {', '.join(outside)}." if outside else "all within the 95% limits."
    )
    return Chart(render_svg(chart, f"Funnel plot: {title}"), summary)


def forest_chart(
    rows: Sequence[Mapping],
    *,
    title: str,
    x_title: str = "Proportion",
    height_per_row: int = 22,
    k: int | None = None,
) -> Chart | None:
    """A forest plot: one row per study (point and CI), the pooled estimate (diamond-like bar), its
    prediction interval (thin bar) and optionally this centre's own line. ``rows``: label, estimate,
    lower, upper, kind in {"study", "pooled", "prediction", "centre"}. ``k``: the number of studies
    pooled when the chart shows the pooled line without its study rows (a centre beside the evidence);
    by default the number of study rows. The summary (:func:`forest_summary`) is built from the same
    rows and ``k`` as the chart's labels."""
    import altair as alt
    import pandas as pd

    rows = [r for r in rows if _num(r.get("estimate"))]
    if not rows:
        return None
    df = pd.DataFrame(rows)
    df["order"] = range(len(df))
    order = df["label"].tolist()
    kinds = ["study", "pooled", "prediction", "centre"]
    colours = [GREY, BLACK, ORANGE, BLUE]
    y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=460))
    hi = float(df["upper"].fillna(df["estimate"]).max())
    x = alt.X(
        "lower:Q", title=x_title, axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, min(1.0, hi * 1.05)])
    )
    col = alt.Color("kind:N", scale=alt.Scale(domain=kinds, range=colours), title=None)
    rules = alt.Chart(df).mark_rule(strokeWidth=2).encode(x=x, x2="upper:Q", y=y, color=col)
    pts = (
        alt.Chart(df)
        .mark_point(filled=True)
        .encode(
            x=alt.X("estimate:Q"),
            y=y,
            color=col,
            shape=alt.Shape(
                "kind:N",
                scale=alt.Scale(domain=kinds, range=["square", "diamond", "stroke", "circle"]),
                legend=None,
            ),
            size=alt.Size("kind:N", scale=alt.Scale(domain=kinds, range=[50, 160, 1, 90]), legend=None),
        )
    )
    chart = alt.layer(rules, pts).properties(width=380, height=max(80, height_per_row * len(df)))
    return Chart(render_svg(chart, f"Forest plot: {title}"), forest_summary(rows, title=title, k=k))


def forest_summary(rows: Sequence[Mapping], *, title: str, k: int | None = None) -> str:
    """The text alternative of a forest plot: how many studies (``k``, else the study rows), the pooled
    estimate with its 95% CI and the prediction interval, and this centre's line when drawn."""
    studies = k if k is not None else sum(r["kind"] == "study" for r in rows)
    noun = "study" if studies == 1 else "studies"
    parts = [f"{title}: {studies} published {noun}"]
    pooled = next((r for r in rows if r["kind"] == "pooled"), None)
    if pooled:
        parts.append(f"pooled estimate {pooled['estimate']:.1%} (95% CI {pooled['lower']:.1%} to {pooled['upper']:.1%})")
    pi = next((r for r in rows if r["kind"] == "prediction" and _num(r.get("lower"))), None)
    if pi:
        parts.append(f"range expected for a new centre {pi['lower']:.1%} to {pi['upper']:.1%}")
    centre = next((r for r in rows if r["kind"] == "centre"), None)
    if centre and _num(centre.get("lower")) and _num(centre.get("upper")):
        parts.append(f"this centre {centre['estimate']:.1%} (95% CI {centre['lower']:.1%} to {centre['upper']:.1%})")
    elif centre:
        parts.append(f"this centre {centre['estimate']:.1%}")
    return "; ".join(parts) + "."
