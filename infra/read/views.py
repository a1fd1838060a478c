"""Where the views live: real tables in SQLite or PostgreSQL, with each projection's position.

Embedded (SQLite), the views have their own file beside the ledger (``rapport.views.db`` for
``rapport.db``), so following the ledger never contends with writers for its lock. On PostgreSQL
they live in the ledger's schema, in tables named ``view_*``. Every batch of a projection's rows,
its per-candidate state and the position it has processed commit in one transaction.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from infra.core.private_files import private_sqlite_file
from infra.core.settings import Settings
from infra.store.recorder import LedgerRecorder
from projections.base import Projection, State, Table, Upsert

_BOOKKEEPING = (
    "CREATE TABLE IF NOT EXISTS view_positions ("
    "projection TEXT PRIMARY KEY, version INTEGER NOT NULL, position BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS view_states ("
    "projection TEXT NOT NULL, candidate_id TEXT NOT NULL, state TEXT NOT NULL, "
    "PRIMARY KEY (projection, candidate_id))",
    "CREATE TABLE IF NOT EXISTS view_owner (name TEXT PRIMARY KEY, owner TEXT NOT NULL)",
)
_CHUNK = 500


class ViewMoved(Exception):
    """Another follower processed these facts first: nothing of this batch was written."""


class ViewsKeptElsewhere(RuntimeError):
    """These views are kept by another feeder (the ledger follower or another consumer group)."""


LEDGER_FOLLOWER = "the ledger follower"


def views_path(ledger: Path) -> Path:
    return ledger.with_name(f"{ledger.stem}.views{ledger.suffix or '.db'}")


class ViewStore:
    """The read side's database connection, for projections' writes and for queries."""

    def __init__(self, settings: Settings, *, ledger: LedgerRecorder | None = None) -> None:
        self.settings = settings
        self.ledger = ledger
        """The ledger these views are fed from, when they sit beside it: journeys read their
        timeline there (views fed from a topic keep a copy instead)."""
        self.is_postgres = bool(settings.database_url)
        self.schema: str | None = None
        """The PostgreSQL schema of the views."""
        self.path: Path | None = None
        """The SQLite file of the views."""
        if self.is_postgres:
            import psycopg

            schema = settings.views_schema or settings.database_schema
            self._conn: Any = psycopg.connect(
                settings.database_url,  # type: ignore[arg-type]
                options=f"-c search_path={schema}",
                connect_timeout=10,
            )
            self.schema = schema
        else:
            self.path = settings.views_db or views_path(settings.db)
            private_sqlite_file(self.path)
            self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            # Views can always be re-derived from the ledger, and WAL keeps them consistent after
            # a power loss at this level too (the last batches are then simply processed again).
            self._conn.execute("PRAGMA synchronous=NORMAL")
            # Views never hold personal data (the erasure guarantee does not rest on zeroing
            # their pages), and zeroing every page a rebuild's swap frees took seconds.
            self._conn.execute("PRAGMA secure_delete=OFF")
        with self.transaction() as cur:
            self.serialise_schema_changes(cur)
            if self.is_postgres and self.schema != settings.database_schema:
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            for statement in _BOOKKEEPING:
                cur.execute(statement)

    def claim(self, owner: str) -> None:
        """Views are fed either straight from the ledger or by one consumer group, never both:
        each keeps its progress its own way, and two feeders would count facts twice."""
        with self.transaction() as cur:
            # Two processes starting together may both find no owner: the first insert wins,
            # the other's does nothing, and both then read who owns the views.
            cur.execute(
                self.sql("INSERT INTO view_owner VALUES ('views', ?) ON CONFLICT DO NOTHING"),
                (owner,),
            )
            cur.execute("SELECT owner FROM view_owner WHERE name = 'views'")
            found = cur.fetchone()
            if found[0] != owner:
                where = self.schema or self.path
                raise ViewsKeptElsewhere(
                    f"the views in {where} are kept by {found[0]}, not {owner}"
                )

    def serialise_schema_changes(self, cur: Any) -> None:
        """Processes starting together must not create the same tables at once: PostgreSQL
        would refuse the second ``CREATE ... IF NOT EXISTS`` (SQLite's write lock does this)."""
        if self.is_postgres:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"rapport:{self.schema}",))

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def rebuilding(self) -> Iterator[None]:
        """Faster, less careful writes while every view is rebuilt from scratch.

        On SQLite, no fsync and a large page cache: a rebuild cut short by a power loss is simply
        run again. PostgreSQL keeps its settings.
        """
        if self.is_postgres:
            yield
            return
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute("PRAGMA cache_size=-262144")
        try:
            yield
        finally:
            self._conn.execute("PRAGMA synchronous=NORMAL")

    def __enter__(self) -> ViewStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- SQL plumbing -------------------------------------------------------------------------

    def sql(self, statement: str) -> str:
        """Statements are written with ``?`` placeholders; psycopg wants ``%s``."""
        return statement.replace("?", "%s") if self.is_postgres else statement

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        if self.is_postgres:
            with self._conn.transaction(), self._conn.cursor() as cur:
                yield cur
            return
        cur = self._conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            self._conn.rollback()
            raise
        else:
            self._conn.commit()
        finally:
            cur.close()

    @contextmanager
    def reading(self) -> Iterator[Any]:
        """A cursor whose statements (``?`` placeholders, as ``sql`` makes them) all see one
        snapshot of the views: rows and positions that belong together."""
        if self.is_postgres:
            with self._conn.transaction(), self._conn.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield cur
            return
        cur = self._conn.cursor()
        cur.execute("BEGIN")
        try:
            yield cur
        finally:
            self._conn.rollback()
            cur.close()

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.is_postgres:
            with self._conn.cursor() as cur:
                cur.execute(self.sql(statement), params)
                rows = [tuple(row) for row in cur.fetchall()]
            self._conn.rollback()
            return rows
        return list(self._conn.execute(statement, params).fetchall())

    # --- projections ------------------------------------------------------------------------

    def create(self, projection: Projection) -> None:
        with self.transaction() as cur:
            self.serialise_schema_changes(cur)
            for table in projection.tables:
                for statement in _create_statements(table):
                    cur.execute(statement)
            cur.execute(
                self.sql(
                    "INSERT INTO view_positions VALUES (?, ?, 0)"
                    " ON CONFLICT (projection) DO NOTHING"
                ),
                (projection.name, projection.version),
            )

    def drop(self, projection: Projection) -> None:
        with self.transaction() as cur:
            for table in projection.tables:
                cur.execute(f"DROP TABLE IF EXISTS {table.name}")
            for bookkeeping in ("view_states", "view_positions"):
                cur.execute(
                    self.sql(f"DELETE FROM {bookkeeping} WHERE projection = ?"), (projection.name,)
                )

    # --- set-based rebuilds: built aside, swapped in whole ------------------------------------

    def stage(self, projection: Projection) -> None:
        """Empty tables beside the projection's own (``<table>__next``; left over from a rebuild
        that died, they are dropped first), for a rebuild to fill while readers see the old."""
        with self.transaction() as cur:
            self.serialise_schema_changes(cur)
            for table in projection.tables:
                cur.execute(f"DROP TABLE IF EXISTS {_next(table.name)}")
                staged = Table(_next(table.name), table.columns, table.key)
                for statement in _create_statements(staged):
                    cur.execute(statement)

    def fill(self, table: Table, rows: Iterable[Sequence[Any]]) -> int:
        """Append rows (every column, in order) to a staged table; returns how many."""
        name = _next(table.name)
        count = 0
        if self.is_postgres:
            copying = f"COPY {name} ({', '.join(table.column_names)}) FROM STDIN"
            with self.transaction() as cur, cur.copy(copying) as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        insert = f"INSERT INTO {name} VALUES ({', '.join('?' * len(table.columns))})"
        with self.transaction() as cur:
            for chunk in _chunks(rows, 50_000):
                cur.executemany(insert, chunk)
                count += len(chunk)
        return count

    def unstage(self, projections: Sequence[Projection]) -> None:
        """Drop the staged tables of a rebuild that will not be swapped in."""
        self.retire([_next(table.name) for p in projections for table in p.tables])

    def index_staged(self, projection: Projection) -> None:
        """On PostgreSQL, the staged tables' secondary indexes, built once they are filled, so
        the swap only renames them (SQLite builds them in the swap: its readers keep reading
        the last commit meanwhile)."""
        if not self.is_postgres:
            return
        with self.transaction() as cur:
            for table in projection.tables:
                for statement in _index_statements(table, suffix=_NEXT):
                    cur.execute(statement)

    def swap(
        self,
        projections: Sequence[Projection],
        position: int,
        *,
        also: Callable[[Any], None] | None = None,
    ) -> None:
        """Put the staged tables in place of the projections' own, with their position, in one
        transaction: readers see the old views or the new ones, never a mix; a crash before
        the commit leaves the old ones. ``also(cursor)`` writes first in the same transaction
        (a consumer group's offsets); if it raises, nothing is swapped."""
        with self.transaction() as cur:
            self.serialise_schema_changes(cur)
            if also is not None:
                also(cur)
            for projection in projections:
                for table in projection.tables:
                    cur.execute(f"DROP TABLE IF EXISTS {table.name}")
                    cur.execute(f"ALTER TABLE {_next(table.name)} RENAME TO {table.name}")
                    if self.is_postgres:
                        cur.execute(
                            f"ALTER INDEX {_next(table.name)}_pkey RENAME TO {table.name}_pkey"
                        )
                        for index in table.indexes:
                            name = _index_name(table.name, index)
                            cur.execute(f"ALTER INDEX {name}{_NEXT} RENAME TO {name}")
                    else:
                        for statement in _index_statements(table):
                            cur.execute(statement)
                cur.execute(
                    self.sql("DELETE FROM view_states WHERE projection = ?"), (projection.name,)
                )
                cur.execute(
                    self.sql(
                        "INSERT INTO view_positions VALUES (?, ?, ?) ON CONFLICT (projection)"
                        " DO UPDATE SET version = excluded.version, position = excluded.position"
                    ),
                    (projection.name, projection.version, position),
                )

    def retire(self, tables: Sequence[str]) -> None:
        """Drop tables an earlier version kept and this one does not."""
        with self.transaction() as cur:
            self.serialise_schema_changes(cur)
            for name in tables:
                cur.execute(f"DROP TABLE IF EXISTS {name}")

    def position(self, projection: Projection) -> tuple[int, int] | None:
        """(version, position) of what the projection has processed, or None if never built."""
        rows = self.query(
            "SELECT version, position FROM view_positions WHERE projection = ?", (projection.name,)
        )
        return (int(rows[0][0]), int(rows[0][1])) if rows else None

    def load_states(self, projection: Projection, candidates: Iterable[str]) -> dict[str, State]:
        wanted = list(candidates)
        found: dict[str, State] = {}
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            rows = self.query(
                "SELECT candidate_id, state FROM view_states WHERE projection = ?"
                f" AND candidate_id IN ({','.join('?' * len(chunk))})",
                (projection.name, *chunk),
            )
            found.update((cid, orjson.loads(state)) for cid, state in rows)
        return found

    def commit(
        self,
        projection: Projection,
        after: int,
        position: int,
        states: dict[str, State],
        rows: list[Upsert],
    ) -> None:
        """The rows, the changed states and the new position: all or nothing.

        ``after`` is the position the batch continues from; if another follower moved the view
        meanwhile, nothing is written and ``ViewMoved`` is raised (the caller reloads).
        """
        with self.transaction() as cur:
            self.write(cur, projection, states, rows)
            cur.execute(
                self.sql(
                    "UPDATE view_positions SET position = ? WHERE projection = ? AND position = ?"
                ),
                (position, projection.name, after),
            )
            if cur.rowcount != 1:
                raise ViewMoved(f"{projection.name} was updated by another follower")

    def write(
        self, cur: Any, projection: Projection, states: dict[str, State], rows: list[Upsert]
    ) -> None:
        """A batch's rows and changed states, inside the caller's transaction."""
        tables = {table.name: table for table in projection.tables}
        for name, values in last_versions(rows, projection.tables).items():
            cur.executemany(self.sql(_upsert_statement(tables[name])), values)
        if states:
            cur.executemany(
                self.sql(
                    "INSERT INTO view_states VALUES (?, ?, ?) ON CONFLICT (projection,"
                    " candidate_id) DO UPDATE SET state = excluded.state"
                ),
                [
                    (projection.name, cid, orjson.dumps(state).decode())
                    for cid, state in states.items()
                ],
            )


