"""The exchange format: one table per model, columns named after the model's fields.

This module derives, from the Django models alone, each table's columns, key, column types, allowed
codes and ranges. The importer validates against it, the exporter writes it and
``openhsct dictionary`` renders it as ``docs/data-dictionary.md``; none of them keeps its own list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache

from django.core import validators as dj_validators
from django.db import models as dj

from openhsct.registry import models as m
from openhsct.registry.dictionary_sources import SOURCES, ebmt_markdown

# Tables in the order they must be written (a table's references come before it).
TABLE_MODELS: dict[str, type[dj.Model]] = {
    "centres": m.Centre,
    "patients": m.Patient,
    "eligibility": m.EligibilityAssessment,
    "mobilisations": m.Mobilisation,
    "apheresis": m.ApheresisCollection,
    "cell_products": m.CellProduct,
    "custody_events": m.CustodyEvent,
    "conditioning": m.Conditioning,
    "conditioning_drugs": m.ConditioningDrug,
    "transplants": m.Transplant,
    "adverse_events": m.AdverseEvent,
    "deaths": m.Death,
    "edss_visits": m.EdssVisit,
    "relapses": m.Relapse,
    "mri_scans": m.MriScan,
    "dmt_exposures": m.DmtExposure,
    "costs": m.Cost,
    "pro_answers": m.ProAnswer,
    "viral_loads": m.ViralLoad,
    "igg_levels": m.IggLevel,
    "late_effects": m.LateEffect,
    "reproductive_health": m.ReproductiveHealth,
    "second_transplants": m.SecondTransplant,
}

# Bookkeeping fields that are not data and never travel in a bundle.
NOT_EXCHANGED = frozenset({"row_version"})

# Foreign keys to a patient's own records travel as that record's natural identifier.
# field name -> (exchange column, the parent table, the parent's natural-key field)
NATURAL_REFS: dict[str, tuple[str, str, str]] = {
    "mobilisation": ("mobilisation_id", "mobilisations", "mobilisation_id"),
    "collection": ("collection_id", "apheresis", "collection_id"),
    "product": ("bag_id", "cell_products", "bag_id"),
}


@dataclass(frozen=True)
class Column:
    """One exchange column: its name, type, unit/description, codes and limits."""

    name: str
    kind: str  # text | code | integer | decimal | date | datetime | reference
    required: bool
    description: str = ""
    choices: tuple[str, ...] = ()
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    min_exclusive: bool = False
    decimal_places: int | None = None
    max_length: int | None = None
    step: Decimal | None = None
    field_name: str | None = None  # the model field it maps to (None for centre/patient codes)


@dataclass(frozen=True)
class Table:
    """One exchange table: file stem, model, ordered columns and the key that identifies a row."""

    name: str
    model: type[dj.Model]
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    parents: dict[str, str] = field(default_factory=dict)  # column -> parent table (natural references)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _kind(f: dj.Field) -> str:
    if isinstance(f, dj.DateTimeField):
        return "datetime"
    if isinstance(f, dj.DateField):
        return "date"
    if isinstance(f, dj.DecimalField):
        return "decimal"
    if isinstance(f, dj.IntegerField):
        return "integer"
    if f.choices:
        return "code"
    return "text"


def _limits(f: dj.Field) -> dict:
    out: dict = {}
    # the field's own validators only: Django adds backend-dependent integer ranges to ``validators``
    for v in f._validators:
        if isinstance(v, dj_validators.MinValueValidator):
            out["min_value"] = Decimal(str(v.limit_value))
        elif isinstance(v, dj_validators.MaxValueValidator):
            out["max_value"] = Decimal(str(v.limit_value))
        elif getattr(v, "__name__", "") == "validate_edss_step":
            out["step"] = Decimal("0.5")
            out["max_value"] = m.EDSS_MAX  # a visit's EDSS is 0–9.5 (10 is death: deaths)
    if isinstance(f, dj.PositiveIntegerField | dj.PositiveSmallIntegerField) and "min_value" not in out:
        out["min_value"] = Decimal(0)
    if isinstance(f, dj.PositiveSmallIntegerField | dj.SmallIntegerField) and "max_value" not in out:
        out["max_value"] = Decimal(32767)  # what a small integer holds on every supported database
    return out


_POSITIVE = {"cd34_1e6_per_kg", "cd34_infused_1e6_per_kg"}  # CHECK (... > 0) in the models


def _column_for_field(f: dj.Field) -> Column:
    kind = _kind(f)
    required = not (f.null or f.blank)
    limits = _limits(f)
    if f.name in _POSITIVE:
        limits.update(min_value=Decimal(0), min_exclusive=True)
    return Column(
        name=f.name,
        kind=kind,
        required=required,
        description=str(f.help_text or f.verbose_name),
        choices=tuple(str(c[0]) for c in f.choices) if f.choices else (),
        decimal_places=getattr(f, "decimal_places", None),
        max_length=f.max_length if kind in {"text", "code"} else None,
        field_name=f.name,
        **limits,
    )


_KEYS: dict[str, tuple[str, ...]] = {
    "centres": ("centre_code",),
    "patients": ("centre_code", "patient_code"),
    "eligibility": ("centre_code", "patient_code", "assessment_date"),
    "mobilisations": ("centre_code", "patient_code", "mobilisation_id"),
    "apheresis": ("centre_code", "patient_code", "collection_id"),
    "cell_products": ("centre_code", "patient_code", "bag_id"),
    "custody_events": ("centre_code", "patient_code", "bag_id", "seq"),
    "conditioning": ("centre_code", "patient_code"),
    "conditioning_drugs": ("centre_code", "patient_code", "drug"),
    "transplants": ("centre_code", "patient_code"),
    "adverse_events": ("centre_code", "patient_code", "ae_id"),
    "deaths": ("centre_code", "patient_code"),
    "edss_visits": ("centre_code", "patient_code", "visit_date"),
    "relapses": ("centre_code", "patient_code", "onset_date"),
    "mri_scans": ("centre_code", "patient_code", "scan_date"),
    "dmt_exposures": ("centre_code", "patient_code", "drug", "start_date"),
    "costs": ("centre_code", "patient_code", "cost_date", "category"),
    "pro_answers": ("centre_code", "patient_code", "response_date", "instrument", "item", "source"),
    "viral_loads": ("centre_code", "patient_code", "sample_date", "virus"),
    "igg_levels": ("centre_code", "patient_code", "sample_date"),
    "late_effects": ("centre_code", "patient_code", "effect_id"),
    "reproductive_health": ("centre_code", "patient_code", "record_date"),
    "second_transplants": ("centre_code", "patient_code", "transplant_date"),
}

CENTRE_CODE = Column("centre_code", "reference", True, "Centre code (centres.centre_code)", max_length=32)
PATIENT_CODE = Column("patient_code", "reference", True, "Pseudonymous patient code (patients.patient_code)",
                      max_length=32)


def _build(name: str, model: type[dj.Model]) -> Table:
    cols: list[Column] = []
    parents: dict[str, str] = {}
    for f in model._meta.concrete_fields:
        if f.primary_key or f.name in NOT_EXCHANGED:
            continue
        if f.name == "centre":
            cols.append(CENTRE_CODE)
        elif f.name == "patient":
            cols += [CENTRE_CODE, PATIENT_CODE]
        elif f.name in NATURAL_REFS:
            col, parent, _ = NATURAL_REFS[f.name]
            parents[col] = parent
            cols.append(Column(col, "reference", True, f"{parent}.{col} of the same patient", max_length=40,
                               field_name=f.name))
        else:
            cols.append(_column_for_field(f))
    if name == "patients":  # centre first, then the patient's own code
        cols.sort(key=lambda c: {"centre_code": 0, "patient_code": 1}.get(c.name, 2))
    return Table(name=name, model=model, columns=tuple(cols), key=_KEYS[name], parents=parents)


@cache
def tables() -> dict[str, Table]:
    """All exchange tables, in writing order, derived from the models."""
    return {name: _build(name, model) for name, model in TABLE_MODELS.items()}


def data_dictionary_markdown() -> str:
    """Render the data dictionary (one section per table) as Markdown for ``docs/data-dictionary.md``."""
    lines = [
        "# Data dictionary",
        "",
        "Generated from the Django models by `openhsct dictionary`; do not edit by hand.",
        "A bundle is a folder with one `<table>.csv` (or `.parquet`) per table below. Dates are ISO",
        "`YYYY-MM-DD`, datetimes ISO 8601 with offset, decimals use a dot. An empty cell means *missing*;",
        "coded values such as `unknown` or an `*_assessed` of `no` mean *known not to be known / not done*.",
        "Row numbers in import errors are line numbers in the file (the header is line 1). The import, the",
        "clinic forms and the admin check every row with the same rules (see *Validation* in",
        "`docs/exchange-format.md`): nothing in the future, before the birth year or after death.",
        "",
    ]
    for t in tables().values():
        doc = (t.model.__doc__ or "").strip().splitlines()[0] if t.model.__doc__ else ""
        lines += [f"## `{t.name}`", ""]
        if doc and not doc.startswith(t.model.__name__ + "("):
            lines += [doc, ""]
        lines += [f"Key: {', '.join(f'`{k}`' for k in t.key)}", ""]
        lines += ["| column | type | required | allowed values / range | description | source |",
                  "|---|---|---|---|---|---|"]
        for c in t.columns:
            lines.append(
                f"| `{c.name}` | {c.kind} | {'yes' if c.required else 'no'} | {describe_rule(c)} | "
                f"{c.description.replace('|', '/')} | {SOURCES.get((t.name, c.name), '')} |"
            )
        lines.append("")
        rules = _row_rules_text(t)
        if rules:
            lines += ["Rules between columns (database CHECK constraints):", "", *rules, ""]
    return "\n".join(lines) + "\n" + ebmt_markdown()


def _row_rules_text(t: Table) -> list[str]:
    """The table's rules between columns of one row, as Markdown list items."""
    from openhsct.registry.item_rules import DATE_ORDERS

    out = [f"- `{r.field}` {r.message(True)}" for r in m.ROW_RULES.get(t.model.__name__, []) if r.empty_when]
    out += [f"- `{r.field}` {r.message(False)}" for r in m.ROW_RULES.get(t.model.__name__, []) if r.filled_when]
    out += [f"- {o.message}" for o in DATE_ORDERS if o.table == t.name]
    return out


def describe_rule(c: Column) -> str:
    """A short human description of a column's allowed values, for the dictionary and messages."""
    if c.choices:
        return ", ".join(f"`{x}`" for x in c.choices)
    parts = []
    if c.min_value is not None:
        parts.append(f"{'>' if c.min_exclusive else '≥'} {c.min_value}")
    if c.max_value is not None:
        parts.append(f"≤ {c.max_value}")
    if c.step is not None:
        parts.append(f"steps of {c.step}")
    if c.kind == "decimal" and c.decimal_places is not None:
        parts.append(f"{c.decimal_places} decimals")
    if c.kind == "date":
        parts.append("YYYY-MM-DD")
    if c.kind == "datetime":
        parts.append("ISO 8601 with offset")
    if c.max_length and c.kind in {"text", "reference"}:
        parts.append(f"≤ {c.max_length} characters")
    return "; ".join(parts)
