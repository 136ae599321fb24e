"""The public pages through Django's test client, on a registry with a 3-patient and a 12-patient centre,
served from its published data release."""

from __future__ import annotations

import csv
import io
import re
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse

import pytest

import openhsct
from openhsct.portal import selectors
from openhsct.portal.templatetags.portal_tags import SYNTHETIC_TEXT
from tests.portal.registry_builder import TEST_CUT

SKIP_PREFIXES = ("/admin", "/accounts", "/clinic", "/static")


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)


def crawl(client, start="/") -> dict[str, object]:
    """Every public page and download reachable from ``start`` (same site, no query variants beyond
    the first page's links), as {path: response}."""
    seen, queue = {}, [start]
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        r = client.get(url)
        assert r.status_code == 200, url
        seen[url] = r
        if r["Content-Type"].startswith("text/html"):
            p = _Links()
            p.feed(r.content.decode())
            for href in p.links:
                target = urljoin(url, href)
                parsed = urlparse(target)
                if parsed.netloc or parsed.path.startswith(SKIP_PREFIXES) or parsed.path.endswith((".pdf", ".zip")):
                    continue
                path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
                if path not in seen:
                    queue.append(path)
    return seen


@pytest.fixture(scope="module")
def pages(small_registry, django_db_blocker):
    from django.core.cache import cache
    from django.test import Client

    cache.clear()
    with django_db_blocker.unblock():
        return crawl(Client())


def _text(response) -> str:
    return response.content.decode()


def test_crawl_reaches_every_public_page(pages, small_registry):
    for code in small_registry["codes"]:
        assert f"/centres/{code}/" in pages
        assert f"/centres/{code}/summary.csv" in pages
        assert f"/centres/{code}/report.html" in pages
    assert {"/", "/compare/", "/evidence/", "/about/", "/compare.csv"} <= set(pages)


def test_every_page_has_the_synthetic_banner_and_the_advice_note(pages):
    for url, r in pages.items():
        if r["Content-Type"].startswith("text/html"):
            html = _text(r)
            assert SYNTHETIC_TEXT.split(" — ")[0] in html, url
            assert openhsct.NOT_MEDICAL_ADVICE.split(":")[0] in html, url
            assert '<html lang="en">' in html, url


def test_no_patient_code_on_any_public_page(pages, small_registry):
    codes = set(small_registry["tables"]["patients"]["patient_code"])
    pattern = re.compile("|".join(re.escape(c) for c in sorted(codes, key=len, reverse=True)))
    for url, r in pages.items():
        found = pattern.findall(_text(r))
        assert not found, f"{url}: {found[:3]}"


def test_the_3_patient_centre_shows_no_number(pages, small_registry, db):
    from openhsct.outcomes.summary import centre_summary

    code = small_registry["small"]
    raw = centre_summary(selectors.registry_tables(), code, as_of=TEST_CUT)
    assert raw["n_patients"] == 3
    html = _text(pages[f"/centres/{code}/"])
    assert "fewer than 5 patients whose data may be published" in html and "<svg" not in html
    body = html.split('<main id="main">')[1].split("</main>")[0]
    # Every estimate of the raw summary, as the page would print it, is absent.
    estimates = {
        f"{100 * a['estimate']:.1f}%"
        for ep in raw["endpoints"].values()
        for a in ep["at"]
        if a["estimate"] is not None
    }
    estimates |= {f"{100 * raw['grade3_events']['estimate']:.1f}%"}
    assert estimates and not [e for e in estimates if e in body]
    # No count of its patients anywhere.
    assert re.sub(r"\d{4}-\d{2}-\d{2}", "", re.sub(r"<[^>]+>", "", body)).count("3 patients") == 0
    rows = list(csv.reader(io.StringIO(_text(pages[f"/centres/{code}/summary.csv"]))))
    values = [r[3] for r in rows[1:] if r[0] not in ("centre", "as_of")]
    assert values and all(not re.fullmatch(r"-?\d+(\.\d+)?", v) for v in values), values


