"""The MS model: its microsimulation converges to markov_cohort on its own cohort inputs; the parts
(TRM at time zero, registry hazards, currency, DMT sequence, coarse bands) behave as documented."""

import numpy as np
import pandas as pd
import pytest

from openhsct.decision.markov import ModelInputError, markov_cohort
from openhsct.decision.microsim import available_backends
from openhsct.decision.ms_model import ms_cohort_inputs, pfs_hazards, simulate_ms
from openhsct.decision.parameters import load_coarse_transitions, load_parameters

PERSON = {"age_years": 40, "sex": "F", "phenotype": "RRMS", "edss": 3.5}
RATES = {"EUR": 100.0}


@pytest.fixture(scope="module")
def params():
    return load_parameters()


def _cohort(params, strategy, **kw):
    inputs, initial = ms_cohort_inputs(PERSON, params, strategy, rates=RATES, **kw)
    out = markov_cohort(**inputs, cycles=inputs["P"].shape[0], discount=0.03)
    return out.loc["base", "cost"] + initial, out.loc["base", "qaly"]


@pytest.mark.parametrize(
    "backend", [b for b in ("python", "numpy", "numba", "cupy") if b in available_backends()]
)
def test_no_heterogeneity_converges_to_cohort(params, backend):
    n = 600 if backend == "python" else 20000
    sim = simulate_ms(
        PERSON,
        params,
        n_patients=n,
        horizon_years=15,
        seed=4,
        backend=backend,
        heterogeneity=False,
        rates=RATES,
    )
    for strategy in ("ahsct", "dmt"):
        cost, qaly = _cohort(params, strategy, horizon_years=15)
        row = sim.totals.loc[strategy]
        assert abs(row["cost"] - cost) < 4 * row["cost_se"], strategy
        assert abs(row["qaly"] - qaly) < 4 * row["qaly_se"], strategy


def test_relapse_draws_keep_the_expectation(params):
    sim = simulate_ms(
        PERSON, params, n_patients=20000, horizon_years=10, seed=8, heterogeneity=True, rates=RATES
    )
    cost, qaly = _cohort(params, "dmt", horizon_years=10)
    row = sim.totals.loc["dmt"]
    assert abs(row["qaly"] - qaly) < 4 * row["qaly_se"]
    assert abs(row["cost"] - cost) < 4 * row["cost_se"]


def test_totals_trace_and_settings(params):
    sim = simulate_ms(PERSON, params, n_patients=2000, horizon_years=5, seed=1, rates=RATES, currency="RUB")
    assert list(sim.totals.columns[:7]) == [
        "cost",
        "qaly",
        "life_years",
        "relapses",
        "years_progression_free",
        "cost_se",
        "qaly_se",
    ]
    trace = sim.edss_trace
    assert list(trace.columns) == [f"edss{b}" for b in range(10)] + ["dead"]
    np.testing.assert_allclose(trace.sum(axis=1), 1.0)
    # the start: everyone in EDSS band 3 except TRM deaths in the aHSCT arm
    assert trace.loc[("ahsct", 0), "dead"] == pytest.approx(0.021, abs=0.01)
    assert trace.loc[("dmt", 0), "edss3"] == 1.0
    assert sim.settings.rates == {"EUR": 100.0}
    assert sim.settings.cycles == 5
    assert sim.initial_costs["ahsct"] == pytest.approx(66304 * 100)
    assert (sim.totals["life_years"] <= 5).all()
    assert "not medical advice" in sim.note
    assert "utility_edss4" in set(sim.unverified["name"])


def test_lifetime_horizon_is_to_age_100(params):
    inputs, _ = ms_cohort_inputs(PERSON, params, "dmt", rates=RATES)
    assert inputs["P"].shape[0] == 60


def test_trm_is_in_start_and_price_is_initial_cost(params):
    prediction = {"trm": 0.05, "survival_curve": pd.DataFrame({"time": [0, 5], "survival": [1, 0.8]})}
    inputs, initial = ms_cohort_inputs(
        PERSON, params, "ahsct", prediction=prediction, ahsct_price=1_500_000, rates=RATES
    )
    assert inputs["start"][-1] == pytest.approx(0.05)
    assert inputs["start"].sum() == pytest.approx(1.0)
    assert initial == 1_500_000


def test_registry_hazards_from_the_curve():
    curve = pd.DataFrame({"time": [0.0, 0.5, 1.0, 2.5, 3.0], "survival": [1.0, 0.95, 0.9, 0.85, 0.8]})
    h = pfs_hazards(curve)
    # S(1)=0.9, S(2)=0.9, S(3)=0.8 (step function)
    np.testing.assert_allclose(h, [-np.log(0.9), 0.0, -np.log(0.8 / 0.9)])


def test_registry_worsening_spread_over_natural_history_row(params):
    h = 0.2
    curve = pd.DataFrame({"time": np.arange(0, 11), "survival": np.exp(-h * np.arange(0, 11))})
    inputs, _ = ms_cohort_inputs(
        PERSON,
        params,
        "ahsct",
        prediction={"survival_curve": curve, "trm": 0.0},
        rates=RATES,
        horizon_years=3,
    )
    P = inputs["P"][0]
    B = 10
    origin = ((0 * 2 + 0) * B + 3) * 2 + 1  # aHSCT block, RRMS, band 3, progression-free
    worse = sum(
        P[origin, ((0 * 2 + ph) * B + j) * 2 + f] for ph in (0, 1) for j in range(4, B) for f in (0, 1)
    )
    alive = 1 - P[origin, -1]
    assert worse / alive == pytest.approx(1 - np.exp(-h), rel=1e-12)
    natural = params.transition_matrix()[3]
    into_4 = sum(P[origin, ((0 * 2 + ph) * B + 4) * 2 + f] for ph in (0, 1) for f in (0, 1))
    into_7 = sum(P[origin, ((0 * 2 + ph) * B + 7) * 2 + f] for ph in (0, 1) for f in (0, 1))
    assert into_4 / (into_4 + into_7 + 1e-300) == pytest.approx(natural[4] / natural[4:].sum())


