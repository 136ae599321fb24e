"""Storing, listing and moving releases between states (the Django side of :mod:`openhsct.releases`).

Each state change is one service function named ``release_<action>``, recorded in the registry's audit
history (model ``Release``/``ReleaseFlag``). Reads of a release's parts are memoised per process by the
part's SHA-256: a part never changes, so a web worker never reads it twice and never reads the registry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Callable
from functools import lru_cache

from openhsct.errors import OpenHSCTError
from openhsct.releases.build import BuildSettings, build_parts, canonical_json

MANIFEST_FORMAT = 1


class ReleaseError(OpenHSCTError):
    """A release that does not exist, or a state change that is not allowed."""


def code_version() -> str:
    """The installed OpenHSCT version (recorded in every manifest)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("openhsct")
    except PackageNotFoundError:
        return "unknown"


def make_manifest(cut, parts: dict[str, bytes], settings: BuildSettings) -> dict:
    """The manifest of a release: cut date, registry digest, code version, settings, the patients left out
    per centre for lack of publication consent (disclosed: a count of 1-4 is suppressed) and the SHA-256
    and size of every part. It holds no time of building, so the same inputs give the same manifest (and id),
    and no count of rows (a count of the whole registry minus the published centres would give away a
    centre too small to be shown)."""
    return {
        "format": MANIFEST_FORMAT,
        "title": "OpenHSCT public data release",
        "cut": cut.cut.isoformat(),
        "registry_digest": cut.digest,
        "code_version": code_version(),
        "settings": settings.to_dict(),
        "left_out_without_consent": json.loads(parts["consent.json"])["excluded"] if "consent.json" in parts else {},
        "parts": {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} for name, data in sorted(parts.items())
        },
    }


def release_id(manifest: dict) -> str:
    """First 16 hex digits of the SHA-256 of the canonical manifest without its ``derived`` parts (the
    PDF reports, rendered from the other parts and naming the release)."""
    core = {k: v for k, v in manifest.items() if k != "derived"}
    return hashlib.sha256(canonical_json(core)).hexdigest()[:16]


def render_reports(rid: str, cut_date: dt.date, parts: dict[str, bytes], published: str | None = None) -> dict[str, bytes]:
    """The PDF report of every published centre, rendered from its stored page (``centre/<code>/report.pdf``)."""
    from openhsct.portal.published import _charts_safe
    from openhsct.portal.report import render_pdf, report_html

    centres = json.loads(parts["centres.json"])["centres"]
    synthetic = any(c["synthetic"] for c in centres)
    overall = json.loads(parts["overall.json"]) if "overall.json" in parts else None
    out = {}
    for name, data in sorted(parts.items()):
        if name.startswith("centre/") and name.endswith(".json"):
            page = _charts_safe(json.loads(data))
            ctx = {"p": page, "centre": page["centre"], "synthetic": synthetic, "min_n": 5, "overall": overall,
                   "release": {"id": rid, "cut": cut_date.isoformat(), "published": published}}
            out[name.removesuffix(".json") + "/report.pdf"] = render_pdf(report_html(ctx))
    return out


def _audit(actor: str, action: str, model: str, pk: str, detail: dict, centre_code: str = "") -> None:
    from openhsct.registry.models import AuditEvent

    AuditEvent.objects.create(
        actor=actor, action=action, model=model, object_pk=pk, centre_code=centre_code, detail=detail
    )


def release_draft(
    cut_date: dt.date,
    *,
    actor: str,
    settings: BuildSettings | None = None,
    client=None,
    progress: Callable[[str], None] | None = None,
    notes: str = "",
):
    """Read the registry, cut it at ``cut_date``, build every part and store them as a draft release.
    Returns the :class:`~openhsct.releases.models.Release` (the existing one when the same registry, cut,
    code and settings were drafted before)."""
    from openhsct.releases.cut import make_cut, read_registry

    settings = settings or BuildSettings()
    tables = read_registry(progress=(lambda name: progress(f"read {name}")) if progress else None)
    from openhsct.quality.freeze import freeze_dates

    cut = make_cut(tables, cut_date, previous=previous_sizes(), freezes=freeze_dates())
    parts = build_parts(cut, settings, client=client, progress=progress)
    return store_release(cut, parts, settings, actor=actor, notes=notes)


