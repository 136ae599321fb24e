"""Login throttling on django-axes: by account, never by a whole network (OWASP ASVS 4.0 2.2.1).

Axes counts failed sign-ins per username and per (username, client address)
(``AXES_LOCKOUT_PARAMETERS``); ``AXES_FAILURE_LIMIT`` (5) failures, each within ``AXES_COOLOFF_TIME``
(15 minutes) of the one before, lock that account for 15 minutes even for the right password, while a
colleague behind the same hospital address signs in as usual. :class:`LoginThrottleHandler` adds a
separate, higher limit per client address, ``OPENHSCT_LOGIN_IP_FAILURE_LIMIT`` failures across all
usernames within the cool-off, which stops password spraying (one guess at many accounts) from one address.
An unknown username counts and locks like a known one, so the answers cannot tell them apart.
"""

from __future__ import annotations

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

#: HTTP 429 Too Many Requests (RFC 6585), as axes answers by default.
LOCKED_STATUS = 429


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or behind ``OPENHSCT_PROXY_COUNT`` trusted proxies the
    address the outermost of them saw (counted from the right of ``X-Forwarded-For``, which a client cannot
    forge past its own proxy). Returns None when there is none."""
    proxies = getattr(settings, "OPENHSCT_PROXY_COUNT", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR")


def address_failures(request: HttpRequest) -> int:
    """Failed sign-ins from the request's client address within the cool-off, over all usernames. Returns
    the count (0 without an address)."""
    address = getattr(request, "axes_ip_address", None)
    if not address:
        return 0
    recent = AccessAttempt.objects.filter(ip_address=address, attempt_time__gte=get_cool_off_threshold(request))
    return recent.aggregate(total=Sum("failures_since_start"))["total"] or 0


class LoginThrottleHandler(AxesDatabaseHandler):
    """Axes' database handler with the per-address spray limit on top of its per-account counts."""

    def get_failures(self, request, credentials: dict | None = None) -> int:
        """The account's failures, raised to the lock level when the address has reached its own limit.

        Returns the count axes compares with ``AXES_FAILURE_LIMIT``.
        """
        account = super().get_failures(request, credentials)
        if address_failures(request) >= settings.OPENHSCT_LOGIN_IP_FAILURE_LIMIT:
            return max(account, get_failure_limit(request, credentials))
        return account


def lockout_response(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    """Axes' ``AXES_LOCKOUT_CALLABLE``: the lock page in the site's layout, saying how long the lock lasts
    and whom to contact. The same page whichever username was tried, known or not. Returns a 429 response."""
    cool_off = get_cool_off(request)
    minutes = round(cool_off.total_seconds() / 60) if cool_off else None
    context = {"cooloff_minutes": minutes, "security_contact": settings.OPENHSCT_SECURITY_CONTACT}
    response = render(request, "registration/locked_out.html", context, status=LOCKED_STATUS)
    response["Retry-After"] = str(int(cool_off.total_seconds())) if cool_off else "900"
    return response
