"""Follow-up completeness and activity counts from registry tables.

Follow-up completeness is the share of living transplanted patients seen (an EDSS visit) in the
12 months before the data-as-of date — the measure CIBMTR and SRTR publish beside every centre result
(CIBMTR Center-Specific Survival Analysis: "follow-up completeness index"; SRTR PSR technical notes).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


def data_as_of(tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
    """The data-as-of date: the latest dated record in the registry (visits, last contact, deaths)."""
    candidates = []
    for name, col in (("edss_visits", "visit_date"), ("patients", "last_contact_date"), ("deaths", "death_date"),
                      ("transplants", "day0"), ("mri_scans", "scan_date"), ("relapses", "onset_date")):
        frame = tables.get(name)
        if frame is not None and len(frame):
            candidates.append(pd.to_datetime(frame[col]).max())
    candidates = [c for c in candidates if pd.notna(c)]
    return max(candidates) if candidates else pd.Timestamp.today().normalize()


@dataclass(frozen=True)
class Completeness:
    """Share of living transplanted patients with a visit in the window before ``as_of``."""

    seen: int
    alive: int
    as_of: pd.Timestamp
    window_days: int

    @property
    def share(self) -> float:
        return self.seen / self.alive if self.alive else float("nan")


def _key(frame: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(frame[["centre_code", "patient_code"]])


def followup_completeness(tables: dict[str, pd.DataFrame], *, as_of: pd.Timestamp | None = None,
                          window_days: int = 365, by: str | None = "centre_code") -> pd.DataFrame:
    """Follow-up completeness per centre (or overall with ``by=None``).

    Returns a DataFrame with ``alive`` (transplanted, not known dead by ``as_of``), ``seen`` (of those,
    with an EDSS visit in the ``window_days`` before ``as_of``) and ``share``. Patients transplanted within
    the window count as seen only if they had a visit, as in CIBMTR's index.
    """
    as_of = pd.Timestamp(as_of) if as_of is not None else data_as_of(tables)
    tx = tables["transplants"]
    tx = tx.loc[pd.to_datetime(tx["day0"]) <= as_of, ["centre_code", "patient_code"]]
    deaths = tables["deaths"]
    dead = _key(deaths.loc[pd.to_datetime(deaths["death_date"]) <= as_of])
    alive = tx.loc[~_key(tx).isin(dead)]
    v = tables["edss_visits"]
    recent = v.loc[(pd.to_datetime(v["visit_date"]) > as_of - pd.Timedelta(days=window_days))
                   & (pd.to_datetime(v["visit_date"]) <= as_of)]
    seen_keys = _key(recent.drop_duplicates(["centre_code", "patient_code"]))
    alive = alive.assign(seen=_key(alive).isin(seen_keys))
    if by is None:
        out = pd.DataFrame({"alive": [len(alive)], "seen": [int(alive["seen"].sum())]})
    else:
        out = alive.groupby(by).agg(alive=("seen", "size"), seen=("seen", "sum"))
        out["seen"] = out["seen"].astype(int)
    out["share"] = out["seen"] / out["alive"].where(out["alive"] > 0)
    out.attrs.update(as_of=as_of, window_days=window_days)
    return out


def patients_per_year(tables: dict[str, pd.DataFrame], by: str = "centre_code") -> pd.DataFrame:
    """Transplants per calendar year of day 0 (rows: year; columns: ``by`` values)."""
    tx = tables["transplants"]
    years = pd.to_datetime(tx["day0"]).dt.year.rename("year")
    return tx.assign(year=years).pivot_table(index="year", columns=by, values="patient_code", aggfunc="count",
                                             fill_value=0)
