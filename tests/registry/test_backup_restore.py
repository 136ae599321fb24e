"""Backups that really restore, on the backend of the test pass (SQLite, or PostgreSQL).

- Round trip: synthetic registry (3 centres × 700 patients in the deep profile, 3 × 200 locally and with
  CI=true to keep CI within its time budget; users and roles, audit events) → export A →
  ``openhsct backup`` → ``openhsct restore`` into a new database → export B: A and B are byte-identical
  file by file; every table (users, roles and the audit trail among them) equals the original's, and
  ``openhsct audit verify`` passes on the copy.
- Under load: backups taken while ten writers import (seven) and edit (three) restore to databases
  where every import is wholly present or wholly absent and every edit is there with its audit event.
- Corruption: a flipped byte anywhere, a cut anywhere, a wrong or edited manifest: every one is refused
  with exit status 2, and nothing is written.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from openhsct.registry.backup import MANIFEST_NAME, TRAILER_LEN, TRAILER_PREFIX
from openhsct.registry.importer import bundle_checksum
from tests.registry.reliability import (
    BACKEND,
    Target,
    cli_command,
    cli_env,
    kill_tree,
    rounds,
    run_cli,
    split_bundle,
    synth,
)

pytestmark = pytest.mark.timeout(900)

FLIPS = rounds(local=8, ci=12, deep=500)
PATIENTS = rounds(local=600, ci=600, deep=2100)
CUTS = rounds(local=5, ci=6, deep=200)


def _ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _manifest(backup: Path) -> dict:
    with tarfile.open(backup, "r:") as tar:  # tar readers stop at the archive's end: the trailer is ignored
        return json.load(tar.extractfile(MANIFEST_NAME))


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A synthetic registry with users, roles and audit events, its export A and its backup."""
    work = tmp_path_factory.mktemp("backup")
    home = work / "home"
    home.mkdir()
    bundle = synth(work / "bundle", home, patients=PATIENTS, seed=11)
    source = Target(work, "source").create_empty()
    try:
        _ok(run_cli(["import", str(bundle)], source.url, home))
        for user, role, centre in (("north_lead", "staff", "SYN01"), ("south_lead", "staff", "SYN02"),
                                   ("monitor1", "monitor", None), ("admin1", "admin", None)):
            _ok(run_cli(["add-user", user, "--role", role, *(["--centre", centre] if centre else []),
                         "--password", f"{user}-long-passphrase-7"], source.url, home))
        export_a = work / "export-a"
        _ok(run_cli(["export", "--out", str(export_a)], source.url, home))
        backup = work / "registry.backup"
        _ok(run_cli(["backup", "--out", str(backup)], source.url, home))
        yield {"work": work, "home": home, "source": source, "export_a": export_a, "backup": backup}
    finally:
        source.drop()


def test_backup_file_is_private_and_its_manifest_describes_the_database(registry):
    backup = registry["backup"]
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    manifest = _manifest(backup)
    assert manifest["backend"] == BACKEND and manifest["format_version"] == 1
    tables = manifest["tables"]
    assert tables["registry_patient"]["rows"] == PATIENTS
    assert tables["auth_user"]["rows"] == 4 and tables["registry_membership"]["rows"] >= 2
    assert tables["registry_auditevent"]["rows"] > 0 and manifest["audit_chain_head"]
    assert ["registry", "0001_initial"] in manifest["migrations"]
    data = backup.read_bytes()
    assert data[-TRAILER_LEN:].startswith(TRAILER_PREFIX)
    assert data[-TRAILER_LEN + len(TRAILER_PREFIX):-1].decode() == hashlib.sha256(data[:-TRAILER_LEN]).hexdigest()


def test_backup_restore_export_is_byte_identical(registry):
    work, home = registry["work"], registry["home"]
    copy = Target(work, "copy").create_empty()
    try:
        restored = _ok(run_cli(["restore", str(registry["backup"]), "--db", copy.url], copy.url, home))
        assert "Traceback" not in restored.stdout + restored.stderr
        again = work / "copy.backup"
        _ok(run_cli(["backup", "--out", str(again)], copy.url, home))
        original, copied = _manifest(registry["backup"]), _manifest(again)
        assert copied["tables"] == original["tables"]  # users, roles, memberships, audit trail: all equal
        assert copied["migrations"] == original["migrations"]
        assert copied["audit_chain_head"] == original["audit_chain_head"]
        verify = run_cli(["audit", "verify"], copy.url, home)
        if "No such command" not in verify.stderr:  # the audit trail's own check, where this version has it
            assert verify.returncode == 0, verify.stdout + verify.stderr
        export_b = work / "export-b"
        _ok(run_cli(["export", "--out", str(export_b)], copy.url, home))
        a, b = _files(registry["export_a"]), _files(export_b)
        assert sorted(a) == sorted(b)
        for name in a:
            assert a[name] == b[name], f"{name} differs after backup and restore"
    finally:
        copy.drop()


