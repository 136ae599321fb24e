"""Freezes: only a monitor freezes (with a reason) and lifts (with a reason, audited); frozen records are
read-only in the clinic forms and the admin and refused by import; the release cut stops a frozen centre
at its freeze date."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from django.forms import modelform_factory

from openhsct.errors import ValidationError
from openhsct.quality import services
from openhsct.quality.freeze import freeze_dates, is_frozen, with_freeze_check
from openhsct.quality.models import Freeze
from openhsct.registry import models as m
from openhsct.registry.importer import import_bundle
from openhsct.releases.cut import apply_cut
from tests.clinic_urls import patient_url
from tests.registry.bundle_factory import small_bundle, write


def _freeze(registry, until="2019-06-30", reason="Database lock for the 2019 annual report"):
    return services.freeze_centre(user=registry["monitor"], centre=registry["north"],
                                  until=dt.date.fromisoformat(until), reason=reason)


def test_only_a_monitor_freezes_with_a_reason_and_lifts_it_audited(registry, signed_in):
    staff = signed_in(registry["north_staff"])
    assert staff.post("/clinic/NRT/freeze/", {"until": "2019-06-30", "reason": "x"}).status_code == 403
    monitor = signed_in(registry["monitor"])
    page = monitor.post("/clinic/NRT/freeze/", {"until": "2019-06-30", "reason": " "}, follow=True).content.decode()
    assert "Write the reason for the freeze." in page and not Freeze.objects.exists()
    page = monitor.post("/clinic/NRT/freeze/", {"until": "30/06/2019", "reason": "lock"}, follow=True).content.decode()
    assert "YYYY-MM-DD" in page and not Freeze.objects.exists()
    monitor.post("/clinic/NRT/freeze/", {"until": "2019-06-30", "reason": "Annual report lock"})
    assert freeze_dates() == {"NRT": dt.date(2019, 6, 30)}
    page = monitor.get("/clinic/NRT/").content.decode()
    assert "Frozen up to 2019-06-30" in page and "Annual report lock" in page
    again = monitor.post("/clinic/NRT/freeze/", {"until": "2020-01-01", "reason": "again"}, follow=True)
    assert "already frozen" in again.content.decode()
    staff = signed_in(registry["north_staff"])
    assert staff.post("/clinic/NRT/unfreeze/", {"reason": "x"}).status_code == 403
    monitor = signed_in(registry["monitor"])
    monitor.post("/clinic/NRT/unfreeze/", {"reason": "Late lab results for P001"})
    assert freeze_dates() == {}
    lifted = m.AuditEvent.objects.filter(model="Freeze", action="update").get()
    assert lifted.after["lift_reason"] == "Late lab results for P001" and lifted.actor == "monitor"


def test_frozen_records_are_refused_by_the_clinic_form_until_unfrozen(registry, signed_in):
    _freeze(registry)
    staff = signed_in(registry["north_staff"])
    response = staff.post(patient_url("NRT", "P001", "add/edss/"), {"edss-visit_date": "2019-06-01", "edss-edss": "3.0"})
    assert response.status_code == 400
    assert "frozen up to 2019-06-30" in response.content.decode()
    assert not m.EdssVisit.objects.filter(visit_date="2019-06-01").exists()
    after = staff.post(patient_url("NRT", "P001", "add/edss/"), {"edss-visit_date": "2019-07-01", "edss-edss": "3.0"})
    assert after.status_code == 302  # after the freeze date: allowed
    services.lift_freeze(user=registry["monitor"], centre=registry["north"], reason="correction")
    again = staff.post(patient_url("NRT", "P001", "add/edss/"), {"edss-visit_date": "2019-06-01", "edss-edss": "3.0"})
    assert again.status_code == 302


def test_frozen_records_are_read_only_in_the_admin(registry, signed_in):
    _freeze(registry)
    frozen = m.EdssVisit.objects.get(patient__patient_code="P001", visit_date="2019-03-18")
    assert is_frozen(frozen) and "frozen up to 2019-06-30" in is_frozen(frozen)
    staff = signed_in(registry["north_staff"])
    url = f"/admin/registry/edssvisit/{frozen.pk}/change/"
    assert staff.post(url, {"patient": frozen.patient_id, "visit_date": "2019-03-18", "edss": "4.0"}).status_code == 403
    frozen.refresh_from_db()
    assert str(frozen.edss) == "3.0"
    delete = f"/admin/registry/edssvisit/{frozen.pk}/delete/"
    assert staff.post(delete, {"post": "yes"}).status_code == 403  # nor deleted
    assert m.EdssVisit.objects.filter(pk=frozen.pk).exists()
    form_class = with_freeze_check(modelform_factory(m.EdssVisit, fields=["patient", "visit_date", "edss"]))
    form = form_class({"patient": frozen.patient_id, "visit_date": "2019-01-02", "edss": "3.0"})
    assert not form.is_valid() and "frozen up to 2019-06-30" in form.non_field_errors()[0]
    later = form_class({"patient": frozen.patient_id, "visit_date": "2019-08-02", "edss": "3.0"})
    assert later.is_valid()


def test_import_refuses_new_or_changed_frozen_rows_but_not_a_repeat(registry, tmp_path):
    _freeze(registry)
    import_bundle(write(small_bundle(), tmp_path / "same"), actor="cli:test")  # nothing changes: allowed
    bundle = small_bundle()
    bundle["edss_visits"].append({"centre_code": "NRT", "patient_code": "P001", "visit_date": "2019-05-01",
                                  "edss": "3.5"})
    bundle["edss_visits"][1]["edss"] = "4.0"  # 2018-09-20 changed
    bundle["edss_visits"].append({"centre_code": "NRT", "patient_code": "P001", "visit_date": "2019-09-01",
                                  "edss": "3.5"})
    with pytest.raises(ValidationError) as caught:
        import_bundle(write(bundle, tmp_path / "changed"), actor="cli:test")
    details = [d for d in caught.value.details if "frozen" in d]
    assert len(details) == 2
    assert details[0].startswith("edss_visits.csv:3:visit_date: centre NRT's data are frozen up to 2019-06-30")
    assert "(2019-05-01)" in details[1]
    assert not m.EdssVisit.objects.filter(visit_date="2019-09-01").exists()  # all or nothing


def _typed(rows: list[dict], dates: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for d in dates:
        frame[d] = pd.to_datetime(frame[d])
    return frame


def test_release_cut_stops_a_frozen_centre_at_its_freeze_date():
    tables = {
        "patients": _typed([{"centre_code": c, "patient_code": "P1", "last_contact_date": "2020-05-01"}
                            for c in ("NRT", "SRC")], ("last_contact_date",)),
        "transplants": _typed([{"centre_code": "NRT", "patient_code": "P1", "day0": "2018-03-20"},
                               {"centre_code": "SRC", "patient_code": "P1", "day0": "2019-09-01"}], ("day0",)),
        "edss_visits": _typed([{"centre_code": c, "patient_code": "P1", "visit_date": d, "edss": 3.0}
                               for c in ("NRT", "SRC") for d in ("2019-03-18", "2019-11-01")], ("visit_date",)),
    }
    plain = apply_cut(tables, dt.date(2020, 1, 1))
    frozen = apply_cut(tables, dt.date(2020, 1, 1), freezes={"NRT": dt.date(2019, 6, 30), "SRC": dt.date(2021, 1, 1)})
    assert len(plain["edss_visits"]) == 4
    kept = frozen["edss_visits"]
    assert sorted(zip(kept["centre_code"], kept["visit_date"].dt.strftime("%Y-%m-%d"), strict=True)) == [
        ("NRT", "2019-03-18"), ("SRC", "2019-03-18"), ("SRC", "2019-11-01")]
    contact = dict(zip(frozen["patients"]["centre_code"], frozen["patients"]["last_contact_date"], strict=True))
    assert contact == {"NRT": pd.Timestamp("2019-06-30"), "SRC": pd.Timestamp("2020-01-01")}
    early = apply_cut(tables, dt.date(2020, 1, 1), freezes={"SRC": dt.date(2019, 8, 1)})
    assert list(early["transplants"]["centre_code"]) == ["NRT"]  # SRC's day 0 is after its freeze
