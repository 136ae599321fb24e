"""Coverage-guided fuzzing of the import's reader and validator.

Bytes are read as a tar archive of CSV files; its ``<name>.csv`` members become a bundle folder, which
the import's parser and validator read (``read_bundle`` and ``validate_bundle``, against an empty SQLite
registry). A refusal (:class:`~openhsct.errors.OpenHSCTError`) is a correct answer; any other exception
is a crash: its input is saved as ``tests/registry/fuzz_regressions/crash-<sha256>.tar``, which
``tests/registry/test_import_fuzz.py`` replays.

With atheris installed (``make fuzz`` installs atheris 3.0.0) the harness is coverage-guided
(libFuzzer), seeded with a synthetic bundle; a run is cut into rounds of at most 10 minutes, each a fresh
process resuming from the shared corpus, as libFuzzer's resident memory grows with every input. Without
atheris, a Hypothesis-driven byte fuzzer mutates the same seed bundle (byte flips, insertions, deletions,
cuts, whole members replaced by random bytes) for the same time; it is not coverage-guided, and says so
when it starts.

Usage: ``python bench/fuzz_import.py [--minutes 10]``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRASHES = ROOT / "tests" / "registry" / "fuzz_regressions"


def setup_django(home: Path) -> None:
    """Start Django on a fresh SQLite registry under ``home`` and create its tables. Returns nothing."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openhsct.site.settings")
    os.environ["OPENHSCT_HOME"] = str(home)
    os.environ["OPENHSCT_DATABASE_URL"] = f"sqlite:///{home / 'fuzz.sqlite3'}"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def unpack(data: bytes, folder: Path) -> None:
    """Write the ``.csv`` members of the tar in ``data`` (base names only) into ``folder``; an archive
    that cannot be read gives an empty folder. Returns nothing."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member in tar.getmembers()[:64]:
                name = os.path.basename(member.name)
                if member.isfile() and name.lower().endswith(".csv") and not name.startswith("."):
                    handle = tar.extractfile(member)
                    if handle is not None:
                        (folder / name).write_bytes(handle.read(2_000_000))
    except (tarfile.TarError, OSError, EOFError, ValueError):
        return


def check_bytes(data: bytes) -> None:
    """Read and validate the bundle in ``data``; a refusal is fine. Returns nothing; raises on a crash."""
    from openhsct.errors import OpenHSCTError
    from openhsct.registry.importer import read_bundle, validate_bundle
    from openhsct.registry.validation import Collector

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        unpack(data, folder)
        out = Collector()
        try:
            validate_bundle(read_bundle(folder, out), out)
            for p in out.problems:
                str(p)
        except OpenHSCTError:
            return


def save_crash(data: bytes) -> Path:
    """Save a crashing input under ``tests/registry/fuzz_regressions/``; returns its path."""
    CRASHES.mkdir(parents=True, exist_ok=True)
    path = CRASHES / f"crash-{hashlib.sha256(data).hexdigest()[:16]}.tar"
    path.write_bytes(data)
    return path


def seed_tar(patients: int = 2) -> bytes:
    """Returns a tar of a small synthetic bundle, the fuzzers' starting point."""
    from openhsct.registry.synth import generate, write_bundle

    buf = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(fileobj=buf, mode="w") as tar:
        write_bundle(generate(centres=1, patients=patients, seed=1), tmp)
        for f in sorted(Path(tmp).glob("*.csv")):
            tar.add(f, arcname=f.name)
    return buf.getvalue()


def members_of(data: bytes) -> list[tuple[str, bytes]]:
    """The (name, bytes) of each regular member of the tar in ``data``; [] when it cannot be read."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()[:64] if m.isfile()]
    except (tarfile.TarError, OSError, EOFError, ValueError):
        return []


def pack(members: list[tuple[str, bytes]]) -> bytes:
    """Returns a tar of ``members`` ((name, bytes) pairs)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def mutate_member(data: bytes, max_size: int, seed: int) -> bytes:
    """libFuzzer's custom mutator: mutate one CSV member of the tar with libFuzzer's own mutations and
    re-pack it, so most inputs reach the parser instead of failing the tar checksum; 1 in 8 mutates the
    raw bytes (a torn archive is an input too). Returns the new input."""
    import random

    import atheris

    rng = random.Random(seed)
    members = members_of(data)
    if not members or rng.random() < 0.125:
        return atheris.Mutate(data, max_size)
    i = rng.randrange(len(members))
    name, content = members[i]
    members[i] = (name, atheris.Mutate(content, len(content) + 256))
    out = pack(members)
    return out if len(out) <= max_size else data


def guarded(data: bytes) -> None:
    """:func:`check_bytes`, saving the input before a crash propagates."""
    try:
        check_bytes(data)
    except Exception:
        print(f"crash saved to {save_crash(data)}", file=sys.stderr)
        raise


#: Operand types whose comparisons return a bool: atheris traces these natively.
_PLAIN = (str, bytes, int, float, type(None))


def patch_trace_cmp(atheris) -> None:
    """Keep atheris's comparison tracing to plain scalars. atheris 3.0.0's ``_trace_cmp`` keeps one
    reference too many to a comparison's result when it is not a bool, so every ``series == value`` in
    instrumented code leaked a pandas Series (resident memory grew about 1.5 MB per input until
    libFuzzer's RSS limit ended the run). Comparisons of other objects are done here, untraced; the
    instrumented code looks ``atheris._trace_cmp`` up at each call, so replacing it takes effect at once.
    Only on Python 3.11, where the operation argument is the index into :data:`dis.cmp_op` in every
    case (later versions pack flags into it). Returns nothing."""
    import dis
    import operator

    if sys.version_info[:2] != (3, 11):
        print("note: comparison tracing left unpatched on this Python; memory may grow with each input")
        return
    native = atheris._trace_cmp
    ops = (operator.lt, operator.le, operator.eq, operator.ne, operator.gt, operator.ge)
    assert dis.cmp_op == ("<", "<=", "==", "!=", ">", ">="), dis.cmp_op  # the order ops follows

    def trace_cmp(left, right, op: int, counter: int, left_is_const: bool):
        if type(left) in _PLAIN and type(right) in _PLAIN:
            return native(left, right, op, counter, left_is_const)
        return ops[op](left, right)

    atheris._trace_cmp = trace_cmp


