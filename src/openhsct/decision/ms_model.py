"""The MS model: aHSCT against a sequence of disease-modifying therapies (DMTs), for one person.

A state-transition model with annual cycles over EDSS bands × {RRMS, SPMS} plus death (21 states with
the ten single-point bands), the standard structure of MS cost-effectiveness models (e.g. Palace J et al.
2014, *BMJ Open* 4:e004073, doi:10.1136/bmjopen-2013-004073). The bands are read from the parameter
files, so a coarser published set works too.

For one cycle from age ``a`` and band ``i`` the probability of moving to band ``j`` is built in this order:

1. natural history ``N[i, j]`` among the living (improvement allowed); in SPMS the worsening cells
   (``j > i``) have their rates multiplied by the SPMS hazard ratio;
2. a treatment effect on worsening only: each worsening cell is turned into a rate ``−ln(1−p)``,
   multiplied by the hazard ratio and turned back, then ``P(stay) = 1 − Σ(others)``. For aHSCT with
   ``ahsct_efficacy="registry"`` the year-``k`` worsening probability is ``1 − S(k)/S(k−1)`` (hazard
   ``−ln(S(k)/S(k−1))``) from the person's predicted PFS curve, spread over the worsening cells in
   proportion to the natural-history row; beyond the curve the last hazard continues; with
   ``ahsct_efficacy="mist"`` the hazard ratio is MIST's (Burt 2019) times that of the first DMT line;
3. RRMS→SPMS conversion with the origin band's probability;
4. death with ``min(1, q(a) · multiplier[i])`` from the general-population life table;
5. DMT discontinuation: to the next line, and after the last to no DMT.

Rewards are annual rates, summed with the half-cycle (trapezoid) rule of
:func:`openhsct.decision.markov.markov_cohort` and discounted separately for costs and QALYs. Relapses are
Poisson events with a rate by band and phenotype (times the treatment's rate ratio), each with a cost and
a utility decrement lasting a stated time; with ``heterogeneity=False`` their expectation is folded into
the state rewards, which is what :func:`ms_cohort_inputs` returns for :func:`markov_cohort`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from openhsct.decision.lifetables import load_life_table, qx_by_age
from openhsct.decision.markov import ModelInputError, discount_factors, node_weights
from openhsct.decision.microsim import PathModel, children, cumulative, mean_and_se, run_paths
from openhsct.decision.parameters import ModelParameters

STRATEGIES = ("ahsct", "dmt")
PERSPECTIVES = ("patient", "payer", "societal")
EFFICACIES = ("registry", "mist")
DEFAULT_DMT_SEQUENCE = ("ocrelizumab", "natalizumab")
MAX_AGE = 100
REWARDS = ("cost", "qaly", "life_years", "relapses", "years_progression_free")
PHENOTYPES = ("RRMS", "SPMS")
NOT_MEDICAL_ADVICE = (
    "This is a model of published and registry averages, not medical advice: discuss any decision about "
    "treatment with your neurologist and a transplant centre."
)


@dataclass(frozen=True)
class Person:
    """The inputs of the MS model for one person (validated)."""

    age_years: float
    sex: str
    phenotype: str
    edss: float


def person_from(person: Mapping) -> Person:
    """A validated :class:`Person` from a mapping with ``age_years, sex, phenotype, edss``."""
    problems = []
    missing = [k for k in ("age_years", "sex", "phenotype", "edss") if k not in person]
    if missing:
        raise ModelInputError(f"person lacks {', '.join(missing)}")
    age = float(person["age_years"])
    if not (np.isfinite(age) and 0 <= age < MAX_AGE):
        problems.append(f"age_years must be in [0, {MAX_AGE}) ({person['age_years']!r})")
    if person["sex"] not in ("F", "M"):
        problems.append(f"sex must be F or M ({person['sex']!r})")
    if person["phenotype"] not in ("RRMS", "SPMS", "PPMS"):
        problems.append(f"phenotype must be RRMS, SPMS or PPMS ({person['phenotype']!r})")
    edss = float(person["edss"])
    if not (0 <= edss <= 9.5 and (edss * 2).is_integer()):
        problems.append(f"edss must be 0-9.5 in steps of 0.5 ({person['edss']!r})")
    if problems:
        raise ModelInputError("invalid person: " + "; ".join(problems), details=problems)
    return Person(age, str(person["sex"]), str(person["phenotype"]), edss)


@dataclass(frozen=True)
class Arm:
    """One strategy in arrays: states, time-varying ``P`` (cycles,S,S), rewards and the start vector."""

    strategy: str
    states: list[str]
    P: np.ndarray
    rewards: np.ndarray  # (S, 5) annual rates of REWARDS, relapses excluded
    relapse_rate: np.ndarray  # (S,)
    per_relapse: np.ndarray  # (5,)
    start: np.ndarray
    initial_cost: float
    band_of_state: np.ndarray  # (S,) index into bands, len(bands) for death


@dataclass(frozen=True)
class Settings:
    """What a model run used: horizon, perspective, currency, rates, efficacy, life table, discounting."""

    cycles: int
    perspective: str
    currency: str
    rates: dict[str, float]
    rates_source: str
    ahsct_efficacy: str
    ahsct_waning_years: float | None
    dmt_sequence: tuple[str, ...]
    discount: tuple[float, float]
    country: str
    trm: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class MSResult:
    """``totals`` (strategy × cost, qaly, life_years, relapses, years_progression_free, cost_se, qaly_se),
    ``edss_trace`` (share of patients per EDSS band and dead, by strategy and year), the settings used and
    the unverified inputs in use."""

    totals: pd.DataFrame
    edss_trace: pd.DataFrame
    settings: Settings
    unverified: pd.DataFrame
    initial_costs: dict[str, float] = field(default_factory=dict)
    note: str = NOT_MEDICAL_ADVICE

    def to_frame(self) -> pd.DataFrame:
        """The totals table."""
        return self.totals


# ---------------------------------------------------------------- currency


def conversion(params: ModelParameters, names: Sequence[str], currency: str, rates) -> tuple[dict, str]:
    """Multipliers to ``currency`` for every currency the named amounts are in, and where they come from.

    ``rates`` maps a source currency to units of ``currency`` per unit of it; when None the documented
    fixed table of :mod:`openhsct.outcomes.currency` is used. Nothing is fetched.
    """
    target = currency.upper()
    needed = sorted({params.amount(n)[1].upper() for n in names} - {target})
    if rates is None:
        from openhsct.outcomes.currency import RATES_SOURCE, conversion_rates

        table = conversion_rates(target)
        missing = [c for c in needed if c not in table]
        if missing:
            raise ModelInputError(f"no documented rate from {', '.join(missing)} to {target}: give rates")
        return {c: float(table[c]) for c in needed}, RATES_SOURCE
    given = {str(k).upper(): float(v) for k, v in rates.items()}
    missing = [c for c in needed if c not in given]
    if missing:
        raise ModelInputError(
            f"rates lack {', '.join(missing)} (units of {target} per unit of each); "
            f"the inputs in use are priced in {', '.join(needed + [target])}"
        )
    bad = [c for c, v in given.items() if not (np.isfinite(v) and v > 0)]
    if bad:
        raise ModelInputError(f"rates must be positive numbers: {', '.join(bad)}")
    return {c: given[c] for c in needed}, "rates stated by the user"


# ---------------------------------------------------------------- efficacy


def pfs_hazards(curve) -> np.ndarray:
    """Annual worsening hazards ``h_k = −ln(S(k)/S(k−1))``, k = 1..K, from a PFS curve (time in years).

    ``curve`` is a DataFrame with ``time, survival`` (a step function, as the prediction returns) or a
    prediction mapping holding one under ``survival_curve``. ``K`` is the last whole year it covers.
    """
    if isinstance(curve, Mapping):
        curve = curve["survival_curve"]
    frame = pd.DataFrame(curve)
    if not {"time", "survival"} <= set(frame.columns):
        raise ModelInputError("the PFS curve needs columns time and survival")
    frame = frame.sort_values("time")
    times, surv = frame["time"].to_numpy(float), frame["survival"].to_numpy(float)
    if not ((surv > 0) & (surv <= 1)).all() or (np.diff(surv) > 1e-12).any():
        raise ModelInputError("PFS survival must be non-increasing and in (0, 1]")
    years = int(np.floor(times.max()))
    if years < 1:
        raise ModelInputError("the PFS curve must cover at least one year")
    at = np.arange(years + 1)
    idx = np.searchsorted(times, at, side="right") - 1
    s = np.where(idx >= 0, surv[np.maximum(idx, 0)], 1.0)
    return -np.log(s[1:] / s[:-1])


def _rate(p: np.ndarray) -> np.ndarray:
    return -np.log1p(-np.minimum(p, 1 - 1e-15))


def _apply_hr(row_matrix: np.ndarray, hr: np.ndarray | float) -> np.ndarray:
    """Multiply the worsening cells' rates by ``hr`` (scalar or per-row); stay = 1 − others."""
    out = row_matrix.copy()
    up = np.triu(np.ones_like(out, dtype=bool), k=1)
    hr_rows = np.broadcast_to(np.asarray(hr, dtype=float).reshape(-1, 1), out.shape)
    out[up] = 1 - np.exp(-_rate(out[up]) * hr_rows[up])
    return _restay(out)


