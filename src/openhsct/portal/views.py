"""The public pages: the centre list, each centre's page and report, the comparison, the evidence and
the releases.

Every public page formats the latest *published release* (:mod:`openhsct.portal.published`): no view
here reads a registry table or computes a statistic, and "data as of" is the release's declared cut.
Until a release is published every public page says so. Views stay short: they pick parts of the
release, sort rows and render templates.
"""

from __future__ import annotations

from functools import wraps

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from openhsct.portal import published
from openhsct.portal.public_views import loglog_interval

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
MIN_N = 5
SMALL_N_TEXT = "fewer than 5 patients — not shown to protect privacy and because it would be unreliable"


def public_page(view):
    """Mark a view's successful responses as public: the same for every anonymous visitor, so
    :class:`openhsct.portal.middleware.PublicPageCacheMiddleware` may keep them under the release and
    the full path."""
    from openhsct.portal.middleware import PUBLIC_MARK

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        setattr(response, PUBLIC_MARK, True)
        return response

    return wrapper


def from_release(view):
    """Call ``view(request, release, …)`` with the latest published release, or show the
    "no release published yet" page."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        release = published.current()
        if release is None:
            return render(request, "portal/no_release.html", {"no_release": True})
        return view(request, release, *args, **kwargs)

    return wrapper


def _ctx(release, **extra) -> dict:
    return {**published.release_context(release), "min_n": MIN_N, "small_n_text": SMALL_N_TEXT, **extra}


def _value(v):
    """A stored value for sorting and CSV: the number, or None when suppressed."""
    if isinstance(v, dict):
        return None if v.get("suppressed") else v.get("estimate")
    return v


def centre_rows(release) -> list[dict]:
    """One flat row per centre (name, published figures or their suppression) for the centre tables."""
    comparison = {r["centre_code"]: r for r in published.part(release, "comparison.json")["rows"]}
    rows = []
    for c in published.part(release, "centres.json")["centres"]:
        row = {k: c[k] for k in ("centre_code", "name", "country", "city", "synthetic")}
        r = comparison.get(c["centre_code"])
        if r is None:
            rows.append({**row, "suppressed": True, "n": None, "reason": c["n"].get("reason")})
            continue
        trm, pfs = r["trm"], r["pfs_5y"]
        pfs_range = loglog_interval(_value(pfs["value"]), pfs["se"])
        row.update(
            pfs_lower=pfs_range[0] if pfs_range else None,
            pfs_upper=pfs_range[1] if pfs_range else None,
            suppressed=False,
            n=r["n"],
            followup_share=_value(r["followup"]["completeness"]),
            followup_flag=r["followup"]["flag"],
            pfs=pfs["value"],
            pfs_5y=_value(pfs["value"]),
            pfs_se=pfs["se"],
            trm=trm["rate"],
            trm_rate=_value(trm["rate"]),
            oe=trm["oe"],
            oe_shrunk=_value(trm["oe"]),
            oe_tier=trm["tier"],
            trm_position=trm["position"],
            pfs_position=pfs["position"],
        )
        rows.append(row)
    return rows


def _sorted_rows(rows: list[dict], sort: str) -> tuple[list[dict], str]:
    """Rows sorted server-side by ``sort`` (a key of SORT_KEYS, ``-`` for descending); suppressed and
    missing values always last."""
    desc = sort.startswith("-")
    key = SORT_KEYS.get(sort.lstrip("-"))
    if key is None:
        return rows, "centre"

    def present(r) -> bool:
        v = r.get(key)
        return isinstance(v, int | float | str) and not isinstance(v, bool)

    shown = sorted((r for r in rows if present(r)), key=lambda r: r[key], reverse=desc)
    return shown + [r for r in rows if not present(r)], sort


@require_safe
@public_page
@from_release
def home(request, release):
    """The centre list, by country and name unless the reader sorts it (never by an outcome by default:
    centres treat different patients, so the list is not a ranking)."""
    rows, sort = _sorted_rows(_by_country(centre_rows(release)), request.GET.get("sort", "country"))
    return render(request, "portal/home.html", _ctx(release, rows=rows, sort=sort))


def _by_country(rows: list[dict]) -> list[dict]:
    """Rows ordered by country, then name (the order ties keep under any other sort)."""
    return sorted(rows, key=lambda r: (str(r.get("country") or ""), str(r.get("name") or "")))


def _centre_page(release, code: str) -> dict:
    """The stored page of a centre of the release (:func:`openhsct.portal.report.centre_page`); 404
    otherwise."""
    from openhsct.portal.report import centre_page

    page = centre_page(release, code)
    if page is None:
        raise Http404("No such centre in this release.")
    return page


@require_safe
@public_page
@from_release
def centre(request, release, code: str):
    """A centre's page: the summary card first (prices also in ``?currency=``), then the details."""
    from openhsct.portal.currency import chosen
    from openhsct.portal.report import card_context

    page = _centre_page(release, code)
    reader, message = chosen(request.GET.get("currency"))
    return render(request, "portal/centre.html", _ctx(
        release, p=page, centre=page["centre"], currency_message=message, **card_context(release, page, reader)))


def _report_html(request, release, page: dict, reader: str = "EUR") -> str:
    from openhsct.portal.report import report_context, report_html

    return report_html(report_context(release, page, reader), request=request)


