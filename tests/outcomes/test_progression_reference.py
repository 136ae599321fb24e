"""Agreement with pymsprog 1.0.7, event for event: its toy data and seeded synthetic cohorts with relapses.

All cases of this module go through ONE pymsprog subprocess (``.venv-msprog``; see
``scripts/ensure-msprog-venv.sh``). A case where pymsprog raises must raise here too.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.outcomes.msprog_ref.cohort import synthetic_cohort
from tests.outcomes.msprog_ref.compare import ours
from tests.outcomes.msprog_ref.grid import SINGLE_RULES, random_grid
from tests.outcomes.msprog_ref.reference import MSPROG_PYTHON, require_reference, run_reference

pytestmark = pytest.mark.reference

SEEDS = (101, 202)
RANDOM_GRID = random_grid(40, seed=7)


def _toy_data() -> dict:
    import subprocess

    code = (
        "import pymsprog, sys; v, r = pymsprog.load_toy_data(); "
        "sys.stdout.write(v.to_csv(index=False) + '\\f' + r.to_csv(index=False))"
    )
    out = subprocess.run([str(MSPROG_PYTHON), "-c", code], check=True, capture_output=True, text=True).stdout
    import io

    visits, relapses = out.split("\f")
    return {
        "visits": pd.read_csv(io.StringIO(visits), dtype={"id": str})[["id", "date", "EDSS"]],
        "relapses": pd.read_csv(io.StringIO(relapses), dtype={"id": str})[["id", "date"]],
    }


@pytest.fixture(scope="module")
def batch():
    require_reference()
    datasets = {"toy": _toy_data()}
    for seed in SEEDS:
        visits, relapses = synthetic_cohort(24, seed)
        datasets[f"seed{seed}"] = {"visits": visits, "relapses": relapses}
    visits, relapses = synthetic_cohort(24, 303)
    datasets["no_relapses"] = {"visits": visits, "relapses": None}
    datasets["random"] = {"visits": visits, "relapses": relapses}
    cases = [
        {"data": key, "kwargs": kw} for key in ("toy", *(f"seed{s}" for s in SEEDS)) for kw in SINGLE_RULES
    ]
    cases += [{"data": "no_relapses", "kwargs": kw} for kw in SINGLE_RULES[:12]]
    cases += [{"data": "random", "kwargs": kw} for kw in RANDOM_GRID]
    # A deliberately different setting: the harness must see the difference (guards against a vacuous pass).
    cases.append({"data": "seed101", "kwargs": {"event": "firstCDW"}})
    return datasets, cases, run_reference(datasets, cases)


def _check(batch, index: int, kwargs: dict | None = None) -> None:
    datasets, cases, reference = batch
    case, ref = cases[index], reference[index]
    mine = ours(datasets[case["data"]], kwargs if kwargs is not None else case["kwargs"])
    if "error" in ref:
        assert "error" in mine, f"pymsprog raised {ref['error']!r}; ours returned results"
        return
    assert "error" not in mine, mine.get("error")
    pd.testing.assert_frame_equal(mine["results"], ref["results"], check_dtype=False)
    pd.testing.assert_frame_equal(mine["summary"], ref["summary"], check_dtype=False)


def _ids(prefix: str, grid: list[dict]) -> list[str]:
    return [f"{prefix}-{i}-" + "-".join(f"{k}={v}" for k, v in kw.items())[:80] for i, kw in enumerate(grid)]


@pytest.mark.parametrize("i", range(len(SINGLE_RULES)), ids=_ids("toy", SINGLE_RULES))
def test_toy_data_matches_pymsprog(batch, i):
    _check(batch, i)


@pytest.mark.parametrize("seed_pos", range(len(SEEDS)))
@pytest.mark.parametrize("i", range(len(SINGLE_RULES)), ids=_ids("rule", SINGLE_RULES))
def test_each_rule_matches_pymsprog_on_synthetic_cohorts(batch, seed_pos, i):
    _check(batch, (1 + seed_pos) * len(SINGLE_RULES) + i)


@pytest.mark.parametrize("i", range(12))
def test_cohort_without_relapse_data_matches_pymsprog(batch, i):
    _check(batch, (1 + len(SEEDS)) * len(SINGLE_RULES) + i)


@pytest.mark.parametrize("i", range(len(RANDOM_GRID)))
def test_random_argument_mixtures_match_pymsprog(batch, i):
    _check(batch, (1 + len(SEEDS)) * len(SINGLE_RULES) + 12 + i)


def test_harness_sees_a_difference(batch):
    """Ours with event='multiple' against pymsprog's firstCDW on the same data must differ."""
    with pytest.raises(AssertionError):
        _check(batch, len(batch[1]) - 1, kwargs={"event": "multiple"})
