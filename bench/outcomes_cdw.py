"""Per-patient time of ``openhsct.outcomes.progression.msprog`` against pymsprog 1.0.7, same data, same run.

pymsprog runs in ``.venv-msprog`` (``scripts/ensure-msprog-venv.sh``) through one subprocess per size that
times only its ``MSprog`` call; ours is timed the same way (median of 3 runs after a warm-up that loads the
numba cache). Events are checked identical in the same run. pymsprog's cost per patient grows with cohort size
(it filters the whole table per subject), so it runs at 200 and 2,000 patients by default and at 20,000 only
with ``--full`` (or up to ``--max-ref-patients``).

    .venv/bin/python bench/outcomes_cdw.py [--full] [--max-ref-patients N] [--sizes 200 2000 20000]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from openhsct.outcomes.progression import msprog  # noqa: E402
from tests.outcomes.msprog_ref.cohort import synthetic_cohort  # noqa: E402
from tests.outcomes.msprog_ref.reference import normalise, reference_missing_reason, run_reference  # noqa: E402

KWARGS = {"event": "multiple", "RAW_PIRA": True, "baseline": "roving"}


def _machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def bench_cdw(
    sizes=(200, 2000, 20000), max_ref_patients: int = 2000, repeats: int = 3, seed: int = 2024
) -> list[dict]:
    """Timings per size: ours (s, µs/patient), pymsprog (s, µs/patient) where run, ratio, identical events."""
    visits, relapses = synthetic_cohort(max(sizes), seed)
    ids = pd.unique(visits["id"])
    msprog(visits[visits["id"].isin(ids[:50])], relapse=relapses, **KWARGS)  # load / compile the kernels
    rows = []
    can_ref = reference_missing_reason() is None
    for n in sizes:
        keep = set(ids[:n])
        v, r = visits[visits["id"].isin(keep)], relapses[relapses["id"].isin(keep)]
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            ours = msprog(v, relapse=r, **KWARGS)
            times.append(time.perf_counter() - start)
        row = {"patients": n, "visits": len(v), "ours_s": statistics.median(times)}
        row["ours_us_per_patient"] = row["ours_s"] / n * 1e6
        if can_ref and n <= max_ref_patients:
            ref = run_reference({"d": {"visits": v, "relapses": r}}, [{"data": "d", "kwargs": KWARGS}])[0]
            row["ref_s"] = ref["seconds"]
            row["ref_us_per_patient"] = ref["seconds"] / n * 1e6
            row["ratio"] = ref["seconds"] / row["ours_s"]
            try:
                pd.testing.assert_frame_equal(normalise(ours.results), ref["results"], check_dtype=False)
                row["identical"] = True
            except AssertionError:
                row["identical"] = False
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000, 20000])
    parser.add_argument(
        "--full", action="store_true", help="also run pymsprog at every size (20,000: minutes)"
    )
    parser.add_argument("--max-ref-patients", type=int, default=None, help="largest cohort given to pymsprog")
    args = parser.parse_args(argv)
    cap = (
        args.max_ref_patients
        if args.max_ref_patients is not None
        else (max(args.sizes) if args.full else 2000)
    )
    if reference_missing_reason():
        print(f"pymsprog reference not run: {reference_missing_reason()}")
    print(f"msprog events ({KWARGS}) on {_machine()}")
    print(
        f"{'patients':>9} {'visits':>8} {'ours s':>8} {'ours µs/pt':>11} {'pymsprog s':>11} "
        f"{'pymsprog µs/pt':>15} {'ratio':>8} identical"
    )
    for row in bench_cdw(tuple(args.sizes), max_ref_patients=cap):
        ref = (
            f"{row['ref_s']:>11.2f} {row['ref_us_per_patient']:>15.0f} {row['ratio']:>7.0f}× {row['identical']}"
            if "ref_s" in row
            else f"{'-':>11} {'-':>15} {'-':>8} -"
        )
        print(
            f"{row['patients']:>9} {row['visits']:>8} {row['ours_s']:>8.3f} {row['ours_us_per_patient']:>11.1f} {ref}"
        )


if __name__ == "__main__":
    main()
