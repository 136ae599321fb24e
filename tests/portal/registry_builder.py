"""Registries for the portal tests: the synthetic generator's bundle, optionally with some centres cut down
to a handful of patients so that the small-numbers rule has something to hide."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def synth_tables(
    centres: int = 3, patients: int = 300, seed: int = 1, keep: dict[str, int] | None = None
) -> dict[str, pd.DataFrame]:
    """``generate(centres, patients, seed)``, with centre ``code`` cut to its first ``keep[code]`` patients."""
    from openhsct.registry.synth import generate

    tables = generate(centres=centres, patients=patients, seed=seed)
    for code, n in (keep or {}).items():
        p = tables["patients"]
        mine = p.loc[p["centre_code"] == code, "patient_code"]
        drop = set(mine.iloc[n:])
        for name, frame in tables.items():
            if "patient_code" in frame.columns:
                gone = (frame["centre_code"] == code) & frame["patient_code"].isin(drop)
                tables[name] = frame.loc[~gone].reset_index(drop=True)
    return tables


def import_tables(tables: dict[str, pd.DataFrame], folder: Path) -> None:
    """Write the tables as a bundle and import it (all or nothing) into the current database."""
    from openhsct.registry.importer import import_bundle
    from openhsct.registry.synth import write_bundle

    write_bundle(tables, folder)
    import_bundle(folder, actor="portal-tests")


def clear_registry() -> None:
    """Delete every centre, patient and audit row (for fixtures that commit data outside a test), table by
    table without per-row signals (so nothing is audited and it takes milliseconds)."""
    from django.db import transaction

    from openhsct.registry.audit import erasing_allowed, mark_audited
    from openhsct.registry.exchange import tables
    from openhsct.registry.models import AuditEvent

    with erasing_allowed(), transaction.atomic():  # the audit trail's append-only guard lets a test wipe through
        mark_audited()
        for model in [t.model for t in reversed(list(tables().values()))] + [AuditEvent]:
            qs = model.objects.all()
            qs._raw_delete(qs.db)


#: The data cut of the test releases: after every date of the synthetic registries.
TEST_CUT = "2030-12-31"


def publish_release(cut: str = TEST_CUT, *, pdf: bool = False, comparative: bool = True) -> str:
    """Draft a release of the current registry at ``cut`` and publish it; returns its id (the public pages
    serve only published releases)."""
    import datetime as dt

    from openhsct.releases.build import BuildSettings
    from openhsct.releases.store import release_draft, release_publish

    release = release_draft(
        dt.date.fromisoformat(cut), actor="portal-tests", settings=BuildSettings(pdf=pdf, comparative=comparative)
    )
    if release.state == release.State.DRAFT:
        release_publish(release, actor="portal-tests")
    return release.pk


def clear_releases() -> None:
    """Delete every release and part (tests that build their own) and forget the process's cached reads."""
    from openhsct.releases import store
    from openhsct.releases.models import Release, ReleaseFlag, ReleasePart

    for model in (ReleaseFlag, Release, ReleasePart):
        qs = model.objects.all()
        qs._raw_delete(qs.db)
    store._forget_latest()