def run_atheris(atheris, seconds: int, corpus: Path) -> None:
    """Run libFuzzer through atheris for ``seconds``. Returns nothing (exits as libFuzzer does)."""
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / "seed.tar").write_bytes(seed_tar())
    artifacts = corpus.parent / "artifacts"
    artifacts.mkdir(exist_ok=True)
    atheris.Setup([sys.argv[0], f"-max_total_time={seconds}", f"-artifact_prefix={artifacts}/",
                   "-max_len=1048576", "-print_final_stats=1", str(corpus)], guarded,
                  custom_mutator=mutate_member)
    atheris.Fuzz()


class TimeUp(Exception):  # noqa: N818 - a signal, not an error
    """The fallback fuzzer's time is over."""


def run_fallback(seconds: int) -> int:
    """Mutate the seed bundle's members with Hypothesis-drawn edits for ``seconds``. Returns the number
    of inputs tried."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    members: list[tuple[str, bytes]] = []
    with tarfile.open(fileobj=io.BytesIO(seed_tar()), mode="r:") as tar:
        for m in tar.getmembers():
            members.append((m.name, tar.extractfile(m).read()))
    deadline = time.monotonic() + seconds
    tried = [0]
    edit = st.tuples(st.sampled_from(["flip", "insert", "delete", "cut", "replace"]), st.integers(0, 10**9),
                     st.binary(min_size=1, max_size=64))

    @settings(max_examples=10**9, deadline=None, database=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @given(which=st.integers(0, len(members) - 1), edits=st.lists(edit, min_size=1, max_size=6))
    def one(which, edits):
        if time.monotonic() > deadline:
            raise TimeUp
        files = dict(members)
        name = members[which][0]
        data = bytearray(files[name])
        for kind, at, blob in edits:
            pos = at % (len(data) + 1)
            if kind == "flip" and data:
                data[pos % len(data)] ^= blob[0] or 1
            elif kind == "insert":
                data[pos:pos] = blob
            elif kind == "delete":
                del data[pos:pos + len(blob)]
            elif kind == "cut":
                del data[pos:]
            else:
                data = bytearray(blob)
        files[name] = bytes(data)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for fname, content in files.items():
                info = tarfile.TarInfo(fname)
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
        tried[0] += 1
        guarded(buf.getvalue())

    try:
        one()
    except TimeUp:
        pass
    except Exception as exc:  # noqa: BLE001 - reported with the saved input
        print(f"crash: {type(exc).__name__}: {str(exc)[:300]}", file=sys.stderr)
        raise SystemExit(1) from None
    return tried[0]


#: Longest libFuzzer round in one process. Resident memory under libFuzzer grows about 1 MB per input
#: outside the project's code (replaying the same inputs without libFuzzer holds flat), so a long run is
#: cut into rounds, each a fresh process that resumes from the shared corpus.
ROUND_SECONDS = 600


def run_rounds(seconds: int, work: Path) -> int:
    """Run libFuzzer rounds of at most :data:`ROUND_SECONDS` in child processes sharing one corpus under
    ``work`` until ``seconds`` have passed. Returns the exit status of the first round that failed
    (a crash), else 0."""
    import subprocess

    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    left, round_no = seconds, 0
    while left > 0:
        now = min(left, ROUND_SECONDS)
        round_no += 1
        print(f"round {round_no}: {now} s, corpus {len(list(corpus.iterdir()))} inputs", flush=True)
        code = subprocess.call([sys.executable, __file__, "--round", str(now), "--work", str(work)])
        if code != 0:
            return code
        left -= now
    return 0


def run_round(atheris, seconds: int, work: Path) -> None:
    """One libFuzzer round in this process: instrument the project's modules, start Django on a fresh
    registry under ``work`` and fuzz for ``seconds`` from the corpus there. Returns nothing."""
    patch_trace_cmp(atheris)
    with tempfile.TemporaryDirectory(dir=work) as home:
        with atheris.instrument_imports(include=["openhsct"]):  # coverage of the project's code only
            setup_django(Path(home))
            import openhsct.registry.importer  # noqa: F401 - the parser and validator, instrumented
        run_atheris(atheris, seconds, work / "corpus")


def main() -> None:
    """Parse the options and fuzz. Returns nothing; exits non-zero on a crash."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="How long to fuzz (default 10).")
    parser.add_argument("--round", type=int, help=argparse.SUPPRESS)  # a child process's round, seconds
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    seconds = max(1, int(args.minutes * 60))
    try:
        import atheris
    except ImportError:
        atheris = None
    if args.round:
        run_round(atheris, args.round, args.work)
        return
    with tempfile.TemporaryDirectory() as work:
        if atheris is None:
            setup_django(Path(work))
            print("atheris is not installed for this Python: running the Hypothesis byte fuzzer instead "
                  "(not coverage-guided)")
            n = run_fallback(seconds)
            print(f"{n:,} inputs in {seconds} s, 0 crashes")
            return
        sys.exit(run_rounds(seconds, Path(work)))


if __name__ == "__main__":
    main()
