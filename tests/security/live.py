"""A production-settings server on loopback for the header and log tests: gunicorn as ``openhsct serve``
runs it, on 127.0.0.1 at a free port, with a generated environment and a fresh SQLite registry holding
one synthetic centre, a staff member, a monitor and a patient whose code is a canary."""

from __future__ import annotations

import http.client
import ipaddress
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

#: Planted values: none may ever appear in a log line or in server output.
CANARY_CODE = "ZQCANARY7731"
CANARY_PASSWORD = "Canary-Pass-5519-xq"
CANARY_CLINICAL = "CANARYEDSS913"
CENTRE = "LSC"
STAFF, MONITOR = "live_staff", "live_monitor"

SETUP = f"""
from openhsct.site.django_setup import setup
setup(migrate=True)
from openhsct.registry.models import Centre, Patient
from openhsct.registry.users import ensure_user
centre = Centre.objects.create(centre_code={CENTRE!r}, name="Loopback Synthetic Centre", country="GBR",
                               city="Loopback", synthetic="yes")
Patient.objects.create(centre=centre, patient_code={CANARY_CODE!r}, sex="female", birth_year=1981,
                       phenotype="RRMS", consent_status="given")
ensure_user({STAFF!r}, {CANARY_PASSWORD!r}, role="staff", centre_code={CENTRE!r})
ensure_user({MONITOR!r}, {CANARY_PASSWORD!r}, role="monitor")
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now. Returns it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def production_environment(folder: Path, db_url: str | None = None) -> dict[str, str]:
    """A complete, generated production environment for a registry in ``folder`` (a SQLite file there,
    or the database at ``db_url``). Returns the variables (the current environment plus them)."""
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "openhsct.settings.production",
        "OPENHSCT_SECRET_KEY": secrets.token_urlsafe(64),
        "OPENHSCT_HMAC_KEY": secrets.token_urlsafe(48),
        "OPENHSCT_ALLOWED_HOSTS": "127.0.0.1",
        "OPENHSCT_DATABASE_URL": db_url or f"sqlite:///{folder / 'registry.sqlite3'}",
        "OPENHSCT_HOME": str(folder),
        "OPENHSCT_TRUST_X_FORWARDED_PROTO": "1",
    })
    env.pop("OPENHSCT_REQUIRE_TOTP_FOR_CROSS_CENTRE", None)
    # Browser tests in the same run lift Django's async-safety check for themselves; a deployment never does.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: str

    def header(self, name: str) -> str:
        """The header's value (several joined by ', '), or ''."""
        return ", ".join(v for k, v in self.headers if k.lower() == name.lower())

    def cookies(self) -> SimpleCookie:
        jar = SimpleCookie()
        for k, v in self.headers:
            if k.lower() == "set-cookie":
                jar.load(v)
        return jar


@dataclass
class LiveSite:
    """The running server: where it listens, its output file, and a cookie jar for one browser."""

    host: str
    port: int
    output: Path
    process: subprocess.Popen
    cookies: dict[str, str] = field(default_factory=dict)
    secret_key: str = ""

    def patient_path(self, centre_code: str, patient_code: str) -> str:
        """The clinic address of a patient on this server (its opaque key comes from the server's secret)."""
        from tests.clinic_urls import patient_url

        return patient_url(centre_code, patient_code, secret_key=self.secret_key)

    def request(self, method: str, path: str, *, https: bool = True, form: dict | None = None,
                headers: dict | None = None) -> Reply:
        """One request as a browser behind the TLS proxy would send it (``X-Forwarded-Proto: https``),
        keeping cookies. Returns the reply."""
        assert ipaddress.ip_address(self.host).is_loopback, "tests talk to loopback servers only"
        sent = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        if https:
            sent["X-Forwarded-Proto"] = "https"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
            sent["Origin"] = f"https://{self.host}:{self.port}"
            sent["Referer"] = f"https://{self.host}:{self.port}{path}"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=sent)
            raw = conn.getresponse()
            reply = Reply(raw.status, raw.getheaders(), raw.read().decode("utf-8", errors="replace"))
        finally:
            conn.close()
        for name, morsel in reply.cookies().items():
            if morsel.value:
                self.cookies[name] = morsel.value
            else:
                self.cookies.pop(name, None)
        return reply

    def csrf_token(self, page: Reply) -> str:
        """The CSRF form token on ``page``. Returns it."""
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
        assert match, "no CSRF token on the page"
        return match.group(1)

    def sign_in(self, username: str, password: str) -> Reply:
        """Open the sign-in page and post the form. Returns the reply to the post."""
        page = self.request("GET", "/accounts/login/")
        form = {"csrfmiddlewaretoken": self.csrf_token(page), "username": username, "password": password,
                "next": ""}
        return self.request("POST", "/accounts/login/", form=form)


def start(folder: Path, log_file: Path, timeout: float = 90, *, db_url: str | None = None) -> LiveSite:
    """Create the registry in ``folder`` (or in the empty database at ``db_url``) and start gunicorn on a free
    loopback port, output to ``log_file``.

    Returns the running site; raises RuntimeError (with the server's output) when it does not answer within
    ``timeout`` seconds.
    """
    from openhsct.commands.site import gunicorn_args

    env = production_environment(folder, db_url)
    subprocess.run([sys.executable, "-c", SETUP], env=env, check=True, capture_output=True, timeout=timeout)
    host, port = "127.0.0.1", free_port()
    args = gunicorn_args(host, port, workers=1, access_log=False)
    args[args.index("--log-level") + 1] = "info"
    out = log_file.open("wb")
    process = subprocess.Popen([sys.executable, "-m", *args], env=env, stdout=out, stderr=subprocess.STDOUT)
    out.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server stopped:\n" + log_file.read_text(errors="replace"))
        try:
            with socket.create_connection((host, port), timeout=1):
                return LiveSite(host, port, log_file, process, secret_key=env["OPENHSCT_SECRET_KEY"])
        except OSError:
            time.sleep(0.2)
    stop(process)
    raise RuntimeError("the server did not answer:\n" + log_file.read_text(errors="replace"))


def stop(process: subprocess.Popen) -> None:
    """End the server by its PID (TERM, then KILL after 10 s)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