def test_restore_refuses_a_target_that_is_not_empty(registry):
    refused = run_cli(["restore", str(registry["backup"]), "--db", registry["source"].url],
                      registry["source"].url, registry["home"])
    assert refused.returncode == 2 and "Traceback" not in refused.stdout + refused.stderr
    assert "restore into a new" in " ".join(refused.stderr.split())


# ------------------------------------------------------------------------------------------ corruption


def _repack(backup: Path, out: Path, edit) -> Path:
    """Write ``out``: the backup with its manifest changed by ``edit(manifest)`` and a correct trailer."""
    members = {}
    with tarfile.open(backup, "r:") as tar:
        for m in tar.getmembers():
            members[m.name] = (m, tar.extractfile(m).read())
    manifest = json.loads(members[MANIFEST_NAME][1])
    edit(manifest)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, (info, data) in members.items():
            if name == MANIFEST_NAME:
                data = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    body = buffer.getvalue()
    out.write_bytes(body + TRAILER_PREFIX + hashlib.sha256(body).hexdigest().encode() + b"\n")
    return out


def _refused(registry, damaged: Path, label: str) -> str:
    """Restore ``damaged`` into a new database; asserts exit 2, a message, and nothing written."""
    target = Target(registry["work"], label)
    target.create_empty()
    try:
        done = run_cli(["restore", str(damaged), "--db", target.url], target.url, registry["home"])
        output = done.stdout + done.stderr
        assert done.returncode == 2, f"{label}: exit {done.returncode}\n{output}"
        assert "Error:" in done.stderr and "Traceback" not in output and "Internal error" not in output
        assert not target.exists(), f"{label}: the refused restore wrote tables"
        if BACKEND == "sqlite":
            assert not target.path.exists() and not list(target.work.glob(f".{target.path.name}.restore-*"))
        return " ".join(done.stderr.split())
    finally:
        target.drop()


def test_every_flipped_byte_and_every_cut_is_refused(registry, tmp_path):
    data = registry["backup"].read_bytes()
    rng = random.Random(5)
    manifest_at = data.index(b'"format"')
    flips = sorted({0, manifest_at, len(data) // 2, len(data) - TRAILER_LEN - 1, len(data) - 2, len(data) - 1,
                    *(rng.randrange(len(data)) for _ in range(max(0, FLIPS - 6)))})
    for i, at in enumerate(flips):
        damaged = tmp_path / f"flip-{at}.backup"
        damaged.write_bytes(data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1:])
        _refused(registry, damaged, f"flip{i}")
    cuts = sorted({0, 1, len(data) - 1, len(data) - TRAILER_LEN, *(rng.randrange(len(data)) for _ in range(CUTS))})
    for i, at in enumerate(cuts):
        damaged = tmp_path / f"cut-{at}.backup"
        damaged.write_bytes(data[:at])
        _refused(registry, damaged, f"cut{i}")
    longer = tmp_path / "longer.backup"
    longer.write_bytes(data + b"\n")
    _refused(registry, longer, "longer")
    print(f"\n{BACKEND}: refused {len(flips)} flipped bytes and {len(cuts) + 1} cut or extended files")


def test_a_wrong_or_edited_manifest_is_refused(registry, tmp_path):
    other = tmp_path / "other.backup"
    _ok(run_cli(["backup", "--out", str(other)], registry["source"].url, registry["home"]))
    foreign = _manifest(other)
    foreign_dump = {**foreign["dump"], "sha256": hashlib.sha256(b"another database").hexdigest()}
    wrong = _repack(registry["backup"], tmp_path / "wrong.backup", lambda m: m.update(dump=foreign_dump))
    assert "SHA-256 or size differs from the manifest" in _refused(registry, wrong, "wrongdump")

    def edit_table(m: dict) -> None:
        m["tables"]["registry_patient"]["rows"] += 1

    edited = _repack(registry["backup"], tmp_path / "edited.backup", edit_table)
    assert "does not match the backup's manifest" in _refused(registry, edited, "edited")
    renamed = _repack(registry["backup"], tmp_path / "format.backup", lambda m: m.update(format_version=99))
    assert "not supported" in _refused(registry, renamed, "version")


# ------------------------------------------------------------------------------------------ under load


#: The editing writers: each changes the EDSS of its own visits, one audited save at a time, until told
#: to stop (a file appears) or it has made ``limit`` edits. Arguments: stop file, limit, visit ids.
EDITOR = r"""
import sys, time
from decimal import Decimal
from pathlib import Path
from openhsct.site.django_setup import setup
setup(migrate=False)
from openhsct.registry import models as m
from openhsct.registry.audit import acting_as
from openhsct.registry.versioning import save_checked
stop, limit, pks = Path(sys.argv[1]), int(sys.argv[2]), [int(x) for x in sys.argv[3:]]
edits = 0
with acting_as("cli:editor"):
    while edits < limit and not stop.exists():
        for pk in pks:
            visit = m.EdssVisit.objects.get(pk=pk)
            visit.edss = Decimal("1.0") + (visit.edss + Decimal("0.5")) % Decimal("5")
            save_checked(visit, visit.row_version)
            edits += 1
        time.sleep(0.02)
print(edits)
"""
IMPORT_WRITERS, EDIT_WRITERS = 7, 3


