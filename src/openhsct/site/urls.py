from django.contrib import admin
from django.urls import include, path

from openhsct.site import totp

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/totp/", totp.verify, name="totp_verify"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("patient/", include("openhsct.portal.patient.urls")),
    path("", include("openhsct.portal.urls")),
]

#: A generic 500 page with the request id (openhsct.site.security.server_error).
handler500 = "openhsct.site.security.server_error"
