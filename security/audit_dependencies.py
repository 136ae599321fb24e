"""Audit the locked dependencies for known vulnerabilities with pip-audit (``make audit``).

Usage (from the repository root)::

    .venv/bin/python security/audit_dependencies.py

pip-audit reads ``requirements.lock`` and asks PyPI's JSON API for the advisories of each pinned version.
Exceptions live in ``security/pip-audit-ignore.toml`` (advisory, package, reason, reviewer, expiry); an
expired or incomplete entry is an error. Exit 0: every pinned package was audited and none has a known
vulnerability outside the reviewed exceptions; exit 1: vulnerabilities found; exit 2: the audit could not
be done (pip-audit missing, the advisory service unreachable, a package left unaudited, a bad ignore file).
An audit that could not look is never reported as a pass.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
IGNORE_FILE = ROOT / "security" / "pip-audit-ignore.toml"
IGNORE_FIELDS = ("id", "package", "reason", "reviewed_by", "expires")


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


def judge(report: dict, ignores: dict[str, dict]) -> tuple[list[str], list[str]]:
    """Read a pip-audit JSON report. Returns (packages pip-audit could not audit, findings outside the
    reviewed exceptions), each as readable lines."""
    dependencies = report["dependencies"]
    unaudited = [f"{d['name']} {d.get('version', '')}: {d['skip_reason']}" for d in dependencies
                 if d.get("skip_reason")]
    found = [f"{d['name']} {d['version']}: {v['id']} (fixed in {', '.join(v.get('fix_versions', [])) or '-'})"
             for d in dependencies for v in d.get("vulns", [])
             if v["id"] not in ignores and not set(v.get("aliases", [])) & set(ignores)]
    return unaudited, found


def run_pip_audit(lock: Path = LOCK) -> dict | str:
    """Run pip-audit on the lock file. Returns its JSON report, or the reason it produced none."""
    binary = Path(sys.executable).parent / "pip-audit"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        try:
            done = subprocess.run(
                [str(binary), "--requirement", str(lock), "--disable-pip", "--require-hashes",
                 "--format", "json", "--output", str(out), "--progress-spinner", "off"],
                capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"pip-audit did not run: {exc}"
        if not out.exists():
            return f"pip-audit wrote no report (exit {done.returncode}): {done.stderr.strip()[-1500:]}"
        return json.loads(out.read_text(encoding="utf-8"))


def main() -> int:
    """Run the audit and print the verdict. Returns the exit status (0, 1 or 2, see the module doc)."""
    try:
        ignores = read_ignores(IGNORE_FILE, dt.date.today())
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = run_pip_audit()
    if isinstance(report, str):
        print(f"error: {report}", file=sys.stderr)
        return 2
    unaudited, found = judge(report, ignores)
    if unaudited:
        print(f"error: pip-audit could not audit {len(unaudited)} of {len(report['dependencies'])} locked "
              "packages (the advisory service did not answer for them); no verdict:", file=sys.stderr)
        print("\n".join(f"  {line}" for line in unaudited[:20]), file=sys.stderr)
        return 2
    if found:
        print("known vulnerabilities:\n" + "\n".join(f"  {line}" for line in found))
        return 1
    print(f"pip-audit: {len(report['dependencies'])} locked packages audited, 0 known vulnerabilities "
          f"outside {len(ignores)} reviewed exception(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
