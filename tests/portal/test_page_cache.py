"""The public page cache (``PublicPageCacheMiddleware``), keyed by the published release: registry data
entry changes no stored or rendered public page; publishing a release shows on the next anonymous visit, in
this process at once and from another process within ``LATEST_SECONDS``; signed-in people never receive a
stored page."""

from __future__ import annotations

import re
import time

import pytest

from openhsct.portal import middleware, published
from openhsct.releases import store


def patients_treated(html: str, code: str) -> str:
    """The "Patients treated" cell of ``code``'s row on the centre list."""
    m = re.search(rf'href="/centres/{code}/">.*?<td class="num"[^>]*>([^<]+)</td>', html, re.DOTALL)
    assert m, f"no row for {code}"
    return m.group(1).strip()


@pytest.fixture
def renders(monkeypatch):
    """Counts the home view's reads of the centre rows (each one is a page built by the view)."""
    from openhsct.portal import views

    calls = []
    real = views.centre_rows

    def counting(release):
        calls.append(release.pk)
        return real(release)

    monkeypatch.setattr(views, "centre_rows", counting)
    return calls


def _drop_one_transplant(code: str) -> None:
    from openhsct.registry.models import Transplant

    Transplant.objects.filter(patient__centre__centre_code=code).order_by("id").first().delete()


@pytest.fixture
def extra_releases(small_registry):
    """Deletes the releases a test publishes beyond the module's one."""
    yield
    from openhsct.releases.models import Release

    Release.objects.exclude(pk=small_registry["release"]).delete()
    store._forget_latest()


def test_data_entry_changes_nothing_until_a_new_release_is_published(
    small_registry, db, client, renders, extra_releases
):
    from tests.portal.registry_builder import publish_release

    code = small_registry["medium"]
    first = client.get("/").content.decode()
    again = client.get("/").content.decode()
    assert again == first and len(renders) == 1  # the second visit came from the page cache
    before = int(patients_treated(first, code))

    _drop_one_transplant(code)  # a post_delete signal and an audit row, as in the admin
    from django.core.cache import cache

    cache.clear()  # even a page rendered afresh shows the published release, not the registry
    assert client.get("/").content.decode() == first
    assert len(renders) == 2

    new = publish_release()
    after = client.get("/").content.decode()
    assert new in after and int(patients_treated(after, code)) == before - 1


def test_a_release_published_by_another_process_shows_within_the_lookup_lifetime(
    small_registry, db, client, renders, extra_releases, monkeypatch
):
    """Another process's publication sends nothing here: the database tells, once the process's memory of
    the latest release expires. Simulated by publishing without forgetting that memory."""
    import datetime as dt

    from django.utils import timezone

    from openhsct.releases.models import Release

    monkeypatch.setattr(store, "LATEST_SECONDS", 0.2)
    client.get("/")
    current = Release.objects.get(pk=small_registry["release"])
    Release.objects.create(
        id="f" * 16, cut=current.cut + dt.timedelta(days=1), state="published", manifest=current.manifest,
        manifest_sha256=current.manifest_sha256, created_by="other-worker", published_at=timezone.now(),
    )
    time.sleep(0.5)
    assert "f" * 16 in client.get("/").content.decode()
    assert len(renders) == 2


def test_signed_in_people_never_get_a_stored_page(small_registry, db, client, django_user_model):
    from django.core.cache import cache
    from django.test import Client, RequestFactory

    planted = middleware.page_key(RequestFactory().get("/about/"), published.version())
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
    assert cache.get(f"portal:page:{published.version()}:/compare/") is None
    assert not [k for k in cache._cache if ":page:" in k]  # LocMem: nothing stored at all


def test_only_known_query_parameters_are_stored(small_registry, db, client):
    from django.core.cache import cache

    version = published.version()
    assert version == small_registry["release"]
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
