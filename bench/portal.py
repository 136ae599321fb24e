"""Load on the public centre page: gunicorn on loopback, a synthetic demo registry, 50 clients for 60 s.

Builds a demo registry with the synthetic generator (3 centres) in a temporary SQLite file, starts
``gunicorn openhsct.site.wsgi`` on 127.0.0.1, warms the cache (each worker computes its summaries once),
then runs a bounded thread-pool load generator (keep-alive HTTP/1.1 connections, one per client) against
the centre page. Prints p50/p95/p99 latency, requests per second, errors and the machine, and the ratio
of the cached page's p95 to a cold (uncached) page build measured in the same run.

    .venv/bin/python bench/portal.py [--clients 50] [--seconds 60] [--patients 900] [--workers 2]

Loopback only; the run stops after ``--seconds`` whatever happens.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_registry(folder: Path, patients: int, seed: int) -> str:
    """Generate and import the synthetic registry into a fresh SQLite file; returns its URL."""
    url = f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ["OPENHSCT_DATABASE_URL"] = url
    os.environ["OPENHSCT_HOME"] = str(folder)
    from openhsct.site.django_setup import setup

    setup(migrate=True)
    from openhsct.registry.importer import import_bundle
    from openhsct.registry.synth import generate, write_bundle

    write_bundle(generate(centres=3, patients=patients, seed=seed), folder / "bundle")
    import_bundle(folder / "bundle", actor="bench")
    return url


def get(conn: http.client.HTTPConnection, path: str) -> tuple[int, float]:
    t0 = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    r.read()
    return r.status, time.perf_counter() - t0


def wait_ready(port: int, timeout_s: float = 60) -> None:
    end = time.time() + timeout_s
    while time.time() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/about/")
            c.getresponse().read()
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("gunicorn did not start")


def load(port: int, path: str, clients: int, seconds: float) -> tuple[list[float], int, float]:
    """``clients`` threads, each on its own keep-alive connection, requesting ``path`` until the deadline."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, bad = [], 0
        while time.perf_counter() < deadline:
            try:
                status, dt = get(conn, path)
                if status == 200:
                    mine.append(dt)
                else:
                    bad += 1
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 35)
    return latencies, errors[0], time.perf_counter() - t0


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 10) - 1] if len(values) > 1 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--patients", type=int, default=900)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="openhsct-bench-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        url = build_registry(folder, args.patients, args.seed)
        print(
            f"registry: {args.patients} synthetic patients, 3 centres, built in {time.perf_counter() - t0:.1f} s"
        )
        from openhsct.registry.models import Centre

        code = Centre.objects.order_by("centre_code").values_list("centre_code", flat=True).first()
        path = f"/centres/{code}/"
        port = free_port()
        env = dict(os.environ, OPENHSCT_DATABASE_URL=url, OPENHSCT_HOME=str(folder))
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "openhsct.site.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--threads",
            "8",
            "--log-level",
            "warning",
            "--timeout",
            "120",
        ]
        server = subprocess.Popen(cmd, env=env)
        try:
            wait_ready(port)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            cold = []
            for _ in range(args.workers * 3):  # every worker builds (then caches) its page
                status, dt = get(conn, path)
                cold.append(dt)
                if status != 200:
                    raise SystemExit(f"{path} answered {status}")
            conn.close()
            latencies, errors, wall = load(port, path, args.clients, args.seconds)
        finally:
            server.terminate()
            server.wait(timeout=30)

    n = len(latencies)
    p50, p95, p99 = (1000 * pct(latencies, q) for q in (50, 95, 99))
    print(
        f"machine: {platform.node()} · {platform.processor() or platform.machine()} · {os.cpu_count()} CPUs · "
        f"Python {platform.python_version()} · gunicorn {args.workers} workers × 8 threads"
    )
    print(f"page: {path} · {args.clients} clients · {wall:.1f} s")
    print(f"first (uncached) build: {1000 * max(cold):.0f} ms")
    print(f"requests: {n:,} ok, {errors} errors · {n / wall:.0f} requests/s")
    print(f"latency: p50 {p50:.1f} ms · p95 {p95:.1f} ms · p99 {p99:.1f} ms (target p95 < 100 ms)")
    print(f"ratio uncached build / cached p95: {max(cold) / (p95 / 1000):.0f}×")


if __name__ == "__main__":
    main()
