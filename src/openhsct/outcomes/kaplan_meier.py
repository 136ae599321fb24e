"""Kaplan–Meier survival, its Greenwood standard error and confidence intervals, as R's ``survfit``.

For the distinct observed times t_1 < ... < t_m (events *and* censorings), with n_j at risk and d_j events:

    S(t_j)      = prod_{i<=j} (1 - d_i / n_i)                       (Kaplan & Meier 1958)
    std_err(t_j) = sqrt( sum_{i<=j} d_i / (n_i (n_i - d_i)) )       (Greenwood 1926)

``std_err`` is the standard error of log S (equivalently of the cumulative hazard), which is what R's
``survfit()$std.err`` holds; the standard error of S itself is ``S * std_err`` (R's ``summary()``).
Confidence intervals follow ``survival:::survfit_confint`` (Therneau, survival 3.5):

    log:     exp(log S -/+ z se),                 upper capped at 1, undefined where S = 0
    log-log: exp(-exp(log(-log S) -/+ z se / log S)), undefined where S = 0 or 1
    plain:   S -/+ z se S, clipped to [0, 1]

The number at risk and the events at each distinct time come from one of two paths, chosen
automatically, with identical output:

* **counting** — all times are integers spanning at most ``max(n, 1024)`` values (days, the usual case
  in a registry): one ``np.bincount`` over ``2 * time + event`` gives censorings and events per time
  without sorting, O(n + span);
* **sorting** — any other times (continuous, or integers spread thinly): one integer sort of the time's
  bits with the event flag packed in, then group boundaries, O(n log n).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import norm

from openhsct.outcomes._validate import (
    as_conf_level,
    as_conf_type,
    as_event,
    as_time,
    as_times_grid,
    check_lengths,
)

# R's print.survfit compares survival with 0.5 to this tolerance (survival:::survmean, `minmin`).
_MEDIAN_TOL = np.sqrt(np.finfo(float).eps)

# The counting path allocates one slot per integer between the smallest and largest time; it beats the
# sort while the span is at most about the number of rows (measured at 10^3 to 10^6 rows).
_COUNT_MIN_SPAN = 1024
# Below 2**53 every integer is an exact double, so the integer codes round-trip to the same times.
_EXACT_INT = 2.0**53

RiskPath = Literal["auto", "count", "sort"]


@dataclass(frozen=True, eq=False)
class _KmTable:
    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray
    survival: np.ndarray
    std_err: np.ndarray
    n: int


def _integer_codes(time: np.ndarray) -> tuple[np.ndarray, int, int] | None:
    """``(time - min as int64, min, span)`` when every time is an integer and the span
    ``max - min + 1`` is at most ``max(n, 1024)``; None otherwise (then sorting is the faster path)."""
    lo, hi = float(time.min()), float(time.max())
    span = hi - lo + 1
    if hi >= _EXACT_INT or span > max(time.size, _COUNT_MIN_SPAN):
        return None
    head = time[:64]
    if not np.array_equal(head, np.trunc(head)):  # continuous times usually fail here, at no cost
        return None
    codes = time.astype(np.int64)
    if not np.array_equal(codes, time):
        return None
    start = int(lo)
    if start:
        codes -= start
    return codes, start, int(span)


def _risk_table_counted(
    codes: np.ndarray, start: int, span: int, event: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Distinct times, number at risk, events and censorings at each, by counting integer times.

    ``np.bincount(2 * code + event)`` holds, for each integer time, the censorings (even slots) and the
    events (odd slots); the times with any observation are the distinct times.
    """
    n = codes.size
    per_time = np.bincount(codes * 2 + event, minlength=2 * span).reshape(span, 2)
    total = per_time[:, 0] + per_time[:, 1]
    present = np.flatnonzero(total)
    total = total[present]
    n_event = per_time[present, 1]
    n_risk = np.cumsum(total)
    np.subtract(n, n_risk - total, out=n_risk)
    return (present + start).astype(np.float64), n_risk, n_event, total - n_event


def _risk_table_sorted(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, ...]:
    """Distinct times, number at risk, events and censorings at each, with one sort.

    For non-negative doubles the IEEE-754 bit pattern, read as an unsigned integer, orders like the
    value; shifting it left one bit (the sign bit is 0, and -0.0 becomes 0.0) leaves room for the event
    flag, so a single integer sort orders the times and carries the events along, censorings before
    events at a tied time.
    """
    one = np.uint64(1)
    key = np.left_shift(time.view(np.uint64), one)
    np.bitwise_or(key, event.view(np.uint8), out=key)
    key.sort()
    n = key.size
    last = np.empty(n, dtype=bool)  # the last row of each distinct time
    last[-1] = True
    np.greater(key[1:] ^ key[:-1], one, out=last[:-1])
    ends = np.flatnonzero(last)
    events = (key & one).view(np.int64)
    if ends.size == n:  # no ties: each row is its own time
        np.right_shift(key, one, out=key)
        return key.view(np.float64), np.arange(n, 0, -1), events, 1 - events
    uniq = (key[ends] >> one).view(np.float64)
    n_event = np.diff(np.cumsum(events)[ends], prepend=0)
    n_risk = np.empty(ends.size, dtype=np.int64)
    n_risk[0] = n
    np.subtract(n - 1, ends[:-1], out=n_risk[1:])
    return uniq, n_risk, n_event, np.diff(ends, prepend=-1) - n_event


