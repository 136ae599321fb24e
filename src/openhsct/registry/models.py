"""The aHSCT pathway, one model per concept.

Rules the database can hold live here as constraints (ranges, uniqueness, codes); the import and the
forms repeat them with messages a person can act on. Where a form needs it, a coded ``unknown`` or
``not done`` value is distinct from an empty cell, as on EBMT MED-A and CIBMTR forms.
Every table's exchange column names are its field names (see :mod:`openhsct.registry.exchange`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from openhsct.registry.versioning import RowVersioned

EDSS_MAX = Decimal("9.5")  # the highest score a living person is given; 10 is death due to MS (deaths)


def validate_edss_step(value) -> None:
    """EDSS is scored in steps of 0.5 (Kurtzke 1983); a visit's score is 0–9.5, as 10 is death due to MS,
    which the registry records as a death. Raises ValidationError otherwise."""
    if value is None:
        return
    if (Decimal(str(value)) * 2) % 1 != 0:
        raise ValidationError("EDSS must be a multiple of 0.5", code="edss_step")
    if Decimal(str(value)) > EDSS_MAX:
        raise ValidationError("EDSS must be ≤ 9.5 (10 is death due to MS: record a death)", code="edss_max")


EDSS_VALIDATORS = [MinValueValidator(0), MaxValueValidator(10), validate_edss_step]


class YesNo(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"


class YesNoUnknown(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    UNKNOWN = "unknown", "Unknown"


class Serostatus(models.TextChoices):
    POSITIVE = "positive", "Positive"
    NEGATIVE = "negative", "Negative"
    UNKNOWN = "unknown", "Unknown"


@dataclass(frozen=True)
class RowRule:
    """A rule between two columns of one row of ``model``: ``field`` must be empty while ``when`` holds one
    of ``empty_when`` and filled while it holds one of ``filled_when``.

    The database holds each rule as a CHECK constraint (see :func:`row_rule`); the importer reads
    :data:`ROW_RULES` to refuse the same rows with a message naming file, row and column.
    """

    model: str
    field: str
    when: str
    empty_when: tuple[str, ...] = ()
    filled_when: tuple[str, ...] = ()

    def message(self, filled: bool) -> str:
        """The message for a row that breaks the rule: ``filled`` tells which half was broken."""
        codes = self.empty_when if filled else self.filled_when
        words = [f"'{c}'" if c else "empty" for c in codes]
        shown = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
        return (f"must be empty when {self.when} is {shown}" if filled
                else f"is required when {self.when} is {shown}")


# model name -> its row rules, filled in as the models below are defined
ROW_RULES: dict[str, list[RowRule]] = {}


def _empty(field: str, text: bool) -> Q:
    return Q(**{field: ""}) if text else Q(**{f"{field}__isnull": True})


def row_rule(model: str, field: str, when: str, *, text: bool = False, empty_when: tuple[str, ...] = (),
             filled_when: tuple[str, ...] = ()) -> list[models.CheckConstraint]:
    """Register a :class:`RowRule` and return the CHECK constraints that hold it in the database.

    ``text`` says that ``field`` is a text/code column (empty is ``''``) rather than a nullable one.
    """
    rule = RowRule(model, field, when, tuple(empty_when), tuple(filled_when))
    ROW_RULES.setdefault(model, []).append(rule)
    out = []
    if empty_when:
        out.append(models.CheckConstraint(condition=~Q(**{f"{when}__in": list(empty_when)}) | _empty(field, text),
                                          name=f"{model.lower()}_{field}_empty_rule",
                                          violation_error_message=f"{field} {rule.message(True)}"))
    if filled_when:
        out.append(models.CheckConstraint(condition=~Q(**{f"{when}__in": list(filled_when)}) | ~_empty(field, text),
                                          name=f"{model.lower()}_{field}_filled_rule",
                                          violation_error_message=f"{field} {rule.message(False)}"))
    return out


def in_range(name: str, field: str, low: int | str | None = None, high: int | str | None = None
             ) -> models.CheckConstraint:
    """A CHECK constraint: ``field`` is empty or within [low, high]."""
    cond = Q()
    if low is not None:
        cond &= Q(**{f"{field}__gte": Decimal(str(low))})
    if high is not None:
        cond &= Q(**{f"{field}__lte": Decimal(str(high))})
    shown = " and ".join(x for x in (f"≥ {low}" if low is not None else "", f"≤ {high}" if high is not None else "")
                         if x)
    return models.CheckConstraint(condition=Q(**{f"{field}__isnull": True}) | cond, name=name,
                                  violation_error_message=f"{field} must be {shown}")


def _range(low: int | str, high: int | str) -> list:
    """Field validators for the closed range [low, high]."""
    return [MinValueValidator(Decimal(str(low))), MaxValueValidator(Decimal(str(high)))]


def _code(choices, help_text: str, max_length: int = 24) -> models.CharField:
    """An optional coded column: empty means not recorded."""
    return models.CharField(max_length=max_length, choices=choices, blank=True, default="", help_text=help_text)


def _weight() -> models.DecimalField:
    return models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True, validators=_range(20, 300),
                               help_text="Body weight, kg")


def _height() -> models.DecimalField:
    return models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True, validators=_range(100, 230),
                               help_text="Height, cm")


class Centre(models.Model):
    """A transplant centre. ``synthetic`` marks demo centres that must never be read as real ones."""

    centre_code = models.CharField(max_length=32, unique=True, help_text="Short code, e.g. NRT")
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=3, help_text="ISO 3166-1 alpha-3")
    city = models.CharField(max_length=100, blank=True, default="")
    synthetic = models.CharField(max_length=3, choices=YesNo.choices, default=YesNo.NO,
                                 help_text="yes for generated demo data")

    class Meta:
        ordering = ["centre_code"]

    def __str__(self) -> str:
        return f"{self.centre_code} — {self.name}"


class Patient(RowVersioned, models.Model):
    """A person treated or assessed at a centre, known only by a pseudonymous code."""

    class Sex(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        OTHER = "other", "Other"
        UNKNOWN = "unknown", "Unknown"

    class Phenotype(models.TextChoices):
        RRMS = "RRMS", "Relapsing-remitting"
        SPMS = "SPMS", "Secondary progressive"
        PPMS = "PPMS", "Primary progressive"
        OTHER = "other", "Other"

    class Consent(models.TextChoices):
        GIVEN = "given", "Given"
        WITHDRAWN = "withdrawn", "Withdrawn"
        NOT_GIVEN = "not_given", "Not given"

    centre = models.ForeignKey(Centre, on_delete=models.PROTECT, related_name="patients")
    patient_code = models.CharField(max_length=32, help_text="Pseudonymous code, unique within the centre")
    sex = models.CharField(max_length=8, choices=Sex.choices)
    birth_year = models.PositiveSmallIntegerField(validators=[MinValueValidator(1900), MaxValueValidator(2100)])
    phenotype = models.CharField(max_length=8, choices=Phenotype.choices)
    onset_date = models.DateField(null=True, blank=True, help_text="First MS symptom")
    diagnosis_date = models.DateField(null=True, blank=True)
    consent_status = models.CharField(max_length=10, choices=Consent.choices)
    consent_date = models.DateField(null=True, blank=True)
    consent_version = models.CharField(max_length=40, blank=True, default="",
                                       help_text="Version of the consent form the patient signed")
    consent_publication = models.CharField(
        max_length=3, choices=YesNo.choices, blank=True, default="",
        help_text="Consent covers publication in aggregate (public pages, reports); empty: as consent_status")
    consent_sharing = models.CharField(
        max_length=3, choices=YesNo.choices, blank=True, default="",
        help_text="Consent covers sharing with EBMT/CIBMTR registries; empty: not recorded")
    consent_recontact = models.CharField(
        max_length=3, choices=YesNo.choices, blank=True, default="",
        help_text="Consent covers recontact for research; empty: not recorded")
    consent_withdrawal_date = models.DateField(null=True, blank=True,
                                               help_text="Date consent was withdrawn (consent_status withdrawn)")
    last_contact_date = models.DateField(null=True, blank=True, help_text="Last date known alive")
    row_version = models.PositiveIntegerField(default=1, db_default=1, help_text="Raised on every change (not exchanged)")

    class Meta:
        ordering = ["centre__centre_code", "patient_code"]
        constraints = [
            models.UniqueConstraint(fields=["centre", "patient_code"], name="patient_code_unique_in_centre"),
            models.CheckConstraint(condition=Q(birth_year__gte=1900) & Q(birth_year__lte=2100),
                                   name="patient_birth_year_range"),
        ]

    def __str__(self) -> str:
        return f"{self.centre.centre_code}/{self.patient_code}"


class PatientRecord(RowVersioned, models.Model):
    """Abstract base for every record that belongs to one patient."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    row_version = models.PositiveIntegerField(default=1, db_default=1, help_text="Raised on every change (not exchanged)")

    class Meta:
        abstract = True

    def __str__(self) -> str:
        """What the record is and whose, e.g. "EDSS 3.5 on 2024-05-02 — S0000054" (see :func:`record_label`)."""
        patient = self.patient.patient_code if self.patient_id else "no patient"
        return f"{record_label(self)} — {patient}"


