"""Speed of the survival core against the references, measured in the same run.

    .venv/bin/python bench/outcomes_survival.py [--quick] [--part km|cif|cox ...]

* Kaplan–Meier with 95 % log-log CI, 10^6 rows, integer days and continuous times apart: ours vs
  lifelines ``KaplanMeierFitter`` (exponential Greenwood, i.e. log-log), median of warm calls, with the
  targets (>= 3x on integer days, >= 8x on continuous times) and whether each is met.
* Cumulative incidence with variance, 10^5 rows, 2 causes: ours vs lifelines ``AalenJohansenFitter``
  and, when ``Rscript`` is on the PATH, R ``cmprsk::cuminc`` (only the call, timed inside R).
* Cox with Efron ties, 10^5 rows x 5 covariates: ours vs lifelines ``CoxPHFitter``.

Kaplan–Meier timings are medians of warm repeats; the others are the best of a few repeats (wall clock).
Ratio = reference / ours, so > 1 means faster.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from openhsct.outcomes.competing_risks import cumulative_incidence
from openhsct.outcomes.cox import cox_ph
from openhsct.outcomes.kaplan_meier import kaplan_meier


def _best_of(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _survival_data(n: int, seed: int, integer_days: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t_event = rng.exponential(1500.0, n)
    t_cens = rng.uniform(0, 3650.0, n)
    time_ = np.minimum(t_event, t_cens)
    if integer_days:
        time_ = np.ceil(time_)
    return time_, (t_event <= t_cens).astype(np.int64)


KM_TARGETS = {"integer days": 3.0, "continuous times": 8.0}
KM_REPEATS = 7


def _median_interleaved(
    ours: Callable[[], object], ref: Callable[[], object], repeats: int
) -> tuple[float, float, float, float]:
    """First (cold) call of each, then the median of ``repeats`` warm calls, ours and the reference
    alternating so that load from other work on a shared machine falls on both alike."""
    cold_ours, cold_ref = _seconds(ours), _seconds(ref)
    warm_ours, warm_ref = [], []
    for _ in range(repeats):
        warm_ours.append(_seconds(ours))
        warm_ref.append(_seconds(ref))
    return cold_ours, cold_ref, float(np.median(warm_ours)), float(np.median(warm_ref))


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_km(n: int = 1_000_000, repeats: int = 7) -> dict[str, dict[str, float]]:
    """KM with 95 % log-log CI on ``n`` rows: integer days (many ties) and continuous times (no ties).

    Ours: ``kaplan_meier(time, event, conf_type="log-log")``, the whole table (times, numbers at risk,
    events, censorings, S, standard error, limits). Reference: lifelines ``KaplanMeierFitter().fit``,
    whose default interval is the exponential Greenwood one, i.e. log-log, at 95 %.
    """
    from lifelines import KaplanMeierFitter

    out: dict[str, dict[str, float]] = {}
    for label, integer_days in [("integer days", True), ("continuous times", False)]:
        t, e = _survival_data(n, 1, integer_days)
        cold_ours, cold_ref, ours, ref = _median_interleaved(
            lambda t=t, e=e: kaplan_meier(t, e, conf_type="log-log"),
            lambda t=t, e=e: KaplanMeierFitter().fit(t, e),
            repeats,
        )
        out[label] = {
            "distinct_times": int(np.unique(t).size),
            "ours_s": ours,
            "lifelines_s": ref,
            "ratio": ref / ours,
            "target": KM_TARGETS[label],
            "ours_cold_s": cold_ours,
            "lifelines_cold_s": cold_ref,
        }
    return out


def _show_km(n: int, result: dict[str, dict[str, float]], repeats: int) -> None:
    print(f"\nKaplan-Meier + 95% log-log CI, {n:,} rows (ratio = lifelines / ours)")
    print('  ours: kaplan_meier(time, event, conf_type="log-log"), full table')
    print("  lifelines: KaplanMeierFitter().fit(time, event), exponential Greenwood (= log-log) 95% CI")
    print(f"  times: median of {repeats} warm calls, interleaved; the first (cold) call shown apart")
    for label, row in result.items():
        verdict = "MET" if row["ratio"] >= row["target"] else "MISSED"
        print(
            f"  {label:<17} ({row['distinct_times']:>9,} distinct)  ours {row['ours_s'] * 1e3:8.1f} ms  "
            f"lifelines {row['lifelines_s'] * 1e3:8.1f} ms  ratio {row['ratio']:5.1f}x  "
            f"target >= {row['target']:.0f}x {verdict}  "
            f"(cold: ours {row['ours_cold_s'] * 1e3:.1f} ms, lifelines {row['lifelines_cold_s'] * 1e3:.1f} ms)"
        )


def _competing_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t_event = rng.exponential(1500.0, n)
    t_cens = rng.uniform(0, 3650.0, n)
    cause = np.where(t_event <= t_cens, rng.integers(1, 3, n), 0)
    return np.minimum(t_event, t_cens), cause


def _r_cuminc_seconds(t: np.ndarray, cause: np.ndarray, repeats: int) -> float | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cif.csv"
        pd.DataFrame({"time": t, "cause": cause}).to_csv(path, index=False)
        code = (
            "suppressPackageStartupMessages(library(cmprsk));"
            f"d <- read.csv('{path}');"
            f"best <- min(sapply(1:{repeats}, function(i) "
            "system.time(cuminc(d$time, d$cause))[['elapsed']]));"
            "cat(sprintf('%.6f', best))"
        )
        run = subprocess.run([rscript, "-e", code], capture_output=True, text=True, timeout=600, check=False)
    if run.returncode != 0:
        print(f"R cuminc failed: {run.stderr.strip()[:300]}")
        return None
    return float(run.stdout.strip().splitlines()[-1])


def bench_cif(n: int = 100_000, repeats: int = 5) -> dict[str, float]:
    """CIF of two causes with variance and CI on ``n`` rows (continuous times: lifelines jitters ties)."""
    from lifelines import AalenJohansenFitter

    t, cause = _competing_data(n, 2)
    out: dict[str, float] = {"n": n}
    out["ours_s"] = _best_of(lambda: cumulative_incidence(t, cause), repeats)

    def lifelines_both_causes() -> None:
        for k in (1, 2):
            AalenJohansenFitter(calculate_variance=True).fit(t, cause, event_of_interest=k)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["lifelines_s"] = _best_of(lifelines_both_causes, 1)
    out["ratio_lifelines"] = out["lifelines_s"] / out["ours_s"]
    r_seconds = _r_cuminc_seconds(t, cause, repeats)
    if r_seconds is not None:
        out["r_cuminc_s"] = r_seconds
        out["ratio_r"] = r_seconds / out["ours_s"]
    return out


def bench_cox(n: int = 100_000, p: int = 5, repeats: int = 3) -> dict[str, float]:
    """Cox (Efron) on ``n`` rows and ``p`` covariates, integer-day times (ties)."""
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, p))
    lp = x @ np.linspace(0.5, -0.3, p)
    t_event = rng.exponential(1500.0 * np.exp(-lp))
    t_cens = rng.uniform(0, 3650.0, n)
    data = pd.DataFrame(x, columns=[f"x{i}" for i in range(1, p + 1)])
    data["time"] = np.ceil(np.minimum(t_event, t_cens))
    data["event"] = (t_event <= t_cens).astype(int)
    out: dict[str, float] = {"n": n, "p": p}
    out["ours_s"] = _best_of(lambda: cox_ph(data, "time", "event"), repeats)
    out["lifelines_s"] = _best_of(lambda: CoxPHFitter().fit(data, "time", "event"), max(1, repeats - 1))
    out["ratio"] = out["lifelines_s"] / out["ours_s"]
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _machine() -> str:
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (
        f"{_cpu_model()} | {cores} cores ({usable} usable) | load average {load} | {platform.platform()} | "
        f"Python {platform.python_version()} | numpy {np.__version__}"
    )


def _show(title: str, result: dict[str, float]) -> None:
    print(f"\n{title}")
    for key, value in result.items():
        if key.endswith("_s"):
            print(f"  {key:<24} {value * 1e3:10.1f} ms")
        elif key.startswith("ratio"):
            print(f"  {key:<24} {value:10.1f} x")
        else:
            print(f"  {key:<24} {value:>10,}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes, for a smoke run")
    parser.add_argument("--part", choices=["km", "cif", "cox"], action="append", help="run only these parts")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    parts = args.part or ["km", "cif", "cox"]
    print(f"machine: {_machine()}")
    if "km" in parts:
        km_n = 1_000_000 // scale
        _show_km(km_n, bench_km(n=km_n, repeats=KM_REPEATS), KM_REPEATS)
    if "cif" in parts:
        _show("Cumulative incidence + variance (ratio = reference / ours)", bench_cif(n=100_000 // scale))
    if "cox" in parts:
        _show("Cox PH, Efron (ratio = lifelines / ours)", bench_cox(n=100_000 // scale))


if __name__ == "__main__":
    main()
