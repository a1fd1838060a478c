"""The ledger's PostgreSQL recorder: the library's, plus the rows that live beside each event.

The library serialises writers with an exclusive lock on the events table, so the hash chain's
previous ledger link is read and extended inside that lock, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

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
    first_versions,
    idempotency_keys,
)


class PostgresLedgerRecorder(LedgerRecorder, PostgresApplicationRecorder):
    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        schema, events = self.datastore.schema, self.events_table_name
        self.events_table = Identifier(schema, events)
        self.keys_table = Identifier(schema, f"{events}_keys")
        self.sealing_table = Identifier(schema, f"{events}_candidate_keys")
        self.chain_table = Identifier(schema, f"{events}_chain")
        self.erasures_table = Identifier(schema, f"{events}_erasures")
        self.refusals_table = Identifier(schema, f"{events}_refusals")
        self.inbound_table = Identifier(schema, f"{events}_inbound_offsets")
        self.keyed_table = Identifier(schema, f"{events}_chain_keyed")
        for statement in (
            "CREATE TABLE IF NOT EXISTS {keys} (key text PRIMARY KEY, "
            "originator_id uuid NOT NULL, originator_version bigint NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {sealing} (originator_id uuid PRIMARY KEY, "
            "key bytea NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {chain} (position bigint PRIMARY KEY, "
            "originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
            "candidate_link bytea NOT NULL, ledger_link bytea NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {erasures} (originator_id uuid PRIMARY KEY, "
            "originator_version bigint NOT NULL, reason text NOT NULL, "
            "erased_at timestamptz NOT NULL, scrubbed_at timestamptz)",
            "CREATE TABLE IF NOT EXISTS {refusals} (dedupe_key text NOT NULL, "
            "code text NOT NULL, candidate text NOT NULL, type text NOT NULL, "
            "field text NOT NULL, occurred_at text NOT NULL, message text NOT NULL, "
            "source text NOT NULL, attempts bigint NOT NULL, "
            "first_refused_at timestamptz NOT NULL, last_refused_at timestamptz NOT NULL, "
            "PRIMARY KEY (dedupe_key, code))",
            "CREATE TABLE IF NOT EXISTS {inbound} (topic text NOT NULL, partition int NOT NULL,"
            " next_offset bigint NOT NULL, PRIMARY KEY (topic, partition))",
            "CREATE TABLE IF NOT EXISTS {keyed} (id int PRIMARY KEY CHECK (id = 1),"
            " keyed_from bigint NOT NULL, key_id text NOT NULL, seal bytea NOT NULL)",
        ):
            self.sql_create_statements.append(self._sql(statement))

    def create_table(self) -> None:
        """Processes starting together take turns: PostgreSQL refuses concurrent ``CREATE OR
        REPLACE FUNCTION``s of the same function ("tuple concurrently updated")."""
        with self.datastore.get_connection() as connection:
            key = f"rapport-ledger:{self.datastore.schema}"
            connection.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
            try:
                super().create_table()
            finally:
                connection.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))

    # --- the chain's key ------------------------------------------------------------------------

    def chain_keyed(self) -> KeyedFrom | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._sql("SELECT keyed_from, key_id, seal FROM {keyed}"))
            found = curs.fetchone()
        if not found:
            return None
        return KeyedFrom(found["keyed_from"], found["key_id"], bytes(found["seal"]))

    def key_chain(self, key_id: str, seal: Callable[[int], bytes]) -> KeyedFrom:
        """Links are keyed from the next position on (unless another process did it first).

        Inside the events table's lock, as writers take it: no event is chained meanwhile."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._sql("LOCK TABLE {events} IN EXCLUSIVE MODE"))
            curs.execute(self._sql("SELECT COALESCE(MAX(position), 0) + 1 AS next FROM {chain}"))
            keyed_from = int(curs.fetchone()["next"])
            curs.execute(
                self._sql("INSERT INTO {keyed} VALUES (1, %s, %s, %s) ON CONFLICT DO NOTHING"),
                (keyed_from, key_id, seal(keyed_from)),
            )
        found = self.chain_keyed()
        assert found is not None
        return found

    def ledger_link_at(self, position: int) -> bytes | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                self._sql("SELECT ledger_link FROM {chain} WHERE position = %s"), (position,)
            )
            found = curs.fetchone()
        return bytes(found["ledger_link"]) if found else None

    def chain_head(self) -> tuple[int, bytes] | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                self._sql(
                    "SELECT position, ledger_link FROM {chain} ORDER BY position DESC LIMIT 1"
                )
            )
            found = curs.fetchone()
        return (int(found["position"]), bytes(found["ledger_link"])) if found else None

    def _sql(self, statement: str) -> Composed:
        return SQL(statement).format(
            events=self.events_table,
            keys=self.keys_table,
            sealing=self.sealing_table,
            chain=self.chain_table,
            erasures=self.erasures_table,
            refusals=self.refusals_table,
            inbound=self.inbound_table,
            keyed=self.keyed_table,
        )

    # --- writing ------------------------------------------------------------------------------

    def _insert_events(
        self,
        curs: Any,
        stored_events: Sequence[StoredEvent],
        *,
        touchpoint_keys: Sequence[KeyRow] = (),
        candidate_keys: Sequence[tuple[UUID, bytes]] = (),
        erasures: Sequence[ErasureRow] = (),
        inbound: Sequence[InboundAdvance] = (),
        **_: Any,
    ) -> None:
        # These run in the library's pipeline, before its events insert: a statement that fails
        # there aborts the pipeline, and the error surfaces as "pipeline aborted" rather than as
        # the conflict it is. So a key another writer recorded meanwhile is counted, not failed
        # on, and reported as the conflict (``IntegrityError``) the ledger decides again on.
        if touchpoint_keys:
            keys, candidates, versions = zip(*touchpoint_keys, strict=True)
            curs.execute(
                self._sql(
                    "INSERT INTO {keys} SELECT * FROM unnest(%s::text[], %s::uuid[], %s::bigint[])"
                    " ON CONFLICT DO NOTHING RETURNING 1"
                ),
                (list(keys), list(candidates), list(versions)),
            )
            if len(curs.fetchall()) != len(keys):
                raise IntegrityError("a touchpoint key was recorded meanwhile by another writer")
        if candidate_keys:
            ids, secrets = zip(*candidate_keys, strict=True)
            curs.execute(
                self._sql(
                    "INSERT INTO {sealing} SELECT * FROM unnest(%s::uuid[], %s::bytea[])"
                    " ON CONFLICT DO NOTHING RETURNING 1"
                ),
                (list(ids), list(secrets)),
            )
            if len(curs.fetchall()) != len(ids):
                raise IntegrityError("a candidate was registered meanwhile by another writer")
        for erasure in erasures:
            curs.execute(
                self._sql("DELETE FROM {sealing} WHERE originator_id = %s"),
                (erasure.candidate_id,),
            )
            curs.execute(
                self._sql(
                    "INSERT INTO {erasures} VALUES (%s, %s, %s, %s, NULL)"
                    " ON CONFLICT DO NOTHING RETURNING 1"
                ),
                (erasure.candidate_id, erasure.version, erasure.reason, erasure.erased_at),
            )
            if not curs.fetchall():
                raise IntegrityError("the candidate was erased meanwhile by another writer")
        self._advance(curs, inbound)

    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        positions = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        assert positions is not None
        rows = [
            SealedRow(p, s.originator_id.hex, s.originator_version, s.topic, s.state)  # type: ignore[union-attr]
            for p, s in zip(positions, stored_events, strict=True)
        ]
        wanted = [(cid, v - 1) for cid, v in first_versions(rows).items() if v > 1]
        previous_of: dict[str, bytes] = {cid: GENESIS for cid, _ in wanted}
        if wanted:
            ids, versions = zip(*wanted, strict=True)
            curs.execute(
                self._sql(
                    "SELECT e.originator_id, l.candidate_link FROM {events} e"
                    " JOIN {chain} l ON l.position = e.notification_id"
                    " WHERE (e.originator_id, e.originator_version) IN"
                    " (SELECT * FROM unnest(%s::uuid[], %s::bigint[]))"
                ),
                ([UUID(i) for i in ids], list(versions)),
            )
            for found in curs.fetchall():
                previous_of[found["originator_id"].hex] = bytes(found["candidate_link"])
        curs.execute(self._sql("SELECT ledger_link FROM {chain} ORDER BY position DESC LIMIT 1"))
        found = curs.fetchone()
        links = links_for(
            rows,
            bytes(found["ledger_link"]) if found else GENESIS,
            previous_of,
            self.keyed(),
            kwargs.get("fingerprints"),
        )
        curs.execute(
            self._sql(
                "INSERT INTO {chain} SELECT * FROM unnest(%s::bigint[], %s::uuid[],"
                " %s::bigint[], %s::bytea[], %s::bytea[])"
            ),
            (
                [link.position for link in links],
                [UUID(link.candidate_id) for link in links],
                [link.version for link in links],
                [link.candidate_link for link in links],
                [link.ledger_link for link in links],
            ),
        )
        self.head = (links[-1].position, links[-1].ledger_link)
        return positions

    def _advance(self, curs: Any, advances: Sequence[InboundAdvance]) -> None:
        for advance in advances:
            curs.execute(
                self._sql(
                    "INSERT INTO {inbound} AS o VALUES (%s, %s, %s) ON CONFLICT (topic, partition)"
                    " DO UPDATE SET next_offset = excluded.next_offset"
                    " WHERE o.next_offset = %s RETURNING o.next_offset"
                ),
                (advance.topic, advance.partition, advance.next_offset, advance.expected),
            )
            found = curs.fetchone()
            if found is None or int(found["next_offset"]) != advance.next_offset:
                raise InboundMoved(
                    f"{advance.topic}[{advance.partition}] moved past {advance.expected}"
                )

    def advance_inbound(self, advances: Sequence[InboundAdvance]) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._advance(curs, advances)

    def inbound_offsets(self, topic: str) -> dict[int, int]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                self._sql("SELECT partition, next_offset FROM {inbound} WHERE topic = %s"), (topic,)
            )
            return {int(row["partition"]): int(row["next_offset"]) for row in curs.fetchall()}

    def note_refusals(self, refusals: Sequence[RefusalRow], at: str) -> None:
        """Count each refused touchpoint once per reason, however often it is sent again."""
        with self.datastore.transaction(commit=True) as curs:
            curs.executemany(
                self._sql(
                    "INSERT INTO {refusals} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 1, %s, %s)"
                    " ON CONFLICT (dedupe_key, code) DO UPDATE SET"
                    " attempts = {refusals}.attempts + 1,"
                    " last_refused_at = excluded.last_refused_at"
                ),
                [refusal.row(at) for refusal in refusals],
            )

    def scrub(self, erased: Sequence[UUID], at: str) -> None:
        """Rewrite the key table, so the destroyed keys' dead row versions leave the files.

        ``VACUUM FULL`` copies the live rows into a new file and removes the old one; it cannot
        run inside a transaction, so it follows the erasure's commit (and is retried on the
        next erasure if the process died in between).
        """
        with self.datastore.get_connection() as connection:
            connection.execute(self._sql("VACUUM FULL {sealing}"))
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                self._sql("UPDATE {erasures} SET scrubbed_at = %s WHERE originator_id = ANY(%s)"),
                (at, list(erased)),
            )

    # --- reading ------------------------------------------------------------------------------

    def read_stored(self, start: int, limit: int, stop: int | None = None) -> list[StoredRow]:
        return [
            StoredRow(n.id, str(n.originator_id), n.originator_version, n.state)
            for n in self.select_notifications(start, limit, stop)
        ]

    def read_raw(self, start: int, limit: int, stop: int) -> list[tuple[int, str, int, bytes]]:
        # Plain tuples in binary format: no dict per row, no hex decoding of each state.
        with (
            self.datastore.transaction(commit=False) as curs,
            curs.connection.cursor(row_factory=tuple_row) as raw,
        ):
            raw.execute(
                self._sql(
                    "SELECT notification_id, originator_id::text, originator_version, state"
                    " FROM {events} WHERE notification_id >= %s AND notification_id <= %s"
                    " ORDER BY notification_id LIMIT %s"
                ),
                (start, stop, limit),
                binary=True,
            )
            return raw.fetchall()

    def read_stored_of(self, candidates: Sequence[str], stop: int) -> list[StoredRow]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                self._sql(
                    "SELECT notification_id, originator_id, originator_version, state"
                    " FROM {events} WHERE originator_id = ANY(%s::uuid[])"
                    " AND notification_id <= %s ORDER BY notification_id"
                ),
                (list(candidates), stop),
            )
            return [
                StoredRow(
                    r["notification_id"],
                    str(r["originator_id"]),
                    r["originator_version"],
                    bytes(r["state"]),
                )
                for r in curs.fetchall()
            ]

    def candidates_between(self, after: int, until: int) -> list[str]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                self._sql(
                    "SELECT DISTINCT originator_id FROM {events}"
                    " WHERE notification_id > %s AND notification_id <= %s"
                ),
                (after, until),
            )
            return [str(row["originator_id"]) for row in curs.fetchall()]

    def type_counts(self, after: int, until: int) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                self._sql(
                    "SELECT coalesce(e -> 'touchpoint' ->> 'type', e -> 'fact' ->> 'type')"
                    " AS kind, COUNT(*) AS n FROM (SELECT notification_id,"
                    " convert_from(state, 'UTF8')::jsonb AS e FROM {events}) AS events"
                    " WHERE notification_id > %s AND notification_id <= %s GROUP BY 1"
                ),
                (after, until),
            )
            return {str(row["kind"]): int(row["n"]) for row in curs.fetchall()}

    def lookup(self, keys: Iterable[str], candidates: Iterable[UUID]) -> Lookup:
        """Which keys are recorded, the candidates' histories and keys, read in one
        repeatable-read transaction: every statement sees the same snapshot."""
        wanted = list(candidates)
        with self.datastore.transaction(commit=False) as curs:
            curs.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            curs.execute(self._sql("SELECT key FROM {keys} WHERE key = ANY(%s)"), (list(keys),))
            found_keys = {row["key"] for row in curs.fetchall()}
            curs.execute(
                self._sql(
                    "SELECT originator_id, originator_version, topic, state FROM {events}"
                    " WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
                ),
                (wanted,),
            )
            histories: dict[UUID, list[StoredEvent]] = {}
            for row in curs.fetchall():
                histories.setdefault(row["originator_id"], []).append(
                    StoredEvent(
                        row["originator_id"],
                        row["originator_version"],
                        row["topic"],
                        bytes(row["state"]),
                    )
                )
            curs.execute(
                self._sql("SELECT originator_id, key FROM {sealing} WHERE originator_id = ANY(%s)"),
                (wanted,),
            )
            sealing = {row["originator_id"]: bytes(row["key"]) for row in curs.fetchall()}
            curs.execute(
                self._sql(
                    "SELECT k.key, e.originator_id, e.originator_version, e.topic, e.state"
                    " FROM {keys} k JOIN {events} e ON e.originator_id = k.originator_id"
                    " AND e.originator_version = k.originator_version WHERE k.key = ANY(%s)"
                ),
                (idempotency_keys(found_keys),),
            )
            keyed = {
                row["key"]: StoredEvent(
                    row["originator_id"], row["originator_version"], row["topic"],
                    bytes(row["state"]),
                )
                for row in curs.fetchall()
            }  # fmt: skip
        return Lookup(found_keys, histories, sealing, keyed)

    def candidate_key(self, candidate: UUID) -> bytes | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                self._sql("SELECT key FROM {sealing} WHERE originator_id = %s"), (candidate,)
            )
            found = curs.fetchone()
        return bytes(found["key"]) if found else None

    def sealed_rows(self, start: int, limit: int) -> list[SealedRow]:
        return self._sealed(
            " WHERE notification_id >= %s ORDER BY notification_id LIMIT %s", (start, limit)
        )

    def sealed_rows_of(self, candidate: UUID) -> list[SealedRow]:
        return self._sealed(" WHERE originator_id = %s ORDER BY originator_version", (candidate,))

    def _sealed(self, where: str, params: tuple[Any, ...]) -> list[SealedRow]:
        statement = self._sql(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM {events}" + where
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, params)
            return [
                SealedRow(
                    row["notification_id"],
                    row["originator_id"].hex,
                    row["originator_version"],
                    row["topic"],
                    bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]

    def link_rows(self, start: int, limit: int) -> list[LinkRow]:
        return self._links(" WHERE position >= %s ORDER BY position LIMIT %s", (start, limit))

    def link_rows_of(self, candidate: UUID) -> list[LinkRow]:
        return self._links(" WHERE originator_id = %s ORDER BY position", (candidate,))

    def _links(self, where: str, params: tuple[Any, ...]) -> list[LinkRow]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._sql("SELECT * FROM {chain}" + where), params)
            return [
                LinkRow(
                    row["position"],
                    row["originator_id"].hex,
                    row["originator_version"],
                    bytes(row["candidate_link"]),
                    bytes(row["ledger_link"]),
                )
                for row in curs.fetchall()
            ]

    def refusals(self, candidate: str | None = None) -> list[RefusalCount]:
        where, params = (" WHERE candidate = %s", (candidate,)) if candidate else ("", ())
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                self._sql(
                    "SELECT code, candidate, type, occurred_at, message, attempts,"
                    " first_refused_at, last_refused_at, source FROM {refusals}"
                    + where
                    + " ORDER BY first_refused_at, candidate, occurred_at"
                ),
                params,
            )
            return [
                RefusalCount(
                    row["code"], row["candidate"], row["type"], row["occurred_at"],
                    row["message"], row["attempts"], row["first_refused_at"].isoformat(),
                    row["last_refused_at"].isoformat(), row["source"],
                )
                for row in curs.fetchall()
            ]  # fmt: skip

    def erasures(self, candidate: UUID | None = None) -> list[ErasureRow]:
        where, params = (" WHERE originator_id = %s", (candidate,)) if candidate else ("", ())
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                self._sql("SELECT * FROM {erasures}" + where + " ORDER BY erased_at"), params
            )
            return [
                ErasureRow(
                    row["originator_id"],
                    row["originator_version"],
                    row["reason"],
                    row["erased_at"].isoformat(),
                    row["scrubbed_at"].isoformat() if row["scrubbed_at"] else None,
                )
                for row in curs.fetchall()
            ]
