"""The decision aid for one person: the registry prediction beside the aHSCT-vs-DMT model, with its
uncertainty, the unverified inputs and the not-medical-advice note — what ``openhsct decide`` prints and
the ``/decide/`` page shows.

One function, :func:`decision_aid`, runs every step and returns a :class:`DecisionAid`; the CLI and the
portal only format it:

1. the individual prediction (:func:`openhsct.decision.prediction.predict_individual`), or the refusal
   message when the person lies outside the training data (then the model uses the pooled TRM default and
   MIST's hazard ratio for aHSCT's effect, as the parameter file states);
2. the microsimulation (:func:`openhsct.decision.ms_model.simulate_ms`) of aHSCT and the chosen DMT, with
   the person's price for aHSCT when given, converted at the user's exchange rates;
3. incremental costs, QALYs and ICERs (:func:`openhsct.decision.voi.icer_table`) and the net monetary
   benefit NMB = wtp x QALY - cost at each willingness-to-pay threshold (Stinnett & Mullahy 1998, Med Decis
   Making 18(2 Suppl):S68, doi:10.1177/0272989X98018002S09);
4. the probabilistic sensitivity analysis (:func:`openhsct.decision.psa.psa`) with the CEAC, CEAF and EVPI
   at the thresholds and over a plotting grid;
5. the inputs in use that are not verified against their source.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import openhsct
from openhsct.decision.prediction import (
    IndividualPrediction,
    OutsideTrainingData,
    PredictionModel,
    predict_individual,
    validate_person,
)
from openhsct.errors import OpenHSCTError


class DecisionInputError(OpenHSCTError):
    """A decision-aid option the model cannot use (unknown DMT, bad currency or rate, negative price)."""

    exit_code = 2


@dataclass(frozen=True, eq=False)
class DecisionAid:
    """Everything the person is shown. Frames are ``None`` where a step was not run (no PSA asked)."""

    person: dict
    prediction: IndividualPrediction | None
    refusal: str | None
    model: dict | None
    totals: pd.DataFrame
    icers: pd.DataFrame
    nmb: pd.DataFrame
    edss_trace: pd.DataFrame
    wtp: tuple[float, ...]
    wtp_grid: tuple[float, ...]
    psa_table: pd.DataFrame | None = field(repr=False)
    ceac: pd.DataFrame | None
    ceaf: pd.DataFrame | None
    evpi: pd.Series | None
    ceac_grid: pd.DataFrame | None = field(repr=False)
    ceaf_grid: pd.DataFrame | None = field(repr=False)
    evpi_grid: pd.Series | None = field(repr=False)
    unverified: pd.DataFrame
    currency: str
    rates: dict
    settings: dict
    note: str = openhsct.NOT_MEDICAL_ADVICE

    def to_frame(self) -> pd.DataFrame:
        """The totals with their increments: one row per strategy."""
        return self.totals.join(self.icers[["inc_cost", "inc_qaly", "icer", "status"]])

    def people_per_100(self) -> dict | None:
        """The prediction as natural frequencies: of 100 people like this person, how many are expected to
        be progression-free at the horizon (whole people, with the range of the 95% CI) and to die by day 100 (to
        one decimal: the risk is about 1 in 100)."""
        p = self.prediction
        if p is None:
            return None
        return {
            "pfs": round(100 * p.pfs_5y),
            "pfs_lower": round(100 * p.pfs_5y_lower),
            "pfs_upper": round(100 * p.pfs_5y_upper),
            "trm": round(100 * p.trm, 1),
            "trm_lower": round(100 * p.trm_lower, 1),
            "trm_upper": round(100 * p.trm_upper, 1),
            "horizon_years": p.horizon_years,
        }

    def to_dict(self) -> dict:
        """Plain Python values for JSON (NaN as None)."""
        return _plain(
            {
                "person": self.person,
                "prediction": None if self.prediction is None else self.prediction.to_dict(),
                "refusal": self.refusal,
                "people_per_100": self.people_per_100(),
                "prediction_model": self.model,
                "totals": _records(self.to_frame().reset_index()),
                "nmb": _records(self.nmb.reset_index()),
                "edss_trace": _records(self.edss_trace.reset_index()),
                "wtp": list(self.wtp),
                "ceac": None if self.ceac is None else _records(self.ceac.reset_index()),
                "ceaf": None if self.ceaf is None else _records(self.ceaf),
                "evpi": None if self.evpi is None else _records(self.evpi.rename("evpi").reset_index()),
                "psa": None if self.psa_table is None else _records(self.psa_table),
                "unverified_inputs": _records(self.unverified),
                "currency": self.currency,
                "rates": self.rates,
                "settings": self.settings,
                "not_medical_advice": self.note,
            }
        )


def _plain(v):
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v


def _records(frame: pd.DataFrame) -> list[dict]:
    return [_plain(r) for r in frame.to_dict("records")]


def parse_rates(values: Sequence[str]) -> dict[str, float]:
    """``["EUR=100", "GBP=118"]`` → ``{"EUR": 100.0, "GBP": 118.0}`` (units of the target currency per unit of
    each source currency); raises :class:`DecisionInputError` naming each malformed entry."""
    rates, problems = {}, []
    for item in values:
        code, _, number = str(item).partition("=")
        code = code.strip().upper()
        try:
            rate = float(number)
        except ValueError:
            rate = float("nan")
        if len(code) != 3 or not code.isalpha() or not (rate > 0 and math.isfinite(rate)):
            problems.append(
                f"--rate {item!r}: use CODE=NUMBER, e.g. EUR=100 (units of your currency per euro)"
            )
            continue
        rates[code] = rate
    if problems:
        raise DecisionInputError("exchange rates are not valid", details=problems)
    return rates


def predict_or_refuse(
    model: PredictionModel | None, person: Mapping, unavailable: str | None = None
) -> tuple[IndividualPrediction | None, str | None]:
    """The prediction, or ``(None, message)`` when the model refuses or could not be fitted."""
    if model is None:
        return (
            None,
            unavailable or "No individual prediction: the registry holds too little to fit the model.",
        )
    try:
        return predict_individual(model, person), None
    except OutsideTrainingData as exc:
        return None, exc.message


def wtp_grid(totals: pd.DataFrame, n: int = 41) -> np.ndarray:
    """A plotting range of willingness-to-pay values, from 0 to twice the largest |ICER| between the
    strategies (so the CEAC crosses where the decision changes), or to the largest cost difference per
    QALY when the QALYs are equal. Not a threshold: the person's thresholds are their own."""
    cost, qaly = totals["cost"].to_numpy(float), totals["qaly"].to_numpy(float)
    dc = np.abs(cost[:, None] - cost[None, :])
    dq = np.abs(qaly[:, None] - qaly[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(dq > 1e-9, dc / dq, np.nan)
    top = 2 * np.nanmax(ratio) if np.isfinite(ratio).any() else float(dc.max())
    top = top if top > 0 else 1.0
    return np.linspace(0.0, top, n)


def nmb_table(totals: pd.DataFrame, wtp: Sequence[float]) -> pd.DataFrame:
    """NMB = wtp x QALY - cost of each strategy (columns) at each threshold (index ``wtp``)."""
    rows = {float(w): float(w) * totals["qaly"] - totals["cost"] for w in wtp}
    return pd.DataFrame(rows).T.rename_axis("wtp")


def ce_plane_points(psa_table: pd.DataFrame, strategy: str = "ahsct", comparator: str = "dmt") -> list[dict]:
    """Incremental cost and QALYs of ``strategy`` against ``comparator`` in each PSA sample:
    ``sample, inc_cost, inc_qaly``."""
    cost = psa_table.pivot(index="sample", columns="strategy", values="cost")
    qaly = psa_table.pivot(index="sample", columns="strategy", values="qaly")
    inc_cost = cost[strategy] - cost[comparator]
    inc_qaly = qaly[strategy] - qaly[comparator]
    return [
        {"sample": int(i), "inc_cost": float(c), "inc_qaly": float(q)}
        for i, c, q in zip(inc_cost.index, inc_cost, inc_qaly, strict=True)
    ]


def long_ceac(ceac: pd.DataFrame) -> list[dict]:
    """A CEAC frame (index wtp, one column per strategy) as rows ``wtp, strategy, probability``."""
    long = (
        ceac.rename_axis("wtp")
        .reset_index()
        .melt(id_vars="wtp", var_name="strategy", value_name="probability")
    )
    return [_plain(r) for r in long.to_dict("records")]


def mean_edss_by_year(edss_trace: pd.DataFrame) -> list[dict]:
    """Mean EDSS band (the band's lower whole EDSS) of the living, and the share alive, by strategy and year,
    from the model's EDSS trace (index strategy, year; columns ``edss<b>`` and ``dead``)."""
    bands = [c for c in edss_trace.columns if c.startswith("edss")]
    values = np.array([float(c[len("edss") :]) for c in bands])
    shares = edss_trace[bands].to_numpy(float)
    alive = shares.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(alive > 0, shares @ values / alive, np.nan)
    rows = []
    for (strategy, year), m, a in zip(edss_trace.index, mean, alive, strict=True):
        rows.append(
            {"strategy": str(strategy), "year": int(year), "mean_edss": _plain(float(m)), "alive": float(a)}
        )
    return rows


def _model_kwargs(
    prediction, *, sequence, currency, rates, horizon_years, price, country, life_table, perspective
) -> dict:
    """The keyword arguments of simulate_ms (and of psa, which passes them on) for this person; the
    registry prediction enters the aHSCT arm (its TRM and PFS curve), else MIST's hazard ratio is used."""
    return {
        "strategies": ("ahsct", "dmt"),
        "dmt_sequence": tuple(sequence),
        "currency": currency,
        "rates": rates or None,
        "horizon_years": horizon_years,
        "prediction": prediction,
        "ahsct_efficacy": "registry" if prediction is not None else "mist",
        "ahsct_price": price,
        "country": country,
        "life_table": life_table,
        "perspective": perspective,
    }


def check_options(params, *, comparator: str, currency: str, price: float | None, wtp: Sequence[float]):
    """``(currency, dmt_sequence)`` checked before any work: an ISO 4217-shaped currency, DMTs the parameter
    file holds (several separated by commas), a price and thresholds >= 0; raises
    :class:`DecisionInputError` otherwise."""
    currency = str(currency).upper()
    if len(currency) != 3 or not currency.isalpha():
        raise DecisionInputError(f"--currency {currency!r}: use an ISO 4217 code such as RUB, EUR or GBP")
    sequence = [c.strip() for c in str(comparator).split(",") if c.strip()]
    unknown = [c for c in sequence if c not in params.dmts()]
    if unknown or not sequence:
        raise DecisionInputError(
            f"--comparator {comparator!r}: not in the parameter file; choose among {', '.join(params.dmts())}"
        )
    if price is not None and not (price >= 0 and math.isfinite(price)):
        raise DecisionInputError(f"--price {price!r}: a price is a number >= 0")
    if wtp and not all(w >= 0 and math.isfinite(w) for w in wtp):
        raise DecisionInputError("--wtp: willingness to pay is a number >= 0")
    return currency, sequence


def decision_aid(
    person: Mapping,
    model: PredictionModel | None,
    params,
    *,
    comparator: str,
    price: float | None = None,
    currency: str = "RUB",
    rates: Mapping[str, float] | None = None,
    horizon_years: int | None = None,
    n_patients: int = 10_000,
    psa_samples: int = 0,
    psa_patients: int = 1_000,
    wtp: Sequence[float] = (),
    scheduler=None,
    psa_options: Mapping | None = None,
    seed: int = 0,
    unavailable: str | None = None,
    country: str = "RUS",
    life_table=None,
    perspective: str = "payer",
) -> DecisionAid:
    """Run the prediction, the model, the ICERs, the PSA summaries and the unverified-inputs list for one
    person; returns a :class:`DecisionAid`.

    ``model`` is the fitted registry model (``None`` when it could not be fitted; ``unavailable`` then says
    why); ``params`` the :class:`~openhsct.decision.parameters.ModelParameters`; ``comparator`` a DMT, or
    several separated by commas (a sequence of lines); ``price`` the person's aHSCT price in ``currency``.
    """
    person = validate_person(person)
    currency, sequence = check_options(params, comparator=comparator, currency=currency, price=price, wtp=wtp)
    from openhsct.decision.lifetables import load_life_table

    if not isinstance(life_table, pd.DataFrame):
        life_table = load_life_table(life_table)  # read once, not once per PSA sample
    prediction, refusal = predict_or_refuse(model, person, unavailable)
    kwargs = _model_kwargs(
        prediction,
        sequence=sequence,
        currency=currency,
        rates=dict(rates or {}),
        horizon_years=horizon_years,
        price=price,
        country=country,
        life_table=life_table,
        perspective=perspective,
    )
    from openhsct.decision.ms_model import simulate_ms

    result = simulate_ms(person, params, n_patients=n_patients, seed=seed, **kwargs)
    totals = result.totals
    thresholds = tuple(float(w) for w in wtp)
    grid = wtp_grid(totals)
    shown = thresholds or tuple(float(w) for w in grid[:: max(1, len(grid) // 4)])
    psa_table = ceac = ceaf = evpi = ceac_g = ceaf_g = evpi_g = None
    if psa_samples > 0:
        from openhsct.decision.psa import psa
        from openhsct.decision.voi import ceac as ceac_fn
        from openhsct.decision.voi import ceaf as ceaf_fn
        from openhsct.decision.voi import evpi as evpi_fn

        psa_table = psa(
            person,
            params,
            n_samples=psa_samples,
            n_patients=psa_patients,
            seed=seed,
            scheduler=scheduler,
            **dict(psa_options or {}),
            **kwargs,
        )
        ceac, ceaf, evpi = ceac_fn(psa_table, shown), ceaf_fn(psa_table, shown), evpi_fn(psa_table, shown)
        ceac_g, ceaf_g, evpi_g = ceac_fn(psa_table, grid), ceaf_fn(psa_table, grid), evpi_fn(psa_table, grid)
    s = result.settings
    return DecisionAid(
        person=person,
        prediction=prediction,
        refusal=refusal,
        model=None if model is None else model.summary(),
        totals=totals,
        icers=_icers(totals),
        nmb=nmb_table(totals, shown),
        edss_trace=result.edss_trace,
        wtp=thresholds,
        wtp_grid=tuple(float(w) for w in grid),
        psa_table=psa_table,
        ceac=ceac,
        ceaf=ceaf,
        evpi=evpi,
        ceac_grid=ceac_g,
        ceaf_grid=ceaf_g,
        evpi_grid=evpi_g,
        unverified=result.unverified,
        currency=currency,
        rates=dict(s.rates),
        settings={
            "comparator": ", ".join(sequence),
            "dmt_sequence": list(sequence),
            "price": price,
            "horizon_years": s.cycles,
            "perspective": s.perspective,
            "ahsct_efficacy": s.ahsct_efficacy,
            "trm_used": s.trm,
            "discount_costs": s.discount[0],
            "discount_qalys": s.discount[1],
            "country": s.country,
            "rates_source": s.rates_source,
            "model_notes": list(s.notes),
            "n_patients": n_patients,
            "psa_samples": psa_samples,
            "psa_patients": psa_patients,
            "seed": seed,
        },
    )


def _icers(totals: pd.DataFrame) -> pd.DataFrame:
    from openhsct.decision.voi import icer_table

    return icer_table(totals).reindex(totals.index)
