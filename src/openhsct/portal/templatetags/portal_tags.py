"""Template tags every portal page uses: the synthetic-data banner, the not-medical-advice note and
number formatting that keeps suppressed values as their explanation."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

import openhsct

register = template.Library()

SYNTHETIC_TEXT = (
    "SYNTHETIC DATA — these centres and patients are generated for demonstration; they are not real."
)


@register.simple_tag
def not_medical_advice() -> str:
    return openhsct.NOT_MEDICAL_ADVICE


@register.simple_tag(takes_context=True)
def synthetic_banner(context):
    """The banner shown on every page while the published release holds any synthetic centre; signed-in
    staff, who also see the live registry, get it while the registry holds one."""
    from openhsct.portal.published import synthetic

    request = context.get("request")
    staff = request is not None and getattr(getattr(request, "user", None), "is_authenticated", False)
    if not synthetic() and not (staff and _registry_synthetic()):
        return ""
    return format_html('<div class="synthetic-banner" role="note"><strong>{}</strong></div>', SYNTHETIC_TEXT)


def _registry_synthetic() -> bool:
    from openhsct.portal.selectors import registry_has_synthetic

    return registry_has_synthetic()


@register.simple_tag
def release_line():
    """The line on every page naming the published release it shows and its data cut ("data as of")."""
    from django.urls import reverse

    from openhsct.portal.published import current

    release = current()
    if release is None:
        return format_html('<p class="release-line">{}</p>', "No data release has been published yet.")
    published = f", published {release.published_at:%Y-%m-%d}" if release.published_at else ""
    return format_html(
        '<p class="release-line">Data as of {} · data release <a href="{}#r-{}">{}</a>{}.</p>',
        release.cut.isoformat(), reverse("portal:releases"), release.pk, release.pk, published,
    )


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v == v


@register.filter
def pct(value, places: int = 1) -> str:
    """A proportion as a percentage (``0.123`` → ``12.3%``); ``<5`` stays; missing → ``—``."""
    if _is_number(value):
        return f"{100 * value:.{int(places)}f}%"
    return "—" if value in (None, "") else str(value)


@register.filter
def num(value, places: int = 0) -> str:
    """A number with thousands separators; ``<5`` and text stay as they are; missing → ``—``."""
    if _is_number(value):
        return f"{value:,.{int(places)}f}"
    return "—" if value in (None, "") else str(value)


@register.filter
def ci(block, places: int = 1) -> str:
    """``lower–upper`` of an estimate block as percentages."""
    if (
        not isinstance(block, dict)
        or not _is_number(block.get("lower"))
        or not _is_number(block.get("upper"))
    ):
        return "—"
    return f"{pct(block['lower'], places)} to {pct(block['upper'], places)}"


@register.filter
def get(mapping, key):
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def label(value) -> str:
    """A code as words (``edss_band`` → ``edss band``)."""
    return str(value).replace("_", " ")


@register.simple_tag
def sort_link(current: str, key: str) -> str:
    """The ?sort= value for a column header: ascending first, descending when already ascending."""
    return f"-{key}" if current == key else key


@register.simple_tag
def aria_sort(current: str, key: str) -> str:
    if current == key:
        return "ascending"
    if current == f"-{key}":
        return "descending"
    return "none"
