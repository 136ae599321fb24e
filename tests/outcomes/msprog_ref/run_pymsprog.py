"""Run pymsprog 1.0.7 on a batch of cases; meant for ``.venv-msprog/bin/python`` (numpy<2, pandas<3).

Usage: ``run_pymsprog.py CASES.json OUT.json``. ``CASES.json`` holds ``{"datasets": {key: {"visits": CSV text,
"relapses": CSV text or null}}, "cases": [{"data": key, "kwargs": {...}}]}``; visits have columns
``id,date,EDSS`` (plus any extra column a kwarg names), relapses ``id,date``. ``OUT.json`` receives, per case,
``{"results": CSV text, "summary": CSV text, "seconds": msprog's own run time}`` or ``{"error": "..."}``.
This file imports nothing from OpenHSCT: it runs in the reference's own virtualenv.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
import warnings

import pandas as pd
import pymsprog


def _read(text: str | None, subj_col: str = "id") -> pd.DataFrame | None:
    if text is None:
        return None
    return pd.read_csv(io.StringIO(text), dtype={subj_col: str})


def _number(text: str) -> float:
    value = float(text)
    return int(value) if value.is_integer() else value


def run_case(data: dict, kwargs: dict) -> dict:
    visits = _read(data["visits"])
    relapses = _read(data.get("relapses"))
    kwargs = dict(kwargs)
    kwargs.setdefault("subj_col", "id")
    kwargs.setdefault("value_col", "EDSS")
    kwargs.setdefault("date_col", "date")
    kwargs.setdefault("outcome", "edss")
    kwargs["verbose"] = 0
    if isinstance(kwargs.get("conf_tol_days"), dict):  # JSON turned the numeric keys into strings
        kwargs["conf_tol_days"] = {_number(k): v for k, v in kwargs["conf_tol_days"].items()}
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            summary, results = pymsprog.MSprog(visits, relapse=relapses, **kwargs)[:2]
            seconds = time.perf_counter() - start
    except Exception as exc:  # the caller decides what a reference failure means
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {
        "results": results.to_csv(index=False),
        "summary": summary.to_csv(index=True, index_label="id"),
        "seconds": seconds,
    }


def main(argv: list[str]) -> None:
    with open(argv[1]) as fh:
        spec = json.load(fh)
    out = [run_case(spec["datasets"][case["data"]], case["kwargs"]) for case in spec["cases"]]
    with open(argv[2], "w") as fh:
        json.dump({"pymsprog": pymsprog.__version__, "cases": out}, fh)


if __name__ == "__main__":
    main(sys.argv)
