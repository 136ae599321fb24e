"""The words and abbreviations of the public pages, explained once (``/glossary/``) and on first use on
every page (``{% abbr "EDSS" %}`` of :mod:`openhsct.portal.templatetags.glossary_tags`), and readable
names for the codes the release data carries (``secondary_autoimmunity`` → "secondary autoimmune
disease")."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """One glossary entry: the abbreviation or word as written on the pages, what it stands for, and a
    plain explanation."""

    term: str
    stands_for: str
    explanation: str

    @property
    def anchor(self) -> str:
        """The entry's id on the glossary page (``EDSS`` → ``edss``)."""
        return re.sub(r"[^a-z0-9]+", "-", self.term.lower()).strip("-")


TERMS: tuple[Term, ...] = (
    Term("aHSCT", "autologous haematopoietic stem cell transplantation",
         "A treatment in which a person's own blood stem cells are collected, the immune system is "
         "suppressed with chemotherapy (conditioning), and the stem cells are returned to rebuild it."),
    Term("ATG", "anti-thymocyte globulin",
         "Antibodies given with the chemotherapy to remove immune cells (T cells)."),
    Term("BEAM", "carmustine, etoposide, cytarabine and melphalan",
         "A stronger (higher-intensity) chemotherapy combination used before some transplants."),
    Term("CI", "confidence interval",
         "The range in which the true value probably lies, given the number of people it rests on. "
         "These pages show 95% confidence intervals: wide ranges mean few people or few events."),
    Term("CIBMTR", "Center for International Blood and Marrow Transplant Research",
         "A research collaboration that publishes transplant centre outcomes in the United States."),
    Term("DMT", "disease-modifying therapy",
         "A medicine taken over a long time to reduce MS activity, such as natalizumab or ocrelizumab."),
    Term("EBMT", "European Society for Blood and Marrow Transplantation",
         "The European transplant society and registry; its guidelines cover aHSCT for MS."),
    Term("EDSS", "Expanded Disability Status Scale",
         "The usual scale of disability in MS, from 0 (normal examination) to 10 (death from MS) in "
         "half-point steps; 6 means needing a walking aid."),
    Term("GLMM", "generalised linear mixed model",
         "The statistical model used to pool the published studies: it treats each study's count of "
         "events as binomial and lets the true risk differ between studies."),
    Term("HR", "hazard ratio",
         "How much faster an event happens in one group than in another; below 1 favours the first "
         "group."),
    Term("IQR", "interquartile range",
         "The middle half of the values: a quarter of people had less than its lower end and a quarter "
         "more than its upper end."),
    Term("k", "number of studies", "How many published studies a pooled estimate rests on."),
    Term("MIST", "Multiple Sclerosis International Stem Cell Transplant trial",
         "The randomised trial of aHSCT against the best available drugs (Burt et al., JAMA 2019; "
         "doi:10.1001/jama.2018.18743)."),
    Term("MS", "multiple sclerosis", "A disease in which the immune system damages the brain and spinal cord."),
    Term("NEDA", "no evidence of disease activity",
         "No relapse, no worsening of disability and no new or active lesions on MRI scans (NEDA-3)."),
    Term("O/E", "observed / expected",
         "The deaths seen at a centre divided by the number expected from its patients' age, disability "
         "(EDSS) and type of MS."),
    Term("PFS", "progression-free survival",
         "The share of people alive whose disability has not worsened (confirmed on the EDSS)."),
    Term("PI", "prediction interval",
         "The range in which the result of a new centre or study is expected to fall; wider than the "
         "confidence interval because centres differ."),
    Term("PIRA", "progression independent of relapse activity",
         "Disability that worsens slowly without relapses."),
    Term("PPMS", "primary progressive MS", "MS that worsens steadily from the start, without relapses."),
    Term("RFS", "relapse-free survival", "The share of people alive who have had no relapse."),
    Term("RRMS", "relapsing-remitting MS",
         "MS with relapses (attacks) followed by partial or full recovery."),
    Term("SE", "standard error",
         "A measure of how uncertain an estimate is; these pages show ranges (95% confidence "
         "intervals) instead."),
    Term("SPMS", "secondary progressive MS", "MS that started with relapses and now worsens steadily."),
    Term("SRTR", "Scientific Registry of Transplant Recipients",
         "The United States registry of organ transplants; its way of shrinking observed / expected "
         "ratios toward 1 is used here."),
    Term("TRM", "transplant-related mortality",
         "Deaths caused by the transplant. These pages count deaths from any cause in the first 100 "
         "days, which include them."),
)

