"""EBMT-style summary: one row per consenting transplanted patient, values traced to the registry."""

from __future__ import annotations

import pandas as pd
import pytest

from openhsct.interop import ebmt
from openhsct.registry.exporter import registry_frames
from tests.registry.bundle_factory import small_bundle, write

pytestmark = pytest.mark.django_db


def test_summary_rows_follow_the_registry(tmp_path):
    from openhsct.registry.importer import import_bundle

    bundle = small_bundle()
    bundle["patients"][0]["consent_sharing"] = "yes"  # P002 has no sharing consent: left out
    import_bundle(write(bundle, tmp_path / "in"))
    result = ebmt.export_ebmt(tmp_path / "ebmt.csv")
    rows = pd.read_csv(tmp_path / "ebmt.csv", dtype=str, keep_default_na=False)
    assert list(rows.columns) == [c for c, _ in ebmt.COLUMNS] and result.excluded == 1
    assert list(rows["Patient code (UPN, local)"]) == ["P001"]
    r = rows.iloc[0]
    frames = registry_frames()
    tx = frames["transplants"].set_index("patient_code").loc["P001"]
    assert r["Date of HSCT (day 0)"] == tx["day0"] and r["Disease subtype"] == "RRMS"
    assert r["EDSS before HSCT"] == "3.5" and r["Survival status"] == "alive"
    assert r["Primary disease"] == "Multiple sclerosis"


def test_every_column_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "ebmt.md").read_text(encoding="utf-8")
    for column, source in ebmt.COLUMNS:
        assert column in doc and source in doc
    for item in ebmt.UNMATCHED:
        assert item in doc


def test_formula_text_is_escaped_and_numbers_stay_numbers(tmp_path):
    """The summary goes through the one CSV writer: text that begins with ``=`` gets one leading ``'``;
    EDSS and counts are written as plain numbers."""
    from openhsct.registry.importer import import_bundle

    bundle = small_bundle()
    bundle["patients"][0]["consent_sharing"] = "yes"
    bundle["eligibility"][0]["prior_dmts"] = "'=HYPERLINK(\"http://example.org\")"  # stored as =HYPERLINK(…)
    import_bundle(write(bundle, tmp_path / "in"))
    ebmt.export_ebmt(tmp_path / "ebmt.csv")
    text = (tmp_path / "ebmt.csv").read_text(encoding="utf-8")
    rows = pd.read_csv(tmp_path / "ebmt.csv", dtype=str, keep_default_na=False)
    assert rows.iloc[0]["Prior disease-modifying treatments"] == "'=HYPERLINK(\"http://example.org\")"
    assert rows.iloc[0]["EDSS before HSCT"] == "3.5" and ",3.5," in text
