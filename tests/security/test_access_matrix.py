"""Every role × every URL × every method, generated from the URL resolver (as 18F Tock's test_url_auth.py).

Each URL pattern of the site is built with sample objects of centre A and of centre B (a path keyword with no
sample fails the test), requested by eight roles (anonymous, staff of A, staff of B, monitor, administrator,
an inactive account, an ended session, a patient of A) with GET, HEAD, POST, PUT, PATCH and DELETE, and the
answer's class (ok, sign-in, 403, 404, 405) is compared with what the URL's rule in
:mod:`openhsct.security.access` says, for every cell (role × URL × method). The same run checks that
staff of one centre never see the other centre's planted canaries, and that a monitor's requests change
no patient record.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import sys
import time
from dataclasses import dataclass
from importlib import import_module

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, path, resolve

from openhsct.security import access, keys
from tests.clinic_urls import patient_url

pytestmark = pytest.mark.timeout(1200)

ROLES = ("anonymous", "staff_a", "staff_b", "monitor", "admin", "inactive", "expired", "patient_a")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
NOBODY_SIGNED_IN = {"anonymous", "inactive", "expired"}
AUDIENCE = {
    access.READER: {"staff_a", "staff_b", "monitor", "admin"},
    access.WRITER: {"staff_a", "staff_b", "admin"},
    access.MONITOR: {"monitor", "admin"},
    access.ADMIN: {"admin"},
    access.PATIENT_SELF: {"patient_a"},
}
#: URLs whose permitted answer is "not found" for a stated reason.
NOT_FOUND_WHEN_PERMITTED = {
    "admin:django.contrib.admin.sites.catch_all_view": "the admin's catch-all answers 404 to an unknown page",
    "portal:release_archive": "only a published release has an archive; the sample release is a draft",
}
#: URLs whose POST ends the client's session (or signs another account in): the role signs in again after.
SESSION_CHANGING = {"logout", "admin:logout", "patient:join"}
LOGIN_PATHS = ("/accounts/login/", "/admin/login/", "/patient/sign-in/")
A, B = "SYN01", "SYN02"


# ---------------------------------------------------------------------------------------------- world


@dataclass
class World:
    """The sample objects and the signed-in clients of the matrix."""

    centres: dict
    users: dict
    samples: dict  # (keyword, owner) → value; owner "A", "B" or "-"
    admin_objects: dict  # (model label, owner) → pk
    canaries: dict  # owner → list of strings only that centre's pages may show
    release_id: str
    patient_codes: dict = dataclasses.field(default_factory=dict)  # centre code → its patients' codes


def _bare_user(username: str, *, superuser: bool = False, staff: bool = True, active: bool = True):
    user = get_user_model()(username=username, is_staff=staff, is_superuser=superuser, is_active=active)
    user.set_unusable_password()
    user.save()
    return user


def _import_registry(tmp_path) -> None:
    from openhsct.registry.importer import import_bundle
    from openhsct.registry.synth import generate, write_bundle

    write_bundle(generate(centres=2, patients=6, seed=3), tmp_path / "bundle")
    import_bundle(tmp_path / "bundle", actor="matrix-tests")


def _complete_records() -> None:
    """Give every admin table a record of A and of B: a small synthetic bundle lacks some (late effects,
    further transplants, deaths; others at one centre): those are copied from the other centre or made."""
    from django.contrib import admin

    from openhsct.registry import models as m
    from openhsct.registry.admin import ScopedAdmin

    for model, model_admin in admin.site._registry.items():
        if not isinstance(model_admin, ScopedAdmin) or model in (m.Centre, m.Patient):
            continue
        for code, other in ((A, B), (B, A)):
            if model.objects.filter(patient__centre__centre_code=code).exists():
                continue
            row = model.objects.filter(patient__centre__centre_code=other).first()
            if row is not None:
                row.pk = row.id = None
                row.patient = m.Patient.objects.filter(centre__centre_code=code).order_by("patient_code").first()
                row.save()
    for code in (A, B):
        patients = list(m.Patient.objects.filter(centre__centre_code=code).order_by("patient_code"))
        first, last = patients[0], patients[-1]
        if not m.LateEffect.objects.filter(patient__centre__centre_code=code).exists():
            m.LateEffect.objects.create(patient=first, effect_id="L1", effect="other",
                                        diagnosis_date=dt.date(2023, 5, 1))
        if not m.SecondTransplant.objects.filter(patient__centre__centre_code=code).exists():
            m.SecondTransplant.objects.create(patient=first, transplant_date=dt.date(2023, 6, 1), kind="autologous",
                                              indication="other")
        if not m.Death.objects.filter(patient__centre__centre_code=code).exists():
            m.Death.objects.create(patient=last, death_date=m.Patient.objects.get(pk=last.pk).last_contact_date,
                                   cause="Unknown", cause_category="other", transplant_related="no")
        if not m.ReproductiveHealth.objects.filter(patient__centre__centre_code=code).exists():
            m.ReproductiveHealth.objects.create(patient=first, record_date=dt.date(2023, 7, 1))


def _workflow(users: dict, centres: dict) -> dict:
    """A query, a confirmation, a verification, a freeze and a visit schedule per centre, with planted
    canary text. Returns {owner: query}."""
    from openhsct.quality import models as q
    from openhsct.registry import models as m

    queries = {}
    for owner, centre in centres.items():
        patient = m.Patient.objects.filter(centre=centre).order_by("patient_code").first()
        visit = m.EdssVisit.objects.filter(patient=patient).first()
        ref = {"centre": centre, "patient": patient, "model": "EdssVisit", "object_pk": str(visit.pk)}
        queries[owner] = q.Query.objects.create(**ref, field="edss", origin="monitor", raised_by=users["monitor"],
                                                text=f"CANARYQ{owner}X please check")
        q.WarningConfirmation.objects.create(**ref, check_code="edss_jump", message=f"CANARYW{owner}X",
                                             confirmed_by=users[f"staff_{owner.lower()}"])
        q.SourceVerification.objects.create(**ref, status=q.SourceVerification.Status.choices[0][0],
                                            note=f"CANARYV{owner}X", by=users["monitor"])
        q.Freeze.objects.create(centre=centre, frozen_until=dt.date(1990, 1, 1), reason=f"CANARYF{owner}X",
                                frozen_by=users["monitor"])
        q.VisitSchedule.objects.create(centre=centre)
    return queries


def _framework_objects(users: dict) -> None:
    """One row of each framework table the admin shows (groups, login records, a TOTP device)."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django.contrib.auth.models import Group
    from django_otp.plugins.otp_totp.models import TOTPDevice

    Group.objects.create(name="readers")
    base = {"user_agent": "test", "ip_address": "127.0.0.1", "username": "someone", "http_accept": "*/*",
            "path_info": "/accounts/login/"}
    AccessAttempt.objects.create(**base, get_data="", post_data="", failures_since_start=1)
    AccessLog.objects.create(**base)
    AccessFailureLog.objects.create(**base)
    TOTPDevice.objects.create(user=users["monitor"], name="phone", confirmed=True)


