"""The public pages in plain language: abbreviations explained on first use, a glossary, a centre list
that is not a league table, the comparison page's explanation of funnel vs risk-adjusted readings and its
price comparison, and the evidence page's captions, labels, events, p-values and downloads."""

from __future__ import annotations

import csv
import io
import math
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from openhsct.portal.glossary import TERMS, readable
from openhsct.portal.public_views import EXPECTED_RISK_COVARIATES, funnel_and_oe, loglog_interval
from openhsct.portal.templatetags.glossary_tags import pvalue

#: Elements whose text is not prose a reader reads in turn (charts have their own text alternative).
NOT_PROSE = ("script", "style", "code", "pre", "svg", "option", "select", "textarea", "title")
#: Terms checked on first use (one-letter symbols such as k are explained where they are used).
CHECKED = [t.term for t in TERMS if len(t.term) > 1]


class _FirstUse(HTMLParser):
    """For each checked term, whether its first whole-word use in ``<main>`` is inside ``<abbr>``."""

    def __init__(self):
        super().__init__()
        self.in_main = self.in_abbr = self.skip = 0
        self.first: dict[str, bool] = {}

    def handle_starttag(self, tag, attrs):
        self.in_main += tag == "main"
        self.in_abbr += tag == "abbr"
        self.skip += tag in NOT_PROSE

    def handle_endtag(self, tag):
        self.in_main -= tag == "main" and self.in_main > 0
        self.in_abbr -= tag == "abbr" and self.in_abbr > 0
        self.skip -= tag in NOT_PROSE and self.skip > 0

    def handle_data(self, data):
        if not self.in_main or self.skip:
            return
        for term in CHECKED:
            if term not in self.first and re.search(rf"(?<![\w-]){re.escape(term)}(?![\w])", data):
                self.first[term] = bool(self.in_abbr)


def first_uses(html: str) -> dict[str, bool]:
    """{term: explained on first use} for the glossary terms a page uses."""
    p = _FirstUse()
    p.feed(html)
    return p.first


def test_first_uses_are_wrapped_once_and_never_inside_charts_or_options():
    from openhsct.portal.glossary import explain_first_uses

    html = explain_first_uses('<p>RRMS and <abbr title="x">PFS</abbr>, PFS</p><select><option>CI</option></select>'
                              "<svg><text>EDSS</text></svg><p>EDSS and EDSS</p>")
    assert html.count("<abbr") == 3 and '<abbr title="relapsing-remitting MS">RRMS</abbr>' in html
    assert "<option>CI</option>" in html and "<text>EDSS</text>" in html
    assert '<p><abbr title="Expanded Disability Status Scale">EDSS</abbr> and EDSS</p>' in html
    assert all(first_uses(f"<main>{html}</main>").values())


def test_first_use_checker():
    assert first_uses('<main><p><abbr title="x">EDSS</abbr> and EDSS</p></main>') == {"EDSS": True}
    assert first_uses("<main><p>PFS at 5 years, <abbr>PFS</abbr></p></main>") == {"PFS": False}
    assert first_uses("<p>EDSS</p><main>NEDA-3</main>") == {"NEDA": False}


def test_pvalues_read_as_people_expect():
    assert pvalue(0.0) == "p < 0.001" and pvalue(0.00049) == "p < 0.001"
    assert pvalue(0.014) == "p = 0.014" and pvalue(None) == "p not available"


def test_codes_become_words():
    assert readable("secondary_autoimmunity") == "secondary autoimmune disease"
    assert readable("edss_band") == "disability (EDSS) band"
    assert readable("something_else") == "something else"


def test_loglog_interval_matches_its_formula_and_stays_inside_0_1():
    lo, hi = loglog_interval(0.8, 0.05)
    theta = 1.959963984540054 * 0.05 / (0.8 * abs(math.log(0.8)))
    assert (lo, hi) == pytest.approx((0.8 ** math.exp(theta), 0.8 ** math.exp(-theta)))
    assert 0 < lo < 0.8 < hi < 1
    assert loglog_interval(1.0, 0.0) is None and loglog_interval(None, 0.1) is None


