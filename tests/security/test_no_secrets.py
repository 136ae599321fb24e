"""No secrets in the repository: detect-secrets over every tracked file finds nothing outside the reviewed
``.secrets.baseline`` (whose every entry is marked reviewed and not a secret: test passwords and keys made
up for the tests, listed in docs/security.md). Data files (CSV, gzip) are not scanned."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from detect_secrets import SecretsCollection
from detect_secrets.core import baseline
from detect_secrets.settings import transient_settings

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / ".secrets.baseline"
#: Data, not code or configuration: synthetic CSV bundles, goldens and compressed schemas.
NOT_SCANNED = (".csv", ".gz")


def tracked_files() -> list[str]:
    """The repository's tracked files (relative paths) that exist and are scanned. Returns them sorted."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    return sorted(p for p in listed.stdout.split("\0")
                  if p and p != BASELINE.name and not p.endswith(NOT_SCANNED) and (ROOT / p).is_file())


def test_the_baseline_holds_only_reviewed_non_secrets():
    results = json.loads(BASELINE.read_text(encoding="utf-8"))["results"]
    unreviewed = [f"{name}:{s['line_number']} {s['type']}" for name, found in results.items() for s in found
                  if s.get("is_secret") is not False]
    assert not unreviewed, "baseline entries not reviewed (set is_secret false after review):\n" + "\n".join(
        unreviewed)


def test_no_tracked_file_holds_a_secret_outside_the_baseline(monkeypatch):
    monkeypatch.chdir(ROOT)
    files = tracked_files()
    assert len(files) > 100
    config = baseline.load_from_file(str(BASELINE))
    with transient_settings(config):
        known = baseline.load(config, str(BASELINE))
        found = SecretsCollection()
        found.scan_files(*files, num_processors=2)
    new = found - known
    listed = [f"{name}:{secret.line_number} {secret.type}" for name, secret in new]
    assert not listed, ("possible secrets (remove them, or review and add with detect-secrets scan "
                        "--baseline .secrets.baseline):\n" + "\n".join(listed))
