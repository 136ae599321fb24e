"""The centre report as PDF: tagged (PDF/UA structure tree and a document language), the summary and the
methods within 4 pages with the details as an appendix after them, and the synthetic banner and the
not-medical-advice note on every page."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess

import pikepdf
import pytest

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None and not os.environ.get("CI"),
                                reason="poppler-utils (pdftotext) is not installed (under CI it must be: it fails)")


@pytest.fixture(scope="module")
def pdf(small_registry, django_db_blocker) -> bytes:
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get(f"/centres/{small_registry['big']}/report.pdf")
    assert response.status_code == 200
    return response.content


def _pages(pdf: bytes, tmp_path) -> list[str]:
    """The text of each page (pdftotext, layout kept)."""
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout
    return [re.sub(r"\s+", " ", p) for p in text.split("\f") if p.strip()]


def test_the_pdf_is_tagged_with_a_language(pdf):
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        assert "/StructTreeRoot" in doc.Root
        assert str(doc.Root.Lang) == "en"
        assert doc.Root.MarkInfo.Marked


def test_summary_and_methods_fit_in_four_pages_and_the_details_follow(pdf, tmp_path):
    pages = _pages(pdf, tmp_path)
    first = pages[0]
    assert "In short" in first and "out of 100" in first and "people with MS" in first
    start = next(i for i, p in enumerate(pages) if "Appendix: the details" in p)
    methods = next(i for i, p in enumerate(pages) if "How to read this report" in p)
    assert methods < start <= 4, (methods, start, len(pages))
    assert len(pages) > start


def test_banner_and_note_on_every_page(pdf, tmp_path):
    for i, page in enumerate(_pages(pdf, tmp_path), start=1):
        assert "SYNTHETIC DATA" in page, f"page {i}"
        assert "Not medical advice" in page, f"page {i}"


def test_per_year_labels_do_not_run_together(pdf, tmp_path):
    text = " ".join(_pages(pdf, tmp_path))
    assert not re.search(r"(?:19|20)\d\d(?:19|20)\d\d(?:19|20)\d\d", text)