def build_world(tmp_path) -> World:
    """Two centres with a synthetic registry, the eight roles' accounts and a sample of every object a URL
    names. Returns the World."""
    from django.contrib.contenttypes.models import ContentType

    from openhsct.portal.patient import services as patient_services
    from openhsct.registry import models as m
    from openhsct.releases.models import Release

    _import_registry(tmp_path)
    centres = {"A": m.Centre.objects.get(centre_code=A), "B": m.Centre.objects.get(centre_code=B)}
    _complete_records()
    users = {
        "staff_a": _bare_user("staff_a"), "staff_b": _bare_user("staff_b"), "monitor": _bare_user("monitor"),
        "admin": _bare_user("admin", superuser=True), "inactive": _bare_user("inactive", active=False),
        "expired": _bare_user("expired"), "patient_a": _bare_user("patient_a", staff=False),
    }
    for name, owner in (("staff_a", "A"), ("staff_b", "B"), ("inactive", "A"), ("expired", "A")):
        m.Membership.objects.create(user=users[name], role="staff", centre=centres[owner])
    m.Membership.objects.create(user=users["monitor"], role="monitor")
    patients = {o: list(m.Patient.objects.filter(centre=c).order_by("patient_code")) for o, c in centres.items()}
    m.PatientAccount.objects.create(user=users["patient_a"], patient=patients["A"][0])
    queries = _workflow(users, centres)
    _framework_objects(users)
    release = Release.objects.create(id="00000000000000aa", cut=dt.date(2024, 1, 1), manifest={"parts": {}},
                                     manifest_sha256="0" * 64, created_by="matrix-tests")
    token = patient_services.patient_invite_create(patient=patients["A"][1], created_by="staff_a")
    samples = {
        ("code", "-"): A, ("release_id", "-"): release.pk, ("kind", "-"): "edss", ("token", "-"): token,
        ("uidb64", "-"): "MQ", ("app_label", "-"): "registry", ("url", "-"): "no-such-page/",
        ("id", "-"): users["admin"].pk, ("content_type_id", "-"): ContentType.objects.get_for_model(m.Patient).pk,
        ("object_id", "-"): patients["A"][0].pk, ("instrument", "-"): _instrument(),
    }
    for owner in ("A", "B"):
        samples[("centre_code", owner)] = centres[owner].centre_code
        samples[("patient_key", owner)] = keys.key_of(patients[owner][0])
        samples[("query_id", owner)] = queries[owner].pk
        samples[("pk", owner)] = patients[owner][0].pk
    canaries = {
        owner: [p.patient_code for p in patients[owner]] + [f"CANARY{k}{owner}X" for k in "QWVF"]
        for owner in ("A", "B")
    }
    codes = {c.centre_code: [p.patient_code for p in patients[o]] for o, c in centres.items()}
    return World(centres, users, samples, _admin_objects(), canaries, release.pk, codes)


