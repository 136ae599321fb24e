"""Draft releases in the clinicians' area: each centre's staff preview their own centre's draft pages
and flag a number with a comment; the monitor sees every flag; a monitor or the administrator publishes.

The preview formats the draft's stored centre page (the same part the public will see once published);
each state change goes through :mod:`openhsct.releases.store` (audited).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from openhsct.portal.clinic.views import _render, clinic_view
from openhsct.registry import roles
from openhsct.security import access


def _may_publish(user) -> bool:
    return user.is_superuser or roles.is_monitor(user)


def _draft(release_id: str):
    from openhsct.releases.models import Release

    release = Release.objects.filter(pk=release_id, state=Release.State.DRAFT).first()
    if release is None:
        raise Http404("No such draft release.")
    return release


@clinic_view
@require_GET
def releases(request):
    """Draft releases, with the flags of the centres the user may read; publish buttons for monitors and
    the administrator."""
    from openhsct.releases.store import drafts

    centres = list(roles.readable_centres(request.user).values_list("centre_code", flat=True))
    rows = [
        {"release": r, "flags": [f for f in r.flags.all() if f.centre_code in centres]} for r in drafts()
    ]
    return _render(request, "portal/clinic/releases.html", {
        "drafts": rows, "centres": centres, "may_publish": _may_publish(request.user), "clinic_here": "releases",
    })


@clinic_view
@require_http_methods(["GET", "POST"])
def release_preview(request, centre_code: str, release_id: str):
    """One centre's draft page, and a form to flag a number of it."""
    from openhsct.portal.published import _charts_safe
    from openhsct.releases.store import ReleaseError, read_json, release_flag

    centre = access.centre_named(centre_code)
    release = _draft(release_id)
    if request.method == "POST":
        try:
            release_flag(release, actor=request.user.get_username(), centre_code=centre.centre_code,
                         item=request.POST.get("item", ""), comment=request.POST.get("comment", ""))
        except ReleaseError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Flag saved: the monitor will see it before the release is published.")
        return redirect(reverse(f"{request.resolver_match.namespace}:release_preview",
                                args=[centre.centre_code, release.pk]))
    page = read_json(release.pk, f"centre/{centre.centre_code}.json")
    page = _charts_safe(page) if page is not None else {
        "centre": {"name": centre.name, "centre_code": centre.centre_code}, "suppressed": True}
    return _render(request, "portal/clinic/release_preview.html", {
        "centre": page["centre"], "p": page, "draft": release, "min_n": 5,
        "release": {"id": release.pk, "cut": release.cut.isoformat()},
        "flags": release.flags.filter(centre_code=centre.centre_code),
    })


@clinic_view
@require_POST
def release_publish(request, release_id: str):
    """Publish a draft (monitor or administrator only: the URL's rule, :mod:`openhsct.security.access`)."""
    from openhsct.releases.store import release_publish as publish

    release = publish(_draft(release_id), actor=request.user.get_username())
    messages.success(request, f"Release {release.pk} is published: the public pages now show it.")
    return redirect(reverse(f"{request.resolver_match.namespace}:releases"))
