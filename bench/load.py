"""Many users at once: locust against ``openhsct serve`` on loopback, on SQLite and on PostgreSQL.

For each backend: a fresh synthetic registry (3 fictional centres, a published data release, one staff
member per centre), then ``openhsct serve`` (gunicorn, production settings) on 127.0.0.1 at a free port,
then locust headless — 200 users, spawn rate 50/s, ``--run-time 60s``, killed at 120 s whatever happens.
The mix, by users: 70 % public pages and report downloads; 15 % staff reading their own centre's lists
and patients; 10 % staff posting follow-up (EDSS) visits; 5 % wrong-password sign-ins (lockouts are
expected and counted apart from errors).

After the run the registry is checked: visits created = successful POSTs, no duplicates; audit change
events = writes; audit read events = identifiable pages served; audit chain and integrity checks pass.
Failures: any response >= 500, any connection error, any traceback in the server output, any lost or
duplicated write. p50/p95/p99 per endpoint are printed (and with ``--write`` appended to BENCHMARKS.md).

    .venv/bin/python bench/load.py [--backend sqlite|postgresql|both] [--users 200] [--spawn-rate 50]
        [--run-time 60] [--hard-stop 120] [--patients 300] [--workers N] [--quick] [--write]

Needs locust (``pip install locust``; ``OPENHSCT_LOCUST`` may name its executable). PostgreSQL: the
database named by ``--pg-url`` (default ``postgresql://postgres@127.0.0.1:5432/openhsct_load``) is
dropped and created. Every target must be a loopback address; anything else is refused.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import ipaddress
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/openhsct_load"

#: Runs in a child with the backend's environment: builds the registry, prints the load plan as JSON.
SETUP = r"""
import json, sys, datetime as dt
from openhsct.site.django_setup import setup
setup(migrate=True)
from django.test import Client
from openhsct.registry import models as m
from openhsct.registry.audit import acting_as
from openhsct.registry.importer import import_bundle
from openhsct.registry.synth import generate, write_bundle
from openhsct.registry.users import ensure_user
from openhsct.commands.site import _publish_demo_release
from openhsct.security.keys import key_of
patients, folder = int(sys.argv[1]), sys.argv[2]
write_bundle(generate(centres=3, patients=patients, seed=2026), folder + "/bundle")
with acting_as("cli:load"):
    import_bundle(folder + "/bundle", actor="cli:load")
_publish_demo_release()
dead = set(m.Death.objects.values_list("patient_id", flat=True)) if hasattr(m, "Death") else set()
plan = {"centres": {}, "wrong_users": []}
for centre in m.Centre.objects.all():
    user = ensure_user(f"load_{centre.centre_code.lower()}", "Load-" + centre.centre_code + "-pw-2026x",
                       role="staff", centre_code=centre.centre_code)
    sessions = []
    for _ in range(40):
        c = Client()
        c.force_login(user)
        sessions.append(c.cookies["sessionid"].value)
    alive = [p for p in m.Patient.objects.filter(centre=centre, consent_status="given").order_by("patient_code")
             if p.pk not in dead]
    plan["centres"][centre.centre_code] = {"sessions": sessions,
                                           "patients": [[p.patient_code, key_of(p)] for p in alive[:60]]}
for i in range(10):
    ensure_user(f"load_wrong_{i}", "Right-pw-" + str(i) + "-never-typed", role="staff",
                centre_code=m.Centre.objects.first().centre_code)
    plan["wrong_users"].append(f"load_wrong_{i}")
plan["max_audit_id"] = m.AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
plan["max_visit_id"] = m.EdssVisit.objects.order_by("-id").values_list("id", flat=True).first() or 0
from openhsct.quality.models import WarningConfirmation
plan["max_confirmation_id"] = WarningConfirmation.objects.order_by("-id").values_list("id", flat=True).first() or 0
print("PLAN " + json.dumps(plan))
"""

#: Runs in a child after the load: the registry's own account of what happened, as JSON.
CHECK = r"""
import json, sys
from collections import Counter
from openhsct.site.django_setup import setup
setup(migrate=False)
from django.db import connection
from django.urls import resolve
from openhsct.registry import models as m
from openhsct.registry.audit import verify_chain
from openhsct.quality.models import WarningConfirmation
plan, posts = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
new = list(m.EdssVisit.objects.filter(id__gt=plan["max_visit_id"]).values_list(
    "patient__centre__centre_code", "patient__patient_code", "visit_date"))