class EligibilityAssessment(PatientRecord):
    class Decision(models.TextChoices):
        ELIGIBLE = "eligible", "Eligible"
        NOT_ELIGIBLE = "not_eligible", "Not eligible"
        DEFERRED = "deferred", "Deferred"

    assessment_date = models.DateField()
    edss = models.DecimalField(max_digits=3, decimal_places=1, validators=EDSS_VALIDATORS, help_text="EDSS 0–9.5 in steps of 0.5 (10 is death due to MS: record a death)")
    relapses_prior_12m = models.PositiveSmallIntegerField(help_text="Clinical relapses in the 12 months before")
    gd_assessed = models.CharField(max_length=8, choices=YesNoUnknown.choices, help_text="Gd-enhanced MRI done")
    gd_lesions = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Gd+ lesions; empty when not assessed")
    prior_dmt_count = models.PositiveSmallIntegerField(help_text="Number of prior disease-modifying therapies")
    prior_dmts = models.CharField(max_length=300, blank=True, default="", help_text="Drug names separated by ;")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    reason = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "assessment_date"], name="eligibility_unique"),
            models.CheckConstraint(condition=Q(edss__gte=0) & Q(edss__lte=10), name="eligibility_edss_range"),
        ]


class Mobilisation(PatientRecord):
    mobilisation_id = models.CharField(max_length=32, help_text="Identifier within the patient, e.g. M1")
    regimen = models.CharField(max_length=120, help_text="e.g. cyclophosphamide + G-CSF")
    cyclophosphamide_g_per_m2 = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True,
                                                    validators=[MinValueValidator(0)], help_text="g/m²")
    gcsf = models.CharField(max_length=3, choices=YesNo.choices, help_text="G-CSF given")
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    weight_kg = _weight()
    height_cm = _height()
    gcsf_ug_per_kg_day = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True,
                                             validators=_range(0, 50), help_text="G-CSF daily dose, µg/kg/day")
    gcsf_days = models.PositiveSmallIntegerField(null=True, blank=True, validators=_range(1, 30),
                                                 help_text="Days of G-CSF")
    plerixafor = _code(YesNoUnknown.choices, "Plerixafor given", 8)
    steroid_cover = _code(YesNoUnknown.choices, "Corticosteroid cover given with G-CSF against an MS flare", 8)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "mobilisation_id"], name="mobilisation_unique"),
            in_range("mobilisation_weight_range", "weight_kg", 20, 300),
            in_range("mobilisation_height_range", "height_cm", 100, 230),
            in_range("mobilisation_gcsf_dose_range", "gcsf_ug_per_kg_day", 0, 50),
            in_range("mobilisation_gcsf_days_range", "gcsf_days", 1, 30),
            *row_rule("Mobilisation", "gcsf_ug_per_kg_day", "gcsf", empty_when=("no",)),
            *row_rule("Mobilisation", "gcsf_days", "gcsf", empty_when=("no",)),
        ]


class ApheresisCollection(PatientRecord):
    collection_id = models.CharField(max_length=32, help_text="Identifier within the patient, e.g. A1")
    mobilisation = models.ForeignKey(Mobilisation, on_delete=models.PROTECT, related_name="collections")
    collection_date = models.DateField()
    cd34_1e6_per_kg = models.DecimalField(max_digits=6, decimal_places=2, help_text="CD34+ cells ×10⁶/kg collected")
    volume_ml = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True, help_text="mL")
    cell_source = _code([("peripheral_blood", "Peripheral blood"), ("bone_marrow", "Bone marrow")],
                        "Cell source (EBMT MED-A: peripheral blood / bone marrow)", 16)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "collection_id"], name="apheresis_unique"),
            models.CheckConstraint(condition=Q(cd34_1e6_per_kg__gt=0), name="apheresis_cd34_positive"),
        ]


class CellProduct(PatientRecord):
    class Status(models.TextChoices):
        STORED = "stored", "Stored"
        THAWED = "thawed", "Thawed"
        INFUSED = "infused", "Infused"
        DISCARDED = "discarded", "Discarded"

    bag_id = models.CharField(max_length=40, help_text="Bag identifier (e.g. ISBT 128 DIN)")
    class Preservation(models.TextChoices):
        CRYOPRESERVED = "cryopreserved", "Cryopreserved"
        FRESH = "fresh", "Fresh (non-cryopreserved, kept at 4 °C)"

    collection = models.ForeignKey(ApheresisCollection, on_delete=models.PROTECT, related_name="products")
    cryopreservation_date = models.DateField(null=True, blank=True,
                                             help_text="Required for cryopreserved products, empty for fresh ones")
    storage_location = models.CharField(max_length=80)
    status = models.CharField(max_length=10, choices=Status.choices)
    preservation = _code(Preservation.choices, "Cryopreserved or fresh product; empty: not recorded", 14)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "bag_id"], name="cell_product_unique"),
            *row_rule("CellProduct", "cryopreservation_date", "preservation", empty_when=("fresh",),
                      filled_when=("cryopreserved",)),
        ]


