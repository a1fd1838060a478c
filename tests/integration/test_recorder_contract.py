"""The ``eventsourcing`` library's own contract for application recorders, run against both of
Rapport's (as a ledger configures them: keyed chain, deduplication keys and all).

The library numbers an aggregate's versions from 0 in one of its tests; a candidate's events
are numbered from 1, so that test is adapted. What the recorders deliberately do not store
(text originator ids, versions below 1) is refused with a clear error, never a ``KeyError``
deep in the chain."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.tests.persistence import ApplicationRecorderTestCase

from infra.core.settings import Settings
from infra.store.ledger import Ledger
from infra.store.recorder import UnsupportedEvent
from tests.support.environment import POSTGRES_URL


class NumberedFromOne:
    """A recorder as the library's concurrency tests see it: they number versions from 0, so
    each version is shifted by one on its way in."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder

    def insert_events(self, events: list[StoredEvent], **kwargs: Any) -> Any:
        shifted = [StoredEvent(e.originator_id, e.originator_version + 1, e.topic, e.state)
                   for e in events]  # fmt: skip
        return self.recorder.insert_events(shifted, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.recorder, name)


class LedgerRecorderContract(ApplicationRecorderTestCase[Any]):
    __test__ = False  # the two stores' cases below run it
    INITIAL_VERSION = 1
    """A candidate's first event is version 1 (the library's default too)."""

    def setUp(self) -> None:
        self.folder = Path(tempfile.mkdtemp())
        self.ledgers: list[Ledger] = []
        self.versions_from_zero = False
        self.threads_before = set(threading.enumerate())

    def tearDown(self) -> None:
        # The library's concurrency test stops its reader threads without joining them: they
        # must be gone before the connections they read on are closed.
        for thread in set(threading.enumerate()) - self.threads_before:
            if not thread.daemon:  # theirs; the connection pools' workers are daemons
                thread.join(timeout=30)
        for ledger in self.ledgers:
            ledger.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def settings(self) -> Settings:
        raise NotImplementedError

    def create_recorder(self) -> Any:
        self.ledgers.append(Ledger(self.settings()))
        recorder = self.ledgers[-1].ledger_recorder
        return NumberedFromOne(recorder) if self.versions_from_zero else recorder

    def test_concurrent_no_conflicts(self, initial_position: int = 0) -> None:
        self.versions_from_zero = True
        super().test_concurrent_no_conflicts(initial_position)
        assert self.ledgers[-1].ledger_recorder.max_notification_id() == 10_000

    def test_concurrent_throughput(self) -> None:
        self.versions_from_zero = True
        super().test_concurrent_throughput()

    def test_what_is_not_stored_is_refused_clearly(self) -> None:
        recorder = self.create_recorder()
        with pytest.raises(UnsupportedEvent, match="identified by UUIDs"):
            recorder.insert_events([StoredEvent("candidate-1", 1, "topic", b"state")])
        with pytest.raises(UnsupportedEvent, match="numbered from 1"):
            recorder.insert_events([StoredEvent(uuid4(), 0, "topic", b"state")])
        assert recorder.insert_events([]) in ([], None)
        assert recorder.max_notification_id() is None  # nothing was written


class TestSQLiteLedgerRecorder(LedgerRecorderContract):
    __test__ = True

    def settings(self) -> Settings:
        return Settings(db=self.folder / f"{len(self.ledgers)}.db")


class TestPostgresLedgerRecorder(LedgerRecorderContract):
    __test__ = True

    def setUp(self) -> None:
        super().setUp()
        if not POSTGRES_URL:
            if os.environ.get("CI"):
                pytest.fail("RAPPORT_TEST_DATABASE_URL is not set: run the suite with `make test`")
            pytest.skip("no PostgreSQL: run `make test` to start one")
        self.schemas: list[str] = []

    def tearDown(self) -> None:
        super().tearDown()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:  # type: ignore[arg-type]
            for schema in self.schemas:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")

    def settings(self) -> Settings:
        schema = f"c_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(f"CREATE SCHEMA {schema}")
        self.schemas.append(schema)
        return Settings(
            database_url=POSTGRES_URL,
            database_schema=schema,
            chain_key_file=self.folder / f"{schema}.key",
            checkpoint_file=self.folder / f"{schema}.checkpoint.json",
        )
