"""Shared fixtures: the same tests run against the embedded SQLite ledger and PostgreSQL.

Builders of test data live in ``tests/support``, not here."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infra.core.settings import Settings
from infra.store.ledger import Ledger
from tests.support.builders import NOW
from tests.support.environment import KAFKA_BOOTSTRAP
from tests.support.stores import fresh_postgres

pytest_plugins = ["tests.support.capture"]  # the served write API's fixture


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings of a fresh, empty ledger on each store."""
    if request.param == "sqlite":
        yield Settings(db=tmp_path / "rapport.db")
    else:
        yield request.getfixturevalue("postgres_settings")


@pytest.fixture
def postgres_settings(tmp_path: Path) -> Iterator[Settings]:
    """A fresh schema on the test server (fails under CI when there is none)."""
    with fresh_postgres(tmp_path) as settings:
        yield settings


@pytest.fixture
def kafka_bootstrap() -> str:
    """The test broker started by ``make test`` (fails under CI when there is none)."""
    if not KAFKA_BOOTSTRAP:
        if os.environ.get("CI"):
            pytest.fail("RAPPORT_TEST_KAFKA_BOOTSTRAP is not set: run the suite with `make test`")
        pytest.skip("no Kafka broker: run `make test` to start one")
    return KAFKA_BOOTSTRAP


@pytest.fixture
def stream_settings(settings: Settings, kafka_bootstrap: str) -> Settings:
    """A fresh ledger on each store, and topics of this test's own on the test broker."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    return settings.model_copy(
        update={"kafka_bootstrap": kafka_bootstrap, "kafka_topic_prefix": prefix}
    )


@pytest.fixture
def ledger(settings: Settings) -> Iterator[Ledger]:
    ledger = Ledger(settings, clock=lambda: NOW)
    yield ledger
    ledger.close()


@pytest.fixture
def open_ledger(settings: Settings) -> Iterator[Callable[[], Ledger]]:
    """Opens further ledgers on the same store (other writers, or a restart)."""
    opened: list[Ledger] = []

    def _open() -> Ledger:
        opened.append(Ledger(settings, clock=lambda: NOW))
        return opened[-1]

    yield _open
    for ledger in opened:
        ledger.close()