class CustodyEvent(PatientRecord):
    """One link in a bag's chain of custody: who did what, when and where."""

    class Event(models.TextChoices):
        FROZEN = "frozen", "Frozen"
        STORED = "stored", "Stored"
        MOVED = "moved", "Moved"
        THAWED = "thawed", "Thawed"
        INFUSED = "infused", "Infused"
        DISCARDED = "discarded", "Discarded"

    product = models.ForeignKey(CellProduct, on_delete=models.CASCADE, related_name="custody_events")
    seq = models.PositiveSmallIntegerField(help_text="Order of the event for this bag, from 1")
    event = models.CharField(max_length=10, choices=Event.choices)
    event_at = models.DateTimeField()
    performed_by = models.CharField(max_length=80)
    location = models.CharField(max_length=80)

    class Meta:
        ordering = ["product", "seq"]
        constraints = [models.UniqueConstraint(fields=["product", "seq"], name="custody_event_unique")]


class Conditioning(PatientRecord):
    class Intensity(models.TextChoices):
        LOW = "low", "Low (lymphoablative)"
        INTERMEDIATE = "intermediate", "Intermediate"
        HIGH = "high", "High (myeloablative)"

    regimen = models.CharField(max_length=120, help_text="e.g. BEAM+ATG, Cy200+ATG")
    intensity = models.CharField(max_length=12, choices=Intensity.choices, help_text="EBMT intensity class")
    class AtgBrand(models.TextChoices):
        THYMOGLOBULIN = "thymoglobulin", "Thymoglobulin (rabbit)"
        GRAFALON = "grafalon", "Grafalon / ATG-Fresenius (rabbit)"
        ATGAM = "atgam", "ATGAM (horse)"
        OTHER = "other", "Other"

    atg = models.CharField(max_length=3, choices=YesNo.choices, help_text="Anti-thymocyte globulin given")
    rituximab = models.CharField(max_length=3, choices=YesNo.choices)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    weight_kg = _weight()
    height_cm = _height()
    atg_brand = _code(AtgBrand.choices, "ATG product", 14)
    atg_mg_per_kg = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True,
                                        validators=_range(0, 100), help_text="ATG total dose, mg/kg")
    steroid_cover = _code(YesNoUnknown.choices, "Corticosteroid premedication with ATG", 8)
    tbi_gy = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True, validators=_range(0, 20),
                                 help_text="Total body irradiation dose, Gy (0: none)")
    rituximab_mg = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True,
                                       validators=_range(0, 5000), help_text="Rituximab total dose, mg")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient"], name="conditioning_one_per_patient"),
            in_range("conditioning_weight_range", "weight_kg", 20, 300),
            in_range("conditioning_height_range", "height_cm", 100, 230),
            in_range("conditioning_atg_dose_range", "atg_mg_per_kg", 0, 100),
            in_range("conditioning_tbi_range", "tbi_gy", 0, 20),
            in_range("conditioning_rituximab_range", "rituximab_mg", 0, 5000),
            *row_rule("Conditioning", "atg_brand", "atg", text=True, empty_when=("no",)),
            *row_rule("Conditioning", "atg_mg_per_kg", "atg", empty_when=("no",)),
            *row_rule("Conditioning", "rituximab_mg", "rituximab", empty_when=("no",)),
        ]


class ConditioningDrug(PatientRecord):
    class Unit(models.TextChoices):
        MG_PER_KG = "mg/kg", "mg/kg"
        MG_PER_M2 = "mg/m2", "mg/m²"
        G_PER_M2 = "g/m2", "g/m²"
        MG = "mg", "mg"

    drug = models.CharField(max_length=60)
    total_dose = models.DecimalField(max_digits=8, decimal_places=2, validators=[MinValueValidator(0)])
    dose_unit = models.CharField(max_length=6, choices=Unit.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "drug"], name="conditioning_drug_unique")]


class Transplant(PatientRecord):
    """Re-infusion (day 0), engraftment and the admission around it."""

    day0 = models.DateField(help_text="Day of stem cell re-infusion")
    cd34_infused_1e6_per_kg = models.DecimalField(max_digits=6, decimal_places=2, help_text="CD34+ ×10⁶/kg infused")
    admission_date = models.DateField(null=True, blank=True)
    discharge_date = models.DateField(null=True, blank=True)
    neutrophil_engraftment_date = models.DateField(null=True, blank=True,
                                                   help_text="First of 3 days with ANC ≥ 0.5×10⁹/L")
    platelet_engraftment_date = models.DateField(null=True, blank=True,
                                                 help_text="First of 7 days with platelets ≥ 20×10⁹/L unsupported")

    class Engraftment(models.TextChoices):
        ACHIEVED = "achieved", "Achieved (date given)"
        NEVER_BELOW = "never_below", "Never below the threshold"
        NOT_ACHIEVED = "not_achieved", "Not achieved"
        GRAFT_FAILURE = "graft_failure", "Graft failure (date given if engraftment came first)"

    class Convention(models.TextChoices):
        EBMT = "ebmt", "EBMT: ANC first of 3 days ≥ 0.5×10⁹/L; platelets first of 7 days ≥ 20×10⁹/L"
        CIBMTR = "cibmtr", "CIBMTR: ANC first of 3 days ≥ 0.5×10⁹/L; platelets first of 3 days ≥ 20×10⁹/L"
        OTHER = "other", "Other"

    class GraftManipulation(models.TextChoices):
        NONE = "none", "None"
        CD34_SELECTION = "cd34_selection", "CD34+ selection"
        OTHER = "other", "Other"

    class Activity(models.TextChoices):
        ACTIVE = "active", "Active"
        NOT_ACTIVE = "not_active", "Not active"
        UNKNOWN = "unknown", "Unknown"

    class Progression(models.TextChoices):
        WITH = "with_progression", "With progression"
        WITHOUT = "without_progression", "Without progression"
        NOT_APPLICABLE = "not_applicable", "Not applicable (relapsing-remitting)"
        UNKNOWN = "unknown", "Unknown"

    graft_manipulation = _code(GraftManipulation.choices, "Ex vivo graft manipulation", 16)
    neutrophil_engraftment_status = _code(Engraftment.choices, "Neutrophils ≥ 0.5×10⁹/L", 14)
    platelet_engraftment_status = _code(Engraftment.choices, "Platelets ≥ 20×10⁹/L unsupported", 14)
    engraftment_convention = _code(Convention.choices, "Definition of the engraftment dates", 8)
    cmv_serostatus = _code(Serostatus.choices, "Patient CMV IgG before transplant", 8)
    ebv_serostatus = _code(Serostatus.choices, "Patient EBV IgG before transplant", 8)
    antiviral_prophylaxis = _code(YesNoUnknown.choices, "Antiviral (e.g. aciclovir) prophylaxis", 8)
    pjp_prophylaxis = _code(YesNoUnknown.choices, "Pneumocystis prophylaxis", 8)
    antifungal_prophylaxis = _code(YesNoUnknown.choices, "Antifungal prophylaxis", 8)
    hct_ci = models.PositiveSmallIntegerField(null=True, blank=True, validators=_range(0, 29),
                                              help_text="HCT comorbidity index before transplant (Sorror 2005)")
    karnofsky = models.PositiveSmallIntegerField(null=True, blank=True, validators=_range(0, 100),
                                                 help_text="Karnofsky performance status, % (steps of 10)")
    lvef_percent = models.PositiveSmallIntegerField(null=True, blank=True, validators=_range(10, 90),
                                                    help_text="Left ventricular ejection fraction, %")
    activity_modifier = _code(Activity.choices, "Lublin 2014 activity at transplant", 12)
    progression_modifier = _code(Progression.choices, "Lublin 2014 progression at transplant", 20)
    edss_12m_before = models.DecimalField(max_digits=3, decimal_places=1, null=True, blank=True,
                                          validators=EDSS_VALIDATORS, help_text="EDSS 12 months before day 0")
    edss_24m_before = models.DecimalField(max_digits=3, decimal_places=1, null=True, blank=True,
                                          validators=EDSS_VALIDATORS, help_text="EDSS 24 months before day 0")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient"], name="transplant_one_per_patient"),
            models.CheckConstraint(condition=Q(cd34_infused_1e6_per_kg__gt=0), name="transplant_cd34_positive"),
            in_range("transplant_hct_ci_range", "hct_ci", 0, 29),
            in_range("transplant_karnofsky_range", "karnofsky", 0, 100),
            in_range("transplant_lvef_range", "lvef_percent", 10, 90),
            in_range("transplant_edss_12m_range", "edss_12m_before", 0, 10),
            in_range("transplant_edss_24m_range", "edss_24m_before", 0, 10),
            *row_rule("Transplant", "neutrophil_engraftment_date", "neutrophil_engraftment_status",
                      empty_when=("never_below", "not_achieved"), filled_when=("achieved",)),
            *row_rule("Transplant", "platelet_engraftment_date", "platelet_engraftment_status",
                      empty_when=("never_below", "not_achieved"), filled_when=("achieved",)),
        ]


