"""What the follow-up means: standard MS and transplant endpoints as pure functions.

No Django import here: every function takes pandas/numpy inputs and returns small results.
The survival statistics are imported eagerly (``kaplan_meier`` is both a module and its function, and
the function must win); the disability-course engine loads on first use.
"""

from __future__ import annotations

import importlib

from openhsct.outcomes.binomial import binomial_ci
from openhsct.outcomes.competing_risks import cumulative_incidence, gray_test
from openhsct.outcomes.cox import cox_ph
from openhsct.outcomes.kaplan_meier import kaplan_meier, km_summary, reverse_km_median_followup
from openhsct.outcomes.logrank import logrank_test

_LAZY = {"msprog": "openhsct.outcomes.progression"}

__all__ = [
    "binomial_ci", "cox_ph", "cumulative_incidence", "gray_test", "kaplan_meier", "km_summary", "logrank_test",
    "msprog", "reverse_km_median_followup",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'openhsct.outcomes' has no attribute {name!r}")
