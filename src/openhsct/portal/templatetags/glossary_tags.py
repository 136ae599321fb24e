"""Template tags for plain language on the public pages: abbreviations explained in place
(``{% abbr "EDSS" %}``), codes as words (``|readable``) and p-values as a reader expects them
(``|pvalue``)."""

from __future__ import annotations

import math

from django import template
from django.utils.html import format_html

from openhsct.portal import glossary

register = template.Library()


@register.simple_tag
def abbr(term: str):
    """``<abbr title="stands for">term</abbr>`` for a glossary term; the term alone when it is not in
    the glossary."""
    entry = glossary.BY_TERM.get(term)
    if entry is None:
        return term
    return format_html('<abbr title="{}">{}</abbr>', entry.stands_for, entry.term)


@register.filter
def readable(code) -> str:
    """A code as words (:func:`openhsct.portal.glossary.readable`)."""
    return glossary.readable(code)


@register.filter
def pvalue(p, places: int = 3) -> str:
    """A p-value as read, with its ``p``: ``p < 0.001`` below one in a thousand, else ``p = 0.014`` (to
    ``places`` decimals); ``p not available`` when missing."""
    if not isinstance(p, int | float) or isinstance(p, bool) or math.isnan(p):
        return "p not available"
    floor = 10 ** -int(places)
    if p < floor:
        return f"p < {floor:.{int(places)}f}"
    return f"p = {p:.{int(places)}f}"


@register.filter
def study(key) -> str:
    """A study of the evidence table by its key, as ``Author Year (country, n = N)``
    (:func:`openhsct.evidence.display.study_label`); a list of keys becomes a comma-separated list."""
    from openhsct.evidence.display import label_of

    if isinstance(key, list | tuple):
        return ", ".join(label_of(str(k)) for k in key)
    return label_of(str(key))


@register.filter
def evidence_text(text) -> str:
    """Free text of the evidence tables with study keys as study labels
    (:func:`openhsct.evidence.display.readable_text`)."""
    from openhsct.evidence.display import readable_text

    return readable_text(text)


class _ExplainNode(template.Node):
    def __init__(self, nodelist):
        self.nodelist = nodelist

    def render(self, context) -> str:
        from django.utils.safestring import mark_safe

        html = self.nodelist.render(context)
        if not _public(context.get("request")):
            return html
        return mark_safe(glossary.explain_first_uses(html))  # noqa: S308 - a rendered template


def _public(request) -> bool:
    """Whether ``request`` is for a public page (not the clinicians' or a patient's signed-in area), where
    abbreviations are explained on first use; True without a request (a page rendered for a file)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return request is None or not str(getattr(request, "path", "")).startswith(("/clinic/", "/patient/"))
    return not {"clinic", "patient"} & set(match.namespaces)


@register.tag
def explain(parser, token):
    """``{% explain %}…{% endexplain %}``: on a public page, the enclosed HTML with every glossary
    abbreviation wrapped in ``<abbr title>`` on its first use
    (:func:`openhsct.portal.glossary.explain_first_uses`); the clinicians' area is left as written."""
    nodelist = parser.parse(("endexplain",))
    parser.delete_first_token()
    return _ExplainNode(nodelist)