def _instrument() -> str:
    from openhsct.outcomes.instruments import INSTRUMENTS

    return next(iter(INSTRUMENTS))


def _admin_objects() -> dict:
    """(model label, owner) → pk of one object per admin model: of centre A and of centre B for the
    centre-scoped ones, any one otherwise. Returns the mapping."""
    from django.contrib import admin

    out = {}
    for model in admin.site._registry:
        rows = model._default_manager.all()
        if model._meta.label.startswith(access.CENTRE_SCOPED_MODELS) and model._meta.label != "registry.Membership":
            for owner, code in (("A", A), ("B", B)):
                obj = next((o for o in rows.order_by("pk") if _code_of(o) == code), None)
                if obj is not None:
                    out[(model._meta.label, owner)] = obj.pk
        elif rows.exists():
            out[(model._meta.label, "-")] = rows.order_by("pk").first().pk
    return out


def _code_of(obj) -> str | None:
    centre = access.centre_of(obj)
    return centre.centre_code if centre is not None else None


# ------------------------------------------------------------------------------------------ URL walk


def walk(patterns, prefix: str = "", namespace: str = ""):
    """Every URL pattern below ``patterns``: (view name, full route). Yields them."""
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = ":".join(x for x in (namespace, p.namespace) if x)
            yield from walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            name = p.name or f"{p.lookup_str}"
            yield (f"{namespace}:{name}" if namespace else name), prefix + str(p.pattern)


KEYWORD = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>|\(\?P<(?P<rname>\w+)>(?P<regex>[^)]*)\)")


