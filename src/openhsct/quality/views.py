"""The data manager's pages inside the clinicians' area: queries (raise, answer, close, re-open, CSV),
source-data verification, freezes and the reminder list.

Who may do what is each URL's rule in :mod:`openhsct.security.access`, enforced before the view runs: a
monitor (or the administrator) raises, closes and re-opens queries, verifies records and freezes centres;
the centre's own staff answer queries. A centre the user cannot read, and a query or patient not of the
centre named in the address, are not found (404). Every change is written to the audit history by
:mod:`openhsct.quality.services`.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from openhsct.portal.clinic.views import _monitors, _render, clinic_view
from openhsct.quality import services
from openhsct.quality.models import Query
from openhsct.registry import models as m
from openhsct.registry import roles
from openhsct.security import access, keys

QUERY_STATES = ("open", "answered", "closed")


def _centre(request, centre_code: str) -> m.Centre:
    """Returns the centre named in the address (the URL's rule has scoped it to the user)."""
    return access.centre_named(centre_code)


def _query(centre: m.Centre, query_id: int) -> Query:
    q = Query.objects.filter(centre=centre, pk=query_id).select_related("patient", "centre").first()
    if q is None:
        raise Http404("No such query at this centre.")
    return q


def _back(request, centre: m.Centre, patient: m.Patient | None = None):
    """Back to the patient page (when the form came from there) or to the centre's queries."""
    ns = request.resolver_match.namespace
    if patient is not None and request.POST.get("back") == "patient":
        return redirect(reverse(f"{ns}:patient", args=[centre.centre_code, keys.key_of(patient)]) + "#queries")
    if request.POST.get("back") == "dashboard":
        return redirect(reverse(f"{ns}:centre", args=[centre.centre_code]))
    return redirect(reverse(f"{ns}:queries", args=[centre.centre_code]))


def _csv(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@clinic_view
@require_GET
def queries(request, centre_code: str):
    centre = _centre(request, centre_code)
    status = request.GET.get("status", "")
    status = status if status in QUERY_STATES else ""
    return _render(request, "portal/clinic/queries.html", {
        "centre": centre,
        "queries": services.centre_queries(centre, status or None),
        "status": status,
        "states": QUERY_STATES,
        "is_monitor": _monitors(request.user),
        "can_write": roles.can_write_centre(request.user, centre),
    })


@clinic_view
@require_GET
def queries_csv(request, centre_code: str):
    """The centre's open queries (open or answered, not closed) as a CSV attachment."""
    centre = _centre(request, centre_code)
    rows = services.centre_queries(centre).exclude(status=Query.Status.CLOSED)
    return _csv(services.queries_csv(rows), f"{centre.centre_code}-open-queries.csv")


@clinic_view
@require_POST
def query_raise(request, centre_code: str, patient_key: str):
    patient = access.patient_named(centre_code, patient_key)
    centre = patient.centre
    model, _, rest = request.POST.get("target", "").partition(":")
    pk, _, field = rest.partition(":")
    origin = request.POST.get("origin", Query.Origin.MONITOR)
    origin = origin if origin in {Query.Origin.MONITOR, Query.Origin.WARNING} else Query.Origin.MONITOR
    try:
        q = services.raise_query(user=request.user, patient=patient, model=model, object_pk=pk, field=field,
                                 text=request.POST.get("text", ""), origin=origin)
    except services.WorkflowError as exc:
        messages.error(request, f"The query was not raised: {exc}")
    else:
        messages.success(request, f"Query {q.pk} raised on {patient.patient_code}.")
    return _back(request, centre, patient)


def _step(request, centre_code: str, query_id: int, *, action, done: str):
    centre = _centre(request, centre_code)
    q = _query(centre, query_id)
    try:
        action(user=request.user, query=q, text=request.POST.get("text", ""))
    except services.WorkflowError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Query {q.pk} {done}.")
    return _back(request, centre, q.patient)


@clinic_view
@require_POST
def query_answer(request, centre_code: str, query_id: int):
    return _step(request, centre_code, query_id, action=services.answer_query,
                 done="answered")


@clinic_view
@require_POST
def query_close(request, centre_code: str, query_id: int):
    return _step(request, centre_code, query_id, action=services.close_query, done="closed")


@clinic_view
@require_POST
def query_reopen(request, centre_code: str, query_id: int):
    return _step(request, centre_code, query_id, action=services.reopen_query, done="re-opened")


@clinic_view
@require_POST
def verify(request, centre_code: str, patient_key: str):
    patient = access.patient_named(centre_code, patient_key)
    centre = patient.centre
    model, _, pk = request.POST.get("record", "").partition(":")
    try:
        services.set_verification(user=request.user, patient=patient, model=model, object_pk=pk,
                                  status=request.POST.get("status", ""), note=request.POST.get("note", ""))
    except services.WorkflowError as exc:
        messages.error(request, f"Verification not saved: {exc}")
    else:
        messages.success(request, f"Verification of {model} {pk} saved.")
    ns = request.resolver_match.namespace
    return redirect(reverse(f"{ns}:patient", args=[centre.centre_code, patient_key]) + "#timeline")


@clinic_view
@require_POST
def freeze(request, centre_code: str):
    centre = _centre(request, centre_code)
    try:
        until = dt.date.fromisoformat(request.POST.get("until", "").strip())
    except ValueError:
        messages.error(request, "Not frozen: give the date to freeze up to as YYYY-MM-DD.")
        return _back_to_dashboard(request, centre)
    try:
        services.freeze_centre(user=request.user, centre=centre, until=until, reason=request.POST.get("reason", ""))
    except services.WorkflowError as exc:
        messages.error(request, f"Not frozen: {exc}")
    else:
        messages.success(request, f"{centre.centre_code} frozen up to {until:%Y-%m-%d}.")
    return _back_to_dashboard(request, centre)


@clinic_view
@require_POST
def unfreeze(request, centre_code: str):
    centre = _centre(request, centre_code)
    try:
        services.lift_freeze(user=request.user, centre=centre, reason=request.POST.get("reason", ""))
    except services.WorkflowError as exc:
        messages.error(request, f"The freeze was not lifted: {exc}")
    else:
        messages.success(request, f"The freeze of {centre.centre_code} was lifted.")
    return _back_to_dashboard(request, centre)


def _back_to_dashboard(request, centre: m.Centre):
    ns = request.resolver_match.namespace
    return redirect(reverse(f"{ns}:centre", args=[centre.centre_code]) + "#freeze")


@clinic_view
@require_GET
def reminders_csv(request, centre_code: str):
    """The centre's due and overdue follow-up visits as a CSV reminder list."""
    centre = _centre(request, centre_code)
    lists = services.follow_up_lists(centre)
    return _csv(services.reminders_csv(centre, lists), f"{centre.centre_code}-follow-up-reminders.csv")
