"""Data entry through the Django admin, scoped by role (see :mod:`openhsct.registry.roles`) and checked by
the registry's rules, the same as every other write (:mod:`openhsct.registry.forms`)."""

from __future__ import annotations

from django.contrib import admin

from openhsct.registry import models as m
from openhsct.registry import roles
from openhsct.registry.exchange import NOT_EXCHANGED
from openhsct.registry.forms import RegistryModelForm
from openhsct.registry.versioning import StaleRecord, with_version_field

admin.site.site_header = "OpenHSCT registry — data entry"
admin.site.site_title = "OpenHSCT"
admin.site.index_title = "Registry tables (your centre only, unless you are a monitor)"


class RuledAdmin(admin.ModelAdmin):
    """An admin whose permissions are read from the access rule table (:mod:`openhsct.security.access`):
    the rule the middleware enforces before a view runs also decides which links, buttons and forms the
    admin offers, and a record is offered only when its centre is one the person may read (to show it) or
    change (to save or delete it). Lists hold the rows of the centres the person may read."""

    centre_lookup = "centre"  # the path from a row to its centre

    def _allows(self, request, view: str, method: str, obj=None) -> bool:
        from openhsct.security.access import admin_allows

        return admin_allows(request.user, self.model, view, method, obj, site=self.admin_site.name)

    def has_module_permission(self, request):
        return self._allows(request, "changelist", "GET")

    def has_view_permission(self, request, obj=None):
        return self._allows(request, "changelist" if obj is None else "change", "GET", obj)

    def has_add_permission(self, request):
        return self._allows(request, "add", "POST")

    def has_change_permission(self, request, obj=None):
        return self._allows(request, "change", "POST", obj)

    def has_delete_permission(self, request, obj=None):
        return self._allows(request, "delete", "POST", obj)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser or roles.is_monitor(request.user):
            return qs
        return qs.filter(**{f"{self.centre_lookup}__in": roles.readable_centres(request.user)})


def _frozen(obj) -> bool:
    """Whether ``obj`` lies within its centre's data freeze: read-only then (docs/data-quality.md)."""
    from openhsct.quality.freeze import is_frozen

    return obj is not None and is_frozen(obj)