def _keyword_owners(route: str) -> tuple[str, ...]:
    """Whose objects a route names: ("A", "B") when it names a centre's object, ("-",) otherwise."""
    names = {m["name"] or m["rname"] for m in KEYWORD.finditer(route)}
    scoped = {"centre_code", "patient_key", "query_id"} | ({"pk"} if route.startswith("patient/") else set())
    admin_model = access.ADMIN_ROUTE.match(route)
    if "object_id" in names and admin_model and not route.startswith("admin/r/"):
        label = _label(admin_model)
        if label.startswith(access.CENTRE_SCOPED_MODELS) and label != "registry.Membership":
            return ("A", "B")
    return ("A", "B") if names & scoped else ("-",)


def _label(found) -> str:
    from django.apps import apps

    return apps.get_model(found["app"], found["model"])._meta.label


def build_url(route: str, owner: str, world: World) -> str:
    """The route with each keyword replaced by the sample object of ``owner``. Fails the test for a keyword
    with no sample. Returns the path."""

    def value(found) -> str:
        name = found["name"] or found["rname"]
        if found["regex"] and re.fullmatch(r"[\w|]+", found["regex"]) and name != "app_label":
            return found["regex"].split("|")[-1]
        if name == "object_id" and not route.startswith("admin/r/"):
            key = (_label(access.ADMIN_ROUTE.match(route)), owner)
            if key not in world.admin_objects:
                pytest.fail(f"no sample object for {name} of {route} ({owner})")
            return str(world.admin_objects[key])
        if name == "pk" and route.startswith("admin/otp_totp/"):
            from django_otp.plugins.otp_totp.models import TOTPDevice

            return str(TOTPDevice.objects.first().pk)
        if name == "code" and route.startswith("patient/"):
            name = "instrument"
        for key in ((name, owner), (name, "-")):
            if key in world.samples:
                return str(world.samples[key])
        pytest.fail(f"no sample object for path keyword {name!r} of {route}")

    url = "/" + KEYWORD.sub(value, route)
    return url.replace("^", "").replace("$", "").replace("\\.", ".")


QUERY_STRINGS = {"admin:autocomplete": "?app_label=registry&model_name=edssvisit&field_name=patient&term="}


def every_url(world: World, urlconf=None) -> list[tuple[str, str, str, access.Rule]]:
    """(view name, owner, path, rule) of every URL pattern and owner. Fails with "no access rule for <name>"
    when a pattern has none. Returns the list."""
    out = []
    for name, route in walk(get_resolver(urlconf).url_patterns):
        for owner in _keyword_owners(route):
            url = build_url(route, owner, world) + QUERY_STRINGS.get(name, "")
            match = resolve(url.split("?")[0], urlconf)
            rule = access.rule_for(match)
            assert rule is not None, f"no access rule for {match.view_name}"
            out.append((match.view_name, owner, url, rule))
    return out


# ------------------------------------------------------------------------------------------ answers


def expected(name: str, rule: access.Rule, role: str, method: str, owner: str) -> str:
    """The class of answer the rule promises: "ok", "login", "403", "404" or "405". Returns it."""
    if role == "expired":  # the session's end is checked first: every request goes to the sign-in page
        return "ok" if rule.audience(method) == access.PUBLIC and method in rule.methods else "login"
    if method not in rule.methods:
        return "405"
    audience = rule.audience(method)
    ok = "404" if name in NOT_FOUND_WHEN_PERMITTED else "ok"
    if audience == access.PUBLIC:
        return ok
    if role in NOBODY_SIGNED_IN:
        return "login"
    if audience == access.NOBODY:
        return "403"
    if audience == access.SIGNED_IN:
        return "login" if name.startswith("admin:") and role == "patient_a" else ok
    if role not in AUDIENCE[audience]:
        return "404" if audience == access.PATIENT_SELF else "403"
    if (role, owner) in {("staff_a", "B"), ("staff_b", "A"), ("patient_a", "B")}:
        return "404"
    return ok


