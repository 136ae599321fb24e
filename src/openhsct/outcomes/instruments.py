"""Patient-reported outcome instruments: items, answer options, schedule, scoring, licence and source.

Django-free: the patient pages render these definitions, the registry stores the raw answers
(``pro_answers``, one row per item) and the statistics score them here. Only instruments whose terms allow
their use in a free registry are shipped. The PROMIS-29 profile v2.1 is not shipped: its raw-score to
T-score tables (HealthMeasures scoring manual) were not available to check against a published source, and
its terms of use (HealthMeasures, Northwestern University) forbid changing items, so it is left out rather
than approximated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Option:
    """One answer option: the stored code and the words shown to the patient."""

    code: str
    label: str
    description: str = ""


@dataclass(frozen=True)
class Item:
    """One question. ``options`` empty means free text of at most ``max_length`` characters."""

    item_id: str
    text: str
    options: tuple[Option, ...] = ()
    max_length: int = 2000

    def codes(self) -> tuple[str, ...]:
        """The allowed answer codes (empty for free text)."""
        return tuple(o.code for o in self.options)


@dataclass(frozen=True)
class Instrument:
    """A questionnaire: its items, how often it is due, how it is scored and under which terms."""

    code: str
    name: str
    items: tuple[Item, ...]
    schedule_months: int
    licence: str
    source: str
    score: Callable[[Mapping[str, str]], float | None] = field(repr=False, default=lambda answers: None)
    score_label: str = ""


# ---------------------------------------------------------------------------------------------- PDDS

PDDS_SOURCE = (
    "Hohol MJ, Orav EJ, Weiner HL. Disease steps in multiple sclerosis: a simple approach to evaluate "
    "disease progression. Neurology 1995;45(2):251-5, doi:10.1212/WNL.45.2.251; the 0-8 patient-reported "
    "version used by NARCOMS: Learmonth YC, Motl RW, Sandroff BM, Pula JH, Cadavid D. Validation of Patient "
    "Determined Disease Steps (PDDS) scale scores in persons with multiple sclerosis. BMC Neurol 2013;13:37, "
    "doi:10.1186/1471-2377-13-37"
)
PDDS_LICENCE = (
    "Copyright NARCOMS (North American Research Committee on Multiple Sclerosis); free of charge for "
    "clinical care and non-commercial research. Step names as published; descriptions paraphrased here."
)
PDDS_OPTIONS = (
    Option("0", "Normal", "I may have some mild symptoms, but they do not limit my activities."),
    Option("1", "Mild disability", "I have some noticeable symptoms; they limit my activities a little."),
    Option("2", "Moderate disability", "I have no problem walking, but MS limits my daily activities."),
    Option("3", "Gait disability", "MS affects my walking, but I walk without help."),
    Option("4", "Early cane", "I use a cane or one crutch for longer distances."),
    Option("5", "Late cane", "I need a cane or one crutch to walk 25 feet (about 8 metres)."),
    Option("6", "Bilateral support", "I need two canes, crutches or a walker to walk 25 feet."),
    Option("7", "Wheelchair / scooter", "I mainly use a wheelchair or scooter."),
    Option("8", "Bedridden", "I am unable to sit in a wheelchair for more than an hour."),
)


def score_pdds(answers: Mapping[str, str]) -> float | None:
    """The PDDS score: the chosen step, 0 (normal) to 8 (bedridden).

    The scale is a single item, so there is nothing to impute: an unanswered item (absent or empty)
    gives no score, as does a code outside 0-8 (Hohol et al. 1995; Learmonth et al. 2013).
    """
    value = str(answers.get("pdds", "")).strip()
    if value not in {o.code for o in PDDS_OPTIONS}:
        return None
    return float(value)


PDDS = Instrument(
    code="pdds",
    name="Patient Determined Disease Steps (PDDS)",
    items=(Item("pdds", "Which of these describes you best at the moment?", PDDS_OPTIONS),),
    schedule_months=6,
    licence=PDDS_LICENCE,
    source=PDDS_SOURCE,
    score=score_pdds,
    score_label="PDDS step (0 normal - 8 bedridden)",
)

# ------------------------------------------------------------------------------------------ employment

EMPLOYMENT_OPTIONS = (
    Option("full_time", "Working full time"),
    Option("part_time", "Working part time"),
    Option("sick_leave", "On sick leave"),
    Option("not_working_ms", "Not working because of MS"),
    Option("unemployed", "Looking for work"),
    Option("student", "Studying"),
    Option("homemaker", "Looking after home or family"),
    Option("retired", "Retired"),
    Option("other", "Other"),
)

EMPLOYMENT = Instrument(
    code="employment",
    name="Employment status",
    items=(Item("employment_status", "What best describes your work at the moment?", EMPLOYMENT_OPTIONS),),
    schedule_months=6,
    licence="OpenHSCT's own question (AGPL-3.0-or-later, like the rest of the registry).",
    source="OpenHSCT's categories, not a validated instrument; reported as counts per category.",
)

COMMENT = Instrument(
    code="comment",
    name="Anything else",
    items=(Item("text", "Is there anything else you would like your clinic to know? (optional)", (), 2000),),
    schedule_months=6,
    licence="OpenHSCT's own question (AGPL-3.0-or-later).",
    source="Free text; not scored.",
)

INSTRUMENTS: dict[str, Instrument] = {i.code: i for i in (PDDS, EMPLOYMENT, COMMENT)}


def instrument(code: str) -> Instrument:
    """The instrument with this code; ``KeyError`` names the known codes."""
    try:
        return INSTRUMENTS[code]
    except KeyError:
        raise KeyError(f"unknown instrument {code!r} (known: {', '.join(INSTRUMENTS)})") from None


def check_answer(instrument_code: str, item_id: str, answer: str) -> str | None:
    """Why an answer is not acceptable for the item, or None when it is."""
    inst = INSTRUMENTS.get(instrument_code)
    if inst is None:
        return f"unknown instrument (known: {', '.join(INSTRUMENTS)})"
    item = next((i for i in inst.items if i.item_id == item_id), None)
    if item is None:
        return f"unknown item of {instrument_code} (items: {', '.join(i.item_id for i in inst.items)})"
    if item.options and answer not in item.codes():
        return f"answer must be one of {', '.join(item.codes())}"
    if len(answer) > item.max_length:
        return f"answer longer than {item.max_length} characters"
    return None


def instruments_markdown() -> str:
    """The instruments as a Markdown section of the data dictionary: items, answer codes, licence, source."""
    lines = ["## Patient-reported outcome instruments (`pro_answers`)", "",
             "Each row of `pro_answers` is one item's answer; `instrument` and `item` name it below.", ""]
    for inst in INSTRUMENTS.values():
        lines += [f"### `{inst.code}` — {inst.name}", "",
                  f"Due every {inst.schedule_months} months. Licence: {inst.licence}", "",
                  f"Source: {inst.source}", ""]
        for item in inst.items:
            codes = ", ".join(f"`{o.code}` {o.label}" for o in item.options) or f"free text (≤ {item.max_length})"
            lines.append(f"- item `{item.item_id}`: {codes}")
        lines.append("")
    return "\n".join(lines)
