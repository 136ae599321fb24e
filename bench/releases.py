"""Building a public data release: cut, statistics, charts and (separately) PDF reports, with 1 and 2
Dask workers.

Generates a synthetic registry (``--patients`` over ``--centres`` centres), types it as the database read
would, then times :func:`openhsct.releases.cut.make_cut`, :func:`openhsct.releases.build.build_parts`
without Dask and on a local Dask cluster of 1 and 2 worker processes (each built twice is byte-identical:
checked), and the PDF reports of every centre. Targets (2 cores): 10,000 patients in 10 centres —
statistics, pages and charts < 30 s; 100,000 in 20 centres — statistics < 60 s, everything with PDFs
< 5 min. The registry read itself (one raw query per table) is timed by ``--db`` on an imported registry.

    .venv/bin/python bench/releases.py [--patients 10000] [--centres 10] [--workers 1 2] [--quick] [--pdf]

``--quick``: 10,000 patients, 10 centres, no Dask run with 2 workers unless asked.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time

CUT = dt.date(2030, 12, 31)


def typed_registry(patients: int, centres: int, seed: int):
    from openhsct.registry.exchange import tables
    from openhsct.registry.formats import typed_frame
    from openhsct.registry.synth import generate
    from openhsct.releases.cut import RELEASE_TABLES

    raw = generate(centres=centres, patients=patients, seed=seed)
    schema = tables()
    return {k: typed_frame(v, list(schema[k].columns)) for k, v in raw.items() if k in RELEASE_TABLES}


def timed(label: str, fn):
    t0 = time.perf_counter()
    out = fn()
    took = time.perf_counter() - t0
    print(f"{label}: {took:.1f} s", flush=True)
    return out, took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=10_000)
    ap.add_argument("--centres", type=int, default=10)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pdf", action="store_true", help="also render every centre's PDF report")
    args = ap.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openhsct.site.settings")
    import django

    django.setup()
    from openhsct.releases.build import BuildSettings, build_parts, evidence_part
    from openhsct.releases.cut import make_cut

    print(f"machine: {platform.node()} · {platform.processor() or platform.machine()} · {os.cpu_count()} CPUs · "
          f"Python {platform.python_version()} · load {os.getloadavg()[0]:.1f}")
    typed, _ = timed(f"generate {args.patients:,} patients in {args.centres} centres", lambda: typed_registry(
        args.patients, args.centres, args.seed))
    timed("published evidence (once per process, independent of the registry)", evidence_part)
    cut, t_cut = timed("cut (dates, consent, digest)", lambda: make_cut(typed, CUT))
    stats = BuildSettings(charts=False, comparative=False)
    _, t_stats = timed("statistics only (no charts), in process", lambda: build_parts(cut, stats))
    full = BuildSettings(charts=True, comparative=True)
    parts, t_full = timed("statistics, pages and charts, in process", lambda: build_parts(cut, full))
    results = {"in process": t_full}
    from distributed import Client, LocalCluster

    for n in args.workers:
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
                Client(cl) as client:
            again, took = timed(f"statistics, pages and charts, Dask {n} worker(s)",
                                lambda client=client: build_parts(cut, full, client=client))
            assert again == parts, "a Dask build differs from the in-process build"
            results[f"Dask {n}"] = took
    t_pdf = None
    if args.pdf:
        from openhsct.releases.store import render_reports

        _, t_pdf = timed("PDF reports of every centre", lambda: render_reports("bench", CUT, parts))
    print(f"summary: {args.patients:,} patients / {args.centres} centres · cut {t_cut:.1f} s · statistics "
          f"{t_stats:.1f} s · with charts " + ", ".join(f"{k} {v:.1f} s" for k, v in results.items())
          + (f" · PDFs {t_pdf:.1f} s" if t_pdf is not None else "") + " · byte-identical across workers: yes")


if __name__ == "__main__":
    main()
