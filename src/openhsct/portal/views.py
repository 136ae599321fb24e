"""The public pages: the centre list, each centre's page and report, the comparison and the evidence.

Views stay short: every number comes from :mod:`openhsct.portal.selectors` (suppressed and cached) or
:mod:`openhsct.portal.report` (the centre page's content, shared with the report and CSV). The public may
read every page; nothing here changes data.
"""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from openhsct.outcomes import funnel
from openhsct.portal import charts, comparative, privacy, report, selectors
from openhsct.registry.models import Centre

# Sortable columns of the centre list and the comparison table: ?sort=<key> or ?sort=-<key>.
SORT_KEYS = {
    "centre": "centre_code",
    "name": "name",
    "country": "country",
    "n": "n",
    "followup": "followup_share",
    "pfs": "pfs_5y",
    "trm": "trm_rate",
    "oe": "oe_shrunk",
}
EVIDENCE_OUTCOMES = ("trm", "pfs_2y", "pfs_5y", "neda_2y", "neda_5y", "rfs_5y")
EVIDENCE_FILTERS = {
    "phenotype": ("RRMS only", "mixed", "unknown"),
    "intensity": ("low", "intermediate", "high", "mixed", "unclassified"),
    "era": ("before 2020", "2020 or later", "unknown"),
}


def public_page(view):
    """Mark a view's successful responses as public: the same for every anonymous visitor, so
    :class:`openhsct.portal.middleware.PublicPageCacheMiddleware` may keep them under the registry version
    and the full path and replay them to the next anonymous visitor. Signed-in people always get a page
    rendered for their own request (from the cached summaries)."""
    from functools import wraps

    from openhsct.portal.middleware import PUBLIC_MARK

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        setattr(response, PUBLIC_MARK, True)
        return response

    return wrapper


def _public_centre(code: str) -> Centre:
    """The centre by code (the public may read every centre's public page); 404 otherwise."""
    centre = Centre.objects.filter(centre_code=code).first()
    if centre is None:
        raise Http404("No such centre.")
    return centre


def _sorted_rows(rows: list[dict], sort: str) -> tuple[list[dict], str]:
    """Rows sorted server-side by ``sort`` (a key of SORT_KEYS, ``-`` for descending); suppressed and
    missing values always last."""
    desc = sort.startswith("-")
    key = SORT_KEYS.get(sort.lstrip("-"))
    if key is None:
        return rows, "centre"

    def value(r):
        v = r.get(key)
        return (
            isinstance(v, int | float)
            and not isinstance(v, bool)
            or isinstance(v, str)
            and v != privacy.SMALL
        )

    present = [r for r in rows if value(r)]
    absent = [r for r in rows if not value(r)]
    present.sort(key=lambda r: r[key], reverse=desc)
    return present + absent, sort


@require_safe
@public_page
def home(request):
    data = selectors.public_comparison()
    rows, sort = _sorted_rows(list(data["rows"]), request.GET.get("sort", "centre"))
    return render(
        request,
        "portal/home.html",
        {"rows": rows, "sort": sort, "ref": data, "small_n_text": privacy.SMALL_N_TEXT},
    )


@require_safe
@public_page
def centre(request, code: str):
    _public_centre(code)
    return render(request, "portal/centre.html", report.centre_context(code))


