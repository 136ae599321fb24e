"""Shared fixtures: metafor goldens written by ``reference/r/metafor_goldens.R``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

GOLDENS = Path(__file__).parent / "goldens"


@pytest.fixture(scope="session")
def goldens() -> dict:
    return json.loads((GOLDENS / "metafor_goldens.json").read_text())


@pytest.fixture(scope="session")
def bcg() -> pd.DataFrame:
    return pd.read_csv(GOLDENS / "dat_bcg.csv")


@pytest.fixture(scope="session")
def random_sets() -> pd.DataFrame:
    return pd.read_csv(GOLDENS / "random_sets.csv")
