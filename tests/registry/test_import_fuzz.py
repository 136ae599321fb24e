"""Imports never crash and never half-write: Hypothesis mutates small synthetic bundles.

Each example takes a small ``openhsct synth`` bundle (1–3 centres, 1–30 patients, a random seed; base
bundles are cached for the session), applies 1–5 mutations from :mod:`tests.registry.mutations` and
imports it. The property:

* the import ends with exit status 0 or 2, never another error, and no output holds ``Traceback``;
* on 2, every injected error is reported at its ``FILE:ROW:COLUMN`` with its rule, no report line echoes
  more than a few hundred characters, the digest of every data table (the sorted canonical export) is
  unchanged, and the audit trail gains exactly one event, the "import refused" one;
* on 0 (only mutations that keep the data valid were applied), the export reproduces the input's
  canonical form (formula text comes back with its one leading ``'``).

Most examples call the import in-process, inside a savepoint rolled back afterwards; 1 % (the first
and every hundredth after it) run the real command line in a child process (on a copy of a migrated
SQLite file) to check exit status and stderr. Profiles (``OPENHSCT_FUZZ_PROFILE``): ``local`` (default,
small), ``ci`` (set by scripts/test.sh under CI), ``deep``. The seed comes from the checked-out commit
(``OPENHSCT_FUZZ_SEED`` overrides it; pytest's header prints it), so each commit draws new bundles. Fixed bundles that once failed live in ``tests/registry/fuzz_regressions/`` and are
replayed by ``test_regression_bundles``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from openhsct.errors import ValidationError
from tests.registry.mutations import BY_NAME, CATALOGUE, mutate
from tests.registry.reliability import fuzz_seed

pytestmark = pytest.mark.django_db

BACKEND = "postgresql" if os.environ.get("OPENHSCT_TEST_BACKEND") == "postgresql" else "sqlite"
PROFILE = os.environ.get("OPENHSCT_FUZZ_PROFILE", "ci" if os.environ.get("CI") == "true" else "local")
# Examples per profile and backend, sized to the measured rate on a 2-core machine (docs/security.md).
EXAMPLES = {"local": {"sqlite": 20, "postgresql": 10}, "ci": {"sqlite": 100, "postgresql": 50},
            "deep": {"sqlite": 100_000, "postgresql": 100_000}}
REGRESSIONS = Path(__file__).parent / "fuzz_regressions"
_BASES: dict[tuple[int, int, int], dict[str, bytes]] = {}


def base_bundle(centres: int, patients: int, seed: int) -> dict[str, bytes]:
    """Returns the files of a small synthetic bundle (cached for the session): name → bytes."""
    key = (centres, patients, seed)
    if key not in _BASES:
        from openhsct.registry.synth import generate, write_bundle

        tmp = Path(os.environ.get("OPENHSCT_HOME", "/tmp")) / f"fuzz-base-{centres}-{patients}-{seed}"
        write_bundle(generate(centres=centres, patients=patients, seed=seed), tmp)
        _BASES[key] = {f.name: f.read_bytes() for f in sorted(tmp.glob("*.csv"))}
        shutil.rmtree(tmp, ignore_errors=True)
    return _BASES[key]


def data_digest() -> str:
    """Returns the SHA-256 of every data table's sorted canonical export."""
    from openhsct.registry.exporter import registry_frames

    h = hashlib.sha256()
    for name, frame in registry_frames().items():
        h.update(name.encode())
        h.update(frame.to_csv(index=False).encode())
    return h.hexdigest()


def exported_rows() -> dict[str, list[tuple]]:
    """Returns each table's export (through the one CSV writer) parsed back: sorted rows of cell text."""
    from openhsct.registry.csvsafe import frame_csv
    from openhsct.registry.exchange import tables
    from openhsct.registry.exporter import registry_frames

    out = {}
    for name, frame in registry_frames().items():
        rows = list(csv.reader(io.StringIO(frame_csv(frame, tables()[name].columns), newline="")))
        out[name] = sorted(map(tuple, rows[1:]))
    return out


def expected_rows(contents: dict[str, bytes], bundle) -> dict[str, list[tuple]]:
    """Returns the rows the export must show: the base bundle with the cells mutations changed validly."""
    out = {}
    for fname, data in contents.items():
        name = fname.removesuffix(".csv")
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
        header, body = rows[0], [list(r) for r in rows[1:]]
        for (table, i, column), text in bundle.exported.items():
            if table == name:
                body[i][header.index(column)] = text
        out[name] = sorted(map(tuple, body))
    return out


