"""Rows committed once for a whole module or class of tests, then wiped.

Importing a bundle is audited row by row, so a fixture that imports before every test dominates a suite's
time. A module- or class-scoped fixture can instead build its rows once, commit them outside any test's
transaction, and hand them to tests that each run in pytest-django's rolled-back transaction (the ``db``
fixture): every test sees exactly the committed rows, whatever the test before it wrote. Afterwards every
row that was not in the database before is deleted — audit events included, through the audit trail's
test-only erase switch — so the next module starts from the same empty registry as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")


def existing_rows() -> dict[type, set]:
    """Returns, per concrete model (many-to-many tables included), the primary keys stored now."""
    from django.apps import apps

    return {model: set(model._base_manager.values_list("pk", flat=True))
            for model in apps.get_models(include_auto_created=True)
            if model._meta.managed and not model._meta.proxy}


def wipe_new_rows(before: dict[type, set]) -> int:
    """Delete every row stored since ``before`` (from :func:`existing_rows`), without signals and without
    auditing the wipe. Returns the number of rows deleted."""
    from django.db import transaction

    from openhsct.registry.audit import erasing_allowed, mark_audited

    deleted = 0
    with erasing_allowed(), transaction.atomic():  # foreign keys are checked at commit: any order holds
        mark_audited()
        for model, keys in before.items():
            qs = model._base_manager.exclude(pk__in=keys) if keys else model._base_manager.all()
            deleted += qs._raw_delete(qs.db) or 0
    return deleted


def committed_once(django_db_blocker, build: Callable[[], T]) -> Iterator[T]:
    """Generator for a module- or class-scoped fixture (``yield from committed_once(...)``): yields what
    ``build()`` returns after committing the rows it writes, and deletes those rows when the scope ends."""
    with django_db_blocker.unblock():
        before = existing_rows()
        try:
            value = build()
        except BaseException:
            wipe_new_rows(before)
            raise
    try:
        yield value
    finally:
        with django_db_blocker.unblock():
            wipe_new_rows(before)
