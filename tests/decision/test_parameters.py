"""The parameter files: schema, a citation on every row, only read numbers marked verified, and the
10-band matrix built transparently from the published 4-band one."""

import numpy as np
import pandas as pd
import pytest

from openhsct.decision.parameters import (
    PARAMETER_COLUMNS,
    ParameterError,
    data_dir,
    fine_from_coarse,
    load_coarse_transitions,
    load_parameters,
    matrix_from_long,
    parameter_problems,
)
from openhsct.decision.psa import fit_distribution

# Every number the model's sources were read for (the values the data file may mark verified=yes).
READ_IN_SOURCES = {
    0.021,
    0.013,
    0.034,
    0.014,
    0.028,
    0.010,
    0.049,
    0.07,
    0.02,
    0.24,
    0.360,
    0.132,
    0.353,
    0.139,
    0.350,
    0.399,
    0.366,
    0.68,
    0.51,
    0.90,
    0.46,
    0.39,
    0.55,
    0.79,
    0.63,
    1.00,
    0.83,
    0.74,
    0.94,
    0.10,
    0.890,
    0.679,
    0.642,
    0.596,
    0.523,
    0.458,
    0.401,
    0.310,
    0.251,
    0.217,
    1.43,
    1.60,
    1.64,
    1.67,
    1.84,
    2.27,
    3.10,
    4.45,
    6.45,
    0.870,
    -0.195,
    -0.0437,
    0.076,
    503,
    1395,
    8862,
    12000,
    60000,
    29676,
    43464,
    53454,
    66304,
    63598,
    69010,
    46600,
    93800,
    85184,
    0.5424,
    0.8202,
    0.6986,
    0.7783,
    0.4231,
    0.1138,
    0.0941,
    2.509,
    0.03,
}


@pytest.fixture(scope="module")
def raw():
    return pd.read_csv(data_dir() / "parameters.csv", dtype=str, keep_default_na=False)


def test_schema(raw):
    assert tuple(raw.columns) == PARAMETER_COLUMNS
    assert parameter_problems(raw) == []


def test_every_row_is_cited(raw):
    assert (raw["source"].str.len() > 10).all()
    assert raw["url_or_doi"].str.match(r"^(doi:10\.|https://)").all()


def test_only_read_numbers_are_verified(raw):
    verified = raw[raw["verified"] == "yes"]
    for row in verified.itertuples():
        for column in ("value", "low", "high"):
            text = getattr(row, column)
            if text:
                assert float(text) in READ_IN_SOURCES, (row.name, column, text)
    unverified = set(raw.loc[raw["verified"] == "no", "name"])
    assert {
        "dmt_cladribine_hr_progression",
        "dmt_ocrelizumab_hr_progression",
        "utility_edss4",
        "rrms_to_spms_edss3",
        "dmt_ocrelizumab_cost_annual",
    } <= unverified


def test_distributions_are_fitted_from_the_ci(raw):
    table = load_parameters().table
    for name, row in table[table["low"].notna() & (table["distribution"] != "fixed")].iterrows():
        a, b = fit_distribution(row["distribution"], row["value"], row["low"], row["high"])
        assert (row["dist_a"], row["dist_b"]) == pytest.approx((a, b), rel=1e-8), name


def test_amounts_carry_currency_and_price_year(raw):
    money = raw[raw["unit"].str.startswith("currency")]
    assert len(money) > 20
    assert (money["currency"].str.len() == 3).all()
    assert money["price_year"].str.fullmatch(r"\d{4}").all()


def test_fine_matrix_is_the_coarse_one_refined():
    coarse_bands, coarse = matrix_from_long(load_coarse_transitions())
    params = load_parameters()
    fine = params.transition_matrix()
    np.testing.assert_allclose(fine, fine_from_coarse(coarse_bands, coarse), atol=1e-10)
    owner = np.array([max(i for i, b in enumerate(coarse_bands) if b <= f) for f in params.bands])
    lump = np.zeros((len(owner), len(coarse_bands)))
    for c in range(len(coarse_bands)):
        lump[:, c] = fine[:, owner == c].sum(axis=1)
    for f, c in enumerate(owner):
        np.testing.assert_allclose(lump[f], coarse[c], atol=1e-10)
    assert "Campbell" in params.transitions["source"].iloc[0]


def test_read_cells_of_the_coarse_matrix():
    table = load_coarse_transitions()
    read = table[table["source"].str.startswith("[read] ")]
    cells = {(int(r["from"]), int(r["to"])): r["probability"] for _, r in read.iterrows()}
    assert cells == {
        (0, 0): 0.5424,
        (0, 1): 0.4231,
        (1, 1): 0.8202,
        (1, 4): 0.1138,
        (4, 4): 0.6986,
        (4, 7): 0.0941,
        (7, 7): 0.7783,
    }


def test_with_values_marks_the_user_input():
    params = load_parameters().with_values({"ahsct_cost_procedure": (1_500_000, "RUB")})
    assert params.amount("ahsct_cost_procedure") == (1_500_000, "RUB", "2024")
    assert "ahsct_cost_procedure" in set(params.unverified()["name"])
    with pytest.raises(ParameterError, match="not in"):
        params.with_values({"no_such": 1})


def test_broken_file_lists_every_problem(tmp_path, raw):
    bad = raw.copy()
    bad.loc[0, "source"] = ""
    bad.loc[1, "verified"] = "maybe"
    bad.to_csv(tmp_path / "parameters.csv", index=False)
    (tmp_path / "edss_transitions.csv").write_text((data_dir() / "edss_transitions.csv").read_text())
    with pytest.raises(ParameterError) as err:
        load_parameters(tmp_path)
    assert any(":2:source: required" in d for d in err.value.details)
    assert any(":3:verified:" in d for d in err.value.details)
