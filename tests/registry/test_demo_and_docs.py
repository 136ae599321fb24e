"""The demo command builds a synthetic registry and prints its summary; the data dictionary is current."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from openhsct.cli import app

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=True)
def test_demo_builds_prints_summary_and_logins(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENHSCT_DATABASE_URL", raising=False)
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("the demo is the embedded SQLite default by design")
    result = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path / "demo"), "--patients", "60", "--no-serve"],
                                catch_exceptions=False)
    text = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC DATA" in text
    assert "Follow-up completeness" in text
    assert "staff_syn01" in text and "monitor" in text
    assert "patient-syn01-" in text and "/patient/sign-in/" in text  # the demo patient's login
    assert (tmp_path / "demo" / "bundle" / "patients.csv").exists()  # the synthetic bundle it imported


def test_data_dictionary_is_generated_from_the_models():
    from openhsct.outcomes.instruments import instruments_markdown
    from openhsct.registry.exchange import data_dictionary_markdown

    committed = (ROOT / "docs" / "data-dictionary.md").read_text(encoding="utf-8")
    generated = data_dictionary_markdown() + "\n" + instruments_markdown()
    assert committed.strip() == generated.strip(), "run `openhsct dictionary` and commit"
    for column in ("edss", "visit_date", "cd34_1e6_per_kg", "transplant_related", "currency"):
        assert f"`{column}`" in committed
