"""The access rule of every URL, in one table, and the middleware that enforces it.

Every URL name of the site (``request.resolver_match.view_name``: public pages, the clinicians' area, the
patient area, sign-in pages, every Django admin view including autocomplete, lookups and actions) has one
:class:`Rule`. :class:`AccessRuleMiddleware` looks the rule up before the view runs and answers:

1. **405** when the method is not one the rule lists (no page of the site takes PUT, PATCH or DELETE);
2. **a redirect to the sign-in page** when the audience is not the public and nobody is signed in (an
   inactive account or an ended session counts as nobody);
3. **403** when the signed-in person's role is not in the audience;
4. **404** when the address names a centre, patient, query or admin record that the person may not read,
   exactly as when it does not exist (:func:`scoped_object`), so codes cannot be probed.

A URL name without a rule is refused with 403 (and ``tests/security/test_access_matrix.py`` fails with
"no access rule for <name>"), so a new page is closed until it is given a rule here.

Audiences (who may use the safe methods, ``read``, and the unsafe ones, ``write``):

- ``public``: anyone; ``signed_in``: any signed-in account (own password, TOTP code page);
- ``reader``: anyone with a role: a centre's staff (their own centre only), a monitor, the administrator;
- ``writer``: a centre's staff (own centre only) and the administrator;
- ``monitor``: a monitor or the administrator (every centre);
- ``admin``: the registry's administrator (superuser);
- ``patient_self``: a patient account, on its own record only (another record answers 404);
- ``nobody``: the framework offers the page, the registry offers it to no role (read-only tables).

The rule names of the table combine them: ``public``, ``signed_in``, ``own_centre_read`` (reader, no
writes), ``own_centre_write`` (reader reads, writer writes; ``write_form`` when even showing the form is a
write, as for add and delete pages), ``monitor_read``, ``monitor_action`` (the monitor's data-quality
steps on workflow tables: raise, close and re-open queries, verify records, freeze, publish a release; they
never change patient records), ``admin``, ``patient_self`` and ``nobody``. ``identifiable`` marks pages
that show pseudonymous patient data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import ResolverMatch

PUBLIC, SIGNED_IN, READER, WRITER = "public", "signed_in", "reader", "writer"
MONITOR, ADMIN, PATIENT_SELF, NOBODY = "monitor", "admin", "patient_self", "nobody"
SAFE_METHODS = ("GET", "HEAD")
FORM_METHODS = ("GET", "HEAD", "POST")
PATIENT_SIGN_IN = "/patient/sign-in/"


@dataclass(frozen=True)
class Rule:
    """Who may use a URL: ``read`` for GET and HEAD, ``write`` for POST; ``methods`` lists the methods the
    URL answers at all; ``identifiable`` says whether it shows pseudonymous patient data."""

    name: str
    read: str
    write: str
    methods: tuple[str, ...]
    identifiable: bool

    def audience(self, method: str) -> str:
        """Returns the audience of ``method`` (``read`` for safe methods, ``write`` otherwise)."""
        return self.read if method in SAFE_METHODS else self.write


def public(methods: tuple[str, ...] = SAFE_METHODS) -> Rule:
    """Returns the rule of a page anyone may open."""
    return Rule("public", PUBLIC, PUBLIC, methods, False)


def signed_in(methods: tuple[str, ...] = FORM_METHODS) -> Rule:
    """Returns the rule of a page any signed-in account may use."""
    return Rule("signed_in", SIGNED_IN, SIGNED_IN, methods, False)


def own_centre_read(identifiable: bool = True) -> Rule:
    """Returns the rule of a page that readers open for the centres they may read; no writes."""
    return Rule("own_centre_read", READER, NOBODY, SAFE_METHODS, identifiable)


def own_centre_search() -> Rule:
    """Returns the rule of a search form readers post to: it changes no record (the typed text is kept in
    the person's server-side session, so it never enters an address) and shows nothing itself."""
    return Rule("own_centre_read", READER, READER, ("POST",), False)


def own_centre_write(identifiable: bool = True, *, write_form: bool = False,
                     methods: tuple[str, ...] = FORM_METHODS) -> Rule:
    """Returns the rule of a page readers open and writers post to (``write_form``: writers only)."""
    return Rule("own_centre_write", WRITER if write_form else READER, WRITER, methods, identifiable)


def monitor_read(identifiable: bool = True) -> Rule:
    """Returns the rule of a page only monitors and the administrator open."""
    return Rule("monitor_read", MONITOR, NOBODY, SAFE_METHODS, identifiable)


def monitor_action(identifiable: bool = True) -> Rule:
    """Returns the rule of a monitor's data-quality step (POST only)."""
    return Rule("monitor_action", MONITOR, MONITOR, ("POST",), identifiable)


def admin_only(identifiable: bool = False, methods: tuple[str, ...] = FORM_METHODS) -> Rule:
    """Returns the rule of a page only the registry's administrator uses."""
    return Rule("admin", ADMIN, ADMIN, methods, identifiable)


def admin_reads(identifiable: bool = False) -> Rule:
    """Returns the rule of a read-only admin page only the administrator opens (no writes)."""
    return Rule("admin", ADMIN, NOBODY, SAFE_METHODS, identifiable)


def reader_admin_writes(identifiable: bool = False) -> Rule:
    """Returns the rule of a table every role reads and only the administrator changes."""
    return Rule("own_centre_write", READER, ADMIN, FORM_METHODS, identifiable)


def patient_self(methods: tuple[str, ...] = SAFE_METHODS) -> Rule:
    """Returns the rule of a patient's own page."""
    return Rule("patient_self", PATIENT_SELF, PATIENT_SELF, methods, True)


NOBODY_RULE = Rule("nobody", NOBODY, NOBODY, FORM_METHODS, False)

#: The site's own URL names (the admin's are generated from its registry: :func:`admin_rules`).
SITE_RULES: dict[str, Rule] = {
    # public pages: every figure comes from a published release (docs/releases.md)
    **{f"portal:{name}": public() for name in (
        "home", "centre", "report", "summary_csv", "compare", "compare_csv", "evidence", "evidence_studies_csv",
        "evidence_pooled_csv", "glossary", "about", "decide", "releases", "release_archive")},
    # signing in and out, passwords
    "login": public(FORM_METHODS),
    "logout": public(("POST",)),
    "password_change": signed_in(),
    "password_change_done": signed_in(SAFE_METHODS),
    "password_reset": public(FORM_METHODS),
    "password_reset_done": public(),
    "password_reset_confirm": public(FORM_METHODS),
    "password_reset_complete": public(),
    "totp_verify": signed_in(),
    "admin:login": public(FORM_METHODS),
    "admin:logout": public(("POST",)),
    "admin:password_change": signed_in(),
    "admin:password_change_done": signed_in(SAFE_METHODS),
    # the clinicians' area
    "portal:clinic:index": signed_in(SAFE_METHODS),  # lists the centres the person may read (none: says so)
    "portal:clinic:releases": own_centre_read(identifiable=False),
    "portal:clinic:release_publish": monitor_action(identifiable=False),
    "portal:clinic:release_preview": own_centre_write(identifiable=False),
    "portal:clinic:centre": own_centre_read(),
    "portal:clinic:find": own_centre_search(),
    "portal:clinic:queries": own_centre_read(),
    "portal:clinic:queries_csv": own_centre_read(),
    "portal:clinic:query_answer": own_centre_write(write_form=True, methods=("POST",)),
    "portal:clinic:query_close": monitor_action(),
    "portal:clinic:query_reopen": monitor_action(),
    "portal:clinic:freeze": monitor_action(),
    "portal:clinic:unfreeze": monitor_action(),
    "portal:clinic:reminders_csv": own_centre_read(),
    "portal:clinic:query_raise": monitor_action(),
    "portal:clinic:verify": monitor_action(),
    "portal:clinic:patient": own_centre_read(),
    "portal:clinic:record_add": own_centre_write(write_form=True),
    # the patient area
    "patient:start": public(),
    "patient:sign_in": public(FORM_METHODS),
    "patient:join": public(FORM_METHODS),
    "patient:invite": own_centre_write(write_form=True),
    "patient:home": patient_self(),
    "patient:questionnaire": patient_self(FORM_METHODS),
    "patient:consent": patient_self(FORM_METHODS),
    "patient:password": patient_self(FORM_METHODS),
    "patient:download_csv": patient_self(),
    "patient:download_fhir": patient_self(),
    # the admin's own pages
    "admin:index": own_centre_read(identifiable=False),
    "admin:app_list": own_centre_read(identifiable=False),
    "admin:jsi18n": own_centre_read(identifiable=False),
    "admin:autocomplete": own_centre_read(),
    "admin:django.contrib.admin.sites.catch_all_view": own_centre_read(identifiable=False),
    # no registry model has a page of its own outside the admin
    "admin:view_on_site": NOBODY_RULE,
    "admin:auth_user_password_change": admin_only(),
    "admin:otp_totp_totpdevice_config": admin_only(),
    # TOTP devices are enrolled from the command line (openhsct.site.totp.enrol), never shown as a QR page
    "admin:otp_totp_totpdevice_qrcode": NOBODY_RULE,
}

#: The admin's unnamed "record address without /change/" redirect: it takes the rule of the change page.
ADMIN_REDIRECT = "admin:django.views.generic.base.RedirectView"
ADMIN_VIEWS = ("changelist", "add", "change", "delete", "history")
ADMIN_ROUTE = re.compile(r"^admin/(?P<app>\w+)/(?P<model>\w+)/")


def _superuser_request():
    """A stand-in request of the administrator, to ask a ModelAdmin what it allows. Returns it."""

    class _Admin:
        is_active = is_staff = is_superuser = is_authenticated = True
        pk = None

        def has_perm(self, perm, obj=None) -> bool:
            return True

        def has_module_perms(self, app_label) -> bool:
            return True

    class _Request:
        user = _Admin()
        method = "GET"
        GET: dict = {}
        POST: dict = {}

    return _Request()


def _model_rules(model, model_admin) -> dict[str, Rule]:
    """The rules of one admin model's five views (changelist, add, change, delete, history). Returns them
    keyed by view (module docstring)."""
    from openhsct.quality.admin import ReadOnlyScoped
    from openhsct.registry import models as m
    from openhsct.registry.admin import AuditEventAdmin, ScopedAdmin

    if isinstance(model_admin, ScopedAdmin) and model is not m.Centre:
        edit = own_centre_write()
        return {"changelist": edit, "add": own_centre_write(write_form=True), "change": edit,
                "delete": own_centre_write(write_form=True), "history": own_centre_read()}
    if isinstance(model_admin, ReadOnlyScoped | AuditEventAdmin):
        read = own_centre_read()
        return {"changelist": read, "add": NOBODY_RULE, "change": read, "delete": NOBODY_RULE, "history": read}
    if model._meta.label == "registry.Membership":  # who holds which role: the administrator's alone
        return {"changelist": admin_only(), "add": admin_only(), "change": admin_only(), "delete": admin_only(),
                "history": admin_reads()}
    if model is m.Centre or model._meta.label == "quality.VisitSchedule":
        read = reader_admin_writes()
        return {"changelist": read, "add": admin_only(), "change": read, "delete": admin_only(),
                "history": own_centre_read(identifiable=False)}
    from openhsct.registry.admin import RuledAdmin

    if isinstance(model_admin, RuledAdmin):  # it asks this table: it must be one of the kinds above
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"{type(model_admin).__name__}: give {model._meta.label} its rules in _model_rules")
    request = _superuser_request()
    may_change = model_admin.has_change_permission(request)
    return {
        "changelist": admin_only() if may_change or model_admin.has_delete_permission(request) else admin_reads(),
        "add": admin_only() if model_admin.has_add_permission(request) else NOBODY_RULE,
        "change": admin_only() if may_change else admin_reads(),
        "delete": admin_only() if model_admin.has_delete_permission(request) else NOBODY_RULE,
        "history": admin_reads(),
    }


