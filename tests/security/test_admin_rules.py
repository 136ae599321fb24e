"""The admin's permission methods read the access rule table: no admin class of the registry decides
access by itself, and changing a rule changes what the admin offers."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory

from openhsct.security import access

pytestmark = pytest.mark.django_db


def _request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_every_registry_and_quality_admin_reads_the_rule_table():
    """Each admin of the registry's and the data manager's tables is a RuledAdmin and overrides none of
    the five permission methods with its own check (ScopedAdmin adds only the data freeze)."""
    from openhsct.registry.admin import RuledAdmin, ScopedAdmin

    own = ("has_module_permission", "has_view_permission", "has_add_permission", "has_change_permission",
           "has_delete_permission")
    for model, model_admin in admin.site._registry.items():
        if not model._meta.label.startswith(("registry.", "quality.")):
            continue
        assert isinstance(model_admin, RuledAdmin), model._meta.label
        for cls in type(model_admin).__mro__:
            if cls in (RuledAdmin, ScopedAdmin) or not issubclass(cls, RuledAdmin):
                continue
            assert not set(vars(cls)) & set(own), (cls.__name__, set(vars(cls)) & set(own))


def test_a_changed_rule_changes_what_the_admin_offers(cast, monkeypatch):
    from openhsct.registry import models as m

    visits = admin.site._registry[m.EdssVisit]
    staff, monitor = _request(cast["north_staff"]), _request(cast["monitor"])
    assert visits.has_add_permission(staff) and visits.has_view_permission(monitor)
    assert not visits.has_add_permission(monitor)
    table = dict(access.rule_table())
    table["admin:registry_edssvisit_add"] = access.NOBODY_RULE
    table["admin:registry_edssvisit_changelist"] = access.monitor_read()
    monkeypatch.setattr(access, "_TABLE", table)
    assert not visits.has_add_permission(staff)
    assert not visits.has_module_permission(staff) and visits.has_module_permission(monitor)


def test_a_record_is_offered_for_the_centres_the_person_may_read_or_change(cast):
    from openhsct.registry import models as m

    patients = admin.site._registry[m.Patient]
    north = m.Patient.objects.create(centre=cast["north"], patient_code="N1", sex="female", birth_year=1980,
                                     phenotype="RRMS", consent_status="given")
    staff, other, monitor = (_request(cast[k]) for k in ("north_staff", "south_staff", "monitor"))
    assert patients.has_view_permission(staff, north) and patients.has_change_permission(staff, north)
    assert not patients.has_view_permission(other, north) and not patients.has_change_permission(other, north)
    assert patients.has_view_permission(monitor, north) and not patients.has_change_permission(monitor, north)
    assert list(patients.get_queryset(other)) == [] and list(patients.get_queryset(staff)) == [north]
