"""Background mortality: the shipped table is the shared one, valid, and chosen by country and sex."""

from pathlib import Path

import numpy as np
import pytest

from openhsct.decision.lifetables import LifeTableError, load_life_table, qx_by_age, shipped_path

SHARED = Path(__file__).resolve().parents[3] / "shared" / "decision" / "life-tables.csv"


def test_package_copy_equals_the_shared_table():
    """Fails (never skips) when the shared table beside the clone exists and differs from the shipped copy."""
    shipped = shipped_path().read_bytes()
    assert shipped.startswith(b"country,year,sex,age_start,age_end,qx,source_id")
    if SHARED.exists():
        assert SHARED.read_bytes() == shipped, "data/life-tables.csv differs from the shared life table"


def test_shipped_table_is_valid():
    table = load_life_table()
    assert set(table["country"]) == {"RUS", "GBR", "USA", "SWE", "MEX", "ISR"}
    assert table["qx"].between(0, 1).all()
    open_rows = table[table["age_end"].isna()]
    assert (open_rows["qx"] == 1.0).all()


def test_choice_by_country_and_sex():
    table = load_life_table()
    q = qx_by_age(table, "RUS", "M", max_age=120)
    assert len(q) == 121
    rows = table[(table["country"] == "RUS") & (table["sex"] == "male")].set_index("age_start")
    assert q[35] == rows.loc[35, "qx"]
    assert q[110] == 1.0
    assert q[40] > qx_by_age(table, "RUS", "F")[40]
    usa_hmd = qx_by_age(table, "USA", "F", source_id="hmd_usa_2022")
    assert usa_hmd[35] == pytest.approx(0.00129)


def test_unknown_country_lists_the_shipped():
    with pytest.raises(LifeTableError, match="GBR, ISR, MEX, RUS, SWE, USA"):
        qx_by_age(load_life_table(), "FRA", "F")


def test_a_life_table_file(tmp_path):
    path = tmp_path / "fra.csv"
    ages = np.arange(0, 101)
    lines = ["country,year,sex,age_start,age_end,qx,source_id"]
    lines += [f"FRA,2023,female,{a},{a if a < 100 else ''},{0.001 if a < 100 else 1.0},mine" for a in ages]
    path.write_text("\n".join(lines) + "\n")
    q = qx_by_age(load_life_table(path), "FRA", "F")
    assert q[50] == 0.001 and q[100] == 1.0


def test_bad_life_table_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("country,year,sex,age_start,age_end,qx,source_id\nFRA,2023,female,0,0,1.7,mine\n")
    with pytest.raises(LifeTableError) as err:
        load_life_table(path)
    assert err.value.details == ["bad.csv:2:qx: must be a probability in [0, 1] (1.7)"]