def test_the_12_patient_centre_hides_its_small_years_and_their_complement(pages, small_registry, db):
    from openhsct.outcomes.summary import centre_summary

    code = small_registry["medium"]
    raw = centre_summary(selectors.registry_tables(), code, as_of=TEST_CUT)
    assert any(0 < r["n"] < 5 for r in raw["per_year"])  # the test has something to hide
    html = _text(pages[f"/centres/{code}/"])
    table = html.split("Patients transplanted per year</caption>")[1].split("</table>")[0]
    shown = [int(v) for v in re.findall(r'<td class="num">(\d+)</td>', table)]
    hidden = table.count("not shown")
    assert hidden >= 2 and all(v == 0 or v >= 5 for v in shown)
    assert raw["n_patients"] - sum(shown) >= 5  # the hidden years cannot be worked out from the total
    rows = list(csv.reader(io.StringIO(_text(pages[f"/centres/{code}/summary.csv"]))))
    for section, item, measure, value in rows[1:]:
        if measure in ("n", "n_risk") and re.fullmatch(r"\d+", value):
            assert int(value) == 0 or int(value) >= 5, (section, item, measure, value)


GROUP_COLUMNS = {"n", "n_risk", "trm_known_day100", "pfs_5y_n_risk"}


def test_no_small_group_in_any_csv(pages):
    for url, r in pages.items():
        if not url.endswith(".csv"):
            continue
        reader = csv.DictReader(io.StringIO(_text(r)))
        for row in reader:
            for key, value in row.items():
                key = row.get("measure") if key == "value" else key
                if key in GROUP_COLUMNS and re.fullmatch(r"\d+(\.0)?", value or ""):
                    assert float(value) == 0 or float(value) >= 5, (url, row)


def test_harm_is_counted_exactly_within_groups_of_5_or_more(pages, small_registry):
    page = _text(pages[f"/centres/{small_registry['big']}/"])
    deaths = re.search(r"(\d+) of (\d+) patients died of any cause within 100 days", page)
    assert deaths and int(deaths.group(2)) >= 5
    harm = page.split("Serious bad outcomes among")[1].split("</table>")[0]
    counts = [int(v) for v in re.findall(r'<td class="num">(\d+)</td>', harm)]
    assert any(0 < c < 5 for c in counts)  # a count of 1-4 events within a larger group is shown as counted
    assert "&lt;5" not in page


def test_centre_page_numbers_match_centre_summary(pages, small_registry, db):
    from openhsct.outcomes.summary import centre_summary

    code = small_registry["big"]
    raw = centre_summary(selectors.registry_tables(), code, as_of=TEST_CUT)
    html = _text(pages[f"/centres/{code}/"])
    assert f"{raw['n_patients']:,} people with MS had a transplant here" in html
    pfs5 = next(a for a in raw["endpoints"]["pfs"]["at"] if a["years"] == 5)
    assert f"about {round(100 * pfs5['estimate'])} in 100 people treated here were event-free 5 years later" in html
    assert f"{100 * pfs5['estimate']:.1f}%" in html
    d100 = raw["trm"]["day100"]
    assert f"{100 * d100['estimate']:.1f}%" in html
    g3 = raw["grade3_events"]
    assert f"{100 * g3['lower']:.1f}% to {100 * g3['upper']:.1f}%" in html
    assert html.count("<svg") >= 7  # per year, 5 endpoints, TRM, EDSS, evidence
    assert html.count('role="img"') == html.count("<svg")
    for section in (
        "How many were treated",
        "What happened after transplant",
        "Who did not do well",
        "How big the risk is",
        "What it costs",
    ):
        assert section in html
    order = [
        html.index(s)
        for s in (
            "How many were treated",
            "What happened",
            "Who did not do well",
            "How big the risk is",
            "What it costs",
        )
    ]
    assert order == sorted(order)


def test_centre_list_and_comparison_flag_small_and_incomplete_centres(pages, small_registry):
    home = _text(pages["/"])
    compare = _text(pages["/compare/"])
    for html in (home, compare):
        assert "fewer than 5 patients: not shown" in html  # the 3-patient centre
        assert "Follow-up below 90%" in html
    assert compare.count("<svg") == 2
    assert "as expected" in compare.lower() or "than expected" in compare