def run_import(folder: Path) -> tuple[int, list[str]]:
    """Import ``folder`` in-process. Returns (exit status, report lines)."""
    from openhsct.registry.importer import import_bundle

    try:
        import_bundle(folder, actor="cli:fuzz")
    except ValidationError as exc:
        return exc.exit_code, [exc.message, *exc.details]
    return 0, []


def check_in_process(folder: Path, contents: dict[str, bytes], bundle, expects, applied) -> None:
    """The property for one mutated bundle, imported in-process inside a savepoint rolled back after."""
    from django.db import transaction

    from openhsct.registry.models import AuditEvent

    with transaction.atomic():
        before, events = data_digest(), AuditEvent.objects.count()
        status, lines = run_import(folder)
        assert status in {0, 2}, (applied, status)
        assert not any("Traceback" in line for line in lines)
        if expects:
            assert status == 2, f"{applied}: accepted, expected {[e.prefix for e in expects]}"
            missing = [e for e in expects if not e.found_in(lines)]
            assert not missing, f"{applied}: not reported {[(e.prefix, e.rule) for e in missing]}:\n" + \
                "\n".join(line[:200] for line in lines[:40])
            assert max(len(line) for line in lines) < 1000, "a report line echoes a huge cell"
            assert data_digest() == before, f"{applied}: a refused import changed data"
            new = list(AuditEvent.objects.order_by("pk")[events:])
            assert [(e.action, e.model, (e.detail or {}).get("event")) for e in new] == [
                ("denied", "import", "import refused")], f"{applied}: audit gained {new}"
        else:
            assert status == 0, f"{applied}: refused a valid bundle:\n" + "\n".join(lines[:20])
            assert exported_rows() == expected_rows(contents, bundle), f"{applied}: export differs"
        transaction.set_rollback(True)


@pytest.fixture(scope="session")
def cli_template(tmp_path_factory) -> Path:
    """A migrated SQLite file for the command-line examples (copied for each)."""
    from tests.registry.reliability import run_cli

    home = tmp_path_factory.mktemp("fuzz-cli")
    db = home / "template.sqlite3"
    folder = home / "base"
    folder.mkdir()
    for name, data in base_bundle(1, 1, 0).items():
        (folder / name).write_bytes(data)
    done = run_cli(["import", "--dry-run", str(folder)], f"sqlite:///{db}", home)
    assert done.returncode == 0, done.stderr
    return db


def check_cli(folder: Path, template: Path, expects) -> None:
    """The property through the real command line in a child process: exit status, stderr, places."""
    from tests.registry.reliability import run_cli

    db = folder.parent / "cli.sqlite3"
    shutil.copyfile(template, db)
    done = run_cli(["import", str(folder)], f"sqlite:///{db}", folder.parent)
    output = done.stdout + done.stderr
    assert done.returncode in {0, 2}, output[-3000:]
    assert "Traceback" not in output and "Internal error" not in output
    if expects:
        assert done.returncode == 2
        lines = [line.strip() for line in done.stderr.splitlines()]
        assert all(e.found_in(lines) for e in expects), done.stderr[-3000:]
        assert "\U0001f4af" not in done.stderr  # ":100:" never becomes an emoji


MUTATION_NAMES = st.sampled_from([m.name for m in CATALOGUE])
#: The first example and every hundredth after it go through the real command line (1 %). A counter, not a
#: drawn number: Hypothesis draws boundary values such as 0 far more often than 1 time in 100.
CLI_EVERY = 100
_COUNT = itertools.count()


#: OPENHSCT_FUZZ_EXAMPLES overrides the profile's count (a measured run between the CI and deep sizes).
MAX_EXAMPLES = int(os.environ.get("OPENHSCT_FUZZ_EXAMPLES", "0")) or EXAMPLES.get(PROFILE, EXAMPLES["local"])[BACKEND]


#: Each commit draws its own bundles (the seed comes from the commit and is printed in pytest's header):
#: over many CI runs the catalogue is tried in ever new combinations, and a red run repeats exactly.
FUZZ_SEED = fuzz_seed()