def _restay(m: np.ndarray) -> np.ndarray:
    off = m.copy()
    np.fill_diagonal(off, 0.0)
    total = off.sum(axis=1)
    over = total > 1
    if over.any():
        off[over] /= total[over, None]
    np.fill_diagonal(off, 1 - off.sum(axis=1))
    return off


def _spread(natural: np.ndarray, p_worse: float) -> np.ndarray:
    """Rows with total worsening probability ``p_worse``, split as the natural-history worsening cells."""
    out = natural.copy()
    up = np.triu(np.ones_like(out, dtype=bool), k=1)
    weights = np.where(up, natural, 0.0)
    sums = weights.sum(axis=1, keepdims=True)
    share = np.divide(weights, sums, out=np.zeros_like(weights), where=sums > 0)
    out[up] = (p_worse * share)[up]
    return _restay(out)


# ---------------------------------------------------------------- arms


@dataclass(frozen=True)
class _Blocks:
    names: list[str]
    switch: np.ndarray  # (nb, nb)
    hr: list  # per block: float HR, or "registry"
    rr_relapse: np.ndarray
    cost: np.ndarray  # annual treatment cost per block (target currency, perspective applied)
    wanes: tuple[bool, ...] = ()  # True for aHSCT blocks, whose effect may wane


def _dmt_blocks(params, sequence, conv, perspective) -> _Blocks:
    known = params.dmts()
    unknown = [d for d in sequence if d not in known]
    if unknown:
        raise ModelInputError(f"unknown DMT(s) {', '.join(unknown)}; known: {', '.join(known)}")
    names = [*sequence, "none"]
    nb = len(names)
    switch = np.zeros((nb, nb))
    for b, d in enumerate(sequence):
        stop = params.value(f"dmt_{d}_discontinuation")
        switch[b, b], switch[b, b + 1] = 1 - stop, stop
    switch[-1, -1] = 1.0
    pays = perspective in ("payer", "societal")
    cost = [_money(params, f"dmt_{d}_cost_annual", conv) if pays else 0.0 for d in sequence] + [0.0]
    return _Blocks(
        names=names,
        switch=switch,
        hr=[params.value(f"dmt_{d}_hr_progression") for d in sequence] + [1.0],
        rr_relapse=np.array([params.value(f"dmt_{d}_rr_relapse") for d in sequence] + [1.0]),
        cost=np.array(cost),
    )