def last_versions(
    rows: Iterable[Upsert], tables: Iterable[Table]
) -> dict[str, list[tuple[Any, ...]]]:
    """Each row's last version among ``rows``, per table, as tuples in column order: only
    those need writing."""
    layout = {t.name: (t.column_names, t.key) for t in tables}
    latest: dict[str, dict[tuple[Any, ...], tuple[Any, ...]]] = defaultdict(dict)
    for upsert in rows:
        columns, key = layout[upsert.table]
        row = upsert.row
        latest[upsert.table][tuple([row[k] for k in key])] = tuple([row[c] for c in columns])
    return {name: list(found.values()) for name, found in latest.items()}


_NEXT = "__next"


def _next(name: str) -> str:
    return f"{name}{_NEXT}"


def _chunks(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    chunk: list[Sequence[Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _create_statements(table: Table) -> list[str]:
    columns = ", ".join(f"{c.name} {c.type}" for c in table.columns)
    key = ", ".join(table.key)
    return [
        f"CREATE TABLE IF NOT EXISTS {table.name} ({columns}, PRIMARY KEY ({key}))",
        *_index_statements(table),
    ]


def _index_name(table: str, index: tuple[str, ...]) -> str:
    return f"{table}_{'_'.join(index)}"


def _index_statements(table: Table, suffix: str = "") -> list[str]:
    """The table's secondary indexes; with ``suffix``, on its staged copy, named to be renamed."""
    return [
        f"CREATE INDEX IF NOT EXISTS {_index_name(table.name, index)}{suffix}"
        f" ON {table.name}{suffix} ({', '.join(index)})"
        for index in table.indexes
    ]


def _upsert_statement(table: Table) -> str:
    columns = table.column_names
    updates = [c for c in columns if c not in table.key]
    statement = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        f" ON CONFLICT ({', '.join(table.key)})"
    )
    if not updates:
        return statement + " DO NOTHING"
    return statement + " DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in updates)