def admin_rules(site=None) -> dict[str, Rule]:
    """The rule of every URL name of the admin's registered models (``admin:<app>_<model>_<view>``).

    Returns them keyed by URL name; generated from the admin's registry, so a newly registered model is
    covered (and must fit one of the kinds in :func:`_model_rules`).
    """
    from django.contrib import admin

    site = site or admin.site
    out: dict[str, Rule] = {}
    for model, model_admin in site._registry.items():
        prefix = f"{site.name}:{model._meta.app_label}_{model._meta.model_name}"
        for view, rule in _model_rules(model, model_admin).items():
            out[f"{prefix}_{view}"] = rule
    return out


_TABLE: dict[str, Rule] | None = None


def rule_table() -> dict[str, Rule]:
    """Returns the whole table: the site's rules and the admin's generated ones (built once)."""
    global _TABLE
    if _TABLE is None:
        _TABLE = {**admin_rules(), **SITE_RULES}
    return _TABLE


def rule_for(match: ResolverMatch) -> Rule | None:
    """The rule of a resolved URL; None when the URL name has no rule. Returns it."""
    table = rule_table()
    if match.view_name == ADMIN_REDIRECT:
        found = ADMIN_ROUTE.match(match.route or "")
        return table.get(f"admin:{found['app']}_{found['model']}_change") if found else None
    return table.get(match.view_name)