def _monitoring_names(params) -> list[str]:
    names = [n for n in params.table.index if n.startswith("ahsct_cost_monitoring_year")]
    return sorted(names, key=lambda n: int(n.rsplit("year", 1)[1]))


def _ahsct_blocks(params, sequence, conv, perspective, efficacy) -> _Blocks:
    pays = perspective in ("payer", "societal")
    monitoring = {
        int(n.rsplit("year", 1)[1]): (_money(params, n, conv) if pays else 0.0)
        for n in _monitoring_names(params)
    }
    last = max([k for k, v in monitoring.items() if v != 0] or [0])
    years = list(range(1, last + 2)) if last else [1]
    names = [f"ahsct_y{k}" for k in years[:-1]] + [f"ahsct_y{years[-1]}+"]
    cost = [monitoring.get(k, 0.0) if pays else 0.0 for k in years]
    hr_first = params.value(f"dmt_{sequence[0]}_hr_progression") if sequence else 1.0
    hr = "registry" if efficacy == "registry" else params.value("ahsct_hr_progression_mist") * hr_first
    rescue = params.value("ahsct_rescue_dmt_probability")
    nt = len(names)
    dmt = _dmt_blocks(params, sequence, conv, perspective) if rescue > 0 and sequence else None
    nb = nt + (len(dmt.names) if dmt else 0)
    switch = np.zeros((nb, nb))
    for b in range(nt):
        nxt = min(b + 1, nt - 1)
        switch[b, nxt] = 1 - (rescue if dmt else 0.0)
        if dmt:
            switch[b, nt] = rescue
    if dmt:
        switch[nt:, nt:] = dmt.switch
    return _Blocks(
        names=names + (dmt.names if dmt else []),
        switch=switch,
        hr=[hr] * nt + (dmt.hr if dmt else []),
        wanes=(True,) * nt + (False,) * (nb - nt),
        rr_relapse=np.concatenate(
            [np.full(nt, params.value("ahsct_rr_relapse")), dmt.rr_relapse if dmt else []]
        ),
        cost=np.concatenate([cost, dmt.cost if dmt else []]),
    )


