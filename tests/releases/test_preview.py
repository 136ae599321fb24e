"""Centre preview of a draft in /clinic/: each centre's staff see their own centre's draft page and flag a
number; another centre's staff are refused; the monitor sees the flags and publishes; staff cannot."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.releases.builders import CUT


@pytest.fixture
def cast(db, tmp_path):
    from django.contrib.auth import get_user_model

    from openhsct.registry.models import Centre, Membership
    from openhsct.registry.synth import generate
    from openhsct.releases.build import BuildSettings
    from openhsct.releases.store import release_draft
    from tests.portal.registry_builder import clear_releases, import_tables

    clear_releases()
    import_tables(generate(centres=2, patients=40, seed=6), tmp_path / "b")
    users = {}
    User = get_user_model()
    for name, role, code in (("north", "staff", "SYN01"), ("south", "staff", "SYN02"), ("mon", "monitor", None)):
        u = User.objects.create_user(name, password="pw-" + name + "-123")
        Membership.objects.create(user=u, role=role, centre=Centre.objects.get(centre_code=code) if code else None)
        c = Client()
        c.force_login(u)
        users[name] = c
    draft = release_draft(CUT, actor="tester", settings=BuildSettings(charts=False, comparative=False))
    yield {"draft": draft, **users}
    clear_releases()


def test_staff_preview_and_flag_their_own_centre_only(cast):
    rid = cast["draft"].pk
    page = cast["north"].get(f"/clinic/SYN01/releases/{rid}/")
    assert page.status_code == 200 and b"not public yet" in page.content and b"Who did not do well" in page.content
    assert cast["south"].get(f"/clinic/SYN01/releases/{rid}/").status_code == 404
    saved = cast["north"].post(f"/clinic/SYN01/releases/{rid}/", {"item": "Deaths by day 100", "comment": "3, not 2"})
    assert saved.status_code == 302
    listing = cast["mon"].get("/clinic/releases/").content.decode()
    assert "Deaths by day 100" in listing and "3, not 2" in listing and "north" in listing
    assert "Deaths by day 100" not in cast["south"].get("/clinic/releases/").content.decode()
    assert Client().get(f"/clinic/SYN01/releases/{rid}/").status_code == 302  # the public: sign in first


def test_only_a_monitor_or_the_administrator_publishes(cast):
    rid = cast["draft"].pk
    assert cast["north"].post(f"/clinic/releases/{rid}/publish/").status_code == 403
    assert b"No data release has been published yet" in Client().get("/").content
    assert cast["mon"].post(f"/clinic/releases/{rid}/publish/").status_code == 302
    cast["draft"].refresh_from_db()
    assert cast["draft"].state == "published" and cast["draft"].published_by == "mon"
    from openhsct.releases.store import _forget_latest

    _forget_latest()
    assert rid.encode() in Client().get("/").content
