"""The public page cache (``PublicPageCacheMiddleware``) and the registry version it is keyed by: a data
change shows on the next anonymous visit, in this process at once and from another process within
``VERSION_SECONDS``; signed-in people never receive a stored page."""

from __future__ import annotations

import re
import time

import pytest

from openhsct.portal import middleware, selectors


def patients_treated(html: str, code: str) -> str:
    """The "Patients treated" cell of ``code``'s row on the centre list."""
    m = re.search(rf'href="/centres/{code}/">.*?<td class="num">([^<]+)</td>', html, re.DOTALL)
    assert m, f"no row for {code}"
    return m.group(1).strip()


@pytest.fixture
def comparisons(monkeypatch):
    """Counts the home view's reads of the comparison (each one is a page built by the view)."""
    calls = []
    real = selectors.public_comparison

    def counting():
        calls.append(1)
        return real()

    monkeypatch.setattr(selectors, "public_comparison", counting)
    return calls


def _drop_one_transplant(code: str) -> None:
    from openhsct.registry.models import Transplant

    Transplant.objects.filter(patient__centre__centre_code=code).order_by("id").first().delete()


def test_a_change_through_the_orm_shows_on_the_next_anonymous_visit(
    small_registry, db, client, comparisons, monkeypatch
):
    monkeypatch.setattr(selectors, "VERSION_SECONDS", 3600)  # only the change's own signal can tell
    code = small_registry["medium"]
    first = client.get("/").content.decode()
    again = client.get("/").content.decode()
    assert again == first and len(comparisons) == 1  # the second visit came from the page cache
    before = int(patients_treated(first, code))

    _drop_one_transplant(code)  # a post_delete signal and an audit row, as in the admin

    after = client.get("/").content.decode()
    assert len(comparisons) == 2
    assert int(patients_treated(after, code)) == before - 1


def test_a_change_from_another_process_shows_within_the_version_lifetime(
    small_registry, db, client, comparisons, monkeypatch
):
    """Another gunicorn worker's change sends no signal here: only the version stored in the database
    tells. Simulated by writing the change and its audit row without signals."""
    from openhsct.registry.models import AuditEvent, Centre

    monkeypatch.setattr(selectors, "VERSION_SECONDS", 0.2)
    code = small_registry["medium"]
    client.get("/")
    Centre.objects.filter(centre_code=code).update(name="Renamed Elsewhere Hospital")
    AuditEvent.objects.bulk_create([AuditEvent(actor="other-worker", action="update", model="Centre")])
    time.sleep(0.5)  # the version read by this process has expired
    assert "Renamed Elsewhere Hospital" in client.get("/").content.decode()
    assert len(comparisons) == 2


def test_an_export_does_not_invalidate(small_registry, db):
    from openhsct.registry.models import AuditEvent

    before = selectors.registry_version()
    AuditEvent.objects.create(actor="someone", action="export", model="bundle")
    assert selectors.registry_version() == before
    AuditEvent.objects.create(actor="someone", action="update", model="Patient")
    assert selectors.registry_version() != before


def test_signed_in_people_never_get_a_stored_page(small_registry, db, client, django_user_model):
    from django.core.cache import cache
    from django.test import Client, RequestFactory

    planted = middleware.page_key(RequestFactory().get("/about/"), selectors.registry_version())
    cache.set(planted, (b"a page stored for somebody else", {"Content-Type": "text/html"}), 60)

    # An anonymous visitor is served the stored page (which proves the plant is where the cache looks) …
    assert client.get("/about/").content == b"a page stored for somebody else"
    # … a signed-in person gets a page rendered for their own request,
    user = django_user_model.objects.create_user("reader", password="pw-reader-1")
    signed_in = Client()
    signed_in.force_login(user)
    own = signed_in.get("/about/")
    assert own.status_code == 200 and b"somebody else" not in own.content
    # and what they were shown is never stored for others.
    cache.delete(planted)
    signed_in.get("/compare/")
    assert cache.get(f"portal:page:{selectors.registry_version()}:/compare/") is None
    assert not [k for k in cache._cache if ":page:" in k]  # LocMem: nothing stored at all


def test_only_known_query_parameters_are_stored(small_registry, db, client):
    from django.core.cache import cache

    version = selectors.registry_version()
    client.get("/?sort=-n")
    client.get("/?sort=n&utm=x")
    assert cache.get(f"portal:page:{version}:/?sort=-n") is not None
    assert cache.get(f"portal:page:{version}:/?sort=n&utm=x") is None


def test_cached_pages_keep_their_headers(small_registry, db, client):
    first = client.get("/about/")
    second = client.get("/about/")
    assert second.content == first.content
    for header in ("Content-Type", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"):
        assert second[header] == first[header]
    assert client.get("/about/", HTTP_HOST="evil.example").status_code == 400
