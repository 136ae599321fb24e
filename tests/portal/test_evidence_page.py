"""The /evidence/ page and the centre comparison with the literature: the population-averaged pooled
proportion is the headline, the median study (expit β) and the crude rate stand beside it, one study is
never "pooled", and the sensitivity analyses are shown."""

from __future__ import annotations

from html import unescape

import pytest

from openhsct.evidence.pooling import pooled_outcome
from openhsct.portal import selectors


def _pct2(x: float) -> str:
    return f"{100 * x:.2f}%"


@pytest.fixture
def trm_page(small_registry, client, db) -> str:
    return unescape(client.get("/evidence/?outcome=trm").content.decode())


def test_trm_shows_marginal_median_crude_and_prediction_interval(trm_page):
    p = pooled_outcome("trm")
    assert "all-cause death by day 100 (published series)" in trm_page
    assert (
        f"Pooled across {p.k} studies ({p.n_total:,} patients, {p.events:,.0f} deaths): "
        f"{_pct2(p.marginal.estimate)} (95% confidence interval {_pct2(p.marginal.lower)} to "
        f"{_pct2(p.marginal.upper)}), the population-averaged proportion" in trm_page
    )
    rows = {
        "Pooled proportion, population-averaged (marginal)": p.marginal,
        "Median study (expit β)": p.median_study,
        f"Crude rate ({p.crude.events:,.0f} / {p.crude.n:,})": p.crude,
    }
    for name, est in rows.items():
        cell = trm_page.split(f'<th scope="row">{name}</th>')[1].split("</tr>")[0]
        assert _pct2(est.estimate) in cell and f"{_pct2(est.lower)} to {_pct2(est.upper)}" in cell, name
    pi = trm_page.split('<th scope="row">Prediction interval</th>')[1].split("</tr>")[0]
    assert f"{_pct2(p.pi_lower)} to {_pct2(p.pi_upper)}" in pi
    # the median study is never the headline
    assert p.median_study.estimate < p.proportion == p.marginal.estimate


def test_trm_sensitivity_analyses_are_on_the_page(trm_page):
    sens = selectors.pooled_evidence("trm")["sensitivity"]
    assert "<h3>Sensitivity analyses</h3>" in trm_page
    for a in sens["analyses"]:
        cell = trm_page.split(f'<th scope="row">{a["label"]}</th>')[1].split("</tr>")[0]
        assert _pct2(a["pooled"]["proportion"]) in cell
    assert "without HSCT-Mexico (Mexico, n = 617)" in trm_page  # studies by label, never by key
    decade = sens["era"]["decade"]
    assert f"odds ratio per decade {decade['or_estimate']:,.2f}" in trm_page
    assert "which has no publication year" in trm_page


def test_one_study_is_shown_as_itself_not_pooled(small_registry, client, db):
    html = unescape(client.get("/evidence/?outcome=pfs_2y").content.decode())
    p = pooled_outcome("pfs_2y")
    assert p.kind == "single study"
    assert "Only one study reports this, so nothing is pooled" in html
    assert f"{100 * p.ci_lower:.1f}% to {100 * p.ci_upper:.1f}%, exact Clopper–Pearson" in html
    assert "Pooled across" not in html and "Prediction interval (95%)" not in html
    assert "Sensitivity analyses" not in html
    only = unescape(client.get("/evidence/?outcome=trm&phenotype=RRMS+only").content.decode())
    assert "Only one study reports this among the selected studies, so nothing is pooled" in only


def test_centre_comparison_uses_the_marginal_proportion_and_names_the_crude_rate():
    import json

    from openhsct.releases.build import _centre_evidence, evidence_part

    page = {"trm": {"definition_key": "day100", "day100": {"estimate": 0.02, "lower": 0.005, "upper": 0.06}},
            "endpoints": []}
    evidence = {k: v for k, v in json.loads(evidence_part()).items() if "|" not in k}
    rows = _centre_evidence(page, evidence)
    trm = next(r for r in rows if r["outcome"] == "trm")
    p = pooled_outcome("trm")
    pooled_row = trm["rows"][0]
    assert pooled_row["estimate"] == pytest.approx(p.marginal.estimate)
    assert (pooled_row["lower"], pooled_row["upper"]) == pytest.approx((p.marginal.lower, p.marginal.upper))
    assert pooled_row["estimate"] != pytest.approx(p.median_study.estimate)
    assert "population-averaged" in pooled_row["label"]
    assert trm["sentence"].startswith("This centre's deaths from any cause by day 100 (2.0%) is within")
    assert f"population-averaged pooled estimate {p.marginal.estimate:.1%}" in trm["sentence"]
    assert f"crude rate {p.crude.estimate:.1%}, {p.crude.events:,.0f} of {p.crude.n:,}" in trm["sentence"]