def agrees(got: str, want: str, rule: access.Rule, method: str) -> bool:
    """Whether an answer of class ``got`` keeps the promise ``want``. A view of the public may send the
    visitor on to a sign-in page (the patient area's start); a view that answers GET only refuses HEAD
    (405) once the rule has let the request through. Returns the answer."""
    if got == want:
        return True
    if want == "ok" and got == "login" and rule.audience(method) in (access.PUBLIC, access.SIGNED_IN):
        return True
    return want == "ok" and got == "405" and method == "HEAD"


def _back_to_draft(release_id: str) -> None:
    """Put the sample release back to draft after a permitted publish, so the next requests meet a draft."""
    from openhsct.releases.models import Release

    Release.objects.filter(pk=release_id).update(state=Release.State.DRAFT, published_at=None, published_by="")


def answer_class(response) -> str:
    """The class of an answer. Returns it."""
    status = response.status_code
    if status in (301, 302, 303) and any(p in response.get("Location", "") for p in LOGIN_PATHS):
        return "login"
    if status in (403, 404, 405):
        return str(status)
    if 200 <= status < 400 or status in (400, 410):
        return "ok"
    return str(status)


class Clients:
    """One test client per role, signed in once (again after a request that ends its session)."""

    def __init__(self, world: World):
        self.world = world
        self.clients: dict[str, Client] = {}
        for role in ROLES:
            self.clients[role] = Client(raise_request_exception=False)  # a 500 is an unexpected answer
            self.sign_in(role)

    def sign_in(self, role: str) -> None:
        client = self.clients[role]
        client.logout()
        if role not in ("anonymous", "expired"):
            client.force_login(self.world.users[role], backend="django.contrib.auth.backends.ModelBackend")

    def expire(self) -> None:
        """Give the "expired" client a session that signed in 13 hours ago (past the absolute limit)."""
        from django.conf import settings
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
        from django.contrib.sessions.backends.db import SessionStore

        from openhsct.site.security import LOGIN_AT, SEEN_AT

        user = self.world.users["expired"]
        session = SessionStore()
        session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                        HASH_SESSION_KEY: user.get_session_auth_hash()})
        session[LOGIN_AT] = session[SEEN_AT] = time.time() - 13 * 3600
        session.create()
        self.clients["expired"].cookies[settings.SESSION_COOKIE_NAME] = session.session_key

    def request(self, role: str, method: str, url: str):
        if role == "expired":
            self.expire()
        client = self.clients[role]
        return client.generic(method, url, data="", content_type="application/x-www-form-urlencoded")


def registry_digest() -> str:
    """SHA-256 over every registry table but the audit trail (rows in key order). Returns the hex digest."""
    from django.apps import apps

    h = hashlib.sha256()
    for model in sorted(apps.get_app_config("registry").get_models(), key=lambda x: x._meta.label):
        if model._meta.label == "registry.AuditEvent":
            continue
        h.update(model._meta.label.encode())
        for row in model._default_manager.order_by("pk").values_list():
            h.update(repr(row).encode())
    return h.hexdigest()


def canary_hits(text: str, canaries: list[str]) -> list[str]:
    """The canaries found in ``text`` (as whole words). Returns them."""
    return [c for c in canaries if re.search(rf"(?<![\w-]){re.escape(c)}(?![\w-])", text)]


# --------------------------------------------------------------------------------------------- tests


@pytest.mark.sqlite_pass  # on PostgreSQL: tests/security/test_row_security.py, the same checks with row security on
@pytest.mark.django_db
def test_access_rules_on_one_registry(tmp_path, settings):
    """One registry, four checks: the matrix, searches, foreign keys of another centre, CSRF."""
    settings.OPENHSCT_REQUIRE_TOTP_FOR_CROSS_CENTRE = False
    world = build_world(tmp_path)
    clients = Clients(world)
    urls = every_url(world)
    every_code = world.canaries["A"] + world.canaries["B"]
    coded = [url for _, _, url, _ in urls if canary_hits(url, every_code)]
    assert not coded, f"addresses that carry a patient code (ASVS 8.3.1): {coded[:5]}"
    check_matrix(world, clients, urls)
    check_lists_searches_filters_and_autocomplete(world, clients)
    check_foreign_keys_of_another_centre(world, clients)
    check_csrf(world, urls)


