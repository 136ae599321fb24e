"""Fixtures for the decision-aid tests.

- ``decide_registry`` (module scope): the synthetic registry (3 centres, 500 patients, seed 7) imported once
  per module, with a data release drafted (its prediction model validated on 5 bootstrap resamples, to stay
  fast) and published from it, deleted afterwards; enough progression events (>= 50) for an individual
  prediction. Tests that use it also ask for ``db``. Returns the tables, with the release id under
  ``"release"`` in ``decide_registry.release``.
"""

from __future__ import annotations

import pytest

DECIDE_REGISTRY = {"centres": 3, "patients": 500, "seed": 7}
DECIDE_BOOTSTRAP = 5


class Registry(dict):
    """The imported tables, with the id of the published release (``release``)."""

    release: str = ""


def publish_decide_release() -> str:
    """Draft and publish a release of the current registry (the decision model with 5 bootstrap
    resamples); returns its id."""
    import datetime as dt

    from openhsct.releases.build import BuildSettings
    from openhsct.releases.store import release_draft, release_publish
    from tests.portal.registry_builder import TEST_CUT

    settings = BuildSettings(comparative=False, charts=False, decision_bootstrap=DECIDE_BOOTSTRAP)
    release = release_draft(dt.date.fromisoformat(TEST_CUT), actor="decision-tests", settings=settings)
    if release.state == release.State.DRAFT:
        release_publish(release, actor="decision-tests")
    return release.pk


@pytest.fixture(scope="module")
def decide_registry(django_db_setup, django_db_blocker, tmp_path_factory):
    from tests.portal.registry_builder import clear_registry, clear_releases, import_tables, synth_tables

    tables = Registry(synth_tables(**DECIDE_REGISTRY))
    with django_db_blocker.unblock():
        clear_registry()
        clear_releases()
        import_tables(tables, tmp_path_factory.mktemp("bundle"))
        tables.release = publish_decide_release()
        yield tables
        clear_releases()
        clear_registry()


def release_prediction(person: dict):
    """The prediction from the latest published release's stored model."""
    from openhsct.decision.prediction import predict_individual
    from openhsct.portal.decide import release_model

    stored, unavailable, _ = release_model()
    assert stored is not None and stored.model is not None, unavailable
    return predict_individual(stored.model, person)
