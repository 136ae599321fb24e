"""The decision engines import no Django, and importing the package pulls in neither numba nor Dask."""

import subprocess
import sys

MODULES = ["markov", "microsim", "ms_model", "parameters", "lifetables", "psa", "voi"]


def _imported_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_no_django():
    code = "\n".join(f"import openhsct.decision.{m}" for m in MODULES)
    loaded = _imported_after(code)
    assert "openhsct.decision.ms_model" in loaded
    assert not {m for m in loaded if m == "django" or m.startswith("django.")}


def test_package_import_is_light():
    loaded = _imported_after("import openhsct.decision as d; d.markov_cohort")
    assert "openhsct.decision.markov" in loaded
    assert "numba" not in loaded and "distributed" not in loaded
