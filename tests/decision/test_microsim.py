"""The microsimulation converges to the exact cohort totals, for every backend installed here."""

import numpy as np
import pytest

from openhsct.decision.markov import markov_cohort
from openhsct.decision.microsim import ModelInputError, available_backends, gpu_available, microsimulate

CPU_BACKENDS = ["python", "numpy", "numba"]


def _model():
    rng = np.random.default_rng(3)
    P = rng.random((8, 4, 4))
    P[:, 3] = [0, 0, 0, 1]
    P /= P.sum(axis=-1, keepdims=True)
    return {
        "P": {"a": P, "b": P[0]},
        "costs": {"a": [100, 300, 50, 0], "b": [10, 20, 30, 0]},
        "utilities": [1.0, 0.7, 0.4, 0.0],
        "start": {"a": 0, "b": [0.5, 0.5, 0, 0]},
    }


def _check_within_4_se(backend, n):
    model = _model()
    exact = markov_cohort(**model, cycles=8, discount=(0.03, 0.015))
    sim = microsimulate(**model, cycles=8, discount=(0.03, 0.015), n_patients=n, seed=5, backend=backend)
    assert list(sim.columns) == ["cost", "qaly", "cost_se", "qaly_se", "n_patients"]
    for strategy in ("a", "b"):
        for col in ("cost", "qaly"):
            diff = abs(sim.loc[strategy, col] - exact.loc[strategy, col])
            assert diff < 4 * sim.loc[strategy, f"{col}_se"], (backend, strategy, col)
            assert sim.loc[strategy, f"{col}_se"] > 0
    return sim


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_within_4_se_of_cohort(backend):
    assert backend in available_backends()
    _check_within_4_se(backend, 3000 if backend == "python" else 40000)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_cumulative_draws_within_4_se(backend, monkeypatch):
    """Below the alias-table threshold the next state comes from the cumulative rows: check that path too."""
    import openhsct.decision.microsim as microsim

    monkeypatch.setattr(microsim, "ALIAS_MIN_PATIENTS_PER_STATE", 10**9)
    _check_within_4_se(backend, 40000)


def test_gpu_backend_within_4_se():
    if not gpu_available():
        pytest.skip("GPU absent: the CuPy backend needs a CUDA device")
    _check_within_4_se("cupy", 200000)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_seed_reproduces(backend):
    model = _model()
    one = microsimulate(**model, cycles=8, discount=0.03, n_patients=500, seed=9, backend=backend)
    two = microsimulate(**model, cycles=8, discount=0.03, n_patients=500, seed=9, backend=backend)
    other = microsimulate(**model, cycles=8, discount=0.03, n_patients=500, seed=10, backend=backend)
    assert one.equals(two)
    assert not one.equals(other)


def test_numba_result_does_not_depend_on_threads():
    import numba

    model = _model()
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = microsimulate(**model, cycles=8, discount=0.03, n_patients=1000, seed=2, backend="numba")
        numba.set_num_threads(max(1, numba.config.NUMBA_NUM_THREADS))
        many = microsimulate(**model, cycles=8, discount=0.03, n_patients=1000, seed=2, backend="numba")
    finally:
        numba.set_num_threads(before)
    assert one.equals(many)


def test_absorbing_start_gives_zero_spread():
    out = microsimulate([[1.0, 0.0], [0.0, 1.0]], [10, 0], [1, 0], 3, 0, 0, 10, seed=1)
    assert out.loc["base", "cost"] == pytest.approx(30.0)
    assert out.loc["base", "cost_se"] == 0


def test_unknown_backend_is_a_user_error():
    with pytest.raises(ModelInputError, match="backend"):
        microsimulate([[1.0]], [1], [1], 1, 0, 0, 10, backend="fortran")