keys = Counter((c, p, d.isoformat()) for c, p, d in new)
posted = Counter((c, p, d) for c, p, d in posts["created"])
events = m.AuditEvent.objects.filter(id__gt=plan["max_audit_id"])
changes = Counter(events.filter(action__in=("create", "update", "delete")).values_list("model", flat=True))
out = {
    "visits_created": len(new), "successful_posts": sum(posted.values()),
    "duplicates": sum(n - 1 for n in keys.values() if n > 1) + sum(n - 1 for n in posted.values() if n > 1),
    "lost": sum((posted - keys).values()),
    "confirmations_created": WarningConfirmation.objects.filter(id__gt=plan["max_confirmation_id"]).count(),
    "change_events": dict(changes), "view_events": events.filter(action="view").count(),
    "lockout_events": events.filter(action="lockout").count(),
    "failed_login_events": events.filter(action="login_failed").count(),
}
with connection.cursor() as cur:
    if connection.vendor == "sqlite":
        cur.execute("PRAGMA integrity_check"); integrity = [r[0] for r in cur.fetchall()]
        cur.execute("PRAGMA foreign_key_check"); fk = cur.fetchall()
        out["integrity"] = "ok" if integrity == ["ok"] and not fk else f"{integrity} {fk}"
    else:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state LIKE 'idle in transaction%%'")
        idle = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM pg_prepared_xacts"); prepared = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM pg_constraint WHERE NOT convalidated"); invalid = cur.fetchone()[0]
        out["integrity"] = "ok" if not (idle or prepared or invalid) else f"idle={idle} prepared={prepared} invalid={invalid}"
