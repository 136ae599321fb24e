"""What aHSCT could mean for one person: exact Markov engines, microsimulation, the MS model, PSA and
value of information.

No Django import here (statistics packages take arrays and DataFrames). Public names are loaded lazily so
that ``import openhsct.decision`` stays fast and never pulls in numba or Dask.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "markov_trace": "openhsct.decision.markov",
    "markov_cohort": "openhsct.decision.markov",
    "microsimulate": "openhsct.decision.microsim",
    "available_backends": "openhsct.decision.microsim",
    "load_parameters": "openhsct.decision.parameters",
    "ModelParameters": "openhsct.decision.parameters",
    "simulate_ms": "openhsct.decision.ms_model",
    "ms_cohort_inputs": "openhsct.decision.ms_model",
    "MSResult": "openhsct.decision.ms_model",
    "NOT_MEDICAL_ADVICE": "openhsct.decision.ms_model",
    "load_life_table": "openhsct.decision.lifetables",
    "sample_parameters": "openhsct.decision.psa",
    "psa": "openhsct.decision.psa",
    "ceac": "openhsct.decision.voi",
    "ceaf": "openhsct.decision.voi",
    "evpi": "openhsct.decision.voi",
    "icer_table": "openhsct.decision.voi",
    "cohort_from_registry": "openhsct.decision.prediction",
    "fit_prediction_model": "openhsct.decision.prediction",
    "predict_individual": "openhsct.decision.prediction",
    "OutsideTrainingData": "openhsct.decision.prediction",
    "decision_aid": "openhsct.decision.aid",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        # cache the object: a submodule of the same name (psa) would otherwise shadow it after import
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'openhsct.decision' has no attribute {name!r}")
