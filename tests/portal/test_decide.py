"""The page "What could aHSCT mean for me?" (``/decide/``) with Django's test client on a small synthetic
registry: the form, the charts with their tables, the "out of 100" summary, the unverified inputs, the note,
the refusal, form errors, nothing stored, and the small-numbers rule for "similar patients"."""

from __future__ import annotations

import re

import pytest

from tests.decision import conftest as decision_fixtures

decide_registry = decision_fixtures.decide_registry  # the decision tests' registry, imported once per module

PERSON = {"age_years": "34", "sex": "F", "phenotype": "RRMS", "edss": "3.5", "disease_duration_years": "6",
          "relapses_12m": "2", "gd_lesions": "3", "prior_dmts": "2", "comparator": "ocrelizumab",
          "price": "1500000", "currency": "RUB", "rates": "EUR=100, GBP=118", "wtp": "2000000"}


@pytest.fixture(autouse=True)
def small_page(monkeypatch):
    """A lighter model run than the page's default, so the suite stays fast; the code path is the same."""
    from openhsct.portal import decide

    monkeypatch.setattr(decide, "PAGE_PSA_SAMPLES", 12)
    monkeypatch.setattr(decide, "PAGE_PSA_PATIENTS", 40)
    monkeypatch.setattr(decide, "PAGE_PATIENTS", 600)
    monkeypatch.setattr(decide, "PAGE_BOOTSTRAP", 5)
    decide._model_memo.clear()


def test_empty_form_shows_the_note_and_no_result(decide_registry, db, client):
    response = client.get("/decide/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="not-advice"' in html and "Not medical advice." in html
    assert '<form class="filters decide-form" method="get"' in html and 'name="age_years"' in html
    assert "Out of 100 people like you" not in html
    assert response["Cache-Control"] == "no-store, private"
    assert 'href="/decide/"' in html  # the navigation link


def test_result_page_has_charts_tables_summary_sources_and_stores_nothing(decide_registry, db, client):
    from django.contrib.sessions.models import Session

    from openhsct.decision.prediction import cohort_from_registry, fit_prediction_model, predict_individual
    from openhsct.registry.exporter import registry_frames
    from openhsct.registry.models import AuditEvent

    audits, sessions = AuditEvent.objects.count(), Session.objects.count()
    response = client.get("/decide/", PERSON)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<svg role="img"') == 5
    assert html.count("<details") >= 5 and "<table" in html
    person = {"age_years": 34, "sex": "F", "phenotype": "RRMS", "edss": 3.5, "disease_duration_years": 6,
              "relapses_12m": 2, "gd_lesions": 3, "prior_dmts": 2}
    model = fit_prediction_model(cohort_from_registry(registry_frames(typed=True)), n_bootstrap=0)
    pred = predict_individual(model, person)
    assert f"Out of 100 people like you, about <strong>{round(100 * pred['pfs_5y'])}</strong>" in html
    assert "Unverified inputs in use" in html and "ahsct_rr_relapse" in html
    assert "1 EUR = 100.00 RUB" in html
    assert "Not medical advice." in html
    assert AuditEvent.objects.count() == audits and Session.objects.count() == sessions
    assert "sessionid" not in response.cookies
    assert response["Cache-Control"] == "no-store, private"


def test_out_of_range_input_shows_the_refusal(decide_registry, db, client):
    response = client.get("/decide/", {**PERSON, "age_years": "79"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="plain refusal" role="alert"' in html
    assert re.search(r"age_years = 79 is outside the training range \d+ to \d+", html)
    assert "Out of 100 people like you" not in html
    assert html.count('<svg role="img"') == 4  # no prediction chart; the model still runs with MIST's effect


@pytest.mark.parametrize(
    ("change", "error"),
    [({"edss": "3.2"}, "Select a valid choice"), ({"currency": "R1"}, "Enter a valid value"),
     ({"rates": "EUR"}, "use CODE=NUMBER"), ({"age_years": "12"}, "greater than or equal to 18")],
)
def test_invalid_inputs_are_shown_beside_the_field(decide_registry, db, client, change, error):
    response = client.get("/decide/", {**PERSON, **change})
    html = response.content.decode()
    assert response.status_code == 200 and error in html
    assert "Out of 100 people like you" not in html


def test_similar_patients_curve_needs_five_and_is_cut_below_five_at_risk():
    from openhsct.decision.prediction import fit_prediction_model
    from openhsct.portal.decide import similar_km
    from tests.decision.test_prediction import PERSON as P
    from tests.decision.test_prediction import simulated_cohort

    cohort, _ = simulated_cohort(n=900, seed=2)
    low_spms = (cohort["phenotype"] == "SPMS") & (cohort["edss"] <= 3.5)
    keep = ~low_spms | (low_spms.cumsum() <= 3)
    model = fit_prediction_model(cohort.loc[keep].reset_index(drop=True), n_bootstrap=0)
    rows, n = similar_km(model, {**P, "phenotype": "SPMS", "edss": 2.0})
    assert rows is None and n == 3
    rows, n = similar_km(model, P)
    assert n >= 5 and rows[0] == {"time": 0.0, "survival": 1.0}
    from openhsct.decision.prediction import similar_patients
    from openhsct.outcomes.kaplan_meier import kaplan_meier

    same = similar_patients(model, P)
    km = kaplan_meier(same["pfs_years"], same["pfs_event"])
    assert rows[-1]["time"] == km.loc[km["n_risk"] >= 5, "time"].max()


def test_the_model_is_fitted_once_per_registry_version(decide_registry, db):
    from openhsct.portal.decide import fitted_model

    first, _ = fitted_model(n_bootstrap=0)
    second, _ = fitted_model(n_bootstrap=0)
    assert first is second and first.n_events >= 50
