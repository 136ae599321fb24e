"""Benchmark: the decision model's microsimulation backends against the plain per-patient loop, and PSA on Dask.

From one run it prints:

1. patient-cycles/s of ``microsimulate`` for each installed backend on the 21-state MS model (10 EDSS bands ×
   {RRMS, SPMS} + death, time-varying over 60 annual cycles: age-dependent mortality), wall time of the
   whole call (tables, draws, means and standard errors), and the speed-up against ``backend="python"``;
2. the PSA wall time for N samples × P patients × 60 cycles × 2 strategies (aHSCT, DMT) with 1 and 2 Dask
   workers (a ``LocalCluster`` of single-threaded worker processes), cluster start-up included, and whether
   the two tables are identical;
3. the machine. Goals: ≥ 1e8 patient-cycles/s on 2 CPU cores; ≥ 1e10 on an H100 GPU (``cupy``).

    .venv/bin/python bench/decision.py [--quick] [--samples 1000] [--patients 1000]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from openhsct.decision.microsim import available_backends, microsimulate
from openhsct.decision.ms_model import ms_cohort_inputs
from openhsct.decision.parameters import load_parameters
from openhsct.decision.psa import psa

PERSON = {"age_years": 40, "sex": "F", "phenotype": "RRMS", "edss": 3.5}
RATES = {"EUR": 100.0}
CPU_GOAL = 1e8


def machine() -> str:
    """CPU, core count, Python and OS of this run."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}{load}"


def model_21_states() -> dict:
    """The untreated MS model with its 21 states: the progression-free flag of the model's states folded away."""
    inputs, _ = ms_cohort_inputs(PERSON, load_parameters(), "dmt", dmt_sequence=(), rates=RATES)
    P = inputs["P"]
    alive = P.shape[1] - 1
    pf = list(range(1, alive, 2)) + [alive]  # origin rows: progression-free copies, then death
    rows = P[:, pf]
    P21 = np.concatenate([rows[:, :, 0:alive:2] + rows[:, :, 1:alive:2], rows[:, :, alive:]], axis=2)
    return {
        "P": P21,
        "costs": inputs["costs"][pf],
        "utilities": inputs["utilities"][pf],
        "start": inputs["start"][pf],
    }


def time_backend(model: dict, backend: str, n: int) -> float:
    """Best-of-3 wall seconds of one ``microsimulate`` call (after one warm-up call)."""
    cycles = model["P"].shape[0]
    microsimulate(**model, cycles=cycles, discount=0.03, n_patients=min(n, 1000), seed=0, backend=backend)
    best = np.inf
    for rep in range(3):
        start = time.perf_counter()
        microsimulate(**model, cycles=cycles, discount=0.03, n_patients=n, seed=rep, backend=backend)
        best = min(best, time.perf_counter() - start)
    return best


def bench_backends(quick: bool) -> None:
    model = model_21_states()
    cycles = model["P"].shape[0]
    sizes = {
        "python": 2_000 if quick else 10_000,
        "numpy": 200_000 if quick else 1_000_000,
        "numba": 1_000_000 if quick else 4_000_000,
        "cupy": 10_000_000 if quick else 50_000_000,
    }
    print(f"21-state MS model, {cycles} annual cycles, states {model['P'].shape[1]}")
    print(f"{'backend':>8} {'patients':>11} {'seconds':>9} {'patient-cycles/s':>17} {'speed-up':>9}")
    reference = None
    for backend in available_backends():
        n = sizes[backend]
        seconds = time_backend(model, backend, n)
        rate = n * cycles / seconds
        reference = reference or rate
        print(f"{backend:>8} {n:>11,} {seconds:>9.3f} {rate:>17.3e} {rate / reference:>8.1f}x")
        if backend == "numba":
            verdict = "met" if rate >= CPU_GOAL else "MISSED"
            print(f"         CPU goal >= {CPU_GOAL:.0e} patient-cycles/s: {verdict}")
    if "cupy" not in available_backends():
        print("    cupy: no GPU on this machine (backend not run)")


def bench_psa(samples: int, patients: int) -> None:
    params = load_parameters()
    tables = {}
    for workers in (1, 2):
        start = time.perf_counter()
        tables[workers] = psa(
            PERSON,
            params,
            n_samples=samples,
            n_patients=patients,
            seed=1,
            n_workers=workers,
            rates=RATES,
            backend="numba",
        )
        seconds = time.perf_counter() - start
        print(
            f"PSA {samples:,} samples x {patients:,} patients x 60 cycles x 2 strategies, "
            f"{workers} worker(s): {seconds:.1f} s"
        )
    print(f"tables identical for 1 and 2 workers: {tables[1].equals(tables[2])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (100 PSA samples)")
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--no-psa", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    bench_backends(args.quick)
    if not args.no_psa:
        bench_psa(args.samples or (100 if args.quick else 1000), args.patients)


if __name__ == "__main__":
    main()