def test_dmt_effect_on_worsening_rates(params):
    inputs, _ = ms_cohort_inputs(
        PERSON, params, "dmt", dmt_sequence=["natalizumab"], rates=RATES, horizon_years=2
    )
    P = inputs["P"][0]
    B = 10
    origin = (3 * 2) + 1
    to4 = sum(P[origin, ((0 * 2 + ph) * B + 4) * 2 + f] for ph in (0, 1) for f in (0, 1))
    stop = params.value("dmt_natalizumab_discontinuation")
    to4 += sum(P[origin, ((1 * 2 + ph) * B + 4) * 2 + f] for ph in (0, 1) for f in (0, 1))
    p_nat = params.transition_matrix()[3, 4]
    expected = 1 - np.exp(np.log1p(-p_nat) * params.value("dmt_natalizumab_hr_progression"))
    assert to4 / (1 - P[origin, -1]) == pytest.approx(expected, rel=1e-12)
    assert stop == pytest.approx(0.10)


def test_coarse_bands_work(params):
    from dataclasses import replace

    coarse = replace(params, transitions=load_coarse_transitions())
    assert coarse.bands == [0, 1, 4, 7]
    sim = simulate_ms(PERSON, coarse, n_patients=500, horizon_years=5, seed=1, rates=RATES)
    assert list(sim.edss_trace.columns) == ["edss0", "edss1", "edss4", "edss7", "dead"]
    assert sim.edss_trace.loc[("dmt", 0), "edss1"] == 1.0


def test_currency_rates_must_cover_the_inputs(params):
    with pytest.raises(ModelInputError, match="EUR"):
        simulate_ms(PERSON, params, n_patients=10, horizon_years=2, rates={"GBP": 118.0})


def test_perspectives_change_costs_only(params):
    out = {}
    for perspective in ("patient", "payer", "societal"):
        inputs, initial = ms_cohort_inputs(
            PERSON, params, "dmt", rates=RATES, perspective=perspective, horizon_years=5
        )
        out[perspective] = markov_cohort(**inputs, cycles=5, discount=0.03).loc["base"]
    assert out["patient"]["cost"] == 0
    assert 0 < out["payer"]["cost"] < out["societal"]["cost"]
    assert out["patient"]["qaly"] == pytest.approx(out["societal"]["qaly"])


@pytest.mark.parametrize(
    ("change", "message"),
    [({"edss": 3.3}, "edss"), ({"sex": "X"}, "sex"), ({"age_years": 120}, "age_years")],
)
def test_person_checked_at_the_edge(params, change, message):
    with pytest.raises(ModelInputError, match=message):
        simulate_ms({**PERSON, **change}, params, n_patients=10, rates=RATES)


def test_unknown_dmt_lists_the_known(params):
    with pytest.raises(ModelInputError, match="ocrelizumab"):
        simulate_ms(PERSON, params, dmt_sequence=["aspirin"], n_patients=10, rates=RATES)


def test_waning_moves_mist_effect_towards_natural_history(params):
    base, _ = ms_cohort_inputs(PERSON, params, "ahsct", rates=RATES, horizon_years=6)
    waned, _ = ms_cohort_inputs(PERSON, params, "ahsct", rates=RATES, horizon_years=6, ahsct_waning_years=4)
    origin = 3 * 2 + 1
    assert waned["P"][5][origin, -1] == pytest.approx(base["P"][5][origin, -1])
    assert waned["P"][5][origin, origin] < base["P"][5][origin, origin]


def test_monitoring_cost_lives_in_tunnel_states(params):
    from openhsct.decision.markov import markov_trace

    kw = dict(rates=RATES, horizon_years=4)
    base, _ = ms_cohort_inputs(PERSON, params, "ahsct", **kw)
    tunnel_params = params.with_values({"ahsct_cost_monitoring_year2": (1000.0, "EUR")})
    tunnel, _ = ms_cohort_inputs(PERSON, tunnel_params, "ahsct", **kw)
    assert tunnel["P"].shape[1] == 3 * 40 + 1  # blocks ahsct_y1, ahsct_y2, ahsct_y3+
    cost = {
        k: markov_cohort(**v, cycles=4, discount=0.03).loc["base", "cost"]
        for k, v in (("base", base), ("tunnel", tunnel))
    }
    # everyone alive at node 1 is in year 2 after transplant; the trapezoid weight there is 1 year
    alive_at_1 = markov_trace(tunnel["P"], tunnel["start"], 4)[1, :-1].sum()
    assert cost["tunnel"] - cost["base"] == pytest.approx(1000 * 100 * alive_at_1 / 1.03, rel=1e-12)


def test_rescue_dmt_moves_patients_to_the_first_line(params):
    from openhsct.decision.markov import markov_trace

    rescue = params.with_values({"ahsct_rescue_dmt_probability": 0.2})
    inputs, _ = ms_cohort_inputs(
        PERSON, rescue, "ahsct", dmt_sequence=["natalizumab"], rates=RATES, horizon_years=3
    )
    assert inputs["P"].shape[1] == 3 * 40 + 1  # aHSCT, natalizumab, no DMT
    m = markov_trace(inputs["P"], inputs["start"], 3)
    on_dmt = m[1, 40:80].sum()
    assert on_dmt == pytest.approx(0.2 * m[1, :-1].sum(), rel=1e-12)
