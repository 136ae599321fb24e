"""What the literature says: cited published aHSCT-in-MS cohorts and random-effects meta-analysis.

No Django import here. Public names are loaded lazily.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "rma": "openhsct.evidence.meta",
    "rma_glmm": "openhsct.evidence.glmm",
    "rma_glmm_mods": "openhsct.evidence.glmm",
    "marginal_proportion": "openhsct.evidence.glmm",
    "rma_prop": "openhsct.evidence.proportions",
    "regtest": "openhsct.evidence.meta",
    "load_cohorts": "openhsct.evidence.dataset",
    "pooled_outcome": "openhsct.evidence.pooling",
    "sensitivity_analyses": "openhsct.evidence.sensitivity",
    "crude_rate": "openhsct.evidence.rates",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        # cache the function: a submodule of the same name would otherwise shadow it after import
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'openhsct.evidence' has no attribute {name!r}")
