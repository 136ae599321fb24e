"""Follow-up entry forms. Their rules are the import's rules, as in the admin: a form's values become a
one-row bundle table, :func:`openhsct.registry.importer.validate_bundle` checks it against the patient's
records already in the registry, and each problem is shown next to the field its column names
(:mod:`openhsct.registry.forms`, the one validation path of every form).

Fields, labels, help texts and choices come from the models (``ModelForm``); the forms only read what a
browser sends (a date, a number, a decimal comma) and leave every registry rule to the importer.
"""

from __future__ import annotations

from django import forms

from openhsct.registry import models as m
from openhsct.registry.exchange import tables
from openhsct.registry.formats import python_to_text
from openhsct.registry.forms import FORM_ROW, RegistryRulesMixin, problem_message, row_problems
from openhsct.registry.validation import Problem
from openhsct.registry.versioning import FIELD as SEEN_VERSION
from openhsct.registry.versioning import VersionCheckedForm

__all__ = ["FORM_ROW", "FORMS", "BundleRowForm", "bundle_row_problems", "problem_message"]


def bundle_row_problems(table_name: str, patient: m.Patient, values: dict) -> list[Problem]:
    """Validate one new row of ``table_name`` for ``patient`` with the import's checks.

    The importer overlays the row on the registry's records of the patient's centre, so date-order
    rules (nothing after death, engraftment after day 0 …) apply. A key already in the registry would
    be an update on import; for a form that adds a record it is a duplicate, reported on the key's
    last column. Returns the problems, sorted.
    """
    table = tables()[table_name]
    row = {c.name: _text(values.get(c.name), c) for c in table.columns}
    row.update(centre_code=patient.centre.centre_code, patient_code=patient.patient_code)
    return row_problems(table_name, row)


def _text(value, column) -> str:
    """Exchange text of one form value (the importer canonicalises it further)."""
    if isinstance(value, str):
        return value.strip()
    return python_to_text(value, column)


class BundleRowForm(VersionCheckedForm, RegistryRulesMixin, forms.ModelForm):
    """A model form validated by the importer. Subclasses name their exchange ``table_name``. Bound to an
    existing record, it carries the version shown and refuses a stale save (registry/versioning.py)."""

    table_name: str = ""

    def __init__(self, *args, patient: m.Patient, **kwargs):
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.setup_rule_fields()
        for name, field in self.fields.items():
            if isinstance(field.widget, forms.DateInput):
                field.widget = forms.DateInput(attrs={**field.widget.attrs, "type": "date"}, format="%Y-%m-%d")
            help_id = f"{self.add_prefix(name)}-help"
            if field.help_text:
                field.widget.attrs["aria-describedby"] = help_id

    def rule_table(self):
        """The form's exchange table (``table_name``)."""
        return tables()[self.table_name]

    def full_clean(self):
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                described = [attrs.get("aria-describedby", ""), f"{self.add_prefix(name)}-error"]
                attrs.update(
                    {"aria-invalid": "true", "aria-describedby": " ".join(d for d in described if d)}
                )

    def clean(self):
        cleaned = super().clean()
        self.apply_rules()
        return cleaned

    def _post_clean(self):
        """The import's rules (in :meth:`clean`) replace Django's model validation: one source of rules."""

    def record_values(self) -> dict:
        """The validated values as model field values (empty text stays empty, empty numbers None)."""
        return {name: self.cleaned_data[name] for name in self.fields if name != SEEN_VERSION}


class EdssVisitForm(BundleRowForm):
    table_name = "edss_visits"

    class Meta:
        model = m.EdssVisit
        fields = ["visit_date", "edss", "assessment_mode", "assessor_certified", "assessor_blinded",
                  *m.FUNCTIONAL_SYSTEMS, "t25fw_s", "nhpt_dominant_s", "nhpt_nondominant_s", "sdmt"]
        labels = {"visit_date": "Visit date", "edss": "EDSS", "assessment_mode": "How the EDSS was obtained",
                  "assessor_certified": "Assessor Neurostatus-certified", "assessor_blinded": "Assessor blinded",
                  **{name: f"FS {label.split(' (')[0].lower()}" for name, (label, _) in m.FUNCTIONAL_SYSTEMS.items()},
                  "t25fw_s": "Timed 25-foot walk (s)", "nhpt_dominant_s": "9-hole peg test, dominant hand (s)",
                  "nhpt_nondominant_s": "9-hole peg test, other hand (s)", "sdmt": "SDMT (correct answers)"}


class RelapseForm(BundleRowForm):
    table_name = "relapses"

    class Meta:
        model = m.Relapse
        fields = ["onset_date", "objective_signs", "infection_excluded", "steroids", "severity"]
        labels = {"onset_date": "Relapse onset date", "objective_signs": "New objective signs",
                  "infection_excluded": "Fever and infection excluded", "steroids": "Corticosteroids given",
                  "severity": "Severity"}


class MriScanForm(BundleRowForm):
    table_name = "mri_scans"

    class Meta:
        model = m.MriScan
        fields = ["scan_date", "t2_assessed", "new_enlarging_t2", "gd_assessed", "gd_lesions", "region",
                  "field_strength", "comparator_scan_date", "reading", "steroids_within_30d"]
        labels = {
            "scan_date": "Scan date",
            "t2_assessed": "New/enlarging T2 assessed",
            "new_enlarging_t2": "New or enlarging T2 lesions",
            "gd_assessed": "Gadolinium given",
            "gd_lesions": "Gd-enhancing lesions",
            "region": "Region",
            "field_strength": "Field strength",
            "comparator_scan_date": "Compared with the scan of",
            "reading": "Reading",
            "steroids_within_30d": "Corticosteroids in the 30 days before",
        }


