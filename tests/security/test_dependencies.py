"""Dependencies: a lock file with hashes; the pip-audit verdict (``make audit``, which needs PyPI's JSON API)
read correctly, with a reviewed ignore file whose entries have a reason and an expiry; bandit with 0
high-severity findings in src/."""

from __future__ import annotations

import datetime as dt
import importlib.util
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


def _load_audit_module():
    """security/audit_dependencies.py (a script, not a package). Returns it as a module."""
    spec = importlib.util.spec_from_file_location("audit_dependencies", ROOT / "security" / "audit_dependencies.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_audit = _load_audit_module()
read_ignores, judge = _audit.read_ignores, _audit.judge


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


def test_the_audit_verdict_counts_unaudited_packages_and_ignores_only_reviewed_advisories():
    report = {"dependencies": [
        {"name": "django", "version": "5.2.1", "vulns": [
            {"id": "PYSEC-2025-1", "aliases": ["CVE-2025-1"], "fix_versions": ["5.2.2"]},
            {"id": "GHSA-aaaa", "aliases": ["CVE-2025-2"], "fix_versions": []}]},
        {"name": "numpy", "version": "2.0.0", "vulns": []},
        {"name": "pandas", "version": "2.2.0", "skip_reason": "Dependency not found on PyPI"},
    ]}
    unaudited, found = judge(report, {"CVE-2025-2": {}})
    assert unaudited == ["pandas 2.2.0: Dependency not found on PyPI"]
    assert found == ["django 5.2.1: PYSEC-2025-1 (fixed in 5.2.2)"]
    assert judge({"dependencies": report["dependencies"][1:2]}, {}) == ([], [])


def test_bandit_finds_no_high_severity_issue_in_src(tmp_path):
    report = tmp_path / "bandit.json"
    subprocess.run([str(BIN / "bandit"), "-r", str(ROOT / "src"), "-lll", "-q", "-f", "json", "-o", str(report)],
                   capture_output=True, text=True, timeout=240)
    results = json.loads(report.read_text(encoding="utf-8"))
    high = [f"{r['filename']}:{r['line_number']}: {r['test_id']} {r['issue_text']}" for r in results["results"]]
    assert not high, "bandit high-severity findings:\n" + "\n".join(high)
    assert results["metrics"]["_totals"]["loc"] > 1000  # it really read the code