chain = verify_chain()
out["audit_chain"] = "ok" if chain.broken_at is None else chain.problem
print("CHECK " + json.dumps(out))
"""

#: The locust file: four kinds of user in the 70/15/10/5 mix; every request named by its route.
LOCUSTFILE = r'''
import datetime as dt, json, os, random, re, threading
from locust import HttpUser, between, events, task

PLAN = json.load(open(os.environ["OPENHSCT_LOAD_PLAN"]))
HOST = os.environ["OPENHSCT_LOAD_HOST"]
CENTRES = sorted(PLAN["centres"])
HEADERS = {"X-Forwarded-Proto": "https", "Referer": f"https://{HOST}/", "Origin": f"https://{HOST}"}
CREATED, REFUSED, LOCK = [], [], threading.Lock()


def _form_token(user, page):
    """The page's CSRF form token; the CSRF cookie (Secure in production, and this client talks plain HTTP
    to loopback as the TLS proxy would) is copied into the jar so that it is sent back."""
    cookie = page.cookies.get("csrftoken")
    if cookie:
        user.client.cookies.set("csrftoken", cookie)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text or "")
    return token.group(1) if token else None
_slots, _posts = iter(range(10**9)), iter(range(10**9))


def _next(counter):
    with LOCK:
        return next(counter)


class Public(HttpUser):
    weight = 70
    wait_time = between(0.5, 2)

    @task(4)
    def home(self):
        self.client.get("/", headers=HEADERS, name="portal:home")

    @task(3)
    def centre(self):
        self.client.get(f"/centres/{random.choice(CENTRES)}/", headers=HEADERS, name="portal:centre")

    @task(2)
    def report(self):
        self.client.get(f"/centres/{random.choice(CENTRES)}/report.html", headers=HEADERS, name="portal:report")

    @task(2)
    def summary_csv(self):
        self.client.get(f"/centres/{random.choice(CENTRES)}/summary.csv", headers=HEADERS,
                        name="portal:summary_csv")

    @task(1)
    def compare(self):
        self.client.get("/compare/", headers=HEADERS, name="portal:compare")

    @task(1)
    def compare_csv(self):
        self.client.get("/compare.csv", headers=HEADERS, name="portal:compare_csv")


class _Staff(HttpUser):
    abstract = True

    def on_start(self):
        slot = _next(_slots)
        self.centre = CENTRES[slot % len(CENTRES)]
        plan = PLAN["centres"][self.centre]
        self.client.cookies.set("sessionid", plan["sessions"][slot % len(plan["sessions"])])
        self.patients = plan["patients"]
        self.slot = slot


class StaffReader(_Staff):
    weight = 15
    wait_time = between(0.5, 2)

    @task(2)
    def dashboard(self):
        self.client.get(f"/clinic/{self.centre}/", headers=HEADERS, name="clinic:centre")

    @task(3)
    def patient(self):
        _, key = random.choice(self.patients)
        self.client.get(f"/clinic/{self.centre}/patients/{key}/", headers=HEADERS, name="clinic:patient")


class StaffWriter(_Staff):
    weight = 10
    wait_time = between(1, 3)

    @task
    def post_visit(self):
        n = _next(_posts)  # post n: patient n mod 60 of the centre, 2024-01-01 + n div 60 days: never twice
        code, key = self.patients[n % len(self.patients)]
        page = self.client.get(f"/clinic/{self.centre}/patients/{key}/", headers=HEADERS, name="clinic:patient")
        token = _form_token(self, page)
        if token is None:
            return
        day = dt.date(2024, 1, 1) + dt.timedelta(days=n // len(self.patients))
        data = {"csrfmiddlewaretoken": token, "edss-visit_date": day.isoformat(),
                "edss-edss": random.choice(["1.0", "2.5", "3.5", "4.0"]), "edss-confirm": "yes"}
        url = f"/clinic/{self.centre}/patients/{key}/add/edss/"
        with self.client.post(url, data=data, headers={**HEADERS, "Referer": f"https://{HOST}{url}"},
                              name="clinic:record_add", allow_redirects=False, catch_response=True) as r:
            if r.status_code == 302:
                with LOCK:
                    CREATED.append((self.centre, code, day.isoformat()))
                r.success()
            elif r.status_code in (200, 400):  # refused by a rule: a correct answer, counted apart
                with LOCK:
                    REFUSED.append((self.centre, code, day.isoformat(), r.status_code))
                r.success()


class WrongPassword(HttpUser):
    weight = 5
    wait_time = between(1, 3)

    @task
    def sign_in(self):
        page = self.client.get("/accounts/login/", headers=HEADERS, name="accounts:login")
        token = _form_token(self, page)
        if token is None:
            return
        data = {"csrfmiddlewaretoken": token, "username": random.choice(PLAN["wrong_users"]),
                "password": "wrong-" + str(random.random()), "next": ""}  # pragma: allowlist secret
        with self.client.post("/accounts/login/", data=data, name="accounts:login (wrong password)",
                              headers={**HEADERS, "Referer": f"https://{HOST}/accounts/login/"},
                              catch_response=True) as r:
            if r.status_code in (200, 403, 429):  # a refusal or a lockout page: both expected
                r.success()


@events.quitting.add_listener
def _save(environment, **kwargs):
    with open(os.environ["OPENHSCT_LOAD_POSTS"], "w") as f:
        json.dump({"created": CREATED, "refused": REFUSED}, f)
'''


def require_loopback(host: str) -> str:
    """Returns ``host`` when it is a loopback address; exits with a message for anything else."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        sys.exit(f"bench/load.py: refusing to load {host!r}: only loopback addresses (127.0.0.1, ::1) are allowed.")
    return host


