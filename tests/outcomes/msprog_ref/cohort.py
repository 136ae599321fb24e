"""Seeded synthetic MS cohorts (EDSS visits and relapse onsets) that exercise every rule of ``msprog``.

The courses are deliberately busy: EDSS moves by 0.5-2 points between visits in both directions, visits come
every 20-200 days (some on the same day, some out of order in the file), and relapses fall before, between and
on visit days. That makes confirmations, roving baselines, RAW/PIRA and relapse windows all occur often.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EDSS_STEPS = np.array([-2.0, -1.5, -1.0, -0.5, 0.0, 0.0, 0.0, 0.5, 0.5, 1.0, 1.0, 1.5, 2.0])


def synthetic_cohort(
    n_subjects: int,
    seed: int,
    *,
    max_visits: int = 14,
    relapse_rate_per_year: float = 0.6,
    shuffle: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(visits, relapses)``: visits ``id,date,EDSS``, relapses ``id,date``; ISO date strings."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2015-01-01")
    visit_rows: list[tuple[str, np.datetime64, float]] = []
    relapse_rows: list[tuple[str, np.datetime64]] = []
    for subject in range(n_subjects):
        sid = f"S{subject:05d}"
        n_visits = int(rng.integers(1, max_visits + 1))
        gaps = rng.choice([0, 20, 30, 60, 84, 90, 100, 150, 180, 200, 365], size=n_visits - 1)
        gaps = gaps + rng.integers(-5, 6, size=n_visits - 1) * (gaps > 0)
        days = int(rng.integers(0, 2000)) + np.concatenate([[0], np.cumsum(gaps)])
        edss = float(rng.choice(np.arange(0.0, 7.5, 0.5)))
        for i, day in enumerate(days):
            if i:
                edss = float(np.clip(edss + rng.choice(EDSS_STEPS), 0.0, 10.0))
            visit_rows.append((sid, start + int(day), edss))
        span_years = max((days[-1] - days[0]) / 365.25, 0.2)
        n_relapses = int(rng.poisson(relapse_rate_per_year * span_years))
        onsets = np.sort(rng.integers(days[0] - 120, days[-1] + 60, size=n_relapses))
        if n_relapses and rng.random() < 0.3:  # a relapse on a visit day
            onsets = np.sort(np.append(onsets, rng.choice(days)))
        relapse_rows.extend((sid, start + int(day)) for day in onsets)
    visits = pd.DataFrame(visit_rows, columns=["id", "date", "EDSS"])
    relapses = pd.DataFrame(relapse_rows, columns=["id", "date"])
    visits["date"] = visits["date"].astype("datetime64[s]").dt.strftime("%Y-%m-%d")
    relapses["date"] = relapses["date"].astype("datetime64[s]").dt.strftime("%Y-%m-%d")
    if shuffle:
        # Rows of a subject in any order (the rules sort by date); relapses of a subject stay in date order.
        order = rng.permutation(len(visits))
        visits = visits.iloc[order].reset_index(drop=True)
        visits = visits.iloc[np.argsort(visits["id"].map(_first_seen(visits["id"])), kind="stable")]
        visits = visits.reset_index(drop=True)
    return visits, relapses


def _first_seen(ids: pd.Series) -> dict[str, int]:
    return {sid: i for i, sid in enumerate(pd.unique(ids))}
