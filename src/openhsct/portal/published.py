"""What the public pages read: the latest published release, and its stored parts.

No public request reads a registry table or computes a statistic: every number comes from a part of the
release (already disclosed when it was built), read once per process and kept by its checksum. The
functions here only find the release and hand its parts to the views.
"""

from __future__ import annotations

from typing import Any

from django.utils.safestring import mark_safe


def current():
    """The latest published release, or None."""
    from openhsct.releases.store import latest_published

    return latest_published()


def version() -> str:
    """A key that changes when another release is published or withdrawn (the page cache's key)."""
    release = current()
    return "none" if release is None else release.pk


def part(release, name: str) -> Any:
    """Part ``name`` of ``release`` as JSON data, with SVG charts marked safe for templates; None when
    the release has no such part."""
    from openhsct.releases.store import read_json

    return _charts_safe(read_json(release.pk, name))


def _charts_safe(obj: Any) -> Any:
    """The same data with every chart (``{"svg", "summary"}``) ready to be inlined."""
    if isinstance(obj, dict):
        if set(obj) == {"svg", "summary"}:
            return {"svg": mark_safe(obj["svg"]), "summary": obj["summary"]}  # noqa: S308 - our own SVG
        return {k: _charts_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_charts_safe(v) for v in obj]
    return obj


def synthetic() -> bool:
    """True while the published release holds any synthetic centre (drives the banner on every page)."""
    release = current()
    if release is None:
        return False
    return any(c["synthetic"] for c in part(release, "centres.json")["centres"])


def release_context(release) -> dict:
    """What every page says about its release: id, data cut and publication date."""
    return {
        "release": {
            "id": release.pk,
            "cut": release.cut.isoformat(),
            "published": release.published_at.date().isoformat() if release.published_at else None,
        }
    }
