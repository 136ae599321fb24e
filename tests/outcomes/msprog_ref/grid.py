"""Argument combinations compared with pymsprog: each rule on its own, then seeded random mixtures."""

from __future__ import annotations

import math

import numpy as np

# One rule at a time, everything else at pymsprog's defaults.
SINGLE_RULES: list[dict] = [
    {},
    {"event": "firstCDI"},
    {"event": "first"},
    {"event": "multiple"},
    {"event": "multiple", "RAW_PIRA": True},
    {"event": "firstCDW", "RAW_PIRA": True},
    {"event": "firstPIRA"},
    {"event": "firstRAW"},
    {"event": "firstPIRA", "baseline": "roving"},
    {"event": "firstRAW", "baseline": "roving_wors"},
    {"event": "multiple", "baseline": "roving"},
    {"event": "multiple", "baseline": "roving_impr"},
    {"event": "multiple", "baseline": "roving_wors"},
    {"event": "multiple", "baseline": "roving", "proceed_from": "event"},
    {"event": "multiple", "proceed_from": "event"},
    {"event": "multiple", "conf_days": 168},
    {"event": "multiple", "conf_days": 84, "conf_tol_days": 30},
    {"event": "multiple", "conf_days": 84, "conf_tol_days": [7, math.inf]},
    {"event": "multiple", "conf_days": 180, "conf_tol_days": [45, 45]},
    {"event": "multiple", "require_sust_days": 365},
    {"event": "multiple", "require_sust_days": math.inf},
    {"event": "multiple", "require_sust_days": 180, "check_intermediate": False},
    {"event": "multiple", "check_intermediate": False},
    {"event": "multiple", "RAW_PIRA": True, "relapse_to_bl": 0},
    {"event": "multiple", "RAW_PIRA": True, "relapse_to_bl": [60, 30]},
    {"event": "multiple", "RAW_PIRA": True, "relapse_to_event": 30},
    {"event": "multiple", "RAW_PIRA": True, "relapse_to_event": [30, 30]},
    {"event": "multiple", "RAW_PIRA": True, "relapse_to_conf": 0},
    {"event": "multiple", "RAW_PIRA": True, "relapse_to_conf": [90, 30]},
    {"event": "multiple", "RAW_PIRA": True, "relapse_assoc": 30},
    {"event": "multiple", "RAW_PIRA": True, "relapse_assoc": [90, 30]},
    {"event": "multiple", "impute_last_visit": 1},
    {"event": "multiple", "RAW_PIRA": True, "impute_last_visit": 1, "baseline": "roving"},
    {"event": "multiple", "impute_last_visit": 1000},
    {"event": "multiple", "baseline": "roving", "sub_threshold_rebl": "event"},
    {"event": "multiple", "baseline": "roving", "sub_threshold_rebl": "improvement"},
    {"event": "multiple", "baseline": "roving", "sub_threshold_rebl": "worsening"},
    {"event": "multiple", "baseline": "roving", "skip_local_extrema": "strict"},
    {"event": "multiple", "baseline": "roving", "skip_local_extrema": "all"},
    {"event": "multiple", "RAW_PIRA": True, "relapse_rebl": True},
    {"event": "multiple", "RAW_PIRA": True, "relapse_rebl": True, "bl_geq": True, "baseline": "roving"},
    {
        "event": "multiple",
        "RAW_PIRA": True,
        "relapse_indep": {"prec": (90, 30), "event": (90, 30), "conf": (90, 30), "prec_type": "last"},
    },
    {
        "event": "multiple",
        "RAW_PIRA": True,
        "relapse_indep": {"prec": (0, None), "event": (None, 30), "conf": (90, 30), "prec_type": "baseline"},
    },
    {
        "event": "multiple",
        "RAW_PIRA": True,
        "relapse_indep": {"prec": (30, 30), "event": (90, 30), "conf": (0, 0), "prec_type": "last_delta"},
    },
    {"event": "multiple", "conf_days": [84, 168]},
    {"event": "multiple", "RAW_PIRA": True, "conf_days": [84, 168], "conf_tol_days": {84: [7, 30], 168: 30}},
    {"event": "multiple", "RAW_PIRA": True, "include_dates": True, "include_value": True},
    {
        "event": "multiple",
        "include_stable": True,
        "include_value": True,
        "baseline": "roving",
        "skip_local_extrema": "strict",
    },
    {"event": "first", "include_stable": False},
]

OPTIONS: dict[str, list] = {
    "event": ["firstCDW", "firstCDI", "first", "multiple", "multiple", "multiple", "firstPIRA", "firstRAW"],
    "RAW_PIRA": [False, True, True],
    "baseline": ["fixed", "roving", "roving_impr", "roving_wors"],
    "proceed_from": ["firstconf", "event"],
    "conf_days": [84, 84, 168, 180, [84, 168]],
    "conf_tol_days": [[7, 730.5], 30, [7, math.inf], [30, 60]],
    "require_sust_days": [0, 0, 90, 365, math.inf],
    "check_intermediate": [True, True, False],
    "relapse_to_bl": [30, 0, [30, 30], 60],
    "relapse_to_event": [0, 0, 30, [30, 10]],
    "relapse_to_conf": [30, 0, [30, 30]],
    "relapse_assoc": [90, 30, [90, 30]],
    "impute_last_visit": [0, 0, 1, 900],
    "sub_threshold_rebl": ["none", "none", "event", "improvement", "worsening"],
    "skip_local_extrema": ["none", "none", "strict", "all"],
    "relapse_rebl": [False, False, False, True],
    "bl_geq": [False, True],
}


def random_grid(n: int, seed: int) -> list[dict]:
    """``n`` seeded mixtures of the options above (each option drawn independently)."""
    rng = np.random.default_rng(seed)
    grid = []
    for _ in range(n):
        kwargs = {}
        for name, choices in OPTIONS.items():
            value = choices[int(rng.integers(len(choices)))]
            kwargs[name] = value
        kwargs["include_value"] = True
        kwargs["include_dates"] = bool(rng.integers(2))
        grid.append(kwargs)
    return grid
