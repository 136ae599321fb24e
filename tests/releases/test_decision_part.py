"""The decision aid's part of a release (``decision.json``): the model fitted on the cut, stored as JSON
and read back to the same predictions; the "similar patients" under the disclosure rules; rebuilt to the
same bytes."""

from __future__ import annotations

import json

import pytest

from tests.releases.builders import CUT, typed_tables

PERSON = {"age_years": 34, "sex": "F", "phenotype": "RRMS", "edss": 3.5, "disease_duration_years": 6,
          "relapses_12m": 2, "gd_lesions": 3, "prior_dmts": 2}


@pytest.fixture(scope="module")
def cut():
    from openhsct.registry.synth import generate
    from openhsct.releases.cut import make_cut

    return make_cut(typed_tables(generate(centres=3, patients=500, seed=7)), CUT)


def test_the_release_model_predicts_as_the_model_fitted_on_the_cut(cut):
    from openhsct.decision.prediction import cohort_from_registry, fit_prediction_model, predict_individual
    from openhsct.releases.build import published_centres, restrict
    from openhsct.releases.decision import decision_part, stored_decision

    shown = restrict(cut.tables, published_centres(cut.tables))
    data = decision_part(shown, cut.cut, n_bootstrap=3)
    assert data == decision_part(shown, cut.cut, n_bootstrap=3)  # the same bytes when rebuilt
    stored = stored_decision(json.loads(data))
    fitted = fit_prediction_model(cohort_from_registry(shown, as_of=cut.cut), n_bootstrap=3)
    a, b = predict_individual(fitted, PERSON), predict_individual(stored.model, PERSON)
    for k in ("pfs_5y", "pfs_5y_lower", "pfs_5y_upper", "trm", "trm_lower", "trm_upper", "c_index"):
        assert b[k] == pytest.approx(a[k], rel=1e-12, abs=1e-12), k
    assert b.n_similar == a.n_similar >= 5
    assert b"training" not in data and b"pfs_years" not in data


def test_similar_groups_and_exclusions_follow_the_disclosure_rules(cut):
    from openhsct.releases.build import published_centres, restrict
    from openhsct.releases.decision import decision_content
    from openhsct.releases.values import GRID_MONTHS

    content = decision_content(restrict(cut.tables, published_centres(cut.tables)), cut.cut, n_bootstrap=0)
    assert content["available"]
    counts = [g["n"] for g in content["similar"]]
    assert all(isinstance(n, dict) and n["suppressed"] or n == 0 or n >= 5 for n in counts)
    hidden = [n for n in counts if isinstance(n, dict)]
    assert len(hidden) != 1  # a lone suppressed group would be the total minus the others
    for g in content["similar"]:
        if isinstance(g["curve"], list):
            assert {p["months"] for p in g["curve"]} <= set(GRID_MONTHS)
            assert min(p["n_risk"] for p in g["curve"]) >= 5
    assert all(isinstance(r["n"], dict) or r["n"] == 0 or r["n"] >= 5 for r in content["excluded"])
    assert content["model"]["similar_counts"] == {
        g["group"]: None if isinstance(g["n"], dict) else g["n"] for g in content["similar"]
    }


def test_a_registry_too_small_for_a_model_gives_a_reason_not_a_failure():
    from openhsct.registry.synth import generate
    from openhsct.releases.cut import make_cut
    from openhsct.releases.decision import decision_content, stored_decision

    small = make_cut(typed_tables(generate(centres=1, patients=20, seed=3)), CUT)
    content = decision_content(small.tables, small.cut, n_bootstrap=0)
    assert content["available"] is False and content["reason"]
    stored = stored_decision(content)
    assert stored.model is None and stored.unavailable == content["reason"]


def test_the_model_fitted_on_a_dask_worker_gives_the_same_bytes(cut):
    from distributed import Client, LocalCluster

    from openhsct.releases.build import BuildSettings, build_parts

    settings = BuildSettings(charts=False, comparative=False, decision_bootstrap=3)
    here = build_parts(cut, settings)["decision.json"]
    assert json.loads(here)["available"]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            Client(cl) as client:
        assert build_parts(cut, settings, client=client)["decision.json"] == here
