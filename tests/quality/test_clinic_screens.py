"""The clinic screens: soft warnings confirmed in the forms, the visit schedule and its reminder CSV,
patient search, pagination, the timeline chart and the patient's audit history with values."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

from openhsct.quality import services
from openhsct.quality.models import VisitSchedule, WarningConfirmation
from openhsct.registry import models as m
from tests.clinic_urls import patient_url


def _edss(client, day, edss, **extra):
    return client.post(patient_url("NRT", "P001", "add/edss/"),
                       {"edss-visit_date": day, "edss-edss": edss, **extra})


def test_a_soft_warning_asks_for_confirmation_then_saves_and_stores_who_confirmed(registry, signed_in):
    staff = signed_in(registry["north_staff"])
    # P001's last visit: EDSS 3.0 on 2019-03-18; 6.0 two months later is a jump of 3
    response = _edss(staff, "2019-05-20", "6.0")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Please check before saving" in page and "differs by 3 from EDSS 3 on 2019-03-18" in page
    assert 'name="edss-confirm"' in page and "I have checked this value" in page
    assert 'value="2019-05-20"' in page  # the form keeps the values to re-post
    assert not m.EdssVisit.objects.filter(visit_date="2019-05-20").exists()

    response = _edss(staff, "2019-05-20", "6.0", **{"edss-confirm": "yes"})
    assert response.status_code == 302
    visit = m.EdssVisit.objects.get(visit_date="2019-05-20")
    confirmation = WarningConfirmation.objects.get()
    assert (confirmation.check_code, confirmation.model, confirmation.object_pk, confirmation.confirmed_by) == (
        "edss_jump", "EdssVisit", str(visit.pk), registry["north_staff"])
    page = staff.get(patient_url("NRT", "P001")).content.decode()
    assert "EDSS visit saved for P001 (1 warning confirmed)" in page
    assert "Confirmed by north_staff" in page.split('id="soft-checks"')[1]


def test_a_hard_error_stays_an_error_even_when_confirmed(registry, signed_in):
    response = _edss(signed_in(registry["north_staff"]), "2019-05-20", "6.3", **{"edss-confirm": "yes"})
    assert response.status_code == 400 and "Please check before saving" not in response.content.decode()
    assert not m.EdssVisit.objects.filter(visit_date="2019-05-20").exists()


def test_a_visit_that_moves_the_baseline_and_a_relapse_with_unchanged_edss_warn(registry, signed_in):
    staff = signed_in(registry["north_staff"])
    # P001: mobilisation 2018-02-01, baseline EDSS 3.5 on 2018-01-10; a visit on 2018-01-25 moves it
    page = _edss(staff, "2018-01-25", "4.0").content.decode()
    assert "EDSS 3.5 on 2018-01-10 becomes EDSS 4 on 2018-01-25" in page
    # a relapse 2019-03-01 with the visit of 2019-03-18 unchanged (3.0 as on 2018-09-20)
    page = staff.post(patient_url("NRT", "P001", "add/relapse/"), {"relapse-onset_date": "2019-03-01"}).content.decode()
    assert "17 days after the relapse of 2019-03-01, is unchanged from 2018-09-20" in page


def test_patient_rows_feed_the_checks_from_the_database(registry):
    p001 = m.Patient.objects.get(patient_code="P001")
    rows = services.patient_rows(p001)
    assert rows.transplant[2] == 5.8 and rows.collected == (6.2,)
    assert {d.drug for d in rows.doses} == {"cyclophosphamide", "rATG", "mobilisation cyclophosphamide"}
    assert services.patient_warnings(p001) == []  # the demo patient is plausible
    tx = m.Transplant.objects.get(patient=p001)
    tx.cd34_infused_1e6_per_kg, tx.neutrophil_engraftment_date = 7.0, dt.date(2018, 5, 1)
    tx.save()
    assert sorted(w.warning.code for w in services.patient_warnings(p001)) == ["cd34_above_collected",
                                                                              "late_engraftment"]


def test_a_dose_in_mg_is_checked_with_the_recorded_weight_and_height(registry):
    p001 = m.Patient.objects.get(patient_code="P001")
    drug = m.ConditioningDrug.objects.get(patient=p001, drug="cyclophosphamide")
    drug.total_dose, drug.dose_unit = 21000, "mg"
    drug.save()
    assert services.patient_warnings(p001) == []  # no weight recorded: not checkable
    m.Conditioning.objects.filter(patient=p001).update(weight_kg=70, height_cm=170)
    [found] = services.patient_warnings(p001)
    assert found.warning.code == "dose_range" and "cyclophosphamide 300 mg/kg is outside" in found.warning.message


def test_dashboard_lists_due_and_overdue_with_a_reminder_csv(registry, signed_in):
    client = signed_in(registry["north_staff"])
    page = client.get("/clinic/NRT/").content.decode()
    overdue = page.split('id="overdue"')[1].split('id="due"')[0]
    assert "P001" in overdue and "P002" not in overdue
    response = client.get("/clinic/NRT/reminders.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="NRT-follow-up-reminders.csv"'
    [row] = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert (row["patient_code"], row["state"], row["last_edss_visit"], row["day0"]) == (
        "P001", "overdue", "2019-03-18", "2018-03-20")
    VisitSchedule.objects.create(centre=registry["north"], milestones="100d 6m 12m", repeat_months=0)
    assert client.get("/clinic/NRT/reminders.csv").content.decode().count("\n") == 1  # header only
    assert "then every" not in client.get("/clinic/NRT/").content.decode()


def test_patient_search_and_pagination(registry, signed_in):
    north = registry["north"]
    m.Patient.objects.bulk_create([
        m.Patient(centre=north, patient_code=f"X{i:03d}", sex="female", birth_year=1980, phenotype="RRMS",
                  consent_status="given") for i in range(30)
    ])
    client = signed_in(registry["north_staff"])
    first = client.get("/clinic/NRT/").content.decode().split('id="patients"')[1]
    assert "Page 1 of 2 (32 in all)" in first and "X022<" in first and "X023<" not in first
    second = client.get("/clinic/NRT/?page=2").content.decode().split('id="patients"')[1]
    assert "X023<" in second and "X022<" not in second and 'href="?page=1"' in second
    found = client.post("/clinic/NRT/find/", {"q": " x01 "}, follow=True)
    assert found.redirect_chain == [("/clinic/NRT/#patients", 303)]  # the typed code is in no address
    patients = found.content.decode().split('id="patients"')[1]
    assert re.findall(r">(X01\d)</a>", patients) == [f"X01{i}" for i in range(10)] and "P001" not in patients
    kept = client.get("/clinic/NRT/").content.decode().split('id="patients"')[1]
    assert "whose code contains “x01”" in kept  # the search stays (per centre, in the session) until cleared
    none = client.post("/clinic/NRT/find/", {"q": "S001"}, follow=True).content.decode()
    assert "No patient of this centre has a code containing “S001”" in none  # another centre's patient
    cleared = client.post("/clinic/NRT/find/", {"q": ""}, follow=True).content.decode()
    assert "Page 1 of 2 (32 in all)" in cleared and "whose code contains" not in cleared
    assert client.get("/clinic/NRT/?q=x01").content.decode().count("Page 1 of 2 (32 in all)") == 1  # ?q= is not read


def test_patient_page_has_the_timeline_chart_its_table_and_the_audit_values(registry, signed_in):
    client = signed_in(registry["north_staff"])
    _edss(client, "2024-05-02", "3.5")
    page = client.get(patient_url("NRT", "P001")).content.decode()
    chart = page.split('id="chart"')[1].split('id="timeline"')[0]
    assert '<svg role="img" aria-label="Timeline: EDSS at 4 visits' in chart
    sizes = [float(s) for s in re.findall(r'font-size="?:?\s*([\d.]+)px', chart)]
    assert sizes and min(sizes) >= 12
    assert "1 day 0, 1 relapses" in chart and "2 disease-modifying treatments" in chart
    assert "<td>natalizumab</td>" in chart and "<td>2016-06-30</td>" in chart  # the data table
    history = page.split('id="audit-history"')[1]
    assert "north_staff" in history and "edss: – → 3.5" in history and "visit_date: – → 2024-05-02" in history