def _edits_agree_with_their_audit(copy: Target, visits: list[int]) -> int:
    """For each edited visit of a restored copy: its stored EDSS is the "after" of its latest audited
    update (or, with none, the value it was imported with). Returns how many edits the copy holds."""
    import json
    from decimal import Decimal

    held = 0
    for pk in visits:
        stored = Decimal(str(copy.query("SELECT edss FROM registry_edssvisit WHERE id = ?", (pk,))[0][0]))
        afters = copy.query("SELECT after FROM registry_auditevent WHERE model = 'EdssVisit' AND action = 'update' "
                            "AND object_pk = ? ORDER BY id", (str(pk),))
        held += len(afters)
        if afters:
            after = afters[-1][0]
            after = json.loads(after) if isinstance(after, str) else after
            assert Decimal(str(after["edss"])) == stored, f"visit {pk}: stored {stored}, audited {after['edss']}"
    return held


def test_backups_taken_while_writers_import_and_edit_restore_whole_changes(registry, tmp_path):
    """Ten writers at once: seven imports (one centre each) and three editors saving EDSS changes through
    the model, while three backups are taken. Every backup restores to a database where each import is
    wholly present or wholly absent (its audit event exactly when its rows), and every edit it holds is
    there with its audit event (the stored value is the latest audited one)."""
    work, home = registry["work"], registry["home"]
    whole = synth(tmp_path / "whole", home, patients=8 * 40, seed=20, centres=8)
    codes = [f"SYN0{i}" for i in range(1, 9)]
    bundles = [split_bundle(whole, tmp_path / code, {code}) for code in codes]
    sizes = [len((b / "patients.csv").read_text(encoding="utf-8").splitlines()) - 1 for b in bundles]
    checksums = [bundle_checksum(b) for b in bundles]
    live = Target(work, "live").create_empty()
    _ok(run_cli(["import", str(bundles[0])], live.url, home))  # the tables exist; the rest arrive under load
    visits = [pk for (pk,) in live.query("SELECT id FROM registry_edssvisit ORDER BY id")][: 4 * EDIT_WRITERS]
    stop = tmp_path / "stop-editing"
    writers: list[subprocess.Popen] = []
    backups = []
    try:
        for k in range(EDIT_WRITERS):
            writers.append(subprocess.Popen([sys.executable, "-c", EDITOR, str(stop), "2000", *map(str, visits[k::EDIT_WRITERS])],
                                            env=cli_env(live.url, home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for b in bundles[1:1 + IMPORT_WRITERS]:
            writers.append(subprocess.Popen(cli_command(["import", "--wait", "600", str(b)]),
                                            env=cli_env(live.url, home), stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE, text=True))
        for i, landed in enumerate((2, 4, 6)):  # a backup while the writers run, after 2, 4, 6 imports landed
            deadline = time.monotonic() + 600
            while sum(live.import_events(c) > 0 for c in checksums) < landed:
                assert time.monotonic() < deadline, "the writers made no progress"
                time.sleep(0.05)
            out = tmp_path / f"load-{i}.backup"
            _ok(run_cli(["backup", "--out", str(out)], live.url, home))
            backups.append(out)
        stop.touch()
        for w in writers:
            assert w.wait(timeout=600) == 0, w.stderr.read()
        edits = [int(w.stdout.read()) for w in writers[:EDIT_WRITERS]]
        assert min(edits) > 0, "an editor made no edit"
        seen, held = set(), []
        for i, backup in enumerate(backups):
            copy = Target(work, f"load{i}").create_empty()
            try:
                _ok(run_cli(["restore", str(backup), "--db", copy.url], copy.url, home))
                assert copy.integrity_problems() == []
                present = []
                for code, size, checksum in zip(codes, sizes, checksums, strict=True):
                    patients = copy.query("SELECT count(*) FROM registry_patient p JOIN registry_centre c ON "
                                          "c.id = p.centre_id WHERE c.centre_code = ?", (code,))[0][0]
                    events = copy.import_events(checksum)
                    assert patients in (0, size), f"{code} is partly in backup {i}: {patients} of {size} patients"
                    assert (patients == size) == (events > 0), f"{code}: rows and audit event disagree"
                    present.append(patients == size)
                seen.add(tuple(present))
                held.append(_edits_agree_with_their_audit(copy, visits))
            finally:
                copy.drop()
        print(f"\n{BACKEND}: {IMPORT_WRITERS} importing and {EDIT_WRITERS} editing writers ({sum(edits)} edits); "
              f"imports present in the {len(backups)} backups: {sorted(sum(s) for s in seen)}, edits held: {held}")
        assert min(sum(s) for s in seen) >= 2 and max(sum(s) for s in seen) >= 6
        assert held == sorted(held) and held[-1] > 0, "the backups hold no edit"
    finally:
        stop.touch()
        for w in writers:
            kill_tree(w)
        live.drop()