def test_the_expected_risk_covariates_are_the_models():
    from openhsct.outcomes.summary import expected_trm

    patients = pd.DataFrame({"trm_time": [200.0, 50.0, 300.0, 400.0], "trm_cause": [0, 1, 0, 0],
                             "baseline_edss": [3.0, 6.0, 4.0, 2.5], "age": [30.0, 50.0, 40.0, 35.0],
                             "phenotype": ["RRMS", "SPMS", "RRMS", "RRMS"]})
    _, _, info = expected_trm(patients)
    model = info["model"]
    for name, _ in EXPECTED_RISK_COVARIATES:
        assert name in model
    assert model.count("+") == len(EXPECTED_RISK_COVARIATES) - 1


def test_disagreement_between_funnel_and_oe_is_explained():
    rows = [
        {"name": "A", "trm_position": "above the 95% limit", "oe_tier": "as expected"},
        {"name": "B", "trm_position": "within the limits", "oe_tier": "as expected"},
        {"name": "C", "trm_position": "within the limits", "oe_tier": "higher than expected"},
        {"name": "D", "suppressed": True},
    ]
    out = funnel_and_oe(rows)
    assert len(out) == 2 and out[0].startswith("A: its crude rate is above the 95% limit")
    assert "age, disability and type of MS" in out[0] and out[1].startswith("C: ")


@pytest.fixture(scope="module")
def pages(small_registry, django_db_blocker):
    from django.core.cache import cache
    from django.test import Client

    cache.clear()
    client = Client()
    urls = ["/", "/compare/", "/compare/?currency=RUB", "/evidence/", "/evidence/?outcome=pfs_5y", "/about/",
            "/glossary/", "/releases/", "/evidence/studies.csv", "/evidence/pooled.csv",
            f"/centres/{small_registry['big']}/"]
    with django_db_blocker.unblock():
        return {u: client.get(u) for u in urls}


def _html(pages, url) -> str:
    r = pages[url]
    assert r.status_code == 200, url
    return r.content.decode()


@pytest.mark.parametrize("url", ["/", "/compare/", "/evidence/", "/evidence/?outcome=pfs_5y", "/about/",
                                 "/releases/"])
def test_abbreviations_are_explained_on_first_use(pages, url, db):
    unexplained = [t for t, ok in first_uses(_html(pages, url)).items() if not ok]
    assert not unexplained, f"{url}: {unexplained}"


def test_glossary_is_in_the_nav_and_explains_every_term(pages, db):
    html = _html(pages, "/glossary/")
    assert '<a href="/glossary/">Glossary</a>' in _html(pages, "/")
    for t in TERMS:
        assert f'id="{t.anchor}"' in html and t.stands_for in html


def test_home_is_listed_by_country_with_a_case_mix_note_and_no_outcome_sort(pages, small_registry, db):
    html = _html(pages, "/")
    table = html.split('class="centres cards"')[1]
    countries = re.findall(r'data-label="Country">([^<]+)<', table)
    assert countries == sorted(countries)
    assert "This list is not a ranking." in html and "treat different" in html
    assert "?sort=pfs" not in html and "?sort=trm" not in html
    assert "± " not in html and " SE)" not in html
    assert 'role="region"' in html and 'tabindex="0"' in html


def test_compare_explains_the_funnel_and_oe_and_compares_prices(pages, db):
    from openhsct.portal.currency import rates

    html = re.sub(r"</?abbr[^>]*>", "", _html(pages, "/compare/?currency=RUB"))
    assert "crude" in html and "expected for its own patients" in html
    for _, words in EXPECTED_RISK_COVARIATES:
        assert f"<li>{words}</li>" in html
    costs = html.split('id="costs"')[1]
    assert "Total episode price per patient, in RUB" in costs
    assert f"1 EUR = {rates()['RUB'].per_eur:,.4f} RUB" in costs
    assert re.search(r'data-label="Patients with costs">\d', costs)
    published = costs.split('id="published-costs"')[1]
    assert "970000 RUB" in published and "Published and quoted prices" in published
    for word in ("rank", "best", "worst", "league"):
        assert not re.search(rf"\b{word}\b", _html(pages, "/compare/").split("<main")[1].lower().replace(
            "never rank centres", "")), word


