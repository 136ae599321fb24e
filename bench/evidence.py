"""Benchmark: openhsct.evidence.rma (REML, with and without moderators) against metafor::rma.

Same data for both (a temporary CSV), same run. R times itself with ``system.time`` around the ``rma``
calls only (not start-up, package loading or reading the CSV). Claim: >= 100x metafor at k = 2,000.

    .venv/bin/python bench/evidence.py [--k 20 200 2000] [--no-r]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from openhsct.evidence.meta import rma

R_SCRIPT = r"""
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); reps <- as.integer(args[2])
t0 <- system.time(for (i in seq_len(reps)) r0 <- rma(yi, vi, data = d, method = "REML"))[["elapsed"]] / reps
t1 <- system.time(for (i in seq_len(reps)) r1 <- rma(yi, vi, mods = ~ x1 + x2, data = d,
                                                       method = "REML"))[["elapsed"]] / reps
cat(sprintf("%.9f %.9f %.12f %.12f\n", t0, t1, r0$tau2, r1$tau2))
"""


def make_data(k: int, seed: int = 2026) -> pd.DataFrame:
    """k studies with sampling variances in [0.01, 0.5], tau^2 = 0.1 and two moderators."""
    rng = np.random.default_rng(seed + k)
    vi = rng.uniform(0.01, 0.5, k)
    x1, x2 = rng.normal(size=k), rng.uniform(0, 1, k)
    yi = 0.2 + 0.1 * x1 - 0.3 * x2 + rng.normal(0, np.sqrt(vi + 0.1))
    return pd.DataFrame({"yi": yi, "vi": vi, "x1": x1, "x2": x2})


def time_ours(d: pd.DataFrame, mods: bool, min_seconds: float = 0.2) -> tuple[float, float]:
    """Median seconds per call over repeated calls, and the tau^2 it found."""
    m = d[["x1", "x2"]] if mods else None
    res = rma(d.yi, d.vi, method="REML", mods=m)
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_seconds or len(times) < 5:
        t = time.perf_counter()
        rma(d.yi, d.vi, method="REML", mods=m)
        times.append(time.perf_counter() - t)
    return float(np.median(times)), res.tau2


def time_metafor(d: pd.DataFrame, reps: int) -> tuple[float, float, float, float] | None:
    """(seconds without mods, seconds with mods, tau^2, tau^2 with mods) from metafor, or None."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv, script = Path(tmp) / "d.csv", Path(tmp) / "bench.R"
        d.to_csv(csv, index=False, float_format="%.17g")
        script.write_text(R_SCRIPT)
        out = subprocess.run(
            [rscript, str(script), str(csv), str(reps)],
            capture_output=True,
            text=True,
            check=True,
            timeout=900,
        )
    t0, t1, tau0, tau1 = (float(v) for v in out.stdout.split())
    return t0, t1, tau0, tau1


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, nargs="+", default=[20, 200, 2000])
    ap.add_argument("--no-r", action="store_true", help="time only ours")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print(f"{'k':>6} {'model':>10} {'ours (ms)':>12} {'metafor (ms)':>14} {'ratio':>9} {'|dtau2|':>10}")
    for k in args.k:
        d = make_data(k)
        ref = None if args.no_r else time_metafor(d, reps=1 if k >= 1000 else 20 if k >= 100 else 100)
        for j, mods in enumerate((False, True)):
            ours, tau2 = time_ours(d, mods)
            label = "mods x1+x2" if mods else "intercept"
            if ref is None:
                print(f"{k:>6} {label:>10} {1e3 * ours:>12.3f} {'-':>14} {'-':>9} {'-':>10}")
                continue
            theirs, tau2_r = ref[j], ref[2 + j]
            print(
                f"{k:>6} {label:>10} {1e3 * ours:>12.3f} {1e3 * theirs:>14.3f} {theirs / ours:>8.0f}x "
                f"{abs(tau2 - tau2_r):>10.1e}"
            )


if __name__ == "__main__":
    main()
