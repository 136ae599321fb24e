"""docs/security.md names the test behind each claim and each ASVS item; this test fails when a named test
(or its file) no longer exists, so the page cannot keep citing evidence that was deleted or renamed.

References are read from backticks: ``tests/dir/test_x.py::test_name`` (or ``::Class::test_name``), a
following ``::test_other`` (same file as the reference before it on the line), and, in table rows (where
the page cites its evidence), ``test_x.py::test_name`` or a bare ``test_x.py`` (a file name found once
under ``tests/``); in prose, a bare file name may be another project's (18F Tock's ``test_url_auth.py``). Tests are found by an AST scan (no import, no
collection), parametrised ids (``[...]``) aside.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
_CODE = re.compile(r"`([^`]+)`")
_REF = re.compile(r"^(?P<file>(?:tests/[\w/]+/)?test_\w+\.py)?(?P<names>(?:::[\w\[\].,=-]+)*)$")


@dataclass(frozen=True)
class Reference:
    """One test named by the page: its file (as written), the test (may be empty: the whole file), line."""

    file: str
    name: str
    line: int


def references(text: str) -> list[Reference]:
    """Returns every test reference in Markdown ``text``, in order."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        last_file, table_row = None, line.lstrip().startswith("|")
        for code in _CODE.findall(line):
            match = _REF.match(code.strip())
            if match is None or not (match["file"] or (match["names"] and last_file)):
                continue
            if match["file"] and "/" not in match["file"] and not table_row:
                continue
            file = match["file"] or last_file
            last_file = file
            name = "::".join(part.split("[")[0] for part in match["names"].split("::") if part)
            found.append(Reference(file, name, number))
    return found


def _resolve(file: str) -> Path | None:
    """Returns the test file a reference names (a bare file name must be unique under tests/)."""
    if "/" in file:
        path = ROOT / file
        return path if path.is_file() else None
    matches = sorted((ROOT / "tests").rglob(file))
    return matches[0] if len(matches) == 1 else None


def defined_tests(path: Path) -> set[str]:
    """Returns the tests of a file: ``test_x`` functions and ``TestClass::test_x`` methods."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            names.add(node.name)
            names.update(f"{node.name}::{item.name}" for item in node.body
                         if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test"))
    return names


def missing(refs: list[Reference]) -> list[str]:
    """Returns a line per reference whose file or test does not exist (empty when all exist)."""
    problems = []
    for ref in refs:
        path = _resolve(ref.file)
        if path is None:
            problems.append(f"docs/security.md line {ref.line}: no test file {ref.file} (or more than one)")
        elif ref.name and ref.name not in defined_tests(path):
            problems.append(f"docs/security.md line {ref.line}: {ref.file} has no test {ref.name}")
    return problems


def asvs_rows(text: str) -> list[tuple[int, list[str]]]:
    """Returns (line, cells) of each item row of the ASVS table (the section whose title starts "ASVS")."""
    rows, inside = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("## "):
            inside = line.startswith("## ASVS")
        elif inside and line.startswith("|") and not line.startswith(("| Item", "|---")):
            rows.append((number, [cell.strip() for cell in line.strip().strip("|").split("|")]))
    return rows


def test_every_test_named_in_docs_security_exists():
    text = DOC.read_text(encoding="utf-8")
    refs = references(text)
    assert len(refs) >= 60, f"only {len(refs)} test references found: is the page's format still parsed?"
    assert missing(refs) == []


def test_a_renamed_or_deleted_test_is_reported():
    text = ("| claim | `tests/security/test_traceability.py::test_every_test_named_in_docs_security_exists`, "
            "`::test_that_was_renamed` |\n| other | `test_gone_file.py::test_x` | `test_sessions.py` |\n")
    problems = missing(references(text))
    assert problems == [
        "docs/security.md line 1: tests/security/test_traceability.py has no test test_that_was_renamed",
        "docs/security.md line 2: no test file test_gone_file.py (or more than one)",
    ]


def test_classes_and_parametrised_ids_resolve():
    refs = references("`tests/registry/test_audit.py::TestOnTheSmallBundle::test_every_write_path_leaves_one_event`"
                      " `::test_verify_reports_an_intact_chain[sqlite]`; as Tock does in `test_url_auth.py`")
    assert [r.name for r in refs] == ["TestOnTheSmallBundle::test_every_write_path_leaves_one_event",
                                      "test_verify_reports_an_intact_chain"]
    assert missing(refs) == []


def test_every_asvs_item_names_its_test_or_why_it_does_not_apply():
    rows = asvs_rows(DOC.read_text(encoding="utf-8"))
    assert len(rows) >= 40, f"only {len(rows)} ASVS rows"
    bare = [f"line {n}: {cells[0]}" for n, cells in rows
            if len(cells) < 3 or not (references("| " + cells[2]) or cells[2].lower().startswith("not applicable")
                                      or "bench/" in cells[2] or "docs/" in cells[2])]
    assert bare == []