class AdverseEventForm(BundleRowForm):
    table_name = "adverse_events"

    class Meta:
        model = m.AdverseEvent
        fields = [
            "ae_id",
            "category",
            "ctcae_term",
            "grade",
            "onset_date",
            "resolution_date",
            "attribution",
            "serious",
            "organism",
            "infection_site",
            "reactivation",
            "preemptive_treatment",
            "autoimmunity_type",
        ]
        labels = {
            "organism": "Infection: organism",
            "infection_site": "Infection: site",
            "reactivation": "Infection: viral reactivation",
            "preemptive_treatment": "Infection: pre-emptive treatment",
            "autoimmunity_type": "Secondary autoimmunity: disease",
            "ae_id": "Adverse event identifier",
            "ctcae_term": "CTCAE term",
            "grade": "CTCAE grade",
            "onset_date": "Onset date",
            "resolution_date": "Resolution date",
            "attribution": "Attribution",
            "serious": "Serious",
        }

    def __init__(self, *args, patient: m.Patient, **kwargs):
        super().__init__(*args, patient=patient, **kwargs)
        if not self.is_bound:
            taken = set(m.AdverseEvent.objects.filter(patient=patient).values_list("ae_id", flat=True))
            n = len(taken) + 1
            while f"AE{n}" in taken:
                n += 1
            self.initial.setdefault("ae_id", f"AE{n}")


def _next_id(model, patient: m.Patient, field: str, prefix: str) -> str:
    """The first ``<prefix><n>`` identifier the patient has not used in ``model.field``."""
    taken = set(model.objects.filter(patient=patient).values_list(field, flat=True))
    n = len(taken) + 1
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"


class DmtExposureForm(BundleRowForm):
    """A disease-modifying therapy course, its stop, and a restart after aHSCT (an outcome)."""

    table_name = "dmt_exposures"

    class Meta:
        model = m.DmtExposure
        fields = ["drug", "start_date", "stop_date", "last_dose_date", "stop_reason", "after_ahsct", "restart_reason"]
        labels = {"drug": "Drug", "start_date": "Start date", "stop_date": "Stop date",
                  "last_dose_date": "Last dose or infusion", "stop_reason": "Why it was stopped",
                  "after_ahsct": "Started after aHSCT (a restart)", "restart_reason": "Why it was restarted"}


class ViralLoadForm(BundleRowForm):
    table_name = "viral_loads"

    class Meta:
        model = m.ViralLoad
        fields = ["sample_date", "virus", "load_iu_per_ml", "reactivation", "preemptive_treatment"]
        labels = {"sample_date": "Sample date", "virus": "Virus", "load_iu_per_ml": "Viral load (IU/mL)",
                  "reactivation": "Reactivation", "preemptive_treatment": "Pre-emptive treatment"}


class IggLevelForm(BundleRowForm):
    table_name = "igg_levels"

    class Meta:
        model = m.IggLevel
        fields = ["sample_date", "igg_g_per_l", "replacement"]
        labels = {"sample_date": "Sample date", "igg_g_per_l": "Serum IgG (g/L)",
                  "replacement": "Immunoglobulin replacement"}


class LateEffectForm(BundleRowForm):
    table_name = "late_effects"

    class Meta:
        model = m.LateEffect
        fields = ["effect_id", "effect", "diagnosis_date", "description"]
        labels = {"effect_id": "Late effect identifier", "effect": "Late effect", "diagnosis_date": "Diagnosis date",
                  "description": "Description (e.g. histology)"}

    def __init__(self, *args, patient: m.Patient, **kwargs):
        super().__init__(*args, patient=patient, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("effect_id", _next_id(m.LateEffect, patient, "effect_id", "L"))


class ReproductiveHealthForm(BundleRowForm):
    table_name = "reproductive_health"

    class Meta:
        model = m.ReproductiveHealth
        fields = ["record_date", "amenorrhoea", "menopause", "amh_pmol_per_l", "fertility_preservation", "pregnancy",
                  "pregnancy_outcome"]
        labels = {"record_date": "Date", "amenorrhoea": "Amenorrhoea", "menopause": "Menopause",
                  "amh_pmol_per_l": "AMH (pmol/L)", "fertility_preservation": "Fertility preservation",
                  "pregnancy": "Pregnancy", "pregnancy_outcome": "Pregnancy outcome"}


class SecondTransplantForm(BundleRowForm):
    table_name = "second_transplants"

    class Meta:
        model = m.SecondTransplant
        fields = ["transplant_date", "kind", "indication"]
        labels = {"transplant_date": "Day 0 of the further transplant", "kind": "Kind", "indication": "Indication"}


# URL slug -> (form, heading of its section on the patient page)
FORMS: dict[str, tuple[type[BundleRowForm], str]] = {
    "edss": (EdssVisitForm, "Add an EDSS visit"),
    "relapse": (RelapseForm, "Add a relapse"),
    "mri": (MriScanForm, "Add an MRI scan"),
    "ae": (AdverseEventForm, "Add an adverse event"),
    "dmt": (DmtExposureForm, "Add a disease-modifying therapy (or a restart after aHSCT)"),
    "viral-load": (ViralLoadForm, "Add a viral load"),
    "igg": (IggLevelForm, "Add a serum IgG"),
    "late-effect": (LateEffectForm, "Add a late effect"),
    "reproductive": (ReproductiveHealthForm, "Add reproductive health"),
    "second-transplant": (SecondTransplantForm, "Add a further transplant"),
}