def check_matrix(world: World, clients: Clients, urls: list) -> None:
    """Every role × URL × method gets the answer its rule promises; staff see none of the other centre's
    canaries; a monitor's requests change no registry row. Prints the matrix size."""
    from openhsct.registry.models import AuditEvent

    names = {name for name, *_ in urls}
    patterns = len(list(walk(get_resolver().url_patterns)))
    wrong, hits = [], []
    started = time.perf_counter()
    count, digest_before, per_role = 0, "", []
    for role in ROLES:
        role_started = time.perf_counter()
        if role == "monitor":
            digest_before = registry_digest()
        for name, owner, url, rule in urls:
            for method in METHODS:
                reads = _read_events() if method == "GET" and role not in NOBODY_SIGNED_IN else None
                response = clients.request(role, method, url)
                count += 1
                got, want = answer_class(response), expected(name, rule, role, method, owner)
                if reads is not None and response.status_code == 200:
                    wrong += _read_audit_problems(role, url, name, rule, response, reads, world)
                moved_to = canary_hits(response.get("Location", ""), world.canaries["A"] + world.canaries["B"])
                if moved_to:
                    wrong.append(f"{role} {method} {url} redirects to an address with a patient code: {moved_to}")
                if not agrees(got, want, rule, method):
                    wrong.append(f"{role} {method} {url} ({name}, {rule.name}): {response.status_code}, "
                                 f"expected {want}")
                if role in ("staff_a", "staff_b") and got == "ok" and method == "GET":
                    other = "B" if role == "staff_a" else "A"
                    found = canary_hits(_body(response), world.canaries[other])
                    if found:
                        hits.append(f"{role} {url}: {found[:3]}")
                if method == "POST" and name in SESSION_CHANGING:
                    clients.sign_in(role)
                if method == "POST" and name == "portal:clinic:release_publish":
                    _back_to_draft(world.release_id)
        if role == "monitor":
            assert registry_digest() == digest_before, "a monitor's requests changed registry data"
        per_role.append(f"{role} {time.perf_counter() - role_started:.1f} s")
    elapsed = time.perf_counter() - started
    print(f"\naccess matrix: {patterns} URL patterns, {len(names)} URL names, {len(urls)} URLs with sample "
          f"objects × {len(ROLES)} roles × {len(METHODS)} methods = {count} requests in {elapsed:.1f} s "
          f"({', '.join(per_role)})", file=sys.stderr)
    assert not wrong, f"{len(wrong)} unexpected answers:\n" + "\n".join(wrong[:200])
    assert not hits, "another centre's canaries seen:\n" + "\n".join(hits[:20])
    monitor_writes = AuditEvent.objects.filter(action__in=("create", "update", "delete"), actor="monitor")
    assert monitor_writes.filter(model__in=_registry_models()).count() == 0


def _body(response) -> str:
    """The text of an answer (a streamed one is read once and kept). Returns it."""
    if not hasattr(response, "matrix_body"):
        response.matrix_body = b"".join(response) if response.streaming else response.content
    return response.matrix_body.decode("utf-8", "replace")


def _read_events() -> int:
    """Returns how many read events (``view``, ``download``) the audit trail holds."""
    from openhsct.registry.models import AuditEvent

    return AuditEvent.objects.filter(action__in=("view", "download")).count()