class AdverseEvent(PatientRecord):
    class Category(models.TextChoices):
        INFECTION = "infection", "Infection"
        SECONDARY_AUTOIMMUNITY = "secondary_autoimmunity", "Secondary autoimmunity"
        OTHER = "other", "Other"

    class Attribution(models.TextChoices):
        RELATED = "related", "Related to transplant"
        UNRELATED = "unrelated", "Unrelated"
        UNKNOWN = "unknown", "Unknown"

    ae_id = models.CharField(max_length=32, help_text="Identifier within the patient")
    category = models.CharField(max_length=24, choices=Category.choices)
    ctcae_term = models.CharField(max_length=120, help_text="CTCAE v5 term")
    grade = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)],
                                             help_text="CTCAE grade 1–5")
    onset_date = models.DateField()
    resolution_date = models.DateField(null=True, blank=True)
    attribution = models.CharField(max_length=10, choices=Attribution.choices)
    serious = models.CharField(max_length=3, choices=YesNo.choices)

    class Organism(models.TextChoices):
        CMV = "cmv", "Cytomegalovirus"
        EBV = "ebv", "Epstein-Barr virus"
        VZV = "vzv", "Varicella zoster virus (zoster)"
        HSV = "hsv", "Herpes simplex virus"
        HHV6 = "hhv6", "Human herpesvirus 6"
        BK_VIRUS = "bk_virus", "BK polyomavirus"
        JC_VIRUS = "jc_virus", "JC polyomavirus"
        ADENOVIRUS = "adenovirus", "Adenovirus"
        INFLUENZA = "influenza", "Influenza virus"
        RSV = "rsv", "Respiratory syncytial virus"
        SARS_COV_2 = "sars_cov_2", "SARS-CoV-2"
        OTHER_VIRUS = "other_virus", "Other virus"
        STAPHYLOCOCCUS_AUREUS = "staphylococcus_aureus", "Staphylococcus aureus"
        COAGULASE_NEGATIVE_STAPHYLOCOCCUS = "cons", "Coagulase-negative staphylococcus"
        STREPTOCOCCUS = "streptococcus", "Streptococcus"
        ENTEROCOCCUS = "enterococcus", "Enterococcus"
        ESCHERICHIA_COLI = "escherichia_coli", "Escherichia coli"
        KLEBSIELLA = "klebsiella", "Klebsiella"
        PSEUDOMONAS = "pseudomonas", "Pseudomonas"
        CLOSTRIDIOIDES_DIFFICILE = "c_difficile", "Clostridioides difficile"
        OTHER_BACTERIUM = "other_bacterium", "Other bacterium"
        CANDIDA = "candida", "Candida"
        ASPERGILLUS = "aspergillus", "Aspergillus"
        PNEUMOCYSTIS = "pneumocystis", "Pneumocystis jirovecii"
        OTHER_FUNGUS = "other_fungus", "Other fungus"
        PARASITE = "parasite", "Parasite"
        UNKNOWN = "unknown", "Not identified"

    class Site(models.TextChoices):
        BLOODSTREAM = "bloodstream", "Bloodstream"
        LUNG = "lung", "Lower respiratory tract"
        UPPER_RESPIRATORY = "upper_respiratory", "Upper respiratory tract"
        URINARY = "urinary", "Urinary tract"
        GASTROINTESTINAL = "gastrointestinal", "Gastrointestinal tract / liver"
        SKIN = "skin", "Skin and soft tissue"
        CNS = "cns", "Central nervous system"
        DISSEMINATED = "disseminated", "Disseminated"
        OTHER = "other", "Other"
        UNKNOWN = "unknown", "Unknown"

    class Autoimmunity(models.TextChoices):
        THYROID = "thyroid", "Autoimmune thyroid disease"
        ITP = "itp", "Immune thrombocytopenia"
        AIHA = "aiha", "Autoimmune haemolytic anaemia"
        OTHER = "other", "Other"

    organism = _code(Organism.choices, "Infection: causative organism", 24)
    infection_site = _code(Site.choices, "Infection: site", 20)
    reactivation = _code(YesNoUnknown.choices, "Infection: reactivation of a latent virus", 8)
    preemptive_treatment = _code(YesNoUnknown.choices, "Infection: pre-emptive treatment on viral load", 8)
    autoimmunity_type = _code(Autoimmunity.choices, "Secondary autoimmunity: disease", 8)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "ae_id"], name="adverse_event_unique"),
            models.CheckConstraint(condition=Q(grade__gte=1) & Q(grade__lte=5), name="adverse_event_grade_range"),
            *row_rule("AdverseEvent", "organism", "category", text=True,
                      empty_when=("secondary_autoimmunity", "other")),
            *row_rule("AdverseEvent", "infection_site", "category", text=True,
                      empty_when=("secondary_autoimmunity", "other")),
            *row_rule("AdverseEvent", "reactivation", "category", text=True,
                      empty_when=("secondary_autoimmunity", "other")),
            *row_rule("AdverseEvent", "preemptive_treatment", "category", text=True,
                      empty_when=("secondary_autoimmunity", "other")),
            *row_rule("AdverseEvent", "autoimmunity_type", "category", text=True,
                      empty_when=("infection", "other")),
        ]


