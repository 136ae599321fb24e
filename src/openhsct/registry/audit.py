"""The audit trail: every change to registry data with its values, and every export, view of identifiable
data, sign-in and refusal — complete, append-only and tamper-evident (docs/audit.md).

**Which models.** :func:`audited_models` lists them from the app registry: every model of the registry
and quality apps, every model anywhere with a foreign key to a patient or a centre, and the user and
group models (roles and permissions). A new model is audited without further code; the tests are built
from the same list.

**How changes are caught.** Saves and deletes (admin, clinic forms, services, cascades) by model signals;
``QuerySet.update``, ``bulk_create`` and ``bulk_update``, which send no signals, by wrappers installed on
Django's ``QuerySet`` for audited models only; the bundle import by row events written in bulk
(:func:`record_rows`). Each save of an audited model runs in a transaction with its audit row, so both
commit or neither does. On PostgreSQL a row trigger on every audited table records any change that did
not come through the application (``psql``, another program): the application marks each of its
transactions with the transaction-local setting ``openhsct.audited`` and the trigger records only
changes made without it.

**Append-only and tamper-evident.** Database triggers refuse UPDATE and DELETE of audit rows (and
TRUNCATE on PostgreSQL). Each row stores ``hash = sha256(prev_hash ‖ canonical row)``, the canonical row
being sorted-key compact JSON of its fields with the time in UTC; writers take one lock (PostgreSQL
advisory lock, SQLite's write lock) so the chain has one order. :func:`verify_chain` walks it.
"""

from __future__ import annotations

import contextvars
import dataclasses
import datetime as dt
import getpass
import hashlib
import html
import json
import re
import sys
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal

from django.db import models, router, transaction
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save, pre_delete, pre_save

# One advisory lock key for the chain (PostgreSQL): "OHSCTAUD" read as a 63-bit integer.
CHAIN_LOCK_KEY = 0x4F48534354415544
AUDIT_TABLE = "registry_auditevent"
AUDITED_APPS = ("registry", "quality")
CHAIN_FIELDS = ("at", "actor", "action", "model", "object_pk", "centre_code", "patient_code", "before",
                "after", "detail", "via", "request_id", "ip")
# Events that change no registry data (the portal's cache version ignores them).
NON_DATA_ACTIONS = ("export", "download", "view", "login", "login_failed", "logout", "lockout", "denied")
_SECRET = re.compile(r"password|token|secret", re.IGNORECASE)
_SKIP_FIELDS = {("auth", "user"): {"last_login"}}  # a sign-in is its own event, not a change of the user


@dataclasses.dataclass
class Context:
    """Who acts and how: the user or ``cli:<os user>``, the view or command, the request id and IP."""

    actor: str
    via: str = ""
    request_id: str = ""
    ip: str = ""


_context: contextvars.ContextVar[Context | None] = contextvars.ContextVar("openhsct_audit_context", default=None)


