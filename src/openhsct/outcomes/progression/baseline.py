"""Where the baseline may sit: out of relapse influence, and (optionally) not at a local extremum.

Source: pymsprog 1.0.7 ``MSprog``. Definitions quoted from its docstring:

``baseline``: "Specifies the baseline scheme. Must be one of the following.
- 'fixed': first valid outcome value, default;
- 'roving_impr': updated after every CDI (to the visit determined by ``proceed_from``); suitable for a
  first-CDW setting to discard fluctuations around baseline -- not recommended for randomised data;
- 'roving_wors': updated after every CDW (to the visit determined by ``proceed_from``); suitable when searching
  for a specific type of CDW (i.e., when ``event`` is set to 'firstPIRA' or 'firstRAW');
- 'roving': updated after each CDI or CDW event to the visit determined by ``proceed_from``; suitable for a
  multiple-event setting (i.e., when ``event`` is set to 'multiple') or when searching for a specific type of
  CDW (i.e., when ``event`` is set to 'firstPIRA' or 'firstRAW') -- not recommended for randomised data."

``proceed_from``: "After detecting a confirmed disability event, continue searching: from the next visit after
the first qualifying confirmation visit if ``proceed_from='firstconf'``; from the next visit after the event if
``proceed_from='event'``. If ``baseline`` is set to 'roving', 'roving_impr', or 'roving_wors', when
rebaselining after a confirmed disability event, the baseline is moved to: the first qualifying confirmation
visit if ``proceed_from='firstconf'``; the event visit if ``proceed_from='event'``."

``skip_local_extrema``: "A visit ``i`` is a local minimum point for ``outcome`` if ``outcome[i+1]>outcome[i]``
and ``outcome[i-1]>outcome[i]``; local maxima are defined similarly. A visit ``i`` is a *strict* local minimum
point for ``outcome`` if: ``outcome[i+1]-outcome[i]>=delta_fun(outcome[i])``;
``outcome[i-1]-outcome[i]>=delta_fun(outcome[i])``. Strict local maxima are defined similarly. When
``outcome[i]=outcome[i-2]``, visit ``i`` is *not* considered a local extremum point even if the above conditions
hold. [...] 'none': local extrema are always accepted as valid baseline values; 'strict': the baseline cannot be
placed at a *strict* local minimum or maximum; 'all': the baseline cannot be placed at a local minimum or
maximum."

``bl_geq``: "This argument is only used if the baseline is moved. If True, the new reference value must always be
greater or equal than the previous one; when it is not, the old reference value is assigned to it [Kappos JAMA
Neurol 2020]." (pymsprog 1.0.7 applies it only together with ``relapse_rebl``.)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from openhsct.outcomes.progression.thresholds import IMPR, WORS, is_event

FIXED, ROVING, ROVING_IMPR, ROVING_WORS = 0, 1, 2, 3
BASELINES = {"fixed": FIXED, "roving": ROVING, "roving_impr": ROVING_IMPR, "roving_wors": ROVING_WORS}
EXTREMA_NONE, EXTREMA_STRICT, EXTREMA_ALL = 0, 1, 2
SKIP_LOCAL_EXTREMA = {"none": EXTREMA_NONE, "strict": EXTREMA_STRICT, "all": EXTREMA_ALL}


@njit(cache=True)
def moves_after_cdi(baseline: int) -> bool:
    """Roving after improvements: 'roving' and 'roving_impr'."""
    return baseline in (ROVING, ROVING_IMPR)


@njit(cache=True)
def moves_after_cdw(baseline: int) -> bool:
    """Roving after worsenings: 'roving' and 'roving_wors'."""
    return baseline in (ROVING, ROVING_WORS)


@njit(cache=True)
def is_local_extremum(i: int, values: np.ndarray, delta: np.ndarray, skip: int, sign: int) -> bool:
    """Whether visit ``i`` is a (strict) local extremum that ``skip_local_extrema`` forbids as a reference.

    The first and last visits compare with themselves on the missing side (as pymsprog does), so they are
    never extrema; ``values[i] == values[i - 2]`` (undulating course) is never an extremum.
    """
    if skip == EXTREMA_NONE:
        return False
    n = values.shape[0]
    prec = i if i == 0 else i - 1
    prec2 = -1.0 if i <= 1 else values[i - 2]
    subs = i if i == n - 1 else i + 1
    sub_threshold = skip == EXTREMA_ALL
    v, d = values[i], delta[i]
    peak = is_event(values[prec], v, d, WORS, sub_threshold, sign) and is_event(
        values[subs], v, d, WORS, sub_threshold, sign
    )
    dip = is_event(values[prec], v, d, IMPR, sub_threshold, sign) and is_event(
        values[subs], v, d, IMPR, sub_threshold, sign
    )
    return (peak or dip) and v != prec2


@njit(cache=True)
def valid_baseline(
    bl_idx: int,
    since_last: np.ndarray,
    to_next: np.ndarray,
    relapse_to_bl0: float,
    relapse_to_bl1: float,
    values: np.ndarray,
    delta: np.ndarray,
    skip: int,
    sign: int,
) -> tuple[int, bool]:
    """Move the baseline forward while it is within ``relapse_to_bl`` of a relapse or a forbidden extremum.

    Returns the new index and whether the search may go on (False once fewer than two visits are left:
    pymsprog stops when the baseline passes the second-to-last visit).
    """
    n = values.shape[0]
    proceed = True
    extremum = is_local_extremum(bl_idx, values, delta, skip, sign)
    while proceed and (since_last[bl_idx] < relapse_to_bl0 or to_next[bl_idx] < relapse_to_bl1 or extremum):
        bl_idx += 1
        extremum = bl_idx < n and is_local_extremum(bl_idx, values, delta, skip, sign)
        if bl_idx > n - 2:
            proceed = False
    return bl_idx, proceed
