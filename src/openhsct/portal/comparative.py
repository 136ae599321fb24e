"""The registry's own aHSCT-vs-DMT comparison for ``/evidence/``, beside MIST and the published
observational comparisons, and the HTML report of ``openhsct compare-treatments``.

Formatting only: every number comes from :mod:`openhsct.comparative`. Disclosure: a figure resting on
fewer than :data:`openhsct.portal.privacy.MIN_N` patients in either arm (or fewer events) is not shown,
and counts of 1-4 people are masked, as on every public page.
"""

from __future__ import annotations

from typing import Any

from openhsct.portal import privacy

MIST = {
    "citation": "Burt RK et al. (2019). JAMA 321:165-174",
    "doi_url": "https://doi.org/10.1001/jama.2018.18743",
    "design": "randomised trial, aHSCT vs DMT of higher efficacy or another class (n = 110)",
    "outcome": "disability progression",
    "estimate": 0.07,
    "lower": 0.02,
    "upper": 0.24,
}
ASSUMPTIONS = (
    "No unmeasured confounding: the registry records everything that made a doctor and patient choose "
    "aHSCT rather than the drug and that also affects the outcome (age, sex, disease duration, EDSS, "
    "recent relapses, prior drugs, MRI activity, phenotype, country). Anything else that mattered, such "
    "as a patient's wishes or other illnesses, can bias the comparison; the E-value says how strong such "
    "a factor would have to be to explain the result away.",
    "Positivity: every patient compared could have received either treatment. Patients with no similar "
    "patient in the other group are left unmatched (caliper) and can be trimmed.",
    "The registry's patients were not randomised, were followed for different times (matched pairs are "
    "followed only as long as the shorter of the two) and may be recorded differently by centres.",
)
PUBLISHED_KEYS = (
    "kalincik2023_msbase",
    "kalincik_progressive_vs_ntz",
    "boffa_spms_italy",
    "zhukovsky2021_sweden",
    "mariottini_pira_florence",
)


def published_comparisons() -> list[dict]:
    """The published observational comparisons of aHSCT with DMTs in the evidence dataset, each with
    its label and public citation (:mod:`openhsct.evidence.display`), link, design and reported results
    (as the dataset words them, study keys replaced by labels)."""
    from openhsct.evidence.dataset import load_cohorts
    from openhsct.evidence.display import public_citation, readable_text, study_label
    from openhsct.portal.selectors import citation_url

    cohorts = load_cohorts().set_index("key")
    rows = []
    for key in PUBLISHED_KEYS:
        if key not in cohorts.index:
            continue
        r = {"key": key, **cohorts.loc[key].to_dict()}
        rows.append({"key": key, "label": study_label(r), "citation": public_citation(r),
                     "doi_url": citation_url(r["doi_or_pmid"]), "design": readable_text(r["design"]),
                     "results": readable_text(r["other_outcomes"])})
    return rows


def _shown(hr: Any, n_arms: tuple[int, int]) -> dict | None:
    """A hazard/rate ratio for the page, or None when it rests on fewer than MIN_N patients or events."""
    if hr is None or min(n_arms) < privacy.MIN_N or hr.events < privacy.MIN_N:
        return None
    return {"estimate": hr.estimate, "lower": hr.lower, "upper": hr.upper, "p_value": hr.p_value,
            "n": hr.n, "events": hr.events}


def comparison_context(analysis, *, charts: bool = True) -> dict:
    """Plain values for ``portal/_comparative.html`` from a
    :class:`openhsct.comparative.analysis.ComparativeAnalysis`, with small numbers suppressed."""
    m = analysis.match
    arms = (m.n_treated_matched, m.n_control_matched)
    w_arms = (analysis.n_treated, analysis.n_control)
    effects = [
        {"label": e.label, "matched": _shown(e.matched, arms), "weighted": _shown(e.weighted, w_arms)}
        for e in analysis.effects
    ]
    ev = analysis.e_value
    shown_main = _shown(analysis.main, arms if analysis.settings.method == "match" else w_arms)
    context = {
        "available": True,
        "comparator": analysis.settings.comparator,
        "method": analysis.settings.method,
        "n_treated": privacy.mask_count(analysis.n_treated),
        "n_control": privacy.mask_count(analysis.n_control),
        "n_treated_matched": privacy.mask_count(arms[0]),
        "n_control_matched": privacy.mask_count(arms[1]),
        "effects": effects,
        "arr_matched": _shown(analysis.arr_matched, arms),
        "arr_weighted": _shown(analysis.arr_weighted, w_arms),
        "e_value": {"estimate": ev.estimate, "limit": ev.limit} if ev is not None and shown_main else None,
        "balanced": analysis.balance.balanced,
        "max_abs_smd": analysis.balance.max_abs_smd,
        "threshold": analysis.balance.threshold,
        "warnings": list(analysis.warnings),
        "love_plot": None,
        "overlap_plot": None,
    }
    if charts and min(arms) >= privacy.MIN_N:
        context["love_plot"] = analysis.balance.love_plot_svg()
        context["overlap_plot"] = analysis.overlap.chart_svg(min_cell=privacy.MIN_N)
    return context


def _compute(version: str, comparator: str) -> dict:
    from openhsct.comparative.analysis import compare_treatments
    from openhsct.comparative.cohort import comparison_cohort
    from openhsct.comparative.errors import ComparativeError
    from openhsct.portal.selectors import registry_tables

    base = {"mist": MIST, "assumptions": ASSUMPTIONS, "published": published_comparisons(),
            "comparator": comparator, "min_n": privacy.MIN_N}
    try:
        cohort = comparison_cohort(registry_tables(version), comparator)
        registry = comparison_context(compare_treatments(cohort, comparator=comparator))
    except ComparativeError as exc:
        return {**base, "registry": {"available": False, "reason": exc.message}, "countries": []}
    countries = []
    for country in sorted(cohort["country"].unique()):
        part = cohort.loc[cohort["country"] == country].reset_index(drop=True)
        try:
            ctx = comparison_context(compare_treatments(part, comparator=comparator), charts=False)
        except ComparativeError:
            continue
        countries.append({"country": country, **ctx})
    return {**base, "registry": registry, "countries": countries}


def public_comparison(comparator: str | None = None) -> dict:
    """The registry's comparison of aHSCT with ``comparator`` (default natalizumab) for the evidence page,
    per country where the groups allow, cached per registry version."""
    from openhsct.comparative.cohort import COMPARATORS
    from openhsct.portal.selectors import cached

    comparator = comparator if comparator in COMPARATORS else "natalizumab"
    result = cached(f"comparative:{comparator}", lambda version: _compute(version, comparator))
    return {**result, "comparators": list(COMPARATORS)}


def report_html(analysis) -> str:
    """A self-contained HTML page with the comparison (the ``openhsct compare-treatments --report``)."""
    from django.template.loader import render_to_string

    context = {
        "comparative": {"mist": MIST, "assumptions": ASSUMPTIONS, "published": published_comparisons(),
                        "comparator": analysis.settings.comparator, "min_n": privacy.MIN_N,
                        "registry": comparison_context(analysis), "countries": [], "report": True},
    }
    body = render_to_string("portal/_comparative.html", context)
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>aHSCT vs "
        f"{analysis.settings.comparator}: registry comparison</title><style>body{{font-family:sans-serif;"
        "max-width:60rem;margin:2rem auto;line-height:1.4}}table{{border-collapse:collapse}}td,th{{border:1px "
        "solid #ccc;padding:.25rem .5rem}}.num{{text-align:right}}</style></head><body>"
        f"{body}<p>Observational comparison; not medical advice.</p></body></html>"
    )