def free_port(host: str) -> int:
    """Returns a TCP port on ``host`` that nothing listens on now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def locust_command() -> list[str]:
    """Returns the command that runs locust; exits with a message when it is not installed."""
    named = os.environ.get("OPENHSCT_LOCUST") or shutil.which("locust")
    if named:
        return [named]
    try:
        import locust  # noqa: F401
    except ImportError:
        sys.exit("bench/load.py needs locust: pip install locust (or set OPENHSCT_LOCUST to its executable).")
    return [sys.executable, "-m", "locust"]


def fresh_postgres(url: str) -> str:
    """Drop and create the PostgreSQL database named by loopback ``url``. Returns the url."""
    import psycopg

    parts = urlsplit(url)
    require_loopback(parts.hostname or "")
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        con.execute(f'CREATE DATABASE "{name}"')
    return url


def environment(folder: Path, db_url: str, host: str) -> dict[str, str]:
    """Returns the production environment of the server and its helpers (generated secrets)."""
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "openhsct.settings.production",
        "OPENHSCT_SECRET_KEY": secrets.token_urlsafe(64), "OPENHSCT_HMAC_KEY": secrets.token_urlsafe(48),
        "OPENHSCT_ALLOWED_HOSTS": host, "OPENHSCT_DATABASE_URL": db_url, "OPENHSCT_HOME": str(folder),
        "OPENHSCT_TRUST_X_FORWARDED_PROTO": "1", "PYTHONPATH": str(ROOT / "src"),
    })
    env.pop("OPENHSCT_REQUIRE_TOTP_FOR_CROSS_CENTRE", None)
    return env


def child_json(code: str, args: list[str], env: dict, tag: str, timeout: float) -> dict:
    """Run ``code`` in a child Python with ``args``; returns the JSON it printed after ``tag``."""
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    for line in done.stdout.splitlines():
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1:])
    raise SystemExit(f"bench/load.py: the {tag.lower()} step failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def wait_ready(host: str, port: int, server: subprocess.Popen, timeout_s: float = 120) -> None:
    """Returns when the server accepts connections; exits when it stopped or never answered."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("bench/load.py: the server stopped before answering")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("bench/load.py: the server did not answer")


def stop(process: subprocess.Popen, group: bool = False) -> None:
    """End ``process`` by its PID (with ``group``, its process group: ``openhsct serve`` and the gunicorn
    it runs, waiting until every request it held is answered and the group is gone): TERM, then KILL."""
    def send(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig) if group else os.kill(process.pid, sig)

    send(signal.SIGTERM)
    if group:  # gunicorn finishes the requests it holds (up to 30 s): wait until the whole group is gone
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and _group_alive(process.pid):
            time.sleep(0.2)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    if process.poll() is None or (group and _group_alive(process.pid)):
        send(signal.SIGKILL)
        process.wait(timeout=10)


