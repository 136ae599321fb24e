"""Studies as readers see them: labels "Author Year (country, n)", citations without the readers' notes
(or one "citation incomplete" marker), the list of gaps in docs/meta-analysis.md, exact intervals for
zero-event studies and forest-plot captions built from the chart's own rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from scipy import stats

from openhsct.evidence.dataset import load_cohorts
from openhsct.evidence.display import (
    INCOMPLETE,
    citation_gaps,
    incomplete_citations,
    label_of,
    public_citation,
    study_label,
    unique_labels,
)
from openhsct.evidence.plots import forest_data
from openhsct.evidence.pooling import pooled_outcome

DOCS = Path(__file__).resolve().parents[2] / "docs" / "meta-analysis.md"
SCRAPING_NOTES = re.compile(
    r"pages read|not on page|not shown|from memory|unverified|unconfirmed|from karger|corresponding:", re.I
)


@pytest.fixture(scope="module")
def studies():
    cohorts = load_cohorts()
    return cohorts[cohorts["row_type"] == "study"].to_dict("records")


def test_labels_are_author_year_country_and_n():
    row = {"first_author": "Muraro PA", "year": 2025, "country": "UK", "n_patients": 364}
    assert study_label(row) == "Muraro 2025 (UK, n = 364)"
    assert study_label({"first_author": "Muraro PA", "year": 2017, "country": "multinational (13 countries)",
                        "n_patients": 281}) == "Muraro 2017 (13 countries, n = 281)"
    assert study_label({"country": "", "n_patients": 29}) == "Unattributed study (n = 29)"
    assert label_of("uk2025_realworld") == "Muraro 2025 (UK, n = 364)"


def test_no_label_or_citation_carries_a_key_or_a_readers_note(studies):
    keys = {r["key"] for r in studies}
    for row in studies:
        for text in (study_label(row), public_citation(row)):
            assert not SCRAPING_NOTES.search(text), text
            assert not any(k in text for k in keys), text


def test_incomplete_citations_say_so_once_and_complete_ones_do_not(studies):
    for row in studies:
        citation = public_citation(row)
        if citation_gaps(row):
            assert citation.endswith(f"— {INCOMPLETE}") and citation.count(INCOMPLETE) == 1
        else:
            assert INCOMPLETE not in citation
    mexico = next(r for r in studies if r["key"] == "ruizarguelles_mexico_617")
    assert citation_gaps(mexico) == ["first author", "year", "journal"]
    assert public_citation(mexico) == f"HSCT-Mexico / Ruiz-Arguelles group. PMC6857075; NCT02674217 — {INCOMPLETE}"


def test_the_docs_list_the_citation_gaps_the_code_finds():
    text = DOCS.read_text(encoding="utf-8")
    for gap in incomplete_citations(load_cohorts()):
        assert f"- {gap['label']}: {', '.join(gap['gaps'])}\n" in text, gap


def test_repeated_labels_are_told_apart():
    assert unique_labels(["A 2020 (X)", "B", "A 2020 (X)"]) == ["A 2020 (X)", "B", "A 2020 (X) [2]"]


def test_forest_rows_are_labelled_and_zero_event_studies_get_exact_intervals():
    res = pooled_outcome("trm")
    f = forest_data(res)
    studies = f[f["key"] != "pooled"]
    assert studies["label"].is_unique
    assert not studies["label"].str.contains("_").any()
    zero = studies[studies["events"] == 0]
    assert len(zero), "the TRM pool has studies without a death"
    for r in zero.itertuples():
        assert r.ci_lower == 0.0
        # Clopper-Pearson upper limit for 0 of n: 1 - (alpha/2)^(1/n)
        assert r.ci_upper == pytest.approx(stats.beta.ppf(0.975, 1, r.n))
    some = studies[(studies["events"] > 0) & (studies["events"] < studies["n"])]
    assert (some["ci_lower"] > 0).all()


def test_forest_caption_counts_the_studies_the_chart_draws():
    from openhsct.portal.charts import forest_summary

    pooled = {"label": "Pooled (k = 9)", "estimate": 0.01, "lower": 0.005, "upper": 0.02, "kind": "pooled"}
    pi = {"label": "PI", "estimate": 0.01, "lower": 0.0, "upper": 0.1, "kind": "prediction"}
    centre_rows = [pooled, pi]
    caption = forest_summary(centre_rows, title="Deaths", k=9)
    assert caption.startswith("Deaths: 9 published studies;") and "0 studies" not in caption
    study_rows = [{"label": f"S{i}", "estimate": 0.01, "lower": 0.0, "upper": 0.1, "kind": "study"} for i in range(3)]
    assert forest_summary([*study_rows, pooled], title="Deaths").startswith("Deaths: 3 published studies;")
