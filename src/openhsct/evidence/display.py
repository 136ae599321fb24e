"""How the published studies are named on public pages and in public downloads.

The shipped ``cohorts.csv`` keeps what was read, including the readers' notes inside cells (for example
an author cell "(first author not on page)" or a journal cell "(137(4):214, from karger URL)"). Readers of
the portal get instead:

- a *label* for charts and tables: ``Author Year (country, n = N)`` — the first author's surname, the
  publication year, where the patients were treated and how many (:func:`study_label`);
- a *citation*: ``Author (Year). Journal. DOI/PMID`` from the bibliographic columns with the readers'
  notes removed; when the author, year, journal or an identifier is missing or was not confirmed, the
  citation ends with the one marker :data:`INCOMPLETE` (:func:`public_citation`), and
  :func:`citation_gaps` lists what is missing (the list in ``docs/meta-analysis.md``).

Nothing here changes the shipped data: every function reads a row of
:func:`openhsct.evidence.dataset.load_cohorts` and returns text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

INCOMPLETE = "citation incomplete"

# Readers' notes that mark a bibliographic cell as not confirmed on the pages read.
_UNCONFIRMED = re.compile(r"unconfirmed|not on page|not shown|from memory|unverified", re.IGNORECASE)
_PAREN = re.compile(r"\s*\([^()]*(?:\([^()]*\)[^()]*)*\)")
_ID_PREFIX = re.compile(r"^doi:", re.IGNORECASE)


def _text(value: Any) -> str:
    """A cell as stripped text ('' for missing, NaN or pandas NA)."""
    if value is None or value != value:  # noqa: PLR0124 - NaN is the one value unequal to itself
        return ""
    try:
        return str(value).strip()
    except TypeError:  # pandas NA
        return ""


def _year(value: Any) -> str:
    """The publication year as text ('' when missing)."""
    text = _text(value)
    if not text or text in ("<NA>", "nan"):
        return ""
    try:
        return str(int(float(text)))
    except ValueError:
        return ""


def _clean(cell: str) -> str:
    """A cell without the readers' parenthesised notes."""
    return _PAREN.sub("", cell).strip(" ;,")


def first_author(row: Mapping[str, Any]) -> str:
    """The first author as cited (``Muraro PA``), without notes; '' when not known. A cell that is a
    group name rather than a person ("HSCT-Mexico / Ruiz-Arguelles group") is kept as written."""
    return _clean(_text(row.get("first_author")))


def surname(row: Mapping[str, Any]) -> str:
    """The first author's surname (``Muraro``); '' when not known."""
    author = first_author(row)
    if not author or "/" in author or " group" in author.lower():
        return author.split("/")[0].strip() if author else ""
    parts = author.split()
    # "Muraro PA", "Ruiz-Arguelles GJ": the initials come last
    if len(parts) > 1 and parts[-1].isupper() and len(parts[-1]) <= 3:
        parts = parts[:-1]
    return " ".join(parts)


def _country(row: Mapping[str, Any]) -> str:
    """Where the patients were treated, in a few words (``multinational (13 countries)`` → ``13
    countries``)."""
    country = _text(row.get("country"))
    inner = re.search(r"\(([^()]+)\)", country)
    if not inner:
        return country
    outer = _clean(country)
    # "multinational (13 countries)" -> "13 countries"; "Europe (multinational)" -> "Europe"
    return outer if inner.group(1).strip().lower() == "multinational" else inner.group(1).strip()


def _n(row: Mapping[str, Any]) -> str:
    text = _text(row.get("n_patients"))
    try:
        return f"{int(float(text)):,}" if text and text != "<NA>" else ""
    except ValueError:
        return ""


def study_label(row: Mapping[str, Any]) -> str:
    """``Author Year (country, n = N)`` for a chart or table row; parts that are not known are left out
    (a study with no named author is ``Unattributed study``)."""
    who = " ".join(p for p in (surname(row) or "Unattributed study", _year(row.get("year"))) if p)
    where = [p for p in (_country(row), f"n = {_n(row)}" if _n(row) else "") if p]
    return f"{who} ({', '.join(where)})" if where else who


def identifiers(row: Mapping[str, Any]) -> str:
    """The study's DOI / PMID / trial identifiers, ``; ``-separated, without ``doi:`` prefixes."""
    cell = _text(row.get("doi_or_pmid"))
    return "; ".join(_ID_PREFIX.sub("", t.strip()) for t in cell.split(";") if t.strip())


def citation_gaps(row: Mapping[str, Any]) -> list[str]:
    """What the citation of ``row`` lacks: any of "first author", "year", "journal", "DOI or PMID"
    (missing, or marked as not confirmed on the pages read); empty when complete."""
    gaps = []
    author = _text(row.get("first_author"))
    if not first_author(row) or _UNCONFIRMED.search(author):
        gaps.append("first author")
    if not _year(row.get("year")):
        gaps.append("year")
    journal = _text(row.get("journal"))
    if not _clean(journal) or _UNCONFIRMED.search(journal) or "from " in journal.lower():
        gaps.append("journal")
    if not identifiers(row):
        gaps.append("DOI or PMID")
    return gaps


def public_citation(row: Mapping[str, Any]) -> str:
    """``Author (Year). Journal. DOI/PMID`` without the readers' notes, ending in ``— citation
    incomplete`` when :func:`citation_gaps` finds anything missing."""
    head = first_author(row) or "Unattributed study"
    year = _year(row.get("year"))
    parts = [f"{head} ({year})" if year else head, _clean(_text(row.get("journal"))), identifiers(row)]
    text = ". ".join(p for p in parts if p)
    return f"{text} — {INCOMPLETE}" if citation_gaps(row) else text


def incomplete_citations(cohorts) -> list[dict]:
    """Every study row of ``cohorts`` (a :func:`~openhsct.evidence.dataset.load_cohorts` frame) whose
    citation is incomplete: ``{"label", "gaps"}``, in the table's order."""
    out = []
    for row in cohorts.to_dict("records"):
        if row.get("row_type") != "study":
            continue
        gaps = citation_gaps(row)
        if gaps:
            out.append({"label": study_label(row), "gaps": gaps})
    return out


def unique_labels(labels: list[str]) -> list[str]:
    """``labels`` with repeats told apart (``…``, ``… [2]``), so a chart keeps one row per study."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} [{seen[label]}]")
    return out


@functools.lru_cache(maxsize=1)
def _labels() -> dict[str, str]:
    """Every row key of the shipped cohorts table with its :func:`study_label`."""
    from openhsct.evidence.dataset import load_cohorts

    return {r["key"]: study_label(r) for r in load_cohorts().to_dict("records")}


def label_of(key: str) -> str:
    """The :func:`study_label` of the cohorts row ``key``; the key itself when there is no such row."""
    return _labels().get(key, key)


_KEY = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
_MEMORY = re.compile(r"\s*\bfrom memory\b(?:\s*-\s*unverified)?", re.IGNORECASE)


def readable_text(text: Any) -> str:
    """Free text of the evidence tables (a pooling reason, a regimen, a design) for readers: every
    study key replaced by the study's :func:`study_label`, and the readers' "from memory - unverified"
    notes written as "unverified"."""
    labels = _labels()
    out = _KEY.sub(lambda m: labels.get(m.group(0), m.group(0)), _text(text))
    return _MEMORY.sub(" (unverified)", out).replace("(unverified) - unverified", "(unverified)")