BY_TERM = {t.term: t for t in TERMS}

#: Readable names for the codes that release data and evidence filters carry.
READABLE = {
    "trm": "deaths by day 100",
    "pfs_2y": "progression-free survival at 2 years",
    "pfs_5y": "progression-free survival at 5 years",
    "neda_2y": "no evidence of disease activity at 2 years",
    "neda_5y": "no evidence of disease activity at 5 years",
    "rfs_5y": "relapse-free survival at 5 years",
    "phenotype": "type of MS",
    "intensity": "conditioning intensity",
    "era": "publication period",
    "edss_band": "disability (EDSS) band",
    "secondary_autoimmunity": "secondary autoimmune disease",
    "transplant_toxicity": "organ damage from the transplant",
    "follow_up": "follow-up",
    "hospital_stay": "hospital stay",
    "within the limits": "within the 95% limits",
}


def readable(code: object) -> str:
    """A code as words: the name in :data:`READABLE`, else the code with underscores as spaces."""
    text = str(code)
    return READABLE.get(text, text.replace("_", " "))


#: Elements whose text is never wrapped: already explained, not prose, or where markup is not allowed.
_SKIP = frozenset({"abbr", "script", "style", "code", "pre", "svg", "option", "select", "textarea", "title"})
_TAG = re.compile(r"(<[^>]*>)")
_TAG_NAME = re.compile(r"<\s*(/?)\s*([a-zA-Z][a-zA-Z0-9]*)[^>]*?(/?)>")
_CHECKED = tuple(t for t in TERMS if len(t.term) > 1)


def _pattern(term: str) -> re.Pattern:
    return re.compile(rf"(?<![\w-]){re.escape(term)}(?!\w)")


_PATTERNS = {t.term: _pattern(t.term) for t in _CHECKED}


def explain_first_uses(html: str) -> str:
    """``html`` with the first use of each glossary abbreviation wrapped in ``<abbr title="…">`` — unless
    that first use already is inside an ``<abbr>``. Text inside scripts, code, charts (SVG), form options
    and titles is left as it is and does not count as a use."""
    from django.utils.html import escape

    done: set[str] = set()
    skipping: list[str] = []
    out = []
    for part in _TAG.split(html):
        if part.startswith("<"):
            m = _TAG_NAME.match(part)
            if m:
                closing, name, selfclosing = m.group(1), m.group(2).lower(), m.group(3)
                if name in _SKIP and not selfclosing:
                    if closing and name in skipping:
                        del skipping[len(skipping) - 1 - skipping[::-1].index(name)]
                    elif not closing:
                        skipping.append(name)
            out.append(part)
            continue
        if not part:
            continue
        spans = []
        for term, pattern in _PATTERNS.items():
            if term in done:
                continue
            found = pattern.search(part)
            if found:
                done.add(term)
                if not skipping:
                    spans.append((found.start(), found.end(), BY_TERM[term]))
                elif "abbr" not in skipping:
                    done.discard(term)  # a use inside a chart or an option does not count
        pos = 0
        for start, end, entry in sorted(spans, key=lambda s: s[0]):
            if start < pos:
                continue
            out.append(part[pos:start])
            out.append(f'<abbr title="{escape(entry.stands_for)}">{part[start:end]}</abbr>')
            pos = end
        out.append(part[pos:])
    return "".join(out)
