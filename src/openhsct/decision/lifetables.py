"""General-population background mortality: one-year q(x) by country, sex and age.

The shipped table (``data/life-tables.csv``; sources and licences in ``data/README.md``) holds:

* United Nations, Department of Economic and Social Affairs, Population Division (2024). *World Population
  Prospects 2024*, single-age life tables, estimates for 2023 (``source_id`` ``wpp2024_single_age_2023``;
  RUS, GBR, USA, SWE, MEX, ISR; female and male; CC BY 3.0 IGO), https://population.un.org/wpp/
* Human Mortality Database, USA period life tables 1x1, 2022 (``hmd_usa_2022``), https://www.mortality.org

Any other table with the columns ``country, year, sex, age_start, age_end, qx, source_id`` can be given
as a file (the CLI's ``--life-table FILE``).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from openhsct.errors import OpenHSCTError

COLUMNS: tuple[str, ...] = ("country", "year", "sex", "age_start", "age_end", "qx", "source_id")
SEXES = {"F": "female", "M": "male", "female": "female", "male": "male", "both": "both"}
# Where a country has more than one table, the WPP 2024 one is used unless ``source_id`` says otherwise,
# so that every country's background mortality comes from the same harmonised source.
PREFERRED_SOURCE = "wpp2024_single_age_2023"


class LifeTableError(OpenHSCTError):
    """A life table file that breaks the format, or a country/sex the table does not hold."""

    exit_code = 2


def shipped_path() -> Path:
    """Path of the life table shipped with the package."""
    return Path(str(resources.files("openhsct.decision") / "data" / "life-tables.csv"))


def load_life_table(path: str | Path | None = None) -> pd.DataFrame:
    """The life table at ``path`` (the shipped one when None), checked; returns a DataFrame of :data:`COLUMNS`.

    A file is read once per modification time (a PSA calls this for every sample); treat the frame as
    read-only.
    """
    source = Path(path) if path is not None else shipped_path()
    if not source.exists():
        raise LifeTableError(f"life table {source}: no such file")
    return _load(str(source.resolve()), source.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int) -> pd.DataFrame:
    source = Path(path)
    table = pd.read_csv(source, dtype={"country": str, "sex": str, "source_id": str})
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise LifeTableError(f"life table {source}: missing column(s) {', '.join(missing)}")
    problems = []
    qx = pd.to_numeric(table["qx"], errors="coerce")
    for row in np.flatnonzero(~qx.between(0, 1)):
        problems.append(
            f"{source.name}:{row + 2}:qx: must be a probability in [0, 1] ({table['qx'].iloc[row]})"
        )
    ages = pd.to_numeric(table["age_start"], errors="coerce")
    for row in np.flatnonzero(ages.isna() | (ages < 0)):
        problems.append(f"{source.name}:{row + 2}:age_start: must be a whole age >= 0")
    if problems:
        raise LifeTableError(f"life table {source}: {len(problems)} problem(s)", details=problems)
    table = table.assign(qx=qx, age_start=ages.astype(int), country=table["country"].str.upper())
    return table.loc[:, list(COLUMNS)]


def countries(table: pd.DataFrame) -> list[str]:
    """ISO3 codes held by ``table``, sorted."""
    return sorted(table["country"].unique())


def qx_by_age(
    table: pd.DataFrame, country: str, sex: str, *, source_id: str | None = None, max_age: int = 120
) -> np.ndarray:
    """One-year death probabilities q(x) for whole ages 0..max_age; returns an array of length max_age+1.

    Ages at or above the open last interval get its q (1 in the shipped tables).
    """
    code = str(country).upper()
    if code not in set(table["country"]):
        raise LifeTableError(
            f"no life table for country {country!r}; shipped: {', '.join(countries(table))} "
            "(give another with --life-table FILE)"
        )
    sex_name = SEXES.get(str(sex))
    rows = table[(table["country"] == code) & (table["sex"] == sex_name)]
    if rows.empty:
        held = sorted(table.loc[table["country"] == code, "sex"].unique())
        raise LifeTableError(f"life table for {code} has no sex {sex!r}; it holds {', '.join(held)}")
    sources = sorted(rows["source_id"].unique())
    chosen = source_id or (PREFERRED_SOURCE if PREFERRED_SOURCE in sources else sources[0])
    if chosen not in sources:
        raise LifeTableError(f"life table for {code} has no source {chosen!r}; it holds {', '.join(sources)}")
    rows = rows[rows["source_id"] == chosen].sort_values("age_start")
    ages = rows["age_start"].to_numpy()
    if ages[0] != 0 or (np.diff(ages) != 1).any():
        raise LifeTableError(f"life table for {code} {sex_name} ({chosen}) must hold every single age from 0")
    q = rows["qx"].to_numpy(dtype=float)
    index = np.minimum(np.arange(max_age + 1), len(q) - 1)
    return q[index]
