"""The aHSCT-vs-DMT comparison as a release shows it: the page's context
(:func:`openhsct.portal.comparative.comparison_context`, which already hides every count of 1-4 and every
hazard ratio on fewer than 5 patients or events) with the release's differencing rule on top
(``docs/disclosure.md``, rule 2): the matched patients of an arm are a group drawn from that arm, so they are
not shown when the patients left unmatched are 1-4; then nothing that rests on the matched groups is shown
(the matched hazard ratios, the matched relapse-rate ratio, the E-value, the balance and overlap plots), and
no warning of the analysis names a group that the counts do not show.
"""

from __future__ import annotations

import re

from openhsct.releases.disclosure import is_shown, small
from openhsct.releases.values import Count

NOT_SHOWN = "not shown"
UNMATCHED = re.compile(r"^\d+ aHSCT patients found no comparator within the caliper$")


def _arm(n: int, of: int):
    """A matched arm's count as shown: the number, ``"<5"`` for 1-4, ``"not shown"`` when the patients
    left unmatched (``of - n``) are 1-4."""
    from openhsct.portal.privacy import SMALL
    from openhsct.releases.disclosure import count_rule

    if small(n):
        return SMALL
    return n if is_shown(count_rule(Count(n, of=of))) else NOT_SHOWN


def public_context(analysis, *, charts: bool = True) -> dict:
    """The comparison context of ``analysis`` (a :class:`openhsct.comparative.analysis.ComparativeAnalysis`)
    under the release's disclosure rules (module docstring)."""
    from openhsct.portal.comparative import comparison_context

    ctx = comparison_context(analysis, charts=charts)
    m = analysis.match
    treated = _arm(m.n_treated_matched, analysis.n_treated)
    control = _arm(m.n_control_matched, analysis.n_control)
    ctx["n_treated_matched"], ctx["n_control_matched"] = treated, control
    matched_shown = isinstance(treated, int) and isinstance(control, int)
    if not matched_shown:
        ctx["effects"] = [{**e, "matched": None} for e in ctx["effects"]]
        ctx["arr_matched"] = None
        ctx["love_plot"] = ctx["overlap_plot"] = None
        if analysis.settings.method == "match":
            ctx["e_value"] = None
    unmatched = m.n_treated_unmatched
    hide = not matched_shown or small(unmatched)
    ctx["warnings"] = [
        "some aHSCT patients found no comparator within the caliper" if hide and UNMATCHED.match(w) else w
        for w in ctx["warnings"]
    ]
    return ctx


def hidden_countries(counts: dict[str, tuple[int, int]], failed: set[str]) -> set[str]:
    """Countries whose comparison a release leaves out: those whose analysis could not be run
    (``failed``), those with an arm of 1-4 patients (``counts``: country -> (aHSCT, DMT) patients), and,
    while the left-out countries of either arm add up to 1-4 patients (which the registry-wide arm minus
    the countries shown would reveal), the smallest shown country too (complementary suppression, as
    :func:`openhsct.releases.disclosure.table_rule`)."""
    hidden = set(failed) | {c for c, arms in counts.items() if any(small(n) for n in arms)}

    def exposed() -> bool:
        return any(small(sum(counts[c][k] for c in hidden if c in counts)) for k in (0, 1))

    while exposed():
        shown = sorted((sum(counts[c]), c) for c in counts if c not in hidden)
        if not shown:
            break
        hidden.add(shown[0][1])
    return hidden
