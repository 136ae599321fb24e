"""The fast import path gives exactly what the plain path gives: the same frames from a CSV file, the
same verdict on every cell, the same canonical text, the same rows in the database — and still all or
nothing, indexes and foreign keys included."""

from __future__ import annotations

import io
import re
import sys

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openhsct.registry import bulk, validation
from openhsct.registry.exchange import Column
from openhsct.registry.formats import text_to_canonical
from openhsct.registry.importer import _read_csv_arrow, canonical_text, import_bundle
from openhsct.registry.validation import _DATE, _DATE_FAST, _INT, _INT_FAST, _OFFSET, _OFFSET_FAST
from tests.registry.bundle_factory import small_bundle, write

FAST = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


# ------------------------------------------------------------------------------------- reading the CSV


def _pandas_read(data: bytes) -> pd.DataFrame | None:
    """What the importer did before the Arrow reader: pandas, then ``str.strip`` on every cell."""
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        return None
    return frame.apply(lambda s: s.str.strip())


CSV_PIECES = st.sampled_from(list('ab1,"\n\r \t\\#') + ["\ufeff", "\x00", "é", "\u3000", "\x1c", "NA", "a,b\n"])


@FAST
@given(st.lists(CSV_PIECES, max_size=40))
def test_arrow_reader_reads_what_pandas_reads_or_leaves_the_file_to_pandas(tmp_path_factory, pieces):
    data = "".join(pieces).encode()
    f = tmp_path_factory.mktemp("csv") / "t.csv"
    f.write_bytes(data)
    fast = _read_csv_arrow(f)
    if fast is None:
        return
    slow = _pandas_read(data)
    assert slow is not None, data
    assert list(fast.columns) == list(slow.columns), data
    assert fast.shape == slow.shape and (fast.to_numpy() == slow.to_numpy()).all(), data


