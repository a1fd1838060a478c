"""Shared fixtures: the same tests run against the embedded SQLite ledger and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from domain.touchpoints import TOUCHPOINT, Touchpoint
from infra.core.settings import Settings
from infra.store.ledger import Ledger

pytest_plugins = ["tests.capture"]  # the served write API's fixture

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POSTGRES_URL = os.environ.get("RAPPORT_TEST_DATABASE_URL")
KAFKA_BOOTSTRAP = os.environ.get("RAPPORT_TEST_KAFKA_BOOTSTRAP")


def at(days: float = 0, hours: float = 0) -> str:
    """An ISO instant ``days`` after 2026-05-01, the start of every test story."""
    return (datetime(2026, 5, 1, 9, 0, tzinfo=UTC) + timedelta(days=days, hours=hours)).isoformat()


def tp(kind: str, candidate: str = "C-1", when: str | None = None, **fields: Any) -> Touchpoint:
    """A touchpoint of ``kind`` with sensible defaults, validated like an import line."""
    defaults: dict[str, dict[str, Any]] = {
        "candidate_registered": {
            "role": "cra",
            "status": "passive",
            "personal": {"name": "Ada Okafor", "email": "ada.okafor@example.org"},
        },
        "outreach_sent": {
            "channel": "email",
            "personalization": "personalized",
            "recruiter": "rec-1",
        },
        "reply_received": {"channel": "email", "sentiment": "interested"},
        "call_held": {"recruiter": "rec-1"},
        "application_acknowledged": {"automated": True, "position": "REQ-1"},
        "added_to_talent_pool": {"pool": "pool-onc", "recruiter": "rec-1"},
        "removed_from_talent_pool": {
            "pool": "pool-onc",
            "reason": "not_a_fit",
            "recruiter": "rec-1",
        },
        "content_shared": {"content": "trial_news", "automated": True},
        "personal_note_sent": {"occasion": "check_in", "recruiter": "rec-1"},
        "application_submitted": {"position": "REQ-1"},
        "shortlisted": {"position": "REQ-1", "recruiter": "rec-1"},
        "interview_scheduled": {"position": "REQ-1", "recruiter": "rec-1"},
        "offer_extended": {"position": "REQ-1", "recruiter": "rec-1"},
        "offer_accepted": {"position": "REQ-1"},
        "offer_declined": {"position": "REQ-1", "reason": "compensation"},
        "hired": {"position": "REQ-1", "recruiter": "rec-1"},
        "profile_enriched": {"change": "promotion"},
    }
    data = {"type": kind, "candidate": candidate, "occurred_at": when or at()}
    data |= defaults.get(kind, {})
    data |= fields
    return TOUCHPOINT.validate_python(data)


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
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("RAPPORT_TEST_DATABASE_URL is not set: run the suite with `make test`")
        pytest.skip("no PostgreSQL: run `make test` to start one")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        # The chain's key and checkpoint live outside the database: in the test's folder.
        yield Settings(
            database_url=POSTGRES_URL,
            database_schema=schema,
            chain_key_file=tmp_path / f"{schema}.chain.key",
            checkpoint_file=tmp_path / f"{schema}.checkpoint.json",
        )
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            # The test's own schema, and those of consumer groups' views (``<schema>_<group>``).
            found = conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"{schema}%",)
            ).fetchall()
            for (name,) in found:
                conn.execute(f"DROP SCHEMA {name} CASCADE")


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
