import json

from typer.testing import CliRunner

from openhsct.cli import app

runner = CliRunner()


def test_list_all_rows_with_citations():
    res = runner.invoke(app, ["evidence", "list"], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "uk2025_realworld" in res.output and "10.1001/jama.2018.18743" in res.output


def test_list_one_outcome_shows_pooling_decisions():
    res = runner.invoke(app, ["evidence", "list", "--outcome", "trm"], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "melnichenko2021_ctt_rrms" in res.output and "subset of" in res.output


def test_meta_prints_pooled_estimate_and_writes_json(tmp_path):
    out = tmp_path / "trm.json"
    res = runner.invoke(
        app,
        ["evidence", "meta", "--outcome", "trm", "--model", "logit", "--method", "dl", "--json", str(out)],
        env={"COLUMNS": "250"},
    )
    assert res.exit_code == 0, res.output
    assert "Transplant-related mortality" in res.output and "Prediction interval" in res.output
    data = json.loads(out.read_text())
    assert data["method"] == "DL" and data["k"] == len(data["studies"]) == 6
    assert all(s["source_url"] for s in data["studies"])


def test_meta_by_subgroup():
    res = runner.invoke(
        app,
        [
            "evidence",
            "meta",
            "--outcome",
            "pfs_5y",
            "--model",
            "logit",
            "--by",
            "intensity",
            "--test",
            "knha",
        ],
        env={"COLUMNS": "250"},
    )
    assert res.exit_code == 0, res.output
    assert "Test of subgroup differences" in res.output and "mixed" in res.output


def test_bad_option_is_a_usage_error():
    res = runner.invoke(app, ["evidence", "meta", "--outcome", "os_10y"])
    assert res.exit_code == 2


def test_bad_level_is_a_validation_error():
    res = runner.invoke(app, ["evidence", "meta", "--outcome", "trm", "--level", "120"])
    assert res.exit_code == 2
    assert "--level" in res.output


def test_json_of_a_single_study_under_knha_has_nulls_not_nan(tmp_path):
    out = tmp_path / "pfs2.json"
    res = runner.invoke(
        app,
        ["evidence", "meta", "--outcome", "pfs_2y", "--model", "logit", "--test", "knha", "--json", str(out)],
        env={"COLUMNS": "250"},
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["k"] == 1 and data["kind"] == "single study" and data["pi_lower"] is None
    assert abs(data["proportion"] - 0.835) < 1e-12 and data["ci_lower"] < 0.835 < data["ci_upper"]
    assert "Single study, not pooled (uk2025_realworld)" in res.output


def test_glmm_meta_names_each_estimate_and_runs_the_sensitivity_analyses(tmp_path):
    from openhsct.evidence.pooling import pooled_outcome

    out = tmp_path / "trm.json"
    res = runner.invoke(
        app,
        ["evidence", "meta", "--outcome", "trm", "--model", "glmm", "--sensitivity", "--json", str(out)],
        env={"COLUMNS": "250"},
    )
    assert res.exit_code == 0, res.output
    pooled = pooled_outcome("trm")
    for name, est in (
        ("Pooled, population-averaged (marginal)", pooled.marginal),
        ("Median study (expit β)", pooled.median_study),
        (f"Crude rate ({pooled.events:g} / {pooled.n_total})", pooled.crude),
    ):
        line = next(x for x in res.output.splitlines() if name in x)
        assert f"{100 * est.estimate:.2f}%" in line, line
    assert "all-cause death by day 100 (published series)" in res.output
    assert (
        "Without series whose death ascertainment is limited" in res.output and "OR per decade" in res.output
    )
    data = json.loads(out.read_text())
    assert (
        data["marginal"]["estimate"] == data["proportion"]
        and data["median_study"]["method"] == "Wald (logit)"
    )
    assert [a["name"] for a in data["sensitivity"]["analyses"]] == ["ascertainment", "largest_per_group"]
