"""Probabilistic sensitivity analysis: parameter draws and the simulation of each draw on Dask.

Distributions are fitted from a mean and a 95 % CI as dampack does (Alarid-Escudero F et al. 2019,
*dampack*, https://cran.r-project.org/package=dampack; Briggs, Claxton & Sculpher 2006, *Decision
Modelling for Health Economic Evaluation*, Oxford University Press, ch. 4), with ``σ = (high − low) / (2·1.96)``:

* beta (probabilities, utilities), ``beta_params``: ``α = μ(μ(1−μ)/σ² − 1)``, ``β = α(1−μ)/μ``;
* gamma (costs), ``gamma_params``: ``shape = μ²/σ²``, ``scale = σ²/μ``;
* lognormal (hazard and rate ratios): a ratio is published with a CI symmetric on the log scale, so
  ``meanlog = ln(estimate)`` and ``sdlog = (ln high − ln low)/(2·1.96)``, or ``sdlog = SE(log ratio)``
  when a standard error is published; ``lnorm_params`` (dampack's fit from a natural-scale mean and
  variance: ``sdlog² = ln(1 + v/m²)``, ``meanlog = ln m − sdlog²/2``) is provided for inputs given that way;
* Dirichlet for each row of the EDSS matrix, ``Dir(n · p_row)`` with ``n = n_for_dirichlet``.

With an individual prediction, each sample also draws the person's PFS curve and TRM from their intervals
(:func:`draw_prediction`), so the registry model's uncertainty reaches the aHSCT arm.

Reproducibility: sample ``i`` draws its parameters from ``SeedSequence(seed, spawn_key=(i, 0))``, its
prediction from ``spawn_key=(i, 2)`` and simulates its patients from ``spawn_key=(i, 1)`` — children of one
sample — so the table is identical whatever the chunking and the number of workers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from openhsct.decision.parameters import ModelParameters, ParameterError

Z95 = 1.959963984540054


def sd_from_ci(low: float, high: float) -> float:
    """Standard deviation of a normal-approximation 95 % CI: ``(high − low) / (2·1.96)``."""
    return (high - low) / (2 * Z95)


def beta_params(mean: float, sigma: float) -> tuple[float, float]:
    """Beta ``(alpha, beta)`` with the given mean and standard deviation (dampack ``beta_params``)."""
    if not (0 < mean < 1) or sigma <= 0 or sigma**2 >= mean * (1 - mean):
        raise ParameterError(f"no beta distribution has mean {mean} and sd {sigma}")
    alpha = mean * (mean * (1 - mean) / sigma**2 - 1)
    return alpha, alpha * (1 - mean) / mean


def gamma_params(mu: float, sigma: float) -> tuple[float, float]:
    """Gamma ``(shape, scale)`` with the given mean and standard deviation (dampack ``gamma_params``)."""
    if mu <= 0 or sigma <= 0:
        raise ParameterError(f"no gamma distribution has mean {mu} and sd {sigma}")
    return mu**2 / sigma**2, sigma**2 / mu


def lnorm_params(m: float, v: float) -> tuple[float, float]:
    """Lognormal ``(meanlog, sdlog)`` with natural-scale mean ``m`` and variance ``v`` (dampack ``lnorm_params``)."""
    if m <= 0 or v <= 0:
        raise ParameterError(f"no lognormal distribution has mean {m} and variance {v}")
    sdlog = np.sqrt(np.log(1 + v / m**2))
    return float(np.log(m) - sdlog**2 / 2), float(sdlog)


def lnorm_from_ci(estimate: float, low: float, high: float) -> tuple[float, float]:
    """Lognormal ``(meanlog, sdlog)`` of a ratio published with a log-symmetric 95 % CI."""
    if min(estimate, low, high) <= 0:
        raise ParameterError(f"a ratio and its CI must be positive ({estimate}, {low}, {high})")
    return float(np.log(estimate)), float((np.log(high) - np.log(low)) / (2 * Z95))


def fit_distribution(distribution: str, value: float, low: float, high: float) -> tuple[float, float]:
    """``(dist_a, dist_b)`` of ``distribution`` fitted to a value and its 95 % CI, as documented above."""
    if distribution == "beta":
        return beta_params(value, sd_from_ci(low, high))
    if distribution == "gamma":
        return gamma_params(value, sd_from_ci(low, high))
    if distribution == "lognormal":
        return lnorm_from_ci(value, low, high)
    if distribution == "normal":
        return value, sd_from_ci(low, high)
    raise ParameterError(f"cannot fit a {distribution!r} distribution from a CI")


def _draw_one(rng: np.random.Generator, distribution: str, a: float, b: float) -> float:
    if distribution == "beta":
        return rng.beta(a, b)
    if distribution == "gamma":
        return rng.gamma(a, b)
    if distribution == "lognormal":
        return rng.lognormal(a, b)
    if distribution == "normal":
        return rng.normal(a, b)
    raise ParameterError(f"unknown distribution {distribution!r}")


def matrix_column(source: int, target: int) -> str:
    """The column name of one EDSS matrix cell in a table of draws."""
    return f"edss:{source}>{target}"


def _sample_once(params: ModelParameters, stochastic: pd.DataFrame, rows: pd.DataFrame, ss) -> dict:
    rng = np.random.default_rng(ss)
    draw = {
        name: _draw_one(rng, r.distribution, r.dist_a, r.dist_b)
        for name, r in zip(stochastic.index, stochastic.itertuples(), strict=True)
    }
    for _, group in rows.groupby("from", sort=True):
        alpha = group["n_for_dirichlet"].to_numpy() * group["probability"].to_numpy()
        positive = alpha > 0
        probs = np.zeros(len(group))
        probs[positive] = rng.dirichlet(alpha[positive])
        for (f, t), p in zip(zip(group["from"], group["to"], strict=True), probs, strict=True):
            draw[matrix_column(int(f), int(t))] = p
    return draw


def sample_parameters(params: ModelParameters, n_samples: int, seed=0, *, first: int = 0) -> pd.DataFrame:
    """One row per PSA sample (index ``sample``), one column per uncertain parameter and matrix cell.

    Parameters with ``distribution=fixed`` keep their value and are left out; matrix rows with an
    ``n_for_dirichlet`` are drawn from a Dirichlet. ``first`` numbers the samples from there (chunks).
    """
    if int(n_samples) != n_samples or n_samples < 1:
        raise ParameterError(f"n_samples must be a positive integer; got {n_samples!r}")
    stochastic = params.table[params.table["distribution"] != "fixed"]
    rows = params.transitions[params.transitions["n_for_dirichlet"].notna()]
    entropy = _entropy(seed)
    draws = [
        _sample_once(params, stochastic, rows, np.random.SeedSequence(entropy, spawn_key=(i, 0)))
        for i in range(first, first + int(n_samples))
    ]
    frame = pd.DataFrame(draws, index=pd.RangeIndex(first, first + int(n_samples), name="sample"))
    return frame


def _entropy(seed) -> int:
    return int(np.random.SeedSequence(seed).entropy) if not isinstance(seed, int) else int(seed)


def params_for_draw(params: ModelParameters, draw: Mapping[str, float]) -> ModelParameters:
    """``params`` with one row of :func:`sample_parameters` in place (matrix cells included)."""
    matrix = None
    cells = {k: v for k, v in draw.items() if k.startswith("edss:")}
    if cells:
        bands = params.bands
        pos = {b: i for i, b in enumerate(bands)}
        matrix = params.transition_matrix().copy()
        for key, p in cells.items():
            f, t = key[len("edss:") :].split(">")
            matrix[pos[int(f)], pos[int(t)]] = p
    return params.with_draw({k: v for k, v in draw.items() if not k.startswith("edss:")}, matrix)


def draw_prediction(prediction: Mapping, rng: np.random.Generator) -> dict:
    """One PSA draw of an individual prediction; returns ``{"survival_curve", "trm"}`` for ``simulate_ms``.

    The PFS curve moves as a whole on the log(−log) scale, where its interval was built:
    ``η_i(t) = log(−log S(t)) + z·σ(t)`` with one ``z ~ N(0, 1)`` per sample and
    ``σ(t) = (log(−log lower(t)) − log(−log upper(t))) / (2·1.96)``. TRM is drawn from the beta
    distribution fitted to its estimate and 95 % CI (fixed when no beta fits).
    """
    curve = pd.DataFrame(prediction["survival_curve"])
    surv = curve["survival"].to_numpy(float)
    out = curve.loc[:, ["time"]].copy()
    z = rng.standard_normal()
    if {"lower", "upper"} <= set(curve.columns):
        with np.errstate(divide="ignore", invalid="ignore"):
            eta = np.log(-np.log(surv))
            lower = np.log(-np.log(curve["lower"].to_numpy(float)))
            upper = np.log(-np.log(curve["upper"].to_numpy(float)))
            sigma = np.where(np.isfinite(lower - upper), (lower - upper) / (2 * Z95), 0.0)
            drawn = np.exp(-np.exp(eta + z * sigma))
        surv = np.where(surv < 1, np.minimum.accumulate(np.clip(drawn, 1e-12, 1.0)), 1.0)
    out["survival"] = surv
    trm = float(prediction["trm"])
    low, high = prediction.get("trm_lower"), prediction.get("trm_upper")
    u = rng.random()
    if low is not None and high is not None and high > low:
        try:
            a, b = beta_params(trm, sd_from_ci(float(low), float(high)))
            trm = float(stats.beta.ppf(u, a, b))
        except ParameterError:
            pass
    return {"survival_curve": out, "trm": trm}


def _one_numba_thread() -> None:
    """Dask already runs one task per core: numba's own threads would only contend with it."""
    try:
        import numba

        numba.set_num_threads(1)
    except ImportError:
        pass


