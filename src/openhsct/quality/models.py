"""Tables of the data manager's tools. Each refers to a registry record by its model name and primary key
(``model`` + ``object_pk``), as the audit history does, so one table serves every kind of record. Every
save of these tables is written to the audit history by :mod:`openhsct.registry.audit` (they belong to
an audited app), with the values before and after.

- :class:`WarningConfirmation`: a soft check a person confirmed ("I have checked this value");
- :class:`Query`: a question on one field of one record (raised by a rule, a warning or a monitor),
  answered by the centre's staff, closed or re-opened by the monitor; :class:`QueryMessage` is its thread;
- :class:`SourceVerification`: the source-data verification status of one record (set by monitors);
- :class:`Freeze`: a centre's data frozen up to a date (read-only until unfrozen);
- :class:`VisitSchedule`: a centre's follow-up protocol (default: day 100, 6 months, then yearly).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from openhsct.registry.models import Centre, Patient


class RecordRef(models.Model):
    """Abstract: a reference to one registry record of one patient of one centre."""

    centre = models.ForeignKey(Centre, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey(Patient, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    model = models.CharField(max_length=60, help_text="Registry model name, e.g. EdssVisit")
    object_pk = models.CharField(max_length=40, help_text="Primary key of the record")

    class Meta:
        abstract = True


class WarningConfirmation(RecordRef):
    """A plausibility warning that a person checked and confirmed when saving the record."""

    check_code = models.CharField(max_length=40, help_text="Code of the soft check, e.g. edss_jump")
    message = models.CharField(max_length=500)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    confirmed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-confirmed_at", "-id"]


class Query(RecordRef):
    """A data query on one field of one record: raised, answered by centre staff, closed by a monitor."""

    class Origin(models.TextChoices):
        RULE = "rule", "Rule"
        WARNING = "warning", "Soft check"
        MONITOR = "monitor", "Monitor"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ANSWERED = "answered", "Answered"
        CLOSED = "closed", "Closed"

    field = models.CharField(max_length=60, help_text="Field of the record the query is about")
    origin = models.CharField(max_length=8, choices=Origin.choices)
    text = models.TextField(help_text="What is being asked")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+", help_text="Empty when raised by a rule")
    raised_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        verbose_name_plural = "queries"
        indexes = [models.Index(fields=["centre", "status"], name="query_centre_status")]

    def __str__(self) -> str:
        return f"Query {self.pk} on {self.model} {self.object_pk} {self.field} ({self.status})"


class QueryMessage(models.Model):
    """One step of a query's thread: raised, answered, closed or re-opened, with its text. It carries the
    query's centre and patient so that the audit history of the patient shows each step with its text."""

    class Step(models.TextChoices):
        RAISE = "raise", "Raised"
        ANSWER = "answer", "Answered"
        CLOSE = "close", "Closed"
        REOPEN = "reopen", "Re-opened"

    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="messages")
    centre = models.ForeignKey(Centre, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey(Patient, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    step = models.CharField(max_length=8, choices=Step.choices)
    text = models.TextField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                           related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]


class SourceVerification(RecordRef):
    """Source-data verification of one record against the clinic's source documents (monitors only)."""

    class Status(models.TextChoices):
        NOT_VERIFIED = "not_verified", "Not verified"
        VERIFIED = "verified", "Verified"
        DISCREPANCY = "discrepancy", "Discrepancy found"

    status = models.CharField(max_length=12, choices=Status.choices)
    note = models.CharField(max_length=500, blank=True, default="")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "object_pk"], name="sdv_one_per_record")]


class Freeze(models.Model):
    """A centre's records dated on or before ``frozen_until`` are read-only while the freeze is active
    (``lifted_at`` empty). Lifting keeps the row, with who lifted it and why."""

    centre = models.ForeignKey(Centre, on_delete=models.CASCADE, related_name="+")
    frozen_until = models.DateField(help_text="Records dated on or before this day are frozen")
    reason = models.CharField(max_length=500)
    frozen_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    frozen_at = models.DateTimeField(auto_now_add=True)
    lifted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+")
    lifted_at = models.DateTimeField(null=True, blank=True)
    lift_reason = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-frozen_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["centre"], condition=Q(lifted_at__isnull=True),
                                    name="one_active_freeze_per_centre"),
            models.CheckConstraint(condition=~Q(reason=""), name="freeze_reason_required"),
        ]

    def __str__(self) -> str:
        state = "active" if self.lifted_at is None else "lifted"
        return f"{self.centre.centre_code} frozen up to {self.frozen_until:%Y-%m-%d} ({state})"


class VisitSchedule(models.Model):
    """A centre's follow-up protocol: milestones after day 0, then a visit every ``repeat_months``."""

    centre = models.OneToOneField(Centre, on_delete=models.CASCADE, related_name="+")
    milestones = models.CharField(
        max_length=200, default="100d 6m 12m",
        help_text="Visits after day 0, separated by spaces: days (100d) or months (6m), in order")
    repeat_months = models.PositiveSmallIntegerField(
        default=12, validators=[MaxValueValidator(60)],
        help_text="After the last milestone, a visit every this many months (0: none)")
    window_days = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(183)],
        help_text="A visit this many days either side of the target date counts; after it, overdue")

    def __str__(self) -> str:
        return f"{self.centre.centre_code}: {self.milestones}, every {self.repeat_months} months"
