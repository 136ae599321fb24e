"""The clinicians' pages. Who may open and post to each is the URL's rule in
:mod:`openhsct.security.access` (enforced before the view runs): another centre's staff get 404, as for a
centre that does not exist, and monitors can read but never write records."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from openhsct.portal.clinic import selectors, services
from openhsct.portal.clinic.charts import timeline_chart, timeline_points
from openhsct.portal.clinic.forms import FORMS
from openhsct.quality import services as quality
from openhsct.quality.freeze import active_freeze
from openhsct.quality.models import Query, SourceVerification
from openhsct.registry import models as m
from openhsct.registry import roles
from openhsct.registry.audit import history_for
from openhsct.security import access

SERVICES = {
    "edss": services.edss_visit_create,
    "relapse": services.relapse_create,
    "mri": services.mri_scan_create,
    "ae": services.adverse_event_create,
    "dmt": services.record_create(m.DmtExposure),
    "viral-load": services.record_create(m.ViralLoad),
    "igg": services.record_create(m.IggLevel),
    "late-effect": services.record_create(m.LateEffect),
    "reproductive": services.record_create(m.ReproductiveHealth),
    "second-transplant": services.record_create(m.SecondTransplant),
}
SAVED = {"edss": "EDSS visit", "relapse": "Relapse", "mri": "MRI scan", "ae": "Adverse event",
         "dmt": "Disease-modifying therapy", "viral-load": "Viral load", "igg": "Serum IgG",
         "late-effect": "Late effect", "reproductive": "Reproductive health record",
         "second-transplant": "Further transplant"}
PATIENTS_PER_PAGE = 25
FOLLOWUP_PER_PAGE = 20
CONFIRM = "confirm"  # the "I have checked this value" checkbox, prefixed by the form's slug


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
    counts = quality.open_query_counts()
    return _render(
        request,
        "portal/clinic/index.html",
        {
            "centres": [(c, counts.get(c.centre_code, 0)) for c in centres],
            "is_monitor": roles.is_monitor(request.user),
            "clinic_here": "index",
        },
    )


@clinic_view
@require_GET
def centre_dashboard(request, centre_code: str):
    centre = access.centre_named(centre_code)
    search = request.session.get(SEARCH_SESSION_KEY, {}).get(centre.centre_code, "")
    followup = selectors.followup_lists(centre)
    open_queries = quality.centre_queries(centre).exclude(status=Query.Status.CLOSED)
    return _render(
        request,
        "portal/clinic/centre.html",
        {
            "centre": centre,
            "completeness": selectors.centre_completeness(centre),
            "consent_excluded": selectors.consent_excluded(centre),
            "overdue": _page(request, followup["overdue"], "overdue_page", FOLLOWUP_PER_PAGE),
            "due": _page(request, followup["due"], "due_page", FOLLOWUP_PER_PAGE),
            "protocol": quality.protocol_for(centre),
            "changes": selectors.recent_changes(centre),
            "patients": _page(request, selectors.centre_patients(centre, search), "page", PATIENTS_PER_PAGE),
            "search": search,
            "open_queries": open_queries[:10],
            "open_query_count": open_queries.count(),
            "freeze": active_freeze(centre),
            "can_write": roles.can_write_centre(request.user, centre),
            "is_monitor": _monitors(request.user),
        },
    )


#: Where the dashboard's patient search keeps each centre's typed text: the server-side session, never the
#: address, so a patient code typed into the search reaches no address bar, history, proxy log or Referer.
SEARCH_SESSION_KEY = "clinic_patient_search"


@clinic_view
@require_http_methods(["POST"])
def find_patient(request, centre_code: str):
    """The dashboard's patient search: keeps the typed text (up to 32 characters; empty clears it) in the
    session for this centre and sends the browser back to the dashboard's patient list (303)."""
    centre = access.centre_named(centre_code)
    text = request.POST.get("q", "").strip()[:32]
    searches = dict(request.session.get(SEARCH_SESSION_KEY, {}))
    if text:
        searches[centre.centre_code] = text
    else:
        searches.pop(centre.centre_code, None)
    request.session[SEARCH_SESSION_KEY] = searches
    url = reverse(f"{request.resolver_match.namespace}:centre", args=[centre.centre_code]) + "#patients"
    response = HttpResponseRedirect(url)
    response.status_code = 303  # See Other: the browser follows with a GET
    return response


