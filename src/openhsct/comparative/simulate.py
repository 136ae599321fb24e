"""An analysis-ready synthetic comparison with confounding and a known true effect (no person is real).

One row per patient: the MSBase covariates, the treatment (1 aHSCT, 0 a high-efficacy DMT), the time
to confirmed disability worsening (days) and the relapse count over follow-up. The treatment is more
likely for younger patients with more relapses and Gd-enhancing lesions (as in Kalincik et al., *JAMA
Neurol* 2023;80:702-713, where aHSCT patients were younger with more relapses); the same covariates
raise the hazard of worsening and the relapse rate, so an unadjusted comparison is biased.

The hazard of worsening is lambda0 exp(b'x) times ``true_hr`` for aHSCT (proportional hazards), the
relapse count Poisson with a gamma frailty (so negative binomial) and rate times ``true_rate_ratio``.
The covariate effects are modest, so that the marginal hazard ratio that matching and weighting
estimate stays close to the conditional ``true_hr`` (the hazard ratio is not collapsible: Austin,
*Stat Med* 2013;32:2837-2849, doi:10.1002/sim.5705).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COUNTRIES = ("XAA", "XBB", "XCC")  # ISO 3166 user-assigned codes: fictional countries


def simulate_comparison(
    n: int = 400,
    seed: int = 1,
    true_hr: float = 0.35,
    true_rate_ratio: float = 0.3,
    treated_share: float = 0.35,
) -> pd.DataFrame:
    """A synthetic cohort of ``n`` patients (about ``treated_share`` transplanted) as a DataFrame with
    columns ``id, treat, age, female, disease_duration_y, edss, relapses_12m, relapses_24m,
    prior_dmt_count, gd_lesions, phenotype, country, time, event, fu_years, relapses``. ``time`` is in
    whole days (so there are ties); the same arguments always give the same frame."""
    rng = np.random.default_rng(seed)
    age = np.clip(np.round(rng.normal(40.0, 9.0, n)), 18, 65)
    female = (rng.random(n) < 0.68).astype(np.int64)
    duration = np.round(np.exp(rng.normal(np.log(8.0), 0.5, n)), 1)
    edss = np.clip(np.round(rng.normal(3.5, 1.3, n) * 2) / 2, 0.0, 7.0)
    rel12 = rng.poisson(0.8, n)
    rel24 = rel12 + rng.poisson(0.5, n)
    prior = rng.poisson(1.5, n)
    gd = np.where(rng.random(n) < 0.45, 1 + rng.poisson(1.0, n), 0)
    spms = rng.random(n) < 0.25
    country = rng.integers(0, len(COUNTRIES), n)

    base = np.log(treated_share / (1 - treated_share))
    lin = (
        base
        - 0.08 * (age - 40)
        + 0.6 * (rel12 - 0.8)
        + 0.3 * (np.minimum(gd, 4) - 0.9)
        - 0.3 * (edss - 3.5)
        + 0.15 * (prior - 1.5)
        - 0.6 * spms
        + np.array([0.0, 0.3, -0.3])[country]
    )
    treat = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(np.int64)

    risk = 0.03 * (age - 40) + 0.3 * (edss - 3.5) + 0.1 * rel12 + 0.5 * spms
    hazard = 0.10 * np.exp(risk) * np.where(treat == 1, true_hr, 1.0)  # per year
    event_y = rng.exponential(1 / hazard)
    censor_y = rng.uniform(1.5, 8.0, n)
    fu_y = np.minimum(event_y, censor_y)
    time = np.maximum(np.ceil(fu_y * 365.25), 1.0)
    event = (event_y <= censor_y).astype(np.int64)

    observed_y = censor_y  # relapses are counted over the whole clinical follow-up
    rate = 0.35 * np.exp(0.25 * rel12 - 0.01 * (age - 40)) * np.where(treat == 1, true_rate_ratio, 1.0)
    frailty = rng.gamma(2.0, 0.5, n)
    relapses = rng.poisson(rate * frailty * observed_y)
    return pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "treat": treat,
            "age": age,
            "female": female,
            "disease_duration_y": duration,
            "edss": edss,
            "relapses_12m": rel12,
            "relapses_24m": rel24,
            "prior_dmt_count": prior,
            "gd_lesions": gd,
            "phenotype": np.where(spms, "SPMS", "RRMS"),
            "country": np.array(COUNTRIES)[country],
            "time": time,
            "event": event,
            "fu_years": np.round(observed_y, 4),
            "relapses": relapses,
        }
    )