# -------------------------------------------------------------------------------------------- who


def in_audience(user, audience: str) -> bool:
    """Whether a signed-in ``user`` belongs to ``audience`` (centres aside). Returns the answer."""
    from openhsct.registry import roles

    if audience in (PUBLIC, SIGNED_IN):
        return True
    if audience == ADMIN:
        return bool(user.is_superuser)
    if audience == READER:
        return bool(user.is_superuser or roles.membership(user) is not None)
    if audience == WRITER:
        return bool(user.is_superuser or roles.staff_centre(user) is not None)
    if audience == MONITOR:
        return bool(user.is_superuser or roles.is_monitor(user))
    if audience == PATIENT_SELF:
        from openhsct.registry.models import PatientAccount

        return PatientAccount.objects.filter(user_id=user.pk).exists()
    return False


# ------------------------------------------------------------------------------------ object scope


def centre_of(obj):
    """The centre a record belongs to (:func:`openhsct.registry.roles.centre_of`). Returns the Centre, or
    None for rows of no centre."""
    from openhsct.registry import roles

    return roles.centre_of(obj)


def may_write(user, centre) -> bool:
    """Whether ``user`` may change rows of ``centre`` (None: rows of no centre, the administrator only).
    Returns the answer."""
    from openhsct.registry import roles

    return roles.can_write_centre(user, centre)


