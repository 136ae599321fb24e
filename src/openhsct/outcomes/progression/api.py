"""``msprog``: confirmed disability worsening / improvement events (CDW, CDI, RAW, PIRA) for a cohort.

Same arguments, defaults and ``results`` / ``summary`` tables as pymsprog 1.0.7's ``MSprog`` (Montobbio N,
Carmisciano L, Signori A, et al. "Creating an automated tool for a consistent and repeatable evaluation of
disability progression in clinical studies for multiple sclerosis." *Mult Scler* 2024;30:1185-92), computed
by one linear pass over date-sorted per-subject arrays (see :mod:`.events`) instead of a per-subject
DataFrame filter. Deliberate differences are listed in ``docs/progression.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from openhsct.errors import OpenHSCTError
from openhsct.outcomes.progression.baseline import BASELINES, SKIP_LOCAL_EXTREMA
from openhsct.outcomes.progression.confirmation import confirmation_windows
from openhsct.outcomes.progression.events import (
    CDI,
    CDW,
    EVENT_TYPE_NAMES,
    EVENTS,
    F_BLV,
    F_CONF,
    F_LDV,
    F_VALUE,
    I_BL,
    I_CHANGE,
    I_CONF,
    I_LD,
    I_SUST,
    I_TYPE,
    PIRA,
    RAW,
    STATUS_MESSAGES,
    SUB_THRESHOLD_REBL,
    Rules,
    scan_cohort,
)
from openhsct.outcomes.progression.relapses import relapse_free_intervals, relapse_window
from openhsct.outcomes.progression.thresholds import OUTCOMES, delta_per_visit, worsening_sign


class MsprogArgumentError(OpenHSCTError, ValueError):
    """An argument value pymsprog rejects, or one this implementation does not support."""

    exit_code = 2


@dataclass(frozen=True)
class MsprogResult:
    """``results``: one row per event (pymsprog's table); ``summary``: one row per subject; ``settings``."""

    results: pd.DataFrame
    summary: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        return self.results


def msprog(
    data: pd.DataFrame,
    subj_col: str = "id",
    value_col: str = "EDSS",
    date_col: str = "date",
    outcome: str = "edss",
    relapse: pd.DataFrame | None = None,
    rsubj_col: str | None = None,
    rdate_col: str | None = None,
    subjects: Sequence | None = None,
    delta_fun: Callable | None = None,
    worsening: str | None = None,
    valuedelta_col: str | None = None,
    event: str = "firstCDW",
    RAW_PIRA: bool = False,  # noqa: N803 - pymsprog's name
    baseline: str = "fixed",
    proceed_from: str = "firstconf",
    sub_threshold_rebl: str = "none",
    bl_geq: bool = False,
    relapse_rebl: bool = False,
    skip_local_extrema: str = "none",
    validconf_col: str | None = None,
    conf_days: float | Sequence[float] = 12 * 7,
    conf_tol_days: float | Sequence[float] | dict = (7, 2 * 365.25),
    require_sust_days: float = 0,
    check_intermediate: bool = True,
    relapse_to_bl: float | Sequence[float] = 30,
    relapse_to_event: float | Sequence[float] = 0,
    relapse_to_conf: float | Sequence[float] = 30,
    relapse_assoc: float | Sequence[float] = 90,
    relapse_indep: dict | None = None,
    impute_last_visit: float = 0,
    date_format: str | None = None,
    include_dates: bool = False,
    include_value: bool = False,
    include_stable: bool = True,
    return_unconfirmed: bool = False,
    verbose: int = 0,
) -> MsprogResult:
    """Detect confirmed disability events, as pymsprog 1.0.7's ``MSprog`` does, for every subject in ``data``.

    ``data`` holds one row per visit (``subj_col``, ``date_col``, ``value_col``); ``relapse`` one row per
    relapse onset (``rsubj_col``, ``rdate_col``, defaulting to ``subj_col`` / ``date_col``). The rules and
    their definitions (quoted from pymsprog) are in :mod:`.thresholds`, :mod:`.baseline`,
    :mod:`.confirmation`, :mod:`.relapses` and :mod:`.events`. ``verbose`` is accepted and ignored (nothing
    is printed). Returns :class:`MsprogResult`.
    """
    rules, windows_days, flags = _rules(
        outcome=outcome,
        worsening=worsening,
        delta_fun=delta_fun,
        event=event,
        RAW_PIRA=RAW_PIRA,
        baseline=baseline,
        proceed_from=proceed_from,
        sub_threshold_rebl=sub_threshold_rebl,
        bl_geq=bl_geq,
        relapse_rebl=relapse_rebl and relapse is not None and len(relapse) > 0,
        skip_local_extrema=skip_local_extrema,
        conf_days=conf_days,
        conf_tol_days=conf_tol_days,
        require_sust_days=require_sust_days,
        check_intermediate=check_intermediate,
        relapse_to_bl=relapse_to_bl,
        relapse_to_event=relapse_to_event,
        relapse_to_conf=relapse_to_conf,
        relapse_assoc=relapse_assoc,
        relapse_indep=relapse_indep,
        impute_last_visit=impute_last_visit,
        return_unconfirmed=return_unconfirmed,
        delta_follows_value=(valuedelta_col or value_col) == value_col,
    )
    cohort = _prepare(
        data,
        relapse,
        subj_col=subj_col,
        value_col=value_col,
        date_col=date_col,
        rsubj_col=rsubj_col or subj_col,
        rdate_col=rdate_col or date_col,
        subjects=subjects,
        valuedelta_col=valuedelta_col,
        validconf_col=validconf_col,
        date_format=date_format,
        outcome=flags["outcome"],
        delta_fun=delta_fun,
        relapse_to_bl0=rules.relapse_to_bl0,
    )
    counts, status, out_int, out_val = scan_cohort(
        cohort.visit_start,
        cohort.days,
        cohort.values,
        cohort.delta,
        cohort.validconf,
        cohort.relapse_start,
        cohort.relapse_days,
        rules,
    )
    failed = np.flatnonzero(status)
    if failed.size:
        details = [f"subject {cohort.subjects[s]}: {STATUS_MESSAGES[int(status[s])]}" for s in failed[:20]]
        raise MsprogArgumentError(
            "These settings leave the events undefined for some subjects (pymsprog 1.0.7 fails on them too)",
            details=details,
        )
    results = _results_table(cohort, counts, out_int, out_val, windows_days, subj_col, include_stable)
    summary = _summary_table(cohort, counts, out_int)
    results, summary = _select_columns(results, summary, event, rules.rawpira, include_dates, include_value)
    if date_format != "day":
        for col in [c for c in results.columns if c.endswith("date")]:
            results[col] = cohort.global_start + pd.to_timedelta(results[col].to_numpy(dtype=float), unit="D")
    settings = {
        k: v
        for k, v in locals().items()
        if k
        not in {
            "data",
            "relapse",
            "cohort",
            "rules",
            "counts",
            "status",
            "out_int",
            "out_val",
            "results",
            "summary",
            "failed",
            "flags",
            "delta_fun",
        }
    }
    return MsprogResult(results=results.reset_index(drop=True), summary=summary, settings=settings)


def _choice(name: str, value: str, valid: dict | tuple) -> None:
    if value not in valid:
        raise MsprogArgumentError(
            f"Invalid value for `{name}` argument ({value!r}). Valid values: "
            + ", ".join(repr(v) for v in valid)
        )


def _rules(**a) -> tuple[Rules, list, dict]:
    outcome = str(a["outcome"]).lower()
    _choice("outcome", outcome, OUTCOMES)
    _choice("event", a["event"], EVENTS)
    _choice("baseline", a["baseline"], BASELINES)
    _choice("proceed_from", a["proceed_from"], ("event", "firstconf"))
    _choice("sub_threshold_rebl", a["sub_threshold_rebl"], SUB_THRESHOLD_REBL)
    _choice("skip_local_extrema", a["skip_local_extrema"], SKIP_LOCAL_EXTREMA)
    if a["return_unconfirmed"]:
        raise MsprogArgumentError("`return_unconfirmed=True` is not supported (see docs/progression.md)")
    impute = float(a["impute_last_visit"])
    if impute < 0:
        raise MsprogArgumentError("`impute_last_visit` must be nonnegative")
    if 0 < impute < 1:
        raise MsprogArgumentError(
            "`impute_last_visit` as a probability strictly between 0 and 1 is not supported (random imputation); "
            "use 0, 1, or a number of days > 1"
        )
    if outcome == "custom" and a["delta_fun"] is None:
        raise MsprogArgumentError(
            "If outcome='custom', you must define minimum clinically meaningful change (`delta_fun` argument)"
        )
    try:
        sign = worsening_sign(outcome, a["worsening"])
        windows_days, left, right = confirmation_windows(a["conf_days"], a["conf_tol_days"])
        rtb = relapse_window(a["relapse_to_bl"], "relapse_to_bl")
        rte = relapse_window(a["relapse_to_event"], "relapse_to_event")
        rtc = relapse_window(a["relapse_to_conf"], "relapse_to_conf")
        ra = relapse_window(a["relapse_assoc"], "relapse_assoc")
        indep_left, indep_right, prec_type = relapse_free_intervals(
            None if a["relapse_indep"] is None else dict(a["relapse_indep"])
        )
    except ValueError as exc:
        raise MsprogArgumentError(str(exc)) from None
    event = a["event"]
    rawpira = bool(a["RAW_PIRA"]) if event in ("firstCDW", "multiple", "first") else event != "firstCDI"
    rules = Rules(
        event=EVENTS[event],
        baseline=BASELINES[a["baseline"]],
        proceed_from_conf=a["proceed_from"] == "firstconf",
        sub_threshold_rebl=SUB_THRESHOLD_REBL[a["sub_threshold_rebl"]],
        bl_geq=bool(a["bl_geq"]) and bool(a["relapse_rebl"]),
        relapse_rebl=bool(a["relapse_rebl"]),
        skip_local_extrema=SKIP_LOCAL_EXTREMA[a["skip_local_extrema"]],
        window_left=left,
        window_right=right,
        require_sust_days=float(a["require_sust_days"]),
        check_intermediate=bool(a["check_intermediate"]),
        relapse_to_bl0=rtb[0],
        relapse_to_bl1=rtb[1],
        relapse_to_event0=rte[0],
        relapse_to_event1=rte[1],
        relapse_to_conf0=rtc[0],
        relapse_to_conf1=rtc[1],
        relapse_assoc0=ra[0],
        relapse_assoc1=ra[1],
        indep_left=indep_left,
        indep_right=indep_right,
        indep_prec_type=prec_type,
        impute=impute > 0,
        impute_max_fu=impute if impute > 1 else float("inf"),
        rawpira=rawpira,
        sign=sign,
        delta_follows_value=bool(a["delta_follows_value"]),
    )
    return rules, windows_days, {"outcome": outcome}


@dataclass(frozen=True)
class _Cohort:
    """Visits sorted by (subject, date), one visit per day; relapses sorted by (subject, date)."""

    subjects: np.ndarray
    visit_start: np.ndarray
    days: np.ndarray
    values: np.ndarray
    delta: np.ndarray
    validconf: np.ndarray
    relapse_start: np.ndarray
    relapse_days: np.ndarray
    global_start: Any


def _to_days(column: pd.Series, date_format: str | None, name: str) -> pd.Series:
    if date_format == "day":
        try:
            return column.astype(float)
        except (TypeError, ValueError):
            raise MsprogArgumentError(
                "Failed to intepret date columns as number of days (as per `date_format='day'`)"
            ) from None
    try:
        return pd.to_datetime(column, format=date_format)
    except (TypeError, ValueError):
        raise MsprogArgumentError(
            f"Failed to intepret '{name}' column as dates; please provide correct format via `date_format` argument."
        ) from None


def _prepare(
    data,
    relapse,
    *,
    subj_col,
    value_col,
    date_col,
    rsubj_col,
    rdate_col,
    subjects,
    valuedelta_col,
    validconf_col,
    date_format,
    outcome,
    delta_fun,
    relapse_to_bl0,
) -> _Cohort:
    valuedelta_col = valuedelta_col or value_col
    columns = list(
        dict.fromkeys([subj_col, value_col, date_col] + [c for c in (validconf_col, valuedelta_col) if c])
    )
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise MsprogArgumentError(f"column(s) not in data: {', '.join(missing)}")
    frame = data[columns].copy()
    try:
        frame[value_col] = frame[value_col].astype(float)
        frame[valuedelta_col] = frame[valuedelta_col].astype(float)
    except (TypeError, ValueError) as exc:
        raise MsprogArgumentError(f"`{value_col}` must be numeric: {exc}") from None
    frame = frame.dropna()
    frame[date_col] = _to_days(frame[date_col], date_format, date_col)

    rel = None
    if relapse is not None and len(relapse) > 0:
        rel = relapse[[rsubj_col, rdate_col]].dropna().copy()
        rel[rdate_col] = _to_days(rel[rdate_col], date_format, rdate_col)
    global_start = None
    if date_format != "day":
        global_start = (
            frame[date_col].min() if rel is None else min(frame[date_col].min(), rel[rdate_col].min())
        )
        frame[date_col] = (frame[date_col] - global_start).dt.days.astype(float)
        if rel is not None:
            rel[rdate_col] = (rel[rdate_col] - global_start).dt.days.astype(float)
    if subjects is not None:
        frame = frame[frame[subj_col].isin(subjects)]
        if rel is not None:
            rel = rel[rel[rsubj_col].isin(subjects)]

    if outcome != "custom":
        for col in dict.fromkeys([value_col, valuedelta_col]):
            if (frame[col] < 0).any():
                raise MsprogArgumentError(f"negative {outcome.upper()} scores")
            if outcome == "edss" and (frame[col] > 10).any():
                raise MsprogArgumentError(f"invalid {outcome.upper()} scores")
            if outcome == "sdmt" and (frame[col] > 110).any():
                raise MsprogArgumentError("SDMT scores >110")

    codes, uniques = pd.factorize(frame[subj_col], sort=False)
    days = frame[date_col].to_numpy(dtype=float)
    order = np.lexsort((np.arange(len(frame)), days, codes))
    codes, days = codes[order], days[order]
    # Several visits on one day: keep the last one listed (pymsprog's groupby(date).last()).
    last_of_day = np.ones(len(codes), dtype=bool)
    last_of_day[:-1] = (codes[1:] != codes[:-1]) | (days[1:] != days[:-1])
    rows = order[last_of_day]
    codes, days = codes[last_of_day], days[last_of_day]
    visit_start = np.searchsorted(codes, np.arange(len(uniques) + 1)).astype(np.int64)
    values = frame[value_col].to_numpy(dtype=float)[rows]
    delta = delta_per_visit(frame[valuedelta_col].to_numpy(dtype=float)[rows], outcome, delta_fun)
    validconf = (
        np.ones(len(rows), dtype=bool)
        if validconf_col is None
        else frame[validconf_col].to_numpy()[rows].astype(bool)
    )

    if rel is None or len(rel) == 0:
        r_codes, r_days = np.zeros(0, dtype=np.int64), np.zeros(0)
    else:
        r_codes = pd.Index(uniques).get_indexer(rel[rsubj_col])
        r_days = rel[rdate_col].to_numpy(dtype=float)
        known = r_codes >= 0
        r_codes, r_days = r_codes[known], r_days[known]
        # Relapses before the first visit minus relapse_to_bl are ignored (pymsprog).
        first_visit = days[visit_start[:-1]] if len(uniques) else np.zeros(0)
        keep = r_days >= first_visit[r_codes] - relapse_to_bl0
        r_codes, r_days = r_codes[keep], r_days[keep]
        r_order = np.lexsort((r_days, r_codes))
        r_codes, r_days = r_codes[r_order], r_days[r_order]
    relapse_start = np.searchsorted(r_codes, np.arange(len(uniques) + 1)).astype(np.int64)
    return _Cohort(
        subjects=np.asarray(uniques, dtype=object),
        visit_start=visit_start,
        days=np.ascontiguousarray(days),
        values=np.ascontiguousarray(values),
        delta=np.ascontiguousarray(delta, dtype=float),
        validconf=np.ascontiguousarray(validconf),
        relapse_start=relapse_start,
        relapse_days=np.ascontiguousarray(r_days, dtype=float),
        global_start=global_start,
    )


def _results_table(cohort, counts, out_int, out_val, windows_days, subj_col, include_stable) -> pd.DataFrame:
    """pymsprog's ``results`` before column selection: a column exists only where some row has a value."""
    n_subjects = len(cohort.subjects)
    first = cohort.days[cohort.visit_start[:-1]] if n_subjects else np.zeros(0)
    last = cohort.days[cohort.visit_start[1:] - 1] if n_subjects else np.zeros(0)
    total_fu = last - first
    has_events = counts > 0
    stable = ~has_events if include_stable else np.zeros(n_subjects, dtype=bool)
    rows_per_subject = np.where(has_events, counts, stable.astype(np.int64))
    subject_of_row = np.repeat(np.arange(n_subjects), rows_per_subject)
    row_start = np.concatenate([[0], np.cumsum(rows_per_subject)])
    nevent = np.arange(len(subject_of_row)) - row_start[subject_of_row] + 1
    is_event = has_events[subject_of_row]
    nevent = np.where(is_event, nevent, 0)
    # The j-th event of subject s sits at out row visit_start[s] + j.
    src = cohort.visit_start[subject_of_row] + nevent - 1
    src = np.where(is_event, src, 0)
    ints = np.where(is_event[:, None], out_int[src], -1) if len(src) else np.zeros((0, out_int.shape[1]), int)
    vals = np.where(is_event[:, None], out_val[src], np.nan) if len(src) else np.zeros((0, out_val.shape[1]))
    base = cohort.visit_start[subject_of_row]

    def day_at(index_col: np.ndarray) -> np.ndarray:
        return np.where(index_col >= 0, cohort.days[base + np.maximum(index_col, 0)], np.nan)

    change, bl = ints[:, I_CHANGE], ints[:, I_BL]
    event_day = day_at(change)
    first_day = first[subject_of_row]
    types = ints[:, I_TYPE]
    event_type = np.array([EVENT_TYPE_NAMES.get(int(t), "") for t in types], dtype=object)
    cols: dict[str, Any] = {
        subj_col: cohort.subjects[subject_of_row],
        "nevent": nevent,
        "event_type": event_type,
    }
    any_event = bool(is_event.any())
    if any_event:
        cols.update(
            {
                "date": event_day,
                "value": vals[:, F_VALUE],
                "bl_date": day_at(bl),
                "bl_value": vals[:, F_BLV],
                "last_delta_date": day_at(ints[:, I_LD]),
                "last_delta_value": vals[:, F_LDV],
            }
        )
    cols["total_fu"] = total_fu[subject_of_row]
    cols["time2event"] = np.where(is_event, event_day - first_day, total_fu[subject_of_row])
    if any_event:
        cols["bl2event"] = event_day - day_at(bl)
    k = len(windows_days)
    for prefix, offset in (("conf", 0), ("PIRA_conf", k)):
        for j, m in enumerate(windows_days):
            idx = ints[:, I_CONF + offset + j]
            if (idx >= 0).any():
                cols[f"{prefix}{m}_date"] = day_at(idx)
                cols[f"{prefix}{m}_value"] = vals[:, F_CONF + offset + j]
    if any_event:
        sust = ints[:, I_SUST]
        cols["sust_days"] = day_at(sust) - event_day
        n_visits = np.diff(cohort.visit_start)[subject_of_row]
        sust_last = (sust == n_visits - 1).astype(object)
        sust_last[~is_event] = np.nan
        cols["sust_last"] = sust_last
    results = pd.DataFrame(cols)
    cdw_type = {"PIRA": "PIRA", "RAW": "RAW", "CDW": "undefined"}
    results["CDW_type"] = [cdw_type.get(t, "") for t in event_type]
    results.loc[np.isin(types, (RAW, PIRA)), "event_type"] = "CDW"
    return results


def _summary_table(cohort, counts, out_int) -> pd.DataFrame:
    """pymsprog's ``summary``: the event sequence and the counts by type, one row per subject."""
    n_subjects = len(cohort.subjects)
    subject = np.repeat(np.arange(n_subjects), counts)
    first_row = np.concatenate([[0], np.cumsum(counts)])[:-1]
    rows = cohort.visit_start[subject] + np.arange(len(subject)) - first_row[subject]
    types = out_int[rows, I_TYPE] if len(rows) else np.zeros(0, dtype=np.int64)

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(subject[mask], minlength=n_subjects)

    names = np.array([EVENT_TYPE_NAMES[t] for t in (CDI, CDW, RAW, PIRA)], dtype=object)[types - 1].tolist()
    bounds = np.concatenate([[0], np.cumsum(counts)]).tolist()
    sequence = np.array(
        [", ".join(names[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=False)], dtype=object
    )
    return pd.DataFrame(
        {
            "event_sequence": sequence,
            "CDI": count(types == CDI),
            "CDW": count(types != CDI),
            "RAW": count(types == RAW),
            "PIRA": count(types == PIRA),
        },
        index=pd.Index(cohort.subjects),
    )


def _select_columns(results, summary, event, rawpira, include_dates, include_value):
    """pymsprog's final choice and order of columns for ``results`` and ``summary``."""
    k_cols = [c for c in results.columns if c.startswith("conf")]
    p_cols = [c for c in results.columns if c.startswith("PIRA_conf")]
    columns = (
        [
            "nevent",
            "event_type",
            "CDW_type",
            "date",
            "value",
            "bl_date",
            "bl_value",
            "last_delta_date",
            "last_delta_value",
            "total_fu",
            "time2event",
            "bl2event",
        ]
        + [c for c in k_cols if c.endswith("date")]
        + [c for c in k_cols if c.endswith("value")]
        + [c for c in p_cols if c.endswith("date")]
        + [c for c in p_cols if c.endswith("value")]
        + ["sust_days", "sust_last"]
    )
    columns = [results.columns[0]] + columns
    if not include_dates:
        columns = [c for c in columns if not c.endswith("date")]
    if not include_value:
        columns = [c for c in columns if not c.endswith("value")]
    scolumns = list(summary.columns)
    if event == "firstPIRA":
        scolumns = ["PIRA"]
    elif event == "firstRAW":
        scolumns = ["RAW"]
        columns = [c for c in columns if not c.startswith("PIRA")]
    elif event == "firstCDW":
        scolumns = [c for c in scolumns if c != "CDI"]
    elif event == "firstCDI":
        scolumns = ["CDI"]
        columns = [c for c in columns if not c.startswith("PIRA")]
    if not rawpira:
        scolumns = [c for c in scolumns if c not in ("PIRA", "RAW")]
        columns = [c for c in columns if not c.startswith("PIRA") and c != "CDW_type"]
    return results[[c for c in columns if c in results.columns]], summary[scolumns]
