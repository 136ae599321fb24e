"""No internal code, key or scraping note reaches a reader.

Every public page and download of a published release of the test registry is scanned for
- the code lists of the data dictionary (:func:`openhsct.registry.exchange.tables`): the codes written as
  one lower_snake_case word ("secondary_autoimmunity", "transplant_toxicity"), which are never English;
- the evidence dataset's row keys ("uk2025_realworld");
- the readers' notes of the evidence table ("no DOI/PMID on the pages read", "(first author not on page)").

The rule (docs/portal.md, "Codes and keys"): HTML pages and the tables made for readers (the comparison
CSV, the evidence CSVs) carry no code anywhere a reader sees it — their text, ``title``, ``aria-label``
and ``alt``, and every CSV value; codes may sit only in attributes a reader does not see (``href``,
``id``, ``value``) and in CSV column names. The machine-readable downloads — the release archive's tables
and a centre's ``summary.csv`` — may use the data dictionary's codes as their documented schema: column
names, JSON keys, the summary's path columns (section, item, measure) and the category columns whose
allowed values are the dictionary's code lists (``category``, ``what``); their other values are scanned,
and no download carries an evidence row key or a readers' note.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from html.parser import HTMLParser

import pytest

from tests.portal.test_pages import crawl

pytestmark = pytest.mark.django_db

SCRAPING_NOTES = (
    "pages read",
    "not on page",
    "first author not",
    "from memory",
    "from karger",
    "(unconfirmed",
    "year not shown",
    "authors not shown",
)
READ_ATTRIBUTES = ("title", "aria-label", "alt", "placeholder")


class _Visible(HTMLParser):
    """The text a reader sees or hears: text nodes (not scripts or styles) and the read attributes."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        self.parts += [v for k, v in attrs if k in READ_ATTRIBUTES and v]

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    """The reader-visible text of an HTML page, one part a line."""
    p = _Visible()
    p.feed(html)
    return "\n".join(p.parts)


def internal_codes() -> set[str]:
    """The data dictionary's snake_case codes and the evidence dataset's row keys."""
    from openhsct.evidence.dataset import load_cohorts
    from openhsct.registry.exchange import tables

    codes = {c for t in tables().values() for col in t.columns for c in col.choices if "_" in c}
    return codes | set(load_cohorts()["key"])


def hits(text: str, codes: set[str]) -> list[str]:
    """Codes found as whole words and scraping notes found anywhere in ``text``."""
    found = [c for c in codes if re.search(rf"(?<![\w/.-]){re.escape(c)}(?![\w-])", text)]
    low = text.lower()
    return found + [n for n in SCRAPING_NOTES if n in low]


#: Columns (and JSON keys) of machine-readable downloads whose values are the dictionary's code lists.
CODE_COLUMNS = frozenset({"category", "what"})
#: The path columns of a centre's summary.csv (a flattened JSON document: its keys).
SUMMARY_PATH = frozenset({"section", "item", "measure"})


def csv_values(text: str, skip: frozenset[str] = frozenset(), skip_measures: frozenset[str] = frozenset()) -> str:
    """The values of a CSV, one a line: the header row (the documented schema) and the columns in
    ``skip`` left out, and rows whose ``measure`` is in ``skip_measures``."""
    rows = list(csv.DictReader(io.StringIO(text)))
    return "\n".join(
        v for row in rows if row.get("measure") not in skip_measures for k, v in row.items() if k not in skip and v
    )


def json_values(obj, skip: frozenset[str] = frozenset()) -> list[str]:
    """Every string value of a JSON document (keys, the schema, and the values under ``skip`` left out)."""
    if isinstance(obj, dict):
        return [v for k, x in obj.items() if k not in skip for v in json_values(x, skip)]
    if isinstance(obj, list):
        return [v for x in obj for v in json_values(x, skip)]
    return [obj] if isinstance(obj, str) else []


@pytest.fixture(scope="module")
def public(small_registry, django_db_blocker):
    """{url: text a reader sees} for every public page and download, the evidence page for each
    outcome and the release archive's tables."""
    from django.core.cache import cache
    from django.test import Client

    cache.clear()
    client = Client()
    with django_db_blocker.unblock():
        pages = crawl(client)
        for outcome in ("trm", "pfs_2y", "pfs_5y", "neda_2y", "neda_5y", "rfs_5y"):
            pages[f"/evidence/?outcome={outcome}"] = client.get(f"/evidence/?outcome={outcome}")
        pages["/compare/?currency=RUB"] = client.get("/compare/?currency=RUB")
        archive = client.get(f"/releases/{small_registry['release']}/archive.zip")
    out = {}
    for url, r in pages.items():
        assert r.status_code == 200, url
        kind = r["Content-Type"]
        body = r.content.decode()
        if kind.startswith("text/html"):
            out[url] = visible_text(body)
        elif url.endswith("/summary.csv"):
            out[url] = csv_values(body, skip=SUMMARY_PATH, skip_measures=CODE_COLUMNS)
        else:
            out[url] = csv_values(body) if "csv" in kind else body
    with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
        for name in z.namelist():
            if name.endswith(".csv"):
                out[f"archive:{name}"] = csv_values(z.read(name).decode(), skip=CODE_COLUMNS)
            elif name.endswith(".json"):
                out[f"archive:{name}"] = "\n".join(json_values(json.loads(z.read(name)), skip=CODE_COLUMNS))
    return out


def test_the_scan_covers_pages_and_downloads(public):
    for url in ("/", "/compare/", "/evidence/", "/about/", "/glossary/", "/evidence/studies.csv",
                "/evidence/pooled.csv", "/compare.csv"):
        assert url in public, url
    assert any(u.startswith("/centres/") for u in public)
    assert any(u.startswith("archive:") and u.endswith(".csv") for u in public)


def test_the_scanner_finds_what_it_looks_for():
    codes = internal_codes()
    assert "secondary_autoimmunity" in codes and "uk2025_realworld" in codes
    assert hits("Grade 3: secondary_autoimmunity.", codes) == ["secondary_autoimmunity"]
    assert hits("Muraro 2025 (UK, n = 364) — no DOI/PMID on the pages read", codes) == ["pages read"]
    assert hits("https://doi.org/10.1/uk2025_realworld and <a id=x>", codes) == []
    assert visible_text('<p title="pfs_5y">A<script>uk2025_realworld</script></p>') == "pfs_5y\nA"
    assert csv_values("centre_code,category,median\nSYN01,hospital_stay,1\n", skip=CODE_COLUMNS) == "SYN01\n1"
    assert json_values({"category": "follow_up", "note": "x"}, skip=CODE_COLUMNS) == ["x"]


def test_no_internal_code_key_or_scraping_note_in_any_public_page_or_download(public):
    codes = internal_codes()
    found = {url: hits(text, codes) for url, text in public.items()}
    found = {url: h for url, h in found.items() if h}
    assert not found, "\n".join(f"{url}: {', '.join(sorted(set(h)))}" for url, h in found.items())
