"""Request ids, ``Cache-Control: no-store``, session time limits and the TOTP step, as middleware.

Order in ``MIDDLEWARE`` (settings): :class:`RequestIdMiddleware` first of all, so that pages the public page
cache replays get an id too; the other three after Django's ``AuthenticationMiddleware`` (and, for the TOTP
step, django-otp's ``OTPMiddleware``), because they read ``request.user``.

- **Request id.** Each request gets a random id, sent back as ``X-Request-ID``, stamped on every log record
  written while it is served (:mod:`openhsct.site.logs`) and shown on the 500 page, so a user's report
  leads to the log line. One line per request is logged on ``openhsct.request``: method, route pattern
  (never the path: paths carry pseudonymous codes), status and milliseconds.
- **No store.** Every response to a signed-in person, and every file download that is not a public page,
  carries ``Cache-Control: no-store`` (with Django's other never-cache headers), so neither the browser
  nor a proxy keeps identifiable pages.
- **Session limits** (OWASP ASVS 4.0 3.3.1-3.3.2): a session ends on the server after
  ``OPENHSCT_SESSION_IDLE_SECONDS`` without a request (30 minutes) and ``OPENHSCT_SESSION_ABSOLUTE_SECONDS``
  after sign-in (12 hours), whatever happens in between; the next request goes to the sign-in page.
- **TOTP** (ASVS 2.7, 2.8): with ``OPENHSCT_REQUIRE_TOTP_FOR_CROSS_CENTRE`` on, a monitor or administrator
  (who read every centre) reaches nothing but the code page and sign-out until a time-based one-time code
  from their enrolled authenticator is confirmed (:mod:`openhsct.site.totp`).
"""

from __future__ import annotations

import logging
import secrets
import time
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, HttpResponseServerError
from django.template import TemplateDoesNotExist, loader
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import escape

from openhsct import NOT_MEDICAL_ADVICE
from openhsct.site.logs import current_request_id, route_of

request_log = logging.getLogger("openhsct.request")

#: Session keys: when the person signed in, and when their last request came (``time.time()``).
LOGIN_AT = "openhsct_login_at"
SEEN_AT = "openhsct_seen_at"
#: The last-seen time is rewritten at most this often (a session write per request would cost a query).
SEEN_RESOLUTION_SECONDS = 60
#: The attribute a public view sets on its response (as :mod:`openhsct.portal.middleware` reads it).
PUBLIC_MARK = "openhsct_public_page"


def new_request_id() -> str:
    """A fresh request id: 16 random hex digits. Returns it."""
    return secrets.token_hex(8)


class RequestIdMiddleware:
    """Give each request an id (``request.request_id``, ``X-Request-ID``), stamp log records with it and
    log one line per request (module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = new_request_id()
        token = current_request_id.set(request.request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request.request_id
            request_log.info("%s %s %s %.0fms", request.method, route_of(request), response.status_code,
                             (time.perf_counter() - started) * 1000)
            return response
        finally:
            current_request_id.reset(token)


def _signed_in(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


class NoStoreMiddleware:
    """``Cache-Control: no-store`` on every response to a signed-in person and on every download that is
    not a public page (module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        download = response.get("Content-Disposition", "").lower().startswith("attachment")
        if _signed_in(request) or (download and not getattr(response, PUBLIC_MARK, False)):
            add_never_cache_headers(response)
        return response


def _stamp_login(sender, request: HttpRequest | None = None, **kwargs) -> None:
    """At sign-in (after Django gave the session a new key), note the time in the session."""
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[LOGIN_AT] = now
        request.session[SEEN_AT] = now


user_logged_in.connect(_stamp_login, dispatch_uid="openhsct-session-login-time")


def session_expired(session, now: float) -> bool:
    """True when the session is past its idle or absolute limit at ``now`` (seconds since the epoch).

    Returns False for a session with no sign-in time (it is stamped instead).
    """
    login_at, seen_at = session.get(LOGIN_AT), session.get(SEEN_AT)
    if login_at is None or seen_at is None:
        return False
    return (now - login_at > settings.OPENHSCT_SESSION_ABSOLUTE_SECONDS
            or now - seen_at > settings.OPENHSCT_SESSION_IDLE_SECONDS)


class SessionLimitMiddleware:
    """End a signed-in session on the server at its idle or absolute limit and send the request to the
    sign-in page (module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _signed_in(request):
            now = time.time()
            if session_expired(request.session, now):
                logout(request)  # flushes the session: its row is deleted, the old cookie leads nowhere
                return redirect_to_login(request.get_full_path())
            if request.session.get(LOGIN_AT) is None:
                request.session[LOGIN_AT] = now
            if now - request.session.get(SEEN_AT, 0) >= SEEN_RESOLUTION_SECONDS:
                request.session[SEEN_AT] = now
        return self.get_response(request)


def reads_every_centre(user) -> bool:
    """True for the registry's administrators and monitors (the roles that read across centres)."""
    from openhsct.registry.roles import is_monitor

    return bool(user.is_superuser or is_monitor(user))


def totp_exempt(path: str) -> bool:
    """True for the pages a person who has not yet confirmed a code may open (the code page, sign-out and
    static files)."""
    allowed = (reverse("totp_verify"), reverse("logout"), settings.STATIC_URL)
    return any(path.startswith(prefix) for prefix in allowed)


class RequireTOTPMiddleware:
    """Send monitors and administrators to the code page until they confirm a TOTP code, when
    ``OPENHSCT_REQUIRE_TOTP_FOR_CROSS_CENTRE`` is on (module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (settings.OPENHSCT_REQUIRE_TOTP_FOR_CROSS_CENTRE and _signed_in(request)
                and not user.is_verified() and reads_every_centre(user) and not totp_exempt(request.path)):
            return HttpResponseRedirect(f"{reverse('totp_verify')}?next={quote(request.get_full_path())}")
        return self.get_response(request)


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """Django's ``handler500``: a generic page naming the request id and nothing about the failure.

    Returns a 500 response; it renders without the database (which may be what failed).
    """
    request_id = getattr(request, "request_id", None) or current_request_id.get()
    try:
        body = loader.get_template(template_name).render(
            {"request_id": request_id, "not_medical_advice": NOT_MEDICAL_ADVICE})
    except TemplateDoesNotExist:
        body = f"<h1>Server error</h1><p>Request id: {escape(request_id)}</p>"
    return HttpResponseServerError(body)