def _group_alive(pgid: int) -> bool:
    """Returns True while any process of group ``pgid`` exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def read_stats(prefix: Path) -> tuple[list[dict], list[dict]]:
    """Returns locust's per-endpoint rows (without the aggregate) and its failure rows."""
    with open(f"{prefix}_stats.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["Name"] != "Aggregated"]
    with open(f"{prefix}_failures.csv", newline="") as f:
        failures = list(csv.DictReader(f))
    return rows, failures


def run_backend(backend: str, args, folder: Path) -> dict:
    """Build, serve, load and check one backend. Returns its figures."""
    host = require_loopback(args.host)
    db_url = (f"sqlite:///{folder / 'load.sqlite3'}" if backend == "sqlite" else fresh_postgres(args.pg_url))
    env = environment(folder, db_url, host)
    started = time.monotonic()
    plan = child_json(SETUP, [str(args.patients), str(folder)], env, "PLAN", timeout=1800)
    setup_s = time.monotonic() - started
    (folder / "plan.json").write_text(json.dumps(plan))
    port = free_port(host)
    log = (folder / "server.log").open("wb")
    cmd = [sys.executable, "-m", "openhsct.cli", "serve", "--host", host, "--port", str(port)]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    log.close()
    locust = None
    try:
        wait_ready(host, port, server)
        (folder / "locustfile.py").write_text(LOCUSTFILE)
        lenv = {**env, "OPENHSCT_LOAD_PLAN": str(folder / "plan.json"), "OPENHSCT_LOAD_HOST": f"{host}:{port}",
                "OPENHSCT_LOAD_POSTS": str(folder / "posts.json")}
        locust = subprocess.Popen([*locust_command(), "-f", str(folder / "locustfile.py"), "--headless",
                                   "--host", f"http://{host}:{port}", "-u", str(args.users), "-r",
                                   str(args.spawn_rate), "--run-time", f"{args.run_time}s", "--stop-timeout", "10",
                                   "--csv", str(folder / "locust"), "--only-summary"],
                                  env=lenv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=folder)
        try:
            locust_out = locust.communicate(timeout=args.hard_stop)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            stop(locust)
            raise SystemExit(f"bench/load.py: locust ran past the hard stop of {args.hard_stop} s") from None
    finally:
        if locust is not None:
            stop(locust)
        stop(server, group=True)
    rows, failures = read_stats(folder / "locust")
    posts = json.loads((folder / "posts.json").read_text())
    check = child_json(CHECK, [str(folder / "plan.json"), str(folder / "posts.json")], env, "CHECK", timeout=600)
    server_out = (folder / "server.log").read_text(errors="replace")
    return figures(backend, rows, failures, posts, check, server_out, setup_s, locust_out)


def _count(rows: list[dict], name: str, column: str = "Request Count") -> int:
    return sum(int(r[column]) for r in rows if r["Name"] == name)


def figures(backend: str, rows, failures, posts, check, server_out: str, setup_s: float, locust_out: str) -> dict:
    """Returns the run's figures and the list of broken targets (empty when all hold)."""
    status_5xx = sum(int(f["Occurrences"]) for f in failures if re_status(f["Error"]) >= 500)
    connection = sum(int(f["Occurrences"]) for f in failures if re_status(f["Error"]) == 0)
    other = sum(int(f["Occurrences"]) for f in failures) - status_5xx - connection
    seen_by_clients = sum(_count(rows, n) - _count(rows, n, "Failure Count") for n in ("clinic:patient", "clinic:centre"))
    identifiable = served_identifiable_pages(server_out)
    served_posts = served_visit_posts(server_out)
    writes = sum(check["change_events"].values())
    result = {
        "backend": backend, "setup_s": round(setup_s, 1), "requests": sum(int(r["Request Count"]) for r in rows),
        "responses_5xx": status_5xx, "connection_errors": connection, "other_failures": other,
        "tracebacks": server_out.count("Traceback"), "visit_posts_ok": len(posts["created"]),
        "visit_posts_served": served_posts, "unexplained": check["visits_created"] - served_posts,
        "visit_posts_refused_by_rule": len(posts["refused"]), **check, "identifiable_pages_served": identifiable,
        "identifiable_pages_received": seen_by_clients,
        "endpoints": [{"name": r["Name"], "method": r["Type"], "n": int(r["Request Count"]),
                      "p50": r["50%"], "p95": r["95%"], "p99": r["99%"], "rps": r["Requests/s"]} for r in rows],
    }
    broken = []
    for key in ("responses_5xx", "connection_errors", "other_failures", "tracebacks", "duplicates", "lost",
                "unexplained"):
        if result[key]:
            broken.append(f"{key} = {result[key]}")
    if check["visits_created"] != served_posts:
        broken.append(f"visits created {check['visits_created']} != successful POSTs served {served_posts}")
    expected = {k: v for k, v in (("EdssVisit", check["visits_created"]),
                                  ("WarningConfirmation", check["confirmations_created"])) if v}
    if check["change_events"] != expected:
        broken.append(f"audit change events {check['change_events']} != writes {expected} ({writes} events)")
    if check["view_events"] != identifiable:
        broken.append(f"audit read events {check['view_events']} != identifiable pages served {identifiable}")
    if seen_by_clients > identifiable:
        broken.append(f"clients received {seen_by_clients} identifiable pages, the server logged {identifiable}")
    for key in ("integrity", "audit_chain"):
        if check[key] != "ok":
            broken.append(f"{key}: {check[key]}")
    result["broken"] = broken
    return result


def served_identifiable_pages(server_out: str) -> int:
    """Returns the identifiable pages the mix reads (GET, status 200) in the server's request log: patient
    pages and centre dashboards, one line per request with the route pattern, e.g.
    ``GET clinic/<str:centre_code>/patients/<pkey:patient_key>/ 200 41ms``."""
    import re

    patients = re.findall(r"GET \S*patients/<pkey:patient_key>/ 200 ", server_out)
    dashboards = re.findall(r"GET \S*clinic/<str:centre_code>/ 200 ", server_out)
    return len(patients) + len(dashboards)


def served_visit_posts(server_out: str) -> int:
    """Returns the visit POSTs the server answered with its redirect (302: saved), from its request log.
    A client stopped at the end of the run may never read an answer the server sent; the writes are
    therefore counted where they happen, and every write a client saw must be among them."""
    import re

    return len(re.findall(r"POST \S*patients/<pkey:patient_key>/add/<slug:kind>/ 302 ", server_out))


def re_status(error: str) -> int:
    """Returns the HTTP status in a locust failure text, or 0 for a connection error."""
    import re

    found = re.search(r"(\d{3}) (?:Server|Client) Error", error) or re.search(r"HTTPError\('(\d{3})", error)
    return int(found.group(1)) if found else 0


def report(results: list[dict], args) -> str:
    """Returns the Markdown block for BENCHMARKS.md (what this script printed)."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    lines = [f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {commit}, {platform.node()} "
             f"({os.cpu_count()} CPUs, {platform.platform()}); {args.users} users, spawn {args.spawn_rate}/s, "
             f"{args.run_time} s, {args.patients} synthetic patients.", ""]
    for r in results:
        lines += [f"**{r['backend']}** — {r['requests']:,} requests; 5xx {r['responses_5xx']}, connection errors "
                  f"{r['connection_errors']}, other failures {r['other_failures']}, tracebacks {r['tracebacks']}; "
                  f"visit POSTs saved (server log) {r['visit_posts_served']} = visits created {r['visits_created']} "
                  f"(answers read by clients {r['visit_posts_ok']}, refused by a rule "
                  f"{r['visit_posts_refused_by_rule']}), duplicates {r['duplicates']}, lost {r['lost']}, "
                  f"unexplained {r['unexplained']}; audit change events {r['change_events']} (warning "
                  f"confirmations {r['confirmations_created']}), read events {r['view_events']} = identifiable "
                  f"pages served (patient pages and centre dashboards) {r['identifiable_pages_served']} (received "
                  f"by clients {r['identifiable_pages_received']}); failed sign-ins {r['failed_login_events']}, "
                  f"lockouts {r['lockout_events']}; integrity {r['integrity']}, audit chain {r['audit_chain']}. "
                  + ("All targets met." if not r["broken"] else "BROKEN: " + "; ".join(r["broken"])), "",
                  "| endpoint | method | requests | p50 ms | p95 ms | p99 ms | req/s |", "|---|---|--:|--:|--:|--:|--:|"]
        lines += [f"| {e['name']} | {e['method']} | {e['n']:,} | {e['p50']} | {e['p95']} | {e['p99']} | "
                  f"{float(e['rps']):.1f} |" for e in r["endpoints"]]
        lines.append("")
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Returns the command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--host", default="127.0.0.1", help="Loopback address to serve on (nothing else is accepted).")
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--spawn-rate", type=float, default=50)
    p.add_argument("--run-time", type=int, default=60, help="Seconds of load.")
    p.add_argument("--hard-stop", type=int, default=120, help="Seconds after which locust is killed.")
    p.add_argument("--patients", type=int, default=300)
    p.add_argument("--workers", type=int, default=None, help="gunicorn workers [2 × CPUs + 1].")
    p.add_argument("--pg-url", default=os.environ.get("OPENHSCT_LOAD_PG_URL", PG_DEFAULT))
    p.add_argument("--quick", action="store_true", help="20 users for 10 s on 60 patients: checks that it works.")
    p.add_argument("--write", action="store_true", help="Append the figures to BENCHMARKS.md.")
    p.add_argument("--json", type=Path, default=None, help="Also write the figures as JSON here.")
    p.add_argument("--keep", action="store_true", help="Keep each backend's folder (registry, logs) for inspection.")
    args = p.parse_args(argv)
    if args.quick:
        args.users, args.spawn_rate, args.run_time, args.hard_stop, args.patients = 20, 10, 10, 60, 60
    require_loopback(args.host)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the load on the chosen backends. Returns 0 when every target held, 1 otherwise."""
    args = parse(argv)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results = []
    for backend in backends:
        if args.keep:
            folder = Path(tempfile.mkdtemp(prefix=f"openhsct-load-{backend}-"))
            print(f"{backend}: registry, server log and locust files kept in {folder}")
            results.append(run_backend(backend, args, folder))
            continue
        with tempfile.TemporaryDirectory(prefix=f"openhsct-load-{backend}-") as tmp:
            results.append(run_backend(backend, args, Path(tmp)))
    text = report(results, args)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.write:
        with open(ROOT / "BENCHMARKS.md", "a", encoding="utf-8") as f:
            f.write("\n### Load run (bench/load.py)\n\n" + text + "\n")
    return 0 if all(not r["broken"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
