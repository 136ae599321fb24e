"""Fixtures of the data-quality tests: the shared cast with the small NRT bundle (P001 alive, transplanted
2018-03-20; P002 died 2019-05-06) and one SRC patient (the browser fixtures are the shared ones of tests/conftest.py)."""

from __future__ import annotations

import pytest


def load_registry(cast, tmp_path):
    """Import the small bundle as a command-line user and add SRC's patient S001. Returns the cast."""
    from openhsct.registry import models as m
    from openhsct.registry.audit import acting_as
    from openhsct.registry.importer import import_bundle
    from tests.registry.bundle_factory import small_bundle, write

    with acting_as("cli:test"):
        import_bundle(write(small_bundle(), tmp_path / "bundle"), actor="cli:test")
        m.Patient.objects.create(centre=cast["south"], patient_code="S001", sex="male", birth_year=1980,
                                 phenotype="RRMS", consent_status="given")
    return cast


@pytest.fixture(scope="module")
def _committed_registry(django_db_setup, django_db_blocker, tmp_path_factory):
    """The cast and :func:`load_registry`'s rows, built and committed once per test module and wiped after
    it (importing the small bundle before each test was most of these suites' time)."""
    from tests.committed import committed_once
    from tests.conftest import make_cast

    folder = tmp_path_factory.mktemp("quality-registry")
    yield from committed_once(django_db_blocker, lambda: load_registry(make_cast(), folder))


@pytest.fixture
def registry(db, _committed_registry):
    """The cast over the small NRT bundle and SRC's S001 (see :func:`load_registry`), fetched afresh for the
    test; what the test writes is rolled back after it."""
    return {name: type(obj)._base_manager.get(pk=obj.pk) for name, obj in _committed_registry.items()}


@pytest.fixture
def signed_in(client):
    """``signed_in(user)``: the test client signed in as ``user``."""

    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in