@require_safe
@from_release
def centre_report(request, release, code: str, fmt: str):
    from openhsct.portal.currency import chosen

    page = _centre_page(release, code)
    reader, _ = chosen(request.GET.get("currency"))
    if fmt == "pdf":
        from openhsct.portal.report import report_pdf

        response = HttpResponse(report_pdf(release, code, lambda: _report_html(None, release, page, reader),
                                           reader=reader),
                                content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="openhsct-{code}-{release.pk}-report.pdf"'
        return response
    if fmt == "csv":
        from openhsct.portal.report import summary_csv

        response = HttpResponse(summary_csv(page), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="openhsct-{code}-{release.pk}-summary.csv"'
        return response
    return HttpResponse(_report_html(request, release, page, reader))


@require_safe
@public_page
@from_release
def compare(request, release):
    """Funnel plots, risk-adjusted deaths and the price of an episode across centres (``?currency=``
    for the reader's currency), beside the published prices."""
    from openhsct.portal.currency import chosen, rate_sentence, reader_currencies
    from openhsct.portal.public_views import (
        EXPECTED_RISK_COVARIATES,
        centre_costs,
        funnel_and_oe,
        published_costs,
    )

    comparison = published.part(release, "comparison.json")
    rows, sort = _sorted_rows(_by_country(centre_rows(release)), request.GET.get("sort", "country"))
    reader, message = chosen(request.GET.get("currency"))
    return render(request, "portal/compare.html", _ctx(
        release, rows=rows, sort=sort, ref=comparison, funnels=comparison["funnels"], reader=reader,
        currencies=reader_currencies(), currency_message=message, costs=centre_costs(release, reader),
        published_costs=published_costs(reader), reader_rates=rate_sentence("EUR", reader),
        disagreements=funnel_and_oe(rows), covariates=[c for _, c in EXPECTED_RISK_COVARIATES]))


@require_safe
@from_release
def compare_csv(request, release):
    from openhsct.registry.csvsafe import csv_response, csv_text
    from openhsct.releases.archive import comparison_table

    return csv_response(csv_text(comparison_table(published.part(release, "comparison.json"))),
                        f"openhsct-comparison-{release.pk}.csv")


def _evidence_key(outcome: str, chosen: dict) -> str:
    return outcome + "".join(f"|{k}={v}" for k, v in chosen.items())


@require_safe
@public_page
@from_release
def evidence(request, release):
    outcome = request.GET.get("outcome", "trm")
    if outcome not in EVIDENCE_OUTCOMES:
        outcome = "trm"
    chosen = {k: request.GET.get(k, "") for k in EVIDENCE_FILTERS}
    chosen = {k: v for k, v in chosen.items() if v in EVIDENCE_FILTERS[k]}
    # The release holds each outcome pooled over all studies and within each single filter value.
    combined = len(chosen) > 1
    chosen = dict(list(chosen.items())[:1])
    pooled = published.part(release, "evidence.json").get(_evidence_key(outcome, chosen))
    return render(
        request,
        "portal/evidence.html",
        _ctx(
            release,
            outcome=outcome,
            outcomes=EVIDENCE_OUTCOMES,
            filters=EVIDENCE_FILTERS,
            chosen=chosen,
            combined=combined,
            pooled=pooled,
            chart=(pooled or {}).get("chart"),
            comparative=_comparative(release, request.GET.get("comparator")),
        ),
    )


def _comparative(release, comparator: str | None) -> dict:
    """The release's aHSCT-vs-DMT comparison for ``comparator`` (default natalizumab), with the published
    comparisons it stands beside."""
    from openhsct.portal.comparative import ASSUMPTIONS, MIST, published_comparisons

    stored = published.part(release, "comparative.json") or {}
    comparator = comparator if comparator in stored else "natalizumab"
    chosen = stored.get(comparator) or {
        "registry": {"available": False, "reason": "not part of this release"}, "countries": []}
    return {"mist": MIST, "assumptions": ASSUMPTIONS, "published": published_comparisons(), "comparator": comparator,
            "min_n": MIN_N, **chosen, "comparators": sorted(stored)}


@require_safe
@public_page
def about(request):
    release = published.current()
    extra = published.release_context(release) if release else {}
    return render(request, "portal/about.html", {**extra, "min_n": MIN_N, "small_n_text": SMALL_N_TEXT})


@require_safe
@public_page
def releases(request):
    """Every published (and withdrawn) release: cut, publication date, what changed, erratum."""
    from openhsct.releases.models import Release

    shown = Release.objects.exclude(state=Release.State.DRAFT).defer("manifest").order_by("-cut", "-published_at")
    release = published.current()
    extra = published.release_context(release) if release else {}
    return render(request, "portal/releases.html", {**extra, "releases": list(shown)})


@require_safe
def release_archive(request, release_id: str):
    """The public archive of a published or withdrawn release (CSV, JSON and Parquet tables, manifest,
    CITATION.cff)."""
    from openhsct.releases.models import Release
    from openhsct.releases.store import archive_of

    release = Release.objects.exclude(state=Release.State.DRAFT).filter(pk=release_id).first()
    if release is None:
        raise Http404("No such published release.")
    response = HttpResponse(archive_of(release), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="openhsct-release-{release.pk}.zip"'
    return response
