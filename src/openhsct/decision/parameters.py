"""The MS model's inputs, every one in a data file beside its source.

``data/parameters.csv`` holds one row per scalar input with the columns :data:`PARAMETER_COLUMNS`;
``verified`` is ``yes`` only for a number read in the cited source. The natural-history EDSS matrix is a
long-form CSV (:data:`MATRIX_COLUMNS`); its ``from``/``to`` labels are the lower whole EDSS of each band,
so a coarser published set of bands works as well as the ten single-point bands.

The shipped 10-band matrix is built by :func:`fine_from_coarse` from the published 4-band MSBase matrix
(Campbell JA et al. 2025, *PharmacoEconomics* 43(2):223-239, doi:10.1007/s40273-024-01417-4); both are
shipped, and the construction is stated in the matrix's ``source`` column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from openhsct.errors import OpenHSCTError

PARAMETER_COLUMNS: tuple[str, ...] = (
    "name",
    "value",
    "low",
    "high",
    "distribution",
    "dist_a",
    "dist_b",
    "unit",
    "currency",
    "price_year",
    "source",
    "url_or_doi",
    "verified",
    "notes",
)
MATRIX_COLUMNS: tuple[str, ...] = ("from", "to", "probability", "n_for_dirichlet", "source")
DISTRIBUTIONS: tuple[str, ...] = ("fixed", "beta", "gamma", "lognormal", "normal")
PARAMETERS_FILE = "parameters.csv"
MATRIX_FILE = "edss_transitions.csv"
COARSE_MATRIX_FILE = "edss_transitions_campbell4.csv"
EDSS_BANDS: tuple[int, ...] = tuple(range(10))
# A matrix cell counts as read in its source only when its ``source`` starts with this mark.
VERIFIED_MARK = "[read] "


class ParameterError(OpenHSCTError):
    """A parameter file that breaks its schema, or a parameter the model needs that is not there."""

    exit_code = 2


def data_dir() -> Path:
    """The folder of the shipped data files."""
    return Path(str(resources.files("openhsct.decision") / "data"))


def _read_parameters(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if tuple(table.columns) != PARAMETER_COLUMNS:
        raise ParameterError(f"{path.name}: columns must be {', '.join(PARAMETER_COLUMNS)}")
    problems = parameter_problems(table, path.name)
    if problems:
        raise ParameterError(f"{path.name}: {len(problems)} problem(s)", details=problems)
    numeric = {
        c: pd.to_numeric(table[c], errors="coerce") for c in ("value", "low", "high", "dist_a", "dist_b")
    }
    return table.assign(**numeric).set_index("name")


def parameter_problems(table: pd.DataFrame, file_name: str = PARAMETERS_FILE) -> list[str]:
    """Every schema problem of a raw (all-text) parameter table, as ``FILE:ROW:COLUMN: rule (value)``."""
    problems = []
    for i, row in enumerate(table.to_dict("records")):
        line = i + 2

        def bad(column: str, rule: str, row=row, line=line) -> None:
            problems.append(f"{file_name}:{line}:{column}: {rule} ({row[column]!r})")

        for column in ("name", "source", "url_or_doi", "unit"):
            if not row[column].strip():
                bad(column, "required")
        if row["verified"] not in ("yes", "no"):
            bad("verified", "must be yes or no")
        if row["distribution"] not in DISTRIBUTIONS:
            bad("distribution", f"must be one of {', '.join(DISTRIBUTIONS)}")
        for column in ("value", "low", "high", "dist_a", "dist_b"):
            if row[column] and not np.isfinite(pd.to_numeric(row[column], errors="coerce")):
                bad(column, "must be a number")
        if not row["value"]:
            bad("value", "required")
        if row["distribution"] not in ("fixed", "") and not (row["dist_a"] and row["dist_b"]):
            bad("dist_a", "a distribution needs dist_a and dist_b")
        if row["currency"] and not (len(row["currency"]) == 3 and row["price_year"].isdigit()):
            bad("price_year", "an amount needs an ISO 4217 currency and a price year")
    names = table["name"]
    for name in sorted(set(names[names.duplicated()])):
        problems.append(f"{file_name}:{int(names[names == name].index[1]) + 2}:name: duplicate ({name!r})")
    return problems


def _read_matrix(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path, dtype={"source": str})
    if tuple(table.columns) != MATRIX_COLUMNS:
        raise ParameterError(f"{path.name}: columns must be {', '.join(MATRIX_COLUMNS)}")
    table["n_for_dirichlet"] = pd.to_numeric(table["n_for_dirichlet"], errors="coerce")
    table["source"] = table["source"].fillna("")
    matrix_from_long(table, path.name)
    return table


def matrix_from_long(table: pd.DataFrame, file_name: str = MATRIX_FILE) -> tuple[list[int], np.ndarray]:
    """Band labels and the square matrix of a long-form table; rows must sum to 1."""
    bands = sorted({int(b) for b in table["from"]} | {int(b) for b in table["to"]})
    index = {b: i for i, b in enumerate(bands)}
    matrix = np.zeros((len(bands), len(bands)))
    for row in table.itertuples(index=False):
        matrix[index[int(row[0])], index[int(row[1])]] = float(row[2])
    sums = matrix.sum(axis=1)
    bad = [str(b) for b, s in zip(bands, sums, strict=True) if abs(s - 1.0) > 1e-9]
    if bad or (matrix < 0).any():
        raise ParameterError(f"{file_name}: rows {', '.join(bad) or '?'} must be probabilities summing to 1")
    return bands, matrix


def fine_from_coarse(coarse_bands: list[int], coarse: np.ndarray, fine_bands=EDSS_BANDS) -> np.ndarray:
    """A fine-band matrix that lumps exactly to ``coarse`` (lumpability: Kemeny JG, Snell JL 1960, *Finite
    Markov Chains*, Van Nostrand, ch. 6).

    Each fine band belongs to the coarse band with the largest lower bound not above it. A stay keeps the
    fine band; a move up lands in the lowest fine band of the destination, a move down in its highest.
    """
    owner = [max(i for i, b in enumerate(coarse_bands) if b <= f) for f in fine_bands]
    members = {c: [j for j, o in enumerate(owner) if o == c] for c in range(len(coarse_bands))}
    fine = np.zeros((len(fine_bands), len(fine_bands)))
    for j, c in enumerate(owner):
        for d, p in enumerate(coarse[c]):
            target = j if d == c else (members[d][0] if d > c else members[d][-1])
            fine[j, target] += p
    return fine


@dataclass(frozen=True)
class ModelParameters:
    """The model's inputs: ``table`` (parameters.csv indexed by name) and ``transitions`` (long form)."""

    table: pd.DataFrame
    transitions: pd.DataFrame
    origin: str

    def value(self, name: str) -> float:
        """The value of parameter ``name``."""
        if name not in self.table.index:
            raise ParameterError(f"parameter {name!r} is not in {self.origin}")
        return float(self.table.at[name, "value"])

    def values(self, prefix: str, bands) -> np.ndarray:
        """Values of ``{prefix}{band}`` for each band label, in order."""
        return np.array([self.value(f"{prefix}{b}") for b in bands])

    def amount(self, name: str) -> tuple[float, str, str]:
        """``(value, currency, price_year)`` of a monetary parameter."""
        value = self.value(name)
        currency = self.table.at[name, "currency"]
        if not currency:
            raise ParameterError(f"parameter {name!r} is not an amount of money (no currency)")
        return value, currency, self.table.at[name, "price_year"]

    @cached_property
    def _matrix(self) -> tuple[list[int], np.ndarray]:
        return matrix_from_long(self.transitions, self.origin)

    @property
    def bands(self) -> list[int]:
        """EDSS band labels (lower whole EDSS of each band) read from the transition file."""
        return list(self._matrix[0])

    def transition_matrix(self) -> np.ndarray:
        """The annual natural-history EDSS transition matrix among the living, rows "from"."""
        return self._matrix[1].copy()

    def dmts(self) -> list[str]:
        """The DMTs that have every parameter a treatment line needs."""
        names = [
            n[len("dmt_") : -len("_hr_progression")]
            for n in self.table.index
            if n.endswith("_hr_progression") and n.startswith("dmt_")
        ]
        need = ("_rr_relapse", "_cost_annual", "_discontinuation")
        return sorted(d for d in names if all(f"dmt_{d}{s}" in self.table.index for s in need))

    def with_values(self, values: Mapping[str, float | tuple[float, str]]) -> ModelParameters:
        """A copy with parameters replaced; an amount may be given as ``(value, currency)``.

        A replaced value is the user's own and is marked ``verified=no`` with source "user input".
        """
        table = self.table.copy()
        for name, new in values.items():
            if name not in table.index:
                raise ParameterError(f"parameter {name!r} is not in {self.origin}")
            value, currency = new if isinstance(new, tuple) else (new, table.at[name, "currency"])
            table.loc[name, ["value", "distribution", "verified"]] = [float(value), "fixed", "no"]
            table.loc[name, ["currency", "source", "notes"]] = [
                currency,
                "user input",
                "value given by the user",
            ]
        return replace(self, table=table)

    def with_draw(self, draw: Mapping[str, float], matrix: np.ndarray | None = None) -> ModelParameters:
        """A copy holding one PSA draw of the values (and optionally of the transition matrix)."""
        table = self.table.copy()
        names = [n for n in draw if n in table.index]
        table.loc[names, "value"] = [float(draw[n]) for n in names]
        transitions = self.transitions
        if matrix is not None:
            bands = self.bands
            pos = {b: i for i, b in enumerate(bands)}
            probs = [
                matrix[pos[int(f)], pos[int(t)]]
                for f, t in zip(transitions["from"], transitions["to"], strict=True)
            ]
            transitions = transitions.assign(probability=probs)
        return replace(self, table=table, transitions=transitions)

    def unverified(self, names=None) -> pd.DataFrame:
        """Rows with ``verified=no`` (only ``names`` when given): ``name, value, unit, source, notes``."""
        rows = self.table[self.table["verified"] != "yes"]
        if names is not None:
            rows = rows[rows.index.isin(list(names))]
        out = rows.loc[:, ["value", "unit", "currency", "source", "notes"]].reset_index()
        sources = sorted(set(self.transitions["source"]))
        if not all(src.startswith(VERIFIED_MARK) for src in sources):
            extra = pd.DataFrame(
                [
                    {
                        "name": "edss_transition_matrix",
                        "value": np.nan,
                        "unit": "annual probability",
                        "currency": "",
                        "source": "; ".join(sources),
                        "notes": "natural-history EDSS matrix",
                    }
                ]
            )
            out = pd.concat([out, extra], ignore_index=True)
        return out


def load_parameters(path: str | Path | None = None) -> ModelParameters:
    """The model's parameters from ``path`` (a folder holding parameters.csv and edss_transitions.csv, or
    the parameters.csv itself; the shipped defaults when None); returns a :class:`ModelParameters`."""
    folder = data_dir() if path is None else Path(path)
    params_file = folder if folder.suffix == ".csv" else folder / PARAMETERS_FILE
    matrix_file = params_file.parent / MATRIX_FILE
    for f in (params_file, matrix_file):
        if not f.exists():
            raise ParameterError(f"parameter file {f}: no such file")
    return ModelParameters(
        table=_read_parameters(params_file),
        transitions=_read_matrix(matrix_file),
        origin=str(params_file),
    )


def load_coarse_transitions() -> pd.DataFrame:
    """The published 4-band MSBase matrix (Campbell 2025) in long form, as shipped."""
    return _read_matrix(data_dir() / COARSE_MATRIX_FILE)