def cli_actor() -> str:
    """The actor name used for command-line work: ``cli:<os user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user database entry (containers)
        return "cli:unknown"


def _cli_via() -> str:
    """The command being run (``openhsct import``), for events outside a request."""
    words = [w for w in sys.argv[1:3] if not w.startswith("-")]
    return " ".join(["cli", *words])[:120]


def current_context() -> Context:
    """Returns the acting context: the request's, the one set by :func:`acting_as`, or the CLI's."""
    return _context.get() or Context(actor=cli_actor(), via=_cli_via())


def current_actor() -> str:
    """Returns the name the next audit event will carry."""
    return current_context().actor


@contextmanager
def acting_as(actor: str, via: str | None = None) -> Iterator[Context]:
    """Attribute the changes made inside the block to ``actor`` (and ``via``, a command or job name)."""
    outer = _context.get()
    token = _context.set(Context(actor=actor, via=via if via is not None else (outer.via if outer else _cli_via()),
                                 request_id=outer.request_id if outer else "", ip=outer.ip if outer else ""))
    try:
        yield _context.get()
    finally:
        _context.reset(token)


class AuditUserMiddleware:
    """Attributes what a request does to the signed-in user, its view, a request id and the client's IP,
    and records refused requests as ``denied`` events: every 403, and every 404 a signed-in person gets (an
    address naming a record that does not exist or is not theirs answers 404, so probing for another
    centre's patients leaves a trail; anonymous 404s, mostly crawlers, are not recorded)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        name = user.get_username() if user is not None and user.is_authenticated else "anonymous"
        rid = (request.headers.get("X-Request-ID") or uuid.uuid4().hex)[:64]
        request.audit_request_id = rid
        token = _context.set(Context(actor=name, via=request.path[:120], request_id=rid,
                                     ip=request.META.get("REMOTE_ADDR", "")[:45]))
        try:
            response = self.get_response(request)
            if response.status_code == 403 or (response.status_code == 404 and name != "anonymous"):
                record_event(action="denied", detail={"path": request.path[:300], "method": request.method,
                                                      "status": response.status_code})
            elif response.status_code == 200 and request.method == "GET" and name != "anonymous":
                _record_reads(request, response)
            return response
        finally:
            _context.reset(token)

    def process_view(self, request, view_func, view_args, view_kwargs) -> None:
        """Name the view in the context once the URL is resolved; returns None (the view runs)."""
        ctx = _context.get()
        match = getattr(request, "resolver_match", None)
        if ctx is not None and match is not None:
            ctx.via = (match.view_name or request.path)[:120]


def _admin_patient(match) -> tuple[str, str] | None:
    """Returns (centre, patient) codes of the record an admin change page shows, if it holds patient data."""
    from django.apps import apps

    app_label, _, rest = (match.url_name or "").partition("_")
    if match.namespace != "admin" or not rest.endswith("_change") or "object_id" not in match.kwargs:
        return None
    try:
        model = apps.get_model(app_label, rest.removesuffix("_change"))
    except LookupError:
        return None
    if not is_audited(model):
        return None
    obj = model._base_manager.filter(pk=match.kwargs["object_id"]).first()
    codes = _safe_codes(obj) if obj is not None else ("", "")
    return codes if codes[1] else None


def _keyed_patient(centre_code: str, key: str) -> tuple[str, str] | None:
    """The (centre code, patient code) behind a clinic address's opaque patient key, or None."""
    from openhsct.registry import models as m
    from openhsct.security import keys

    centre = m.Centre.objects.filter(centre_code=centre_code).first()
    code = keys.code_for(centre, key) if centre is not None else None
    return (centre_code, code) if code is not None else None


def _record_reads(request, response) -> None:
    """Record a signed-in GET that showed identifiable data: one event per page (ASVS 8.3.5). A CSV
    download records what and how many rows; a patient's page (clinic or admin) its keys and the view;
    any other page the access rule table marks ``identifiable`` (lists, searches, queries, autocomplete,
    a patient's own pages) the view, the centre it names and the patients it showed
    (:func:`patients_shown`). Never the values. Returns nothing."""
    from openhsct.security.access import rule_for

    match = getattr(request, "resolver_match", None)
    if match is None:
        return
    view = match.view_name or request.path
    centre = str(match.kwargs.get("centre_code", ""))
    if response.get("Content-Type", "").startswith("text/csv") and not response.streaming:
        rows = max(response.content.count(b"\n") - 1, 0)
        record_download(what=view, rows=rows, centre_codes=[centre] if centre else [])
        return
    if "patient_key" in match.kwargs and "centre_code" in match.kwargs:
        shown = _keyed_patient(centre, match.kwargs["patient_key"])
    else:
        shown = _admin_patient(match)
    if shown is not None:  # the record's patient, and any other a page of it names
        record_view(view=view, patients=[shown, *patients_shown(request.user, response, centre)])
        return
    rule = rule_for(match)
    if rule is not None and rule.identifiable:
        record_view(view=view, patients=patients_shown(request.user, response, centre),
                    centre_codes=[centre] if centre else [])


#: A run of characters a patient code is made of, as it stands in a page (whole tokens only).
_CODE_TOKEN = re.compile(r"[\w.\-]{1,32}")
#: How many tokens one lookup asks about (below every engine's limit on query parameters).
_TOKEN_CHUNK = 500


def patients_shown(user, response, centre_code: str = "") -> list[tuple[str, str]]:
    """The (centre, patient) codes a list or search page showed ``user``: every patient the person may
    read (of the URL's centre, where it names one; a patient account: its own patient) whose code stands
    in the page as a whole token (letters, digits, ``.``, ``-``, ``_``). A code two readable centres share
    is named for both. Returns them sorted; [] for a streamed answer or one that is not HTML or JSON
    (``application/json`` or ``…+json``)."""
    from openhsct.registry import roles
    from openhsct.registry.models import Patient

    kind = response.get("Content-Type", "").split(";")[0].strip()
    if response.streaming or not (kind == "text/html" or kind == "application/json" or kind.endswith("+json")):
        return []
    text = html.unescape(response.content.decode(response.charset or "utf-8", "replace"))
    found_tokens = set(_CODE_TOKEN.findall(text))
    tokens = sorted(found_tokens | {t.strip(".-") for t in found_tokens} - {""})  # "… patient N2." names N2
    if hasattr(user, "patient_account"):
        readable = Patient.objects.filter(account__user=user)
    else:
        readable = roles.readable_patients(user)
    if centre_code:
        readable = readable.filter(centre__centre_code=centre_code)
    found: set[tuple[str, str]] = set()
    for i in range(0, len(tokens), _TOKEN_CHUNK):
        chunk = tokens[i:i + _TOKEN_CHUNK]
        found.update(readable.filter(patient_code__in=chunk).values_list("centre__centre_code", "patient_code"))
    return sorted(found)


# ------------------------------------------------------------------------------------------ what is audited


def audited_models() -> list[type[models.Model]]:
    """Returns every model whose changes are audited, in app-registry order (see the module docstring)."""
    from django.apps import apps
    from django.contrib.auth.models import Group

    from openhsct.registry.models import AuditEvent, Centre, Patient

    user_model = apps.get_model("auth", "User")
    out = []
    for model in apps.get_models():
        if model is AuditEvent or model._meta.proxy:
            continue
        refers = any(f.is_relation and f.related_model in (Patient, Centre) for f in model._meta.concrete_fields)
        if model._meta.app_label in AUDITED_APPS or refers or model in (user_model, Group):
            out.append(model)
    return out


_audited: set[type[models.Model]] = set()


def is_audited(model: type[models.Model]) -> bool:
    """Returns whether changes to ``model`` are audited."""
    return model._meta.concrete_model in _audited


def _format(field: models.Field, value):
    """One field's value as JSON-safe text/number: decimals at their stored places, dates ISO, secrets
    redacted to a short fingerprint (a change still shows, the value does not)."""
    if value is None:
        return None
    if _SECRET.search(field.name):
        return "[redacted " + hashlib.sha256(str(value).encode()).hexdigest()[:12] + "]"
    if isinstance(field, models.DecimalField):
        return f"{Decimal(str(value)):.{field.decimal_places}f}"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat() if value.tzinfo else value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _fields(model: type[models.Model]) -> list[models.Field]:
    skip = _SKIP_FIELDS.get((model._meta.app_label, model._meta.model_name), set())
    return [f for f in model._meta.concrete_fields if f.name not in skip]


def snapshot(obj: models.Model) -> dict:
    """Returns a JSON-safe dict of a model instance's concrete fields (FKs by id, dates ISO text)."""
    return {f.attname: _format(f, getattr(obj, f.attname)) for f in _fields(type(obj))}


def _codes(obj) -> tuple[str, str]:
    """Returns (centre code, patient code) of a record, blank where it has none."""
    from openhsct.registry import models as m

    if isinstance(obj, m.Centre):
        return obj.centre_code, ""
    if isinstance(obj, m.Patient):
        return obj.centre.centre_code, obj.patient_code
    patient = getattr(obj, "patient", None) if any(f.name == "patient" for f in obj._meta.fields) else None
    if patient is not None:
        return patient.centre.centre_code, patient.patient_code
    centre = getattr(obj, "centre", None) if any(f.name == "centre" for f in obj._meta.fields) else None
    return (centre.centre_code if centre else ""), ""


def _safe_codes(obj) -> tuple[str, str]:
    try:
        return _codes(obj)
    except Exception:  # a parent already gone (deleted outside the collector)
        return "", ""


# ------------------------------------------------------------------------------------------ the chain


def _number(value) -> str:
    """A JSON number as PostgreSQL's numeric prints it: plain notation, no negative zero."""
    d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    text = format(d, "f")
    return text.lstrip("-") if d == 0 else text


_FAST_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _plain(value) -> bool:
    """Whether ``value`` holds no float or Decimal (then the C JSON encoder writes the canonical text)."""
    if isinstance(value, dict):
        return all(_plain(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, str | int)


def canonical_json(value) -> str:
    """Returns ``value`` as canonical JSON: sorted keys, no spaces, numbers in plain notation (the same
    text the database's ``openhsct_audit_canon`` writes for the same JSON value)."""
    if isinstance(value, dict) and _plain(value):
        return _FAST_JSON.encode(value)
    return _canonical(value)


def _canonical(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return _number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        items = sorted((str(k), v) for k, v in value.items())
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canonical_json(v) for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    raise TypeError(f"cannot audit a value of type {type(value).__name__}")


def utc_text(at: dt.datetime) -> str:
    """Returns a time as UTC ISO text with microseconds (``2026-01-02T03:04:05.000006+00:00``)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


def row_hash(prev_hash: str, values: dict) -> str:
    """Returns ``sha256(prev_hash ‖ canonical row)`` as hex; ``values`` holds :data:`CHAIN_FIELDS`."""
    row = {k: (utc_text(values[k]) if k == "at" else values[k]) for k in CHAIN_FIELDS}
    return hashlib.sha256((prev_hash + canonical_json(row)).encode()).hexdigest()


def _mark_audited(using: str) -> None:
    """Tell the PostgreSQL trigger that this transaction's changes are audited by the application."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('openhsct.audited', 'on', true)")


def mark_audited(using: str = "default") -> None:
    """Mark the caller's transaction as audited by the application (the PostgreSQL trigger then records
    nothing of it): for code that writes its own events, or wipes a throw-away test database."""
    _mark_audited(using)


def _lock_and_head(using: str) -> str:
    """Take the chain's write lock for the rest of the transaction; returns the head hash ('' when empty)."""
    from django.db import connections

    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        else:  # a write statement takes SQLite's write lock before the head is read
            cursor.execute(f'UPDATE "{AUDIT_TABLE}" SET id = id WHERE 0')
        cursor.execute(f'SELECT hash FROM "{AUDIT_TABLE}" ORDER BY id DESC LIMIT 1')
        row = cursor.fetchone()
    return row[0] if row else ""


def chain_head(using: str = "default") -> str:
    """Returns the hash at the head of the audit chain (hex), or '' when the trail is empty."""
    from django.db import connections

    with connections[using].cursor() as cursor:
        cursor.execute(f'SELECT hash FROM "{AUDIT_TABLE}" ORDER BY id DESC LIMIT 1')
        row = cursor.fetchone()
    return row[0] if row else ""


def append(events: list, using: str = "default") -> None:
    """Seal ``events`` (unsaved :class:`AuditEvent` rows) onto the chain and insert them, inside the
    caller's transaction when there is one. Returns nothing."""
    from django.utils import timezone

    from openhsct.registry.models import AuditEvent

    if not events:
        return
    ctx = current_context()
    with transaction.atomic(using=using, savepoint=False):
        prev = _lock_and_head(using)
        now = timezone.now()
        for e in events:
            e.at = e.at or now
            e.actor = e.actor or ctx.actor
            e.via = e.via or ctx.via
            e.request_id = e.request_id or ctx.request_id
            e.ip = e.ip or ctx.ip
            e.prev_hash = prev
            e.hash = prev = row_hash(prev, {k: getattr(e, k) for k in CHAIN_FIELDS})
        if len(events) == 1:
            events[0].save(using=using)
        else:
            AuditEvent.objects.using(using).bulk_create(events, batch_size=2000)


def _event(action: str, model: str, *, object_pk: str = "", codes: tuple[str, str] = ("", ""),
           before=None, after=None, detail=None, actor: str = ""):
    from openhsct.registry.models import AuditEvent

    return AuditEvent(actor=actor, action=action, model=model, object_pk=object_pk, centre_code=codes[0],
                      patient_code=codes[1], before=before, after=after, detail=detail)


# ------------------------------------------------------------------------------------------ signals


def _on_pre_save(sender, instance, raw=False, using=None, **kwargs):
    if raw or getattr(instance, "_audit_skip", False):
        instance._audit_before = None
        return
    _mark_audited(using or "default")
    instance._audit_before = None
    if instance.pk is not None:
        old = sender._base_manager.using(using).filter(pk=instance.pk).first()
        instance._audit_before = snapshot(old) if old is not None else None


def _on_post_save(sender, instance, created, raw=False, using=None, **kwargs):
    if raw or getattr(instance, "_audit_skip", False):
        return
    before = getattr(instance, "_audit_before", None)
    after = snapshot(instance)
    if before is not None and before == after:
        return
    action = "update" if before is not None else "create"
    append([_event(action, sender.__name__, object_pk=str(instance.pk), codes=_safe_codes(instance),
                   before=before, after=after)], using or "default")


def _on_pre_delete(sender, instance, using=None, **kwargs):
    _mark_audited(using or "default")
    instance._audit_codes = _safe_codes(instance)


def _on_post_delete(sender, instance, using=None, **kwargs):
    codes = getattr(instance, "_audit_codes", None) or _safe_codes(instance)
    append([_event("delete", sender.__name__, object_pk=str(instance.pk), codes=codes,
                   before=snapshot(instance))], using or "default")


def _on_m2m_changed(sender, instance, action, reverse, model, pk_set, using=None, **kwargs):
    """Group membership and permissions of users and groups: one ``permission`` event per change."""
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    detail = {"relation": sender._meta.db_table, "change": action.removeprefix("post_"),
              "ids": sorted(pk_set or [])}
    append([_event("permission", type(instance).__name__, object_pk=str(instance.pk),
                   after={"target_model": model.__name__}, detail=detail)], using or "default")


def _on_login(sender, request, user, **kwargs):
    record_event(action="login", actor=user.get_username(), model="User", object_pk=str(user.pk))


def _on_logout(sender, request, user, **kwargs):
    name = user.get_username() if user is not None else "anonymous"
    record_event(action="logout", actor=name, model="User", object_pk=str(user.pk) if user else "")


def _on_login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    record_event(action="login_failed", actor=username or "anonymous", detail={"username": username})


def _on_locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    record_event(action="lockout", actor=str(username or "anonymous")[:150],
                 detail={"username": username or "", "ip": ip_address or ""})


# ------------------------------------------------------------------------------------------ ORM bulk paths


def _atomic_save_base(original):
    def save_base(self, *args, **kwargs):
        if not is_audited(type(self)):
            return original(self, *args, **kwargs)
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using, savepoint=False):
            return original(self, *args, **kwargs)

    save_base.__wrapped__ = original
    return save_base


def _chunks(items: list, size: int = 500) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _changes(model, using: str, before: dict, via: str) -> list:
    """Update events for the rows in ``before`` (pk → snapshot) whose values now differ."""
    events = []
    for chunk in _chunks(list(before)):
        for obj in model._base_manager.using(using).filter(pk__in=chunk):
            after = snapshot(obj)
            if after != before[obj.pk]:
                events.append(_event("update", model.__name__, object_pk=str(obj.pk), codes=_safe_codes(obj),
                                     before=before[obj.pk], after=after, detail={"via": via}))
    return events


def _audited_update(original):
    def update(self, **kwargs):
        if not is_audited(self.model):
            return original(self, **kwargs)
        with transaction.atomic(using=self.db, savepoint=False):
            _mark_audited(self.db)
            before = {obj.pk: snapshot(obj) for obj in self._chain()}
            count = original(self, **kwargs)
            append(_changes(self.model, self.db, before, "QuerySet.update"), self.db)
        return count

    update.__wrapped__ = original
    return update


def _audited_bulk_update(original):
    def bulk_update(self, objs, fields, batch_size=None):
        objs = list(objs)
        if not is_audited(self.model) or not objs:
            return original(self, objs, fields, batch_size=batch_size)
        with transaction.atomic(using=self.db, savepoint=False):
            _mark_audited(self.db)
            before = {}
            for chunk in _chunks([o.pk for o in objs]):
                before.update({o.pk: snapshot(o) for o in self.model._base_manager.using(self.db).filter(pk__in=chunk)})
            count = original(self, objs, fields, batch_size=batch_size)
            append(_changes(self.model, self.db, before, "QuerySet.bulk_update"), self.db)
        return count

    bulk_update.__wrapped__ = original
    return bulk_update


def _audited_bulk_create(original):
    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        if not is_audited(self.model) or not objs:
            return original(self, objs, *args, **kwargs)
        with transaction.atomic(using=self.db, savepoint=False):
            _mark_audited(self.db)
            created = original(self, objs, *args, **kwargs)
            append([_event("create", self.model.__name__, object_pk=str(o.pk), codes=_safe_codes(o),
                           after=snapshot(o), detail={"via": "QuerySet.bulk_create"})
                    for o in created if o.pk is not None], self.db)
        return created

    bulk_create.__wrapped__ = original
    return bulk_create


def _install_wrappers() -> None:
    from django.db.models.query import QuerySet

    if not hasattr(QuerySet.update, "__wrapped__"):
        QuerySet.update = _audited_update(QuerySet.update)
        QuerySet.bulk_update = _audited_bulk_update(QuerySet.bulk_update)
        QuerySet.bulk_create = _audited_bulk_create(QuerySet.bulk_create)
    if not hasattr(models.Model.save_base, "__wrapped__"):
        models.Model.save_base = _atomic_save_base(models.Model.save_base)


def connect_signals() -> None:
    """Connect auditing to every audited model, the sign-in signals and the ORM's bulk paths (called
    from the registry app's ``ready``). Returns nothing."""
    from django.contrib.auth.models import Group, User
    from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
    from django.db.backends.signals import connection_created

    _audited.clear()
    _audited.update(audited_models())
    for model in _audited:
        uid = f"{model._meta.label}"
        pre_save.connect(_on_pre_save, sender=model, dispatch_uid=f"audit-pre-{uid}")
        post_save.connect(_on_post_save, sender=model, dispatch_uid=f"audit-post-{uid}")
        pre_delete.connect(_on_pre_delete, sender=model, dispatch_uid=f"audit-predel-{uid}")
        post_delete.connect(_on_post_delete, sender=model, dispatch_uid=f"audit-del-{uid}")
    for through in (User.groups.through, User.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(_on_m2m_changed, sender=through, dispatch_uid=f"audit-m2m-{through._meta.label}")
    user_logged_in.connect(_on_login, dispatch_uid="audit-login")
    user_logged_out.connect(_on_logout, dispatch_uid="audit-logout")
    user_login_failed.connect(_on_login_failed, dispatch_uid="audit-login-failed")
    try:
        from axes.signals import user_locked_out
    except ImportError:  # axes not installed: no lockouts to record
        pass
    else:
        user_locked_out.connect(_on_locked_out, dispatch_uid="audit-lockout")
    connection_created.connect(_on_connection, dispatch_uid="audit-connection")
    post_migrate.connect(_on_post_migrate, dispatch_uid="audit-post-migrate")
    _install_wrappers()


# ------------------------------------------------------------------------------------------ other events


def record_event(*, action: str, obj=None, before: dict | None = None, after: dict | None = None,
                 detail: dict | None = None, actor: str = "", model: str = "", object_pk: str = "",
                 centre_code: str = "", patient_code: str = "") -> None:
    """Write one event for something the model signals do not see (a data query raised, answered,
    closed; a freeze; a sign-in; a refused request), with the centre and patient of ``obj`` when given.
    Returns nothing."""
    codes = _safe_codes(obj) if obj is not None else (centre_code, patient_code)
    append([_event(action, model or (type(obj).__name__ if obj is not None else ""),
                   object_pk=object_pk or (str(obj.pk) if obj is not None else ""), codes=codes,
                   before=before, after=after, detail=detail, actor=actor)])


def record_update(*, actor: str, obj, before: dict, after: dict, via: str) -> None:
    """Write one ``update`` event for a row changed by an import (exchange values before/after)."""
    append([_event("update", type(obj).__name__, object_pk=str(obj.pk), codes=_safe_codes(obj), before=before,
                   after=after, detail={"via": via}, actor=actor)])


def record_rows(*, actor: str, model: type[models.Model], pks_after: int, via: str) -> int:
    """Write one ``create`` event per row of ``model`` with a primary key above ``pks_after`` (the rows a
    bulk load just inserted, inside the caller's transaction); returns how many were written."""
    from openhsct.registry import models as m

    if model is m.Centre:
        centre_of, patient_of = {}, {}
    else:
        centre_of = dict(m.Centre.objects.values_list("pk", "centre_code"))
        patient_of = {pk: (centre_of[c], code) for pk, c, code in
                      m.Patient.objects.values_list("pk", "centre_id", "patient_code")} if model is not m.Patient else {}
    fields = _fields(model)
    names = [f.attname for f in fields]
    total = 0
    batch = []
    for row in model._base_manager.filter(pk__gt=pks_after).order_by("pk").values_list(*names).iterator(5000):
        values = {f.attname: _format(f, v) for f, v in zip(fields, row, strict=True)}
        if model is m.Centre:
            codes = (values["centre_code"], "")
        elif model is m.Patient:
            codes = (centre_of[values["centre_id"]], values["patient_code"])
        else:
            codes = patient_of.get(values.get("patient_id"), ("", ""))
        batch.append({"action": "create", "model": model.__name__, "object_pk": str(values["id"]),
                      "centre_code": codes[0], "patient_code": codes[1], "before": None, "after": values,
                      "detail": {"via": via}, "actor": actor})
        if len(batch) >= 20_000:
            _append_rows(batch)
            total, batch = total + len(batch), []
    _append_rows(batch)
    return total + len(batch)


def _append_rows(rows: list[dict], using: str = "default") -> None:
    """Seal ``rows`` (dicts of event fields) onto the chain and insert them with one prepared statement —
    the bulk path for imports (no model instances). Returns nothing."""
    from django.db import connections
    from django.utils import timezone

    if not rows:
        return
    connection = connections[using]
    ctx = current_context()
    columns = [*CHAIN_FIELDS, "prev_hash", "hash"]
    json_cols = {"before", "after", "detail"}
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    marks = ", ".join(f"%s{cast}" if c in json_cols else "%s" for c in columns)
    sql = f'INSERT INTO "{AUDIT_TABLE}" ({", ".join(columns)}) VALUES ({marks})'
    with transaction.atomic(using=using, savepoint=False):
        prev = _lock_and_head(using)
        now = timezone.now()
        at_db = connection.ops.adapt_datetimefield_value(now)
        params = []
        for row in rows:
            values = {"at": now, "via": ctx.via, "request_id": ctx.request_id, "ip": ctx.ip, **row}
            values["actor"] = values["actor"] or ctx.actor
            digest = row_hash(prev, values)
            params.append([at_db if c == "at" else (None if values[c] is None else json.dumps(values[c]))
                           if c in json_cols else values[c] for c in CHAIN_FIELDS] + [prev, digest])
            prev = digest
        if connection.vendor == "postgresql":  # COPY: the same rows, without a round trip each
            connection.ensure_connection()
            with connection.connection.cursor() as cursor, cursor.copy(
                    f'COPY "{AUDIT_TABLE}" ({", ".join(columns)}) FROM STDIN') as copy:
                for row_params in params:
                    copy.write_row(row_params)
        else:
            with connection.cursor() as cursor:
                cursor.executemany(sql, params)


def max_pk(model: type[models.Model]) -> int:
    """Returns the largest primary key of ``model`` (0 when empty): rows above it are new."""
    return model._base_manager.aggregate(top=models.Max("pk"))["top"] or 0


def begin_bulk_load(using: str = "default") -> None:
    """Prepare the caller's transaction for a bulk load that audits itself with :func:`record_rows`:
    take the chain's lock first (so the new rows are exactly those above :func:`max_pk`) and mark the
    transaction as audited. Returns nothing."""
    _mark_audited(using)
    _lock_and_head(using)


def record_import(*, actor: str, source: str, checksum: str, report, centre_codes=(), extra=None) -> None:
    """Write the event for an imported bundle — where from, its checksum, rows per table (bundle totals),
    and ``extra`` keys such as ``converted_from`` — once for each centre the bundle touched, so each
    centre's history shows the import."""
    codes = sorted(set(centre_codes)) or [""]
    detail = {"source": source, "sha256": checksum, **(extra or {}), "created": report.created,
              "updated": report.updated, "unchanged": report.unchanged, "centres": [c for c in codes if c]}
    append([_event("import", "bundle", codes=(code, ""), detail=detail, actor=actor) for code in codes])


def record_export(*, actor: str, destination: str, fmt: str, centre_codes, counts: dict) -> None:
    """Write the event for an export: who, when (the row's time), what and where to."""
    append([_event("export", "bundle", codes=(",".join(centre_codes or []), ""), actor=actor,
                   detail={"destination": destination, "format": fmt, "centres": centre_codes or "all",
                           "rows": counts})])


def record_download(*, what: str, rows: int, centre_codes: Iterable[str] = (), actor: str = "") -> None:
    """Write the event for a download or report of non-public data: who, what and how many rows."""
    codes = sorted(set(centre_codes))
    append([_event("download", what[:60], actor=actor, detail={"what": what, "rows": int(rows), "centres": codes})])


def record_view(*, view: str, patients: Iterable[tuple[str, str]], centre_codes: Iterable[str] = (),
                actor: str = "") -> None:
    """Write the event for a page showing identifiable data: the view, the (centre, patient) codes it
    showed and, for a list, the centre it covers — never the clinical values. The keys live in ``detail``
    only, so reads stay out of the centre's and the patient's lists of changes. Returns nothing."""
    keys = sorted({(c, p) for c, p in patients})
    detail = {"view": view, "patients": [f"{c}/{p}" for c, p in keys]}
    if centres := sorted(set(centre_codes)):
        detail["centres"] = centres
    append([_event("view", "page", actor=actor, detail=detail)])


# ------------------------------------------------------------------------------------------ reading


@dataclasses.dataclass
class Link:
    """One audit row as read back for verification."""

    id: int
    values: dict
    prev_hash: str
    hash: str


def _read_chain(using: str = "default", start_id: int = 0) -> Iterator[Link]:
    """Yields every audit row in chain order, JSON read as stored (numbers keep their digits)."""
    from django.db.models import TextField
    from django.db.models.functions import Cast

    from openhsct.registry.models import AuditEvent

    json_cols = ("before", "after", "detail")
    plain = [f for f in CHAIN_FIELDS if f not in json_cols]
    qs = (AuditEvent.objects.using(using).filter(id__gt=start_id).order_by("id")
          .annotate(**{f"{c}_text": Cast(c, TextField()) for c in json_cols})
          .values_list("id", *plain, *(f"{c}_text" for c in json_cols), "prev_hash", "hash"))
    for row in qs.iterator(chunk_size=5000):
        values = dict(zip(plain, row[1:1 + len(plain)], strict=True))
        texts = row[1 + len(plain):1 + len(plain) + len(json_cols)]
        for c, text in zip(json_cols, texts, strict=True):
            values[c] = None if text is None else json.loads(text, parse_float=Decimal)
        yield Link(id=row[0], values=values, prev_hash=row[-2] or "", hash=row[-1] or "")


@dataclasses.dataclass
class ChainReport:
    """The result of :func:`verify_chain`: events checked and the first broken link (None if intact)."""

    events: int
    broken_at: int | None = None
    problem: str = ""


def _link_problem(event_id: int, prev_id: int | None) -> str:
    """Returns the message for an event whose stored previous hash is not the hash of the event before."""
    first = (prev_id or 0) + 1
    gap = "" if first >= event_id else (
        f"; event #{first} is missing" if first == event_id - 1 else f"; events #{first}–#{event_id - 1} are missing")
    where = f"event #{prev_id}" if prev_id is not None else "the start of the trail"
    return (f"event #{event_id}: its link to {where} is broken — an event before it was removed, inserted or "
            f"altered{gap}")


def verify_chain(using: str = "default") -> ChainReport:
    """Walk the chain from its first row; returns the count and the first broken link, naming its row."""
    prev_hash, prev_id, n = "", None, 0
    for link in _read_chain(using):
        n += 1
        if link.prev_hash != prev_hash:
            return ChainReport(n, link.id, _link_problem(link.id, prev_id))
        if row_hash(link.prev_hash, link.values) != link.hash:
            return ChainReport(n, link.id, f"event #{link.id}: its content does not match its hash "
                               "(the row was altered)")
        prev_hash, prev_id = link.hash, link.id
    return ChainReport(n)


BOOKKEEPING = frozenset({"row_version"})  # stored in before/after, but not a change a reader needs to see


def diff(before: dict | None, after: dict | None) -> list[tuple[str, object, object]]:
    """Returns (field, before, after) for each field whose value differs, in field order; the edit counter
    ``row_version`` (raised by every save) is left out of the readable diff."""
    before, after = before or {}, after or {}
    keys = [k for k in dict.fromkeys([*before, *after]) if k not in BOOKKEEPING]
    return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


@dataclasses.dataclass
class HistoryRow:
    """One line of a patient's history: when, who, what, and the per-field changes."""

    at: dt.datetime
    actor: str
    action: str
    model: str
    object_pk: str
    via: str
    changes: list[tuple[str, object, object]]


def history_for(patient, limit: int = 200) -> list[HistoryRow]:
    """Returns the newest ``limit`` changes to ``patient`` and its records, each with before→after per
    field (reads and sign-ins aside)."""
    from openhsct.registry.models import AuditEvent

    events = (AuditEvent.objects.filter(centre_code=patient.centre.centre_code, patient_code=patient.patient_code)
              .exclude(action__in=NON_DATA_ACTIONS).order_by("-id")[:limit])
    return [HistoryRow(e.at, e.actor, e.action, e.model, e.object_pk, e.via, diff(e.before, e.after))
            for e in events]


# ------------------------------------------------------------------------------------------ database guards


_erase = {"allowed": False}


@contextmanager
def erasing_allowed() -> Iterator[None]:
    """Let this process delete audit rows inside the block — for wiping a throw-away test database only.
    On PostgreSQL it also needs a role that owns the audit table; the application's role never does."""
    from django.db import connections

    _erase["allowed"] = True
    try:
        for connection in connections.all():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config('openhsct.audit_erase', 'on', false)")
        yield
    finally:
        _erase["allowed"] = False
        for connection in connections.all(initialized_only=True):
            if connection.vendor == "postgresql" and connection.connection is not None:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config('openhsct.audit_erase', '', false)")


def _on_connection(sender, connection, **kwargs) -> None:
    """SQLite: register the function the append-only trigger asks whether erasing is allowed."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("openhsct_audit_erase", 0, lambda: 1 if _erase["allowed"] else 0)


def _on_post_migrate(sender, using="default", **kwargs) -> None:
    from django.db import connections

    if sender.name == "openhsct.registry":
        from openhsct.registry.audit_sql import install_guards

        install_guards(connections[using], {m._meta.db_table: m.__name__ for m in audited_models()})