class Death(PatientRecord):
    class CauseCategory(models.TextChoices):
        MS_PROGRESSION = "ms_progression", "MS progression"
        INFECTION = "infection", "Infection"
        TRANSPLANT_TOXICITY = "transplant_toxicity", "Transplant toxicity"
        MALIGNANCY = "malignancy", "Malignancy"
        OTHER = "other", "Other"
        UNKNOWN = "unknown", "Unknown"

    death_date = models.DateField()
    cause = models.CharField(max_length=200, blank=True, default="")
    cause_category = models.CharField(max_length=20, choices=CauseCategory.choices)
    transplant_related = models.CharField(max_length=8, choices=YesNoUnknown.choices)

    class Cause(models.TextChoices):
        """Local cause-of-death list; docs/data-dictionary.md maps each code to EBMT MED-A and SNOMED CT."""

        MS_PROGRESSION = "ms_progression", "MS progression"
        INFECTION_BACTERIAL = "infection_bacterial", "Infection, bacterial"
        INFECTION_VIRAL = "infection_viral", "Infection, viral"
        INFECTION_FUNGAL = "infection_fungal", "Infection, fungal"
        INFECTION_PARASITIC = "infection_parasitic", "Infection, parasitic"
        INFECTION_UNKNOWN = "infection_unknown", "Infection, organism not identified"
        SOS_VOD = "sos_vod", "Sinusoidal obstruction syndrome / veno-occlusive disease"
        CARDIAC_TOXICITY = "cardiac_toxicity", "Cardiac toxicity"
        PULMONARY_TOXICITY = "pulmonary_toxicity", "Pulmonary toxicity / interstitial pneumonitis"
        CNS_TOXICITY = "cns_toxicity", "CNS toxicity"
        GI_TOXICITY = "gi_toxicity", "Gastrointestinal toxicity"
        RENAL_FAILURE = "renal_failure", "Renal failure"
        MULTIORGAN_FAILURE = "multiorgan_failure", "Multiple organ failure"
        HAEMORRHAGE = "haemorrhage", "Haemorrhage"
        GRAFT_FAILURE = "graft_failure", "Graft failure"
        SECONDARY_MALIGNANCY = "secondary_malignancy", "Secondary malignancy"
        PTLD = "ptld", "Post-transplant lymphoproliferative disorder"
        SECONDARY_AUTOIMMUNITY = "secondary_autoimmunity", "Secondary autoimmune disease"
        SUICIDE = "suicide", "Suicide"
        ACCIDENT = "accident", "Accident"
        OTHER = "other", "Other"
        UNKNOWN = "unknown", "Unknown"

    primary_cause = _code(Cause.choices, "Primary cause of death (local code list)", 24)
    contributory_cause_1 = _code(Cause.choices, "First contributory cause", 24)
    contributory_cause_2 = _code(Cause.choices, "Second contributory cause", 24)
    autopsy = _code(YesNoUnknown.choices, "Autopsy performed", 8)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient"], name="death_one_per_patient"),
            *row_rule("Death", "contributory_cause_2", "contributory_cause_1", text=True, empty_when=("",)),
        ]


# Neurostatus functional system scores (Kappos, Neurostatus-EDSS definitions) and their ranges
FUNCTIONAL_SYSTEMS: dict[str, tuple[str, int]] = {
    "fs_visual": ("Visual", 6), "fs_brainstem": ("Brainstem", 5), "fs_pyramidal": ("Pyramidal", 6),
    "fs_cerebellar": ("Cerebellar", 5), "fs_sensory": ("Sensory", 6), "fs_bowel_bladder": ("Bowel and bladder", 6),
    "fs_cerebral": ("Cerebral", 5), "fs_ambulation": ("Ambulation (Neurostatus score)", 16),
}


def _fs(name: str) -> models.PositiveSmallIntegerField:
    label, top = FUNCTIONAL_SYSTEMS[name]
    return models.PositiveSmallIntegerField(null=True, blank=True, validators=_range(0, top),
                                            help_text=f"{label} functional system score 0–{top}")


class EdssVisit(PatientRecord):
    class Mode(models.TextChoices):
        IN_PERSON = "in_person", "In person"
        PHONE = "phone", "By telephone"
        SELF_REPORTED = "self_reported", "Self-reported"

    visit_date = models.DateField()
    edss = models.DecimalField(max_digits=3, decimal_places=1, validators=EDSS_VALIDATORS, help_text="EDSS 0–9.5 in steps of 0.5 (10 is death due to MS: record a death)")
    fs_visual = _fs("fs_visual")
    fs_brainstem = _fs("fs_brainstem")
    fs_pyramidal = _fs("fs_pyramidal")
    fs_cerebellar = _fs("fs_cerebellar")
    fs_sensory = _fs("fs_sensory")
    fs_bowel_bladder = _fs("fs_bowel_bladder")
    fs_cerebral = _fs("fs_cerebral")
    fs_ambulation = _fs("fs_ambulation")
    assessor_certified = _code(YesNoUnknown.choices, "Assessor holds Neurostatus certification", 8)
    assessor_blinded = _code(YesNoUnknown.choices, "Assessor blinded to treatment", 8)
    assessment_mode = _code(Mode.choices, "How the EDSS was obtained", 14)
    t25fw_s = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True, validators=_range(1, 180),
                                  help_text="Timed 25-foot walk, mean of 2 trials, seconds")
    nhpt_dominant_s = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True,
                                          validators=_range(5, 300), help_text="9-hole peg test, dominant hand, s")
    nhpt_nondominant_s = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True,
                                             validators=_range(5, 300), help_text="9-hole peg test, other hand, s")
    sdmt = models.PositiveSmallIntegerField(null=True, blank=True, validators=_range(0, 110),
                                            help_text="Symbol Digit Modalities Test, correct answers in 90 s")

    class Meta:
        ordering = ["patient", "visit_date"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "visit_date"], name="edss_visit_unique"),
            models.CheckConstraint(condition=Q(edss__gte=0) & Q(edss__lte=10), name="edss_visit_range"),
            *(in_range(f"edss_visit_{name}_range", name, 0, top) for name, (_, top) in FUNCTIONAL_SYSTEMS.items()),
            in_range("edss_visit_t25fw_range", "t25fw_s", 1, 180),
            in_range("edss_visit_nhpt_dominant_range", "nhpt_dominant_s", 5, 300),
            in_range("edss_visit_nhpt_nondominant_range", "nhpt_nondominant_s", 5, 300),
            in_range("edss_visit_sdmt_range", "sdmt", 0, 110),
            *row_rule("EdssVisit", "assessor_blinded", "assessment_mode", text=True, empty_when=("self_reported",)),
            *row_rule("EdssVisit", "assessor_certified", "assessment_mode", text=True, empty_when=("self_reported",)),
        ]


