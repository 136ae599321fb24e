"""Time-based one-time codes (TOTP, RFC 6238) for the roles that read every centre, on django-otp.

Enrolment is an operator's act, not a web page: ``openhsct user totp USERNAME`` creates the person's
authenticator and prints its ``otpauth://`` URI (to be turned into a QR code or typed into an authenticator
app). A self-service enrolment page would let whoever holds a stolen password enrol their own
authenticator, which is what the second factor is there to stop. After the password, the code page
(:func:`verify`) asks for the current six-digit code; django-otp's device throttling slows guessing.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import login as otp_login
from django_otp import match_token
from django_otp.plugins.otp_totp.models import TOTPDevice

from openhsct.errors import OpenHSCTError

DEVICE_NAME = "authenticator"


@transaction.atomic
def enrol(username: str, *, replace: bool = False) -> str:
    """Create the TOTP authenticator of ``username``; with ``replace``, remove any earlier one first.

    Returns the ``otpauth://`` URI holding the new secret. Raises OpenHSCTError for an unknown user or
    when one is enrolled already and ``replace`` is False.
    """
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise OpenHSCTError(f"no user {username!r}: create it first with openhsct add-user")
    existing = TOTPDevice.objects.filter(user=user)
    if existing.exists() and not replace:
        raise OpenHSCTError(f"{username} already has an authenticator: add --replace to enrol a new one "
                            "(the old one stops working)")
    existing.delete()
    device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=True)
    return device.config_url


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return candidate
    return "/clinic/"


@login_required
def verify(request: HttpRequest) -> HttpResponse:
    """The code page: GET shows the form; POST checks the code and, when it matches, marks the session as
    verified and goes on to ``next``. Returns the page (with an error for a wrong code) or a redirect."""
    enrolled = TOTPDevice.objects.filter(user=request.user, confirmed=True).exists()
    error = ""
    if request.method == "POST" and enrolled:
        token = "".join(ch for ch in request.POST.get("token", "") if ch.isascii() and ch.isdigit())
        device = match_token(request.user, token) if token else None
        if device is not None:
            otp_login(request, device)
            return HttpResponseRedirect(_next_url(request))
        error = "That code did not match. Enter the code your authenticator shows now."
    status = 400 if error else 200
    return render(request, "registration/totp_verify.html",
                  {"enrolled": enrolled, "error": error, "next": _next_url(request)}, status=status)