def previous_sizes() -> dict[str, int]:
    """Patients per centre as published by the latest published release (centres it showed)."""
    latest = latest_published()
    if latest is None:
        return {}
    centres = read_json(latest.pk, "centres.json")["centres"]
    return {c["centre_code"]: c["n"] for c in centres if isinstance(c["n"], int)}


def store_release(cut, parts: dict[str, bytes], settings: BuildSettings, *, actor: str, notes: str = ""):
    """Store ``parts`` (content-addressed) and their manifest as a draft; returns the release."""
    from django.db import transaction

    from openhsct.releases.models import Release, ReleasePart

    manifest = make_manifest(cut, parts, settings)
    rid = release_id(manifest)
    existing = Release.objects.filter(pk=rid).first()
    if existing is not None:
        return existing
    derived = render_reports(rid, cut.cut, parts) if settings.pdf else {}
    manifest["derived"] = {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} for name, data in sorted(derived.items())
    }
    with transaction.atomic():
        for data in [*parts.values(), *derived.values()]:
            sha = hashlib.sha256(data).hexdigest()
            ReleasePart.objects.get_or_create(sha256=sha, defaults={"data": data, "size": len(data)})
        release = Release.objects.create(
            id=rid,
            cut=cut.cut,
            manifest=manifest,
            manifest_sha256=hashlib.sha256(canonical_json(manifest)).hexdigest(),
            created_by=actor,
            notes=notes or _what_changed(manifest),
        )
        _audit(actor, "create", "Release", rid, {"event": "draft", "cut": cut.cut.isoformat()})
    return release


def _what_changed(manifest: dict) -> str:
    """A default 'what changed' note against the latest published release: the cut (never a count of
    patients added, which could be 1-4 people)."""
    latest = latest_published()
    if latest is None:
        return f"First release (data cut {manifest['cut']})."
    if latest.manifest["cut"] == manifest["cut"]:
        return f"Same data cut ({manifest['cut']}) with corrected or newly entered data."
    return f"Data cut moved from {latest.manifest['cut']} to {manifest['cut']}."


def get_release(release_id_: str):
    """The release with this id (a unique prefix of at least 6 hex digits is enough)."""
    from openhsct.releases.models import Release

    found = list(Release.objects.filter(pk__startswith=release_id_)[:2]) if len(release_id_) >= 6 else []
    if len(found) != 1:
        raise ReleaseError(f"no release {release_id_!r}: see `openhsct release list`")
    return found[0]


def release_publish(release, *, actor: str):
    """Publish a draft. Returns the release."""
    from django.utils import timezone

    if release.state != release.State.DRAFT:
        raise ReleaseError(f"release {release.id} is {release.state}: only a draft can be published")
    release.state = release.State.PUBLISHED
    release.published_at = timezone.now()
    release.published_by = actor
    release.save(update_fields=["state", "published_at", "published_by"])
    _audit(actor, "update", "Release", release.id, {"event": "publish"})
    _forget_latest()
    return release


def release_withdraw(release, *, actor: str, erratum: str):
    """Withdraw a published release with a public erratum note. Returns the release."""
    from django.utils import timezone

    if release.state != release.State.PUBLISHED:
        raise ReleaseError(f"release {release.id} is {release.state}: only a published release can be withdrawn")
    if not erratum.strip():
        raise ReleaseError("a withdrawal needs an erratum: say what was wrong and where the correction is")
    release.state = release.State.WITHDRAWN
    release.withdrawn_at = timezone.now()
    release.withdrawn_by = actor
    release.erratum = erratum.strip()
    release.save(update_fields=["state", "withdrawn_at", "withdrawn_by", "erratum"])
    _audit(actor, "update", "Release", release.id, {"event": "withdraw", "erratum": release.erratum})
    _forget_latest()
    return release


