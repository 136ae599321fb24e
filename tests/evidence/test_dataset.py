import pandas as pd
import pytest

from openhsct.errors import ValidationError
from openhsct.evidence.dataset import (
    COHORT_SCHEMA,
    COST_SCHEMA,
    DEATH_ASCERTAINMENT,
    OUTCOMES,
    POOLING_SCHEMA,
    _check,
    _read,
    citation_of,
    groupings,
    load_cohorts,
    load_costs,
    load_pooling,
    overlap_conflicts,
    overlap_labels,
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


def _shared_cohorts():
    """The curated shared table beside the checkout (``../shared/evidence/cohorts.csv``), or ``None``."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    path = root.parent / "shared" / "evidence" / "cohorts.csv"
    return path if path.exists() else None


def test_no_number_beyond_the_shared_data():
    """The shipped table is the shared one cell for cell (``overlap_group`` and ``death_ascertainment``
    included) plus ``row_type`` and the derived ``citation``. Where the shared table is beside the
    checkout a difference fails; only a checkout without it (a wheel, a bare clone) skips."""
    shared = _shared_cohorts()
    if shared is None:
        pytest.skip("no ../shared/evidence/cohorts.csv beside this checkout")
    _assert_same_as_shared(_read("cohorts.csv"), pd.read_csv(shared, dtype=str, keep_default_na=False))


def _assert_same_as_shared(ours: pd.DataFrame, src: pd.DataFrame) -> None:
    assert set(ours.columns) - set(src.columns) == {"row_type", "citation"}
    pd.testing.assert_frame_equal(ours[list(src.columns)], src)


def test_costs_match_the_shared_data():
    from pathlib import Path

    shared = Path(__file__).resolve().parents[2].parent / "shared" / "evidence" / "costs.csv"
    if not shared.exists():
        pytest.skip("no ../shared/evidence/costs.csv beside this checkout")
    pd.testing.assert_frame_equal(_read("costs.csv"), pd.read_csv(shared, dtype=str, keep_default_na=False))


def test_a_difference_from_the_shared_data_fails():
    """The cross-check cannot pass by accident: one changed overlap label is a failure."""
    src = _read("cohorts.csv").drop(columns=["row_type", "citation"])
    changed = _read("cohorts.csv")
    _assert_same_as_shared(changed, src)
    changed.loc[0, "overlap_group"] = "Elsewhere"
    with pytest.raises(AssertionError):
        _assert_same_as_shared(changed, src)


def test_citations_are_derived_from_the_other_columns(cohorts):
    raw = _read("cohorts.csv")
    derived = [citation_of(r.first_author, r.year, r.journal, r.doi_or_pmid) for r in raw.itertuples()]
    assert raw["citation"].tolist() == derived
    assert raw.set_index("key").loc["burman2014_sweden", "citation"] == (
        "Burman J (2014). Journal of Neurology, Neurosurgery & Psychiatry. 10.1136/jnnp-2013-307207"
    )
    assert citation_of("", "", "", "") == (
        "(authors not shown on the pages read) (year not shown). no DOI/PMID on the pages read"
    )


def test_overlap_labels_and_conflicts():
    assert overlap_labels("MIST; Northwestern-Burt; Sweden; UK") == ["MIST", "Northwestern-Burt", "Sweden", "UK"]
    assert overlap_labels(float("nan")) == [] and overlap_labels("") == []
    cells = pd.Series(["Italy; EBMT-LT-1995-2006", "EBMT-LT-1995-2006", "UK", None])
    assert overlap_conflicts(cells) == ["EBMT-LT-1995-2006"]
    assert overlap_conflicts(cells.iloc[1:]) == []


def test_death_ascertainment_is_one_of_four(cohorts):
    assert set(cohorts["death_ascertainment"]) == set(DEATH_ASCERTAINMENT)
    mexico = cohorts.set_index("key").loc["ruizarguelles_mexico_617", "death_ascertainment"]
    assert mexico == "limited (e.g. short follow-up, self-report)"


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
        labels = [label for cell in groups[keys] for label in overlap_labels(cell)]
        assert len(labels) == len(set(labels)), outcome
    trm = set(pooling[(pooling.outcome == "trm") & (pooling.pooled == "yes")]["key"])
    # all-cause reports are preferred within an overlap group: the 258 RRMS (no deaths at all) over the
    # 418 (transplant-related deaths only); the Italian 100-day series over the EBMT 1995-2006 series
    assert "melnichenko2021_ctt_rrms" in trm and "melnichenko2022_pirogov_418" not in trm
    assert "boffa2021_italy" in trm and "muraro2017_ebmt_longterm" not in trm
    assert "burt2019_mist_dmt" not in trm and "burt2019_mist" not in trm  # MIST shares Sweden and UK


def test_pooling_rules_catch_an_overlap_and_a_missing_decision(cohorts):
    pooling = load_pooling(cohorts)
    bad = pooling.copy()
    bad.loc[(bad.outcome == "trm") & (bad.key == "silfverberg2024_sweden"), "pooled"] = "yes"
    bad.loc[(bad.outcome == "trm") & (bad.key == "muraro2017_ebmt_longterm"), "pooled"] = "yes"
    bad = bad[~((bad.outcome == "pfs_5y") & (bad.key == "nash2017_haltms"))]
    problems = pooling_problems(bad, cohorts)
    assert any("overlap group 'Sweden' for trm" in p for p in problems)
    assert any("overlap group 'EBMT-LT-1995-2006' for trm" in p for p in problems)
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
