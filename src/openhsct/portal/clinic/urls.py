"""URLs of the clinicians' area, included by the portal under ``clinic/``."""

from django.urls import path

from openhsct.portal.clinic import release_views, views

app_name = "clinic"

urlpatterns = [
    path("", views.index, name="index"),
    path("releases/", release_views.releases, name="releases"),
    path("releases/<str:release_id>/publish/", release_views.release_publish, name="release_publish"),
    path("<str:centre_code>/releases/<str:release_id>/", release_views.release_preview, name="release_preview"),
    path("<str:centre_code>/", views.centre_dashboard, name="centre"),
    path("<str:centre_code>/patients/<str:patient_code>/", views.patient_detail, name="patient"),
    path(
        "<str:centre_code>/patients/<str:patient_code>/add/<slug:kind>/", views.record_add, name="record_add"
    ),
]
