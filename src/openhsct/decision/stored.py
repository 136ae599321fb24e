"""The fitted prediction model as plain, deterministic JSON values, and back.

A data release stores the model it was built with (``docs/releases.md``), so that ``/decide/`` and
``openhsct decide`` predict from the published release and never from the live registry.
:func:`model_to_dict` writes what :func:`openhsct.decision.prediction.predict_individual` needs — the Cox
coefficients, their covariance, the covariate means, the Breslow baseline with its risk-weighted covariate
means, the training ranges, which category levels are supported, the validation (Harrell's C, calibration,
slope, ``n_patients``, ``n_events``) and the TRM model (pooled rate or Firth coefficients and covariance) —
and :func:`model_from_dict` rebuilds a :class:`~openhsct.decision.prediction.PredictionModel` that predicts
the same numbers (floats are written with Python's shortest round-trip representation, so they come back
bit for bit). No pickle: the values are data anyone can read.

What is left out, because a public release must not carry it (``docs/disclosure.md``):

- the patient rows (``training``): the "similar patients" are published as disclosed group counts
  (``counts``, a count of 1-4 is suppressed);
- the baseline steps with fewer than :data:`~openhsct.decision.prediction.MIN_AT_RISK` patients at risk,
  whose risk-weighted means would describe a handful of people. Predictions never read them: the person's
  curve stops at the last event time with at least that many at risk, and the model is fitted only when
  that many are followed to the horizon;
- the number of patients and events in each category level (only whether the level is supported);
- the longest follow-up (``max_followup_years`` becomes the last stored baseline time).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from openhsct.decision.firth import FirthLogit
from openhsct.decision.prediction import MIN_AT_RISK, PredictionModel, TrmModel

STORED_FORMAT = 1
BASELINE_COLUMNS = ("time", "events", "n_risk", "s0", "hazard")


def _num(x: Any) -> float | int | None:
    """A plain number (NaN/inf as None)."""
    if x is None:
        return None
    x = x.item() if hasattr(x, "item") else x
    if isinstance(x, bool | int):
        return int(x)
    x = float(x)
    return x if math.isfinite(x) else None


def _nan(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{str(k): (_num(v) if not isinstance(v, str) else v) for k, v in r.items()} for r in frame.to_dict("records")]


def _firth_to_dict(fit: FirthLogit) -> dict:
    return {
        "terms": [str(t) for t in fit.coef.index],
        "coef": [_num(v) for v in fit.coef],
        "covariance": [[_num(v) for v in row] for row in fit.covariance.to_numpy()],
        "loglik_penalised": _num(fit.loglik_penalised),
        "n": int(fit.n),
        "events": int(fit.events),
        "iterations": int(fit.iterations),
        "conf_level": float(fit.conf_level),
    }


def _firth_from_dict(d: Mapping) -> FirthLogit:
    terms = list(d["terms"])
    cov = np.array([[_nan(v) for v in row] for row in d["covariance"]], dtype=float).reshape(len(terms), len(terms))
    return FirthLogit(
        coef=pd.Series([_nan(v) for v in d["coef"]], index=terms, name="coef"),
        se=pd.Series(np.sqrt(np.diag(cov)), index=terms, name="se"),
        covariance=pd.DataFrame(cov, index=terms, columns=terms),
        loglik_penalised=_nan(d["loglik_penalised"]),
        n=int(d["n"]),
        events=int(d["events"]),
        iterations=int(d["iterations"]),
        conf_level=float(d["conf_level"]),
    )


def _trm_to_dict(trm: TrmModel) -> dict:
    return {
        "method": trm.method, "events": int(trm.events), "n": int(trm.n), "estimate": _num(trm.estimate),
        "lower": _num(trm.lower), "upper": _num(trm.upper), "covariates": list(trm.covariates), "note": trm.note,
        "conf_level": float(trm.conf_level), "firth": None if trm.firth is None else _firth_to_dict(trm.firth),
    }


def _trm_from_dict(d: Mapping) -> TrmModel:
    return TrmModel(
        method=d["method"], events=int(d["events"]), n=int(d["n"]), estimate=_nan(d["estimate"]),
        lower=_nan(d["lower"]), upper=_nan(d["upper"]), covariates=tuple(d["covariates"]), note=d["note"],
        firth=None if d["firth"] is None else _firth_from_dict(d["firth"]), conf_level=float(d["conf_level"]),
    )


def model_to_dict(model: PredictionModel, counts: Mapping[str, int | None] | None = None) -> dict:
    """The model as plain JSON values (module docstring); ``counts``: the published "similar patients"
    per ``"phenotype|band"`` group (already disclosed). Returns a dict for canonical JSON."""
    keep = (model.baseline["n_risk"] >= MIN_AT_RISK).to_numpy()
    base = model.baseline.loc[keep]
    return {
        "format": STORED_FORMAT,
        "covariates": list(model.covariates),
        "coef": [_num(v) for v in model.coef],
        "covariance": [[_num(v) for v in row] for row in model.covariance.to_numpy()],
        "means": [_num(v) for v in model.means],
        "baseline": {c: [_num(v) for v in base[c]] for c in BASELINE_COLUMNS},
        "xbar": [[_num(v) for v in row] for row in np.asarray(model.xbar)[keep]],
        "horizon_years": float(model.horizon_years),
        "landmark_years": model.landmark_years,
        "n_patients": int(model.n_patients),
        "n_events": int(model.n_events),
        "c_index": _num(model.c_index),
        "c_index_apparent": _num(model.c_index_apparent),
        "calibration": _records(model.calibration),
        "calibration_slope": _num(model.calibration_slope),
        "calibration_slope_apparent": _num(model.calibration_slope_apparent),
        "n_bootstrap": int(model.n_bootstrap),
        "n_bootstrap_used": int(model.n_bootstrap_used),
        "seed": int(model.seed),
        "ranges": {k: [_num(lo), _num(hi)] for k, (lo, hi) in sorted(model.ranges.items())},
        "categories": [
            {"input": str(r["input"]), "level": str(r["level"]), "supported": bool(r["supported"])}
            for r in model.categories.to_dict("records")
        ],
        "trm": _trm_to_dict(model.trm),
        "max_followup_years": _num(base["time"].max()) if len(base) else 0.0,
        "conf_level": float(model.conf_level),
        "similar_counts": None if counts is None else {str(k): counts[k] for k in sorted(counts)},
    }


def model_from_dict(data: Mapping, excluded: Mapping | None = None) -> PredictionModel:
    """The :class:`~openhsct.decision.prediction.PredictionModel` written by :func:`model_to_dict` (no
    patient rows: ``training`` is None and the similar patients are the stored counts); ``excluded``: the
    published patients left out of the fit, by reason."""
    if data.get("format") != STORED_FORMAT:
        raise ValueError(f"stored prediction model format {data.get('format')!r} is not {STORED_FORMAT}")
    names = list(data["covariates"])
    k = len(names)
    base = pd.DataFrame({c: data["baseline"][c] for c in BASELINE_COLUMNS})
    base = base.astype({"time": float, "events": int, "n_risk": int, "s0": float, "hazard": float})
    cov = np.array([[_nan(v) for v in row] for row in data["covariance"]], dtype=float).reshape(k, k)
    xbar = np.array([[_nan(v) for v in row] for row in data["xbar"]], dtype=float).reshape(len(base), k)
    calibration = pd.DataFrame(data["calibration"]).fillna(np.nan)
    return PredictionModel(
        covariates=tuple(names),
        coef=pd.Series([_nan(v) for v in data["coef"]], index=names, name="coef", dtype=float),
        covariance=pd.DataFrame(cov, index=names, columns=names),
        means=pd.Series([_nan(v) for v in data["means"]], index=names, name="mean", dtype=float),
        baseline=base,
        xbar=xbar,
        horizon_years=float(data["horizon_years"]),
        landmark_years=data["landmark_years"],
        n_patients=int(data["n_patients"]),
        n_events=int(data["n_events"]),
        c_index=_nan(data["c_index"]),
        c_index_apparent=_nan(data["c_index_apparent"]),
        calibration=calibration,
        calibration_slope=_nan(data["calibration_slope"]),
        calibration_slope_apparent=_nan(data["calibration_slope_apparent"]),
        n_bootstrap=int(data["n_bootstrap"]),
        n_bootstrap_used=int(data["n_bootstrap_used"]),
        seed=int(data["seed"]),
        ranges={key: (_nan(lo), _nan(hi)) for key, (lo, hi) in data["ranges"].items()},
        categories=pd.DataFrame(data["categories"], columns=["input", "level", "supported"]),
        excluded=dict(excluded or {}),
        trm=_trm_from_dict(data["trm"]),
        training=None,
        max_followup_years=_nan(data["max_followup_years"]),
        conf_level=float(data["conf_level"]),
        similar_counts=dict(data["similar_counts"] or {}),
    )
