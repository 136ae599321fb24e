"""URLs of the patient area, included by the portal under ``patient/``."""

from django.contrib.auth import views as auth_views
from django.urls import path

from openhsct.portal.patient import views

app_name = "patient"

urlpatterns = [
    path("", views.start, name="start"),
    path("sign-in/", auth_views.LoginView.as_view(template_name="portal/patient/sign_in.html",
                                                  next_page="/patient/"), name="sign_in"),
    path("join/<str:token>/", views.join, name="join"),
    path("invite/", views.invite, name="invite"),
    path("<int:pk>/", views.home, name="home"),
    path("<int:pk>/questionnaires/<slug:code>/", views.questionnaire, name="questionnaire"),
    path("<int:pk>/consent/", views.consent, name="consent"),
    path("<int:pk>/password/", views.password, name="password"),
    path("<int:pk>/my-data.zip", views.download_csv, name="download_csv"),
    path("<int:pk>/my-data.fhir.json", views.download_fhir, name="download_fhir"),
]
