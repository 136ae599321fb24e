"""Reads that the public pages, the report and the CSV share — always suppressed, always cached.

Every public number passes through here: the statistics come from :mod:`openhsct.outcomes.summary`
(never recomputed in the portal) and :func:`openhsct.portal.privacy.suppress` is applied before anything
is returned or cached, so no view can reach an unsuppressed value.

Caching: the registry's tables and the summaries computed from them are expensive. They are cached under a
*registry version* — the id and time of the newest :class:`~openhsct.registry.models.AuditEvent` (exports
aside) and the number of patients — which changes on every save, delete and import (each writes an audit
row), so a cached summary is never served after the data changed. The typed tables are kept in this
process only (they are large); the small public summaries go to Django's cache.

The version lives in the database, so every gunicorn worker (a separate process with its own memory
cache) sees a change made by any other. Reading it costs two queries, so each process keeps it in Django's
cache for at most ``VERSION_SECONDS``; a change made in this process (any save or delete of a registry
model) drops that copy at once and again when its transaction commits. Another process therefore serves
the old pages for at most ``VERSION_SECONDS`` after a change.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache
from typing import Any

from django.core.cache import cache

from openhsct.portal import privacy

CACHE_SECONDS = 3600
VERSION_SECONDS = 1.0
VERSION_KEY = "portal:registry-version"
_frames_lock = threading.Lock()
_frames_memo: dict[str, Any] = {}
_compute_locks: dict[str, threading.Lock] = {}
_generation = [0]  # bumped on every local change: a version read that straddles one is not kept


def _read_registry_version() -> str:
    """The version as stored: ``<newest audit id>.<its time in µs>-<patients>``, exports aside (an export
    changes no data). The time keeps two databases that reuse audit ids (SQLite after a wipe) apart."""
    from openhsct.registry.models import AuditEvent, Patient

    top = AuditEvent.objects.exclude(action="export").order_by("-id").values_list("id", "at").first()
    stamp = f"{top[0]}.{int(top[1].timestamp() * 1e6)}" if top else "0"
    return f"{stamp}-{Patient.objects.count()}"


def registry_version() -> str:
    """A key that changes whenever registry data change; read from the database at most once every
    ``VERSION_SECONDS`` per process, and at once after a change made in this process."""
    version = cache.get(VERSION_KEY)
    if version is None:
        generation = _generation[0]
        version = _read_registry_version()
        if generation == _generation[0]:
            cache.set(VERSION_KEY, version, VERSION_SECONDS)
    return version


def _forget_version() -> None:
    _generation[0] += 1
    cache.delete(VERSION_KEY)


def registry_changed(sender, instance=None, using=None, **kwargs) -> None:
    """Signal receiver (``post_save``/``post_delete`` of the registry's models, connected in
    :class:`~openhsct.portal.apps.PortalConfig`): forget the version now and when the transaction commits,
    so neither this process's next request nor a read racing the commit keeps the old one."""
    from django.db import transaction

    if sender._meta.app_label != "registry":
        return
    if sender.__name__ == "AuditEvent" and getattr(instance, "action", None) == "export":
        return
    _forget_version()
    transaction.on_commit(_forget_version, using=using)


def cached(name: str, compute, *, version: str | None = None):
    """``compute(version)``, kept in Django's cache under ``portal:<name>:<registry version>``. Threads of
    one process that miss together wait for one computation instead of repeating it (a worker that starts
    cold under load would otherwise build the same summary once per thread)."""
    version = version or registry_version()
    key = f"portal:{name}:{version}"
    value = cache.get(key)
    if value is None:
        with _compute_lock(name):
            value = cache.get(key)
            if value is None:
                value = compute(version)
                cache.set(key, value, CACHE_SECONDS)
    return value


def _compute_lock(name: str) -> threading.Lock:
    with _frames_lock:
        return _compute_locks.setdefault(name, threading.Lock())


def registry_tables(version: str | None = None) -> dict:
    """The registry as typed DataFrames (``registry_frames(typed=True)``) restricted to the patients whose
    consent allows publication (:func:`openhsct.registry.consent.publishable`), memoised per version. Every
    public number is computed from these tables only."""
    from openhsct.registry.consent import publishable
    from openhsct.registry.exporter import registry_frames

    version = version or registry_version()
    with _frames_lock:
        frames = _frames_memo.get(version)
        if frames is None:
            frames = publishable(registry_frames(typed=True)).tables
            _frames_memo.clear()
            _frames_memo[version] = frames
    return frames


