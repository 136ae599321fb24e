"""Checks at the edge of the survival functions: arrays in, a clear :class:`SurvivalInputError` out (an
:class:`openhsct.errors.OpenHSCTError` the CLI reports as a user error, and a ``ValueError`` for callers that
catch that).

Every public estimator calls these once; the estimators then trust their inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from openhsct.errors import OpenHSCTError

CONF_TYPES = ("log", "log-log", "plain")


class SurvivalInputError(OpenHSCTError, ValueError):
    """Survival inputs that break a rule (shape, finiteness, lengths, event codes)."""

    exit_code = 2


def _as_1d(values, name: str) -> np.ndarray:
    arr = values.to_numpy() if isinstance(values, pd.Series | pd.Index) else np.asarray(values)
    if arr.ndim != 1:
        raise SurvivalInputError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _as_float(values, name: str) -> np.ndarray:
    arr = _as_1d(values, name)
    try:
        out = arr.astype(np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        missing = pd.isna(arr)
        if missing.any():
            bad = int(np.flatnonzero(missing)[0])
            raise SurvivalInputError(f"{name} must be finite: missing value at position {bad}") from None
        raise SurvivalInputError(f"{name} must be numeric ({exc})") from None
    if not np.isfinite(out).all():
        bad = int(np.flatnonzero(~np.isfinite(out))[0])
        raise SurvivalInputError(f"{name} must be finite: NaN or infinite value at position {bad} ({arr[bad]!r})")
    return out


def check_lengths(**arrays: np.ndarray) -> int:
    """Return the common length of the arrays, or raise naming each length."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise SurvivalInputError(f"length mismatch: {detail}")
    n = next(iter(lengths.values()))
    if n == 0:
        raise SurvivalInputError("no observations: the inputs are empty")
    return n


def as_time(values, name: str = "time") -> np.ndarray:
    """Follow-up times as float64: finite and non-negative."""
    out = _as_float(values, name)
    if out.size and out.min() < 0:
        bad = int(np.argmin(out))
        raise SurvivalInputError(f"{name} must be non-negative: {out[bad]!r} at position {bad}")
    return out


def as_event(values, name: str = "event") -> np.ndarray:
    """Event indicator as int8: 1 = event, 0 = censored (booleans accepted)."""
    arr = _as_1d(values, name)
    if arr.dtype == np.bool_:
        return arr.astype(np.int8)
    if arr.dtype.kind in "iu" and arr.size and arr.view(f"u{arr.dtype.itemsize}").max() <= 1:
        # Fast path for 0/1 integers: read as unsigned, any negative value would exceed 1.
        return arr.astype(np.int8)
    num = _as_float(arr, name)
    ok = (num == 0) | (num == 1)
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        raise SurvivalInputError(f"{name} must be 0 (censored) or 1 (event): {arr[bad]!r} at position {bad}")
    return num.astype(np.int8)


def as_cause(values, name: str = "cause") -> np.ndarray:
    """Competing-risk cause as int64: 0 = censored, 1..k = the cause of the event."""
    num = _as_float(values, name)
    ok = (num >= 0) & (num == np.round(num))
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        raise SurvivalInputError(
            f"{name} must be 0 (censored) or a positive integer cause: {num[bad]!r} at position {bad}"
        )
    return num.astype(np.int64)


def as_group(values, name: str = "group") -> tuple[np.ndarray, list]:
    """Group codes 0..g-1 and their labels in sorted order (as R's ``factor``)."""
    arr = _as_1d(values, name)
    if pd.isna(arr).any():
        bad = int(np.flatnonzero(pd.isna(arr))[0])
        raise SurvivalInputError(f"{name} must not be missing: missing value at position {bad}")
    labels, codes = np.unique(arr, return_inverse=True)
    return codes.astype(np.int64), labels.tolist()


def as_conf_level(conf_level: float) -> float:
    if not 0 < conf_level < 1:
        raise SurvivalInputError(f"conf_level must lie strictly between 0 and 1, got {conf_level!r}")
    return float(conf_level)


def as_conf_type(conf_type: str) -> str:
    if conf_type not in CONF_TYPES:
        raise SurvivalInputError(f"conf_type must be one of {', '.join(CONF_TYPES)}; got {conf_type!r}")
    return conf_type


def as_times_grid(times: Sequence[float] | np.ndarray, name: str = "times") -> np.ndarray:
    """Requested time points: finite, sorted and de-duplicated (as R's ``summary.survfit``)."""
    return np.unique(_as_float(np.atleast_1d(np.asarray(times)), name))
