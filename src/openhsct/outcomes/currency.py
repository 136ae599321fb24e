"""Converting registry costs between currencies with one fixed, written-down table of rates.

The rates are documentation, not a market feed: one date, one source each, so that a cost summary can be
reproduced and says what it used. Units: foreign currency per 1 EUR (the ECB's quotation).

* USD, GBP, SEK, MXN (and CAD, CHF, NOK, DKK, PLN, CZK, AUD, BRL, JPY, INR, CNY, TRY, ILS): ECB euro
  foreign exchange reference rates of 28 February 2025 (USD 1.0411, GBP 0.82608, SEK 11.1880, MXN 21.2191,
  CAD 1.5019, ...), as republished from the ECB's daily table.
* RUB: the ECB has published no EUR/RUB reference rate since 1 March 2022; the rate is the Bank of Russia's
  official rate set for 25 February 2025 (92.5162 RUB per EUR).

A cost in currency c converts to target T as ``amount * rate[T] / rate[c]``. Pass ``rates`` to use others.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from openhsct.errors import OpenHSCTError

RATES_PER_EUR: dict[str, float] = {
    "EUR": 1.0,
    "USD": 1.0411,
    "GBP": 0.82608,
    "SEK": 11.1880,
    "MXN": 21.2191,
    "RUB": 92.5162,
    "CAD": 1.5019,
    "CHF": 0.9394,
    "NOK": 11.7245,
    "DKK": 7.4583,
    "PLN": 4.1503,
    "CZK": 25.029,
    "AUD": 1.6741,
    "BRL": 6.0712,
    "JPY": 156.96,
    "INR": 90.9710,
    "CNY": 7.5782,
    "TRY": 38.0186,
    "ILS": 3.7457,
}
RATES_DATE = "2025-02-28"
RATES_SOURCE = (
    "ECB euro foreign exchange reference rates of 28 February 2025 (all but RUB); Bank of Russia "
    "official rate set for 25 February 2025 (RUB; the ECB suspended its EUR/RUB rate on 1 March 2022). "
    "Fixed documentation rates, not a market feed."
)


class CurrencyError(OpenHSCTError):
    """A cost in a currency the rate table does not hold, or an unknown target currency."""

    exit_code = 2


def conversion_rates(target: str = "EUR", rates: Mapping[str, float] | None = None) -> dict[str, float]:
    """Multipliers that turn an amount in each currency into ``target``: ``rate[target] / rate[c]``.

    ``rates`` (units of each currency per 1 unit of a common base) replaces :data:`RATES_PER_EUR`.
    """
    table = dict(RATES_PER_EUR if rates is None else rates)
    target = target.upper()
    if target not in table:
        raise CurrencyError(f"unknown currency {target!r}: rates are known for {', '.join(sorted(table))}")
    bad = [c for c, r in table.items() if not (np.isfinite(r) and r > 0)]
    if bad:
        raise CurrencyError(f"rates must be positive numbers: {', '.join(bad)}")
    return {c: table[target] / r for c, r in table.items()}


def convert(amount, currency, target: str = "EUR", rates: Mapping[str, float] | None = None) -> np.ndarray:
    """Amounts in ``target`` currency; ``amount`` and ``currency`` are equal-length arrays or Series."""
    multipliers = conversion_rates(target, rates)
    codes, uniques = pd.factorize(np.asarray(currency, dtype=object))
    per_code = np.array([multipliers.get(str(u).upper(), np.nan) for u in uniques] + [np.nan])
    unknown = sorted(
        {str(u) for u in uniques if str(u).upper() not in multipliers}
        | ({"(missing)"} if (codes < 0).any() else set())
    )
    if unknown:
        raise CurrencyError(
            f"no rate for currency {', '.join(unknown)}; known: {', '.join(sorted(multipliers))}"
        )
    return np.asarray(amount, dtype=float) * per_code[codes]
