"""The decision aid's part of a release (``decision.json``): the prediction model fitted on the cut, and
the "similar patients" under the disclosure rules.

The model (:func:`openhsct.decision.prediction.fit_prediction_model` on
:func:`~openhsct.decision.prediction.cohort_from_registry` of the published centres' consenting patients,
as known on the cut date) is written by :func:`openhsct.decision.stored.model_to_dict`; ``/decide/`` and
``openhsct decide`` read it back with :func:`read_model` and never read the live registry.

The "similar patients" (same phenotype and EDSS band: 0-3.5, 4-5.5, 6+) are one margin of the training
patients: a :class:`~openhsct.releases.values.Table` whose cells are the groups, so a group of 1-4 is
suppressed with complementary suppression; each shown group carries its Kaplan-Meier PFS curve on the
public grid (points with fewer than 5 at risk dropped). The patients left out of the fit are another margin
(reasons plus the patients used) of all transplanted patients.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from openhsct.releases.disclosure import disclose, is_shown
from openhsct.releases.values import Count, Table, to_plain

USED = "used in the model"


@dataclass(frozen=True)
class StoredDecision:
    """A release's decision part read back: the model (None with ``unavailable`` saying why), the
    published "similar patients" groups (``key -> {"n", "curve"}``, each plain JSON as published) and the
    release's cut date."""

    model: object | None
    unavailable: str | None
    similar: Mapping[str, dict]
    as_of: str


def _similar_table(model) -> Table:
    """The training patients by phenotype and EDSS band, each group with its PFS curve on the grid."""
    from openhsct.decision.prediction import CATEGORIES, DAYS_PER_YEAR, EDSS_BANDS, edss_band
    from openhsct.releases.public import km_curve

    data = model.training
    bands = edss_band(data["edss"])
    cells, details = [], []
    for phenotype in CATEGORIES["phenotype"]:
        for band, _, _ in EDSS_BANDS:
            mine = (data["phenotype"] == phenotype).to_numpy() & (bands == band)
            sub = data.loc[mine]
            key = f"{phenotype}|{band}"
            cells.append((key, Count(int(mine.sum()), stratum=True)))
            curve = km_curve(sub["pfs_years"].to_numpy(dtype=float) * DAYS_PER_YEAR,
                             sub["pfs_event"].to_numpy(dtype=int))
            details.append((key, {"curve": curve}))
    return Table(total=int(model.n_patients), cells=tuple(cells), details=tuple(details))


def _excluded_table(model, n_cohort: int) -> Table:
    cells = [(reason, Count(int(k))) for reason, k in sorted(model.excluded.items())]
    cells.append((USED, Count(int(model.n_patients))))
    return Table(total=int(n_cohort), cells=tuple(cells))


def decision_content(tables: dict[str, pd.DataFrame], cut: dt.date, *, n_bootstrap: int, seed: int = 0) -> dict:
    """The decision part as plain JSON values: ``available``, and either ``reason`` or the stored model,
    the disclosed similar groups and the disclosed patients left out of the fit."""
    from openhsct.decision.prediction import NotEnoughData, cohort_from_registry, fit_prediction_model
    from openhsct.decision.stored import model_to_dict

    base = {"as_of": cut.isoformat()}
    if not len(tables.get("transplants", [])):
        return {**base, "available": False, "reason": "the release holds no transplanted patient"}
    cohort = cohort_from_registry(tables, as_of=pd.Timestamp(cut))
    try:
        model = fit_prediction_model(cohort, n_bootstrap=n_bootstrap, seed=seed)
    except NotEnoughData as exc:
        return {**base, "available": False, "reason": exc.message}
    except (ValueError, np.linalg.LinAlgError) as exc:
        # e.g. a Cox model that does not converge on a small or separated cohort: no model, no failed release
        return {**base, "available": False, "reason": f"the prediction model could not be fitted ({exc})"}
    similar = disclose(_similar_table(model))
    counts = {r["level"]: (r["n"].n if is_shown(r["n"]) else None) for r in similar}
    excluded = disclose(_excluded_table(model, len(cohort)))
    return {
        **base,
        "available": True,
        "model": model_to_dict(model, counts),
        "similar": [
            {"group": r["level"], "n": to_plain(r["n"]), "curve": to_plain(r.get("curve"))} for r in similar
        ],
        "excluded": [{"reason": r["level"], "n": to_plain(r["n"])} for r in excluded if r["level"] != USED],
    }


def decision_part(tables: dict[str, pd.DataFrame], cut: dt.date, *, n_bootstrap: int, seed: int = 0) -> bytes:
    """:func:`decision_content` as canonical JSON bytes (the model's floats in full, so that predictions
    read back are those of the fitted model)."""
    from openhsct.releases.build import canonical_json

    return canonical_json(decision_content(tables, cut, n_bootstrap=n_bootstrap, seed=seed))


def stored_decision(content: Mapping | None) -> StoredDecision:
    """A release's parsed ``decision.json`` read back (:class:`StoredDecision`); a release without it
    (built before the decision aid was part of releases) says so."""
    from openhsct.decision.stored import model_from_dict

    if content is None:
        return StoredDecision(None, "this release holds no prediction model", {}, "")
    if not content.get("available"):
        return StoredDecision(None, content.get("reason") or "no prediction model", {}, content.get("as_of", ""))
    excluded = {
        r["reason"]: r["n"] if isinstance(r["n"], int) else "fewer than 5"
        for r in content.get("excluded", [])
    }
    similar = {r["group"]: {"n": r["n"], "curve": r["curve"]} for r in content["similar"]}
    return StoredDecision(model_from_dict(content["model"], excluded), None, similar, content["as_of"])


def similar_rows(stored: StoredDecision, key: str) -> tuple[list[dict] | None, int | None]:
    """The published PFS curve (``time`` in years, ``survival``) of the group ``key`` and its size: the
    curve is None when the group or its curve was suppressed; the size is None when suppressed."""
    group = stored.similar.get(key) or {}
    n = group.get("n")
    curve = group.get("curve")
    if not isinstance(n, int) or not isinstance(curve, list) or not curve:
        return None, n if isinstance(n, int) else None
    rows = [{"time": float(np.round(p["months"] / 12, 6)), "survival": p["value"]} for p in curve]
    return rows, n