def _figure_and_rows(html: str) -> tuple[str, str, list[str]]:
    """The forest plot's SVG, its caption and the study rows of the table under it."""
    fig = re.search(r"<figure>(.*?)<figcaption>(.*?)</figcaption></figure>", html, re.S)
    table = html.split("(the chart's rows)")[1].split("</table>")[0]
    rows = re.findall(r'<tr>\s*<th scope="row">([^<]+)</th>', table)
    return fig.group(1), fig.group(2), rows


def test_evidence_caption_chart_and_table_agree(pages, db):
    from openhsct.portal import published

    html = _html(pages, "/evidence/")
    svg, caption, rows = _figure_and_rows(html)
    pooled = published.part(published.current(), "evidence.json")["trm"]
    k = pooled["k"]
    assert caption.startswith(f"{pooled['label']}: {k} published studies;")
    assert f"k = {k}" in svg and len(rows) == k
    for label in rows:
        assert label.replace("&amp;", "&") in svg.replace("&amp;", "&")
        assert "_" not in label
    assert f"Pooled across {k} studies (" in html


def test_centre_evidence_caption_counts_the_pooled_studies(pages, small_registry, db):
    from openhsct.portal import published

    page = published.part(published.current(), f"centre/{small_registry['big']}.json")
    assert page["evidence"], "the centre page sets the centre beside the evidence"
    for item in page["evidence"]:
        assert f"k = {item['k']}" in item["chart"]["svg"]
        assert f": {item['k']} published studies" in item["chart"]["summary"]
        assert " 0 studies" not in item["chart"]["summary"]


def test_evidence_events_are_counts_and_pvalues_are_bounded(pages, db):
    trm = _html(pages, "/evidence/")
    deaths = re.findall(r'data-label="Deaths">([^<]*)<', trm)
    assert deaths and all(re.fullmatch(r"\d[\d,]*", d) for d in deaths)
    pfs = _html(pages, "/evidence/?outcome=pfs_5y")
    assert 'data-label="Deaths"' not in pfs and ">Events<" not in pfs and 'data-label="Reported"' in pfs
    assert "p = 0.000" not in trm and "= 0.000)" not in trm


def test_zero_event_studies_show_intervals_from_zero(pages, db):
    html = _html(pages, "/evidence/")
    rows = re.findall(r'data-label="Deaths">0</td><td[^>]*>0\.0%</td>\s*<td data-label="95% CI">([^<]+)</td>', html)
    assert rows and all(r.startswith("0.0% to ") for r in rows)


def test_era_filter_values_are_in_time_order():
    from openhsct.portal.views import EVIDENCE_FILTERS

    assert EVIDENCE_FILTERS["era"][:2] == ("before 2020", "2020 or later")


def test_evidence_downloads_are_attachments_with_readable_values(pages, db):
    from openhsct.evidence.dataset import load_cohorts

    studies = pages["/evidence/studies.csv"]
    assert studies["Content-Disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(studies.content.decode())))
    assert len(rows) == len(load_cohorts())
    assert {"Muraro 2025 (UK, n = 364)"} <= {r["study"] for r in rows}
    incomplete = [r for r in rows if r["citation_gaps"]]
    assert incomplete and all(r["citation"].endswith("citation incomplete") for r in incomplete)
    pooled = pages["/evidence/pooled.csv"]
    assert pooled["Content-Disposition"].startswith("attachment;")
    prows = list(csv.DictReader(io.StringIO(pooled.content.decode())))
    main = next(r for r in prows if r["studies_restricted_to"] == "all studies" and r["deaths"])
    assert int(main["k"]) >= 2 and float(main["ci_lower"]) <= float(main["estimate"]) <= float(main["ci_upper"])
    assert np.isfinite(float(main["pi_upper"]))
