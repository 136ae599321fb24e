"""Dependencies: a lock file with hashes, pip-audit with 0 known vulnerabilities outside a reviewed ignore
file whose entries have a reason and an expiry, and bandit with 0 high-severity findings in src/."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
IGNORE_FILE = ROOT / "security" / "pip-audit-ignore.toml"
BIN = Path(sys.executable).parent
IGNORE_FIELDS = ("id", "package", "reason", "reviewed_by", "expires")


def read_lock(path: Path = LOCK) -> dict[str, tuple[str, list[str]]]:
    """The lock file's pins: canonical name → (version, SHA-256 hashes). Returns the mapping."""
    pins: dict[str, tuple[str, list[str]]] = {}
    text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *options = line.split()
        name, version = spec.split("==")
        pins[canonicalize_name(name)] = (version, [o.removeprefix("--hash=sha256:") for o in options])
    return pins


def read_ignores(path: Path, today: dt.date) -> dict[str, dict]:
    """The reviewed pip-audit exceptions by advisory id. Returns them; raises ValueError naming the entry
    when a field is missing or empty, or the entry has expired."""
    entries = tomllib.loads(path.read_text(encoding="utf-8")).get("ignore", [])
    ignores = {}
    for number, entry in enumerate(entries, start=1):
        missing = [f for f in IGNORE_FIELDS if not str(entry.get(f, "")).strip()]
        if missing:
            raise ValueError(f"{path.name}: ignore entry {number} lacks {', '.join(missing)}")
        if not isinstance(entry["expires"], dt.date) or entry["expires"] < today:
            raise ValueError(f"{path.name}: ignore entry {entry['id']} expired on {entry['expires']}: "
                             "review it again (new date) or remove it")
        ignores[entry["id"]] = entry
    return ignores


def _pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]


def test_the_lock_file_pins_every_dependency_with_a_hash():
    pins = read_lock()
    assert len(pins) > 50
    for name, (version, hashes) in pins.items():
        assert re.fullmatch(r"[0-9A-Za-z.+!-]+", version), name
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), f"{name} has no sha256 hash"
    for requirement in _pyproject_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, (f"{requirement.name} (pyproject.toml) is not in requirements.lock: refresh it "
                              "with .venv/bin/python security/lock.py")
        assert requirement.specifier.contains(pins[name][0], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name][0]}, outside pyproject.toml's {requirement}")


def test_the_ignore_file_is_reviewed_and_current():
    read_ignores(IGNORE_FILE, dt.date.today())


def test_an_expired_or_unexplained_ignore_entry_fails(tmp_path):
    entry = ('[[ignore]]\nid = "GHSA-test-0000-0000"\npackage = "example"\nreason = "not reachable"\n'
             'reviewed_by = "maintainers"\nexpires = 2026-01-31\n')
    path = tmp_path / "ignore.toml"
    path.write_text(entry, encoding="utf-8")
    assert "GHSA-test-0000-0000" in read_ignores(path, dt.date(2026, 1, 31))
    with pytest.raises(ValueError, match="expired on 2026-01-31"):
        read_ignores(path, dt.date(2026, 2, 1))
    path.write_text(entry.replace('reason = "not reachable"\n', ""), encoding="utf-8")
    with pytest.raises(ValueError, match="lacks reason"):
        read_ignores(path, dt.date(2026, 1, 1))


def test_pip_audit_finds_no_known_vulnerability_in_the_lock_file(tmp_path):
    report = tmp_path / "audit.json"
    done = subprocess.run(
        [str(BIN / "pip-audit"), "--requirement", str(LOCK), "--disable-pip", "--require-hashes",
         "--format", "json", "--output", str(report), "--progress-spinner", "off"],
        capture_output=True, text=True, timeout=240)
    assert report.exists(), f"pip-audit did not run (exit {done.returncode}):\n{done.stderr[-2000:]}"
    dependencies = json.loads(report.read_text(encoding="utf-8"))["dependencies"]
    unaudited = [d["name"] for d in dependencies if d.get("skip_reason")]
    assert not unaudited, (
        f"pip-audit could not audit {len(unaudited)} of {len(dependencies)} locked dependencies (first: "
        f"{', '.join(unaudited[:5])}): the vulnerability service (PyPI's JSON API, "
        "https://pypi.org/pypi/NAME/VERSION/json) did not answer for them from this machine. "
        "A dependency audit needs it; this is a failure, not a pass.")
    ignores = read_ignores(IGNORE_FILE, dt.date.today())
    found = [f"{d['name']} {d['version']}: {v['id']} (fixed in {', '.join(v.get('fix_versions', [])) or '-'})"
             for d in dependencies for v in d.get("vulns", [])
             if v["id"] not in ignores and not set(v.get("aliases", [])) & set(ignores)]
    assert not found, "known vulnerabilities:\n" + "\n".join(found)


def test_bandit_finds_no_high_severity_issue_in_src(tmp_path):
    report = tmp_path / "bandit.json"
    subprocess.run([str(BIN / "bandit"), "-r", str(ROOT / "src"), "-lll", "-q", "-f", "json", "-o", str(report)],
                   capture_output=True, text=True, timeout=240)
    results = json.loads(report.read_text(encoding="utf-8"))
    high = [f"{r['filename']}:{r['line_number']}: {r['test_id']} {r['issue_text']}" for r in results["results"]]
    assert not high, "bandit high-severity findings:\n" + "\n".join(high)
    assert results["metrics"]["_totals"]["loc"] > 1000  # it really read the code
