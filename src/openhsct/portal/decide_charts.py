"""Charts of the decision aid (``/decide/`` and the ``openhsct decide --report`` page), drawn on the server
as the portal's other charts (:func:`openhsct.portal.charts.render_svg`): inline SVG with one label, a
one-sentence summary, and a data table beside each in the template.

Every function takes numbers already computed by :mod:`openhsct.decision` and only draws them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from openhsct.portal.charts import BLACK, BLUE, GREY, ORANGE, VERMILION, WIDTH, Chart, render_svg

STRATEGY_COLOURS = {"aHSCT": BLUE, "DMT": ORANGE}


def _colour_scale(names: Sequence[str]):
    import altair as alt

    palette = [BLUE, ORANGE, "#009E73", VERMILION, GREY]
    names = list(names)
    return alt.Scale(domain=names, range=[STRATEGY_COLOURS.get(n, palette[i % 5]) for i, n in enumerate(names)])


def prediction_chart(curve: Sequence[Mapping], similar: Sequence[Mapping] | None, horizon_years: float) -> Chart:
    """The person's predicted PFS (line, 95% band) beside the Kaplan-Meier PFS of similar registry patients
    (dashed step), over years after transplant."""
    import altair as alt
    import pandas as pd

    df = pd.DataFrame(curve)
    x = alt.X("time:Q", title="Years after transplant", scale=alt.Scale(domainMin=0),
              axis=alt.Axis(tickMinStep=1, format="d"))
    y = alt.Y("lower:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%", title="Progression-free"))
    layers = [
        alt.Chart(df).mark_area(interpolate="step-after", opacity=0.25, color=BLUE).encode(x=x, y=y, y2="upper:Q"),
        alt.Chart(df).mark_line(interpolate="step-after", color=BLUE, strokeWidth=2).encode(x=x, y="survival:Q"),
    ]
    if similar:
        km = pd.DataFrame(similar)
        layers.append(
            alt.Chart(km)
            .mark_line(interpolate="step-after", color=BLACK, strokeDash=[6, 3])
            .encode(x=alt.X("time:Q"), y=alt.Y("survival:Q"))
        )
    at = df.loc[df["time"] <= horizon_years].iloc[-1]
    summary = (
        f"Predicted progression-free survival for a person with these inputs: {at['survival']:.0%} at "
        f"{horizon_years:g} years (95% CI {at['lower']:.0%} to {at['upper']:.0%}; shaded band)"
        + (". Dashed: the registry's Kaplan-Meier curve for similar patients." if similar else ".")
    )
    chart = alt.layer(*layers).properties(width=WIDTH, height=240)
    return Chart(render_svg(chart, "Chart: predicted progression-free survival"), summary)


def edss_course_chart(rows: Sequence[Mapping]) -> Chart:
    """Modelled mean EDSS by year for each strategy (``rows``: year, strategy, mean_edss)."""
    import altair as alt
    import pandas as pd

    df = pd.DataFrame(rows)
    names = list(dict.fromkeys(df["strategy"]))
    chart = (
        alt.Chart(df)
        .mark_line(point=True)
        .encode(
            x=alt.X("year:Q", title="Years from now", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("mean_edss:Q", title="Mean EDSS of those alive", scale=alt.Scale(domain=[0, 10])),
            color=alt.Color("strategy:N", scale=_colour_scale(names), title=None),
            strokeDash=alt.StrokeDash("strategy:N", legend=None),
        )
        .properties(width=WIDTH, height=220)
    )
    last = df.loc[df["year"] == df["year"].max()]
    summary = "Modelled disability course: mean EDSS after " + f"{int(df['year'].max())} years " + ", ".join(
        f"{r.strategy} {r.mean_edss:.1f}" for r in last.itertuples()
    ) + "."
    return Chart(render_svg(chart, "Chart: modelled EDSS course by strategy"), summary)


def ce_plane_chart(points: Sequence[Mapping], currency: str, label: str) -> Chart:
    """The cost-effectiveness plane: one point per PSA sample (``inc_qaly``, ``inc_cost``) of ``label``."""
    import altair as alt
    import pandas as pd

    df = pd.DataFrame(points)
    axes = [
        alt.Chart(pd.DataFrame({"v": [0]})).mark_rule(color=GREY).encode(x="v:Q"),
        alt.Chart(pd.DataFrame({"v": [0]})).mark_rule(color=GREY).encode(y="v:Q"),
    ]
    dots = (
        alt.Chart(df)
        .mark_circle(size=18, opacity=0.5, color=BLUE)
        .encode(
            x=alt.X("inc_qaly:Q", title="Incremental QALYs"),
            y=alt.Y("inc_cost:Q", title=f"Incremental cost ({currency})", axis=alt.Axis(format="~s")),
        )
    )
    chart = alt.layer(*axes, dots).properties(width=WIDTH, height=260)
    more_q = float((df["inc_qaly"] > 0).mean())
    less_c = float((df["inc_cost"] < 0).mean())
    summary = (
        f"Cost-effectiveness plane, {label}: {len(df)} simulations; in {more_q:.0%} aHSCT gives more QALYs "
        f"and in {less_c:.0%} it costs less."
    )
    return Chart(render_svg(chart, f"Chart: cost-effectiveness plane, {label}"), summary)


def ceac_chart(ceac_rows: Sequence[Mapping], ceaf_rows: Sequence[Mapping], currency: str) -> Chart:
    """CEAC (one line per strategy: wtp, strategy, probability) and the CEAF (black points)."""
    import altair as alt
    import pandas as pd

    df = pd.DataFrame(ceac_rows)
    frontier = pd.DataFrame(ceaf_rows)
    names = list(dict.fromkeys(df["strategy"]))
    x = alt.X("wtp:Q", title=f"Willingness to pay per QALY ({currency})", axis=alt.Axis(format="~s"))
    y = alt.Y("probability:Q", title="Probability cost-effective", scale=alt.Scale(domain=[0, 1]),
              axis=alt.Axis(format="%"))
    lines = alt.Chart(df).mark_line().encode(
        x=x, y=y, color=alt.Color("strategy:N", scale=_colour_scale(names), title=None),
        strokeDash=alt.StrokeDash("strategy:N", legend=None),
    )
    dots = alt.Chart(frontier).mark_point(color=BLACK, filled=True, size=25).encode(x=x, y=y)
    chart = alt.layer(lines, dots).properties(width=WIDTH, height=220)
    first, last = frontier.iloc[0], frontier.iloc[-1]
    summary = (
        f"Acceptability curves: at {first['wtp']:,.0f} {currency} per QALY the best-expected strategy is "
        f"{first['strategy']} ({first['probability']:.0%} of simulations); at {last['wtp']:,.0f} it is "
        f"{last['strategy']} ({last['probability']:.0%}). Black points: the frontier (CEAF)."
    )
    return Chart(render_svg(chart, "Chart: cost-effectiveness acceptability curves and frontier"), summary)


def evpi_chart(rows: Sequence[Mapping], currency: str) -> Chart:
    """EVPI per person (``wtp``, ``evpi``) against willingness to pay."""
    import altair as alt
    import pandas as pd

    df = pd.DataFrame(rows)
    chart = (
        alt.Chart(df)
        .mark_line(color=VERMILION, strokeWidth=2)
        .encode(
            x=alt.X("wtp:Q", title=f"Willingness to pay per QALY ({currency})", axis=alt.Axis(format="~s")),
            y=alt.Y("evpi:Q", title=f"EVPI per person ({currency})", axis=alt.Axis(format="~s")),
        )
        .properties(width=WIDTH, height=200)
    )
    top = df.loc[df["evpi"].idxmax()]
    summary = (
        f"Expected value of perfect information: highest, {top['evpi']:,.0f} {currency} per person, at a "
        f"willingness to pay of {top['wtp']:,.0f} {currency} per QALY."
    )
    return Chart(render_svg(chart, "Chart: expected value of perfect information"), summary)
