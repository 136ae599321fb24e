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


@pytest.fixture
def registry(cast, tmp_path):
    return load_registry(cast, tmp_path)


@pytest.fixture
def signed_in(client):
    """``signed_in(user)``: the test client signed in as ``user``."""

    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in