def _risk_table(time: np.ndarray, event: np.ndarray, path: RiskPath = "auto") -> tuple[np.ndarray, ...]:
    """Distinct times, number at risk, events and censorings at each (``event`` is int8 0/1).

    ``path="auto"`` counts when the times allow it and sorts otherwise; ``"count"`` and ``"sort"`` force a
    path (``"count"`` falls back to sorting when the times are not integers in a countable span).
    """
    codes = None if path == "sort" else _integer_codes(time)
    if codes is None:
        return _risk_table_sorted(time, event)
    return _risk_table_counted(*codes, event)


def _km_table(time: np.ndarray, event: np.ndarray, path: RiskPath = "auto") -> _KmTable:
    """The risk table with S and the Greenwood standard error of log S at each distinct time."""
    uniq, n_risk, n_event, n_censor = _risk_table(time, event, path)
    nr = n_risk.astype(np.float64)
    d = n_event.astype(np.float64)
    alive = nr - d
    survival = np.cumprod(alive / nr)
    with np.errstate(divide="ignore", invalid="ignore"):
        # d = n gives an infinite increment, as in R: the standard error is Inf once S reaches 0;
        # d = 0 gives 0 / n^2 = 0 exactly.
        term = np.multiply(nr, alive, out=alive)
        np.divide(d, term, out=term)
    std_err = np.sqrt(np.cumsum(term, out=term), out=term)
    return _KmTable(uniq, n_risk, n_event, n_censor, survival, std_err, int(time.size))


