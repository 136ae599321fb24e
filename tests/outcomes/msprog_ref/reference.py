"""Call pymsprog 1.0.7 in ``.venv-msprog`` through ONE subprocess per batch of cases.

``scripts/ensure-msprog-venv.sh`` builds that virtualenv. Where it is missing the reference tests skip with
the reason, except under ``CI=true``, where a missing reference is a failure.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[3]
MSPROG_PYTHON = REPO / ".venv-msprog" / "bin" / "python"
RUNNER = Path(__file__).with_name("run_pymsprog.py")


def reference_missing_reason() -> str | None:
    """Why the reference cannot run here, or None when it can."""
    if not MSPROG_PYTHON.exists():
        return f"pymsprog reference venv missing ({MSPROG_PYTHON}); run scripts/ensure-msprog-venv.sh"
    return None


def require_reference() -> None:
    """Skip (or fail under CI=true) when the reference virtualenv is missing."""
    import pytest

    reason = reference_missing_reason()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def frame_to_csv(frame: pd.DataFrame | None) -> str | None:
    return None if frame is None else frame.to_csv(index=False)


def run_reference(datasets: dict[str, dict], cases: list[dict], timeout_s: float = 1800) -> list[dict]:
    """Run every case (``{"data": key, "kwargs": {...}}``) through pymsprog; one result dict per case.

    ``datasets`` maps a key to ``{"visits": DataFrame, "relapses": DataFrame | None}``. A result holds
    ``results`` and ``summary`` DataFrames and ``seconds`` (pymsprog's own time), or ``error``.
    """
    spec = {
        "datasets": {
            key: {"visits": frame_to_csv(d["visits"]), "relapses": frame_to_csv(d.get("relapses"))}
            for key, d in datasets.items()
        },
        "cases": cases,
    }
    with tempfile.TemporaryDirectory() as tmp:
        spec_path, out_path = Path(tmp) / "cases.json", Path(tmp) / "out.json"
        spec_path.write_text(json.dumps(spec))
        subprocess.run(
            [str(MSPROG_PYTHON), str(RUNNER), str(spec_path), str(out_path)],
            check=True,
            timeout=timeout_s,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        out = json.loads(out_path.read_text())
    parsed = []
    for case in out["cases"]:
        if "error" in case:
            parsed.append(case)
            continue
        parsed.append(
            {
                "results": pd.read_csv(io.StringIO(case["results"]), dtype={"id": str}),
                "summary": pd.read_csv(io.StringIO(case["summary"]), dtype={"id": str}),
                "seconds": case["seconds"],
            }
        )
    return parsed


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """A results table as it reads back from CSV, so ours and the reference compare cell by cell."""
    return pd.read_csv(io.StringIO(frame.to_csv(index=False)), dtype={"id": str})