@seed(FUZZ_SEED)
@settings(max_examples=MAX_EXAMPLES, deadline=None,
          phases=(Phase.explicit, Phase.reuse, Phase.generate),  # cases are small; shrinking imports is slow
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(centres=st.integers(1, 3), patients=st.integers(1, 30), seed=st.integers(0, 3),
       names=st.lists(MUTATION_NAMES, min_size=1, max_size=5), mutation_seed=st.integers(0, 2**32 - 1))
def test_import_fuzz(tmp_path, cli_template, centres, patients, seed, names, mutation_seed):
    contents = base_bundle(min(centres, patients), patients, seed)
    bundle, expects, applied = mutate(contents, names, mutation_seed)
    case = tmp_path / f"case-{mutation_seed}"
    folder = case / "bundle"
    folder.mkdir(parents=True)
    try:
        bundle.write(folder)
        if next(_COUNT) % CLI_EVERY == 0:
            check_cli(folder, cli_template, expects)
        else:
            check_in_process(folder, contents, bundle, expects, applied)
    except Exception as exc:  # pytest runs with -q in CI (no header): say how to draw this run again
        exc.add_note(f"import fuzzing seed {FUZZ_SEED}: OPENHSCT_FUZZ_SEED={FUZZ_SEED} draws the same bundles")
        raise
    finally:
        shutil.rmtree(case, ignore_errors=True)


def test_catalogue_covers_every_class():
    """The catalogue holds bad values, bad shape, bad bytes, odd numbers and dangerous text."""
    for name in ("not_a_number", "out_of_range", "unknown_code", "duplicate_key", "dangling_patient",
                 "missing_column", "extra_column", "renamed_column", "reordered_columns", "empty_file",
                 "extra_file", "short_row", "bom", "crlf", "latin1", "utf16", "nul_byte", "unbalanced_quote",
                 "embedded_newline", "huge_cell", "exponent", "not_finite", "full_width", "arabic_indic",
                 "four_hundred_digits", "formula_text", "email_text", "phone_text", "birth_date_text",
                 "bare_cr", "upper_case_name", "year_zero", "too_precise", "markup_number"):
        assert name in BY_NAME


def _regression_cases() -> list[Path]:
    return sorted(p for p in REGRESSIONS.iterdir() if p.is_dir()) if REGRESSIONS.is_dir() else []


def test_regression_bundles():
    """Each bundle that once crashed, half-wrote or was accepted wrongly (a folder with ``bundle/`` and
    ``expected.txt``): refused with every place its ``expected.txt`` names (one ``FILE:ROW:COLUMN: rule``
    start per line), nothing written."""
    from openhsct.registry.models import Centre

    cases = _regression_cases()
    assert cases, "tests/registry/fuzz_regressions/ holds the fixed regression bundles"
    for case in cases:
        status, lines = run_import(case / "bundle")
        assert status == 2, case.name
        for want in (case / "expected.txt").read_text(encoding="utf-8").splitlines():
            assert any(line.startswith(want) for line in lines), (case.name, want, lines[:20])
        assert Centre.objects.count() == 0


def _harness():
    """Returns bench/fuzz_import.py loaded as a module (bench/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fuzz_import", Path(__file__).parents[2] / "bench" / "fuzz_import.py")
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    return harness


def test_saved_crashers_are_refused_cleanly():
    """Every input bench/fuzz_import.py saved as a crasher is now read and validated without an
    uncaught error (a refusal is the right answer)."""
    harness = _harness()
    crashers = sorted(REGRESSIONS.glob("crash-*.tar")) if REGRESSIONS.is_dir() else []
    for crash in crashers:
        harness.check_bytes(crash.read_bytes())
    harness.check_bytes(harness.seed_tar(patients=2))  # and the seed itself passes


def test_the_harness_keeps_non_scalar_comparisons_away_from_the_tracer():
    """bench/fuzz_import.py's patch of ``atheris._trace_cmp``: plain scalars still reach the native tracer;
    a pandas Series comparison (whose result atheris 3.0.0 leaked) is computed in Python, element-wise,
    for each of the six operations."""
    import sys
    import types

    import pandas as pd

    harness = _harness()
    traced = []
    fake = types.SimpleNamespace(_trace_cmp=lambda a, b, op, counter, const: traced.append((a, b, op)) or "native")
    harness.patch_trace_cmp(fake)
    if sys.version_info[:2] != (3, 11):
        assert fake._trace_cmp("a", "b", 2, 0, False) == "native"
        return
    assert fake._trace_cmp("a", "b", 2, 0, False) == "native" and traced == [("a", "b", 2)]
    s = pd.Series([1, 2, 3])
    expected = [s < 2, s <= 2, s == 2, s != 2, s > 2, s >= 2]
    for op, want in enumerate(expected):
        assert fake._trace_cmp(s, 2, op, 0, False).tolist() == want.tolist()
    assert len(traced) == 1
