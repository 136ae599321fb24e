"""The public page cache: whole public pages for anonymous visitors, served before sessions and auth run.

A public page (a view wrapped in :func:`openhsct.portal.views.public_page`) is the same for every
anonymous visitor, so its finished response — body and headers — is kept in Django's cache under
``portal:page:<release id>:<path and query>`` and replayed to the next anonymous GET of the same
address without touching sessions, CSRF, auth or axes. The key names the published release the page
shows (:func:`openhsct.portal.published.version`), so a page is never served after another release was
published; registry data entry changes no public page.

Only a GET with no session cookie, no messages cookie and no ``Authorization`` header is served from or
stored in the cache: a signed-in person's request always goes through the whole stack and their page is
never stored, so nobody can receive a page rendered for someone else. A response is stored only when the
view marked it public, it is a 200, it sets no cookie and it is not marked ``Cache-Control: no-store``
(every signed-in page and private download is: :class:`openhsct.site.security.NoStoreMiddleware`). Query strings are part of the key, but only
pages whose query names are in ``PUBLIC_QUERY`` are stored, so made-up parameters cannot fill the cache.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse

from openhsct.portal import published

#: How long a stored page is kept (it cannot go stale: the key names the release it shows).
CACHE_SECONDS = 3600

#: Query parameters the public pages read (sorting and the evidence filters).
PUBLIC_QUERY = frozenset({"sort", "outcome", "phenotype", "intensity", "era", "currency", "comparator"})
#: The attribute a public view sets on its response to allow caching it.
PUBLIC_MARK = "openhsct_public_page"


def _anonymous_get(request) -> bool:
    if request.method != "GET" or "HTTP_AUTHORIZATION" in request.META:
        return False
    if settings.SECURE_SSL_REDIRECT and not request.is_secure():
        return False  # SecurityMiddleware redirects it to HTTPS
    cookies = request.COOKIES
    return settings.SESSION_COOKIE_NAME not in cookies and "messages" not in cookies


def page_key(request, version: str) -> str:
    return f"portal:page:{version}:{request.get_full_path()}"


class PublicPageCacheMiddleware:
    """Serve and store whole public pages for anonymous GETs (module docstring). First in ``MIDDLEWARE``: a
    stored page carries the headers the whole stack gave it (``SecurityMiddleware``'s, ``X-Frame-Options``);
    a request ``SecurityMiddleware`` would redirect to HTTPS is left to it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not _anonymous_get(request):
            return self.get_response(request)
        request.get_host()  # ALLOWED_HOSTS is checked on cached pages too (DisallowedHost → 400)
        key = page_key(request, published.version())
        hit = cache.get(key)
        if hit is not None:
            content, headers = hit
            return HttpResponse(content, headers=headers)
        response = self.get_response(request)
        if (
            getattr(response, PUBLIC_MARK, False)
            and response.status_code == 200
            and not response.streaming
            and not response.cookies
            and "no-store" not in response.get("Cache-Control", "")
            and set(request.GET) <= PUBLIC_QUERY
        ):
            cache.set(key, (response.content, dict(response.items())), CACHE_SECONDS)
        return response