def admin_allows(user, model, view: str, method: str, obj=None, *, site: str = "admin") -> bool:
    """Whether the rule of the admin page ``<site>:<app>_<model>_<view>`` lets ``user`` use ``method``
    and, for a record ``obj``, whether its centre is one the user may read (GET, HEAD) or change (POST).

    The admin classes' permission methods ask only this (:class:`openhsct.registry.admin.RuledAdmin`),
    so the table that the middleware enforces before a view runs also decides which links, buttons and
    forms the admin offers. Returns the answer.
    """
    rule = rule_table().get(f"{site}:{model._meta.app_label}_{model._meta.model_name}_{view}")
    if rule is None or method not in rule.methods or not (user.is_authenticated and user.is_active):
        return False
    audience = rule.audience(method)
    if audience == NOBODY or not in_audience(user, audience):
        return False
    if obj is None or user.is_superuser:  # the administrator reads and changes every centre's records
        return True
    return may_read(user, centre_of(obj)) if method in SAFE_METHODS else may_write(user, centre_of(obj))


CENTRE_SCOPED_MODELS = ("registry.", "quality.")


def _admin_object(match: ResolverMatch):
    """The admin record a URL names, with its model; (None, None) when the URL names none. Returns
    (model, object or None); the object is None when it does not exist."""
    from django.apps import apps
    from django.core.exceptions import ValidationError

    found = ADMIN_ROUTE.match(match.route or "")
    object_id = match.kwargs.get("object_id")
    if not found or object_id is None:
        return None, None
    try:
        model = apps.get_model(found["app"], found["model"])
    except LookupError:
        return None, None
    if not model._meta.label.startswith(CENTRE_SCOPED_MODELS) or model._meta.label == "registry.Membership":
        return None, None
    try:
        return model, model._default_manager.filter(pk=object_id).first()
    except (ValueError, TypeError, ValidationError):
        return model, None


def may_read(user, centre) -> bool:
    """Whether ``user`` may read rows of ``centre`` (None: rows of no centre, for cross-centre readers
    only). Returns the answer."""
    from openhsct.registry import roles

    if centre is None:
        return bool(user.is_superuser or roles.is_monitor(user))
    return roles.can_read_centre(user, centre)


