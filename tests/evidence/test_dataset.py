import pandas as pd
import pytest

from openhsct.errors import ValidationError
from openhsct.evidence.dataset import (
    COHORT_SCHEMA,
    COST_SCHEMA,
    OUTCOMES,
    POOLING_SCHEMA,
    _check,
    _read,
    groupings,
    load_cohorts,
    load_costs,
    load_pooling,
    pooling_problems,
)


@pytest.fixture(scope="module")
def cohorts():
    return load_cohorts()


def test_shipped_tables_match_their_schemas():
    for name, schema in (
        ("cohorts.csv", COHORT_SCHEMA),
        ("costs.csv", COST_SCHEMA),
        ("pooling.csv", POOLING_SCHEMA),
    ):
        assert _check(_read(name), schema, name) == []


def test_types_and_allowed_values(cohorts):
    assert list(cohorts.columns) == [c.name for c in COHORT_SCHEMA]
    assert str(cohorts["n_patients"].dtype) == "Int64"
    assert cohorts["pfs_5y"].dtype == float
    for col in COHORT_SCHEMA:
        if col.allowed:
            assert set(cohorts[col.name].dropna()) <= set(col.allowed), col.name
    assert cohorts["key"].is_unique


def test_every_row_is_cited(cohorts):
    assert cohorts["citation"].notna().all()
    assert cohorts["source_url"].str.startswith("http").all()
    costs = load_costs()
    assert costs["source_url"].str.startswith("http").all()


def test_no_number_beyond_the_shared_data():
    """The shipped table is the shared one plus three bookkeeping columns, cell for cell."""
    from pathlib import Path

    beside = Path(__file__).resolve().parents[3] / "shared" / "evidence" / "cohorts.csv"
    shared = beside if beside.exists() else Path("/work/shared/evidence/cohorts.csv")
    if not shared.exists():
        pytest.skip("shared data not on this machine")
    src = pd.read_csv(shared, dtype=str, keep_default_na=False)
    ours = _read("cohorts.csv").drop(columns=["row_type", "overlap_group", "citation"])
    pd.testing.assert_frame_equal(ours, src)


def test_meta_analyses_and_designs_are_never_pooled(cohorts):
    pooling = load_pooling(cohorts)
    types = cohorts.set_index("key")["row_type"]
    assert (types[pooling.loc[pooling.pooled == "yes", "key"]] == "study").all()
    assert {"sormani2017_meta", "nabizadeh2022_meta", "ge2019_meta", "zhang2020_bmt_meta"} <= set(
        types[types == "meta_analysis"].index
    )


def test_overlapping_cohorts_are_pooled_once_per_outcome(cohorts):
    pooling = load_pooling(cohorts)
    groups = cohorts.set_index("key")["overlap_group"]
    for outcome in OUTCOMES:
        keys = pooling[(pooling.outcome == outcome) & (pooling.pooled == "yes")]["key"]
        g = groups[keys].dropna()
        assert g.is_unique, outcome
    trm = set(pooling[(pooling.outcome == "trm") & (pooling.pooled == "yes")]["key"])
    assert "melnichenko2022_pirogov_418" in trm and "melnichenko2021_ctt_rrms" not in trm
    assert "burt2019_mist_dmt" not in trm


def test_pooling_rules_catch_an_overlap_and_a_missing_decision(cohorts):
    pooling = load_pooling(cohorts)
    bad = pooling.copy()
    bad.loc[(bad.outcome == "trm") & (bad.key == "burman2014_sweden"), "pooled"] = "yes"
    bad = bad[~((bad.outcome == "pfs_5y") & (bad.key == "nash2017_haltms"))]
    problems = pooling_problems(bad, cohorts)
    assert any("overlap group 'sweden_national' for trm" in p for p in problems)
    assert any("a decision for pfs_5y on 'nash2017_haltms'" in p for p in problems)


def test_schema_problems_name_file_row_and_column():
    raw = _read("cohorts.csv")
    raw.loc[0, "verified"] = "maybe"
    raw.loc[2, "pfs_5y"] = "120"
    raw.loc[3, "source_url"] = ""
    problems = _check(raw, COHORT_SCHEMA, "cohorts.csv")
    assert "cohorts.csv:2:verified: one of ['yes', 'partial', 'no'] ('maybe')" in problems
    assert "cohorts.csv:4:pfs_5y: within [0.0, 100.0] ('120')" in problems
    assert "cohorts.csv:5:source_url: required ('')" in problems


def test_load_raises_with_details(monkeypatch):
    import openhsct.evidence.dataset as ds

    raw = _read("costs.csv")
    raw.loc[0, "price"] = "lots"
    monkeypatch.setattr(ds, "_read", lambda name: raw)
    ds._load_cached.cache_clear()
    with pytest.raises(ValidationError) as err:
        ds.load_costs()
    monkeypatch.undo()
    ds._load_cached.cache_clear()
    assert err.value.details == ["costs.csv:2:price: a number or a range 'low-high' ('lots')"]


def test_cost_ranges_are_parsed():
    costs = load_costs()
    row = costs[costs["price"] == "25000-30000"].iloc[0]
    assert (row.price_low, row.price_high) == (25000.0, 30000.0)


def test_groupings(cohorts):
    g = groupings(cohorts)
    assert g.loc["burt2019_mist", "phenotype"] == "RRMS only"
    assert g.loc["uk2025_realworld", "era"] == "2020 or later"
    assert g.loc["ruizarguelles_mexico_617", "era"] == "unknown"
    assert g.loc["atkins2016_lancet", "intensity"] == "high"