class Relapse(PatientRecord):
    class Severity(models.TextChoices):
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        SEVERE = "severe", "Severe"

    onset_date = models.DateField()
    objective_signs = _code(YesNoUnknown.choices, "Confirmed by new objective signs on examination", 8)
    infection_excluded = _code(YesNoUnknown.choices, "Fever and infection excluded (not a pseudo-relapse)", 8)
    steroids = _code(YesNoUnknown.choices, "Treated with corticosteroids", 8)
    severity = _code(Severity.choices, "Relapse severity", 8)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "onset_date"], name="relapse_unique")]


class MriScan(PatientRecord):
    scan_date = models.DateField()
    t2_assessed = models.CharField(max_length=8, choices=YesNoUnknown.choices,
                                   help_text="new/enlarging T2 compared with the previous scan")
    new_enlarging_t2 = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty unless assessed")
    gd_assessed = models.CharField(max_length=8, choices=YesNoUnknown.choices, help_text="Gadolinium given")
    gd_lesions = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty unless assessed")

    class Region(models.TextChoices):
        BRAIN = "brain", "Brain"
        SPINE = "spine", "Spinal cord"
        BRAIN_AND_SPINE = "brain_and_spine", "Brain and spinal cord"

    class FieldStrength(models.TextChoices):
        T1_5 = "1.5T", "1.5 T"
        T3 = "3T", "3 T"
        OTHER = "other", "Other"

    class Reading(models.TextChoices):
        CENTRAL = "central", "Central reading"
        LOCAL = "local", "Local reading"

    region = _code(Region.choices, "Region scanned", 16)
    field_strength = _code(FieldStrength.choices, "Magnet field strength", 6)
    comparator_scan_date = models.DateField(null=True, blank=True,
                                            help_text="Date of the scan new/enlarging T2 lesions are counted against")
    reading = _code(Reading.choices, "Who read the scan", 8)
    steroids_within_30d = _code(YesNoUnknown.choices, "Corticosteroids in the 30 days before the scan", 8)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "scan_date"], name="mri_scan_unique"),
            models.CheckConstraint(condition=Q(comparator_scan_date__isnull=True)
                                   | Q(comparator_scan_date__lt=F("scan_date")), name="mri_comparator_before_scan",
                                   violation_error_message="comparator_scan_date must be before scan_date"),
        ]


class DmtExposure(PatientRecord):
    class StopReason(models.TextChoices):
        LACK_OF_EFFICACY = "lack_of_efficacy", "Lack of efficacy"
        ADVERSE_EVENT = "adverse_event", "Adverse event / intolerance"
        SAFETY_RISK = "safety_risk", "Safety risk (e.g. JC virus antibody positive)"
        PREGNANCY = "pregnancy", "Pregnancy or planned pregnancy"
        PATIENT_CHOICE = "patient_choice", "Patient's choice"
        AHSCT = "ahsct", "Stopped for aHSCT (washout)"
        OTHER = "other", "Other"
        UNKNOWN = "unknown", "Unknown"

    class RestartReason(models.TextChoices):
        RELAPSE = "relapse", "Clinical relapse"
        MRI_ACTIVITY = "mri_activity", "MRI activity"
        PROGRESSION = "progression", "Disability progression"
        PREVENTIVE = "preventive", "Preventive, no activity"
        OTHER = "other", "Other"
        UNKNOWN = "unknown", "Unknown"

    drug = models.CharField(max_length=60)
    start_date = models.DateField()
    stop_date = models.DateField(null=True, blank=True)
    last_dose_date = models.DateField(null=True, blank=True,
                                      help_text="Last infusion or dose (anti-CD20, alemtuzumab, cladribine washout)")
    stop_reason = _code(StopReason.choices, "Why the drug was stopped", 18)
    after_ahsct = _code(YesNo.choices, "Started after aHSCT (a restart of disease-modifying therapy)", 3)
    restart_reason = _code(RestartReason.choices, "Why therapy was restarted after aHSCT", 14)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "drug", "start_date"], name="dmt_exposure_unique"),
            models.CheckConstraint(condition=Q(last_dose_date__isnull=True) | Q(last_dose_date__gte=F("start_date")),
                                   name="dmt_last_dose_after_start",
                                   violation_error_message="last_dose_date must be on or after start_date"),
            models.CheckConstraint(condition=Q(last_dose_date__isnull=True) | Q(stop_date__isnull=True)
                                   | Q(last_dose_date__lte=F("stop_date")), name="dmt_last_dose_before_stop",
                                   violation_error_message="last_dose_date must be on or before stop_date"),
            *row_rule("DmtExposure", "restart_reason", "after_ahsct", text=True, empty_when=("no", "")),
        ]


class Cost(PatientRecord):
    class Category(models.TextChoices):
        MOBILISATION = "mobilisation", "Mobilisation"
        APHERESIS = "apheresis", "Apheresis"
        CRYOPRESERVATION = "cryopreservation", "Cryopreservation"
        CONDITIONING = "conditioning", "Conditioning"
        HOSPITAL_STAY = "hospital_stay", "Hospital stay"
        DRUGS = "drugs", "Drugs"
        FOLLOW_UP = "follow_up", "Follow-up"
        TRAVEL = "travel", "Travel"
        OTHER = "other", "Other"

    cost_date = models.DateField()
    category = models.CharField(max_length=20, choices=Category.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2, validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, help_text="ISO 4217 code, e.g. RUB, USD, EUR")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "cost_date", "category"], name="cost_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="cost_amount_nonnegative"),
        ]


