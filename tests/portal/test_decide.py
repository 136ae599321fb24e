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

    from openhsct.registry.models import AuditEvent
    from tests.decision.conftest import release_prediction

    audits, sessions = AuditEvent.objects.count(), Session.objects.count()
    response = client.get("/decide/", PERSON)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<svg role="img"') == 5
    assert html.count("<details") >= 5 and "<table" in html
    person = {"age_years": 34, "sex": "F", "phenotype": "RRMS", "edss": 3.5, "disease_duration_years": 6,
              "relapses_12m": 2, "gd_lesions": 3, "prior_dmts": 2}
    pred = release_prediction(person)
    assert f"Out of 100 people like you, about <strong>{round(100 * pred['pfs_5y'])}</strong>" in html
    assert "Unverified inputs in use" in html and "ahsct_rr_relapse" in html
    assert "1 EUR = 100.00 RUB" in html
    assert f"From data release {decide_registry.release}" in html
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


def test_similar_patients_come_from_the_release_under_its_disclosure_rules():
    import datetime as dt

    from openhsct.decision.prediction import similar_key, similar_patients, validate_person
    from openhsct.portal.decide import similar_km
    from openhsct.releases.build import canonical_json
    from openhsct.releases.decision import decision_content, stored_decision
    from openhsct.releases.values import GRID_MONTHS
    from tests.decision.test_prediction import PERSON as P
    from tests.decision.test_prediction import simulated_cohort

    cohort, _ = simulated_cohort(n=900, seed=2)
    low_spms = (cohort["phenotype"] == "SPMS") & (cohort["edss"] <= 3.5)
    keep = (~low_spms | (low_spms.cumsum() <= 3)).to_numpy()
    cohort = cohort.loc[keep].reset_index(drop=True)

    import json
    from unittest import mock

    from openhsct.decision import prediction

    with mock.patch.object(prediction, "cohort_from_registry", return_value=cohort):
        content = decision_content({"transplants": cohort}, dt.date(2030, 12, 31), n_bootstrap=0)
    stored = stored_decision(json.loads(canonical_json(content)))
    rows, n = similar_km(stored, {**P, "phenotype": "SPMS", "edss": 2.0})
    assert rows is None and n is None  # a group of 3: neither its size nor its curve
    groups = {g["group"]: g["n"] for g in content["similar"]}
    assert groups["SPMS|0-3.5"]["suppressed"] and sum(isinstance(v, dict) for v in groups.values()) >= 2
    assert all(isinstance(v, dict) or v >= 5 or v == 0 for v in groups.values())
    rows, n = similar_km(stored, P)
    same = similar_patients(prediction.fit_prediction_model(cohort, n_bootstrap=0), P)
    assert n == len(same) >= 5 and rows[0] == {"time": 0.0, "survival": 1.0}
    assert {round(r["time"] * 12) for r in rows} <= set(GRID_MONTHS)
    assert stored.model.similar_counts[similar_key(validate_person(P))] == n
    assert prediction.predict_individual(stored.model, {**P, "phenotype": "SPMS", "edss": 2.0}).n_similar is None


def test_the_release_model_is_read_once_per_release(decide_registry, db):
    from openhsct.portal.decide import release_model

    first, _, release = release_model()
    second, _, _ = release_model()
    assert first is second and first.model.n_events >= 50 and release.pk == decide_registry.release


def test_a_registry_change_after_publication_changes_nothing_on_the_page(decide_registry, db, client):
    from openhsct.registry.models import Patient

    before = client.get("/decide/", PERSON).content.decode()
    Patient.objects.filter(pk__in=list(Patient.objects.values_list("pk", flat=True)[:100])).update(
        sex="male", phenotype="PPMS"
    )
    after = client.get("/decide/", PERSON).content.decode()
    strip = re.compile(r"<svg.*?</svg>", re.S)  # the PSA's Monte Carlo charts carry random ids
    pred = re.compile(r'<p class="plain summary-100">.*?</p>|<p class="meta">Model:.*?</p>', re.S)
    assert pred.findall(before) and pred.findall(before) == pred.findall(after)
    assert strip.sub("", before) == strip.sub("", after)


def test_without_a_published_release_the_page_says_so(decide_registry, db, client):
    from openhsct.releases import store
    from openhsct.releases.models import Release

    Release.objects.filter(pk=decide_registry.release).update(state=Release.State.DRAFT)
    store._forget_latest()
    try:
        html = client.get("/decide/", PERSON).content.decode()
    finally:
        Release.objects.filter(pk=decide_registry.release).update(state=Release.State.PUBLISHED)
        store._forget_latest()
    assert "no data release has been published yet" in html and "Out of 100 people like you" not in html
