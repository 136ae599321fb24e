"""The shipped evidence tables: published aHSCT-in-MS cohorts, quoted costs, and the pooling decisions.

Data files (``openhsct/evidence/data``):

- ``cohorts.csv``: one row per trial arm, cohort, meta-analysis or trial design, every row with its
  ``citation`` and ``source_url`` (the pages the numbers were read from). ``verified`` says whether
  every number was read on a listed page (``yes``), only some (``partial``) or none (``no``).
  ``row_type`` separates studies from comparator arms, meta-analyses (summaries, never pooled) and
  trial designs; ``citation`` is derived from the author, year, journal and identifier columns
  (:func:`citation_of`). Every other column is the curated shared table, cell for cell, including
  ``overlap_group`` (``"; "``-separated labels of groups of reports that probably share patients: at
  most one report carrying a label may enter a pooled analysis of an outcome) and
  ``death_ascertainment`` (how completely the source reports deaths).
- ``costs.csv``: quoted prices / health-system costs, each with its ``source_url``.
- ``pooling.csv``: for each outcome, every row that reports it, whether it is pooled and why, and the
  number of patients the reported figure refers to (``n_used``).

:func:`load_cohorts`, :func:`load_costs` and :func:`load_pooling` validate against the schemas below and
raise :class:`~openhsct.errors.ValidationError` listing every problem as ``FILE:ROW:COLUMN: rule (value)``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

from openhsct.errors import ValidationError

_DOI_TOKEN = re.compile(
    r"^((doi:)?10\.\d{4,9}/\S+|PMID \d+|PMC\d+|NCT\d{8}|ISRCTN\d+|EudraCT \d{4}-\d{6}-\d{2}|IRAS \d+)$"
)


@dataclass(frozen=True)
class Column:
    """One column of a schema: its type (``str``, ``int``, ``float``), whether it is required, the
    allowed values (for categories) and the allowed numeric range."""

    name: str
    kind: str = "str"
    required: bool = False
    allowed: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None
    doc: str = ""


PERCENT = {"kind": "float", "low": 0.0, "high": 100.0}

#: ``death_ascertainment`` values: all-cause deaths or overall survival reported (or an explicit "no
#: deaths"); only transplant-related deaths or deaths within a post-transplant window; deaths reported
#: but follow-up short or outcomes self-reported (zero deaths is a lower bound); not read.
DEATH_ASCERTAINMENT = (
    "reported all deaths",
    "reported transplant-related deaths only",
    "limited (e.g. short follow-up, self-report)",
    "unknown",
)
#: Values of ``death_ascertainment`` whose zero-death counts are not trusted in the sensitivity analysis.
LIMITED_ASCERTAINMENT = ("limited (e.g. short follow-up, self-report)", "unknown")

COHORT_SCHEMA: tuple[Column, ...] = (
    Column("key", required=True, doc="unique row id, lower_snake_case"),
    Column(
        "row_type",
        required=True,
        allowed=("study", "comparator_arm", "meta_analysis", "trial_design"),
        doc="what the row is; only 'study' rows may be pooled",
    ),
    Column(
        "overlap_group",
        doc="'; '-separated labels of groups of rows sharing patients; at most one row per label is pooled",
    ),
    Column("citation", required=True, doc="author (year). journal. DOI/PMID, as read"),
    Column("first_author"),
    Column("year", kind="int", low=1990, high=2030, doc="publication year"),
    Column("journal"),
    Column("doi_or_pmid", doc="'; '-separated DOI / PMID / PMC / NCT / ISRCTN / EudraCT / IRAS ids"),
    Column("country"),
    Column("center"),
    Column("design", required=True),
    Column("n_patients", kind="int", low=0, doc="patients (target enrolment for trial designs)"),
    Column("n_rrms", kind="int", low=0),
    Column("n_spms", kind="int", low=0),
    Column("n_ppms", kind="int", low=0),
    Column("regimen"),
    Column(
        "intensity_class",
        allowed=("low", "intermediate", "high", "mixed"),
        doc="conditioning intensity (EBMT convention or the authors' own label)",
    ),
    Column("median_followup_months", kind="float", low=0),
    Column("trm_deaths", kind="int", low=0, doc="transplant-related deaths (count)"),
    Column("trm_definition"),
    Column("pfs_2y", **PERCENT, doc="progression-free survival at 2 y, %"),
    Column("pfs_5y", **PERCENT),
    Column("pfs_10y", **PERCENT),
    Column("neda_2y", **PERCENT, doc="NEDA(-3) at 2 y, %"),
    Column("neda_5y", **PERCENT),
    Column("relapse_free_5y", **PERCENT),
    Column("edss_baseline_median", kind="float", low=0, high=10),
    Column("other_outcomes"),
    Column("source_url", required=True, doc="' | '-separated pages the numbers were read from"),
    Column("verified", required=True, allowed=("yes", "partial", "no")),
    Column("notes"),
    Column(
        "death_ascertainment",
        required=True,
        allowed=DEATH_ASCERTAINMENT,
        doc="how completely the source reports deaths (judged from what was read)",
    ),
)

COST_SCHEMA: tuple[Column, ...] = (
    Column("clinic", required=True),
    Column("country", required=True),
    Column("year", doc="year of the quote as given (free text, e.g. '2024 (publication)')"),
    Column("price", kind="range", low=0, doc="a number or a range 'low-high' (empty: not quoted)"),
    Column("currency"),
    Column("what_included"),
    Column("source_url", required=True),
    Column("verified", required=True, allowed=("yes", "partial", "no")),
    Column("notes"),
)

POOLING_SCHEMA: tuple[Column, ...] = (
    Column("outcome", required=True),
    Column("key", required=True),
    Column("pooled", required=True, allowed=("yes", "no")),
    Column("n_used", kind="int", required=True, low=1, doc="patients the reported figure refers to"),
    Column("reason", required=True),
)


@dataclass(frozen=True)
class Outcome:
    """A poolable outcome: the cohorts.csv column it is read from and whether it is a count or a %."""

    name: str
    column: str
    kind: str  # "count" (events among n) or "percent" (a reported survival / NEDA percentage)
    label: str


OUTCOMES: dict[str, Outcome] = {
    o.name: o
    for o in (
        Outcome(
            "trm",
            "trm_deaths",
            "count",
            "Transplant-related mortality: all-cause death by day 100 (published series)",
        ),
        Outcome("pfs_2y", "pfs_2y", "percent", "Progression-free survival at 2 years"),
        Outcome("pfs_5y", "pfs_5y", "percent", "Progression-free survival at 5 years"),
        Outcome("neda_2y", "neda_2y", "percent", "NEDA-3 at 2 years"),
        Outcome("neda_5y", "neda_5y", "percent", "NEDA-3 at 5 years"),
        Outcome("rfs_5y", "relapse_free_5y", "percent", "Relapse-free survival at 5 years"),
    )
}


def citation_of(first_author: str, year: str, journal: str, doi_or_pmid: str) -> str:
    """The ``citation`` cell derived from the other columns: ``Author (year). Journal. ids`` with
    placeholders for what the pages read did not show (``doi:`` prefixes dropped)."""
    ids = "; ".join(t.removeprefix("doi:") for t in doi_or_pmid.split("; ")) if doi_or_pmid else ""
    parts = [
        f"{first_author or '(authors not shown on the pages read)'} ({year or 'year not shown'})",
        journal,
        ids or "no DOI/PMID on the pages read",
    ]
    return ". ".join(p for p in parts if p)


def overlap_labels(cell) -> list[str]:
    """The labels of an ``overlap_group`` cell (``"; "``-separated; empty or missing: none)."""
    if not isinstance(cell, str) or not cell.strip():
        return []
    return [label.strip() for label in cell.split(";") if label.strip()]


def _read(name: str) -> pd.DataFrame:
    path = resources.files("openhsct.evidence").joinpath("data", name)
    with path.open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


def _check(df: pd.DataFrame, schema: tuple[Column, ...], fname: str) -> list[str]:
    """Every schema problem as ``FILE:ROW:COLUMN: rule (value)`` (ROW counts the header as row 1)."""
    problems: list[str] = []
    names = [c.name for c in schema]
    if list(df.columns) != names:
        missing = [n for n in names if n not in df.columns]
        extra = [n for n in df.columns if n not in names]
        problems.append(f"{fname}:1:-: columns differ from the schema (missing {missing}, extra {extra})")
        return problems
    for col in schema:
        for i, raw in enumerate(df[col.name].tolist()):
            where = f"{fname}:{i + 2}:{col.name}"
            value = raw.strip()
            if value != raw:
                problems.append(f"{where}: no leading/trailing spaces ({raw!r})")
            if value == "":
                if col.required:
                    problems.append(f"{where}: required ({raw!r})")
                continue
            if col.allowed is not None and value not in col.allowed:
                problems.append(f"{where}: one of {list(col.allowed)} ({value!r})")
            if col.kind == "range":
                if not re.fullmatch(r"\d+(\.\d+)?(-\d+(\.\d+)?)?", value):
                    problems.append(f"{where}: a number or a range 'low-high' ({value!r})")
                continue
            if col.kind in ("int", "float"):
                try:
                    num = float(value)
                except ValueError:
                    problems.append(f"{where}: a number ({value!r})")
                    continue
                if col.kind == "int" and num != int(num):
                    problems.append(f"{where}: a whole number ({value!r})")
                if (col.low is not None and num < col.low) or (col.high is not None and num > col.high):
                    problems.append(f"{where}: within [{col.low}, {col.high}] ({value!r})")
    return problems


def _check_cohort_rules(df: pd.DataFrame) -> list[str]:
    f = "cohorts.csv"
    problems = []
    dup = df["key"][df["key"].duplicated()].tolist()
    problems += [f"{f}:-:key: unique ({k!r})" for k in dup]
    for i, row in enumerate(df.itertuples(index=False)):
        r = i + 2
        if not re.fullmatch(r"[a-z0-9_]+", row.key):
            problems.append(f"{f}:{r}:key: lower_snake_case ({row.key!r})")
        for url in row.source_url.split(" | "):
            if not re.match(r"^https?://\S+$", url):
                problems.append(f"{f}:{r}:source_url: each ' | '-part is an http(s) URL ({url!r})")
        if row.doi_or_pmid:
            for token in row.doi_or_pmid.split("; "):
                if not _DOI_TOKEN.match(token):
                    problems.append(
                        f"{f}:{r}:doi_or_pmid: DOI/PMID/PMC/NCT/ISRCTN/EudraCT/IRAS id ({token!r})"
                    )
        if row.n_patients and row.n_rrms and float(row.n_rrms) > float(row.n_patients):
            problems.append(f"{f}:{r}:n_rrms: at most n_patients ({row.n_rrms!r})")
        if row.n_patients and row.trm_deaths and float(row.trm_deaths) > float(row.n_patients):
            problems.append(f"{f}:{r}:trm_deaths: at most n_patients ({row.trm_deaths!r})")
        derived = citation_of(row.first_author, row.year, row.journal, row.doi_or_pmid)
        if row.citation != derived:
            problems.append(f"{f}:{r}:citation: derived from author, year, journal, ids ({row.citation!r})")
    return problems


def _typed(df: pd.DataFrame, schema: tuple[Column, ...]) -> pd.DataFrame:
    out = {}
    for col in schema:
        s = df[col.name].mask(df[col.name] == "")
        if col.kind == "range":
            parts = s.str.split("-", expand=True)
            out[col.name] = s.astype(object)
            out[f"{col.name}_low"] = pd.to_numeric(parts[0]).astype(float)
            out[f"{col.name}_high"] = pd.to_numeric(parts[parts.columns[-1]].fillna(parts[0])).astype(float)
        elif col.kind == "int":
            out[col.name] = pd.to_numeric(s).astype("Int64")
        elif col.kind == "float":
            out[col.name] = pd.to_numeric(s).astype(float)
        else:
            out[col.name] = s.astype(object)
    return pd.DataFrame(out)


def _load(name: str, schema: tuple[Column, ...], extra_rules=None) -> pd.DataFrame:
    return _load_cached(name, schema, extra_rules).copy()


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, schema: tuple[Column, ...], extra_rules=None) -> pd.DataFrame:
    """Read and validate once per process (the files ship with the package and do not change)."""
    raw = _read(name)
    problems = _check(raw, schema, name)
    if not problems and extra_rules is not None:
        problems += extra_rules(raw)
    if problems:
        raise ValidationError(f"{name} does not match its schema", details=problems)
    return _typed(raw, schema)


def load_cohorts() -> pd.DataFrame:
    """The validated cohorts table (one row per study arm / cohort / meta-analysis / trial design).

    Integer columns are pandas ``Int64`` (missing = ``<NA>``), percentages are floats on 0-100, text is
    ``object`` with ``NaN`` for empty cells.
    """
    return _load("cohorts.csv", COHORT_SCHEMA, _check_cohort_rules)


def load_costs() -> pd.DataFrame:
    """The validated table of quoted aHSCT prices and health-system costs.

    ``price`` is kept as written; ``price_low`` / ``price_high`` are its numeric bounds (equal for a
    single figure, ``NaN`` when no price was quoted).
    """
    return _load("costs.csv", COST_SCHEMA)


def load_pooling(cohorts: pd.DataFrame | None = None) -> pd.DataFrame:
    """The validated pooling decisions, checked against the cohorts table:

    every cohort row that reports an outcome has a decision; only ``study`` rows with a value are
    pooled; at most one row per ``overlap_group`` is pooled for an outcome; ``n_used`` is at most
    ``n_patients``.
    """
    cohorts = load_cohorts() if cohorts is None else cohorts
    pooling = _load("pooling.csv", POOLING_SCHEMA)
    problems = pooling_problems(pooling, cohorts)
    if problems:
        raise ValidationError("pooling.csv breaks the pooling rules", details=problems)
    return pooling


def pooling_problems(pooling: pd.DataFrame, cohorts: pd.DataFrame) -> list[str]:
    """Every breach of the pooling rules (see :func:`load_pooling`) as ``pooling.csv:ROW:COLUMN: rule``."""
    f = "pooling.csv"
    problems = []
    by_key = cohorts.set_index("key")
    seen = set()
    for i, row in enumerate(pooling.itertuples(index=False)):
        r = i + 2
        if row.outcome not in OUTCOMES:
            problems.append(f"{f}:{r}:outcome: one of {list(OUTCOMES)} ({row.outcome!r})")
            continue
        if row.key not in by_key.index:
            problems.append(f"{f}:{r}:key: a key of cohorts.csv ({row.key!r})")
            continue
        if (row.outcome, row.key) in seen:
            problems.append(f"{f}:{r}:key: one decision per outcome and row ({row.key!r})")
        seen.add((row.outcome, row.key))
        c = by_key.loc[row.key]
        value = c[OUTCOMES[row.outcome].column]
        if pd.isna(value):
            problems.append(f"{f}:{r}:key: the row reports {row.outcome} ({row.key!r})")
        if row.pooled == "yes" and c["row_type"] != "study":
            problems.append(f"{f}:{r}:pooled: only 'study' rows are pooled ({c['row_type']!r})")
        if not pd.isna(c["n_patients"]) and row.n_used > c["n_patients"]:
            problems.append(f"{f}:{r}:n_used: at most n_patients ({row.n_used})")
        if OUTCOMES[row.outcome].kind == "count" and not pd.isna(value) and value > row.n_used:
            problems.append(f"{f}:{r}:n_used: at least the event count ({row.n_used})")
    for name, outcome in OUTCOMES.items():
        reporting = cohorts.loc[cohorts[outcome.column].notna(), "key"]
        for key in reporting:
            if (name, key) not in seen:
                problems.append(f"{f}:-:key: a decision for {name} on {key!r}")
        pooled = pooling[(pooling["outcome"] == name) & (pooling["pooled"] == "yes")]
        for label in overlap_conflicts(by_key.loc[pooled["key"], "overlap_group"]):
            problems.append(f"{f}:-:pooled: at most one row of overlap group {label!r} for {name}")
    return problems


def overlap_conflicts(groups: pd.Series) -> list[str]:
    """The overlap labels carried by more than one of the rows whose ``overlap_group`` cells are given
    (sorted); an empty list when the rows may be pooled together."""
    counts: dict[str, int] = {}
    for cell in groups:
        for label in set(overlap_labels(cell)):
            counts[label] = counts.get(label, 0) + 1
    return sorted(label for label, c in counts.items() if c > 1)


def groupings(cohorts: pd.DataFrame) -> pd.DataFrame:
    """Subgroup labels used by ``--by``, one row per cohort (index = key):

    - ``era``: publication year before 2020 / 2020 or later / unknown;
    - ``intensity``: ``intensity_class`` (``unclassified`` when empty);
    - ``phenotype``: ``RRMS only`` when ``n_rrms == n_patients``, ``mixed`` when fewer, ``unknown``
      when ``n_rrms`` is missing.
    """
    year = cohorts["year"]
    era = np.where(year.isna(), "unknown", np.where(year.fillna(0) < 2020, "before 2020", "2020 or later"))
    intensity = cohorts["intensity_class"].fillna("unclassified")
    rr, n = cohorts["n_rrms"], cohorts["n_patients"]
    phen = np.where(
        rr.isna() | n.isna(), "unknown", np.where(rr.fillna(-1) == n.fillna(-2), "RRMS only", "mixed")
    )
    return pd.DataFrame(
        {"era": era, "intensity": intensity.to_numpy(), "phenotype": phen}, index=cohorts["key"].to_numpy()
    )
