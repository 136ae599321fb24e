"""Public portal URLs; the clinicians' area (``openhsct.portal.clinic``) is included under ``clinic/``
when that package is installed."""

from importlib.util import find_spec

from django.urls import include, path, re_path

from openhsct.portal import decide, public_views, views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("centres/<str:code>/", views.centre, name="centre"),
    re_path(r"^centres/(?P<code>[^/]+)/report\.(?P<fmt>pdf|html)$", views.centre_report, name="report"),
    re_path(r"^centres/(?P<code>[^/]+)/summary\.(?P<fmt>csv)$", views.centre_report, name="summary_csv"),
    path("compare/", views.compare, name="compare"),
    path("compare.csv", views.compare_csv, name="compare_csv"),
    path("evidence/", views.evidence, name="evidence"),
    path("evidence/studies.csv", public_views.evidence_table_csv, name="evidence_studies_csv"),
    path("evidence/pooled.csv", public_views.evidence_pooled_csv, name="evidence_pooled_csv"),
    path("glossary/", public_views.glossary, name="glossary"),
    path("about/", views.about, name="about"),
    path("decide/", decide.decide, name="decide"),
    path("releases/", views.releases, name="releases"),
    re_path(r"^releases/(?P<release_id>[0-9a-f]{16})/archive\.zip$", views.release_archive, name="release_archive"),
]


def _clinic_installed() -> bool:
    try:
        return find_spec("openhsct.portal.clinic.urls") is not None
    except ModuleNotFoundError:
        return False


if _clinic_installed():
    urlpatterns.append(path("clinic/", include("openhsct.portal.clinic.urls")))
