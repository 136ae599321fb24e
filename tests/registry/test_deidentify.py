"""``openhsct export --deidentified``: no original code, no free text, intervals kept exactly."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest

from openhsct.errors import OpenHSCTError
from openhsct.registry.deidentify import export_deidentified
from openhsct.registry.importer import import_bundle
from tests.committed import committed_once
from tests.registry.bundle_factory import small_bundle, write

pytestmark = pytest.mark.django_db
KEY = "k" * 40  # a made-up test key


def _rows(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def _import_and_export(folder: Path) -> tuple[Path, dict]:
    """Imports the small bundle and exports it de-identified; returns the output folder and the counts."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENHSCT_HMAC_KEY", KEY)
        import_bundle(write(small_bundle(), folder / "in"))
        return folder / "out", export_deidentified(folder / "out")


@pytest.fixture(scope="module")
def exported(django_db_setup, django_db_blocker, tmp_path_factory):
    """The small bundle's de-identified export (imported and exported once for the module; the tests read
    only the files, and the imported rows are wiped after the module)."""
    yield from committed_once(django_db_blocker, lambda: _import_and_export(tmp_path_factory.mktemp("deid")))


def test_no_original_code_and_no_free_text(exported):
    out, _ = exported
    text = "".join(f.read_text(encoding="utf-8") for f in out.glob("*.csv"))
    for original in ("P001", "P002", "B-P001-1", "Northwind", "Febrile neutropenia", "lab tech A", "active SPMS",
                     "Sepsis", "Tank 2", "2018-03-20"):
        assert original not in text, original
    patients = _rows(out / "patients.csv")
    assert "birth_year" not in patients[0] and {p["birth_year_band"] for p in patients} == {"1985-1989", "1975-1979"}


def test_intervals_are_kept_exactly(exported):
    out, _ = exported
    bundle = small_bundle()
    day0 = {r["patient_code"]: dt.date.fromisoformat(r["day0"]) for r in bundle["transplants"]}
    original = sorted((dt.date.fromisoformat(r["visit_date"]) - day0[r["patient_code"]]).days
                      for r in bundle["edss_visits"])
    assert sorted(int(r["visit_date"]) for r in _rows(out / "edss_visits.csv")) == original
    assert {r["anchor"] for r in _rows(out / "patients.csv")} == {"day0"}
    assert all(int(r["day0"]) == 0 for r in _rows(out / "transplants.csv"))


def test_readme_states_k(exported):
    out, counts = exported
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert f"k = {counts['k']}" in readme and counts["k"] == 1  # two patients, each alone in their group
    assert "Not medical advice" in readme


def test_missing_key_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENHSCT_HMAC_KEY", raising=False)
    with pytest.raises(OpenHSCTError, match="OPENHSCT_HMAC_KEY is not set"):
        export_deidentified(tmp_path / "out")
    assert not (tmp_path / "out").exists()
