"""Benchmark: openhsct.comparative against R MatchIt / survival / survey / MASS, same data, same run.

Two timings at each size (default 2,000 and 100,000 patients from ``openhsct.comparative.simulate``):

- *matching*: the glm propensity score and 1:1 nearest-neighbour matching with a 0.1 SD caliper —
  ours ``propensity_score`` + ``match_nearest``; R ``matchit(treat ~ ..., distance = "glm", caliper = 0.1)``;
- *analysis*: matching, the balance table (MatchIt ``summary()``), the matched Cox model with pairwise
  censoring and robust SE clustered on the pair (``coxph(..., cluster = subclass)``), the IPTW Cox model
  (``svycoxph``) and the matched negative binomial relapse-rate ratio (``glm.nb``).

R times itself with ``system.time`` around those calls only (not start-up, package loading or reading the
CSV). Ours is the median of a few runs after one warm-up (numba compiles on the first call).

    .venv/bin/python bench/comparative.py [--n 2000 100000] [--no-r]
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

from openhsct.comparative.balance import balance_table
from openhsct.comparative.effects import cox_treatment_effect, negative_binomial_rate_ratio, pairwise_censor
from openhsct.comparative.matching import match_nearest
from openhsct.comparative.propensity import MSBASE_COVARIATES, propensity_score
from openhsct.comparative.simulate import simulate_comparison
from openhsct.comparative.weighting import iptw

R_SCRIPT = r"""
suppressPackageStartupMessages({library(MatchIt); library(survival); library(survey); library(MASS)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); reps <- as.integer(args[2])
f <- treat ~ age + female + disease_duration_y + edss + relapses_12m + relapses_24m + prior_dmt_count +
  gd_lesions + phenotype + country
t_match <- system.time(for (i in seq_len(reps))
  m <- matchit(f, data = d, method = "nearest", distance = "glm", link = "linear.logit", caliper = 0.1))[["elapsed"]] / reps
t_all <- system.time(for (i in seq_len(reps)) {
  m <- matchit(f, data = d, method = "nearest", distance = "glm", link = "linear.logit", caliper = 0.1)
  s <- summary(m)
  md <- match.data(m)
  md$pw_time <- ave(md$time, md$subclass, FUN = min)
  md$pw_event <- as.integer(md$event == 1 & md$time <= md$pw_time)
  cx <- coxph(Surv(pw_time, pw_event) ~ treat, data = md, weights = weights, cluster = subclass)
  ps <- fitted(m$model); p1 <- mean(d$treat)
  d$w <- ifelse(d$treat == 1, 1, ps / (1 - ps) * (1 - p1) / p1)
  sv <- svycoxph(Surv(time, event) ~ treat, design = svydesign(ids = ~1, weights = ~w, data = d))
  nb <- glm.nb(relapses ~ treat + offset(log(fu_years)), data = md, weights = weights)
})[["elapsed"]] / reps
cat(sprintf("%.9f %.9f\n", t_match, t_all))
"""


def ours_matching(d):
    ps = propensity_score(d, covariates=MSBASE_COVARIATES)
    return ps, match_nearest(ps.distance("linear.logit"), d["treat"], caliper=0.1)


def ours_analysis(d):
    ps, m = ours_matching(d)
    balance_table(d, d["treat"], MSBASE_COVARIATES, weights=m.weights, distance=ps.distance("linear.logit"))
    k = m.weights > 0
    t2, e2 = pairwise_censor(d["time"][k], d["event"][k], m.subclass[k])
    cox_treatment_effect(t2, e2, d["treat"][k], m.weights[k], m.subclass[k])
    w = iptw(ps.ps, d["treat"], estimand="ATT")
    cox_treatment_effect(d["time"], d["event"], d["treat"], w.weights, variance="survey")
    negative_binomial_rate_ratio(d["relapses"][k], d["fu_years"][k], d["treat"][k], m.weights[k], m.subclass[k])


def median_seconds(fn, d, runs: int) -> float:
    fn(d)  # warm-up: numba compiles on the first call
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn(d)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def time_r(d, reps: int) -> tuple[float, float] | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        data, script = Path(tmp) / "d.csv", Path(tmp) / "b.R"
        d.to_csv(data, index=False)
        script.write_text(R_SCRIPT)
        out = subprocess.run([rscript, str(script), str(data), str(reps)], capture_output=True, text=True, check=True)
    t_match, t_all = map(float, out.stdout.split())
    return t_match, t_all


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[2000, 100_000])
    parser.add_argument("--no-r", action="store_true")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {platform.system()}")
    print(f"{'n':>8}  {'what':<9} {'ours (s)':>10} {'R (s)':>10} {'R / ours':>9}")
    for n in args.n:
        d = simulate_comparison(n=n, seed=2026)
        runs = 5 if n <= 10_000 else 3
        ours = (median_seconds(ours_matching, d, runs), median_seconds(ours_analysis, d, runs))
        ref = None if args.no_r else time_r(d, 3 if n <= 10_000 else 1)
        for label, o, r in zip(("matching", "analysis"), ours, ref or (None, None), strict=True):
            r_text = f"{r:10.3f} {r / o:9.1f}" if r is not None else f"{'—':>10} {'—':>9}"
            print(f"{n:>8,}  {label:<9} {o:10.3f} {r_text}")


if __name__ == "__main__":
    main()
