"""Portal views (the public pages are built in the portal work; this is the landing page)."""

from django.shortcuts import render

from openhsct.registry.models import Centre


def home(request):
    centres = Centre.objects.order_by("centre_code")
    return render(request, "portal/home.html", {"centres": centres})
