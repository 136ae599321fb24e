"""A busy SQLite database answers "try again" (503), never a server error.

With SQLite, one writer at a time holds the database; others wait up to the busy timeout (30 s, see
``settings.py``). Should a write still find the database locked after that, the visitor gets this page
with ``Retry-After`` instead of an error page, and nothing was saved.
"""

from __future__ import annotations

from django.http import HttpResponse

from openhsct.registry.locks import is_locked_error

RETRY_AFTER_S = 5

BUSY_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Busy, please try again · OpenHSCT</title></head>
<body>
<main id="main">
<h1>The registry is busy</h1>
<p>Another change was being saved at the same moment, so this request could not be completed and
nothing was saved. Please wait a few seconds and try again.</p>
</main>
<footer><p>OpenHSCT is a research registry and statistics tool. Not medical advice.</p></footer>
</body>
</html>
"""


class DatabaseBusyMiddleware:
    """Turns SQLite's "database is locked" raised by a view into a 503 page with ``Retry-After``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception) -> HttpResponse | None:
        """Returns the busy page for a locked database; None (Django's own handling) otherwise."""
        if not is_locked_error(exception):
            return None
        response = HttpResponse(BUSY_PAGE, status=503, content_type="text/html; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER_S)
        response["Cache-Control"] = "no-store"
        return response