def _page(request, items, param: str, per_page: int):
    """The page of ``items`` asked for by the query parameter ``param`` (the last page when too high),
    with ``previous_url`` and ``next_url`` (query strings keeping the other parameters; "" at the ends)."""
    page = Paginator(items, per_page).get_page(request.GET.get(param))

    def url(number: int) -> str:
        query = request.GET.copy()
        query[param] = str(number)
        return f"?{query.urlencode()}"

    page.previous_url = url(page.previous_page_number()) if page.has_previous() else ""
    page.next_url = url(page.next_page_number()) if page.has_next() else ""
    return page


def _monitors(user) -> bool:
    """Whether ``user`` may do a monitor's work (raise and close queries, verify, freeze)."""
    return user.is_superuser or roles.is_monitor(user)


@clinic_view
@require_GET
def patient_detail(request, centre_code: str, patient_key: str):
    patient = access.patient_named(centre_code, patient_key)
    can_write = roles.can_write_centre(request.user, patient.centre)
    forms = (
        {slug: form(patient=patient, prefix=slug) for slug, (form, _) in FORMS.items()} if can_write else {}
    )
    return _patient_page(request, patient, forms)


@clinic_view
@require_http_methods(["GET", "POST"])
def record_add(request, centre_code: str, patient_key: str, kind: str):
    patient = access.patient_named(centre_code, patient_key)
    if kind not in FORMS:
        raise Http404("No such record type.")
    page = reverse(f"{request.resolver_match.namespace}:patient", args=[centre_code, patient_key])
    if request.method == "GET":
        return redirect(f"{page}#add-{kind}")
    form_class, _ = FORMS[kind]
    form = form_class(request.POST, patient=patient, prefix=kind)
    found = []
    if form.is_valid():
        found = quality.form_warnings(patient, kind, form.record_values())
        if not found or request.POST.get(f"{kind}-{CONFIRM}") == "yes":
            saved = _save(request, form, kind, patient, found)
            if saved:
                return redirect(page)
    forms = {
        slug: (form if slug == kind else cls(patient=patient, prefix=slug))
        for slug, (cls, _) in FORMS.items()
    }
    status = 200 if found and not form.errors else 400
    return _patient_page(request, patient, forms, status=status, invalid=kind, warnings={kind: found})


def _save(request, form, kind: str, patient: m.Patient, found: list) -> bool:
    """Save the form's record and the warnings the user confirmed; False (with a form error) when the
    same record was saved meanwhile by someone else."""
    try:
        record = SERVICES[kind](patient=patient, **form.record_values())
    except IntegrityError:  # the same record saved by someone else since the form was validated
        form.add_error(None, "This record was saved meanwhile by someone else; reload the page to see it.")
        return False
    quality.confirm_warnings(user=request.user, patient=patient, record=record, found=found)
    confirmed = f" ({len(found)} warning{'s' if len(found) != 1 else ''} confirmed)" if found else ""
    messages.success(request, f"{SAVED[kind]} saved for {patient.patient_code}{confirmed}.")
    return True


def _patient_page(request, patient: m.Patient, forms: dict, *, status: int = 200, invalid: str | None = None,
                  warnings: dict | None = None):
    warnings = warnings or {}
    sections = [(slug, FORMS[slug][1], form, warnings.get(slug, [])) for slug, form in forms.items()]
    timeline = selectors.patient_timeline(patient)
    points = timeline_points(patient)
    monitor = _monitors(request.user)
    checked = quality.verifications(patient)
    return _render(
        request,
        "portal/clinic/patient.html",
        {
            "centre": patient.centre,
            "patient": patient,
            "timeline": [(e, checked.get((e.model, str(e.pk)))) for e in timeline],
            "chart": timeline_chart(points),
            "chart_points": points,
            "sections": sections,
            "invalid": invalid,
            "warned": any(warnings.values()),
            "soft_warnings": quality.patient_warnings(patient),
            "queries": Query.objects.filter(patient=patient).prefetch_related("messages__by"),
            "audit_history": history_for(patient),
            "is_monitor": monitor,
            "can_write": roles.can_write_centre(request.user, patient.centre),
            "query_targets": _query_targets(timeline) if monitor else [],
            "sdv_statuses": SourceVerification.Status.choices,
            "freeze": active_freeze(patient.centre),
        },
        status=status,
    )


def _query_targets(timeline) -> list[tuple[str, str]]:
    """(value, label) of every field a monitor may raise a query on: each record's own fields."""
    out = []
    for e in timeline:
        if not e.model:
            continue
        model = getattr(m, e.model)
        for f in model._meta.concrete_fields:
            if f.name in {"id", "patient"} or f.is_relation:
                continue
            out.append((f"{e.model}:{e.pk}:{f.name}", f"{e.kind} {e.date:%Y-%m-%d}: {f.verbose_name}"))
    return out


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
