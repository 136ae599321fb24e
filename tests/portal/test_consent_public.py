"""A patient whose consent is withdrawn changes no public number and no public download; staff see how many
patients are left out."""

from __future__ import annotations

import pandas as pd
import pytest
from django.core.cache import cache
from django.test import Client

from openhsct.portal import selectors
from tests.portal.registry_builder import clear_registry, clear_releases, import_tables, synth_tables
from tests.portal.test_pages import crawl


def _withdrawn_copy(tables: dict[str, pd.DataFrame], code: str) -> dict[str, pd.DataFrame]:
    """Every row of the first transplanted patient who died, under a new code, with consent withdrawn."""
    deaths = tables["deaths"]
    source = deaths.iloc[0][["centre_code", "patient_code"]].tolist()
    out = {"centres": tables["centres"].loc[tables["centres"]["centre_code"] == source[0]]}
    for name, frame in tables.items():
        if "patient_code" not in frame.columns:
            continue
        rows = frame.loc[(frame["centre_code"] == source[0]) & (frame["patient_code"] == source[1])].copy()
        rows["patient_code"] = code
        out[name] = rows
    p = out["patients"]
    p["consent_status"] = "withdrawn"
    p["consent_withdrawal_date"] = p["consent_date"]
    return out


def _public(client) -> dict[str, bytes]:
    """Every public page and download of a release drafted and published from the registry as it is now,
    without the parts that name the release (its id changes with the rows it was built from)."""
    import re

    from openhsct.releases import store
    from tests.portal.registry_builder import publish_release

    cache.clear()
    selectors._frames_memo.clear()
    store._forget_latest()
    publish_release(comparative=False)
    # The list of releases grows with each one; every other page and download must not change.
    pages = {path: r.content for path, r in crawl(client).items() if not path.startswith("/releases/")}
    return {path: re.sub(rb"[0-9a-f]{16}", b"<release>", re.sub(rb"published \d{4}-\d{2}-\d{2}", b"", c))
            for path, c in pages.items()}


@pytest.mark.django_db(transaction=True)
def test_withdrawn_consent_changes_no_public_page_or_download(tmp_path):
    tables = synth_tables(centres=2, patients=80, seed=5)
    clear_registry()
    clear_releases()
    import_tables(tables, tmp_path / "base")
    client = Client()
    before = _public(client)
    extra = _withdrawn_copy(tables, "WITHDRAWN1")
    import_tables(extra, tmp_path / "extra")
    after = _public(client)
    assert set(after) == set(before)
    changed = [path for path in before if before[path] != after[path]]
    assert changed == []

    # the same patient with consent given does change the public figures (the test can fail)
    from openhsct.registry.models import Patient

    Patient.objects.filter(patient_code="WITHDRAWN1").update(consent_status="given", consent_withdrawal_date=None)
    again = _public(client)
    assert any(before[path] != again[path] for path in before)
    clear_registry()


@pytest.mark.django_db(transaction=True)
def test_staff_see_how_many_patients_are_left_out(tmp_path):
    from openhsct.portal.clinic.selectors import consent_excluded
    from openhsct.registry.models import Centre, Patient

    tables = synth_tables(centres=1, patients=20, seed=2)
    clear_registry()
    import_tables(tables, tmp_path / "b")
    centre = Centre.objects.get()
    base = consent_excluded(centre)
    first = Patient.objects.filter(centre=centre).order_by("patient_code").first()
    Patient.objects.filter(pk=first.pk).update(consent_publication="no")
    assert consent_excluded(centre) == base + 1
    clear_registry()
