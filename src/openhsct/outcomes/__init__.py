"""What the follow-up means: standard MS and transplant endpoints as pure functions.

No Django import here: every function takes pandas/numpy inputs and returns small results.
Public names are loaded lazily so ``import openhsct.outcomes`` stays fast.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "kaplan_meier": "openhsct.outcomes.kaplan_meier",
    "km_summary": "openhsct.outcomes.kaplan_meier",
    "reverse_km_median_followup": "openhsct.outcomes.kaplan_meier",
    "cumulative_incidence": "openhsct.outcomes.competing_risks",
    "gray_test": "openhsct.outcomes.competing_risks",
    "logrank_test": "openhsct.outcomes.logrank",
    "cox_ph": "openhsct.outcomes.cox",
    "binomial_ci": "openhsct.outcomes.binomial",
    "msprog": "openhsct.outcomes.progression",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'openhsct.outcomes' has no attribute {name!r}")
