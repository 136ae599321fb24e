"""The aHSCT pathway, one model per concept.

Rules the database can hold live here as constraints (ranges, uniqueness, codes); the import and the
forms repeat them with messages a person can act on. Where a form needs it, a coded ``unknown`` or
``not done`` value is distinct from an empty cell, as on EBMT MED-A and CIBMTR forms.
Every table's exchange column names are its field names (see :mod:`openhsct.registry.exchange`).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


def validate_edss_step(value) -> None:
    """EDSS is scored 0–10 in steps of 0.5 (Kurtzke 1983)."""
    if value is None:
        return
    if (Decimal(str(value)) * 2) % 1 != 0:
        raise ValidationError("EDSS must be a multiple of 0.5", code="edss_step")


EDSS_VALIDATORS = [MinValueValidator(0), MaxValueValidator(10), validate_edss_step]


class YesNo(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"


class YesNoUnknown(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    UNKNOWN = "unknown", "Unknown"


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


class Patient(models.Model):
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

    class Meta:
        ordering = ["centre__centre_code", "patient_code"]
        constraints = [
            models.UniqueConstraint(fields=["centre", "patient_code"], name="patient_code_unique_in_centre"),
            models.CheckConstraint(condition=Q(birth_year__gte=1900) & Q(birth_year__lte=2100),
                                   name="patient_birth_year_range"),
        ]

    def __str__(self) -> str:
        return f"{self.centre.centre_code}/{self.patient_code}"


class PatientRecord(models.Model):
    """Abstract base for every record that belongs to one patient."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True


class EligibilityAssessment(PatientRecord):
    class Decision(models.TextChoices):
        ELIGIBLE = "eligible", "Eligible"
        NOT_ELIGIBLE = "not_eligible", "Not eligible"
        DEFERRED = "deferred", "Deferred"

    assessment_date = models.DateField()
    edss = models.DecimalField(max_digits=3, decimal_places=1, validators=EDSS_VALIDATORS, help_text="EDSS 0–10, steps of 0.5")
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

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "mobilisation_id"], name="mobilisation_unique")]


class ApheresisCollection(PatientRecord):
    collection_id = models.CharField(max_length=32, help_text="Identifier within the patient, e.g. A1")
    mobilisation = models.ForeignKey(Mobilisation, on_delete=models.PROTECT, related_name="collections")
    collection_date = models.DateField()
    cd34_1e6_per_kg = models.DecimalField(max_digits=6, decimal_places=2, help_text="CD34+ cells ×10⁶/kg collected")
    volume_ml = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True, help_text="mL")

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
    collection = models.ForeignKey(ApheresisCollection, on_delete=models.PROTECT, related_name="products")
    cryopreservation_date = models.DateField()
    storage_location = models.CharField(max_length=80)
    status = models.CharField(max_length=10, choices=Status.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "bag_id"], name="cell_product_unique")]


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
    atg = models.CharField(max_length=3, choices=YesNo.choices, help_text="Anti-thymocyte globulin given")
    rituximab = models.CharField(max_length=3, choices=YesNo.choices)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient"], name="conditioning_one_per_patient")]


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

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient"], name="transplant_one_per_patient"),
            models.CheckConstraint(condition=Q(cd34_infused_1e6_per_kg__gt=0), name="transplant_cd34_positive"),
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

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "ae_id"], name="adverse_event_unique"),
            models.CheckConstraint(condition=Q(grade__gte=1) & Q(grade__lte=5), name="adverse_event_grade_range"),
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

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient"], name="death_one_per_patient")]


class EdssVisit(PatientRecord):
    visit_date = models.DateField()
    edss = models.DecimalField(max_digits=3, decimal_places=1, validators=EDSS_VALIDATORS, help_text="EDSS 0–10, steps of 0.5")

    class Meta:
        ordering = ["patient", "visit_date"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "visit_date"], name="edss_visit_unique"),
            models.CheckConstraint(condition=Q(edss__gte=0) & Q(edss__lte=10), name="edss_visit_range"),
        ]


class Relapse(PatientRecord):
    onset_date = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "onset_date"], name="relapse_unique")]


class MriScan(PatientRecord):
    scan_date = models.DateField()
    t2_assessed = models.CharField(max_length=8, choices=YesNoUnknown.choices,
                                   help_text="new/enlarging T2 compared with the previous scan")
    new_enlarging_t2 = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty unless assessed")
    gd_assessed = models.CharField(max_length=8, choices=YesNoUnknown.choices, help_text="Gadolinium given")
    gd_lesions = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty unless assessed")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "scan_date"], name="mri_scan_unique")]


class DmtExposure(PatientRecord):
    drug = models.CharField(max_length=60)
    start_date = models.DateField()
    stop_date = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "drug", "start_date"], name="dmt_exposure_unique")]


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

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150, help_text="username, or cli:<os user>")
    action = models.CharField(max_length=8, choices=Action.choices)
    model = models.CharField(max_length=60, blank=True, default="")
    object_pk = models.CharField(max_length=40, blank=True, default="")
    centre_code = models.CharField(max_length=32, blank=True, default="", db_index=True)
    patient_code = models.CharField(max_length=32, blank=True, default="")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    detail = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.model} {self.object_pk}"


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
