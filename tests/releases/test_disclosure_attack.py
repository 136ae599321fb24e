"""The independent attacker (:mod:`tests.releases.attacker`, which reads only the public archive) finds
nothing in the demo release nor in random small registries: no group of 1-4 shown or derivable, no
stratum cell where everyone had the event, no exact date.

The attacker is also shown to find each kind of leak in a hand-made archive, so a pass means something.
"""

from __future__ import annotations

import ast
import io
import os
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.releases import attacker
from tests.releases.builders import archive, keep_first

#: Random registries per run: at least 200 under CI (about 1 s each on 2 cores), fewer locally.
EXAMPLES = int(os.environ.get("OPENHSCT_ATTACK_EXAMPLES", "200" if os.environ.get("CI") else "25"))


def test_the_attacker_imports_nothing_from_openhsct():
    tree = ast.parse(Path(attacker.__file__).read_text(encoding="utf-8"))
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert names and not [n for n in names if n.startswith(("openhsct", "tests"))]


def _rewrite(data: bytes, name: str, edit) -> bytes:
    """A copy of an archive with one file's text changed by ``edit``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            raw = src.read(info.filename)
            if info.filename.endswith(name):
                raw = edit(raw.decode()).encode()
            dst.writestr(info, raw)
    return out.getvalue()


@pytest.fixture(scope="module")
def demo_archive() -> bytes:
    from openhsct.registry.synth import generate
    from openhsct.registry.synth_comparators import add_comparators

    return archive(add_comparators(generate(centres=3, patients=900, seed=2026), 225, 2026), comparative=True)


def test_the_demo_release_gives_nothing_away(demo_archive):
    assert attacker.findings(demo_archive) == []


def test_the_demo_release_shows_small_event_counts_exactly(demo_archive):
    tables, _, _ = attacker.read_archive(demo_archive)
    harm = tables["harm"].dropna(subset=["events"])
    assert ((harm["events"] >= 1) & (harm["events"] <= 4)).any()
    assert (harm["of_patients"] >= 5).all()


def _edit_table(data: bytes, name: str, edit) -> bytes:
    """A copy of an archive with one CSV table changed by ``edit(frame)`` (in place)."""
    import pandas as pd

    def change(text: str) -> str:
        frame = pd.read_csv(io.StringIO(text))
        edit(frame)
        return frame.to_csv(index=False, lineterminator="\n")

    return _rewrite(data, f"tables/{name}.csv", change)


def test_the_attacker_finds_each_kind_of_leak(demo_archive):
    tables, _, texts = attacker.read_archive(demo_archive)

    def small_year(frame):
        frame.loc[frame["n"].first_valid_index(), "n"] = 3

    assert any("per_year.n shows a group of 3" in f for f in attacker.findings(_edit_table(demo_archive, "per_year", small_year)))

    def one_hidden(frame):
        code = frame["centre_code"].iloc[0]
        mine = frame.index[frame["centre_code"] == code]
        frame.loc[mine, "n"] = frame.loc[mine, "n"].fillna(0)
        frame.loc[mine[0], "n"] = None
        frame.loc[mine[0], "note"] = "hidden"
        total = tables["centres"].set_index("centre_code").loc[code, "n"]
        frame.loc[mine[1], "n"] = total - frame.loc[mine[2:], "n"].sum() - 2

    assert any("the hidden year is 2" in f for f in attacker.findings(_edit_table(demo_archive, "per_year", one_hidden)))
    dated = _rewrite(demo_archive, "tables/harm.csv", lambda t: t.replace("day 0-100", "2021-03-04", 1))
    assert any("exact date 2021-03-04" in f for f in attacker.findings(dated))
    def off_grid(frame):
        frame.loc[0, "months"] = 7

    offgrid = _edit_table(demo_archive, "curves", off_grid)
    assert any("off the public grid" in f for f in attacker.findings(offgrid))
    first = tables["strata"].dropna(subset=["patients", "events"]).iloc[0]
    header = texts["tables/strata.csv"].split("\n", 1)[0]
    row = {c: "" for c in header.split(",")}
    row.update(centre_code=first.centre_code, by="phenotype", level="PPMS", patients="6", measure="os_5y",
               estimate="0.0", lower="0.0", upper="0.0", n="6", events="6", n_risk="6")
    line = ",".join(row[c] for c in header.split(","))
    everyone = _rewrite(demo_archive, "tables/strata.csv", lambda t: t + line + "\n")
    assert any("had the event" in f for f in attacker.findings(everyone))


@st.composite
def small_registries(draw):
    """1-3 centres of 5-30 patients (so years of 5-9 transplants and rare kinds of MS occur), a seed."""
    from openhsct.registry.synth import generate

    k = draw(st.integers(1, 3))
    sizes = draw(st.lists(st.integers(5, 30), min_size=k, max_size=k))
    seed = draw(st.integers(0, 10_000))
    raw = generate(centres=k, patients=max(sum(sizes) * 2, 20), seed=seed)
    codes = sorted(raw["centres"]["centre_code"])
    return keep_first(raw, dict(zip(codes, sizes, strict=True)))


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(small_registries())
def test_random_small_registries_give_nothing_away(raw):
    assert attacker.findings(archive(raw)) == []


def test_the_comparison_never_counts_a_held_back_patient():
    from openhsct.registry.synth import generate
    from openhsct.registry.synth_comparators import add_comparators
    from openhsct.releases.build import without_held_back
    from openhsct.releases.cut import make_cut
    from tests.releases.builders import CUT, typed_tables

    tables = typed_tables(add_comparators(generate(centres=2, patients=120, seed=5), 40, 5))
    full = make_cut(tables, CUT)
    sizes = full.tables["transplants"]["centre_code"].astype(str).value_counts()
    code = sizes.index[0]
    held = make_cut(tables, CUT, previous={code: int(sizes[code]) - 3, **{c: int(n) for c, n in sizes.iloc[1:].items()}})
    kept = without_held_back(held.everyone, held.tables)

    def keys(frame):
        return set(zip(frame["centre_code"].astype(str), frame["patient_code"].astype(str), strict=True))

    assert len(keys(held.everyone["transplants"]) - keys(held.tables["transplants"])) == 3
    assert keys(kept["transplants"]) == keys(held.tables["transplants"])
    assert len(kept["patients"]) == len(held.everyone["patients"]) - 3  # the DMT patients stay


def test_the_attacker_reads_the_pro_and_comparison_tables(demo_archive):
    tables, _, _ = attacker.read_archive(demo_archive)
    assert not tables["pro"].empty and not tables["comparative"].empty and not tables["comparative_effects"].empty
    sizes = dict(zip(tables["centres"]["centre_code"], tables["centres"]["n"], strict=True))

    def pro_small(frame):
        frame.loc[frame["n"].first_valid_index(), "n"] = 2

    def pro_rest(frame):
        i = frame["n"].first_valid_index()
        frame.loc[i, "n"] = sizes[frame.loc[i, "centre_code"]] - 3

    def unmatched(frame):
        i = frame.index[frame["available"] & frame["n_control_matched"].notna()][0]
        frame.loc[i, "n_control_matched"] = frame.loc[i, "n_control"] - 2

    def warning(frame):
        i = frame.index[frame["available"]][0]
        frame.loc[i, "warnings"] = "3 aHSCT patients found no comparator within the caliper"

    def arm_beyond(frame):
        i = frame.index[(frame["scope"] == "registry") & frame["available"]][0]
        frame.loc[i, "n_treated"] = sum(v for v in sizes.values() if v == v) + 2

    for table, edit, needle in (("pro", pro_small, "pro.n shows a group of 2"),
                                ("pro", pro_rest, "leaves 3 of its"),
                                ("comparative", unmatched, "unmatched DMT patients: a group of 2"),
                                ("comparative", warning, "a warning names a group of 3"),
                                ("comparative", arm_beyond, "aHSCT arm beyond the published patients")):
        found = attacker.findings(_edit_table(demo_archive, table, edit))
        assert any(needle in f for f in found), (needle, found)


@pytest.mark.parametrize(
    ("sizes", "seed", "comparators"),
    [((47, 24), 6130, 97),  # a country whose comparison cannot run held 3 DMT patients: found by difference
     ((46, 57, 10), 7247, 49)],  # a comparator arm without variance in one covariate: the build failed
)
def test_small_registries_with_dmt_comparators_give_nothing_away(sizes, seed, comparators):
    from openhsct.registry.synth import generate
    from openhsct.registry.synth_comparators import add_comparators

    raw = generate(centres=len(sizes), patients=max(sum(sizes) * 2, 20), seed=seed)
    raw = keep_first(raw, dict(zip(sorted(raw["centres"]["centre_code"]), sizes, strict=True)))
    data = archive(add_comparators(raw, comparators, seed), comparative=True)
    tables, _, _ = attacker.read_archive(data)
    assert not tables["comparative"].empty
    assert attacker.findings(data) == []


def test_hidden_countries_are_complemented():
    from openhsct.releases.comparative import hidden_countries

    counts = {"A": (40, 3), "B": (30, 12), "C": (20, 9)}
    assert hidden_countries(counts, set()) == {"A", "C"}  # A's 3 DMT patients, and C so that 3 is not alone
    assert hidden_countries({"A": (40, 8), "B": (30, 12)}, {"A"}) == {"A"}  # 8 left out: no group of 1-4
    assert hidden_countries({"A": (40, 8), "B": (30, 12)}, set()) == set()
