"""The published evidence as the public pages show it: each pooled outcome as plain data with its
forest-plot rows and citation links (built into every release by :mod:`openhsct.releases.build`).

Pure functions over :mod:`openhsct.evidence` (no Django); cached per process, since the evidence ships
with the package.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any


def _clean(v: Any) -> Any:
    """Plain Python values (no numpy scalars, NaN as None)."""
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


@lru_cache(maxsize=64)
def pooled_evidence(outcome: str, by: tuple[tuple[str, str], ...] = ()) -> dict | None:
    """:func:`openhsct.evidence.pooling.pooled_outcome` as a dict, with its forest-plot rows
    (:func:`openhsct.evidence.plots.forest_data`), optionally restricted to the studies of some subgroups
    (``by`` = ((column, value), …) over ``era``, ``intensity``, ``phenotype``). ``None`` when no study
    (or too few to fit) is left. ``proportion``/``ci_*`` are the headline (the population-averaged
    ``marginal`` proportion of the GLMM; a single study's own proportion when ``kind`` is "single
    study"); ``median_study`` and ``crude`` are beside it. Without filters, a death outcome also carries
    its ``sensitivity`` analyses (:func:`openhsct.evidence.sensitivity.sensitivity_analyses`).
    The evidence ships with the package, so this is cached per process."""
    from openhsct.errors import OpenHSCTError
    from openhsct.evidence.plots import forest_data
    from openhsct.evidence.pooling import json_records, outcome_studies, pool_studies, pooled_outcome

    try:
        if not by:
            pooled = pooled_outcome(outcome)
        else:
            studies, excluded = outcome_studies(outcome)
            for col, value in by:
                studies = studies[studies[col] == value]
            pooled = pool_studies(studies.reset_index(drop=True), outcome, excluded=excluded)
    except (OpenHSCTError, ValueError, FloatingPointError, ZeroDivisionError, RuntimeError):
        return None
    out = pooled.to_dict()
    forest = forest_data(pooled)
    studies = pooled.studies.set_index("key")
    rows = json_records(forest)
    for r in rows:
        if r["key"] in studies.index:
            st = studies.loc[r["key"]]
            r.update(
                year=_clean(st["year"]),
                doi_or_pmid=st["doi_or_pmid"],
                source_url=st["source_url"],
                era=st["era"],
                intensity=st["intensity"],
                phenotype=st["phenotype"],
                doi_url=citation_url(st["doi_or_pmid"]),
            )
    out["forest"] = rows
    out["sensitivity"] = _sensitivity(outcome) if not by else None
    return out


def _sensitivity(outcome: str) -> dict | None:
    """The sensitivity analyses of a death-count outcome as a dict, with the era regression's ``decade``
    row picked out for the page; ``None`` for other outcomes."""
    from openhsct.evidence.dataset import OUTCOMES
    from openhsct.evidence.sensitivity import sensitivity_analyses

    if OUTCOMES[outcome].kind != "count":
        return None
    out = sensitivity_analyses(outcome).to_dict()
    era = out["era"]
    era["decade"] = next((r for r in era["coefficients"] if r["term"] == "decade"), None)
    era["at_year"] = [{"year": int(y), **m} for y, m in era["at_year"].items()]
    return out


def citation_url(doi_or_pmid: str | None) -> str | None:
    """A link for a study: ``https://doi.org/<DOI>`` when a DOI is given, else the PubMed page."""
    import re

    text = doi_or_pmid if isinstance(doi_or_pmid, str) else ""
    doi = re.search(r"\b(10\.\d{4,9}/[^\s;]+)", text)
    if doi:
        return f"https://doi.org/{doi.group(1)}"
    pmid = re.search(r"PMID:?\s*(\d+)", text)
    return f"https://pubmed.ncbi.nlm.nih.gov/{pmid.group(1)}/" if pmid else None
