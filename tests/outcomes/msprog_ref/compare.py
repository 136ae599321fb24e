"""Run ours and pymsprog on the same cases and list every difference (used by tests and by hand)."""

from __future__ import annotations

import pandas as pd

from openhsct.outcomes.progression import MsprogArgumentError, msprog
from tests.outcomes.msprog_ref.reference import normalise, run_reference


def ours(data: dict, kwargs: dict) -> dict:
    try:
        result = msprog(data["visits"], relapse=data.get("relapses"), **kwargs)
    except MsprogArgumentError as exc:
        return {"error": exc.message}
    summary = result.summary.reset_index().rename(columns={"index": "id"})
    return {"results": normalise(result.results), "summary": normalise(summary)}


def differences(datasets: dict[str, dict], cases: list[dict]) -> list[str]:
    """One line per case where ours and pymsprog disagree (an error on one side only counts as one)."""
    reference = run_reference(datasets, cases)
    problems = []
    for i, (case, ref) in enumerate(zip(cases, reference, strict=True)):
        mine = ours(datasets[case["data"]], case["kwargs"])
        label = f"case {i} data={case['data']} kwargs={case['kwargs']}"
        if "error" in ref or "error" in mine:
            if ("error" in ref) != ("error" in mine):
                problems.append(
                    f"{label}: reference={ref.get('error', 'ok')!r} ours={mine.get('error', 'ok')!r}"
                )
            continue
        for table in ("results", "summary"):
            try:
                pd.testing.assert_frame_equal(mine[table], ref[table], check_dtype=False)
            except AssertionError as exc:
                problems.append(f"{label}: {table}: {exc}")
    return problems
