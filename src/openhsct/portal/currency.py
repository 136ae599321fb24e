"""Prices in the reader's currency: fixed, dated reference rates shipped with the package.

The rates live in ``portal/data/exchange_rates.json`` (units of each currency per 1 EUR, each with its
date and source: the European Central Bank's euro reference rates of 28 February 2025, and the Bank of
Russia's official rate set for 25 February 2025 for the rouble, which the ECB has not quoted since
1 March 2022). They are the same rates the registry's cost summaries use
(:mod:`openhsct.outcomes.currency`), so a price converted on a page agrees with the release's own
conversion. A reader picks EUR, USD, GBP or RUB with ``?currency=``; every converted price is shown with
the rates used and their dates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

DEFAULT = "EUR"


@dataclass(frozen=True)
class Rate:
    """One currency's rate: ``per_eur`` units per 1 EUR, set on ``date`` by ``source``."""

    code: str
    per_eur: float
    date: str
    source: str


@lru_cache(maxsize=1)
def _table() -> dict:
    """The parsed rate file."""
    text = resources.files("openhsct.portal").joinpath("data/exchange_rates.json").read_text(encoding="utf-8")
    return json.loads(text)


def rates() -> dict[str, Rate]:
    """Every shipped rate by ISO 4217 code."""
    return {code: Rate(code, float(r["per_eur"]), r["date"], r["source"]) for code, r in _table()["rates"].items()}


def reader_currencies() -> tuple[str, ...]:
    """The currencies a reader can choose (EUR, USD, GBP, RUB)."""
    return tuple(_table()["reader_currencies"])


def chosen(value: str | None) -> tuple[str, str]:
    """The reader's currency from ``?currency=`` and a message: ``(code, "")`` for an offered currency or
    none given (EUR), ``("EUR", why)`` for anything else."""
    if not value:
        return DEFAULT, ""
    code = value.strip().upper()
    if code in reader_currencies():
        return code, ""
    return DEFAULT, f"Prices cannot be shown in “{value[:12]}”; they are shown in {DEFAULT}."


def convert(amount: float, source: str, target: str) -> float:
    """``amount`` in ``source`` currency expressed in ``target`` (``amount * rate[target] / rate[source]``).

    Raises KeyError naming the currency when no rate is shipped for it."""
    table = rates()
    for code in (source, target):
        if code not in table:
            raise KeyError(f"no exchange rate shipped for {code}")
    return amount * table[target].per_eur / table[source].per_eur


def rate_sentence(source: str, target: str) -> str:
    """The rates behind a conversion in words, with their dates and sources; "" when nothing is
    converted."""
    if source == target:
        return ""
    table = rates()
    used = [table[c] for c in dict.fromkeys((source, target)) if c != "EUR"]
    parts = [f"1 EUR = {r.per_eur:,.4f} {r.code} ({r.source})" for r in used]
    return "Rates used: " + "; ".join(parts) + "."