def test_sorting_is_done_on_the_server(small_registry, client):
    def order(sort):
        html = client.get(f"/compare/?sort={sort}").content.decode()
        table = html.split('class="centres')[1]
        return re.findall(r'href="/centres/(SYN\d+)/"', table)

    by_n = order("-n")
    assert by_n[:2] == ["SYN01", "SYN02"] and by_n[-1] == "SYN03"  # suppressed last
    assert order("n")[:2] == ["SYN02", "SYN01"]
    # an unknown key keeps the default order: by country (GBR, RUS, USA), never by an outcome
    assert order("nonsense") == order("country") == ["SYN03", "SYN01", "SYN02"]


def test_unknown_centre_is_404(small_registry, client):
    assert client.get("/centres/NOPE/").status_code == 404
    assert client.get("/centres/NOPE/report.pdf").status_code == 404


def test_post_is_refused(small_registry, client):
    assert client.post("/compare/").status_code == 405


def test_evidence_page_filters_and_links_each_study(small_registry, client):
    html = client.get("/evidence/?outcome=trm").content.decode()
    everything = selectors.pooled_evidence("trm")
    assert f"Pooled across {everything['k']} studies" in html
    linked = [r["doi_url"] for r in everything["forest"] if r.get("doi_url")]
    assert len(linked) >= everything["k"] // 2 and all(f'href="{u}"' in html for u in linked)
    recent = client.get("/evidence/?outcome=trm&era=2020+or+later").content.decode()
    only = selectors.pooled_evidence("trm", (("era", "2020 or later"),))
    assert only["k"] < everything["k"] and f"Pooled across {only['k']} studies" in recent
    # Series published before 2020 report no death: nothing can be pooled, and the page says so.
    assert selectors.pooled_evidence("trm", (("era", "before 2020"),)) is None
    assert "No published study" in client.get("/evidence/?outcome=trm&era=before+2020").content.decode()
    assert 'value="trm" selected' in client.get("/evidence/?outcome=../../etc").content.decode()


def test_centre_page_shows_its_line_under_the_pooled_estimate(pages, small_registry):
    html = unescape(_text(pages[f"/centres/{small_registry['big']}/"]))
    assert "Range expected for a new centre (95% PI)" in html
    assert "This centre: deaths from any cause by day 100" in html
    assert re.search(
        r"This centre's deaths from any cause by day 100 \([\d.]+%\) is (within|above|below) the range", html
    )


def test_report_html_has_the_same_numbers_as_the_page(pages, small_registry):
    code = small_registry["big"]
    page, rep = _text(pages[f"/centres/{code}/"]), _text(pages[f"/centres/{code}/report.html"])
    plain = re.compile(r"</?abbr[^>]*>")  # pages explain abbreviations on first use; the report may not
    for sentence in re.findall(r'<p class="plain">(.*?)</p>', page):
        assert plain.sub("", sentence) in plain.sub("", rep)
    assert "<link" not in rep and "<script" not in rep  # standalone


def test_a_registry_change_changes_no_public_page_until_a_new_release(small_registry, client):
    from openhsct.registry.models import Patient
    from tests.portal.registry_builder import publish_release

    code = small_registry["medium"]
    first = client.get(f"/centres/{code}/").content.decode()
    p = Patient.objects.filter(centre__centre_code=code).order_by("patient_code").last()
    old = p.phenotype
    p.phenotype = "PPMS" if old != "PPMS" else "RRMS"
    p.save()
    try:
        assert client.get(f"/centres/{code}/").content.decode() == first
        new = publish_release()
        assert new != small_registry["release"]
        second = client.get(f"/centres/{code}/").content.decode()
        assert second != first and f"release {new}" in second
    finally:
        p.phenotype = old
        p.save()
        from openhsct.releases.models import Release
        from openhsct.releases.store import _forget_latest

        Release.objects.exclude(pk=small_registry["release"]).delete()
        _forget_latest()
