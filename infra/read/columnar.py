"""A columnar copy of the views, for breakdowns: the same tables in DuckDB, at a known position.

Why: a breakdown nobody asked before (a new ``by``, ``as_of`` or ``window``) scans every outreach
and groups it; SQLite does that row by row with a temporary B-tree (hundreds of milliseconds at a
million events, seconds under a dashboard's load), while a column store scans and groups the same
rows in a few milliseconds. The views stay the truth, written by the fold; this is a copy, kept
in the serving process's memory (DuckDB allows one process per database file).

Exactly consistent, never half-refreshed: a refresh reads the views' rows and positions in one
snapshot (``ViewStore.reading``) and writes them, with those positions, in one DuckDB
transaction; a reader's statements run in one DuckDB snapshot (``ColumnarCopy.snapshot``), so an
answer is the views' answer at the position it carries. Beside the ledger, a refresh copies only
the rows of candidates with events between the copy's position and the views' (every row is a
function of one candidate's facts; a table of positions is small and copied whole); after a
rebuild, for a consumer group's views, or when most candidates changed, it copies the tables
whole.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import pyarrow as pa

from infra.read.views import ViewStore
from infra.store.recorder import LedgerRecorder
from projections.base import Projection, Table

_ARROW = {
    "TEXT": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int64(),
    "DOUBLE PRECISION": pa.float64(),
}
_DUCK = {"TEXT": "VARCHAR", "BIGINT": "BIGINT", "INTEGER": "BIGINT", "DOUBLE PRECISION": "DOUBLE"}
_CHUNK = 500
"""Candidates per ``IN (...)`` when copying the changed ones."""
_WHOLE_ABOVE = 20_000
"""Changed candidates above which copying the tables whole is cheaper."""
_FETCH = 100_000

Positions = dict[str, tuple[int, int]]
"""Projection name -> (version, position), as ``view_positions`` holds them."""


class Snapshot:
    """Statements over the copy as it stood when the snapshot began (``?`` placeholders)."""

    aggregates_lists = True
    """It can return a group's values as a list (DuckDB's ``list``): queries may ask for one
    statement where SQLite needs two."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self._cursor = cursor

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._cursor.execute(statement, list(params)).fetchall()

    def positions(self) -> Positions:
        rows = self.query("SELECT projection, version, position FROM view_positions")
        return {str(name): (int(version), int(position)) for name, version, position in rows}


class ColumnarCopy:
    """Every table of ``projections``, copied from the views into DuckDB (in memory)."""

    def __init__(self, projections: Sequence[Projection]) -> None:
        self.projections = list(projections)
        self._db = duckdb.connect()
        self._db.execute("SET default_null_order = 'nulls_first'")  # SQLite's order
        self._db.execute(
            "CREATE TABLE view_positions (projection VARCHAR PRIMARY KEY, version BIGINT,"
            " position BIGINT)"
        )
        for projection in self.projections:
            for table in projection.tables:
                columns = ", ".join(f"{c.name} {_DUCK[c.type]}" for c in table.columns)
                self._db.execute(f"CREATE TABLE {table.name} ({columns})")
        self._positions: Positions = {}
        self._refreshing = threading.Lock()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        cursor = self._db.cursor()
        cursor.execute("BEGIN TRANSACTION")
        try:
            yield Snapshot(cursor)
        finally:
            cursor.execute("ROLLBACK")
            cursor.close()

    def refresh(self, store: ViewStore, ledger: LedgerRecorder | None = None) -> bool:
        """Bring the copy to the views' positions; whether anything changed. ``ledger``: the
        ledger the views are fed from, to copy only what changed."""
        with self._refreshing, store.reading() as source:
            source.execute("SELECT projection, version, position FROM view_positions")
            now = {str(n): (int(v), int(p)) for n, v, p in source.fetchall()}
            work = []
            for projection in self.projections:
                target, have = now.get(projection.name), self._positions.get(projection.name)
                if target is None or target == have:
                    continue
                changed = None
                if ledger and have and have[0] == target[0] and target[1] >= have[1]:
                    changed = ledger.candidates_between(have[1], target[1])
                    if len(changed) > _WHOLE_ABOVE:
                        changed = None
                work.append((projection, target, changed))
            if not work:
                return False
            cursor = self._db.cursor()
            cursor.execute("BEGIN TRANSACTION")
            try:
                for projection, target, changed in work:
                    for table in projection.tables:
                        self._copy(store, source, cursor, table, changed)
                    cursor.execute(
                        "INSERT OR REPLACE INTO view_positions VALUES (?, ?, ?)",
                        [projection.name, *target],
                    )
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            finally:
                cursor.close()
            for projection, target, _ in work:
                self._positions[projection.name] = target
            return True

    def _copy(
        self,
        store: ViewStore,
        source: Any,
        cursor: duckdb.DuckDBPyConnection,
        table: Table,
        changed: list[str] | None,
    ) -> None:
        select = f"SELECT {', '.join(table.column_names)} FROM {table.name}"
        if changed is None or "candidate_id" not in table.column_names:
            # A table whose rows are not a candidate's (the positions'): small, copied whole.
            cursor.execute(f"DELETE FROM {table.name}")
            source.execute(select)
            while rows := source.fetchmany(_FETCH):
                _append(cursor, table, rows)
            return
        for i in range(0, len(changed), _CHUNK):
            chunk = changed[i : i + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            cursor.execute(f"DELETE FROM {table.name} WHERE candidate_id IN ({marks})", chunk)
            source.execute(store.sql(f"{select} WHERE candidate_id IN ({marks})"), chunk)
            rows = source.fetchall()
            if rows:
                _append(cursor, table, rows)


def _append(cursor: duckdb.DuckDBPyConnection, table: Table, rows: Sequence[Sequence[Any]]) -> None:
    columns = list(zip(*rows, strict=True))
    arrow = pa.table(
        {
            column.name: pa.array(values, _ARROW[column.type])
            for column, values in zip(table.columns, columns, strict=True)
        }
    )
    cursor.register("incoming", arrow)
    try:
        cursor.execute(f"INSERT INTO {table.name} SELECT * FROM incoming")
    finally:
        cursor.unregister("incoming")