class ViralLoad(PatientRecord):
    """One viral load measurement (CMV, EBV and other monitored viruses) and what it led to."""

    class Virus(models.TextChoices):
        CMV = "cmv", "Cytomegalovirus"
        EBV = "ebv", "Epstein-Barr virus"
        HHV6 = "hhv6", "Human herpesvirus 6"
        ADENOVIRUS = "adenovirus", "Adenovirus"
        BK_VIRUS = "bk_virus", "BK polyomavirus"

    class Treatment(models.TextChoices):
        NONE = "none", "None"
        GANCICLOVIR = "ganciclovir", "Ganciclovir"
        VALGANCICLOVIR = "valganciclovir", "Valganciclovir"
        FOSCARNET = "foscarnet", "Foscarnet"
        CIDOFOVIR = "cidofovir", "Cidofovir"
        RITUXIMAB = "rituximab", "Rituximab"
        OTHER = "other", "Other"

    sample_date = models.DateField()
    virus = models.CharField(max_length=10, choices=Virus.choices)
    load_iu_per_ml = models.PositiveIntegerField(null=True, blank=True,
                                                 help_text="Viral load, IU/mL whole blood or plasma; 0: not detected")
    reactivation = _code(YesNoUnknown.choices, "Counted as a reactivation by the centre's threshold", 8)
    preemptive_treatment = _code(Treatment.choices, "Pre-emptive treatment started on this result", 14)

    class Meta:
        ordering = ["patient", "sample_date", "virus"]
        constraints = [models.UniqueConstraint(fields=["patient", "sample_date", "virus"], name="viral_load_unique")]


class IggLevel(PatientRecord):
    """A serum IgG measurement (hypogammaglobulinaemia after ATG and rituximab) and replacement."""

    sample_date = models.DateField()
    igg_g_per_l = models.DecimalField(max_digits=4, decimal_places=1, validators=_range(0, 60),
                                      help_text="Serum IgG, g/L")
    replacement = _code(YesNoUnknown.choices, "Immunoglobulin replacement given", 8)

    class Meta:
        ordering = ["patient", "sample_date"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "sample_date"], name="igg_level_unique"),
            models.CheckConstraint(condition=Q(igg_g_per_l__gte=0) & Q(igg_g_per_l__lte=60), name="igg_level_range"),
        ]


class LateEffect(PatientRecord):
    """A late effect of transplant: secondary malignancy, PTLD, myelodysplasia or another."""

    class Effect(models.TextChoices):
        SECONDARY_MALIGNANCY = "secondary_malignancy", "Secondary malignancy (solid tumour)"
        HAEMATOLOGICAL_MALIGNANCY = "haematological_malignancy", "Haematological malignancy / MDS"
        PTLD = "ptld", "Post-transplant lymphoproliferative disorder"
        OTHER = "other", "Other"

    effect_id = models.CharField(max_length=32, help_text="Identifier within the patient, e.g. L1")
    effect = models.CharField(max_length=26, choices=Effect.choices)
    diagnosis_date = models.DateField()
    description = models.CharField(max_length=200, blank=True, default="", help_text="e.g. histology")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "effect_id"], name="late_effect_unique")]


class ReproductiveHealth(PatientRecord):
    """Gonadal function and fertility at a date: amenorrhoea, menopause, AMH, preservation, pregnancy."""

    class Preservation(models.TextChoices):
        NONE = "none", "None"
        OOCYTES = "oocytes", "Oocyte cryopreservation"
        EMBRYOS = "embryos", "Embryo cryopreservation"
        OVARIAN_TISSUE = "ovarian_tissue", "Ovarian tissue cryopreservation"
        SPERM = "sperm", "Sperm cryopreservation"
        GNRH_AGONIST = "gnrh_agonist", "GnRH agonist"
        DECLINED = "declined", "Offered and declined"

    class Outcome(models.TextChoices):
        ONGOING = "ongoing", "Ongoing"
        LIVE_BIRTH = "live_birth", "Live birth"
        MISCARRIAGE = "miscarriage", "Miscarriage"
        TERMINATION = "termination", "Termination"
        UNKNOWN = "unknown", "Unknown"

    record_date = models.DateField()
    amenorrhoea = _code(YesNoUnknown.choices, "Amenorrhoea (no menses for ≥ 3 months)", 8)
    menopause = _code(YesNoUnknown.choices, "Menopause (no menses for ≥ 12 months)", 8)
    amh_pmol_per_l = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True,
                                         validators=_range(0, 200), help_text="Anti-Müllerian hormone, pmol/L")
    fertility_preservation = _code(Preservation.choices, "Fertility preservation before treatment", 14)
    pregnancy = _code(YesNoUnknown.choices, "Pregnancy (patient or partner) since the last record", 8)
    pregnancy_outcome = _code(Outcome.choices, "Outcome of the pregnancy", 12)

    class Meta:
        ordering = ["patient", "record_date"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "record_date"], name="reproductive_health_unique"),
            in_range("reproductive_health_amh_range", "amh_pmol_per_l", 0, 200),
            *row_rule("ReproductiveHealth", "pregnancy_outcome", "pregnancy", text=True,
                      empty_when=("no", "unknown", "")),
        ]


class SecondTransplant(PatientRecord):
    """A further haematopoietic cell transplant after the first aHSCT."""

    class Kind(models.TextChoices):
        AUTOLOGOUS = "autologous", "Autologous"
        ALLOGENEIC = "allogeneic", "Allogeneic"

    class Indication(models.TextChoices):
        MS_ACTIVITY = "ms_activity", "MS activity after the first transplant"
        GRAFT_FAILURE = "graft_failure", "Graft failure"
        MALIGNANCY = "malignancy", "Malignancy"
        OTHER = "other", "Other"

    transplant_date = models.DateField(help_text="Day 0 of the further transplant")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    indication = models.CharField(max_length=14, choices=Indication.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "transplant_date"], name="second_transplant_unique"),
        ]


class Membership(models.Model):
    """A user's role: centre staff edit their own centre; a monitor reads every centre, changes nothing."""

    class Role(models.TextChoices):
        STAFF = "staff", "Centre staff"
        MONITOR = "monitor", "Monitor"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    role = models.CharField(max_length=8, choices=Role.choices)
    centre = models.ForeignKey(Centre, null=True, blank=True, on_delete=models.CASCADE, related_name="staff")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(role="staff") & Q(centre__isnull=False)) | Q(role="monitor"),
                name="staff_have_a_centre",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}{'' if self.centre_id is None else ' ' + self.centre.centre_code})"