def release_flag(release, *, actor: str, centre_code: str, item: str, comment: str):
    """A centre's flag on one number of a draft. Returns the flag."""
    from openhsct.releases.models import ReleaseFlag

    if release.state != release.State.DRAFT:
        raise ReleaseError("only a draft release can be flagged")
    if not item.strip() or not comment.strip():
        raise ReleaseError("a flag needs the number it is about and a comment")
    flag = ReleaseFlag.objects.create(
        release=release, centre_code=centre_code, item=item.strip()[:200], comment=comment.strip(), created_by=actor
    )
    _audit(actor, "create", "ReleaseFlag", str(flag.pk), {"release": release.id, "item": flag.item}, centre_code)
    return flag


# ---- reads --------------------------------------------------------------------------------------------

_latest_lock = threading.Lock()
_latest: dict[str, object] = {}
LATEST_SECONDS = 2.0


def _forget_latest() -> None:
    with _latest_lock:
        _latest.clear()


def latest_published():
    """The newest published release (by cut, then publication), or None; looked up at most once every
    ``LATEST_SECONDS`` per process."""
    import time

    from openhsct.releases.models import Release

    now = time.monotonic()
    with _latest_lock:
        hit = _latest.get("value")
        if hit is not None and now - _latest["at"] < LATEST_SECONDS:
            return hit[0]
    release = (
        Release.objects.filter(state=Release.State.PUBLISHED).order_by("-cut", "-published_at").defer("manifest").first()
    )
    with _latest_lock:
        _latest.update(value=(release,), at=now)
    return release


@lru_cache(maxsize=512)
def _part_bytes(sha256: str) -> bytes:
    from openhsct.releases.models import ReleasePart

    part = ReleasePart.objects.filter(pk=sha256).first()
    if part is None:
        raise ReleaseError(f"release part {sha256[:12]} is missing from the store")
    data = bytes(part.data)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ReleaseError(f"release part {sha256[:12]} does not match its checksum")
    return data


def read_part(release, name: str) -> bytes | None:
    """The bytes of part ``name`` (memoised by checksum), or None when the release has no such part."""
    sha = _manifest_parts(release.pk).get(name)
    return None if sha is None else _part_bytes(sha)


@lru_cache(maxsize=256)
def read_json(release_pk: str, name: str):
    """Part ``name`` of a release parsed from JSON (memoised: parts never change), or None."""
    sha = _manifest_parts(release_pk).get(name)
    return None if sha is None else json.loads(_part_bytes(sha))


@lru_cache(maxsize=64)
def _manifest_parts(release_pk: str) -> dict[str, str]:
    from openhsct.releases.models import Release

    manifest = Release.objects.values_list("manifest", flat=True).get(pk=release_pk)
    entries = {**manifest["parts"], **manifest.get("derived", {})}
    return {name: entry["sha256"] for name, entry in entries.items()}


@lru_cache(maxsize=8)
def _archive(release_pk: str, published: str | None) -> bytes:
    from openhsct.releases.archive import archive_bytes
    from openhsct.releases.models import Release

    manifest = Release.objects.values_list("manifest", flat=True).get(pk=release_pk)
    parts = {name: read_json(release_pk, name) for name in manifest["parts"] if name.endswith(".json")}
    return archive_bytes(parts, manifest, release_pk, published)


def archive_of(release) -> bytes:
    """The public archive (zip) of a release (:func:`openhsct.releases.archive.archive_bytes`)."""
    published = release.published_at.date().isoformat() if release.published_at else None
    return _archive(release.pk, published)


def drafts():
    """Draft releases, newest first."""
    from openhsct.releases.models import Release

    return Release.objects.filter(state=Release.State.DRAFT).order_by("-created_at")
