"""The ledger's SQLite recorder: the library's, plus the rows that live beside each event.

In the same transaction as the events it writes their deduplication keys (so the store's
primary key, not a check in memory, guarantees a CRM record is never counted twice), the new
candidates' sealing keys, the hash-chain links, and each erasure (which deletes the key).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import Environment, EnvType, OperationalError, StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteFactory,
    SQLiteTransaction,
)

from infra.store.chain import GENESIS, LinkRow, SealedRow, links_for
from infra.store.recorder import (
    ErasureRow,
    InboundAdvance,
    InboundMoved,
    KeyedFrom,
    KeyRow,
    LedgerRecorder,
    Lookup,
    RefusalCount,
    RefusalRow,
    StoredRow,
    dashed,
    first_versions,
    idempotency_keys,
)

_CHUNK = 500


class _WaitingForWal(SQLiteConnectionPool):
    """The library's pool, waiting its turn to put a new database file in WAL mode.

    SQLite switches a file to WAL without calling its busy handler: a process opening a ledger
    that another process was creating at that moment failed at once ("database is locked")."""

    def _create_connection(self) -> SQLiteConnection:
        deadline = time.monotonic() + (self.lock_timeout or 5)
        while True:
            try:
                return super()._create_connection()
            except sqlite3.OperationalError as busy:
                if "locked" not in str(busy) or time.monotonic() > deadline:
                    raise OperationalError(busy) from busy
                time.sleep(0.02)


class SQLiteLedgerFactory(SQLiteFactory):
    """The library's SQLite factory (``PERSISTENCE_MODULE``), with the pool above."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        pool = self.datastore.pool  # no connection made yet
        self.datastore.pool = _WaitingForWal(db_name=pool.db_name, lock_timeout=pool.lock_timeout)


class _ImmediateTransaction(SQLiteTransaction):
    """A write transaction that holds SQLite's write lock from ``BEGIN``.

    The library's ``BEGIN`` is deferred: a transaction that reads before it writes cannot
    wait for the lock when another process wrote in between (its snapshot is stale), and
    fails at once with "database is locked". Two processes opening one new ledger did.
    """

    def __init__(self, connection: SQLiteConnection) -> None:
        super().__init__(connection, commit=True)

    def __enter__(self) -> SQLiteCursor:
        cursor = self.connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")  # waits up to SQLITE_LOCK_TIMEOUT for the lock
        except sqlite3.OperationalError as busy:
            raise OperationalError(busy) from busy
        return cursor


