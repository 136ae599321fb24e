"""Speed of the survival core against the references, measured in the same run.

    .venv/bin/python bench/outcomes_survival.py [--quick]

* Kaplan–Meier with CI, 10^6 rows: ours vs lifelines ``KaplanMeierFitter`` (both log-log limits).
* Cumulative incidence with variance, 10^5 rows, 2 causes: ours vs lifelines ``AalenJohansenFitter``
  and, when ``Rscript`` is on the PATH, R ``cmprsk::cuminc`` (only the call, timed inside R).
* Cox with Efron ties, 10^5 rows x 5 covariates: ours vs lifelines ``CoxPHFitter``.

Each timing is the best of a few repeats (wall clock); ratio = reference / ours, so > 1 means faster.
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


def bench_km(n: int = 1_000_000, repeats: int = 5) -> dict[str, float]:
    """KM with log-log CI on ``n`` rows, integer days (many ties) and continuous times."""
    from lifelines import KaplanMeierFitter

    out: dict[str, float] = {"n": n}
    for label, integer_days in [("days", True), ("continuous", False)]:
        t, e = _survival_data(n, 1, integer_days)
        ours = _best_of(lambda t=t, e=e: kaplan_meier(t, e, conf_type="log-log"), repeats)
        ref = _best_of(lambda t=t, e=e: KaplanMeierFitter().fit(t, e), max(2, repeats // 2))
        out[f"ours_{label}_s"] = ours
        out[f"lifelines_{label}_s"] = ref
        out[f"ratio_{label}"] = ref / ours
    return out


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


def _machine() -> str:
    return (
        f"{platform.platform()} | {platform.processor() or platform.machine()} | "
        f"{os.cpu_count()} CPUs | Python {platform.python_version()} | numpy {np.__version__}"
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
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    print(f"machine: {_machine()}")
    _show("Kaplan-Meier + CI (ratio = lifelines / ours)", bench_km(n=1_000_000 // scale))
    _show("Cumulative incidence + variance (ratio = reference / ours)", bench_cif(n=100_000 // scale))
    _show("Cox PH, Efron (ratio = lifelines / ours)", bench_cox(n=100_000 // scale))


if __name__ == "__main__":
    main()
