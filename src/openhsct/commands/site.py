"""``openhsct demo`` and ``openhsct serve``: the demo registry and the web server."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import typer
from rich.panel import Panel
from rich.table import Table

from openhsct.commands._common import console, table_progress
from openhsct.errors import OpenHSCTError

DEMO_DIR = Path("openhsct-demo")


def demo(
    folder: Path = typer.Option(DEMO_DIR, "--dir", help="Folder for the demo registry (SQLite) and its bundle."),
    patients: int = typer.Option(900, "--patients", min=10, help="Synthetic patients across 3 fictional centres."),
    seed: int = typer.Option(2026, "--seed"),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    serve_site: bool = typer.Option(True, "--serve/--no-serve", help="Serve the site after building."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Start again from an empty demo registry."),
) -> None:
    """Build the SYNTHETIC demo registry (3 fictional centres), print its summary and serve the site."""
    folder = folder.resolve()
    db_file = folder / "openhsct.sqlite3"
    if rebuild and db_file.exists():
        db_file.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["OPENHSCT_DATABASE_URL"] = f"sqlite:///{db_file}"
    os.environ.setdefault("OPENHSCT_HOME", str(folder))
    from openhsct.site.django_setup import setup

    with console.status("Preparing the database…"):
        setup(migrate=True)
    from openhsct.registry.models import Patient

    password_file = folder / "logins.txt"
    if not Patient.objects.exists():
        _build_demo(folder, patients, seed)
        password_file.write_text(_create_demo_users(), encoding="utf-8")
    print_registry_summary()
    _publish_demo_release()
    console.print(Panel.fit(
        "[bold yellow]SYNTHETIC DATA[/] — every centre and patient in this demo is generated; "
        "none is a real centre or person. Not medical advice.", border_style="yellow"))
    if password_file.exists():
        console.print(f"Logins (also in {password_file}):\n" + password_file.read_text(encoding="utf-8"))
    if serve_site:
        serve_process(host, port, db_url=os.environ["OPENHSCT_DATABASE_URL"])


def _build_demo(folder: Path, patients: int, seed: int) -> None:
    from openhsct.registry.audit import acting_as
    from openhsct.registry.exchange import tables
    from openhsct.registry.importer import import_bundle
    from openhsct.registry.synth import generate, write_bundle
    from openhsct.registry.synth_comparators import add_comparators

    bundle = folder / "bundle"
    with console.status(f"Generating {patients:,} synthetic patients in 3 fictional centres…"):
        write_bundle(add_comparators(generate(centres=3, patients=patients, seed=seed), patients // 4, seed), bundle)
    with acting_as("demo"), table_progress("Importing the demo bundle", len(tables())) as advance:
        import_bundle(bundle, actor="demo", progress=advance)


def _publish_demo_release() -> None:
    """Draft and publish a release of the demo registry unless one is published (the public pages serve
    only published releases); its cut is the registry's data-as-of date (the synthetic data's last day)."""
    from openhsct.outcomes.followup import data_as_of
    from openhsct.releases.build import BuildSettings
    from openhsct.releases.cut import read_registry
    from openhsct.releases.store import latest_published, release_draft, release_publish

    if latest_published() is not None:
        return
    with console.status("Building the demo's first data release (statistics, charts, PDF reports)…"):
        cut = data_as_of(read_registry()).date()
        release = release_draft(cut, actor="demo", settings=BuildSettings(pdf=True))
        release_publish(release, actor="demo")
    console.print(f"Published data release {release.id} (data cut {release.cut}). Next one: "
                  "openhsct release draft --cut YYYY-MM-DD, preview in /clinic/, openhsct release publish ID.")


def _create_demo_users() -> str:
    """Create an administrator, one staff member per centre and a monitor; returns their logins."""
    from openhsct.registry.models import Centre
    from openhsct.registry.users import ensure_user

    lines = []
    accounts = [("admin", "admin", None), ("monitor", "monitor", None)]
    accounts += [(f"staff_{c.centre_code.lower()}", "staff", c.centre_code) for c in Centre.objects.all()]
    for username, role, centre in accounts:
        password = secrets.token_urlsafe(9)
        ensure_user(username, password, role=role, centre_code=centre)
        lines.append(f"  {username:<14} {password:<14} {role}{' of ' + centre if centre else ''}")
    lines += _demo_patient_login()
    return "\n".join(lines) + "\n"


def _demo_patient_login() -> list[str]:
    """One synthetic patient with questionnaires answered gets a login (the patient area, /patient/)."""
    from openhsct.portal.patient.services import patient_account_ensure
    from openhsct.registry.models import Patient, ProAnswer

    answered = ProAnswer.objects.values("patient_id")
    patient = Patient.objects.filter(consent_status="given", pk__in=answered).exclude(
        consent_publication="no").order_by("centre__centre_code", "patient_code").first()
    if patient is None:
        return []
    password = secrets.token_urlsafe(9)
    account = patient_account_ensure(patient=patient, password=password)
    return [f"  {account.user.get_username()} {password} patient {patient} (sign in at /patient/sign-in/)"]


def print_registry_summary() -> None:
    """Print patients per centre per year and follow-up completeness (CIBMTR/SRTR's measure)."""
    from openhsct.outcomes.followup import followup_completeness, patients_per_year
    from openhsct.registry.exporter import registry_frames

    frames = registry_frames(typed=True)
    per_year = patients_per_year(frames)
    t = Table(title="Patients transplanted per centre per year (synthetic)" if _synthetic(frames) else
              "Patients transplanted per centre per year")
    t.add_column("year")
    for c in per_year.columns:
        t.add_column(str(c), justify="right")
    t.add_column("all", justify="right")
    for year, row in per_year.iterrows():
        t.add_row(str(year), *[str(int(v)) for v in row], str(int(row.sum())))
    t.add_row("total", *[str(int(v)) for v in per_year.sum()], str(int(per_year.values.sum())), style="bold")
    console.print(t)
    comp = followup_completeness(frames)
    c = Table(title=f"Follow-up completeness (seen in the 12 months before {comp.attrs['as_of']:%Y-%m-%d})")
    for col in ("centre", "living patients", "seen", "completeness"):
        c.add_column(col, justify="left" if col == "centre" else "right")
    for code, row in comp.iterrows():
        flag = "" if row["share"] >= 0.9 else " [yellow](below 90 %)[/]"
        c.add_row(str(code), str(int(row["alive"])), str(int(row["seen"])), f"{row['share']:.0%}{flag}")
    console.print(c)


def _synthetic(frames) -> bool:
    return bool((frames["centres"]["synthetic"] == "yes").any())


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="gunicorn processes [2 × CPUs + 1]."),
) -> None:
    """Serve the registry named by OPENHSCT_DATABASE_URL (or --db) with gunicorn."""
    from openhsct.site.django_setup import setup

    setup(migrate=True)
    serve_process(host, port, db_url=os.environ.get("OPENHSCT_DATABASE_URL"), workers=workers)