def scoped_object(request: HttpRequest, match: ResolverMatch) -> None:
    """Raise Http404 when the URL names a centre, a patient, a query or an admin record that does not
    exist or that the signed-in user may not read (the same answer for both). Returns nothing."""
    from openhsct.quality.models import Query
    from openhsct.registry import models as m
    from openhsct.security import keys

    user, kwargs = request.user, match.kwargs
    if "centre_code" in kwargs:
        centre = m.Centre.objects.filter(centre_code=kwargs["centre_code"]).first()
        if centre is None or not may_read(user, centre):
            raise Http404("No such page.")
        if "patient_key" in kwargs and keys.code_for(centre, kwargs["patient_key"]) is None:
            raise Http404("No such patient at this centre.")
        if "query_id" in kwargs and not Query.objects.filter(centre=centre, pk=kwargs["query_id"]).exists():
            raise Http404("No such query at this centre.")
    model, obj = _admin_object(match)
    if model is not None and (obj is None or not may_read(user, centre_of(obj))):
        raise Http404("No such record.")
    if PATIENT_SELF in (rule_for(match).read, rule_for(match).write) and not m.PatientAccount.objects.filter(
            user_id=user.pk, patient_id=kwargs.get("pk")).exists():
        raise Http404("No such page.")


def centre_named(centre_code: str):
    """The centre of a URL's ``centre_code``, which :class:`AccessRuleMiddleware` has scoped to the user.
    Returns the Centre; Http404 when there is none."""
    from openhsct.registry.models import Centre

    centre = Centre.objects.filter(centre_code=centre_code).first()
    if centre is None:
        raise Http404("No such centre.")
    return centre


def patient_named(centre_code: str, patient_key: str):
    """The patient of a URL's ``centre_code`` and opaque ``patient_key`` (:mod:`openhsct.security.keys`;
    scoped by the middleware). Returns the Patient; Http404 when there is none."""
    from openhsct.security import keys

    patient = keys.patient_for(centre_named(centre_code), patient_key)
    if patient is None:
        raise Http404("No such patient at this centre.")
    return patient


# -------------------------------------------------------------------------------------- middleware


def _refusal(request: HttpRequest, status: int, reason: str) -> HttpResponse:
    """A 403 or 404 page. In the clinicians' area it has the area's layout and note; elsewhere it is
    Django's own page. Returns the response (or raises the matching exception)."""
    match = request.resolver_match
    if match is not None and "clinic" in match.namespaces:
        from openhsct.portal.clinic.views import _render

        return _render(request, "portal/clinic/forbidden.html", {"reason": reason}, status=status)
    from django.core.exceptions import PermissionDenied

    raise (PermissionDenied(reason) if status == 403 else Http404(reason))


def check(request: HttpRequest, match: ResolverMatch) -> HttpResponse | None:
    """Apply the URL's rule to the request (module docstring). Returns the refusal, or None to let the
    view answer."""
    rule = rule_for(match)
    if rule is None:
        return _refusal(request, 403, f"no access rule for {match.view_name}")
    method = request.method or "GET"
    if method not in rule.methods:
        return HttpResponseNotAllowed(rule.methods)
    audience = rule.audience(method)
    if audience == PUBLIC:
        return None
    user = request.user
    if not user.is_authenticated:
        login_url = PATIENT_SIGN_IN if audience == PATIENT_SELF else None
        return redirect_to_login(request.get_full_path(), login_url)
    if audience == NOBODY:
        return _refusal(request, 403, "Nobody can do this here.")
    if not in_audience(user, audience):
        if audience == PATIENT_SELF:
            return _refusal(request, 404, "No such page.")
        return _refusal(request, 403, REASONS.get(audience, "Your role does not allow this."))
    try:
        scoped_object(request, match)
    except Http404:
        return _refusal(request, 404, "No such page: it does not exist, or it is not one you can open.")
    return None


REASONS = {
    READER: "You have no role in the registry.",
    WRITER: "Only the centre's own staff can do this (change its records, answer its queries).",
    MONITOR: "Only a monitor can do this.",
    ADMIN: "Only the registry's administrator can do this.",
}


class AccessRuleMiddleware:
    """Enforce :func:`check` for every resolved URL, before its view runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        """Returns the refusal of the URL's rule, or None (the view runs)."""
        match = request.resolver_match
        return None if match is None else check(request, match)


def unruled(names: Iterable[str]) -> list[str]:
    """Returns the names among ``names`` that have no rule (for the matrix test and ``check``)."""
    table = rule_table()
    return [n for n in names if n not in table and n != ADMIN_REDIRECT]
