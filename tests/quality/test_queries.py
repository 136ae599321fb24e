"""The data-query workflow: a monitor raises a query on a field, the centre's staff answer, the monitor
closes or re-opens; who may do which step; the audit history; the CSV of open queries; source-data
verification."""

from __future__ import annotations

import csv
import io

import pytest

from openhsct.quality import services
from openhsct.quality.models import Query, SourceVerification
from openhsct.registry import models as m
from tests.clinic_urls import patient_url


def _visit(code="P001", day="2019-03-18") -> m.EdssVisit:
    return m.EdssVisit.objects.get(patient__patient_code=code, visit_date=day)


def _raise(client, visit, text="Source says 3.5?", field="edss", patient="P001"):
    return client.post(patient_url("NRT", patient, "queries/"),
                       {"target": f"EdssVisit:{visit.pk}:{field}", "text": text, "back": "patient"})


def test_monitor_raises_staff_answer_monitor_closes_and_the_history_shows_each_step(registry, signed_in):
    visit = _visit()
    monitor = signed_in(registry["monitor"])
    response = _raise(monitor, visit)
    assert response.status_code == 302 and response["Location"] == patient_url("NRT", "P001", "#queries")
    q = Query.objects.get()
    assert (q.status, q.model, q.object_pk, q.field, q.origin, q.raised_by) == (
        "open", "EdssVisit", str(visit.pk), "edss", "monitor", registry["monitor"])

    staff = signed_in(registry["north_staff"])
    assert staff.post(f"/clinic/NRT/queries/{q.pk}/answer/", {"text": "Checked the chart: 3.0 is right."}
                      ).status_code == 302
    q.refresh_from_db()
    assert q.status == "answered"

    monitor = signed_in(registry["monitor"])
    assert monitor.post(f"/clinic/NRT/queries/{q.pk}/close/", {"text": "Thanks."}).status_code == 302
    q.refresh_from_db()
    assert q.status == "closed"
    assert [(x.step, x.by.username) for x in q.messages.all()] == [
        ("raise", "monitor"), ("answer", "north_staff"), ("close", "monitor")]
    assert "(value: 3.0)" in q.messages.first().text

    events = m.AuditEvent.objects.filter(patient_code="P001", model="QueryMessage").order_by("id")
    assert [(e.actor, e.after["step"]) for e in events] == [
        ("monitor", "raise"), ("north_staff", "answer"), ("monitor", "close")]
    assert events[1].after["text"] == "Checked the chart: 3.0 is right."
    statuses = m.AuditEvent.objects.filter(model="Query", action="update").order_by("id")
    assert [(e.before["status"], e.after["status"]) for e in statuses] == [("open", "answered"),
                                                                             ("answered", "closed")]
    page = monitor.get(patient_url("NRT", "P001")).content.decode()
    history = page.split('id="audit-history"')[1]
    assert "Checked the chart: 3.0 is right." in history and "answered" in history and "closed" in history


def test_staff_cannot_raise_or_close_and_monitor_cannot_answer(registry, signed_in):
    visit = _visit()
    staff = signed_in(registry["north_staff"])
    assert _raise(staff, visit).status_code == 403
    q = services.raise_query(user=registry["monitor"], patient=visit.patient, model="EdssVisit",
                             object_pk=str(visit.pk), field="edss", text="Check")
    assert staff.post(f"/clinic/NRT/queries/{q.pk}/close/", {"text": "done"}).status_code == 403
    assert staff.post(f"/clinic/NRT/queries/{q.pk}/reopen/", {"text": "again"}).status_code == 403
    monitor = signed_in(registry["monitor"])
    response = monitor.post(f"/clinic/NRT/queries/{q.pk}/answer/", {"text": "as if I were staff"})
    assert response.status_code == 403 and "Only the centre" in response.content.decode()
    q.refresh_from_db()
    assert q.status == "open" and q.messages.count() == 1


def test_other_centre_cannot_reach_a_query(registry, signed_in):
    visit = _visit()
    q = services.raise_query(user=registry["monitor"], patient=visit.patient, model="EdssVisit",
                             object_pk=str(visit.pk), field="edss", text="Check")
    south = signed_in(registry["south_staff"])
    assert south.post(f"/clinic/SRC/queries/{q.pk}/answer/", {"text": "not mine"}).status_code == 404
    assert south.post(f"/clinic/NRT/queries/{q.pk}/answer/", {"text": "not mine"}).status_code == 404
    assert south.get("/clinic/NRT/queries/").status_code == 404
    assert south.get("/clinic/NRT/queries.csv").status_code == 404
    monitor = signed_in(registry["monitor"])
    assert monitor.post(f"/clinic/SRC/queries/{q.pk}/close/").status_code == 404
    assert monitor.post(patient_url("SRC", "P001", "queries/"), {"target": f"EdssVisit:{visit.pk}:edss",
                                                              "text": "x"}).status_code == 404