def default_workers() -> int:
    """gunicorn's advice for worker processes: 2 × CPUs + 1."""
    return 2 * (os.cpu_count() or 1) + 1


def gunicorn_args(host: str, port: int, *, workers: int | None = None, worker_class: str = "sync",
                  access_log: bool = True) -> list[str]:
    """The gunicorn command line (after ``python -m``) that ``serve`` and ``bench/portal.py`` run.

    gunicorn's advice: 2 × CPUs + 1 sync workers. A sync worker takes a connection only when it is free, so
    requests spread evenly over the processes (gthread workers keep their keep-alive connections, and the
    kernel hands them out unevenly); ``--timeout 120`` leaves room for a cold PDF report. ``--preload``
    loads the app (imports, URL patterns, public templates: :func:`openhsct.site.wsgi.warm`) once in the
    master, so workers share that memory and no first visitor pays for it.
    """
    args = ["gunicorn", "openhsct.site.wsgi:application", "--bind", f"{host}:{port}",
            "--workers", str(workers or default_workers()), "--worker-class", worker_class,
            "--backlog", "2048", "--timeout", "120", "--log-level", "warning", "--preload"]
    if worker_class == "gthread":  # gunicorn turns "sync" into gthread whenever --threads > 1
        args += ["--threads", "2", "--keep-alive", "5"]
    return args + (["--access-logfile", "-"] if access_log else [])


def serve_process(host: str, port: int, *, db_url: str | None, workers: int | None = None) -> None:
    """Run gunicorn on the OpenHSCT WSGI app in the foreground until interrupted."""
    env = dict(os.environ)
    if db_url:
        env["OPENHSCT_DATABASE_URL"] = db_url
    console.print(f"Serving on [bold]http://{host}:{port}/[/] — the public portal; data entry at "
                  f"http://{host}:{port}/clinic/ and /admin/. Press Ctrl+C to stop.")
    # No gunicorn access log: its lines hold URL paths, and paths hold pseudonymous codes. The site logs one
    # line per request itself, with the route pattern and the request id (openhsct.site.security).
    cmd = [sys.executable, "-m", *gunicorn_args(host, port, workers=workers, access_log=False)]
    try:
        subprocess.run(cmd, env=env, check=True)
    except KeyboardInterrupt:
        console.print("Stopped.")
    except subprocess.CalledProcessError as exc:
        raise OpenHSCTError(f"the web server stopped with status {exc.returncode} (is port {port} in use?)") from None


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("serve")(serve)
