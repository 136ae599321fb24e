"""Releases: reproducible builds (twice, and with 1 or 3 Dask workers), the cut, the store's states and
flags, consent, the archive and the command line."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest
from typer.testing import CliRunner

from tests.releases.builders import CUT, archive, build, keep_first


@pytest.fixture(scope="module")
def tiny():
    from openhsct.registry.synth import generate

    raw = generate(centres=3, patients=90, seed=11)
    return keep_first(raw, {"SYN03": 3})


def test_building_twice_gives_the_same_bytes(tiny):
    first, manifest1, id1 = build(tiny, charts=True)
    second, manifest2, id2 = build(tiny, charts=True)
    assert first == second and manifest1 == manifest2 and id1 == id2
    assert "<svg" in first["centre/SYN01.json"].decode()
    assert archive(tiny) == archive(tiny)


def test_one_and_three_dask_workers_give_the_same_manifest(tiny):
    from distributed import Client, LocalCluster

    manifests = []
    for workers in (1, 3):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
                Client(cl) as client:
            manifests.append(build(tiny, client=client)[1])
    assert manifests[0] == manifests[1] == build(tiny)[1]


def test_a_small_centre_enters_no_figure(tiny):
    parts, manifest, _ = build(tiny)
    assert "centre/SYN03.json" not in parts
    centres = {c["centre_code"]: c for c in json.loads(parts["centres.json"])["centres"]}
    assert centres["SYN03"]["published"] is False and centres["SYN03"]["n"]["suppressed"]
    rows = json.loads(parts["comparison.json"])["rows"]
    assert [r["centre_code"] for r in rows] == ["SYN01", "SYN02"]
    assert "rows" not in manifest  # no registry-wide count to subtract the shown centres from


def test_the_cut_keeps_what_was_known_on_the_day():
    import pandas as pd

    from openhsct.releases.cut import apply_cut

    t = pd.Timestamp
    tables = {
        "transplants": pd.DataFrame({"centre_code": ["A", "A"], "patient_code": ["1", "2"],
                                     "day0": [t("2020-01-10"), t("2021-05-01")]}),
        "patients": pd.DataFrame({"centre_code": ["A", "A"], "patient_code": ["1", "2"],
                                  "last_contact_date": [t("2021-02-01"), t("2021-06-01")]}),
        "edss_visits": pd.DataFrame({"centre_code": ["A", "A"], "patient_code": ["1", "1"],
                                     "visit_date": [t("2020-06-01"), t("2020-12-31")], "edss": [3.0, 3.5]}),
        "adverse_events": pd.DataFrame({"centre_code": ["A"], "patient_code": ["1"], "onset_date": [t("2020-02-01")],
                                        "resolution_date": [t("2021-01-05")]}),
    }
    out = apply_cut(tables, dt.date(2020, 12, 30))
    assert list(out["transplants"]["patient_code"]) == ["1"]  # transplanted after the cut: not in it
    assert list(out["edss_visits"]["visit_date"]) == [t("2020-06-01")]  # the visit after the cut is dropped
    assert out["adverse_events"]["resolution_date"].isna().all()  # resolved after the cut: unknown then
    assert out["patients"]["last_contact_date"].tolist() == [t("2020-12-30")]  # known alive at the cut


@pytest.mark.django_db
def test_the_raw_read_gives_the_typed_registry(tmp_path):
    import pandas as pd

    from openhsct.registry.exporter import registry_frames
    from openhsct.registry.synth import generate
    from openhsct.releases.cut import read_registry
    from tests.portal.registry_builder import import_tables

    import_tables(generate(centres=2, patients=30, seed=4), tmp_path / "b")
    fast, slow = read_registry(), registry_frames(typed=True)
    for name, frame in fast.items():
        pd.testing.assert_frame_equal(frame, slow[name][frame.columns].reset_index(drop=True), check_dtype=False,
                                      obj=name)


@pytest.fixture
def registry(db, tmp_path):
    from openhsct.registry.synth import generate
    from tests.portal.registry_builder import clear_releases, import_tables

    clear_releases()
    tables = keep_first(generate(centres=2, patients=60, seed=8), {})
    p = tables["patients"]
    p.loc[p.index[:2], "consent_status"] = "withdrawn"  # two patients of SYN01 may not be published
    p.loc[p.index[:2], "consent_withdrawal_date"] = p.loc[p.index[:2], "consent_date"]
    import_tables(tables, tmp_path / "b")
    yield tables
    clear_releases()


def _draft():
    from openhsct.releases.build import BuildSettings
    from openhsct.releases.store import release_draft

    return release_draft(CUT, actor="tester", settings=BuildSettings(charts=False, comparative=False))


def test_states_flags_and_audit(registry, client):
    from openhsct.registry.models import AuditEvent
    from openhsct.releases.store import ReleaseError, release_flag, release_publish, release_withdraw

    assert b"No data release has been published yet" in client.get("/").content
    release = _draft()
    assert _draft().pk == release.pk  # the same registry, cut, code and settings: the same release
    assert b"No data release has been published yet" in client.get("/").content  # a draft is not public
    flag = release_flag(release, actor="north_staff", centre_code="SYN01", item="TRM by day 100", comment="check")
    assert flag.pk and release.flags.count() == 1
    release_publish(release, actor="monitor")
    page = client.get("/").content.decode()
    assert f"data release {release.pk}" in page or release.pk in page
    with pytest.raises(ReleaseError):
        release_publish(release, actor="monitor")
    with pytest.raises(ReleaseError):
        release_flag(release, actor="x", centre_code="SYN01", item="a", comment="b")
    with pytest.raises(ReleaseError):
        release_withdraw(release, actor="admin", erratum=" ")
    release_withdraw(release, actor="admin", erratum="Deaths at SYN01 were double-counted; see the next release.")
    listing = client.get("/releases/").content.decode()
    assert "double-counted" in listing and "withdrawn" in listing
    assert b"No data release has been published yet" in client.get("/").content
    events = list(AuditEvent.objects.filter(model__in=["Release", "ReleaseFlag"]).order_by("id"))
    assert [(e.actor, (e.detail or {}).get("event", e.model)) for e in events] == [
        ("tester", "draft"), ("north_staff", "ReleaseFlag"), ("monitor", "publish"), ("admin", "withdraw")]


def test_consent_and_archive(registry, client):
    from openhsct.releases.store import read_json, release_publish

    release = release_publish(_draft(), actor="monitor")
    consent = read_json(release.pk, "consent.json")["excluded"]
    assert consent["SYN01"]["suppressed"]  # 2 patients left out: a group of 1-4, not shown
    assert consent["SYN02"] == 0
    data = client.get(f"/releases/{release.pk}/archive.zip").content
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = {n.split("/", 1)[1] for n in z.namelist()}
        manifest = json.loads(z.read(f"openhsct-{release.pk}/manifest.json"))
        cff = z.read(f"openhsct-{release.pk}/CITATION.cff").decode()
    assert {"manifest.json", "CITATION.cff", "tables/centres.csv", "tables/centres.json",
            "tables/centres.parquet", "tables/harm.parquet"} <= names
    assert manifest["cut"] == CUT.isoformat() and len(manifest["registry_digest"]) == 64
    assert manifest["left_out_without_consent"]["SYN01"]["suppressed"]
    assert manifest["left_out_without_consent"]["SYN02"] == 0
    assert all(len(p["sha256"]) == 64 for p in manifest["parts"].values())
    assert "cff-version: 1.2.0" in cff and release.pk in cff
    assert client.get("/releases/0123456789abcdef/archive.zip").status_code == 404


def test_the_command_line(registry):
    from openhsct.cli import app
    from openhsct.releases.models import Release

    runner = CliRunner()
    result = runner.invoke(app, ["release", "draft", "--cut", "2030-12-31", "--no-pdf"])
    assert result.exit_code == 0, result.output
    rid = result.output.strip().splitlines()[-1]
    assert Release.objects.get(pk=rid).state == "draft"
    listed = runner.invoke(app, ["release", "list"])
    assert rid in listed.output and "draft" in listed.output
    assert runner.invoke(app, ["release", "publish", rid[:8]]).exit_code == 0
    assert Release.objects.get(pk=rid).state == "published"
    assert runner.invoke(app, ["release", "withdraw", rid, "--erratum", "wrong cut"]).exit_code == 0
    bad = runner.invoke(app, ["release", "draft", "--cut", "30/12/2030"])
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output and "Traceback" not in bad.output
    assert runner.invoke(app, ["release", "publish", "ffffffff"]).exit_code != 0


def test_a_cohort_that_grows_by_1_to_4_is_held_back(tiny):
    import pandas as pd

    from openhsct.releases.cut import make_cut
    from tests.releases.builders import typed_tables

    typed = typed_tables(tiny)
    n = int((typed["transplants"]["centre_code"] == "SYN01").sum())
    held = make_cut(typed, CUT, previous={"SYN01": n - 3, "SYN02": 1}).tables
    counts = held["transplants"]["centre_code"].astype(str).value_counts()
    assert counts["SYN01"] == n - 3  # grew by 3: the 3 newest wait for the next release
    assert counts["SYN02"] == int((typed["transplants"]["centre_code"] == "SYN02").sum())  # grew by >= 5
    newest = typed["transplants"].loc[typed["transplants"]["centre_code"] == "SYN01"].sort_values("day0")
    assert set(newest["patient_code"].iloc[-3:]).isdisjoint(held["edss_visits"]["patient_code"])
    assert make_cut(typed, CUT, previous={"SYN01": n - 5}).tables["transplants"].shape[0] == sum(
        pd.Series(typed["transplants"]["day0"] <= pd.Timestamp(CUT)))
