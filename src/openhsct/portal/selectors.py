"""The registry version and the live registry tables, for the pages that still read the registry:
the decision aid (``/decide/``) and the clinicians' area. The public pages read only published releases
(:mod:`openhsct.portal.published`).

Caching: the registry's tables and the summaries computed from them are expensive. They are cached under a
*registry version* — the id and time of the newest :class:`~openhsct.registry.models.AuditEvent` (exports
aside) and the number of patients — which changes on every save, delete and import (each writes an audit
row), so a cached summary is never served after the data changed. The typed tables are kept in this
process only (they are large); the small public summaries go to Django's cache.

The version lives in the database, so every gunicorn worker (a separate process with its own memory
cache) sees a change made by any other. Reading it costs two queries, so each process keeps it in Django's
cache for at most ``VERSION_SECONDS``; a change made in this process (any save or delete of a registry
model) drops that copy at once and again when its transaction commits. Another process therefore serves
the old pages for at most ``VERSION_SECONDS`` after a change.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.cache import cache

# The published evidence as the public pages show it lives with the releases (it is built into each).
from openhsct.releases.evidence import citation_url, pooled_evidence  # noqa: F401

CACHE_SECONDS = 3600
VERSION_SECONDS = 1.0
VERSION_KEY = "portal:registry-version"
_frames_lock = threading.Lock()
_frames_memo: dict[str, Any] = {}
_compute_locks: dict[str, threading.Lock] = {}
_generation = [0]  # bumped on every local change: a version read that straddles one is not kept


def _read_registry_version() -> str:
    """The version as stored: ``<newest audit id>.<its time in µs>-<patients>``, exports aside (an export
    changes no data). The time keeps two databases that reuse audit ids (SQLite after a wipe) apart."""
    from openhsct.registry.audit import NON_DATA_ACTIONS  # exports, views, sign-ins change no data
    from openhsct.registry.models import AuditEvent, Patient

    top = AuditEvent.objects.exclude(action__in=NON_DATA_ACTIONS).order_by("-id").values_list("id", "at").first()
    stamp = f"{top[0]}.{int(top[1].timestamp() * 1e6)}" if top else "0"
    return f"{stamp}-{Patient.objects.count()}"


def registry_version() -> str:
    """A key that changes whenever registry data change; read from the database at most once every
    ``VERSION_SECONDS`` per process, and at once after a change made in this process."""
    version = cache.get(VERSION_KEY)
    if version is None:
        generation = _generation[0]
        version = _read_registry_version()
        if generation == _generation[0]:
            cache.set(VERSION_KEY, version, VERSION_SECONDS)
    return version


def _forget_version() -> None:
    _generation[0] += 1
    cache.delete(VERSION_KEY)


def registry_changed(sender, instance=None, using=None, **kwargs) -> None:
    """Signal receiver (``post_save``/``post_delete`` of the registry's models, connected in
    :class:`~openhsct.portal.apps.PortalConfig`): forget the version now and when the transaction commits,
    so neither this process's next request nor a read racing the commit keeps the old one."""
    from django.db import transaction

    if sender._meta.app_label != "registry":
        return
    from openhsct.registry.audit import NON_DATA_ACTIONS

    if sender.__name__ == "AuditEvent" and getattr(instance, "action", None) in NON_DATA_ACTIONS:
        return
    _forget_version()
    transaction.on_commit(_forget_version, using=using)


def cached(name: str, compute, *, version: str | None = None):
    """``compute(version)``, kept in Django's cache under ``portal:<name>:<registry version>``. Threads of
    one process that miss together wait for one computation instead of repeating it (a worker that starts
    cold under load would otherwise build the same summary once per thread)."""
    version = version or registry_version()
    key = f"portal:{name}:{version}"
    value = cache.get(key)
    if value is None:
        with _compute_lock(name):
            value = cache.get(key)
            if value is None:
                value = compute(version)
                cache.set(key, value, CACHE_SECONDS)
    return value


def _compute_lock(name: str) -> threading.Lock:
    with _frames_lock:
        return _compute_locks.setdefault(name, threading.Lock())


def registry_tables(version: str | None = None) -> dict:
    """The registry as typed DataFrames (``registry_frames(typed=True)``) restricted to the patients whose
    consent allows publication (:func:`openhsct.registry.consent.publishable`), memoised per version. Every
    public number is computed from these tables only."""
    from openhsct.registry.consent import publishable
    from openhsct.registry.exporter import registry_frames

    version = version or registry_version()
    with _frames_lock:
        frames = _frames_memo.get(version)
        if frames is None:
            frames = publishable(registry_frames(typed=True)).tables
            _frames_memo.clear()
            _frames_memo[version] = frames
    return frames


def registry_has_synthetic() -> bool:
    """True while any centre of the registry is marked synthetic (drives the banner on every page)."""
    from openhsct.registry.models import Centre

    return cached("synthetic", lambda v: Centre.objects.filter(synthetic="yes").exists())