class AuditEvent(models.Model):
    """One entry of the audit history: who did what, when, with the state before and after."""

    class Action(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        DELETE = "delete", "Delete"
        IMPORT = "import", "Import"
        EXPORT = "export", "Export"
        DOWNLOAD = "download", "Download"
        VIEW = "view", "View of identifiable data"
        LOGIN = "login", "Sign-in"
        LOGIN_FAILED = "login_failed", "Failed sign-in"
        LOGOUT = "logout", "Sign-out"
        LOCKOUT = "lockout", "Account locked"
        DENIED = "denied", "Request refused"
        PERMISSION = "permission", "Role or permission change"

    at = models.DateTimeField(default=timezone.now, db_index=True, help_text="When, in UTC")
    actor = models.CharField(max_length=150, help_text="username, or cli:<os user>")
    action = models.CharField(max_length=16, choices=Action.choices)
    model = models.CharField(max_length=60, blank=True, default="")
    object_pk = models.CharField(max_length=40, blank=True, default="")
    centre_code = models.CharField(max_length=32, blank=True, default="", db_index=True)
    patient_code = models.CharField(max_length=32, blank=True, default="")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    detail = models.JSONField(null=True, blank=True)
    via = models.CharField(max_length=120, blank=True, default="", help_text="View name or command")
    request_id = models.CharField(max_length=64, blank=True, default="")
    ip = models.CharField(max_length=45, blank=True, default="", help_text="Client address of the request")
    prev_hash = models.CharField(max_length=64, blank=True, default="", help_text="Hash of the event before")
    hash = models.CharField(max_length=64, blank=True, default="",
                            help_text="sha256(prev_hash ‖ canonical row), see docs/audit.md")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.model} {self.object_pk}"

    def save(self, *args, **kwargs) -> None:
        """Insert the event; one created directly (not through :mod:`openhsct.registry.audit`) is first
        sealed onto the hash chain with the acting context. Returns nothing."""
        if self._state.adding and not self.hash:
            from openhsct.registry.audit import append

            append([self], using=kwargs.get("using") or "default")
            return
        super().save(*args, **kwargs)


class ProAnswer(PatientRecord):
    """One answer to one item of a patient-reported outcome questionnaire, with who gave it.

    An answer the patient gives (``source`` patient) is a row of its own beside any the clinic records for
    the same date and item (``source`` clinician): neither overwrites the other. The instruments, their
    items, answer codes and scoring live in :mod:`openhsct.outcomes.instruments`.
    """

    class Instrument(models.TextChoices):
        PDDS = "pdds", "Patient Determined Disease Steps"
        EMPLOYMENT = "employment", "Employment status"
        COMMENT = "comment", "Anything else (free text)"

    class Source(models.TextChoices):
        PATIENT = "patient", "Patient"
        CLINICIAN = "clinician", "Clinician"

    response_date = models.DateField(help_text="Date the questionnaire was answered")
    instrument = models.CharField(max_length=16, choices=Instrument.choices)
    item = models.CharField(max_length=40, help_text="Item identifier within the instrument, e.g. pdds")
    answer = models.CharField(max_length=2000, help_text="The answer code (see the instrument) or free text")
    source = models.CharField(max_length=10, choices=Source.choices, help_text="Who gave the answer")

    class Meta:
        ordering = ["patient", "response_date", "instrument", "item"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "response_date", "instrument", "item", "source"],
                                    name="pro_answer_unique"),
        ]


# Each questionnaire item and its answer codes (None: free text). The instruments' wording, licences and
# scoring are in openhsct.outcomes.instruments; a test keeps the two in step.
PRO_ITEMS: dict[tuple[str, str], tuple[str, ...] | None] = {
    ("pdds", "pdds"): tuple(str(step) for step in range(9)),
    ("employment", "employment_status"): ("full_time", "part_time", "sick_leave", "not_working_ms", "unemployed",
                                          "student", "homemaker", "retired", "other"),
    ("comment", "text"): None,
}


class PatientAccount(models.Model):
    """A sign-in for one patient: the user sees that patient's own record and nothing else."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="patient_account")
    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="account")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} → {self.patient}"


class PatientInvite(models.Model):
    """A one-time, expiring sign-in link for a patient. Only the SHA-256 of the token is stored."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="invites")
    token_sha256 = models.CharField(max_length=64, unique=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


def _on(value) -> str:
    """A date or value as shown in a record's name ("?" when missing)."""
    if value is None or value == "":
        return "?"
    if hasattr(value, "strftime") and hasattr(value, "hour"):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


# A readable name per record type (admin lists, change pages, delete confirmations).
RECORD_LABELS = {
    "EligibilityAssessment": lambda r: f"Eligibility {_on(r.decision)}, EDSS {_on(r.edss)} on {_on(r.assessment_date)}",
    "Mobilisation": lambda r: f"Mobilisation {r.mobilisation_id} ({r.regimen}) from {_on(r.start_date)}",
    "ApheresisCollection": lambda r: f"Collection {r.collection_id} on {_on(r.collection_date)}, "
                                     f"CD34+ {_on(r.cd34_1e6_per_kg)}×10⁶/kg",
    "CellProduct": lambda r: f"Bag {r.bag_id} ({_on(r.status)})",
    "CustodyEvent": lambda r: f"Bag {r.product.bag_id if r.product_id else '?'} #{_on(r.seq)} {r.event} "
                              f"at {_on(r.event_at)}",
    "Conditioning": lambda r: f"Conditioning {r.regimen} from {_on(r.start_date)}",
    "ConditioningDrug": lambda r: f"{r.drug} {_on(r.total_dose)} {r.dose_unit}",
    "Transplant": lambda r: f"Transplant, day 0 on {_on(r.day0)}",
    "AdverseEvent": lambda r: f"{r.ae_id} {r.ctcae_term} grade {_on(r.grade)} on {_on(r.onset_date)}",
    "Death": lambda r: f"Death on {_on(r.death_date)}",
    "EdssVisit": lambda r: f"EDSS {_on(r.edss)} on {_on(r.visit_date)}",
    "Relapse": lambda r: f"Relapse on {_on(r.onset_date)}",
    "MriScan": lambda r: f"MRI on {_on(r.scan_date)}",
    "DmtExposure": lambda r: f"{r.drug} from {_on(r.start_date)}" + (f" to {r.stop_date}" if r.stop_date else ""),
    "Cost": lambda r: f"Cost {r.category} {_on(r.amount)} {r.currency} on {_on(r.cost_date)}",
    "ProAnswer": lambda r: f"{r.instrument} {r.item} = {r.answer[:40]} ({r.source}) on {_on(r.response_date)}",
    "ViralLoad": lambda r: f"{r.virus.upper()} load {_on(r.load_iu_per_ml)} IU/mL on {_on(r.sample_date)}",
    "IggLevel": lambda r: f"IgG {_on(r.igg_g_per_l)} g/L on {_on(r.sample_date)}",
    "LateEffect": lambda r: f"Late effect {r.effect_id} {r.effect} on {_on(r.diagnosis_date)}",
    "ReproductiveHealth": lambda r: f"Reproductive health on {_on(r.record_date)}",
    "SecondTransplant": lambda r: f"Second transplant ({r.kind}) on {_on(r.transplant_date)}",
}


def record_label(record: models.Model) -> str:
    """The readable name of a patient's record without the patient: its :data:`RECORD_LABELS` entry, or
    for a record type without one, its type and first date ("Viral load on 2024-05-02")."""
    label = RECORD_LABELS.get(type(record).__name__)
    if label is not None:
        return label(record)
    name = str(record._meta.verbose_name)
    dates = [f for f in record._meta.concrete_fields if isinstance(f, models.DateField)]
    when = f" on {_on(getattr(record, dates[0].attname))}" if dates else ""
    return f"{name[0].upper()}{name[1:]}{when}"

