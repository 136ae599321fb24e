"""A synthetic registry, small enough for round trips on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest


@pytest.fixture
def synthetic_registry(db, tmp_path):
    """20 synthetic patients at 2 centres (PROs, a death, a withdrawal, 2 not transplanted), imported; returns the original CSV export folder."""
    from openhsct.registry.exporter import registry_frames, write_frames
    from openhsct.registry.importer import import_bundle
    from openhsct.registry.synth import generate, write_bundle

    write_bundle(generate(centres=2, patients=20, seed=16), tmp_path / "synth")
    import_bundle(tmp_path / "synth")
    original = tmp_path / "original"
    write_frames(registry_frames(), original)
    return original


def empty_registry() -> None:
    """Delete every row of the registry (children first), leaving users and the audit history."""
    from openhsct.registry.exchange import tables

    for table in reversed(list(tables().values())):
        table.model.objects.all().delete()


def assert_same_csv(a, b) -> None:
    """Every CSV of folder ``a`` equals the one in ``b``, byte for byte."""
    names = sorted(f.name for f in a.glob("*.csv"))
    assert names == sorted(f.name for f in b.glob("*.csv"))
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
