"""Fixtures for the decision-aid tests.

- ``decide_registry`` (module scope): the synthetic registry (3 centres, 500 patients, seed 7) imported once
  per module and deleted afterwards; enough progression events (>= 50) for an individual prediction. Tests
  that use it also ask for ``db``. Returns the tables.
"""

from __future__ import annotations

import pytest

DECIDE_REGISTRY = {"centres": 3, "patients": 500, "seed": 7}


@pytest.fixture(scope="module")
def decide_registry(django_db_setup, django_db_blocker, tmp_path_factory):
    from tests.portal.registry_builder import clear_registry, import_tables, synth_tables

    tables = synth_tables(**DECIDE_REGISTRY)
    with django_db_blocker.unblock():
        clear_registry()
        import_tables(tables, tmp_path_factory.mktemp("bundle"))
        yield tables
        clear_registry()