class SQLiteLedgerRecorder(LedgerRecorder, SQLiteApplicationRecorder):
    @contextmanager
    def _reading_then_writing(self) -> Iterator[SQLiteCursor]:
        with (
            self.datastore.get_connection(commit=True) as connection,
            _ImmediateTransaction(connection) as cursor,
            cursor,
        ):
            yield cursor

    def create_table(self) -> None:
        """Create what is missing under the write lock (a ledger from an older version gains
        tables while another process may be opening it too)."""
        with self._reading_then_writing() as c:
            self._create_table(c)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS touchpoint_keys ("
            "key TEXT PRIMARY KEY, originator_id TEXT NOT NULL, "
            "originator_version INTEGER NOT NULL) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS candidate_keys ("
            "originator_id TEXT PRIMARY KEY, key BLOB NOT NULL) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS ledger_chain ("
            "position INTEGER PRIMARY KEY, originator_id TEXT NOT NULL, "
            "originator_version INTEGER NOT NULL, candidate_link BLOB NOT NULL, "
            "ledger_link BLOB NOT NULL)",
            "CREATE TABLE IF NOT EXISTS erasures ("
            "originator_id TEXT PRIMARY KEY, originator_version INTEGER NOT NULL, "
            "reason TEXT NOT NULL, erased_at TEXT NOT NULL, scrubbed_at TEXT) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS refused_touchpoints ("
            "dedupe_key TEXT NOT NULL, code TEXT NOT NULL, candidate TEXT NOT NULL, "
            "type TEXT NOT NULL, field TEXT NOT NULL, occurred_at TEXT NOT NULL, "
            "message TEXT NOT NULL, source TEXT NOT NULL, attempts INTEGER NOT NULL, "
            "first_refused_at TEXT NOT NULL, last_refused_at TEXT NOT NULL, "
            "PRIMARY KEY (dedupe_key, code)) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS inbound_offsets (topic TEXT NOT NULL,"
            " partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,"
            " PRIMARY KEY (topic, partition)) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS ledger_chain_keyed (id INTEGER PRIMARY KEY"
            " CHECK (id = 1), keyed_from INTEGER NOT NULL, key_id TEXT NOT NULL,"
            " seal BLOB NOT NULL)",
        ]

    # --- the chain's key ------------------------------------------------------------------------

    def chain_keyed(self) -> KeyedFrom | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT keyed_from, key_id, seal FROM ledger_chain_keyed")
            found = c.fetchone()
        return KeyedFrom(found[0], found[1], bytes(found[2])) if found else None

    def key_chain(self, key_id: str, seal: Callable[[int], bytes]) -> KeyedFrom:
        """Links are keyed from the next position on (unless another process did it first)."""
        with self._reading_then_writing() as c:
            c.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM ledger_chain")
            keyed_from = int(c.fetchone()[0])
            c.execute(
                "INSERT OR IGNORE INTO ledger_chain_keyed VALUES (1, ?, ?, ?)",
                (keyed_from, key_id, seal(keyed_from)),
            )
        found = self.chain_keyed()
        assert found is not None
        return found

    def ledger_link_at(self, position: int) -> bytes | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT ledger_link FROM ledger_chain WHERE position = ?", (position,))
            found = c.fetchone()
        return bytes(found[0]) if found else None

    def chain_head(self) -> tuple[int, bytes] | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT position, ledger_link FROM ledger_chain ORDER BY position DESC LIMIT 1"
            )
            found = c.fetchone()
        return (int(found[0]), bytes(found[1])) if found else None

    # --- writing ------------------------------------------------------------------------------

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        *,
        touchpoint_keys: Sequence[KeyRow] = (),
        candidate_keys: Sequence[tuple[UUID, bytes]] = (),
        erasures: Sequence[ErasureRow] = (),
        inbound: Sequence[InboundAdvance] = (),
        fingerprints: Sequence[bytes] | None = None,
        **_: Any,
    ) -> Sequence[int] | None:
        if not stored_events:  # nothing to store or chain (and no maximum id yet to count from)
            _advance(c, inbound)
            return []
        c.executemany(
            self.insert_events_statement,
            [
                (cast("UUID", s.originator_id).hex, s.originator_version, s.topic, s.state)
                for s in stored_events
            ],
        )
        if touchpoint_keys:  # in key order: a bulk import's inserts then walk the B-tree once
            c.executemany(
                "INSERT INTO touchpoint_keys VALUES (?, ?, ?)",
                sorted((key, cid.hex, version) for key, cid, version in touchpoint_keys),
            )
        # We hold SQLite's write lock and never delete events, so the rows just inserted
        # took the rowids right below the new maximum.
        c.execute(self.select_max_notification_id_statement)
        last = c.fetchone()[0]
        positions = list(range(last - len(stored_events) + 1, last + 1))
        self._chain(c, stored_events, positions, fingerprints)
        if candidate_keys:
            c.executemany(
                "INSERT INTO candidate_keys VALUES (?, ?)",
                [(cid.hex, key) for cid, key in candidate_keys],
            )
        for erasure in erasures:
            c.execute("PRAGMA secure_delete = ON")  # the key's bytes are zeroed, not unlinked
            c.execute(
                "DELETE FROM candidate_keys WHERE originator_id = ?", (erasure.candidate_id.hex,)
            )
            c.execute(
                "INSERT INTO erasures VALUES (?, ?, ?, ?, NULL)",
                (erasure.candidate_id.hex, erasure.version, erasure.reason, erasure.erased_at),
            )
        _advance(c, inbound)
        return positions

    def advance_inbound(self, advances: Sequence[InboundAdvance]) -> None:
        with self.datastore.transaction(commit=True) as c:
            _advance(c, advances)

    def inbound_offsets(self, topic: str) -> dict[int, int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT partition, next_offset FROM inbound_offsets WHERE topic = ?", (topic,)
            )
            return {int(row[0]): int(row[1]) for row in c.fetchall()}

    def _chain(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        positions: list[int],
        fingerprints: Sequence[bytes] | None,
    ) -> None:
        rows = [
            SealedRow(p, cast("UUID", s.originator_id).hex, s.originator_version, s.topic, s.state)
            for p, s in zip(positions, stored_events, strict=True)
        ]
        previous_of: dict[str, bytes] = {}
        for cid, version in first_versions(rows).items():
            if version > 1:
                c.execute(
                    f"SELECT l.candidate_link FROM {self.events_table_name} e"
                    " JOIN ledger_chain l ON l.position = e.rowid"
                    " WHERE e.originator_id = ? AND e.originator_version = ?",
                    (cid, version - 1),
                )
                found = c.fetchone()
                previous_of[cid] = found[0] if found else GENESIS
        c.execute("SELECT ledger_link FROM ledger_chain ORDER BY position DESC LIMIT 1")
        found = c.fetchone()
        links = links_for(
            rows, found[0] if found else GENESIS, previous_of, self.keyed(), fingerprints
        )
        c.executemany("INSERT INTO ledger_chain VALUES (?, ?, ?, ?, ?)", links)
        self.head = (links[-1].position, links[-1].ledger_link)

    def note_refusals(self, refusals: Sequence[RefusalRow], at: str) -> None:
        """Count each refused touchpoint once per reason, however often it is sent again."""
        with self.datastore.transaction(commit=True) as c:
            c.executemany(
                "INSERT INTO refused_touchpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)"
                " ON CONFLICT (dedupe_key, code) DO UPDATE SET attempts = attempts + 1,"
                " last_refused_at = excluded.last_refused_at",
                [refusal.row(at) for refusal in refusals],
            )

    def scrub(self, erased: Sequence[UUID], at: str) -> None:
        """Empty the write-ahead log, which may still hold pages with the destroyed keys."""
        with self.datastore.get_connection(commit=True) as connection:
            cursor = connection.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            busy = cursor.fetchone()[0]
        if busy:
            return  # a reader holds the log; the next scrub (any later erasure or open) retries
        with self.datastore.transaction(commit=True) as c:
            c.executemany(
                "UPDATE erasures SET scrubbed_at = ? WHERE originator_id = ?",
                [(at, cid.hex) for cid in erased],
            )

    # --- reading ------------------------------------------------------------------------------

    def read_stored(self, start: int, limit: int, stop: int | None = None) -> list[StoredRow]:
        """Events from position ``start`` as plain rows: no UUID objects, no notification objects
        (a rebuild reads every event, and those cost more than the JSON decoding)."""
        statement = (
            f"SELECT rowid, originator_id, originator_version, state FROM {self.events_table_name}"
            " WHERE rowid >= ? AND rowid <= ? ORDER BY rowid LIMIT ?"
        )
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, (start, stop if stop is not None else 2**62, limit))
            return [StoredRow(r[0], dashed(r[1]), r[2], r[3]) for r in c.fetchall()]

    def read_raw(self, start: int, limit: int, stop: int) -> list[tuple[int, str, int, bytes]]:
        statement = (
            f"SELECT rowid, originator_id, originator_version, state FROM {self.events_table_name}"
            " WHERE rowid >= ? AND rowid <= ? ORDER BY rowid LIMIT ?"
        )
        with self.datastore.transaction(commit=False) as c:
            # Plain tuples, not the library's ``sqlite3.Row``s: cheaper to make, and what a
            # bulk rebuild hands to Arrow in one pass.
            c.sqlite_cursor.row_factory = None
            c.execute(statement, (start, stop, limit))
            return cast(list[tuple[int, str, int, bytes]], c.fetchall())

    def read_stored_of(self, candidates: Sequence[str], stop: int) -> list[StoredRow]:
        rows: list[StoredRow] = []
        with self.datastore.transaction(commit=False) as c:
            for i in range(0, len(candidates), 500):
                chunk = [cid.replace("-", "") for cid in candidates[i : i + 500]]
                c.execute(
                    "SELECT rowid, originator_id, originator_version, state"
                    f" FROM {self.events_table_name} WHERE originator_id IN"
                    f" ({','.join('?' * len(chunk))}) AND rowid <= ?",
                    (*chunk, stop),
                )
                rows.extend(StoredRow(r[0], dashed(r[1]), r[2], r[3]) for r in c.fetchall())
        rows.sort()
        return rows

    def candidates_between(self, after: int, until: int) -> list[str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT DISTINCT originator_id FROM {self.events_table_name}"
                " WHERE rowid > ? AND rowid <= ?",
                (after, until),
            )
            return [dashed(row[0]) for row in c.fetchall()]

    def type_counts(self, after: int, until: int) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT coalesce(json_extract(CAST(state AS TEXT), '$.touchpoint.type'),"
                " json_extract(CAST(state AS TEXT), '$.fact.type')), COUNT(*)"
                f" FROM {self.events_table_name} WHERE rowid > ? AND rowid <= ? GROUP BY 1",
                (after, until),
            )
            return {str(kind): int(count) for kind, count in c.fetchall()}

    def lookup(self, keys: Iterable[str], candidates: Iterable[UUID]) -> Lookup:
        """Which keys are recorded, the candidates' histories and keys: one read transaction,
        so one snapshot of the write-ahead log."""
        wanted = [i.hex for i in candidates]
        with self.datastore.transaction(commit=False) as c:
            found_keys = {
                row[0]
                for row in _select_in(c, "SELECT key FROM touchpoint_keys WHERE key IN", keys)
            }
            rows = _select_in(
                c,
                "SELECT originator_id, originator_version, topic, state"
                f" FROM {self.events_table_name} WHERE originator_id IN",
                wanted,
            )
            sealing = _select_in(
                c, "SELECT originator_id, key FROM candidate_keys WHERE originator_id IN", wanted
            )
            keyed = _select_in(
                c,
                "SELECT k.key, e.originator_id, e.originator_version, e.topic, e.state"
                f" FROM touchpoint_keys k JOIN {self.events_table_name} e"
                " ON e.originator_id = k.originator_id"
                " AND e.originator_version = k.originator_version WHERE k.key IN",
                idempotency_keys(found_keys),
            )
        histories: dict[UUID, list[StoredEvent]] = {}
        for row in sorted(rows, key=lambda r: (r[0], r[1])):
            cid = UUID(row[0])
            histories.setdefault(cid, []).append(StoredEvent(cid, row[1], row[2], row[3]))
        return Lookup(
            found_keys,
            histories,
            {UUID(row[0]): row[1] for row in sealing},
            {row[0]: StoredEvent(UUID(row[1]), row[2], row[3], row[4]) for row in keyed},
        )

    def candidate_key(self, candidate: UUID) -> bytes | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT key FROM candidate_keys WHERE originator_id = ?", (candidate.hex,))
            found = c.fetchone()
        return found[0] if found else None

    def sealed_rows(self, start: int, limit: int) -> list[SealedRow]:
        return self._sealed(" WHERE rowid >= ? ORDER BY rowid LIMIT ?", (start, limit))

    def sealed_rows_of(self, candidate: UUID) -> list[SealedRow]:
        return self._sealed(
            " WHERE originator_id = ? ORDER BY originator_version", (candidate.hex,)
        )

    def _sealed(self, where: str, params: tuple[Any, ...]) -> list[SealedRow]:
        statement = (
            "SELECT rowid, originator_id, originator_version, topic, state"
            f" FROM {self.events_table_name}{where}"
        )
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, params)
            return [SealedRow(*row) for row in c.fetchall()]

    def link_rows(self, start: int, limit: int) -> list[LinkRow]:
        return self._links(" WHERE position >= ? ORDER BY position LIMIT ?", (start, limit))

    def link_rows_of(self, candidate: UUID) -> list[LinkRow]:
        return self._links(" WHERE originator_id = ? ORDER BY position", (candidate.hex,))

    def _links(self, where: str, params: tuple[Any, ...]) -> list[LinkRow]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT * FROM ledger_chain{where}", params)
            return [LinkRow(*row) for row in c.fetchall()]

    def refusals(self, candidate: str | None = None) -> list[RefusalCount]:
        where, params = (" WHERE candidate = ?", (candidate,)) if candidate else ("", ())
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT code, candidate, type, occurred_at, message, attempts, first_refused_at,"
                f" last_refused_at, source FROM refused_touchpoints{where}"
                " ORDER BY first_refused_at, candidate, occurred_at",
                params,
            )
            return [RefusalCount(*row) for row in c.fetchall()]

    def erasures(self, candidate: UUID | None = None) -> list[ErasureRow]:
        where, params = (" WHERE originator_id = ?", (candidate.hex,)) if candidate else ("", ())
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT * FROM erasures{where} ORDER BY erased_at", params)
            return [
                ErasureRow(UUID(row[0]), row[1], row[2], row[3], row[4]) for row in c.fetchall()
            ]


def _advance(c: SQLiteCursor, advances: Sequence[InboundAdvance]) -> None:
    for advance in advances:
        c.execute(
            "INSERT INTO inbound_offsets VALUES (?, ?, ?) ON CONFLICT (topic, partition)"
            " DO UPDATE SET next_offset = excluded.next_offset"
            " WHERE inbound_offsets.next_offset = ?",
            (advance.topic, advance.partition, advance.next_offset, advance.expected),
        )
        c.execute("SELECT changes()")
        if c.fetchone()[0] != 1:
            raise InboundMoved(
                f"{advance.topic}[{advance.partition}] moved past {advance.expected}"
            )


def _select_in(c: SQLiteCursor, statement: str, values: Iterable[str]) -> list[Any]:
    rows: list[Any] = []
    wanted = list(values)
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        c.execute(f"{statement} ({','.join('?' * len(chunk))})", chunk)
        rows.extend(c.fetchall())
    return rows