def survival_ci(
    surv: np.ndarray, std_err: np.ndarray, conf_type: str, conf_level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise CI for S given the standard error of log S; NaN where R gives NA."""
    z = norm.ppf(1 - (1 - conf_level) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "plain":
            half = std_err * surv * z
            return np.maximum(surv - half, 0.0), np.minimum(surv + half, 1.0)
        if conf_type == "log":
            xx = np.where(surv == 0, np.nan, surv)
            return np.exp(np.log(xx) - z * std_err), np.minimum(np.exp(np.log(xx) + z * std_err), 1.0)
        # exp(-exp(log(-log S) -/+ h)) = S ** exp(-/+ h), with h = z se / log S: fewer transcendentals.
        log_s = np.log(surv)
        log_s[(surv == 0) | (surv == 1)] = np.nan
        shrink = np.multiply(std_err, -z)
        np.divide(shrink, log_s, out=shrink)
        np.exp(shrink, out=shrink)
        lower = np.multiply(log_s, shrink)
        np.divide(log_s, shrink, out=log_s)
        return np.exp(lower, out=lower), np.exp(log_s, out=log_s)


def _validated(time, event) -> tuple[np.ndarray, np.ndarray]:
    t = as_time(time)
    e = as_event(event)
    check_lengths(time=t, event=e)
    return t, e


def kaplan_meier(time, event, conf_type: str = "log", conf_level: float = 0.95) -> pd.DataFrame:
    """Kaplan–Meier estimate, one row per distinct observed time, as R ``survfit(Surv(time, event) ~ 1)``.

    Returns columns ``time, n_risk, n_event, survival, std_err, lower, upper, n_censor``; ``std_err`` is
    the Greenwood standard error of log S (R's ``std.err``). ``conf_type`` is ``"log"`` (R's default),
    ``"log-log"`` or ``"plain"``. Limits are NaN where R reports NA (S = 0, and S = 1 for log-log).
    """
    conf_type = as_conf_type(conf_type)
    conf_level = as_conf_level(conf_level)
    t, e = _validated(time, event)
    return _frame(_km_table(t, e), conf_type, conf_level)


def _frame(km: _KmTable, conf_type: str, conf_level: float) -> pd.DataFrame:
    """The table of ``kaplan_meier``, with the confidence limits, from a risk table."""
    lower, upper = survival_ci(km.survival, km.std_err, conf_type, conf_level)
    frame = pd.DataFrame(
        {
            "time": km.time,
            "n_risk": km.n_risk,
            "n_event": km.n_event,
            "survival": km.survival,
            "std_err": km.std_err,
            "lower": lower,
            "upper": upper,
            "n_censor": km.n_censor,
        },
        copy=False,
    )
    frame.attrs.update(conf_type=conf_type, conf_level=conf_level)
    return frame


def _first_below_half(values: np.ndarray, times: np.ndarray) -> float:
    """R's ``minmin``: the first time the curve is <= 0.5; if it sits exactly at 0.5, the midpoint
    between that time and the time it next drops."""
    keep = ~np.isnan(values) & (values < 0.5 + _MEDIAN_TOL)
    if not keep.any():
        return float("nan")
    y = values[keep]
    x = times[keep]
    if abs(y[0] - 0.5) < _MEDIAN_TOL:
        lower = np.flatnonzero(y < y[0])
        if lower.size:
            return float((x[0] + x[lower[0]]) / 2)
    return float(x[0])


@dataclass(frozen=True, eq=False)
class KmSummary:
    """Median survival with its CI (as R ``print(survfit)``) and survival at chosen times (as
    ``summary(survfit, times=)``).

    ``at`` has columns ``time, n_risk, n_event, survival, std_err, lower, upper``; there ``std_err`` is the
    standard error of S itself (R's ``summary`` scale), ``n_risk`` the number still at risk at ``time``,
    and ``n_event`` the events since the previous requested time.
    """

    median: float
    median_lower: float
    median_upper: float
    at: pd.DataFrame
    n: int
    n_event: int
    conf_type: str
    conf_level: float

    def to_frame(self) -> pd.DataFrame:
        """One row: n, events, median and its confidence limits, with the settings."""
        return pd.DataFrame(
            [
                {
                    "n": self.n,
                    "n_event": self.n_event,
                    "median": self.median,
                    "median_lower": self.median_lower,
                    "median_upper": self.median_upper,
                    "conf_type": self.conf_type,
                    "conf_level": self.conf_level,
                }
            ]
        )


def _at_times(km: _KmTable, lower: np.ndarray, upper: np.ndarray, times: np.ndarray) -> pd.DataFrame:
    """Step-function values at ``times`` (R ``summary.survfit``'s ``findrow``)."""
    idx = np.searchsorted(km.time, times, side="right") - 1
    before = idx < 0
    safe = np.where(before, 0, idx)

    def pick(values: np.ndarray, start: float) -> np.ndarray:
        return np.where(before, start, values[safe])

    surv = pick(km.survival, 1.0)
    se_log = pick(km.std_err, 0.0)
    with np.errstate(invalid="ignore"):
        se_surv = se_log * surv
    n_risk = np.append(km.n_risk, 0)[np.searchsorted(km.time, times, side="left")]
    cum_events = np.where(before, 0, np.cumsum(km.n_event)[safe])
    return pd.DataFrame(
        {
            "time": times,
            "n_risk": n_risk,
            "n_event": np.diff(cum_events, prepend=0),
            "survival": surv,
            "std_err": se_surv,
            "lower": pick(lower, 1.0),
            "upper": pick(upper, 1.0),
        }
    )


def km_summary(
    time,
    event,
    times=(),
    conf_type: str = "log",
    conf_level: float = 0.95,
    extend: bool = False,
) -> KmSummary:
    """Median survival with its confidence interval, and survival at ``times``.

    The median is the first time S <= 0.5 (the midpoint to the next drop when S equals 0.5 exactly); its
    limits are the same rule applied to the upper and lower pointwise limits (Brookmeyer & Crowley 1982
    by test inversion, as R's ``print.survfit``). NaN means "not reached". As R, requested times after the
    last observation are dropped unless ``extend=True``.
    """
    conf_type = as_conf_type(conf_type)
    conf_level = as_conf_level(conf_level)
    t, e = _validated(time, event)
    grid = as_times_grid(times) if len(np.atleast_1d(times)) else np.empty(0)
    km = _km_table(t, e)
    lower, upper = survival_ci(km.survival, km.std_err, conf_type, conf_level)
    if not extend:
        grid = grid[grid <= km.time[-1]]
    return KmSummary(
        median=_first_below_half(km.survival, km.time),
        median_lower=_first_below_half(lower, km.time),
        median_upper=_first_below_half(upper, km.time),
        at=_at_times(km, lower, upper, grid),
        n=km.n,
        n_event=int(km.n_event.sum()),
        conf_type=conf_type,
        conf_level=conf_level,
    )


@dataclass(frozen=True, eq=False)
class MedianFollowUp:
    """Median potential follow-up by reverse Kaplan–Meier; ``float(result)`` gives the median."""

    median: float
    lower: float
    upper: float
    n: int
    conf_level: float

    def __float__(self) -> float:
        return self.median

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.__dict__])


def reverse_km_median_followup(time, event, conf_level: float = 0.95) -> MedianFollowUp:
    """Median follow-up by the reverse Kaplan–Meier method (Schemper & Smith 1996).

    Censoring is treated as the event and events as censoring, i.e. the median of
    ``survfit(Surv(time, 1 - event) ~ 1)`` in R, with its log-scale confidence interval.
    """
    t, e = _validated(time, event)
    summary = km_summary(t, 1 - e, conf_type="log", conf_level=conf_level)
    return MedianFollowUp(
        median=summary.median,
        lower=summary.median_lower,
        upper=summary.median_upper,
        n=summary.n,
        conf_level=summary.conf_level,
    )