def _simulate_chunk(
    person, params, draws: pd.DataFrame, seed, kwargs: dict, simulate: Callable
) -> pd.DataFrame:
    if kwargs.get("backend") == "numba":
        _one_numba_thread()
    entropy = _entropy(seed)
    frames = []
    for sample, draw in draws.iterrows():
        options = dict(kwargs)
        if kwargs.get("prediction") is not None:
            rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(int(sample), 2)))
            options["prediction"] = draw_prediction(kwargs["prediction"], rng)
        result = simulate(
            person,
            params_for_draw(params, draw.dropna().to_dict()),
            seed=np.random.SeedSequence(entropy, spawn_key=(int(sample), 1)),
            **options,
        )
        totals = result.totals.reset_index()[["strategy", "cost", "qaly"]]
        frames.append(totals.assign(sample=int(sample)))
    return pd.concat(frames, ignore_index=True)


def _client(scheduler, n_workers: int | None, processes: bool):
    from dask.distributed import Client, LocalCluster

    if scheduler is None:
        cluster = LocalCluster(
            n_workers=n_workers or 2, threads_per_worker=1, processes=processes, dashboard_address=":0"
        )
        return Client(cluster), cluster
    if isinstance(scheduler, str):
        return Client(scheduler), None
    return scheduler, None