def _read_audit_problems(role, url, name, rule, response, reads_before, world) -> list[str]:
    """A signed-in GET answered 200: an identifiable URL must leave exactly one read event (ASVS 8.3.5), and
    a URL not marked identifiable must show no patient code. Returns what is wrong."""
    problems = []
    new = _read_events() - reads_before
    if rule.identifiable and new != 1:
        problems.append(f"{role} GET {url} ({name}) is identifiable and left {new} read events, expected 1")
    shown = canary_hits(_body(response), world.canaries["A"] + world.canaries["B"])
    if shown and not rule.identifiable:
        problems.append(f"{role} GET {url} ({name}) shows patient codes {shown[:3]} but its rule is not "
                        "marked identifiable")
    named = _last_read_patients() if rule.identifiable and new == 1 else None
    if named is not None:  # a page (not a download) names every patient it showed (a code two centres
        unnamed = [f"{c}/{code}" for c, codes in world.patient_codes.items() for code in codes  # share: either)
                   if code in shown and not any(f"{other}/{code}" in named for other in world.patient_codes)]
        if unnamed:
            problems.append(f"{role} GET {url} ({name}) showed patients its read event does not name: "
                            f"{unnamed[:3]}")
    return problems


def _last_read_patients() -> set[str] | None:
    """Returns the ``centre/patient`` codes the newest read event names; None when it is a download
    (which records what and how many rows)."""
    from openhsct.registry.models import AuditEvent

    event = AuditEvent.objects.filter(action__in=("view", "download")).order_by("-pk").first()
    return set((event.detail or {}).get("patients", [])) if event and event.action == "view" else None


def _registry_models() -> list[str]:
    from django.apps import apps

    return [model.__name__ for model in apps.get_app_config("registry").get_models()]


def check_lists_searches_filters_and_autocomplete(world: World, clients: Clients) -> None:
    """Staff of B search every admin list and the autocomplete for A's patient codes: no hit."""
    from django.contrib import admin

    code = world.canaries["A"][0]
    urls = [f"/admin/autocomplete/?app_label=registry&model_name=edssvisit&field_name=patient&term={code}",
            f"/clinic/{B}/", f"/clinic/{B}/queries/?status=open", f"/clinic/{B}/queries.csv",
            f"/clinic/{B}/reminders.csv", "/clinic/", "/clinic/releases/", "/admin/registry/auditevent/?q=" + code]
    for model in admin.site._registry:
        if model._meta.label.startswith(access.CENTRE_SCOPED_MODELS):
            base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
            urls += [base, f"{base}?q={code}", f"{base}?centre__id__exact={world.centres['A'].pk}",
                     f"{base}?patient__id__exact={world.samples[('pk', 'A')]}"]
    search = clients.clients["staff_b"].post(f"/clinic/{B}/find/", {"q": code})  # the dashboard search
    assert search.status_code == 303, search.status_code
    seen = 0
    for url in urls:
        response = clients.request("staff_b", "GET", url)
        assert response.status_code in (200, 302, 403), (url, response.status_code)  # 403: admin-only tables
        body = (b"".join(response) if response.streaming else response.content).decode("utf-8", "replace")
        if url == f"/clinic/{B}/":
            assert f"No patient of this centre has a code containing “{code}”" in body  # the search held
        if code in url or url == f"/clinic/{B}/":  # the page shows the searched text back; its results
            body = body.replace(code, "")  # must hold none of A's rows
        assert not canary_hits(body, world.canaries["A"]), url
        seen += 1
    own = clients.request("staff_a", "GET", "/admin/registry/patient/").content.decode()
    assert canary_hits(own, world.canaries["A"]), "the canaries must be visible to their own centre"
    assert seen == len(urls)