def test_arrow_reader_strips_unicode_white_space_as_python_does(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("centre_code,patient_code\n\u3000NRT\x1c, P001\xa0\nSRC,P\u00e9\u2003\n", encoding="utf-8")
    assert _read_csv_arrow(f).to_numpy().tolist() == [["NRT", "P001"], ["SRC", "Pé"]]


@pytest.mark.parametrize("text", ['a,b\n"x,y",2\n', "a,b\n1,2\r3,4\n", "a\n1\n", "a,a\n1,2\n", "a,\n1,2\n"])
def test_files_arrow_might_read_differently_go_to_pandas(tmp_path, text):
    f = tmp_path / "t.csv"
    f.write_text(text, encoding="utf-8")
    assert _read_csv_arrow(f) is None


def test_spaces_are_exactly_what_str_strip_removes():
    every = [chr(i) for i in range(sys.maxunicode + 1) if chr(i).isspace()]
    assert list(validation.SPACES) == every


# --------------------------------------------------------------------------------------- cell checks

CELL = st.text(alphabet=st.sampled_from(list("0123456789+-.:TZ ") + ["\n", "٣", "é", "\u3000", "\x85"]),
               max_size=12)


@FAST
@given(st.lists(CELL, min_size=1, max_size=30))
def test_string_checks_equal_pythons(values):
    s = pd.Series(values, dtype=object)
    assert validation.str_match(s, _INT, _INT_FAST).tolist() == s.str.match(_INT).tolist()
    assert validation.str_match(s, _DATE, _DATE_FAST).tolist() == s.str.match(_DATE).tolist()
    assert validation.str_search(s, _OFFSET, _OFFSET_FAST).tolist() == s.str.contains(_OFFSET, regex=True).tolist()
    assert validation.str_len(s).tolist() == s.str.len().tolist()
    assert validation.str_strip(s).tolist() == s.str.strip().tolist()
    parts = s.str.extract(validation._DEC)
    not_num, frac_len = validation._decimal_shape(s)
    assert not_num.tolist() == parts[0].isna().tolist()
    assert frac_len.tolist() == parts[1].fillna("").str.len().tolist()


def test_values_that_are_not_strings_take_the_pandas_path():
    s = pd.Series(["12", None, "x"], dtype=object)
    assert validation.str_match(s, _INT, _INT_FAST).tolist() == s.str.match(_INT).tolist()


# ------------------------------------------------------------------------------------ canonical text

INTEGERS = st.integers(-10**17, 10**17).flatmap(
    lambda n: st.sampled_from([str(n), f"+{n}" if n >= 0 else str(n), f"0{abs(n)}", "-0"]))
DECIMALS = st.tuples(st.integers(-10**12, 10**12), st.integers(0, 99), st.integers(0, 2)).map(
    lambda t: f"{t[0]}" if t[2] == 0 else f"{t[0]}.{t[1] % 10**t[2]:0{t[2]}d}")
DATETIMES = st.datetimes(min_value=pd.Timestamp("1679-01-01").to_pydatetime(),
                         max_value=pd.Timestamp("2260-01-01").to_pydatetime()).flatmap(
    lambda d: st.sampled_from([d.strftime("%Y-%m-%dT%H:%M:%S+00:00"), d.strftime("%Y-%m-%dT%H:%M:%S+02:00"),
                               d.strftime("%Y-%m-%dT%H:%M:%SZ"), d.strftime("%Y-%m-%dT%H:%M:%S.123456-0530")]))


@FAST
@given(st.lists(INTEGERS, max_size=20), st.lists(DECIMALS, max_size=20), st.lists(DATETIMES, max_size=20))
def test_canonical_text_equals_the_formats_module(ints, decimals, stamps):
    for kind, values, places in (("integer", ints, None), ("decimal", decimals, 2), ("datetime", stamps, None)):
        column = Column("v", kind, False, decimal_places=places)
        s = pd.Series([*values, ""], dtype=object)
        assert canonical_text(s, column).tolist() == text_to_canonical(s, column).tolist()


# --------------------------------------------------------------------------- the database, both kinds


def _schema() -> list[tuple]:
    """Indexes (SQLite) or foreign keys (PostgreSQL) of the registry tables, with their definitions."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                           "WHERE contype = 'f' AND conrelid::regclass::text LIKE 'registry_%%' ORDER BY 1, 2")
        else:
            cursor.execute("SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index' "
                           "AND tbl_name LIKE 'registry_%' ORDER BY 1, 2")
        return cursor.fetchall()


@pytest.fixture
def rebuild_always(monkeypatch):
    """Take the drop-and-rebuild path for every table, however small."""
    monkeypatch.setattr(bulk, "FK_REBUILD_ROWS", 1)
    monkeypatch.setattr(bulk, "FK_REBUILD_SHARE", 0.0)


@pytest.mark.django_db
def test_bulk_path_round_trips_and_keeps_indexes_and_keys(tmp_path, rebuild_always):
    from openhsct.registry.exporter import registry_frames

    schema = _schema()
    folder = write(small_bundle(), tmp_path / "in")
    import_bundle(folder)
    assert _schema() == schema
    out = registry_frames()
    for f in folder.glob("*.csv"):
        a = pd.read_csv(f, dtype=str, keep_default_na=False)
        b = out[f.stem][list(a.columns)]
        pd.testing.assert_frame_equal(a.sort_values(list(a.columns)).reset_index(drop=True),
                                      b.sort_values(list(b.columns)).reset_index(drop=True), obj=f.name)


@pytest.mark.django_db
def test_values_are_stored_as_the_orm_would_store_them(tmp_path, rebuild_always):
    from openhsct.registry import models as m

    bundle = small_bundle()
    bundle["custody_events"][0]["event_at"] = "2018-02-11T17:00:00+02:00"
    bundle["edss_visits"][0]["edss"] = "3.5"
    bundle["apheresis"][1]["volume_ml"] = ""
    import_bundle(write(bundle, tmp_path / "in"))
    ev = m.CustodyEvent.objects.get(seq=1, product__bag_id="B-P001-1")
    assert ev.event_at == pd.Timestamp("2018-02-11T15:00:00Z").to_pydatetime()
    assert str(m.EdssVisit.objects.get(visit_date="2018-01-10").edss) in {"3.5", "3.50"}
    assert m.ApheresisCollection.objects.get(patient__patient_code="P002").volume_ml is None
    assert m.EligibilityAssessment.objects.get(patient__patient_code="P001").reason == ""
    assert m.Death.objects.get().patient.patient_code == "P002"


@pytest.mark.django_db
def test_a_failure_midway_leaves_data_indexes_and_keys_as_before(tmp_path, rebuild_always, monkeypatch):
    from openhsct.registry import audit
    from openhsct.registry import models as m

    schema = _schema()

    def fail(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "record_import", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        import_bundle(write(small_bundle(), tmp_path / "in"))
    assert m.Patient.objects.count() == 0 and m.CustodyEvent.objects.count() == 0
    assert _schema() == schema


@pytest.mark.django_db
def test_reimport_through_the_bulk_path_updates_with_audit(tmp_path, rebuild_always):
    from openhsct.registry import models as m

    bundle = small_bundle()
    import_bundle(write(bundle, tmp_path / "a"))
    bundle["costs"][0]["amount"] = "1400000.00"
    bundle["edss_visits"].append({"centre_code": "NRT", "patient_code": "P001", "visit_date": "2019-06-01",
                                  "edss": "2.5"})
    report = import_bundle(write(bundle, tmp_path / "b"))
    assert report.updated["costs"] == 1 and report.created["edss_visits"] == 1 and report.total_updated == 1
    ev = m.AuditEvent.objects.get(action="update", model="Cost")
    assert (ev.before["amount"], ev.after["amount"]) == ("1500000.00", "1400000.00")
    assert m.EdssVisit.objects.count() == 5


@pytest.mark.django_db
def test_the_database_still_refuses_a_row_without_its_parent_after_a_rebuild(tmp_path, rebuild_always):
    from django.db import IntegrityError, connection, transaction

    import_bundle(write(small_bundle(), tmp_path / "in"))
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO registry_edssvisit (visit_date, edss, patient_id) VALUES ('2020-01-01', 1, 999999)")
        connection.check_constraints(table_names=["registry_edssvisit"])


def test_canonical_datetime_pattern_is_the_formats_output():
    stamps = pd.Series(["2018-02-11T17:00:00+02:00"], dtype=object)
    out = text_to_canonical(stamps, Column("v", "datetime", True))[0]
    assert re.fullmatch(bulk._CANONICAL_DT, out)


@pytest.mark.django_db
def test_on_postgresql_only_the_first_import_into_an_empty_registry_drops_foreign_keys(tmp_path, rebuild_always,
                                                                                       monkeypatch):
    """Dropping a foreign key locks its table and the patients table until the import commits, so in a
    registry already in use (readers, backups, people saving records) an import keeps its keys."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("foreign keys are dropped and rebuilt on PostgreSQL only (SQLite rebuilds indexes)")
    dropped: list[str] = []
    original = bulk._drop_foreign_keys
    monkeypatch.setattr(bulk, "_drop_foreign_keys", lambda cursor, table: dropped.append(table) or original(cursor, table))
    bundle = small_bundle()
    import_bundle(write(bundle, tmp_path / "first"))
    assert dropped, "the first import into an empty registry rebuilds the keys"
    dropped.clear()
    extra = dict(bundle["edss_visits"][0], visit_date="2018-06-01")
    bundle["edss_visits"].append(extra)
    report = import_bundle(write(bundle, tmp_path / "second"))
    assert report.created["edss_visits"] == 1 and dropped == []