def psa(
    person: Mapping,
    params: ModelParameters,
    n_samples: int = 1000,
    n_patients: int = 1000,
    seed=0,
    scheduler=None,
    *,
    n_workers: int | None = None,
    chunk_size: int | None = None,
    processes: bool = True,
    **model_kwargs,
) -> pd.DataFrame:
    """PSA table with columns ``sample, strategy, cost, qaly`` (one row per sample and strategy).

    Each sample draws the parameters (:func:`sample_parameters`) and runs
    :func:`openhsct.decision.ms_model.simulate_ms` with ``n_patients`` patients and ``model_kwargs``.
    ``scheduler`` is None (a ``dask.distributed.LocalCluster`` of ``n_workers`` single-threaded workers,
    2 by default), a scheduler address such as ``"tcp://host:8786"``, or a ``distributed.Client``.
    """
    from openhsct.decision.ms_model import simulate_ms

    draws = sample_parameters(params, n_samples, seed)
    if draws.shape[1] == 0:
        draws = pd.DataFrame(index=draws.index)
    kwargs = {"n_patients": n_patients, **model_kwargs}
    size = chunk_size or max(1, int(np.ceil(n_samples / (4 * (n_workers or 2)))))
    chunks = [draws.iloc[i : i + size] for i in range(0, len(draws), size)]
    client, cluster = _client(scheduler, n_workers, processes)
    try:
        shared = client.scatter(params, broadcast=True)
        futures = [
            client.submit(_simulate_chunk, person, shared, chunk, seed, kwargs, simulate_ms, pure=False)
            for chunk in chunks
        ]
        parts = client.gather(futures)
    finally:
        if cluster is not None:
            client.close()
            cluster.close()
    table = pd.concat(parts, ignore_index=True)
    table = table.sort_values(["sample", "strategy"], kind="stable").reset_index(drop=True)
    return table.loc[:, ["sample", "strategy", "cost", "qaly"]]
