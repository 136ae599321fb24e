"""Patient-reported outcomes over time since day 0: median score with its range, per time window.

A window is ``baseline`` (answers before day 0) or year *k* after day 0 (day 0 < t <= k·365.25 days).
Each patient counts once per window, with the last scored answer in it; an answer the patient gave is
preferred to one a clinician recorded on the same day. A window with fewer than ``min_n`` patients shows no
number (the registry's small-numbers rule: no public figure from fewer than 5 people). Django-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from openhsct.outcomes.instruments import INSTRUMENTS

MIN_N = 5
YEAR_D = 365.25


@dataclass(frozen=True)
class ProWindow:
    """One window's summary: ``estimate`` is the median score, ``lower``/``upper`` the range (min, max);
    all three are None (and ``suppressed`` True) when fewer than ``min_n`` patients answered."""

    window: str
    n: int | None
    estimate: float | None
    lower: float | None
    upper: float | None
    suppressed: bool


@dataclass(frozen=True)
class ProSummary:
    """Median scores of one instrument over time since day 0."""

    instrument: str
    score_label: str
    windows: tuple[ProWindow, ...]
    min_n: int = MIN_N
    settings: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One row per window: window, n, estimate (median), lower (min), upper (max), suppressed."""
        return pd.DataFrame([w.__dict__ for w in self.windows],
                            columns=["window", "n", "estimate", "lower", "upper", "suppressed"])


def scored_answers(pro_answers: pd.DataFrame, instrument_code: str) -> pd.DataFrame:
    """One row per (patient, date) with the instrument's score (rows without a score dropped).

    Returns columns centre_code, patient_code, response_date (datetime), source, score.
    """
    inst = INSTRUMENTS[instrument_code]
    rows = pro_answers.loc[pro_answers["instrument"].astype(str) == instrument_code]
    cols = ["centre_code", "patient_code", "response_date", "source"]
    if rows.empty:
        return pd.DataFrame(columns=[*cols, "score"])
    wide = rows.pivot_table(index=cols, columns="item", values="answer", aggfunc="first").reset_index()
    items = [c for c in wide.columns if c not in cols]
    scores = [inst.score({i: ("" if pd.isna(r[i]) else str(r[i])) for i in items})
              for r in wide.to_dict("records")]
    wide["score"] = pd.array(scores, dtype="Float64")
    wide["response_date"] = pd.to_datetime(wide["response_date"])
    return wide.loc[wide["score"].notna(), [*cols, "score"]].reset_index(drop=True)


def window_labels(days_since_day0: np.ndarray) -> np.ndarray:
    """``baseline`` for answers on or before day 0, else ``year k`` (k = ceil(days / 365.25))."""
    d = np.asarray(days_since_day0, dtype=float)
    k = np.ceil(d / YEAR_D).astype(int)
    return np.where(d <= 0, "baseline", np.char.add("year ", k.astype(str))).astype(object)


def pro_over_time(pro_answers: pd.DataFrame, patients: pd.DataFrame, instrument_code: str = "pdds", *,
                  min_n: int = MIN_N, max_year: int = 10) -> ProSummary:
    """Median (range) of the instrument's score per window since day 0 for the transplanted ``patients``
    (columns centre_code, patient_code, day0). Returns a :class:`ProSummary`."""
    inst = INSTRUMENTS[instrument_code]
    scored = scored_answers(pro_answers, instrument_code)
    tx = patients.loc[:, ["centre_code", "patient_code", "day0"]].astype({"centre_code": str, "patient_code": str})
    scored = scored.astype({"centre_code": str, "patient_code": str}).merge(tx, on=["centre_code", "patient_code"])
    days = (scored["response_date"] - pd.to_datetime(scored["day0"])).dt.days.to_numpy()
    scored["window"] = window_labels(days)
    scored["patient_first"] = (scored["source"].astype(str) == "patient").astype(int)
    last = (scored.sort_values(["response_date", "patient_first"])
            .drop_duplicates(["centre_code", "patient_code", "window"], keep="last"))
    windows = []
    for label in ["baseline", *[f"year {k}" for k in range(1, max_year + 1)]]:
        values = last.loc[last["window"] == label, "score"].to_numpy(dtype=float)
        if values.size == 0:
            continue
        if values.size < min_n:
            windows.append(ProWindow(label, None, None, None, None, True))
        else:
            windows.append(ProWindow(label, int(values.size), float(np.median(values)), float(values.min()),
                                     float(values.max()), False))
    return ProSummary(instrument_code, inst.score_label, tuple(windows), min_n,
                      settings={"preference": "patient over clinician on the same day", "max_year": max_year})


def pro_block(tables: dict[str, pd.DataFrame], patients: pd.DataFrame) -> dict:
    """The ``pro`` section of a centre summary: for each scored instrument, its windows as records."""
    answers = tables.get("pro_answers")
    if answers is None or not len(answers):
        return {}
    out = {}
    for code, inst in INSTRUMENTS.items():
        if not inst.score_label:
            continue
        s = pro_over_time(answers, patients, code)
        out[code] = {"label": s.score_label, "min_n": s.min_n,
                     "windows": [w.__dict__ for w in s.windows]}
    return out
