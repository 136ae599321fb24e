"""Template tags every portal page uses: the synthetic-data banner, the not-medical-advice note and
number formatting that keeps suppressed values as their explanation."""

from __future__ import annotations

import re
from functools import lru_cache

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


def _shown(block) -> bool:
    """True for an estimate block with a number (not suppressed, not missing)."""
    return isinstance(block, dict) and not block.get("suppressed") and _is_number(block.get("estimate"))


def _per(value: float, scale: int) -> str:
    """``value`` (a proportion) as a whole number of ``scale`` people, with thousands separators."""
    return f"{round(value * scale):,}"


@register.filter
def out_of(block, scale: int = 100) -> str:
    """An estimate as people out of ``scale`` (``0.78`` → ``78 out of 100``); a suppressed one as
    ``not shown (reason)``; missing → ``—``."""
    if isinstance(block, dict) and block.get("suppressed"):
        return f"not shown ({block.get('reason', 'too few patients')})"
    if not _shown(block):
        return "—"
    return f"{_per(block['estimate'], int(scale))} out of {int(scale):,}"


@register.filter
def range_of(block, scale: int = 100) -> str:
    """The 95 % range of an estimate in people out of ``scale`` (``73 to 85``); ``—`` without one."""
    if not _shown(block) or not _is_number(block.get("lower")) or not _is_number(block.get("upper")):
        return "—"
    return f"{_per(block['lower'], int(scale))} to {_per(block['upper'], int(scale))}"


@register.filter
def pvalue(p) -> str:
    """A p-value for readers: ``< 0.001`` below one in a thousand, else three decimals; ``—`` when
    missing."""
    if not _is_number(p):
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


#: Words for the codes that reach centre pages (strata, causes, categories, endpoints).
PLAIN_LABELS = {
    "phenotype": "Kind of MS",
    "edss_band": "Disability level (EDSS) at transplant",
    "intensity": "Intensity of the treatment (conditioning)",
    "era": "Period of treatment",
    "course": "Course of MS",
    "RRMS": "relapsing-remitting MS",
    "SPMS": "secondary progressive MS",
    "PPMS": "primary progressive MS",
    "relapsing": "relapsing MS",
    "progressive": "progressive MS",
    "transplant_toxicity": "toxicity of the transplant",
    "secondary_autoimmunity": "a second autoimmune disease",
    "infection": "infection",
    "ms_progression": "progression of MS",
    "hospital_stay": "hospital stay",
    "follow_up": "follow-up",
    "cryopreservation": "freezing the stem cells (cryopreservation)",
    "apheresis": "collecting the stem cells (apheresis)",
    "mobilisation": "mobilisation (preparing the stem cells)",
    "conditioning": "conditioning (the chemotherapy)",
    "unknown": "not recorded",
    "other": "other",
}

#: Abbreviations and what they stand for (shown with ``<abbr>`` on first use).
ABBREVIATIONS = {
    "PFS": "progression-free survival",
    "RFS": "relapse-free survival",
    "NEDA-3": "no evidence of disease activity (no relapse, no disability worsening, no new MRI activity)",
    "TRM": "transplant-related mortality",
    "EDSS": "Expanded Disability Status Scale",
    "CI": "confidence interval",
    "CTCAE": "Common Terminology Criteria for Adverse Events",
    "aHSCT": "autologous haematopoietic stem cell transplantation",
}


@register.filter
def abbr(code: str):
    """``<abbr title="…">CODE</abbr>`` for a known abbreviation; other text unchanged."""
    title = ABBREVIATIONS.get(str(code))
    return format_html('<abbr title="{}">{}</abbr>', title, code) if title else str(code)


@register.filter
def get(mapping, key):
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def label(value) -> str:
    """A code as words: a known code by :data:`PLAIN_LABELS` (``edss_band`` → ``Disability level (EDSS)
    at transplant``), any other with its underscores as spaces."""
    text = str(value)
    return PLAIN_LABELS.get(text) or _choice_labels().get(text) or text.replace("_", " ")


@lru_cache(maxsize=1)
def _choice_labels() -> dict[str, str]:
    """Every coded value of the registry's models with its readable label (lower case), e.g.
    ``cardiac_toxicity`` → ``cardiac toxicity``; codes with no underscore are left to the caller."""
    from django.apps import apps

    out: dict[str, str] = {}
    for model in apps.get_app_config("registry").get_models():
        for f in model._meta.get_fields():
            for value, text in getattr(f, "choices", None) or ():
                if isinstance(value, str) and "_" in value:
                    out.setdefault(value, str(text)[:1].lower() + str(text)[1:])
    return out


_CODE_IN_BRACKETS = re.compile(r"\(([a-z0-9_]+)\)")


@register.filter
def plain_event(text) -> str:
    """An event description with the code in brackets as words (``death (transplant_toxicity)`` →
    ``death (toxicity of the transplant)``)."""
    return _CODE_IN_BRACKETS.sub(lambda m: f"({label(m.group(1))})", str(text))


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


@register.filter
def patient_key(patient_code: str, centre_code: str) -> str:
    """``{{ code|patient_key:centre_code }}``: the opaque key that stands for a patient in clinic addresses
    (:mod:`openhsct.security.keys`). Returns 20 hex digits."""
    from openhsct.security.keys import patient_key as key

    return key(str(centre_code), str(patient_code))
