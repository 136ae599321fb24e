"""The patient timeline chart of the clinic's patient page: EDSS over time, with relapses, MRI scans,
disease-modifying treatments and day 0 marked. Drawn with Altair and rendered to inline SVG by
:func:`openhsct.portal.charts.render_svg`; every text is at least 12 px at the chart's natural size, and
the page shows the same points as a table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from openhsct.portal.charts import BLACK, BLUE, GREEN, ORANGE, VERMILION, Chart, render_svg
from openhsct.registry import models as m

WIDTH, HEIGHT = 640, 260
LABEL_PX, TITLE_PX = 13, 14


@dataclass(frozen=True)
class ChartPoint:
    """One mark of the chart, also one row of its data table: date (and end date for a treatment),
    what it is, and its value in words."""

    date: dt.date
    kind: str
    value: str
    end: dt.date | None = None


def timeline_points(patient: m.Patient, today: dt.date | None = None) -> list[ChartPoint]:
    """The chart's marks for ``patient``, oldest first (a treatment not stopped runs to ``today``)."""
    today = today or dt.date.today()
    pts = [ChartPoint(v.visit_date, "EDSS", f"{v.edss}") for v in m.EdssVisit.objects.filter(patient=patient)]
    pts += [ChartPoint(r.onset_date, "Relapse", "onset") for r in m.Relapse.objects.filter(patient=patient)]
    pts += [ChartPoint(s.scan_date, "MRI scan", "scan") for s in m.MriScan.objects.filter(patient=patient)]
    pts += [ChartPoint(t.day0, "Day 0", "stem cells re-infused") for t in m.Transplant.objects.filter(patient=patient)]
    pts += [
        ChartPoint(x.start_date, "DMT", x.drug, x.stop_date or max(today, x.start_date))
        for x in m.DmtExposure.objects.filter(patient=patient)
    ]
    return sorted(pts, key=lambda p: (p.date, p.kind))


def timeline_chart(points: list[ChartPoint]) -> Chart | None:
    """The chart of ``points``, or None when the patient has no EDSS visit to draw."""
    import altair as alt
    import pandas as pd

    edss = [p for p in points if p.kind == "EDSS"]
    if not edss:
        return None
    x_scale = alt.Scale(domain=[min(p.date for p in points).isoformat(),
                                max((p.end or p.date) for p in points).isoformat()])
    x = alt.X("date:T", title="Date", scale=x_scale, axis=alt.Axis(format="%Y", labelFontSize=LABEL_PX,
                                                                 titleFontSize=TITLE_PX))
    frame = pd.DataFrame([{"date": p.date.isoformat(), "edss": float(p.value)} for p in edss])
    layers = [
        alt.Chart(frame).mark_line(color=BLUE, strokeWidth=2, point=alt.OverlayMarkDef(color=BLUE, size=50))
        .encode(x=x, y=alt.Y("edss:Q", title="EDSS", scale=alt.Scale(domain=[0, 10]),
                             axis=alt.Axis(labelFontSize=LABEL_PX, titleFontSize=TITLE_PX))),
    ]
    marks = {"Relapse": (VERMILION, [4, 2]), "MRI scan": (GREEN, [1, 3]), "Day 0": (BLACK, [])}
    for kind, (colour, dash) in marks.items():
        rows = [{"date": p.date.isoformat(), "kind": kind} for p in points if p.kind == kind]
        if rows:
            layers.append(alt.Chart(pd.DataFrame(rows)).mark_rule(color=colour, strokeWidth=2, strokeDash=dash)
                          .encode(x="date:T"))
    dmts = [{"date": p.date.isoformat(), "end": p.end.isoformat(), "drug": p.value} for p in points if p.kind == "DMT"]
    if dmts:
        layers.append(alt.Chart(pd.DataFrame(dmts)).mark_rect(color=ORANGE, opacity=0.25)
                      .encode(x="date:T", x2="end:T", y=alt.datum(9.5), y2=alt.datum(10)))
    chart = alt.layer(*layers).properties(width=WIDTH, height=HEIGHT)
    counts = {k: sum(p.kind == k for p in points) for k in ("Relapse", "MRI scan", "DMT", "Day 0")}
    summary = (
        f"EDSS at {len(edss)} visits from {edss[0].date:%Y-%m-%d} ({edss[0].value}) to {edss[-1].date:%Y-%m-%d} "
        f"({edss[-1].value}); marked: {counts['Day 0']} day 0, {counts['Relapse']} relapses (red dashed lines), "
        f"{counts['MRI scan']} MRI scans (green dotted lines), {counts['DMT']} disease-modifying treatments "
        "(orange bands at the top)."
    )
    return Chart(render_svg(chart, f"Timeline: {summary}"), summary)
