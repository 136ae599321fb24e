"""The long reliability runs in one command, their figures into BENCHMARKS.md.

``--deep`` runs, on SQLite and on PostgreSQL:

- import fuzzing, 100,000 generated bundles (``tests/registry/test_import_fuzz.py``,
  ``OPENHSCT_FUZZ_PROFILE=deep``);
- 1,000 SIGKILLs during imports (and 200 during exports) (``tests/registry/test_crash_consistency.py``,
  ``OPENHSCT_RELIABILITY_PROFILE=deep``);

then, once, 10 minutes of coverage-guided fuzzing of the bundle reader (``bench/fuzz_import.py``, atheris)
and the load run (``bench/load.py``: 200 users for 60 s on each backend).

``--quick`` (the default) runs the same steps at their small local sizes — a few hundred bundles, 8 kills,
20 s of atheris, the load run's ``--quick`` on SQLite — to check that the whole chain works.

    .venv/bin/python bench/reliability.py [--deep | --quick] [--backend sqlite|postgresql|both]
        [--only fuzz,kills,atheris,load] [--pg-url URL] [--write]

PostgreSQL steps use the database named by ``--pg-url`` (default
``postgresql://postgres@127.0.0.1:5432/openhsct_reliability``; pytest-django creates ``test_<name>``).
Every step runs with a wall-clock limit and its child processes are ended by PID. Exit status 0 when
every step passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/openhsct_reliability"
STEPS = ("fuzz", "kills", "atheris", "load")


@dataclass
class Step:
    """One step's outcome: what ran, how long, and the figure it printed."""

    name: str
    backend: str
    command: str
    returncode: int
    seconds: float
    figure: str

    @property
    def passed(self) -> bool:
        """True when the step exited 0."""
        return self.returncode == 0


def run(name: str, backend: str, cmd: list[str], env: dict, limit_s: float) -> Step:
    """Run ``cmd`` with a wall-clock limit (the child is ended by PID when it runs past). Returns its Step."""
    started = time.monotonic()
    child = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
    try:
        out, _ = child.communicate(timeout=limit_s)
        code = child.returncode
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, 9)
        out, _ = child.communicate()
        code, out = 124, (out or "") + f"\nstopped after the limit of {limit_s:.0f} s"
    seconds = time.monotonic() - started
    print(out[-4000:], flush=True)
    return Step(name, backend, " ".join(cmd[1:] if cmd[0] == sys.executable else cmd), code, round(seconds, 1),
                summary(out))


def summary(output: str) -> str:
    """Returns the figure a step printed: pytest's result line, atheris's last status, or load's lines."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.search(r"\b(passed|failed|error)\b.* in [\d.]+s", line):
            return line.strip("= ")
    for line in reversed(lines):
        if line.startswith("#") and ("cov:" in line or "DONE" in line):
            return line
    picked = [line for line in lines if line.startswith("**")]
    return " / ".join(picked) if picked else (lines[-1] if lines else "(no output)")


def backend_env(backend: str, pg_url: str, profile: str, home: Path) -> dict:
    """Returns the environment of a test step on ``backend`` under ``profile`` (local, ci or deep)."""
    env = {**os.environ, "OPENHSCT_FUZZ_PROFILE": profile, "OPENHSCT_RELIABILITY_PROFILE": profile,
           "OPENHSCT_HOME": str(home)}
    if backend == "postgresql":
        env.update(OPENHSCT_TEST_BACKEND="postgresql", OPENHSCT_DATABASE_URL=pg_url)
    else:
        env.pop("OPENHSCT_TEST_BACKEND", None)
        env.pop("OPENHSCT_DATABASE_URL", None)
    return env


def pytest_cmd(test_file: str) -> list[str]:
    """Returns the pytest command for one test file."""
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_file]


def plan(args, home: Path) -> list[tuple[str, str, list[str], dict, float]]:
    """Returns the steps to run: (name, backend, command, environment, limit in seconds)."""
    deep = args.deep
    profile = "deep" if deep else "local"
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    steps = []
    for backend in backends:
        env = backend_env(backend, args.pg_url, profile, home)
        if "fuzz" in args.only:
            steps.append(("fuzz", backend, pytest_cmd("tests/registry/test_import_fuzz.py"), env,
                          48 * 3600 if deep else 1800))
        if "kills" in args.only:
            steps.append(("kills", backend, pytest_cmd("tests/registry/test_crash_consistency.py"), env,
                          24 * 3600 if deep else 1800))
    if "atheris" in args.only:
        seconds = 600 if deep else 20
        steps.append(("atheris", "-", [sys.executable, "bench/fuzz_import.py", "--minutes", f"{seconds / 60:g}"],
                      dict(os.environ), seconds + 300))
    if "load" in args.only:
        load = [sys.executable, "bench/load.py", "--backend", args.backend if deep else backends[0]]
        steps.append(("load", "both" if deep and args.backend == "both" else load[-1],
                      load + ([] if deep else ["--quick"]) + ["--pg-url", args.pg_url.rsplit("/", 1)[0] + "/openhsct_load"],
                      dict(os.environ), 3600 if deep else 900))
    return steps


def markdown(steps: list[Step], args) -> str:
    """Returns the BENCHMARKS.md block of this run (date, commit, machine, one row per step)."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    lines = [f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {commit}, {platform.node()} "
             f"({os.cpu_count()} CPUs, {platform.platform()}), mode {'deep' if args.deep else 'quick'}.", "",
             "| step | backend | result | wall s | figure |", "|---|---|---|--:|---|"]
    for s in steps:
        result = "pass" if s.passed else ("timed out" if s.returncode == 124 else f"FAIL (exit {s.returncode})")
        lines.append(f"| {s.name} | {s.backend} | {result} | {s.seconds:,.0f} | {s.figure.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Returns the command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--deep", action="store_true", help="The long profiles (hours).")
    mode.add_argument("--quick", action="store_true", help="Small sizes, to check the chain works (default).")
    p.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--only", default=",".join(STEPS), help="Comma-separated steps: " + ", ".join(STEPS))
    p.add_argument("--pg-url", default=os.environ.get("OPENHSCT_RELIABILITY_PG_URL", PG_DEFAULT))
    p.add_argument("--write", action="store_true", help="Append the figures to BENCHMARKS.md.")
    p.add_argument("--json", type=Path, default=None, help="Also write the steps as JSON here.")
    args = p.parse_args(argv)
    args.only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = args.only - set(STEPS)
    if unknown:
        p.error(f"unknown step(s): {', '.join(sorted(unknown))}; choose from {', '.join(STEPS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the chosen steps. Returns 0 when all passed, 1 otherwise."""
    args = parse(argv)
    done = []
    with tempfile.TemporaryDirectory(prefix="openhsct-reliability-") as tmp:
        for name, backend, cmd, env, limit in plan(args, Path(tmp)):
            print(f"== {name} on {backend}: {' '.join(cmd[1:])}", flush=True)
            done.append(run(name, backend, cmd, env, limit))
    text = markdown(done, args)
    print(text)
    if args.json:
        args.json.write_text(json.dumps([asdict(s) for s in done], indent=1))
    if args.write:
        with open(ROOT / "BENCHMARKS.md", "a", encoding="utf-8") as f:
            f.write("\n### Reliability run (bench/reliability.py)\n\n" + text)
    return 0 if all(s.passed for s in done) else 1


if __name__ == "__main__":
    sys.exit(main())