@require_safe
def centre_report(request, code: str, fmt: str):
    _public_centre(code)
    if fmt == "pdf":
        response = HttpResponse(report.report_pdf(code), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="openhsct-{code}-report.pdf"'
        return response
    if fmt == "csv":
        response = HttpResponse(report.summary_csv(code), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="openhsct-{code}-summary.csv"'
        return response
    return HttpResponse(report.report_html(code, request=request))


def _funnels(data: dict) -> dict:
    """The two funnel charts of the comparison page, drawn from the suppressed comparison rows."""
    rows = [r for r in data["rows"] if not r.get("suppressed")]
    out = {}

    def flag(r):
        return "below 90%" if r.get("followup_flag") else "complete (≥ 90%)"

    p0 = data.get("trm_rate")
    pts = [
        {
            "centre_code": r["centre_code"],
            "x": r["n"],
            "rate": r["trm_rate"],
            "flag": flag(r),
            "position": r.get("trm_position"),
        }
        for r in rows
        if isinstance(r.get("trm_rate"), float | int)
    ]
    if p0 is not None and pts:
        lim = funnel.control_limits(p0, max(p["x"] for p in pts))
        out["trm"] = charts.funnel_chart(
            pts, lim, p0=p0, title="Deaths from any cause by day 100", x_title="Patients transplanted"
        )
    p0 = data.get("pfs_5y")
    pts = [
        {
            "centre_code": r["centre_code"],
            "x": r["pfs_5y_effective_n"],
            "rate": r["pfs_5y"],
            "flag": flag(r),
            "position": r.get("pfs_position"),
        }
        for r in rows
        if isinstance(r.get("pfs_5y"), float) and isinstance(r.get("pfs_5y_effective_n"), float)
    ]
    if p0 is not None and pts:
        lim = funnel.control_limits(p0, max(p["x"] for p in pts), method="normal")
        out["pfs"] = charts.funnel_chart(
            pts,
            lim,
            p0=p0,
            title="Progression-free survival at 5 years",
            x_title="Effective number of patients (precision of the estimate)",
        )
    return out


@require_safe
@public_page
def compare(request):

    data = selectors.public_comparison()
    rows, sort = _sorted_rows(list(data["rows"]), request.GET.get("sort", "centre"))
    funnels = selectors.cached("funnels", lambda version: _funnels(data))
    return render(
        request,
        "portal/compare.html",
        {"rows": rows, "sort": sort, "ref": data, "funnels": funnels, "small_n_text": privacy.SMALL_N_TEXT},
    )


@require_safe
def compare_csv(request):
    import csv
    import io

    data = selectors.public_comparison()
    cols = [
        "centre_code",
        "name",
        "country",
        "n",
        "followup_share",
        "followup_flag",
        "trm_observed",
        "trm_rate",
        "trm_expected",
        "oe_shrunk",
        "oe_lower",
        "oe_upper",
        "oe_tier",
        "pfs_5y",
        "pfs_5y_se",
        "suppressed",
    ]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    w.writerows(data["rows"])
    response = HttpResponse(buf.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="openhsct-comparison.csv"'
    return response


@require_safe
@public_page
def evidence(request):
    outcome = request.GET.get("outcome", "trm")
    if outcome not in EVIDENCE_OUTCOMES:
        outcome = "trm"
    chosen = {k: request.GET.get(k, "") for k in EVIDENCE_FILTERS}
    chosen = {k: v for k, v in chosen.items() if v in EVIDENCE_FILTERS[k]}
    pooled = selectors.pooled_evidence(outcome, tuple(sorted(chosen.items())))
    chart = None
    if pooled is not None:
        rows = [
            {
                "label": r["key"],
                "estimate": r["proportion"],
                "lower": r["ci_lower"],
                "upper": r["ci_upper"],
                "kind": "study",
            }
            for r in pooled["forest"]
            if r["key"] != "pooled"
        ]
        if pooled["kind"] == "pooled":
            what = "Pooled, population-averaged" if pooled["marginal"] else "Pooled"
            rows.append(
                {
                    "label": f"{what} (k = {pooled['k']})",
                    "estimate": pooled["proportion"],
                    "lower": pooled["ci_lower"],
                    "upper": pooled["ci_upper"],
                    "kind": "pooled",
                }
            )
            rows.append(
                {
                    "label": "Prediction interval (95%)",
                    "estimate": pooled["proportion"],
                    "lower": pooled["pi_lower"],
                    "upper": pooled["pi_upper"],
                    "kind": "prediction",
                }
            )
        chart = charts.forest_chart(rows, title=pooled["label"])
    return render(
        request,
        "portal/evidence.html",
        {
            "outcome": outcome,
            "outcomes": EVIDENCE_OUTCOMES,
            "filters": EVIDENCE_FILTERS,
            "chosen": chosen,
            "pooled": pooled,
            "chart": chart,
            "comparative": comparative.public_comparison(request.GET.get("comparator")),
        },
    )


@require_safe
@public_page
def about(request):
    return render(
        request, "portal/about.html", {"min_n": privacy.MIN_N, "small_n_text": privacy.SMALL_N_TEXT}
    )