class ScopedAdmin(RuledAdmin):
    """Staff see and change their own centre's rows; monitors see all and change nothing. Every add and
    change form runs the registry's rules, as the import and the clinic forms do
    (:class:`~openhsct.registry.forms.RegistryModelForm`)."""

    centre_lookup = "patient__centre"
    form = with_version_field(RegistryModelForm)  # optimistic locking: registry/versioning.py

    def get_readonly_fields(self, request, obj=None):
        """Bookkeeping that is not data (``row_version``) is shown, never typed."""
        fields = [f.name for f in self.model._meta.concrete_fields if f.name in NOT_EXCHANGED]
        return (*super().get_readonly_fields(request, obj), *fields)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not _frozen(obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not _frozen(obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        from openhsct.quality.freeze import with_freeze_check

        return with_freeze_check(super().get_form(request, obj, change, **kwargs))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        centre = roles.staff_centre(request.user)
        if centre is not None and not request.user.is_superuser:
            if db_field.name == "patient":
                kwargs["queryset"] = m.Patient.objects.filter(centre=centre)
            elif db_field.name == "centre":
                kwargs["queryset"] = m.Centre.objects.filter(pk=centre.pk)
            elif db_field.related_model is not None and hasattr(db_field.related_model, "patient"):
                kwargs["queryset"] = db_field.related_model.objects.filter(patient__centre=centre)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not self._allows(request, "change" if change else "add", "POST", obj):  # the centre it now names
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied("You can only change your own centre's patients.")
        super().save_model(request, obj, form, change)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """The change form; a save that lost the race to someone else's (its version no longer current
        when it wrote) is rolled back whole and the person is sent back to the record with the message."""
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except StaleRecord as stale:
            from django.contrib import messages
            from django.http import HttpResponseRedirect

            messages.error(request, str(stale))
            return HttpResponseRedirect(request.get_full_path())


@admin.register(m.Centre)
class CentreAdmin(ScopedAdmin):
    centre_lookup = "pk"
    list_display = ("centre_code", "name", "country", "city", "synthetic")


@admin.register(m.Patient)
class PatientAdmin(ScopedAdmin):
    centre_lookup = "centre"
    list_display = ("patient_code", "centre", "phenotype", "sex", "birth_year", "consent_status")
    list_filter = ("phenotype", "consent_status")
    search_fields = ("patient_code",)


def _register(model, display, date_hierarchy=None):
    """Register ``model``'s admin. Its links to a patient or another record are searched as one types
    (autocomplete, scoped like the lists), so a form shows the chosen record only: never a drop-down of
    every patient of the centre, or of the registry for a monitor."""
    links = tuple(f.name for f in model._meta.fields if f.many_to_one and f.related_model is not m.Centre)
    attrs = {"list_display": ("patient", *display), "search_fields": ("patient__patient_code",),
             "list_select_related": ("patient", "patient__centre"), "autocomplete_fields": links}
    if date_hierarchy:
        attrs["date_hierarchy"] = date_hierarchy
    admin.site.register(model, type(f"{model.__name__}Admin", (ScopedAdmin,), attrs))


_register(m.EligibilityAssessment, ("assessment_date", "edss", "decision"))
_register(m.Mobilisation, ("mobilisation_id", "regimen", "start_date"))
_register(m.ApheresisCollection, ("collection_id", "collection_date", "cd34_1e6_per_kg"))
_register(m.CellProduct, ("bag_id", "status", "storage_location"))
_register(m.CustodyEvent, ("product", "seq", "event", "event_at", "performed_by"))
_register(m.Conditioning, ("regimen", "intensity", "start_date"))
_register(m.ConditioningDrug, ("drug", "total_dose", "dose_unit"))
_register(m.Transplant, ("day0", "cd34_infused_1e6_per_kg", "neutrophil_engraftment_date"))
_register(m.AdverseEvent, ("ctcae_term", "grade", "onset_date", "attribution"))
_register(m.Death, ("death_date", "cause_category", "transplant_related"))
_register(m.EdssVisit, ("visit_date", "edss"), "visit_date")
_register(m.Relapse, ("onset_date",))
_register(m.MriScan, ("scan_date", "new_enlarging_t2", "gd_lesions"))
_register(m.DmtExposure, ("drug", "start_date", "stop_date"))
_register(m.Cost, ("cost_date", "category", "amount", "currency"))
_register(m.ViralLoad, ("sample_date", "virus", "load_iu_per_ml", "reactivation"), "sample_date")
_register(m.IggLevel, ("sample_date", "igg_g_per_l", "replacement"), "sample_date")
_register(m.LateEffect, ("effect_id", "effect", "diagnosis_date"))
_register(m.ReproductiveHealth, ("record_date", "amenorrhoea", "pregnancy"), "record_date")
_register(m.SecondTransplant, ("transplant_date", "kind", "indication"))


@admin.register(m.AuditEvent)
class AuditEventAdmin(RuledAdmin):
    """The audit history is read-only for everyone; staff see their own centre's entries."""

    list_display = ("at", "actor", "action", "model", "object_pk", "centre_code", "patient_code", "changed_fields",
                    "via")
    list_filter = ("action", "model")
    search_fields = ("actor", "patient_code", "centre_code")
    fields = ("at", "actor", "action", "model", "object_pk", "centre_code", "patient_code", "changes", "detail",
              "via", "request_id", "ip", "prev_hash", "hash")
    readonly_fields = fields

    @admin.display(description="changed fields")
    def changed_fields(self, obj) -> str:
        """Returns the names of the fields the event changed, comma-separated."""
        from openhsct.registry.audit import diff

        return ", ".join(k for k, _, _ in diff(obj.before, obj.after))

    @admin.display(description="values before → after")
    def changes(self, obj):
        """Returns an HTML table: one row per changed field, its value before and after."""
        from django.utils.html import format_html, format_html_join

        from openhsct.registry.audit import diff

        rows = format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td></tr>",
                                ((k, "—" if b is None else b, "—" if a is None else a)
                                 for k, b, a in diff(obj.before, obj.after)))
        return format_html('<table class="audit-diff"><thead><tr><th>field</th><th>before</th><th>after</th>'
                           "</tr></thead><tbody>{}</tbody></table>", rows)

    def get_queryset(self, request):
        qs = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser or roles.is_monitor(request.user):
            return qs
        return qs.filter(centre_code__in=roles.readable_centres(request.user).values("centre_code"))


@admin.register(m.Membership)
class MembershipAdmin(RuledAdmin):
    list_display = ("user", "role", "centre")
