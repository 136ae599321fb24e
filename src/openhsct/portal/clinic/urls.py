"""URLs of the clinicians' area, included by the portal under ``clinic/``."""

from django.urls import path, register_converter

from openhsct.portal.clinic import release_views, views
from openhsct.quality import views as quality
from openhsct.security.keys import PatientKeyConverter

register_converter(PatientKeyConverter, "pkey")

app_name = "clinic"

urlpatterns = [
    path("", views.index, name="index"),
    path("releases/", release_views.releases, name="releases"),
    path("releases/<str:release_id>/publish/", release_views.release_publish, name="release_publish"),
    path("<str:centre_code>/releases/<str:release_id>/", release_views.release_preview, name="release_preview"),
    path("<str:centre_code>/", views.centre_dashboard, name="centre"),
    path("<str:centre_code>/find/", views.find_patient, name="find"),
    path("<str:centre_code>/queries/", quality.queries, name="queries"),
    path("<str:centre_code>/queries.csv", quality.queries_csv, name="queries_csv"),
    path("<str:centre_code>/queries/<int:query_id>/answer/", quality.query_answer, name="query_answer"),
    path("<str:centre_code>/queries/<int:query_id>/close/", quality.query_close, name="query_close"),
    path("<str:centre_code>/queries/<int:query_id>/reopen/", quality.query_reopen, name="query_reopen"),
    path("<str:centre_code>/freeze/", quality.freeze, name="freeze"),
    path("<str:centre_code>/unfreeze/", quality.unfreeze, name="unfreeze"),
    path("<str:centre_code>/reminders.csv", quality.reminders_csv, name="reminders_csv"),
    path("<str:centre_code>/patients/<pkey:patient_key>/queries/", quality.query_raise, name="query_raise"),
    path("<str:centre_code>/patients/<pkey:patient_key>/verify/", quality.verify, name="verify"),
    path("<str:centre_code>/patients/<pkey:patient_key>/", views.patient_detail, name="patient"),
    path(
        "<str:centre_code>/patients/<pkey:patient_key>/add/<slug:kind>/", views.record_add, name="record_add"
    ),
]
