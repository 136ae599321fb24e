"""The exact cohort engine: the hand-computed example first, then numpy matrix algebra on random models."""

import numpy as np
import pytest

from openhsct.decision.markov import ModelInputError, markov_cohort, markov_trace

P = [[0.9, 0.1], [0.0, 1.0]]


@pytest.mark.parametrize(
    ("method", "cost", "qaly"),
    [("trapezoid", 180.5, 1.805), ("left", 190.0, 1.9), ("right", 171.0, 1.71)],
)
def test_hand_computed_undiscounted(method, cost, qaly):
    # m0 = (1, 0), m1 = (0.9, 0.1), m2 = (0.81, 0.19): cost rates 100, 90, 81
    out = markov_cohort(P, [100, 0], [1, 0], 2, 0, 0, method=method)
    assert out.index.name == "strategy"
    assert list(out.columns) == ["cost", "qaly"]
    assert out.loc["base", "cost"] == pytest.approx(cost, rel=1e-14)
    assert out.loc["base", "qaly"] == pytest.approx(qaly, rel=1e-14)


def test_hand_computed_discounted():
    # 100/2 + 90/1.05 + 81/1.05**2/2
    out = markov_cohort(P, [100, 0], [1, 0], 2, 0.05, 0)
    assert out.loc["base", "cost"] == pytest.approx(172.44897959183675, rel=1e-12)
    assert out.loc["base", "qaly"] == pytest.approx(1.7244897959183675, rel=1e-12)


def test_trace_shape_and_rows():
    m = markov_trace(P, 0, 2)
    np.testing.assert_allclose(m, [[1, 0], [0.9, 0.1], [0.81, 0.19]], rtol=1e-15)


def _random_model(rng, S, cycles, time_varying):
    shape = (cycles, S, S) if time_varying else (S, S)
    P = rng.random(shape)
    P /= P.sum(axis=-1, keepdims=True)
    start = rng.random(S)
    return P, rng.random(S) * 1000, rng.random(S), start / start.sum()


def _reference(P, c, u, cycles, r, start, method, L):
    """Totals by explicit matrix powers/products and the written formulas, independent of the engine."""
    S = len(start)
    if P.ndim == 2:
        products = [np.linalg.matrix_power(P, t) for t in range(cycles + 1)]
    else:
        products = [np.linalg.multi_dot([np.eye(S), np.eye(S), *P[:t]]) for t in range(cycles + 1)]
    m = np.array([start @ product for product in products])

    def total(v, rate):
        x = (1 + rate) ** (-np.arange(cycles + 1) * L) * (m @ v)
        if method == "left":
            return L * x[:-1].sum()
        if method == "right":
            return L * x[1:].sum()
        return L * ((x[:-1] + x[1:]) / 2).sum()

    return total(c, r[0]), total(u, r[1])


@pytest.mark.parametrize("time_varying", [False, True])
@pytest.mark.parametrize("method", ["left", "right", "trapezoid"])
def test_random_models_agree_with_numpy_algebra(time_varying, method):
    rng = np.random.default_rng(11 + time_varying)
    for _ in range(10):
        S, cycles = int(rng.integers(2, 7)), int(rng.integers(1, 25))
        P, c, u, start = _random_model(rng, S, cycles, time_varying)
        r = (float(rng.uniform(0, 0.08)), float(rng.uniform(0, 0.08)))
        L = float(rng.choice([0.25, 0.5, 1.0]))
        out = markov_cohort({"a": P}, c, u, cycles, r, start, method=method, cycle_length=L)
        cost, qaly = _reference(P, c, u, cycles, r, start, method, L)
        assert out.loc["a", "cost"] == pytest.approx(cost, rel=1e-12)
        assert out.loc["a", "qaly"] == pytest.approx(qaly, rel=1e-12)


def test_strategies_as_dicts():
    out = markov_cohort(
        {"x": P, "y": np.eye(2)}, {"x": [100, 0], "y": [50, 0]}, [1, 0], 2, 0, {"x": 0, "y": [1, 0]}
    )
    assert list(out.index) == ["x", "y"]
    assert out.loc["y", "cost"] == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"P": [[0.5, 0.4], [0, 1]]}, "do not sum to 1"),
        ({"start": 3}, "not a state index"),
        ({"method": "simpson"}, "method must be"),
        ({"discount": (0.1, 0.2, 0.3)}, "discount"),
        ({"costs": [1, 2, 3]}, "costs"),
    ],
)
def test_bad_inputs_are_user_errors(kwargs, message):
    args = {"P": P, "costs": [100, 0], "utilities": [1, 0], "cycles": 2, "discount": 0, "start": 0, **kwargs}
    with pytest.raises(ModelInputError, match=message):
        markov_cohort(**args)
