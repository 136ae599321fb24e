"""Write requirements.lock: the runtime and test dependencies, pinned to the versions installed in this
environment, each with the SHA-256 hashes of its files.

Usage (from the repository root, after ``pip install -e ".[test]"``)::

    .venv/bin/python security/lock.py

The dependency closure is read from pyproject.toml (``dependencies`` and the ``test`` extra) and the
installed distributions' metadata; the files are fetched with ``pip download --no-deps`` (pip's cache and
configured indexes) and hashed. The hashes are those of the files pip picks for this platform.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[1]
HEADER = [
    "# The runtime and test dependencies of OpenHSCT, pinned with their SHA-256 hashes, as installed by",
    "# `pip install -e \".[test]\"` on CPython 3.11, Linux x86-64 (the hashes are of the files for that platform).",
    "# Install exactly these: pip install --require-hashes --no-deps -r requirements.lock && pip install --no-deps -e .",
    "# Written by security/lock.py; audited by `make audit` (pip-audit).",
    "",
]


def roots() -> list[Requirement]:
    """The project's runtime and test requirements from pyproject.toml. Returns them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]


def closure(requirements: list[Requirement]) -> dict[str, str]:
    """Every installed distribution the requirements need, with its version. Returns name → version;
    raises SystemExit naming a requirement that is not installed."""
    env = default_environment()
    pinned: dict[str, str] = {}
    extras_seen: dict[str, set[str]] = {}
    todo = list(requirements)
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in extras_seen and set(req.extras) <= extras_seen[name]:
            continue
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            raise SystemExit(f"{req.name} is required but not installed: pip install -e '.[test]' first") from None
        extras = extras_seen.setdefault(name, set()) | set(req.extras)
        extras_seen[name] = extras
        pinned[name] = dist.version
        for text in dist.requires or []:
            child = Requirement(text)
            if child.marker is None or any(child.marker.evaluate({**env, "extra": e}) for e in ["", *extras]):
                todo.append(child)
    return pinned


def hashes(pinned: dict[str, str], folder: Path) -> dict[str, list[str]]:
    """Download each pinned file into ``folder`` (pip, no dependencies) and hash it. Returns name → sorted
    SHA-256 hex digests."""
    pins = folder / "pins.txt"
    pins.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pinned.items())), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(folder / "files"),
                    "-r", str(pins)], check=True)
    found: dict[str, list[str]] = {}
    for path in sorted((folder / "files").iterdir()):
        name, version = (parse_wheel_filename(path.name)[:2] if path.suffix == ".whl"
                         else parse_sdist_filename(path.name))
        if pinned.get(canonicalize_name(name)) == str(version):
            found.setdefault(canonicalize_name(name), []).append(hashlib.sha256(path.read_bytes()).hexdigest())
    return {n: sorted(h) for n, h in found.items()}


def lock_text(pinned: dict[str, str], digests: dict[str, list[str]]) -> str:
    """The lock file's text. Returns it."""
    lines = list(HEADER)
    for name in sorted(pinned):
        lines.append(f"{name}=={pinned[name]} \\")
        hs = digests[name]
        lines += [f"    --hash=sha256:{h}" + (" \\" if i < len(hs) - 1 else "") for i, h in enumerate(hs)]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Write requirements.lock for the installed environment."""
    pinned = closure(roots())
    pinned.pop("openhsct", None)
    with tempfile.TemporaryDirectory() as tmp:
        digests = hashes(pinned, Path(tmp))
    missing = sorted(set(pinned) - set(digests))
    if missing:
        raise SystemExit(f"no file found to hash for: {', '.join(missing)}")
    (ROOT / "requirements.lock").write_text(lock_text(pinned, digests), encoding="utf-8")
    print(f"requirements.lock: {len(pinned)} distributions")


if __name__ == "__main__":
    main()