def _money(params: ModelParameters, name: str, conv: Mapping[str, float]) -> float:
    """The amount ``name`` in the target currency; ``conv`` maps each currency in use (target: 1) to it."""
    value, cur, _ = params.amount(name)
    if cur.upper() not in conv:
        raise ModelInputError(f"{name} is priced in {cur}, for which no exchange rate is in use")
    return value * conv[cur.upper()]


def _band_matrices(params, blocks: _Blocks, cycles, hazards, waning) -> np.ndarray:
    """Among-the-living band matrices, shape (cycles, blocks, 2 phenotypes, B, B)."""
    natural = params.transition_matrix()
    B = natural.shape[0]
    spms = _apply_hr(natural, params.value("spms_progression_hr"))
    base = [natural, spms]
    out = np.empty((cycles, len(blocks.hr), 2, B, B))
    for b, hr in enumerate(blocks.hr):
        for p in range(2):
            if hr == "registry":
                out[:, b, p] = [_registry_year(base[p], hazards, t + 1, waning) for t in range(cycles)]
            elif waning and blocks.wanes and blocks.wanes[b]:
                out[:, b, p] = [
                    _apply_hr(base[p], hr + (1 - hr) * min(1.0, (t + 1) / waning)) for t in range(cycles)
                ]
            else:
                out[:, b, p] = _apply_hr(base[p], hr)
    return out


def _registry_year(natural: np.ndarray, hazards: np.ndarray, year: int, waning) -> np.ndarray:
    k = min(year, len(hazards))
    treated = _spread(natural, 1 - np.exp(-hazards[k - 1]))
    if not waning or year <= len(hazards):
        return treated
    frac = min(1.0, (year - len(hazards)) / waning)
    up = np.triu(np.ones_like(natural, dtype=bool), k=1)
    mixed = treated.copy()
    mixed[up] = 1 - np.exp(-((1 - frac) * _rate(treated[up]) + frac * _rate(natural[up])))
    return _restay(mixed)


def _assemble(bands_t, switch, conv_p, alive, q) -> np.ndarray:
    """The full (cycles,S,S) matrices from their factors (see the module docstring).

    ``bands_t`` (cycles, blocks, 2, B, B); ``alive`` and ``q`` (cycles, B).
    """
    T, nb, _, B, _ = bands_t.shape
    keeps = np.arange(B)[:, None] >= np.arange(B)[None, :]  # j <= i keeps progression-free
    pf = np.zeros((B, 2, B, 2))
    pf[:, 0, :, 0] = 1.0
    pf[:, 1, :, 1] = keeps
    pf[:, 1, :, 0] = ~keeps
    full = (
        switch[None, :, None, None, None, :, None, None, None]
        * conv_p[None, None, :, :, None, None, :, None, None]
        * bands_t[:, :, :, :, None, None, None, :, None]
        * pf[None, None, None, :, :, None, None, :, :]
        * alive[:, None, None, :, None, None, None, None, None]
    )
    n = nb * 2 * B * 2
    P = np.zeros((T, n + 1, n + 1))
    P[:, :n, :n] = full.reshape(T, n, n)
    P[:, :n, -1] = np.broadcast_to(q[:, None, None, :, None], (T, nb, 2, B, 2)).reshape(T, n)
    P[:, -1, -1] = 1.0
    return P


