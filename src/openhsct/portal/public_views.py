"""The glossary page, the evidence downloads and the pieces of the comparison page that read the
evidence table or convert prices (the other public views are in :mod:`openhsct.portal.views`).

As everywhere on the public site, registry figures come from the published release only; the published
studies and quoted prices come from the evidence tables that ship with the package
(:mod:`openhsct.evidence.dataset`).
"""

from __future__ import annotations

import math

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from openhsct.portal import published

Z95 = 1.959963984540054

#: Columns of the evidence-table download: (column name, cohorts.csv column or a derived name, meaning).
EVIDENCE_COLUMNS = (
    ("study", "label", "first author, year, country and number of patients"),
    ("citation", "citation", "author (year). journal. DOI / PMID; ends 'citation incomplete' when parts are missing"),
    ("citation_gaps", "gaps", "what the citation lacks ('; '-separated), empty when complete"),
    ("row_type", "row_type", "study, comparator arm, meta-analysis or trial design"),
    ("country", "country", "where the patients were treated"),
    ("design", "design", "study design as the source describes it"),
    ("n_patients", "n_patients", "patients (target enrolment for trial designs)"),
    ("regimen", "regimen", "conditioning regimen"),
    ("intensity_class", "intensity_class", "conditioning intensity"),
    ("median_followup_months", "median_followup_months", "median follow-up, months"),
    ("trm_deaths", "trm_deaths", "deaths attributed to the transplant (count)"),
    ("trm_definition", "trm_definition", "how the source defines those deaths"),
    ("pfs_2y", "pfs_2y", "progression-free survival at 2 years, %"),
    ("pfs_5y", "pfs_5y", "progression-free survival at 5 years, %"),
    ("pfs_10y", "pfs_10y", "progression-free survival at 10 years, %"),
    ("neda_2y", "neda_2y", "no evidence of disease activity at 2 years, %"),
    ("neda_5y", "neda_5y", "no evidence of disease activity at 5 years, %"),
    ("relapse_free_5y", "relapse_free_5y", "relapse-free survival at 5 years, %"),
    ("edss_baseline_median", "edss_baseline_median", "median EDSS before transplant"),
    ("verified", "verified", "yes: every number read on a listed page; partial: some; no: none"),
    ("source_url", "source_url", "pages the numbers were read from (' | '-separated)"),
)
#: Columns of the pooled-results download.
POOLED_COLUMNS = (
    "outcome", "studies_restricted_to", "kind", "k", "patients", "deaths", "estimate", "ci_lower", "ci_upper",
    "pi_lower", "pi_upper", "median_study", "crude_rate", "tau2", "i2_percent", "model", "release",
)
ROW_TYPES = {"study": "study", "comparator_arm": "comparator arm", "meta_analysis": "meta-analysis",
             "trial_design": "trial design"}


def loglog_interval(estimate, se) -> tuple[float, float] | None:
    """The 95% log(-log) interval of a survival probability from its Greenwood standard error (as
    survival's ``conf.type = "log-log"``): ``S ** exp(-/+ z se / (S log S))``; at 0 or 1 the interval
    cannot be formed this way and None is returned."""
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (estimate, se)):
        return None
    if not 0 < estimate < 1 or se <= 0:
        return None
    theta = Z95 * se / (estimate * abs(math.log(estimate)))
    return estimate ** math.exp(theta), estimate ** math.exp(-theta)


def _csv_response(rows: list[list], header: list[str], filename: str) -> HttpResponse:
    """A CSV attachment of ``rows`` under ``header``."""
    from openhsct.registry.csvsafe import csv_response, rows_text

    return csv_response(rows_text(header, rows), filename)  # the one safe CSV writer


def _cell(value) -> str:
    """A cell for a CSV: missing values empty, whole floats without ``.0``."""
    if value is None or value != value:  # noqa: PLR0124 - NaN
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return "" if text == "<NA>" else text


def evidence_table_rows() -> list[list[str]]:
    """The shipped evidence table as the download gives it: one row per cohort, with its public label
    and citation (:mod:`openhsct.evidence.display`) instead of the internal key and the readers' notes."""
    from openhsct.evidence.dataset import load_cohorts
    from openhsct.evidence.display import citation_gaps, public_citation, readable_text, study_label

    out = []
    for r in load_cohorts().to_dict("records"):
        derived = {"label": study_label(r), "citation": public_citation(r), "gaps": "; ".join(citation_gaps(r)),
                   "row_type": ROW_TYPES.get(r["row_type"], r["row_type"])}
        cells = [_cell(derived.get(source, r.get(source))) for _, source, _ in EVIDENCE_COLUMNS]
        out.append([c if name == "source_url" else readable_text(c)
                    for (name, _, _), c in zip(EVIDENCE_COLUMNS, cells, strict=True)])
    return out


@require_safe
def evidence_table_csv(request):
    """The evidence table (every published cohort, its citation and reported outcomes) as CSV."""
    return _csv_response(evidence_table_rows(), [c for c, _, _ in EVIDENCE_COLUMNS], "openhsct-evidence-studies.csv")


