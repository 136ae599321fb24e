"""Benchmark: the whole all-centre summary (endpoints, TRM, NEDA-3, strata, costs, centre comparison) on
synthetic registries of 1,000 and 100,000 patients. Target: under 15 s at 100,000 patients on 2 cores.

The reference printed beside ours is lifelines' Kaplan–Meier fit on the same overall-survival times (the
one step a hand-written analysis would certainly do), measured in the same run, so the ratio says how many
"KM fits" the whole summary costs. Run: ``python bench/outcomes_summary.py [--sizes 1000 100000]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

TARGET_S = 15.0


def _tables(patients: int, seed: int = 2026):
    from openhsct.registry import synth

    centres = max(3, min(40, patients // 2500))
    return {name: synth.typed(frame) for name, frame in synth.generate(centres, patients, seed).items()}


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def bench_summary(sizes=(1000, 100000)) -> list[dict]:
    """Time ``registry_outcomes`` + ``all_centres_summary`` + ``centre_comparison`` for each size."""
    from lifelines import KaplanMeierFitter

    from openhsct.outcomes.endpoints import registry_outcomes
    from openhsct.outcomes.summary import all_centres_summary, centre_comparison

    warm = _tables(300, seed=1)  # compile msprog's numba code and import statsmodels before timing
    centre_comparison(warm, outcomes=registry_outcomes(warm))
    rows = []
    for n in sizes:
        tables = _tables(n)
        outcomes, t_outcomes = _timed(registry_outcomes, tables)
        _, t_summary = _timed(all_centres_summary, tables, outcomes=outcomes)
        _, t_compare = _timed(centre_comparison, tables, outcomes=outcomes)
        p = outcomes.patients
        _, t_ref = _timed(KaplanMeierFitter().fit, p["os_time"], p["os_event"])
        total = t_outcomes + t_summary + t_compare
        rows.append(
            {
                "patients": n,
                "transplanted": len(p),
                "outcomes_s": t_outcomes,
                "summary_s": t_summary,
                "comparison_s": t_compare,
                "total_s": total,
                "lifelines_km_s": t_ref,
                "ratio_vs_km": total / t_ref if t_ref else float("nan"),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100000])
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    for r in bench_summary(tuple(args.sizes)):
        verdict = (
            ""
            if r["patients"] < 100000
            else (" (target met)" if r["total_s"] < TARGET_S else " (TARGET MISSED)")
        )
        print(
            f"{r['patients']:>7,} patients ({r['transplanted']:,} transplanted): outcomes {r['outcomes_s']:.2f} s, "
            f"summary {r['summary_s']:.2f} s, comparison {r['comparison_s']:.2f} s, total {r['total_s']:.2f} s"
            f"{verdict}; lifelines KM {r['lifelines_km_s'] * 1000:.1f} ms; ratio {r['ratio_vs_km']:.0f}x"
        )


if __name__ == "__main__":
    main()
