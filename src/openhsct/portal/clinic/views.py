"""The clinicians' pages. Each view asks :mod:`openhsct.registry.roles` first, so another centre's staff
get 403 and monitors can read but never write."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from openhsct.portal.clinic import selectors, services
from openhsct.portal.clinic.forms import FORMS
from openhsct.registry import models as m
from openhsct.registry import roles

SERVICES = {
    "edss": services.edss_visit_create,
    "relapse": services.relapse_create,
    "mri": services.mri_scan_create,
    "ae": services.adverse_event_create,
}
SAVED = {"edss": "EDSS visit", "relapse": "Relapse", "mri": "MRI scan", "ae": "Adverse event"}


def clinic_view(view):
    """Signed-in users only; a refusal by the role helpers is answered 403 on a page of the site (with
    its banner and note) that says why, instead of Django's bare one."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied as exc:
            return _render(request, "portal/clinic/forbidden.html", {"reason": str(exc)}, status=403)

    return wrapper


@clinic_view
@require_GET
def index(request):
    centres = roles.readable_centres(request.user)
    return _render(
        request,
        "portal/clinic/index.html",
        {
            "centres": centres,
            "is_monitor": roles.is_monitor(request.user),
            "clinic_here": "index",
        },
    )


@clinic_view
@require_GET
def centre_dashboard(request, centre_code: str):
    centre = roles.get_centre_for_reader(request.user, centre_code)
    return _render(
        request,
        "portal/clinic/centre.html",
        {
            "centre": centre,
            "completeness": selectors.centre_completeness(centre),
            "consent_excluded": selectors.consent_excluded(centre),
            "overdue": selectors.overdue_followup(centre),
            "overdue_months": selectors.FOLLOW_UP_OVERDUE_MONTHS,
            "changes": selectors.recent_changes(centre),
            "patients": selectors.centre_patients(centre),
            "can_write": roles.can_write_centre(request.user, centre),
        },
    )


@clinic_view
@require_GET
def patient_detail(request, centre_code: str, patient_code: str):
    centre = roles.get_centre_for_reader(request.user, centre_code)
    patient = _patient_in(centre, patient_code)
    can_write = roles.can_write_centre(request.user, centre)
    forms = (
        {slug: form(patient=patient, prefix=slug) for slug, (form, _) in FORMS.items()} if can_write else {}
    )
    return _patient_page(request, patient, forms)


@clinic_view
@require_http_methods(["GET", "POST"])
def record_add(request, centre_code: str, patient_code: str, kind: str):
    patient = roles.get_patient_for_writer(request.user, centre_code, patient_code)
    if kind not in FORMS:
        raise Http404("No such record type.")
    page = reverse(f"{request.resolver_match.namespace}:patient", args=[centre_code, patient_code])
    if request.method == "GET":
        return redirect(f"{page}#add-{kind}")
    form_class, _ = FORMS[kind]
    form = form_class(request.POST, patient=patient, prefix=kind)
    if form.is_valid():
        try:
            SERVICES[kind](patient=patient, **form.record_values())
        except IntegrityError:  # the same record saved by someone else since the form was validated
            form.add_error(
                None, "This record was saved meanwhile by someone else; reload the page to see it."
            )
        else:
            messages.success(request, f"{SAVED[kind]} saved for {patient.patient_code}.")
            return redirect(page)
    forms = {
        slug: (form if slug == kind else cls(patient=patient, prefix=slug))
        for slug, (cls, _) in FORMS.items()
    }
    return _patient_page(request, patient, forms, status=400, invalid=kind)


def _patient_in(centre: m.Centre, patient_code: str) -> m.Patient:
    patient = (
        m.Patient.objects.select_related("centre").filter(centre=centre, patient_code=patient_code).first()
    )
    if patient is None:
        raise Http404("No such patient at this centre.")
    return patient


def _patient_page(request, patient: m.Patient, forms: dict, *, status: int = 200, invalid: str | None = None):
    sections = [(slug, FORMS[slug][1], form) for slug, form in forms.items()]
    return _render(
        request,
        "portal/clinic/patient.html",
        {
            "centre": patient.centre,
            "patient": patient,
            "timeline": selectors.patient_timeline(patient),
            "sections": sections,
            "invalid": invalid,
        },
        status=status,
    )


def _render(request, template: str, context: dict, *, status: int = 200):
    """Render with what every clinic page needs: its URL namespace (the area may be included under the
    portal's) and the user's role in words."""
    membership = roles.membership(request.user)
    role = (
        "administrator"
        if request.user.is_superuser
        else (
            None
            if membership is None
            else membership.get_role_display().lower()
            + (f", {membership.centre.centre_code}" if membership.centre_id else "")
        )
    )
    context = {"clinic_ns": request.resolver_match.namespace, "clinic_role": role, **context}
    return render(request, template, context, status=status)
