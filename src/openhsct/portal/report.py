"""The centre report (HTML and PDF) and the summary CSV, formatted from a release's stored centre page.

The page, the report and the CSV all read the same stored part (``centre/<code>.json``), so they always
show the same numbers. A PDF built with the release (``centre/<code>/report.pdf``) is served as stored;
a release built without PDFs renders each report once per process from the stored page.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from django.template.loader import render_to_string

from openhsct.portal import published

_pdf_lock = threading.Lock()
_pdfs: dict[tuple[str, str, str], bytes] = {}


def report_html(context: Mapping, *, request=None) -> str:
    """The standalone report page (styles inlined, charts inline): the summary card and the methods first,
    the centre page's details as an appendix. The card is made from ``p`` and ``overall`` when the
    context has none."""
    from django.contrib.staticfiles import finders

    css_path = finders.find("portal/portal.css")
    css = Path(css_path).read_text(encoding="utf-8") if css_path else ""
    context = dict(context)
    page = context.get("p") or {}
    if "card" not in context and not page.get("suppressed"):
        from openhsct.portal.card import summary_card

        context["card"] = summary_card(page, context.get("overall"), context.get("currency") or "EUR")
    return render_to_string("portal/report.html", {**context, "inline_css": css, "report": True}, request=request)


def card_context(release, page: Mapping, reader: str = "EUR") -> dict:
    """``{"card": …}`` for a centre page (none for a suppressed centre): the summary card from the stored
    page, the release's all-centre figures and the reader's currency."""
    from openhsct.portal.card import summary_card

    if page.get("suppressed"):
        return {}
    return {"card": summary_card(page, published.part(release, "overall.json"), reader)}


def centre_page(release, code: str) -> dict | None:
    """The stored page of centre ``code`` in ``release``: its full page when published, its name only
    when the centre is listed with fewer than 5 patients, None when the release does not know it."""
    page = published.part(release, f"centre/{code}.json")
    if page is not None:
        return page
    centres = published.part(release, "centres.json")["centres"]
    listed = next((c for c in centres if c["centre_code"] == code), None)
    if listed is None:
        return None
    return {"centre": listed, "suppressed": True, "reason": listed["n"].get("reason")}


def report_context(release, page: Mapping, reader: str = "EUR") -> dict:
    """The template context of a centre report from its stored page, with its summary card."""
    return {**published.release_context(release), "p": page, "centre": page["centre"], "min_n": 5,
            "synthetic": published.synthetic(), "currency": reader, **card_context(release, page, reader)}


def render_pdf(html: str) -> bytes:
    """The report as tagged PDF (WeasyPrint, PDF/UA-1: structure tree and the document's language)."""
    import weasyprint

    return weasyprint.HTML(string=html, base_url=".").write_pdf(pdf_variant="pdf/ua-1")


def report_pdf(release, code: str, html: Callable[[], str], *, reader: str = "EUR") -> bytes:
    """The stored PDF of ``code`` in ``release`` (prices beside EUR), or the report rendered once per
    process and reader's currency from ``html()``."""
    from openhsct.releases.store import read_part

    stored = read_part(release, f"centre/{code}/report.pdf") if reader == "EUR" else None
    if stored is not None:
        return stored
    key = (release.pk, code, reader)
    with _pdf_lock:
        if key not in _pdfs:
            _pdfs[key] = render_pdf(html())
        return _pdfs[key]


def summary_csv_rows(page: Mapping) -> list[tuple[str, str, str, str]]:
    """A stored centre page flattened to (section, item, measure, value) rows (charts and sentences
    left out)."""
    rows: list[tuple[str, str, str, str]] = []

    def walk(section: str, item: str, obj: Any) -> None:
        if isinstance(obj, Mapping):
            for k, v in obj.items():
                if isinstance(v, Mapping | list):
                    walk(section, f"{item}.{k}" if item else str(k), v)
                else:
                    rows.append((section, item, str(k), "" if v is None else str(v)))
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                label = next(
                    (str(v[k]) for k in ("level", "years", "key", "category", "months") if isinstance(v, Mapping) and k in v),
                    str(i),
                )
                if isinstance(v, Mapping) and "what" in v:
                    label = f"{v['what']} / {v['band']}"
                walk(section, f"{item}[{label}]", v)
        else:
            rows.append((section, item, "value", "" if obj is None else str(obj)))

    for section, value in page.items():
        if section not in ("charts", "sentences", "evidence"):
            walk(section, "", value)
    return rows


def summary_csv(page: Mapping) -> str:
    """The CSV of a stored centre page."""
    from openhsct.registry.csvsafe import rows_text

    return rows_text(["section", "item", "measure", "value"], summary_csv_rows(page))