def registry_has_synthetic() -> bool:
    """True while any centre of the registry is marked synthetic (drives the banner on every page)."""
    from openhsct.registry.models import Centre

    return cached("synthetic", lambda v: Centre.objects.filter(synthetic="yes").exists())


def centre_codes() -> list[str]:
    from openhsct.registry.models import Centre

    return list(Centre.objects.order_by("centre_code").values_list("centre_code", flat=True))


def public_centre_summary(centre_code: str) -> dict:
    """The suppressed :func:`~openhsct.outcomes.summary.centre_summary` of one centre."""

    def compute(version: str) -> dict:
        from openhsct.outcomes.summary import centre_summary

        return privacy.suppress(centre_summary(registry_tables(version), centre_code))

    return cached(f"summary:{centre_code}", compute)


def _clean(v: Any) -> Any:
    """Plain Python values (no numpy scalars, NaN as None) for templates, CSV and the cache."""
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _reference(version: str) -> dict:
    """The all-centre summary (the reference every centre is read against) and the comparison frame,
    computed from one :func:`~openhsct.outcomes.endpoints.registry_outcomes` pass."""
    from openhsct.outcomes.endpoints import registry_outcomes
    from openhsct.outcomes.summary import all_centres_summary, centre_comparison

    tables = registry_tables(version)
    outcomes = registry_outcomes(tables)
    return {
        "all": all_centres_summary(tables, outcomes=outcomes),
        "comparison": centre_comparison(tables, outcomes=outcomes),
    }


def _comparison_rows(version: str) -> dict:
    """The per-centre comparison (``centre_comparison``) as plain rows, with the funnel positions and the
    shrunk O/E interval added, then suppressed; with the all-centre reference rates."""
    from openhsct.outcomes import funnel
    from openhsct.registry.models import Centre

    ref = _reference(version)
    comp, everyone = ref["comparison"], ref["all"]
    centres = {c.centre_code: c for c in Centre.objects.all()}
    records = [{k: _clean(v) for k, v in rec.items()} for rec in comp.to_dict("records")]
    events = sum(r["trm_events_day100"] for r in records)
    known = sum(r["trm_n_day100"] for r in records)
    p0_trm = events / known if known else None  # all-centre proportion: the funnel's target
    pfs_at = [a for a in everyone["endpoints"]["pfs"]["at"] if a["years"] == 5]
    p0_pfs = pfs_at[0]["estimate"] if pfs_at and pfs_at[0]["n_risk"] >= privacy.MIN_N else None
    rows = []
    for row in records:
        c = centres.get(row["centre_code"])
        if c is not None:
            row.update(name=c.name, country=c.country, city=c.city, synthetic=c.synthetic == "yes")
        share = row.get("followup_share")
        row["followup_flag"] = share is not None and share < 0.9
        n_known = row["trm_n_day100"]
        row["trm_rate"] = row["trm_events_day100"] / n_known if n_known else None
        if p0_trm is not None and row["trm_rate"] is not None:
            row["trm_position"] = funnel.funnel_position(row["trm_rate"], n_known, p0_trm)
        s = funnel.shrunk_oe(row["trm_events_day100"], row["trm_expected_day100"] or 0.0)
        row.update(
            oe_shrunk=row.get("trm_shrunk_ratio", s.ratio), oe_lower=s.lower, oe_upper=s.upper, oe_tier=s.tier
        )
        pfs, se = row.get("pfs_5y"), row.get("pfs_5y_se")
        if pfs is not None and se:
            m = funnel.effective_n(pfs, se)
            if m == m:
                row["pfs_5y_effective_n"] = m
                if p0_pfs is not None:
                    row["pfs_position"] = funnel.funnel_position(pfs, m, p0_pfs, method="normal")
        rows.append(row)
    return {
        "rows": privacy.suppress_rows(rows),
        "trm_rate": p0_trm,
        "pfs_5y": p0_pfs,
        "as_of": comp.attrs.get("as_of") or everyone.get("as_of"),
        "all": privacy.suppress(everyone),
    }


def public_comparison() -> dict:
    """Suppressed per-centre rows (see :func:`_comparison_rows`) and the all-centre reference rates."""
    return cached("comparison", _comparison_rows)


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
