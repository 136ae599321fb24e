"""Load on the public pages served from a published data release: gunicorn on loopback, 50 clients.

Builds a synthetic registry (3 centres) in a temporary SQLite file, drafts and publishes a release of it
(the public pages read only the release), starts ``gunicorn openhsct.site.wsgi`` on 127.0.0.1 with the
arguments ``openhsct serve`` uses (:func:`openhsct.commands.site.gunicorn_args`), times the **cold first
request of every public page** (fresh server, nothing cached), then loads the centre page with ``wrk``
(Debian's C load generator) or, when ``wrk`` is absent, a thread-pool Python generator. Prints p50/p95/p99
latency, requests per second, errors, CPU of server and load generator, and the **server's resident
memory** (master and workers, from /proc) — which should not grow with the registry, since web workers
no longer hold it. Targets: cold first request < 100 ms, p95 < 20 ms at 50 clients.

    .venv/bin/python bench/portal.py [--clients 50] [--seconds 60] [--patients 1000] [--workers N]
                                     [--worker-class sync|gthread] [--generator wrk|python] [--quick]

Loopback only; the load stops after ``--seconds`` whatever happens.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

#: wrk's report hook: the percentiles wrk --latency leaves out (p95) and the error counts, one per line.
WRK_LUA = """
done = function(summary, latency, requests)
  for _, p in pairs({50, 95, 99}) do
    io.write(string.format("OPENHSCT p%d_us=%d\\n", p, latency:percentile(p)))
  end
  local e = summary.errors
  io.write(string.format("OPENHSCT requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


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


def publish_release() -> tuple[str, float]:
    """Draft (no PDFs) and publish a release of the registry; returns its id and the seconds it took."""
    import datetime as dt

    from openhsct.releases.build import BuildSettings
    from openhsct.releases.store import release_draft, release_publish

    t0 = time.perf_counter()
    release = release_publish(release_draft(dt.date(2030, 12, 31), actor="bench", settings=BuildSettings()),
                              actor="bench")
    return release.pk, time.perf_counter() - t0


def server_rss_mb(master: int) -> tuple[float, float]:
    """(RSS, PSS) in MB of gunicorn's master and its workers (Linux /proc): RSS counts memory the workers
    share with the master once per process; PSS divides shared pages among them (the real total)."""
    rss = pss = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            rollup = (status.parent / "smaps_rollup").read_text()
        except OSError:
            continue
        ppid = int(re.search(r"PPid:\s+(\d+)", text).group(1))
        if master in (int(status.parent.name), ppid):
            m = re.search(r"VmRSS:\s+(\d+) kB", text)
            p = re.search(r"Pss:\s+(\d+) kB", rollup)
            rss += int(m.group(1)) if m else 0
            pss += int(p.group(1)) if p else 0
    return rss / 1024, pss / 1024


def cold_requests(port: int, paths: list[str]) -> dict[str, float]:
    """The first request of each page on a fresh server (s)."""
    out = {}
    for path in paths:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            status, took = get(conn, path)
        finally:
            conn.close()
        if status != 200:
            raise SystemExit(f"{path} answered {status}")
        out[path] = took
    return out


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


def python_load(port: int, path: str, clients: int, seconds: float) -> dict:
    latencies, errors, wall = load(port, path, clients, seconds)
    return {
        "ok": len(latencies),
        "errors": errors,
        "error_kinds": "",
        "wall": wall,
        **{f"p{q}": 1000 * pct(latencies, q) for q in (50, 95, 99)},
    }


def wrk_load(port: int, path: str, clients: int, seconds: float, folder: Path) -> dict:
    """``wrk --latency`` with the report hook above; 2 threads (the load generator's share of the CPUs)."""
    script = folder / "report.lua"
    script.write_text(WRK_LUA, encoding="utf-8")
    cmd = ["wrk", "-t", "2", "-c", str(clients), "-d", f"{int(seconds)}s", "--timeout", "30s", "--latency"]
    cmd += ["-s", str(script), f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    fields = dict(
        re.findall(r"(\w+)=(\d+)", " ".join(x for x in out.splitlines() if x.startswith("OPENHSCT")))
    )
    kinds = {k: int(fields[k]) for k in ("connect", "read", "write", "status", "timeout")}
    errors = sum(kinds.values())
    return {
        "ok": int(fields["requests"]) - kinds["status"],
        "errors": errors,
        "error_kinds": ", ".join(f"{k} {v}" for k, v in kinds.items() if v),
        "wall": int(fields["duration_us"]) / 1e6,
        **{f"p{q}": int(fields[f"p{q}_us"]) / 1000 for q in (50, 95, 99)},
    }


def server_cpu_s(master: int) -> float:
    """CPU seconds (user + system) used so far by gunicorn's master and its workers (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if master in (pid, ppid):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def warm_every_worker(port: int, path: str, workers: int, limit_s: float = 300) -> list[float]:
    """Send rounds of ``2 × workers`` simultaneous requests on fresh connections until two rounds in a row
    are all fast: a worker busy building its page takes no other connection, so the rounds spread over
    every worker, and each builds (then caches) its summaries. Returns every latency seen (s)."""
    seen: list[float] = []
    fast_rounds, end = 0, time.time() + limit_s

    def one(_):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=limit_s)
        try:
            status, dt = get(conn, path)
        finally:
            conn.close()
        if status != 200:
            raise SystemExit(f"{path} answered {status}")
        return dt

    with concurrent.futures.ThreadPoolExecutor(2 * workers) as pool:
        while fast_rounds < 2 and time.time() < end:
            round_ = list(pool.map(one, range(2 * workers)))
            seen += round_
            fast_rounds = fast_rounds + 1 if max(round_) < 0.25 else 0
    return seen


def main() -> None:
    from openhsct.commands.site import default_workers, gunicorn_args

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="10 s of load")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--workers", type=int, default=default_workers(), help="default: 2 × CPUs + 1")
    ap.add_argument("--worker-class", choices=("sync", "gthread"), default="sync")
    ap.add_argument(
        "--generator", choices=("wrk", "python"), default="wrk" if shutil.which("wrk") else "python"
    )
    args = ap.parse_args()
    if args.quick:
        args.seconds = min(args.seconds, 10)

    with tempfile.TemporaryDirectory(prefix="openhsct-bench-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        url = build_registry(folder, args.patients, args.seed)
        print(
            f"registry: {args.patients} synthetic patients, 3 centres, built in {time.perf_counter() - t0:.1f} s"
        )
        rid, t_release = publish_release()
        print(f"release {rid} drafted and published in {t_release:.1f} s")
        from openhsct.registry.models import Centre

        code = Centre.objects.order_by("centre_code").values_list("centre_code", flat=True).first()
        path = f"/centres/{code}/"
        pages = ["/", path, "/compare/", "/evidence/", "/about/", "/releases/", f"/centres/{code}/summary.csv",
                 "/compare.csv"]
        port = free_port()
        env = dict(os.environ, OPENHSCT_DATABASE_URL=url, OPENHSCT_HOME=str(folder))
        server_args = gunicorn_args(
            "127.0.0.1", port, workers=args.workers, worker_class=args.worker_class, access_log=False
        )
        server = subprocess.Popen([sys.executable, "-m", *server_args], env=env)
        try:
            wait_ready(port)
            cold = cold_requests(port, pages)
            rss_idle = server_rss_mb(server.pid)
            warm_every_worker(port, path, args.workers)
            cpu0, own0 = server_cpu_s(server.pid), os.times()
            if args.generator == "wrk":
                res = wrk_load(port, path, args.clients, args.seconds, folder)
            else:
                res = python_load(port, path, args.clients, args.seconds)
            cpu_server, own1 = server_cpu_s(server.pid) - cpu0, os.times()
            cpu_load = sum(own1[:4]) - sum(own0[:4])  # this process's threads, or wrk (a waited-for child)
            rss_loaded = server_rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)

    print(
        f"machine: {platform.node()} · {platform.processor() or platform.machine()} · {os.cpu_count()} CPUs · "
        f"Python {platform.python_version()} · load {os.getloadavg()[0]:.1f} (1 min, after the run)"
    )
    print(f"server: {' '.join(server_args)}")
    print(f"page: {path} · {args.clients} clients · {res['wall']:.1f} s · load generator: {args.generator}")
    worst = max(cold.values())
    print("cold first request: " + " · ".join(f"{p} {1000 * t:.0f} ms" for p, t in cold.items())
          + f" (target < 100 ms each: {'met' if worst < 0.1 else 'NOT met'})")
    print(f"server memory ({args.workers} workers + master): RSS {rss_idle[0]:.0f} MB / PSS {rss_idle[1]:.0f} MB "
          f"after the cold requests, RSS {rss_loaded[0]:.0f} MB / PSS {rss_loaded[1]:.0f} MB after the load")
    errors = f"{res['errors']} errors" + (f" ({res['error_kinds']})" if res["error_kinds"] else "")
    print(f"requests: {res['ok']:,} ok, {errors} · {res['ok'] / res['wall']:.0f} requests/s")
    print(
        f"latency: p50 {res['p50']:.1f} ms · p95 {res['p95']:.1f} ms · p99 {res['p99']:.1f} ms "
        f"(target p95 < 20 ms: {'met' if res['p95'] < 20 else 'NOT met'})"
    )
    print(
        f"CPU during the load: server {cpu_server / res['wall']:.2f} cores · "
        f"load generator {cpu_load / res['wall']:.2f} cores · "
        f"server {1e6 * cpu_server / max(res['ok'], 1):.0f} µs per request"
    )


if __name__ == "__main__":
    main()
