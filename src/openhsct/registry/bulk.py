"""The import's write path: validated rows into the database in bulk, inside the caller's transaction.

PostgreSQL receives each table with one ``COPY … FROM STDIN (FORMAT csv)`` stream written by Arrow's CSV
writer, sent from a background thread so that the server loads one table while this process prepares
the next; SQLite one prepared ``INSERT`` run over all rows (``executemany``). Both store exactly the values
the model layer would: empty text stays ``''``, other empty cells are NULL, date-times are UTC.

Keeping indexes and keys up to date row by row costs more than building them once, so a large load
into a table (from 1,000 new rows that are at least a tenth of the table) builds them afterwards, as the
PostgreSQL manual advises for bulk loads ("Populating a Database", §14.4: "Remove Indexes", "Remove
Foreign Key Constraints"). On SQLite the table's secondary indexes are dropped and created again; on
PostgreSQL its foreign keys are dropped and added back with their own definitions, PostgreSQL then
checking every row in one join instead of one query per row. It all happens inside the import's
transaction, so a failure restores indexes and constraints with the data.

On PostgreSQL the keys are rebuilt only by the first import into an empty registry. Dropping a foreign key
takes an ACCESS EXCLUSIVE lock on the table and on the patients table it points to, held until the import
commits: in a registry in use, every reader of those tables (a clinic page, ``pg_dump`` taking a backup)
would wait for the whole import, and a person saving a record while the import also waited for the audit
chain ended in a deadlock, one of the two transactions aborted (measured with ten writers and backups at
once, tests/registry/test_backup_restore.py).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait

import numpy as np
import pandas as pd

from openhsct.registry.exchange import NATURAL_REFS, Table, tables

# Dropping and re-adding a table's foreign keys pays from this many new rows, and when the new rows are
# at least a tenth of the rows already there (re-adding checks them all, in one join).
FK_REBUILD_ROWS = 1_000
FK_REBUILD_SHARE = 0.1
_COPY_BATCH = 200_000
_CANONICAL_DT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$")


class References:
    """Natural key → primary key lookups for the foreign keys of the tables being written.

    Each lookup is read once with one SQL query and kept until its table receives new rows
    (:meth:`forget`), so that a national import reads the patients once rather than once per table.
    """

    def __init__(self) -> None:
        self._frames: dict[str, pd.DataFrame] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future | None = None
        self._first_load: bool | None = None

    def first_load(self) -> bool:
        """Whether this import is the first into an empty registry (no patient before its first write;
        asked once, at the first table it writes). Returns it."""
        if self._first_load is None:
            from openhsct.registry import models as m

            self.wait()
            self._first_load = not m.Patient.objects.exists()
        return self._first_load

    def start(self, job: Callable[[], None]) -> None:
        """Run ``job`` (a table's COPY) on the one background thread, after the one before it, so that
        the server loads one table while this process prepares the next."""
        self.wait()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openhsct-copy")
        self._pending = self._pool.submit(job)

    def wait(self) -> None:
        """Wait for the background load, re-raising its error; call before anything else uses the
        database connection."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Let any background load finish (its error, if the caller is already failing, is secondary)
        so that no rollback or commit meets a COPY in progress."""
        pending, self._pending = self._pending, None
        if pending is not None:
            futures_wait([pending])
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def forget(self, table_name: str) -> None:
        """Drop the cached lookup that rows of ``table_name`` feed (called after writing it)."""
        self._frames.pop(table_name, None)

    def frame(self, parent: str) -> pd.DataFrame:
        """Returns the lookup for ``parent`` (``centres``, ``patients`` or a natural reference's table)."""
        if parent not in self._frames:
            self.wait()
            self._frames[parent] = _read_lookup(parent)
        return self._frames[parent]


def _read_lookup(parent: str) -> pd.DataFrame:
    """One SQL query (built by the ORM, run on a plain cursor) giving natural key columns and ``pk``."""
    from django.db import connection

    from openhsct.registry import models as m

    if parent == "centres":
        qs, names = m.Centre.objects.values_list("centre_code", "pk"), ["centre_code", "pk"]
    elif parent == "patients":
        qs = m.Patient.objects.values_list("centre__centre_code", "patient_code", "pk")
        names = ["centre_code", "patient_code", "pk"]
    else:
        col, _, natural = next(v for v in NATURAL_REFS.values() if v[1] == parent)
        qs = tables()[parent].model.objects.values_list("patient_id", natural, "pk")
        names = ["patient_id", col, "pk"]
    sql, params = qs.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    frame = pd.DataFrame(rows, columns=names) if rows else pd.DataFrame({n: [] for n in names})
    frame["pk"] = frame["pk"].astype(np.int64)
    if "patient_id" in frame:
        frame["patient_id"] = frame["patient_id"].astype(np.int64)
    return frame


def _resolve(frame: pd.DataFrame, ref: pd.DataFrame, on: list[str]) -> np.ndarray:
    """Primary keys of ``ref`` for each row of ``frame`` (validation has made sure every key exists)."""
    merged = frame[on].merge(ref, on=on, how="left", validate="many_to_one")
    return merged["pk"].to_numpy(dtype=np.int64)


def db_columns(table: Table, frame: pd.DataFrame, refs: References) -> list[tuple[str, str, np.ndarray]]:
    """The database columns of new rows: (column name, exchange kind or ``fk``, values).

    Values are canonical text (``""`` for empty) except foreign keys, which are resolved to integers.
    """
    fields = {f.name: f for f in table.model._meta.concrete_fields}
    out: list[tuple[str, str, np.ndarray]] = []
    patient_ids = None
    for c in table.columns:
        if table.name != "centres" and c.name == "centre_code":
            if table.name == "patients":
                out.append(("centre_id", "fk", _resolve(frame, refs.frame("centres"), ["centre_code"])))
            continue
        if c.name == "patient_code" and table.name != "patients":
            patient_ids = _resolve(frame, refs.frame("patients"), ["centre_code", "patient_code"])
            out.append(("patient_id", "fk", patient_ids))
            continue
        if c.field_name in NATURAL_REFS:
            parent = NATURAL_REFS[c.field_name][1]
            keyed = pd.DataFrame({"patient_id": patient_ids, c.name: frame[c.name].to_numpy()})
            out.append((fields[c.field_name].column, "fk", _resolve(keyed, refs.frame(parent), ["patient_id", c.name])))
            continue
        out.append((fields[c.field_name].column, c.kind, frame[c.name].to_numpy(dtype=object)))
    return out


def insert_rows(table: Table, frame: pd.DataFrame, refs: References) -> None:
    """Insert ``frame`` (new, validated, canonical rows of ``table``) in bulk. Returns nothing."""
    from django.db import connection

    if frame.empty:
        return
    columns = db_columns(table, frame.reset_index(drop=True), refs)
    if connection.vendor == "postgresql":
        refs.start(_copy_job(table, columns, connection, rebuild_keys=refs.first_load()))
    else:
        _executemany(table, columns, connection)


# ------------------------------------------------------------------------------------------------ SQLite


def _sqlite_params(kind: str, values: np.ndarray, field, connection) -> list:
    """One column as the parameters the model layer would bind on SQLite."""
    if kind == "fk":
        return values.tolist()
    if kind in {"text", "code"}:
        return values.tolist()
    empty = values == ""
    if kind == "integer":
        nums = np.zeros(len(values), dtype=np.int64)
        nums[~empty] = values[~empty].astype(np.int64)
        out = nums.tolist()
    elif kind == "datetime":
        out = _sqlite_datetimes(values, empty, field, connection)
    else:  # decimal, date: the canonical text, which SQLite's column affinity stores as the ORM's would
        out = values.tolist()
    if empty.any():
        for i in np.flatnonzero(empty).tolist():
            out[i] = None
    return out


def _sqlite_datetimes(values: np.ndarray, empty: np.ndarray, field, connection) -> list:
    """Canonical ``YYYY-MM-DDTHH:MM:SS+00:00`` as Django stores it on SQLite (naive UTC text)."""
    from openhsct.registry.exchange import Column
    from openhsct.registry.formats import text_to_python

    s = pd.Series(values)
    canonical = s.str.match(_CANONICAL_DT).to_numpy(dtype=bool) & ~empty
    out = (s.str.slice(0, 10) + " " + s.str.slice(11, 19)).tolist()
    for i in np.flatnonzero(~canonical & ~empty).tolist():
        out[i] = field.get_db_prep_save(text_to_python(values[i], Column("v", "datetime", True)), connection)
    return out


def _executemany(table: Table, columns: list, connection, chunk: int = 50_000) -> None:
    fields = {f.column: f for f in table.model._meta.concrete_fields}
    params = [_sqlite_params(kind, values, fields[name], connection) for name, kind, values in columns]
    qn = connection.ops.quote_name
    db_table = table.model._meta.db_table
    sql = (f"INSERT INTO {qn(db_table)} ({', '.join(qn(n) for n, _, _ in columns)}) "
           f"VALUES ({', '.join(['%s'] * len(columns))})")
    n = len(params[0])
    with connection.cursor() as cursor:
        indexes = _drop_sqlite_indexes(cursor, db_table) if _sqlite_rebuild_pays(cursor, db_table, n) else []
        for i in range(0, n, chunk):
            cursor.executemany(sql, list(zip(*(p[i:i + chunk] for p in params), strict=True)))
        for statement in indexes:
            cursor.execute(statement)


def _sqlite_rebuild_pays(cursor, db_table: str, rows: int) -> bool:
    """Whether to drop and rebuild the secondary indexes of ``db_table`` around a load of ``rows``: from
    :data:`FK_REBUILD_ROWS` rows that are at least :data:`FK_REBUILD_SHARE` of the table (its largest id)."""
    if rows < FK_REBUILD_ROWS:
        return False
    cursor.execute(f'SELECT coalesce(max("id"), 0) FROM "{db_table}"')
    return rows >= FK_REBUILD_SHARE * cursor.fetchone()[0]


def _drop_sqlite_indexes(cursor, db_table: str) -> list[str]:
    """Drop the indexes of ``db_table`` that were created by ``CREATE INDEX`` (not those of its UNIQUE
    constraints, which SQLite keeps with the table); returns the statements that build them again."""
    cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
                   "AND sql IS NOT NULL ORDER BY name", [db_table])
    found = cursor.fetchall()
    for name, _ in found:
        cursor.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in found]


