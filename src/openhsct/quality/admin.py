"""The data manager's tables in the Django admin.

Queries, confirmations, verifications and freezes are changed only through the clinic's workflow (which
audits each step), so the admin shows them read-only to anyone with a role (staff: their own centre). A
centre's visit schedule is set here by the administrator; its milestones are checked as the schedule
reads them.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin

from openhsct.quality import models as q
from openhsct.quality.schedule import ScheduleError, parse_milestones
from openhsct.registry.admin import RuledAdmin


class ReadOnlyScoped(RuledAdmin):
    """Visible to users with a role, scoped to the staff member's centre; nobody adds, changes or deletes
    (the access rule table says so: :func:`openhsct.security.access._model_rules`)."""


@admin.register(q.Query)
class QueryAdmin(ReadOnlyScoped):
    list_display = ("id", "centre", "patient", "model", "object_pk", "field", "origin", "status", "raised_at")
    list_filter = ("status", "origin")


@admin.register(q.WarningConfirmation)
class WarningConfirmationAdmin(ReadOnlyScoped):
    list_display = ("confirmed_at", "centre", "patient", "check_code", "model", "object_pk", "confirmed_by")
    list_filter = ("check_code",)


@admin.register(q.SourceVerification)
class SourceVerificationAdmin(ReadOnlyScoped):
    list_display = ("at", "centre", "patient", "model", "object_pk", "status", "by")
    list_filter = ("status",)


@admin.register(q.Freeze)
class FreezeAdmin(ReadOnlyScoped):
    list_display = ("centre", "frozen_until", "reason", "frozen_by", "frozen_at", "lifted_at", "lift_reason")


class VisitScheduleForm(forms.ModelForm):
    class Meta:
        model = q.VisitSchedule
        fields = ["centre", "milestones", "repeat_months", "window_days"]

    def clean_milestones(self) -> str:
        """The milestones as written, once :func:`parse_milestones` has read them."""
        text = self.cleaned_data["milestones"]
        try:
            parse_milestones(text)
        except ScheduleError as exc:
            raise forms.ValidationError(str(exc)) from None
        return text


@admin.register(q.VisitSchedule)
class VisitScheduleAdmin(RuledAdmin):
    """The administrator sets a centre's protocol; others with a role may read their centres' ones."""

    form = VisitScheduleForm
    list_display = ("centre", "milestones", "repeat_months", "window_days")
