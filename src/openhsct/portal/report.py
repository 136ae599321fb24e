"""The centre report (HTML and PDF) and the summary CSV, formatted from a release's stored centre page.

The page, the report and the CSV all read the same stored part (``centre/<code>.json``), so they always
show the same numbers. A PDF built with the release (``centre/<code>/report.pdf``) is served as stored;
a release built without PDFs renders each report once per process from the stored page.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from django.template.loader import render_to_string

from openhsct.portal import published

_pdf_lock = threading.Lock()
_pdfs: dict[tuple[str, str], bytes] = {}


def report_html(context: Mapping, *, request=None) -> str:
    """The standalone report page (styles inlined, charts inline): the same content as the centre page."""
    from django.contrib.staticfiles import finders

    css_path = finders.find("portal/portal.css")
    css = Path(css_path).read_text(encoding="utf-8") if css_path else ""
    return render_to_string("portal/report.html", {**context, "inline_css": css, "report": True}, request=request)


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


def report_context(release, page: Mapping) -> dict:
    """The template context of a centre report from its stored page."""
    return {**published.release_context(release), "p": page, "centre": page["centre"], "min_n": 5,
            "synthetic": published.synthetic()}


def render_pdf(html: str) -> bytes:
    """The report as PDF (WeasyPrint)."""
    import weasyprint

    return weasyprint.HTML(string=html, base_url=".").write_pdf()


def report_pdf(release, code: str, html: Callable[[], str]) -> bytes:
    """The stored PDF of ``code`` in ``release``, or the report rendered once per process from ``html()``."""
    from openhsct.releases.store import read_part

    stored = read_part(release, f"centre/{code}/report.pdf")
    if stored is not None:
        return stored
    key = (release.pk, code)
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
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "item", "measure", "value"])
    w.writerows(summary_csv_rows(page))
    return buf.getvalue()
