"""The patient pages. Every page of a patient's record asks :func:`own_account` first: another patient's
address answers 404, exactly as an address that does not exist."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from openhsct.errors import OpenHSCTError
from openhsct.outcomes.instruments import INSTRUMENTS
from openhsct.portal.patient import selectors, services
from openhsct.registry import models as m
from openhsct.registry import roles

NS = "patient"


def own_account(request, pk: int) -> m.PatientAccount:
    """The signed-in user's patient account if it is patient ``pk``; 404 for anyone else."""
    account = m.PatientAccount.objects.select_related("patient__centre", "user").filter(
        user_id=request.user.pk).first() if request.user.is_authenticated else None
    if account is None or account.patient_id != pk:
        raise Http404("No such page.")
    return account


def _url(name: str, *args) -> str:
    return reverse(f"{NS}:{name}", args=args)


@require_GET
def start(request):
    """``/patient/``: a signed-in patient goes to their own page; anyone else to the sign-in page."""
    account = m.PatientAccount.objects.filter(user_id=request.user.pk).first() if request.user.is_authenticated \
        else None
    if account is None:
        return redirect(_url("sign_in"))
    return redirect(_url("home", account.patient_id))


@require_http_methods(["GET", "POST"])
def join(request, token: str):
    """The invitation link: a page with one button (so that link previews do not use it up); the POST
    signs the patient in and marks the link used."""
    try:
        invite = services.patient_invite_valid(token)
    except OpenHSCTError as exc:
        return render(request, "portal/patient/join.html", {"error": exc.message}, status=410)
    if request.method == "POST":
        try:
            account = services.patient_invite_redeem(token)
        except OpenHSCTError as exc:
            return render(request, "portal/patient/join.html", {"error": exc.message}, status=410)
        login(request, account.user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(_url("home", account.patient_id))
    return render(request, "portal/patient/join.html", {"centre": invite.patient.centre})


@login_required(login_url="/patient/sign-in/")
@require_GET
def home(request, pk: int):
    account = own_account(request, pk)
    patient = account.patient
    return render(request, "portal/patient/home.html", {
        "account": account, "patient": patient,
        "due": selectors.questionnaires_due(patient, dt.date.today()),
        "timeline": selectors.timeline(patient),
        "consent_publication": patient.consent_publication != "no" and patient.consent_status == "given",
        "consent_registry": patient.consent_status == "given",
    })


@login_required(login_url="/patient/sign-in/")
@require_http_methods(["GET", "POST"])
def questionnaire(request, pk: int, code: str):
    account = own_account(request, pk)
    inst = INSTRUMENTS.get(code)
    if inst is None:
        raise Http404("No such questionnaire.")
    error = None
    if request.method == "POST":
        answers = {item.item_id: request.POST.get(item.item_id, "") for item in inst.items}
        try:
            services.pro_answers_record(patient=account.patient, instrument_code=code, answers=answers,
                                        response_date=dt.date.today())
        except OpenHSCTError as exc:
            error = exc.message
        else:
            messages.success(request, f"Thank you: your answers to “{inst.name}” are saved.")
            return redirect(_url("home", pk))
    return render(request, "portal/patient/questionnaire.html",
                  {"patient": account.patient, "inst": inst, "error": error}, status=400 if error else 200)


@login_required(login_url="/patient/sign-in/")
@require_http_methods(["GET", "POST"])
def consent(request, pk: int):
    account = own_account(request, pk)
    if request.method == "POST":
        scope = request.POST.get("scope", "")
        if request.POST.get("confirm") != "yes":
            messages.error(request, "Tick the box to confirm, then press the button again.")
            return redirect(_url("consent", pk))
        try:
            services.patient_consent_withdraw(patient=account.patient, scope=scope, on=dt.date.today())
        except OpenHSCTError as exc:
            raise Http404(exc.message) from None
        messages.success(request, "Your choice is recorded with today's date. Your clinic sees it, and the next "
                         "data release will leave your data out of the published figures.")
        return redirect(_url("home", pk))
    return render(request, "portal/patient/consent.html", {"patient": account.patient})


@login_required(login_url="/patient/sign-in/")
@require_http_methods(["GET", "POST"])
def password(request, pk: int):
    account = own_account(request, pk)
    error = None
    if request.method == "POST":
        new = request.POST.get("password", "")
        if new != request.POST.get("password2", ""):
            error = "The two passwords differ."
        else:
            try:
                services.patient_password_set(account=account, password=new)
            except OpenHSCTError as exc:
                error = exc.message
            else:
                login(request, account.user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(request, f"Password set. Your user name is {account.user.get_username()}.")
                return redirect(_url("home", pk))
    return render(request, "portal/patient/password.html", {"patient": account.patient, "account": account,
                                                            "error": error})


@login_required(login_url="/patient/sign-in/")
@require_GET
def download_csv(request, pk: int):
    """All the patient's data: one CSV per table of the exchange format, in a ZIP file."""
    account = own_account(request, pk)
    from openhsct.registry.csvsafe import frame_csv
    from openhsct.registry.exchange import tables

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, frame in selectors.own_tables(account.patient).items():
            zf.writestr(f"{name}.csv", frame_csv(frame, tables()[name].columns))  # the one safe CSV writer
    response = HttpResponse(buf.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="my-data-{account.patient.patient_code}.zip"'
    return response


@login_required(login_url="/patient/sign-in/")
@require_GET
def download_fhir(request, pk: int):
    """All the patient's data as one FHIR R4 transaction Bundle (JSON)."""
    account = own_account(request, pk)
    from openhsct.interop.fhir import patient_bundles

    bundles = patient_bundles(selectors.own_tables(account.patient))
    bundle = next(b for name, b in bundles.items() if name.startswith("patient-"))
    response = HttpResponse(json.dumps(bundle, indent=1, ensure_ascii=False), content_type="application/fhir+json")
    response["Content-Disposition"] = f'attachment; filename="my-data-{account.patient.patient_code}.fhir.json"'
    return response


# ------------------------------------------------------------------------------------ clinic staff


@require_http_methods(["GET", "POST"])
def invite(request):
    """Centre staff create a one-time link for one of their patients; the link is shown once (the URL's
    rule, :mod:`openhsct.security.access`, admits centre staff and the administrator only)."""
    centres = [c for c in roles.readable_centres(request.user) if roles.can_write_centre(request.user, c)]
    link = patient = None
    if request.method == "POST":
        centre_code = request.POST.get("centre_code", "")
        code = request.POST.get("patient_code", "").strip()
        try:
            patient = roles.get_patient_for_writer(request.user, centre_code, code)
        except PermissionDenied:
            messages.error(request, f"No patient {code!r} at a centre you can change.")
        else:
            token = services.patient_invite_create(patient=patient, created_by=request.user.get_username())
            link = request.build_absolute_uri(_url("join", token))
    return render(request, "portal/patient/invite.html", {"centres": centres, "link": link, "patient": patient,
                                                          "hours": services.INVITE_HOURS})