# -------------------------------------------------------------------------------------------- PostgreSQL


def _arrow_column(kind: str, values: np.ndarray):
    """One column as an Arrow array whose CSV text PostgreSQL reads as the ORM's value."""
    import pyarrow as pa

    if kind == "fk":
        return pa.array(values, type=pa.int64())
    if kind in {"text", "code"}:
        return pa.array(values, type=pa.string())  # '' is written quoted: an empty string, not NULL
    empty = values == ""
    if kind == "integer":
        nums = np.zeros(len(values), dtype=np.int64)
        nums[~empty] = values[~empty].astype(np.int64)
        return pa.array(nums, type=pa.int64(), mask=empty)
    # decimal, date and canonical date-time text: PostgreSQL parses them as numeric, date, timestamptz
    return pa.array(values, type=pa.string(), mask=empty)


def _copy_job(table: Table, columns: list, connection, *, rebuild_keys: bool) -> Callable[[], None]:
    """The load of one table as a function for the background thread: Arrow CSV into ``COPY``, with the
    table's foreign keys dropped and added back around a large load when ``rebuild_keys`` (the first
    import into an empty registry: module docstring). It talks to psycopg's connection directly (Django's
    wrapper belongs to the importing thread, which waits meanwhile)."""
    import pyarrow as pa

    names = [n for n, _, _ in columns]
    data = pa.table([_arrow_column(kind, values) for _, kind, values in columns], names=names)
    raw = connection.connection
    qn = connection.ops.quote_name
    db_table = qn(table.model._meta.db_table)
    sql = f"COPY {db_table} ({', '.join(qn(n) for n in names)}) FROM STDIN (FORMAT csv)"

    def job() -> None:
        import pyarrow.csv as pcsv

        options = pcsv.WriteOptions(include_header=False, quoting_style="needed")
        with raw.cursor() as cursor:
            rebuild = rebuild_keys and _rebuild_pays(cursor, db_table, data.num_rows)
            dropped = _drop_foreign_keys(cursor, db_table) if rebuild else []
            with cursor.copy(sql) as copy:
                for start in range(0, data.num_rows, _COPY_BATCH):
                    buf = io.BytesIO()
                    pcsv.write_csv(data.slice(start, _COPY_BATCH), buf, options)
                    copy.write(buf.getbuffer())
            for name, definition in dropped:  # PostgreSQL checks every row here, in one join
                cursor.execute(f"ALTER TABLE {db_table} ADD CONSTRAINT {qn(name)} {definition}")

    return job


def _rebuild_pays(cursor, db_table: str, rows: int) -> bool:
    """Whether to drop and re-add the foreign keys of ``db_table`` around a load of ``rows`` new rows:
    true from :data:`FK_REBUILD_ROWS` rows that are at least :data:`FK_REBUILD_SHARE` of the table's
    present size (PostgreSQL's own estimate, ``pg_class.reltuples``; negative before the first analyse)."""
    if rows < FK_REBUILD_ROWS:
        return False
    cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [db_table])
    present = float(cursor.fetchone()[0])
    return rows >= FK_REBUILD_SHARE * max(present, 0.0)


def _drop_foreign_keys(cursor, db_table: str) -> list[tuple[str, str]]:
    """Drop the foreign keys of ``db_table``; returns (name, definition) of each, to add them back."""
    # checks still deferred from earlier tables would block ALTER TABLE: run them now
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                   "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname", [db_table])
    found = [(str(name), str(definition)) for name, definition in cursor.fetchall()]
    for name, _ in found:
        cursor.execute(f'ALTER TABLE {db_table} DROP CONSTRAINT "{name}"')
    return found