def test_workflow_order_is_enforced(registry):
    visit, monitor, staff = _visit(), registry["monitor"], registry["north_staff"]
    q = services.raise_query(user=monitor, patient=visit.patient, model="EdssVisit", object_pk=str(visit.pk),
                             field="edss", text="Check")
    with pytest.raises(services.WorkflowError, match="cannot be re-opened"):
        services.reopen_query(user=monitor, query=q, text="why")
    services.close_query(user=monitor, query=q)
    with pytest.raises(services.WorkflowError, match="closed: it cannot be answered"):
        services.answer_query(user=staff, query=q, text="late")
    services.reopen_query(user=monitor, query=q, text="The value still differs from the letter.")
    assert q.status == "open"
    with pytest.raises(services.WorkflowError, match="Write the answer"):
        services.answer_query(user=staff, query=q, text="  ")
    with pytest.raises(services.WorkflowError, match="has no field"):
        services.raise_query(user=monitor, patient=visit.patient, model="EdssVisit", object_pk=str(visit.pk),
                             field="nonsense", text="x")
    by_rule = services.raise_query(user=None, patient=visit.patient, model="EdssVisit", object_pk=str(visit.pk),
                                   field="visit_date", text="Visit outside the schedule's window", origin="rule")
    assert (by_rule.origin, by_rule.raised_by, by_rule.messages.get().by) == ("rule", None, None)
    other = m.EdssVisit.objects.filter(patient__patient_code="P002").first()
    with pytest.raises(services.WorkflowError, match="has no EdssVisit record"):
        services.raise_query(user=monitor, patient=visit.patient, model="EdssVisit", object_pk=str(other.pk),
                             field="edss", text="x")


def test_a_refused_step_is_a_message_not_an_error_page(registry, signed_in):
    visit = _visit()
    q = services.raise_query(user=registry["monitor"], patient=visit.patient, model="EdssVisit",
                             object_pk=str(visit.pk), field="edss", text="Check")
    staff = signed_in(registry["north_staff"])
    response = staff.post(f"/clinic/NRT/queries/{q.pk}/answer/", {"text": ""}, follow=True)
    assert response.status_code == 200 and "Write the answer." in response.content.decode()


def test_open_queries_on_the_dashboard_and_as_csv(registry, signed_in):
    visit = _visit()
    monitor = registry["monitor"]
    open_q = services.raise_query(user=monitor, patient=visit.patient, model="EdssVisit", object_pk=str(visit.pk),
                                  field="edss", text='Is "3.0" right, or 3.5?')
    closed = services.raise_query(user=monitor, patient=visit.patient, model="EdssVisit",
                                  object_pk=str(visit.pk), field="visit_date", text="Date?")
    services.close_query(user=monitor, query=closed)
    client = signed_in(registry["north_staff"])
    page = client.get("/clinic/NRT/").content.decode()
    board = page.split('id="open-queries"')[1].split('id="completeness"')[0]
    assert "1 query not closed yet" in board and "3.5?" in board and "Date?" not in board

    response = client.get("/clinic/NRT/queries.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="NRT-open-queries.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["query_id"], r["patient_code"], r["field"], r["status"], r["question"]) for r in rows] == [
        (str(open_q.pk), "P001", "edss", "open", 'Is "3.0" right, or 3.5?')]
    listing = client.get("/clinic/NRT/queries/?status=closed").content.decode()
    assert "Date?" in listing and "3.5?" not in listing


def test_monitor_index_counts_open_queries_per_centre(registry, signed_in):
    visit = _visit()
    services.raise_query(user=registry["monitor"], patient=visit.patient, model="EdssVisit",
                         object_pk=str(visit.pk), field="edss", text="Check")
    page = signed_in(registry["monitor"]).get("/clinic/").content.decode()
    assert "1 open query" in page


def test_only_monitors_set_source_data_verification(registry, signed_in):
    visit = _visit()
    data = {"record": f"EdssVisit:{visit.pk}", "status": "verified", "note": "clinic letter"}
    assert signed_in(registry["north_staff"]).post(patient_url("NRT", "P001", "verify/"), data).status_code == 403
    assert not SourceVerification.objects.exists()
    monitor = signed_in(registry["monitor"])
    assert monitor.post(patient_url("NRT", "P001", "verify/"), data).status_code == 302
    sdv = SourceVerification.objects.get()
    assert (sdv.status, sdv.by, sdv.note) == ("verified", registry["monitor"], "clinic letter")
    monitor.post(patient_url("NRT", "P001", "verify/"), {**data, "status": "discrepancy"})
    assert SourceVerification.objects.get().status == "discrepancy"
    event = m.AuditEvent.objects.filter(model="SourceVerification", action="update").get()
    assert (event.before["status"], event.after["status"]) == ("verified", "discrepancy")
    page = monitor.get(patient_url("NRT", "P001")).content.decode()
    assert "Discrepancy found (monitor" in page.split('id="timeline"')[1]
    response = monitor.post(patient_url("NRT", "P001", "verify/"), {**data, "status": "bogus"}, follow=True)
    assert "is not a verification status" in response.content.decode()