def check_foreign_keys_of_another_centre(world: World, clients: Clients) -> None:
    """A form naming another centre's patient is refused, and nothing is written."""
    from openhsct.registry import models as m

    other = world.samples[("pk", "B")]
    before = registry_digest()
    add = clients.clients["staff_a"].post(
        "/admin/registry/edssvisit/add/", {"patient": other, "visit_date": "2024-05-02", "edss": "3.0"})
    assert add.status_code == 200 and "patient" in add.context["adminform"].form.errors
    visit = m.EdssVisit.objects.filter(patient__centre__centre_code=A).first()
    change = clients.clients["staff_a"].post(f"/admin/registry/edssvisit/{visit.pk}/change/",
                                             {"patient": other, "visit_date": "2024-05-02", "edss": "3.0"})
    assert change.status_code == 200 and "patient" in change.context["adminform"].form.errors
    b_patient = m.Patient.objects.get(pk=other).patient_code
    clinic = clients.clients["staff_a"].post(patient_url(B, b_patient, "add/edss/"),
                                             {"edss-visit_date": "2024-05-02", "edss-edss": "3.0"})
    assert clinic.status_code == 404
    assert registry_digest() == before


def check_csrf(world: World, urls: list) -> None:
    """Every route that takes POST answers 403 to a POST without a CSRF token (the administrator's, who
    passes every other rule)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["admin"], backend="django.contrib.auth.backends.ModelBackend")
    posts = [(name, url) for name, owner, url, rule in urls if "POST" in rule.methods]
    refused = [url for _, url in posts if client.post(url).status_code == 403]
    assert len(posts) > 100 and refused == [url for _, url in posts]


def _new_view(request):
    from django.http import HttpResponse

    return HttpResponse("new")


urlpatterns = [path("new-view/", _new_view, name="new_view"), *import_module("openhsct.site.urls").urlpatterns]


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=__name__)
def test_a_url_without_a_rule_fails_the_matrix_and_is_refused(client):
    world = World({}, {"admin": _bare_user("admin", superuser=True)}, {}, {}, {}, "")
    with pytest.raises(AssertionError, match="no access rule for new_view"):
        every_url(world, urlconf=__name__)
    assert client.get("/new-view/").status_code == 403
    client.force_login(world.users["admin"], backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/new-view/").status_code == 403


def test_a_path_keyword_without_a_sample_fails():
    world = World({}, {}, {}, {}, {}, "")
    with pytest.raises(pytest.fail.Exception, match="no sample object for path keyword 'mystery_id'"):
        build_url("things/<int:mystery_id>/", "-", world)


@pytest.mark.django_db
def test_the_matrix_fails_a_page_showing_codes_unmarked_and_an_identifiable_page_read_unaudited():
    """The read-audit check of the matrix is not vacuous: a page whose rule is not ``identifiable`` but
    which shows a planted code fails, and so does an identifiable page that leaves no read event, or one
    whose read event does not name a patient the page showed."""
    from types import SimpleNamespace

    from django.http import HttpResponse

    from openhsct.registry import audit

    world = SimpleNamespace(canaries={"A": ["CANA01"], "B": ["CANB01"]})
    shows_code = HttpResponse("<td>CANB01</td>")
    unmarked = _read_audit_problems("monitor", "/x/", "portal:x", access.own_centre_read(identifiable=False),
                                    shows_code, _read_events(), world)
    assert len(unmarked) == 1 and "shows patient codes ['CANB01'] but its rule is not marked" in unmarked[0]
    unaudited = _read_audit_problems("staff_a", "/x/", "portal:x", access.own_centre_read(),
                                     HttpResponse("no code"), _read_events(), world)
    assert unaudited == ["staff_a GET /x/ (portal:x) is identifiable and left 0 read events, expected 1"]
    world.patient_codes = {"CA": ["CANA01"], "CB": ["CANB01"]}
    for named, want in (([], ["staff_a GET /x/ (portal:x) showed patients its read event does not name: "
                              "['CA/CANA01']"]), ([("CA", "CANA01")], [])):
        before = _read_events()
        audit.record_view(view="portal:x", patients=named, centre_codes=["CA"])
        assert _read_audit_problems("staff_a", "/x/", "portal:x", access.own_centre_read(),
                                    HttpResponse("<td>CANA01</td>"), before, world) == want