def build_arm(
    person: Person,
    params: ModelParameters,
    strategy: str,
    *,
    dmt_sequence: Sequence[str],
    cycles: int,
    perspective: str,
    conv: Mapping[str, float],
    qx: np.ndarray,
    efficacy: str,
    hazards: np.ndarray | None,
    trm: float,
    waning: float | None,
    ahsct_price: float | None,
) -> Arm:
    """One strategy of the MS model in arrays; the states are treatment block × phenotype × band × PF."""
    bands = params.bands
    B = len(bands)
    if strategy == "dmt":
        blocks = _dmt_blocks(params, list(dmt_sequence), conv, perspective)
    elif strategy == "ahsct":
        blocks = _ahsct_blocks(params, list(dmt_sequence), conv, perspective, efficacy)
    else:
        raise ModelInputError(f"strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
    conversion_p = params.values("rrms_to_spms_edss", bands)
    conv_p = np.zeros((2, B, 2))
    conv_p[0, :, 0], conv_p[0, :, 1], conv_p[1, :, 1] = 1 - conversion_p, conversion_p, 1.0
    mult = params.values("mortality_multiplier_edss", bands)
    band_t = _band_matrices(params, blocks, cycles, hazards, waning)
    ages = np.minimum(np.floor(person.age_years + np.arange(cycles)).astype(int), len(qx) - 1)
    q = np.minimum(1.0, qx[ages][:, None] * mult[None, :])
    P = _assemble(band_t, blocks.switch, conv_p, 1 - q, q)
    rewards, lam, per_relapse = _rewards(params, blocks, bands, perspective, conv)
    start = _start(person, bands, len(blocks.names), trm if strategy == "ahsct" else 0.0)
    initial = 0.0
    if strategy == "ahsct":
        initial = float(
            ahsct_price if ahsct_price is not None else _money(params, "ahsct_cost_procedure", conv)
        )
    states = [
        f"{blk}|{ph}|edss{b}|{'pf' if f else 'progressed'}"
        for blk in blocks.names
        for ph in PHENOTYPES
        for b in bands
        for f in (0, 1)
    ] + ["death"]
    band_of_state = np.append(np.tile(np.repeat(np.arange(B), 2), len(blocks.names) * 2), B)
    return Arm(strategy, states, P, rewards, lam, per_relapse, start, initial, band_of_state)


def _rewards(params, blocks: _Blocks, bands, perspective, conv):
    B, nb = len(bands), len(blocks.names)
    utility = params.values("utility_edss", bands)
    spms_adj = params.value("utility_spms_adjustment")
    relapse = np.stack(
        [params.values("relapse_rate_rrms_edss", bands), params.values("relapse_rate_spms_edss", bands)]
    )
    societal = np.zeros(B)
    if perspective == "societal":
        societal = np.array([_money(params, f"cost_societal_edss{b}", conv) for b in bands])
    shape = (nb, 2, B, 2)
    blk = np.arange(nb)[:, None, None, None]
    ph = np.arange(2)[None, :, None, None]
    band = np.arange(B)[None, None, :, None]
    pf = np.arange(2)[None, None, None, :]
    cost = np.broadcast_to(blocks.cost[blk] + societal[band], shape)
    qaly = np.broadcast_to(utility[band] + spms_adj * (ph == 1), shape)
    lam = np.broadcast_to(relapse[ph, band] * blocks.rr_relapse[blk], shape)
    pf_years = np.broadcast_to(pf * 1.0, shape)
    rewards = np.column_stack(
        [a.reshape(-1) for a in (cost, qaly, np.ones(shape), np.zeros(shape), pf_years)]
    )
    rewards = np.vstack([rewards, np.zeros(len(REWARDS))])
    lam = np.append(lam.reshape(-1), 0.0)
    pays = perspective in ("payer", "societal")
    relapse_cost = _money(params, "relapse_cost_moderate", conv) if pays else 0.0
    loss = params.value("relapse_utility_decrement") * params.value("relapse_decrement_duration_years")
    per_relapse = np.array([relapse_cost, -loss, 0.0, 1.0, 0.0])
    return rewards, lam, per_relapse


def _start(person: Person, bands, n_blocks: int, trm: float) -> np.ndarray:
    B = len(bands)
    band = max(i for i, b in enumerate(bands) if b <= int(np.floor(person.edss)))
    ph = 0 if person.phenotype == "RRMS" else 1
    start = np.zeros(n_blocks * 2 * B * 2 + 1)
    start[((0 * 2 + ph) * B + band) * 2 + 1] = 1 - trm
    start[-1] = trm
    return start


# ---------------------------------------------------------------- public API


@dataclass(frozen=True)
class _Prepared:
    person: Person
    arms: dict[str, Arm]
    settings: Settings
    amounts: list[str]


def _prepare(
    person,
    params: ModelParameters,
    strategies,
    *,
    dmt_sequence,
    horizon_years,
    currency,
    rates,
    perspective,
    prediction,
    ahsct_efficacy,
    ahsct_waning_years,
    discount,
    country,
    life_table,
    ahsct_price,
) -> _Prepared:
    who = person_from(person)
    if perspective not in PERSPECTIVES:
        raise ModelInputError(f"perspective must be one of {', '.join(PERSPECTIVES)}; got {perspective!r}")
    bad = [s for s in strategies if s not in STRATEGIES]
    if bad or not strategies:
        raise ModelInputError(f"strategies must be among {', '.join(STRATEGIES)}; got {list(strategies)}")
    unknown = [d for d in dmt_sequence if d not in params.dmts()]
    if unknown:
        raise ModelInputError(f"unknown DMT(s) {', '.join(unknown)}; known: {', '.join(params.dmts())}")
    efficacy = ahsct_efficacy or ("registry" if prediction is not None else "mist")
    if efficacy not in EFFICACIES:
        raise ModelInputError(f"ahsct_efficacy must be one of {', '.join(EFFICACIES)}; got {efficacy!r}")
    if efficacy == "registry" and prediction is None:
        raise ModelInputError('ahsct_efficacy="registry" needs a prediction with a survival_curve')
    if ahsct_waning_years is not None and not ahsct_waning_years > 0:
        raise ModelInputError(f"ahsct_waning_years must be positive; got {ahsct_waning_years!r}")
    cycles = _cycles(who, horizon_years)
    hazards = pfs_hazards(prediction) if efficacy == "registry" else None
    trm = (
        float(prediction["trm"])
        if isinstance(prediction, Mapping) and "trm" in prediction
        else params.value("ahsct_trm")
    )
    if not 0 <= trm < 1:
        raise ModelInputError(f"TRM must be a probability below 1; got {trm!r}")
    amounts = _amounts_in_use(params, dmt_sequence, perspective, ahsct_price is None)
    conv, rates_source = conversion(params, amounts, currency, rates)
    table = life_table if isinstance(life_table, pd.DataFrame) else load_life_table(life_table)
    qx = qx_by_age(table, country, who.sex, max_age=MAX_AGE + 20)
    r = (
        (params.value("discount_costs"), params.value("discount_qalys"))
        if discount is None
        else ((discount, discount) if np.ndim(discount) == 0 else tuple(discount))
    )
    notes = ("PPMS is modelled with the progressive (SPMS) states",) if who.phenotype == "PPMS" else ()
    arms = {
        s: build_arm(
            who,
            params,
            s,
            dmt_sequence=dmt_sequence,
            cycles=cycles,
            perspective=perspective,
            conv={**conv, currency.upper(): 1.0},
            qx=qx,
            efficacy=efficacy,
            hazards=hazards,
            trm=trm,
            waning=ahsct_waning_years,
            ahsct_price=ahsct_price,
        )
        for s in strategies
    }
    settings = Settings(
        cycles=cycles,
        perspective=perspective,
        currency=currency.upper(),
        rates=conv,
        rates_source=rates_source,
        ahsct_efficacy=efficacy,
        ahsct_waning_years=ahsct_waning_years,
        dmt_sequence=tuple(dmt_sequence),
        discount=(float(r[0]), float(r[1])),
        country=str(country).upper(),
        trm=trm,
        notes=notes,
    )
    return _Prepared(who, arms, settings, amounts)


def _cycles(person: Person, horizon_years) -> int:
    lifetime = int(np.ceil(MAX_AGE - person.age_years))
    if horizon_years is None:
        return lifetime
    if int(horizon_years) != horizon_years or horizon_years < 1:
        raise ModelInputError(f"horizon_years must be a whole number of years >= 1; got {horizon_years!r}")
    return min(int(horizon_years), lifetime)


def _amounts_in_use(params, sequence, perspective, default_price: bool) -> list[str]:
    names = ["ahsct_cost_procedure"] if default_price else []
    if perspective in ("payer", "societal"):
        names += [f"dmt_{d}_cost_annual" for d in sequence if f"dmt_{d}_cost_annual" in params.table.index]
        names += ["relapse_cost_moderate", *_monitoring_names(params)]
    if perspective == "societal":
        names += [f"cost_societal_edss{b}" for b in params.bands]
    return names


def _parameters_in_use(params: ModelParameters, prepared: _Prepared) -> list[str]:
    bands = params.bands
    s = prepared.settings
    names = list(prepared.amounts) + [
        "spms_progression_hr",
        "utility_spms_adjustment",
        "relapse_utility_decrement",
        "relapse_decrement_duration_years",
        "ahsct_rr_relapse",
        "ahsct_rescue_dmt_probability",
    ]
    for prefix in (
        "utility_edss",
        "relapse_rate_rrms_edss",
        "relapse_rate_spms_edss",
        "mortality_multiplier_edss",
        "rrms_to_spms_edss",
    ):
        names += [f"{prefix}{b}" for b in bands]
    for d in s.dmt_sequence:
        names += [f"dmt_{d}_{k}" for k in ("hr_progression", "rr_relapse", "discontinuation")]
    if s.ahsct_efficacy == "mist":
        names.append("ahsct_hr_progression_mist")
    return names


def ms_cohort_inputs(
    person,
    params: ModelParameters,
    strategy: str,
    *,
    dmt_sequence: Sequence[str] = DEFAULT_DMT_SEQUENCE,
    horizon_years: int | None = None,
    currency: str = "RUB",
    rates: Mapping[str, float] | None = None,
    perspective: str = "payer",
    prediction: Mapping | None = None,
    ahsct_efficacy: str | None = None,
    ahsct_waning_years: float | None = None,
    country: str = "RUS",
    life_table=None,
    ahsct_price: float | None = None,
) -> tuple[dict, float]:
    """``(inputs, initial_cost)``: ``inputs`` holds ``P, costs, utilities, start`` for :func:`markov_cohort`.

    ``P`` is time-varying (cycles,S,S) with states expanded by treatment block (DMT line or years since
    aHSCT), phenotype, EDSS band and progression-free flag; expected relapse costs and disutilities are
    folded into the state rewards and TRM is in ``start``. ``initial_cost`` is the one-off procedure cost
    at time zero (0 for the DMT strategy). The number of cycles is ``P.shape[0]``.
    """
    prepared = _prepare(
        person,
        params,
        (strategy,),
        dmt_sequence=dmt_sequence,
        horizon_years=horizon_years,
        currency=currency,
        rates=rates,
        perspective=perspective,
        prediction=prediction,
        ahsct_efficacy=ahsct_efficacy,
        ahsct_waning_years=ahsct_waning_years,
        discount=None,
        country=country,
        life_table=life_table,
        ahsct_price=ahsct_price,
    )
    arm = prepared.arms[strategy]
    folded = arm.rewards + arm.relapse_rate[:, None] * arm.per_relapse[None, :]
    inputs = {"P": arm.P, "costs": folded[:, 0], "utilities": folded[:, 1], "start": arm.start}
    return inputs, arm.initial_cost


def simulate_ms(
    person,
    params: ModelParameters,
    strategies: Sequence[str] = STRATEGIES,
    dmt_sequence: Sequence[str] = DEFAULT_DMT_SEQUENCE,
    n_patients: int = 10000,
    horizon_years: int | None = None,
    seed=0,
    backend: str = "numpy",
    heterogeneity: bool = True,
    currency: str = "RUB",
    rates: Mapping[str, float] | None = None,
    *,
    perspective: str = "payer",
    prediction: Mapping | None = None,
    ahsct_efficacy: str | None = None,
    ahsct_waning_years: float | None = None,
    discount=None,
    country: str = "RUS",
    life_table=None,
    ahsct_price: float | None = None,
) -> MSResult:
    """Microsimulate ``n_patients`` copies of ``person`` under each strategy; returns an :class:`MSResult`.

    ``prediction`` is what ``predict_individual`` returns (its ``survival_curve`` and ``trm`` are used;
    with it ``ahsct_efficacy`` defaults to ``"registry"``, otherwise to ``"mist"``). ``ahsct_price`` is the
    one-off procedure price already in ``currency`` (e.g. the person's quote); otherwise the shipped cost
    is converted at ``rates`` (units of ``currency`` per unit of each source currency). ``discount`` is one
    rate or (costs, QALYs); None takes the parameter file's. With ``heterogeneity=True`` each patient's
    relapses are drawn as Poisson counts; with ``False`` their expectation is folded into the rewards, and
    the means then converge to :func:`ms_cohort_inputs` + :func:`markov_cohort`. ``life_table`` is a
    path or DataFrame (the shipped table when None); ``country`` is its ISO3 code.
    """
    prepared = _prepare(
        person,
        params,
        tuple(strategies),
        dmt_sequence=dmt_sequence,
        horizon_years=horizon_years,
        currency=currency,
        rates=rates,
        perspective=perspective,
        prediction=prediction,
        ahsct_efficacy=ahsct_efficacy,
        ahsct_waning_years=ahsct_waning_years,
        discount=discount,
        country=country,
        life_table=life_table,
        ahsct_price=ahsct_price,
    )
    s = prepared.settings
    w = node_weights(s.cycles, "trapezoid", 1.0)
    weights = np.column_stack(
        [
            w * discount_factors(s.discount[0], s.cycles, 1.0),
            w * discount_factors(s.discount[1], s.cycles, 1.0),
        ]
        + [w] * (len(REWARDS) - 2)
    )
    seeds = children(seed, len(prepared.arms))
    bands = params.bands
    rows, traces = {}, []
    for k, (name, arm) in enumerate(prepared.arms.items()):
        child = seeds[k]
        model = _path_model(arm, weights, heterogeneity, len(bands))
        totals, occ = run_paths(model, n_patients, child, backend)
        mean, se = mean_and_se(totals)
        row = dict(zip(REWARDS, mean, strict=True))
        row["cost"] += arm.initial_cost
        rows[name] = {**row, "cost_se": se[0], "qaly_se": se[1], "n_patients": int(n_patients)}
        trace = pd.DataFrame(occ / n_patients, columns=[f"edss{b}" for b in bands] + ["dead"])
        traces.append(trace.assign(strategy=name, year=np.arange(s.cycles + 1)))
    totals = pd.DataFrame.from_dict(rows, orient="index")
    totals.index.name = "strategy"
    edss_trace = pd.concat(traces, ignore_index=True).set_index(["strategy", "year"])
    unverified = params.unverified(_parameters_in_use(params, prepared))
    initial = {n: a.initial_cost for n, a in prepared.arms.items()}
    return MSResult(totals, edss_trace, s, unverified, initial)


def _path_model(arm: Arm, weights: np.ndarray, heterogeneity: bool, n_bands: int) -> PathModel:
    if heterogeneity:
        rewards, lam, per = arm.rewards, arm.relapse_rate, arm.per_relapse
    else:
        rewards, lam, per = arm.rewards + arm.relapse_rate[:, None] * arm.per_relapse[None, :], None, None
    return PathModel(
        cum=cumulative(arm.P),
        start_cum=cumulative(arm.start),
        rewards=rewards,
        weights=weights,
        relapse_rate=lam,
        per_relapse=per,
        groups=arm.band_of_state.astype(np.int64),
        n_groups=n_bands + 1,
    )
