"""How the ledger's events are stored: pydantic + orjson, and a key table for deduplication.

The ``eventsourcing`` library does the event storage. Two things are added here:

* a mapper that lets pydantic serialise and rebuild events (no transcodings to register);
* recorders that write every touchpoint's deduplication key into ``touchpoint_keys`` in the
  same transaction as the events, so the store itself (a primary key), not a check in memory,
  guarantees that a CRM record is never counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, NamedTuple, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder, Transcoding
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import get_topic, resolve_topic
from pydantic import BaseModel

KeyRow = tuple[str, UUID, int]
"""(deduplication key, candidate id, version of the event that carries it)."""


class StoredRow(NamedTuple):
    position: int
    candidate_id: str
    version: int
    state: bytes


class Lookup(NamedTuple):
    recorded_keys: set[str]
    registered_candidates: set[UUID]


_IDS_NOT_STORED = {"originator_id": True, "originator_version": True}
_KEY_LOOKUP_CHUNK = 500


class OrjsonTranscoder(Transcoder):
    """Plain JSON: pydantic already turned every value into something JSON can hold."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)

    def register(self, transcoding: Transcoding) -> None:
        raise NotImplementedError("events are pydantic models: no transcodings to register")


@cache
def _event_class(topic: str) -> type[BaseModel]:
    return cast("type[BaseModel]", resolve_topic(topic))


class PydanticMapper(Mapper[UUID]):
    """Stores an event's own JSON (its id and version already live in their own columns)."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        event = cast("BaseModel", domain_event)
        state = event.__pydantic_serializer__.to_json(event, exclude=_IDS_NOT_STORED)
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(event)),
            state=state,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        state = stored_event.state
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        data = self.transcoder.decode(state)
        data["originator_id"] = stored_event.originator_id
        data["originator_version"] = stored_event.originator_version
        return _event_class(stored_event.topic).model_validate(data)


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, inserting in bulk and recording deduplication keys."""

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS touchpoint_keys ("
            "key TEXT PRIMARY KEY, originator_id TEXT NOT NULL, "
            "originator_version INTEGER NOT NULL) WITHOUT ROWID",
        ]

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        *,
        touchpoint_keys: Sequence[KeyRow] = (),
        **_: Any,
    ) -> Sequence[int] | None:
        c.executemany(
            self.insert_events_statement,
            [
                (cast("UUID", s.originator_id).hex, s.originator_version, s.topic, s.state)
                for s in stored_events
            ],
        )
        if touchpoint_keys:
            c.executemany(
                "INSERT INTO touchpoint_keys VALUES (?, ?, ?)",
                [(key, cid.hex, version) for key, cid, version in touchpoint_keys],
            )
        # We hold SQLite's write lock and never delete events, so the rows just inserted
        # took the rowids right below the new maximum.
        c.execute(self.select_max_notification_id_statement)
        last = c.fetchone()[0]
        return list(range(last - len(stored_events) + 1, last + 1))

    def read_stored(self, start: int, limit: int, stop: int | None = None) -> list[StoredRow]:
        """Events from position ``start`` as plain rows: no UUID objects, no notification objects
        (a rebuild reads every event, and those cost more than the JSON decoding)."""
        statement = (
            f"SELECT rowid, originator_id, originator_version, state FROM {self.events_table_name}"
            " WHERE rowid >= ? AND rowid <= ? ORDER BY rowid LIMIT ?"
        )
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, (start, stop if stop is not None else 2**62, limit))
            return [StoredRow(r[0], _dashed(r[1]), r[2], r[3]) for r in c.fetchall()]

    def lookup(self, keys: Iterable[str], candidates: Iterable[UUID]) -> Lookup:
        """Which keys are already recorded, and which candidates are registered (one read)."""
        with self.datastore.transaction(commit=False) as c:
            found_keys = {
                row[0]
                for row in _select_in(c, "SELECT key FROM touchpoint_keys WHERE key IN", keys)
            }
            rows = _select_in(
                c,
                f"SELECT originator_id FROM {self.events_table_name}"
                " WHERE originator_version = 1 AND originator_id IN",
                (i.hex for i in candidates),
            )
        return Lookup(found_keys, {UUID(row[0]) for row in rows})


def _dashed(hex_id: str) -> str:
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"


def _select_in(c: SQLiteCursor, statement: str, values: Iterable[str]) -> list[Any]:
    rows: list[Any] = []
    wanted = list(values)
    for i in range(0, len(wanted), _KEY_LOOKUP_CHUNK):
        chunk = wanted[i : i + _KEY_LOOKUP_CHUNK]
        c.execute(f"{statement} ({','.join('?' * len(chunk))})", chunk)
        rows.extend(c.fetchall())
    return rows


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    """The library's PostgreSQL recorder, recording deduplication keys in the same transaction."""

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        from psycopg.sql import SQL, Identifier

        self.keys_table = Identifier(self.datastore.schema, f"{self.events_table_name}_keys")
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (key text PRIMARY KEY, "
                "originator_id uuid NOT NULL, originator_version bigint NOT NULL)"
            ).format(self.keys_table)
        )
        self._insert_keys = SQL(
            "INSERT INTO {0} SELECT * FROM unnest(%s::text[], %s::uuid[], %s::bigint[])"
        ).format(self.keys_table)
        self._select_keys = SQL("SELECT key FROM {0} WHERE key = ANY(%s)").format(self.keys_table)
        self._select_candidates = SQL(
            "SELECT originator_id FROM {0} WHERE originator_version = 1 AND originator_id = ANY(%s)"
        ).format(Identifier(self.datastore.schema, self.events_table_name))

    def _insert_events(
        self,
        curs: Any,
        stored_events: Sequence[StoredEvent],
        *,
        touchpoint_keys: Sequence[KeyRow] = (),
        **_: Any,
    ) -> None:
        if touchpoint_keys:
            keys, candidates, versions = zip(*touchpoint_keys, strict=True)
            curs.execute(self._insert_keys, (list(keys), list(candidates), list(versions)))

    def read_stored(self, start: int, limit: int, stop: int | None = None) -> list[StoredRow]:
        return [
            StoredRow(n.id, str(n.originator_id), n.originator_version, n.state)
            for n in self.select_notifications(start, limit, stop)
        ]

    def lookup(self, keys: Iterable[str], candidates: Iterable[UUID]) -> Lookup:
        """Which keys are already recorded, and which candidates are registered (one read)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_keys, (list(keys),))
            found_keys = {row["key"] for row in curs.fetchall()}
            curs.execute(self._select_candidates, (list(candidates),))
            return Lookup(found_keys, {row["originator_id"] for row in curs.fetchall()})
