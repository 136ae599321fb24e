"""Headers of each kind of response on a live production-settings server on loopback: HTTPS redirect,
HSTS, CSP without inline script, frame-ancestors 'none', Referrer-Policy same-origin, nosniff, a request
id, no version in ``Server``; ``Cache-Control: no-store`` on signed-in pages and downloads; Secure,
HttpOnly, SameSite=Lax cookies; a generic 500 page naming the request id."""

from __future__ import annotations

import dataclasses
import re

from django.test import Client, override_settings
from django.urls import path

from tests.security import live


def _browser(site: live.LiveSite) -> live.LiveSite:
    """The same server seen from a new browser (no cookies)."""
    return dataclasses.replace(site, cookies={})


def _directives(csp: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}


def assert_security_headers(reply: live.Reply, what: str) -> None:
    """Every response: HSTS, CSP (no inline script, no framing), same-origin referrers, nosniff, no version."""
    assert "max-age=31536000" in reply.header("Strict-Transport-Security"), what
    csp = _directives(reply.header("Content-Security-Policy"))
    assert csp.get("script-src") == ["'self'"], (what, csp)
    assert csp.get("frame-ancestors") == ["'none'"] and csp.get("object-src") == ["'none'"], what
    assert "'unsafe-inline'" not in csp.get("default-src", []), what
    assert reply.header("Referrer-Policy") == "same-origin", what
    assert reply.header("X-Content-Type-Options") == "nosniff", what
    if reply.header("Content-Type").startswith("text/html"):  # static files: frame-ancestors suffices
        assert reply.header("X-Frame-Options") == "DENY", what
    assert re.fullmatch(r"[0-9a-f]{16}", reply.header("X-Request-ID")), what
    assert not re.search(r"\d", reply.header("Server")), (what, reply.header("Server"))
    assert not reply.header("X-Powered-By"), what


def test_plain_http_is_redirected_to_https(live_site):
    reply = _browser(live_site).request("GET", "/about/", https=False)
    assert reply.status == 301
    assert reply.header("Location") == f"https://{live_site.host}:{live_site.port}/about/"
    assert not re.search(r"\d", reply.header("Server"))


def test_public_pages_errors_and_static_files_carry_the_headers(live_site):
    browser = _browser(live_site)
    for address, status in [("/", 200), ("/", 200), ("/about/", 200), ("/no-such-page/", 404),
                            ("/accounts/login/", 200), ("/static/portal/portal.css", 200)]:
        reply = browser.request("GET", address)
        assert reply.status == status, (address, reply.status)
        assert_security_headers(reply, address)
        if address != "/accounts/login/":
            assert "no-store" not in reply.header("Cache-Control"), address  # public: caches may keep it


def test_signed_in_pages_and_downloads_are_never_stored(live_site):
    browser = _browser(live_site)
    signed_in = browser.sign_in(live.STAFF, live.CANARY_PASSWORD)
    assert signed_in.status == 302, signed_in.body[:500]
    cookie = signed_in.cookies()["sessionid"]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"
    csrf = browser.request("GET", "/accounts/login/").cookies().get("csrftoken")
    assert csrf is None or (csrf["secure"] and csrf["samesite"] == "Lax")
    for address in ("/clinic/", f"/clinic/{live.CENTRE}/", live_site.patient_path(live.CENTRE, live.CANARY_CODE),
                    "/compare.csv", "/about/"):
        reply = browser.request("GET", address)
        assert reply.status in (200, 404), (address, reply.status)
        assert_security_headers(reply, address)
        assert "no-store" in reply.header("Cache-Control"), address
        assert "private" in reply.header("Cache-Control"), address


def test_monitors_go_to_the_code_page_first(live_site):
    browser = _browser(live_site)
    assert browser.sign_in(live.MONITOR, live.CANARY_PASSWORD).status == 302
    reply = browser.request("GET", "/clinic/")
    assert reply.status == 302 and reply.header("Location").startswith("/accounts/totp/")
    page = browser.request("GET", reply.header("Location"))
    assert page.status == 200 and "Confirm your sign-in" in page.body
    assert "no-store" in page.header("Cache-Control")
    assert_security_headers(page, "code page")


def _fail(request):
    raise RuntimeError("planted failure with secret detail 4471")


urlpatterns = [path("fail/", _fail, name="planted_failure")]
handler500 = "openhsct.site.security.server_error"


@override_settings(ROOT_URLCONF=__name__, DEBUG=False)
def test_the_500_page_is_generic_and_names_the_request_id(db, monkeypatch):
    from openhsct.security import access

    # a public page that fails (every URL needs an access rule, or it is refused before the view)
    monkeypatch.setitem(access.rule_table(), "planted_failure", access.public())
    response = Client(raise_request_exception=False).get("/fail/")
    assert response.status_code == 500
    body = response.content.decode()
    assert response["X-Request-ID"] in body
    assert "4471" not in body and "Traceback" not in body and "RuntimeError" not in body
    assert "Not medical advice" in body


def test_the_page_cache_never_keeps_a_no_store_response(rf, db):
    from django.core.cache import cache
    from django.http import HttpResponse
    from django.utils.cache import add_never_cache_headers

    from openhsct.portal import middleware, published

    def view(request):
        response = HttpResponse("identifiable")
        setattr(response, middleware.PUBLIC_MARK, True)  # even if a view marked it public by mistake
        add_never_cache_headers(response)
        return response

    cache.clear()
    request = rf.get("/centres/NRT/")
    middleware.PublicPageCacheMiddleware(view)(request)
    assert cache.get(middleware.page_key(request, published.version())) is None