def pooled_rows(evidence: dict, release_id: str) -> list[list[str]]:
    """One row per outcome and study subset of a release's ``evidence.json``: the pooled estimate, its
    95% confidence and prediction intervals, heterogeneity and model; subsets with nothing to pool are
    left out."""
    from openhsct.portal.glossary import readable

    rows = []
    for key, pooled in evidence.items():
        if not pooled:
            continue
        outcome, *subset = key.split("|")
        restricted = "; ".join(f"{readable(k)}: {v}" for k, v in (s.split("=", 1) for s in subset)) or "all studies"
        single = pooled.get("kind") != "pooled"
        rows.append([_cell(v) for v in (
            pooled.get("label") or readable(outcome), restricted, pooled.get("kind"), pooled.get("k"),
            pooled.get("n_total"), pooled.get("events") if outcome == "trm" else None, pooled.get("proportion"),
            pooled.get("ci_lower"), pooled.get("ci_upper"), None if single else pooled.get("pi_lower"),
            None if single else pooled.get("pi_upper"), (pooled.get("median_study") or {}).get("estimate"),
            (pooled.get("crude") or {}).get("estimate"), pooled.get("tau2"), pooled.get("i2"),
            "one study, not pooled" if single else "binomial-normal GLMM (logit), maximum likelihood",
            release_id,
        )])
    return rows


@require_safe
def evidence_pooled_csv(request):
    """The pooled results of the latest published release (every outcome, all studies and each
    subset) as CSV."""
    release = published.current()
    if release is None:
        return render(request, "portal/no_release.html", {"no_release": True})
    evidence = published.part(release, "evidence.json") or {}
    return _csv_response(pooled_rows(evidence, release.pk), list(POOLED_COLUMNS),
                         f"openhsct-evidence-pooled-{release.pk}.csv")


@require_safe
def glossary(request):
    """Every abbreviation and term of the public pages, explained."""
    from openhsct.portal.glossary import TERMS

    release = published.current()
    extra = published.release_context(release) if release else {}
    return render(request, "portal/glossary.html", {**extra, "terms": TERMS})


def centre_costs(release, reader: str) -> list[dict]:
    """Each published centre's total episode price from its release page: median, interquartile range
    and number of patients in the release's currency, in the centre's own currency when it has one, and
    in the reader's currency (:mod:`openhsct.portal.currency`)."""
    from openhsct.portal import currency

    out = []
    for c in published.part(release, "centres.json")["centres"]:
        page = published.part(release, f"centre/{c['centre_code']}.json") if c.get("published") else None
        costs = (page or {}).get("costs")
        median = (costs or {}).get("median") or {}
        row = {"name": c["name"], "country": c["country"], "code": c["centre_code"], "shown": False}
        if costs and not median.get("suppressed") and median.get("estimate") is not None:
            base = costs["currency"]
            local = (page or {}).get("costs_local") or {}
            row.update(shown=True, currency=base, n=median.get("n"), median=median["estimate"],
                       q1=median.get("lower"), q3=median.get("upper"),
                       local=local.get("currency") if local.get("currency") not in (None, base) else None)
            row["reader"] = {k: _convert(row.get(k), base, reader) for k in ("median", "q1", "q3")}
            if row["local"]:
                row["own"] = {k: _convert(row.get(k), base, row["local"]) for k in ("median", "q1", "q3")}
            row["rates"] = currency.rate_sentence(base, reader)
        out.append(row)
    return out


def _convert(amount, source: str, target: str) -> float | None:
    """``amount`` converted at the shipped rates; None when missing or no rate is shipped."""
    from openhsct.portal import currency

    if not isinstance(amount, int | float):
        return None
    try:
        return currency.convert(float(amount), source, target)
    except KeyError:
        return None


def published_costs(reader: str) -> list[dict]:
    """The quoted prices of the evidence table (clinic, country, year, price as quoted and what it
    includes, with its source), each also in the reader's currency when the quote names one with a
    shipped rate."""
    from openhsct.evidence.dataset import load_costs

    rows = []
    for r in load_costs().to_dict("records"):
        code = str(r.get("currency") or "").strip().upper()
        low, high = r.get("price_low"), r.get("price_high")
        converted = None
        if len(code) == 3 and isinstance(low, float) and low == low:
            lo, hi = _convert(low, code, reader), _convert(high, code, reader)
            if lo is not None:
                converted = (lo, hi if hi != lo else None)
        rows.append({"clinic": r["clinic"], "country": r["country"], "year": _cell(r.get("year")),
                     "price": _cell(r.get("price")), "currency": _cell(r.get("currency")),
                     "included": _cell(r.get("what_included")), "source": r["source_url"].split(" | ")[0],
                     "converted": converted})
    return rows


#: The covariates of the expected-risk model behind the risk-adjusted deaths
#: (:func:`openhsct.outcomes.summary.expected_trm`), in words.
EXPECTED_RISK_COVARIATES = (
    ("age", "age at transplant"),
    ("baseline EDSS", "disability before transplant (EDSS)"),
    ("phenotype", "type of MS (relapsing-remitting, secondary progressive or primary progressive)"),
)


def funnel_and_oe(rows: list[dict]) -> list[str]:
    """For each centre whose funnel position (crude rate against the all-centre rate) and risk-adjusted
    reading (observed / expected) disagree, one sentence saying why they can; empty when they agree."""
    out = []
    for r in rows:
        if r.get("suppressed") or not r.get("trm_position") or not r.get("oe_tier"):
            continue
        funnel_out = r["trm_position"] != "within the limits"
        oe_out = r["oe_tier"] != "as expected"
        if funnel_out == oe_out:
            continue
        if funnel_out:
            out.append(
                f"{r['name']}: its crude rate is {r['trm_position']} of the funnel, but once its patients' age, "
                f"disability and type of MS are allowed for, its deaths are {r['oe_tier']} — it treats people "
                "whose expected risk differs from the all-centre average, and the shrunk ratio's 95% range "
                "still includes 1."
            )
        else:
            out.append(
                f"{r['name']}: its crude rate is within the funnel limits, but against the deaths expected "
                f"for its own patients they are {r['oe_tier']} — its patients' expected risk differs from "
                "the all-centre average."
            )
    return out
