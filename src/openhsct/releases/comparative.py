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
