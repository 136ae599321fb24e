"""aHSCT against high-efficacy DMTs: comparative effectiveness from registry data.

Pure functions on DataFrames/arrays (no Django): propensity scores (:mod:`.propensity`), nearest-
neighbour matching as MatchIt (:mod:`.matching`), inverse probability weights (:mod:`.weighting`),
balance (:mod:`.balance`), effects (:mod:`.effects`), the E-value (:mod:`.evalue`), the comparator
cohort from the registry's tables (:mod:`.cohort`) and the whole analysis (:mod:`.analysis`).
Each statistic is checked against R (MatchIt, survival, survey, MASS) in ``tests/comparative``.
"""
