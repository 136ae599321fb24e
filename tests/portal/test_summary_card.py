"""The summary card that opens each centre page: present and first, in the reader's order; prices in the
centre's currency and the reader's at the shipped rates; correct ranges at 0 and 100 %; no "± SE"."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest

from openhsct.outcomes.currency import RATES_PER_EUR
from openhsct.outcomes.summary import boundary_interval, survival_at
from openhsct.portal import currency as fx
from openhsct.portal.card import _overlap, price_item
from openhsct.portal.templatetags.portal_tags import label, out_of, plain_event, pvalue, range_of

CARD_ORDER = (
    "people with MS", "Progression-free", "Relapse-free", "No evidence of disease activity",
    "Deaths related to the transplant", "Severe side effects", "Price", "Beside all", "Beside the published",
    "Not medical advice",
)


def _text(response) -> str:
    html = response.content.decode()
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def _card(html: str) -> str:
    start = html.index('<section class="summary-card"')
    return html[start: html.index("</section>", start)]


@pytest.fixture(scope="module")
def russian(small_registry):
    """The code of the Russian centre of the test registry."""
    centres = small_registry["tables"]["centres"]
    return str(centres.loc[centres["country"] == "RUS", "centre_code"].iloc[0])


def test_the_card_is_first_and_in_the_readers_order(client, small_registry, db):
    code = small_registry["big"]
    html = client.get(f"/centres/{code}/").content.decode()
    main = html[html.index('<main id="main">'):]
    # The card comes before every section of details (which are collapsed: no "open" attribute).
    assert main.index('class="summary-card"') < main.index('<details class="section"')
    assert '<details class="section" id="sec-treated">' in main
    card = unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", _card(html))))
    positions = [card.index(words) for words in CARD_ORDER]
    assert positions == sorted(positions), positions
    assert "out of 100" in card and "out of 1,000" in card and "range" in card


def test_the_card_numbers_are_the_releases(client, small_registry, db):
    from openhsct.portal import published
    from openhsct.releases.store import latest_published

    code = small_registry["big"]
    page = published.part(latest_published(), f"centre/{code}.json")
    card = unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", _card(client.get(f"/centres/{code}/").content.decode()))))
    pfs5 = next(a["value"] for e in page["endpoints"] if e["key"] == "pfs" for a in e["at"] if a["years"] == 5)
    assert f"{out_of(pfs5, 100)} (range {range_of(pfs5, 100)})" in card
    assert f"{out_of(page['grade3'], 1000)} (range {range_of(page['grade3'], 1000)})" in card
    assert f"{page['n_patients']:,} people with MS" in card
    assert f"since {page['first_year']}" in card


def test_no_standard_error_on_centre_pages_or_the_report(client, small_registry, db):
    for code in small_registry["codes"]:
        for url in (f"/centres/{code}/", f"/centres/{code}/report.html"):
            text = _text(client.get(url))
            assert "SE)" not in text and "± " not in text, url
            assert not re.search(r"\b(\d+\.\d)% \(\1% to \1%\)", text), url
            assert "p = 0.000" not in text


def test_the_russian_centre_shows_roubles_and_the_readers_currency(client, small_registry, russian, db):
    html = client.get(f"/centres/{russian}/?currency=GBP").content.decode()
    card = unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", _card(html))))
    assert re.search(r"[\d,]+ RUB", card) and re.search(r"about [\d,]+ GBP", card)
    assert "1 EUR = 92.5162 RUB" in card and "1 EUR = 0.8261 GBP" in card and "Bank of Russia" in card
    assert "patients with recorded costs" in card and "prices recorded" in card
    # The selector works without JavaScript: a GET form with the chosen currency selected.
    assert '<form method="get" class="currency-form">' in html and '<option value="GBP" selected>' in html


def test_an_unknown_currency_falls_back_to_euros_with_a_message(client, small_registry, russian, db):
    text = _text(client.get(f"/centres/{russian}/?currency=XYZ"))
    assert "cannot be shown in “XYZ”" in text and re.search(r"about [\d,]+ EUR", text)


def test_the_cost_table_gives_the_number_of_patients(client, small_registry, db):
    html = client.get(f"/centres/{small_registry['big']}/").content.decode()
    table = html[html.index("<caption>Costs by category"):]
    table = table[: table.index("</table>")]
    cells = re.findall(r'<td class="num">([^<]*)</td><td class="num">', table)
    assert cells and all(re.fullmatch(r"[\d,]+", c) for c in cells), cells


def test_conversion_uses_the_shipped_rates():
    rates = fx.rates()
    # The shipped file agrees with the rates of the registry's own cost summaries.
    assert {c: r.per_eur for c, r in rates.items()} == {c: RATES_PER_EUR[c] for c in rates}
    assert set(fx.reader_currencies()) == {"EUR", "USD", "GBP", "RUB"}
    assert fx.convert(92.5162, "RUB", "EUR") == pytest.approx(1.0)
    assert fx.convert(1_500_000, "RUB", "USD") == pytest.approx(1_500_000 * 1.0411 / 92.5162)
    assert fx.convert(100, "GBP", "GBP") == 100
    assert all(r.date and r.source for r in rates.values())
    page = {"costs_local": {"currency": "RUB", "patients": 40, "price_years": "2010 to 2020",
                            "median": {"suppressed": False, "estimate": 1_500_000.0, "lower": 1_200_000.0,
                                       "upper": 1_800_000.0}}}
    item = price_item(page, "USD")
    assert item["own"] == "1,500,000 RUB" and item["reader"] == f"{1_500_000 * 1.0411 / 92.5162:,.0f} USD"
    assert item["n"] == 40 and "1 EUR = 1.0411 USD" in item["rates"]
    with pytest.raises(KeyError, match="XXX"):
        fx.convert(1, "XXX", "EUR")


def test_ranges_at_zero_and_one_hundred_percent_are_exact():
    # 13 patients, nobody progressed, nobody censored before 5 years: the exact binomial range of 13 of 13.
    t = [3000.0] * 13
    e = [False] * 13
    a = survival_at(t, e, (5,))[0]
    assert a["estimate"] == 1.0 and a["upper"] == 1.0
    assert a["lower"] == pytest.approx(0.752947, abs=1e-5)  # Clopper–Pearson 13/13
    # Everyone had the event: 0 % with the range 0 to 24.7 %.
    a = survival_at([365.25] * 13, [True] * 13, (1,))[0]
    assert a["estimate"] == 0.0 and a["lower"] == 0.0 and a["upper"] == pytest.approx(0.247053, abs=1e-5)
    # With censoring before the time, only patients whose status is known count.
    assert boundary_interval(1.0, 5)[0] == pytest.approx(0.478176, abs=1e-5)
    assert boundary_interval(0.4, 10) is None and boundary_interval(None, 10) is None


def test_formatting_filters():
    assert out_of({"estimate": 0.784, "lower": 0.73, "upper": 0.85}, 100) == "78 out of 100"
    assert range_of({"estimate": 0.012, "lower": 0.004, "upper": 0.031}, 1000) == "4 to 31"
    assert out_of({"suppressed": True, "reason": "too few"}, 100) == "not shown (too few)"
    assert pvalue(0.0004) == "< 0.001" and pvalue(0.0123) == "0.012" and pvalue(None) == "—"
    assert label("edss_band") == "Disability level (EDSS) at transplant"
    assert plain_event("death (transplant_toxicity)") == "death (toxicity of the transplant)"
    assert "_" not in plain_event("grade 3 or worse adverse event (infection_viral)")


def test_overlap_is_said_in_words_not_ranks():
    a = {"estimate": 0.5, "lower": 0.4, "upper": 0.6}
    assert _overlap(a, {"estimate": 0.55, "lower": 0.5, "upper": 0.7}) == "overlaps"
    assert _overlap(a, {"estimate": 0.8, "lower": 0.7, "upper": 0.9}) == "does not overlap"
    assert _overlap(a, {"suppressed": True}) is None


def test_the_release_stores_the_card_figures(small_registry, db):
    from openhsct.releases.models import Release
    from openhsct.releases.store import read_part

    release = Release.objects.get(pk=small_registry["release"])
    overall = json.loads(read_part(release, "overall.json"))
    assert set(overall["endpoints"]) == {"pfs", "rfs", "efs"}
    assert overall["n_patients"] == sum(
        c["n"] for c in json.loads(read_part(release, "centres.json"))["centres"] if c["published"])
    page = json.loads(read_part(release, f"centre/{small_registry['big']}.json"))
    assert [r["level"] for r in page["course"]] == ["relapsing", "progressive"]
    assert page["costs_local"]["currency"] and page["first_year"] >= 2000
