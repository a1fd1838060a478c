"""How far the outbox relay has published, per partition, kept in the ledger's own database.

The relay stores a partition's position only after Kafka acknowledged (committed) everything up
to it, so after a crash it resumes from there and at worst sends the last batch again. Positions
are kept per partition, not per relay, so the partitions can be split between any number of
relay processes, and the split changed, without losing track. A partition is published by one
relay at a time: each holds a lock per partition that dies with it (``infra/core/locks.py``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from infra.core.locks import ProcessLocks
from infra.core.settings import Settings

_TABLE = "relay_progress"
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {_TABLE} (topic TEXT NOT NULL, partition INTEGER NOT NULL,"
    " position BIGINT NOT NULL, PRIMARY KEY (topic, partition))"
)


class RelayAlreadyRunning(RuntimeError):
    """Another relay publishes some of these partitions now."""


class RelayProgress:
    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self.is_postgres = bool(settings.database_url)
        self._locks: ProcessLocks | None = None
        if self.is_postgres:
            import psycopg

            self._conn: Any = psycopg.connect(
                settings.database_url,  # type: ignore[arg-type]
                options=f"-c search_path={settings.database_schema}",
                connect_timeout=10,
                autocommit=True,
            )
            with self._conn.transaction():
                self._conn.execute("SELECT pg_advisory_xact_lock(hashtext('rapport:relay-ddl'))")
                self._conn.execute(_CREATE)
        else:
            self._conn = sqlite3.connect(settings.db, timeout=30, isolation_level=None)
            self._conn.execute(_CREATE)

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.is_postgres else statement

    def lock(self, partitions: Iterable[int]) -> None:
        """Hold every partition's lock for as long as this object lives, or raise."""
        wanted = sorted(partitions)
        schema = self.settings.database_schema if self.is_postgres else "sqlite"
        self._locks = ProcessLocks(
            self.settings,
            f"relay-{schema}-{self.topic}",
            None if self.is_postgres else self.settings.db,
        )
        if not self._locks.try_lock(wanted):
            self._locks.close()
            self._locks = None
            raise RelayAlreadyRunning(
                f"another relay publishes some of partitions {wanted} of {self.topic}"
            )

    def load(self, partitions: Iterable[int] | None = None) -> dict[int, int]:
        """Each partition's published position (0 when nothing was published yet); every
        partition ever published when ``partitions`` is None."""
        rows = self._conn.execute(
            self._sql(f"SELECT partition, position FROM {_TABLE} WHERE topic = ?"), (self.topic,)
        ).fetchall()
        found = {int(partition): int(position) for partition, position in rows}
        if partitions is None:
            return found
        return {partition: found.get(partition, 0) for partition in partitions}

    def save(self, partitions: Iterable[int], position: int) -> None:
        """Everything up to ``position`` of these partitions is on the topic (acknowledged)."""
        rows = [(self.topic, partition, position) for partition in partitions]
        statement = self._sql(
            f"INSERT INTO {_TABLE} VALUES (?, ?, ?) ON CONFLICT (topic, partition)"
            " DO UPDATE SET position = excluded.position"
        )
        if self.is_postgres:
            with self._conn.transaction(), self._conn.cursor() as cur:
                cur.executemany(statement, rows)
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(statement, rows)
        except BaseException:
            self._conn.rollback()
            raise
        self._conn.commit()

    def close(self) -> None:
        self._conn.close()
        if self._locks is not None:
            self._locks.close()
            self._locks = None


def published_positions(settings: Settings, topic: str) -> dict[int, int]:
    """Every partition's published position, for status reports (no lock taken)."""
    progress = RelayProgress(settings, topic)
    try:
        return progress.load()
    finally:
        progress.close()
