"""The projection engine under its two sources, without a broker: a Kafka projection consumer
given records made by hand builds the same views as the follower reading the ledger, skips what
is delivered again, dead-letters what it cannot read, and forgets its cache when a commit
fails. Views on SQLite (the consumer's collaborators are passed in; only Kafka is absent)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from kafka import TopicPartition

from consumers.projection_consumer import ProjectionConsumer
from infra.core.settings import Settings
from infra.read.follower import Follower
from infra.read.read_side import all_projections
from infra.read.stream_views import StreamViews
from infra.read.views import ViewStore
from infra.store.ledger import Ledger
from infra.streaming.messages import touchpoint_message
from projections.base import Fact, State, Upsert
from tests.support.files import dump, fill
from tests.support.streaming import KeptDirectory, KeptLetters, NoBroker

TOPIC = "rapport-test.touchpoints.v2"


def _records(settings: Settings) -> list[SimpleNamespace]:
    """The ledger's events as they would arrive on partition 0, one offset each."""
    ledger = Ledger(settings)
    try:
        rows = ledger.ledger_recorder.read_stored(1, 10**9)
    finally:
        ledger.close()
    return [
        SimpleNamespace(offset=offset, key=key, value=value, headers=headers)
        for offset, (key, value, headers) in enumerate(map(touchpoint_message, rows))
    ]


def _consumer(tmp_path: Path, letters: KeptLetters, ledger: Settings) -> ProjectionConsumer:
    store = ViewStore(Settings(db=tmp_path / "group.db", views_db=tmp_path / "group.views.db"))
    views = StreamViews(store, all_projections(timeline=True), "ops", TOPIC)
    views.prepare()
    # A live group: it joined each touchpoint while its candidate's record was there.
    directory = KeptDirectory(ledger, erasures=False)
    return ProjectionConsumer(NoBroker(), views, letters, directory)  # type: ignore[arg-type]


def test_a_consumer_fed_by_hand_builds_the_views_the_follower_builds(tmp_path: Path) -> None:
    settings = Settings(db=tmp_path / "rapport.db")
    fill(settings, 40, 3, tmp_path)
    records = _records(settings)
    assert len(records) > 200
    letters = KeptLetters()
    consumer = _consumer(tmp_path, letters, settings)
    # Room for three candidates' states: the others are replayed from the group's timeline.
    consumer.engine.cache_size = 3
    partition = TopicPartition(TOPIC, 0)
    try:
        half = len(records) // 2
        consumer.process({partition: records[:half]})
        consumer.process({partition: records[: half + 10]})  # the first half delivered again
        garbage = SimpleNamespace(offset=len(records), key=b"k", value=b"not json", headers=[])
        consumer.process({partition: [*records[half:], garbage]})
        consumer.process({partition: records})  # everything again: nothing new
        assert consumer.stats.applied == len(records)
        [(letter, reason)] = letters.sent
        assert letter is garbage and reason.startswith("the value is not JSON")
        ledger = Ledger(settings)
        try:
            with ViewStore(settings) as embedded:
                Follower(ledger.ledger_recorder, embedded, all_projections()).catch_up()
                assert dump(consumer.store, all_projections()) == dump(embedded, all_projections())
        finally:
            ledger.close()
    finally:
        consumer.store.close()


class _Failing:
    """A projection that fails on its n-th fact (as a commit could fail half-way)."""

    name = "failing"
    version = 1
    tables = ()
    stateful = True

    def __init__(self) -> None:
        self.fail_at: int | None = None

    def apply(self, state: State, fact: Fact, out: list[Upsert]) -> None:
        if fact.position == self.fail_at:
            raise RuntimeError("the disk is full")
        state["seen"] = state.get("seen", 0) + 1


def test_a_failed_commit_forgets_the_cache_and_the_next_batch_reloads_from_the_views(
    tmp_path: Path,
) -> None:
    settings = Settings(db=tmp_path / "rapport.db")
    fill(settings, 5, 4, tmp_path)
    records = _records(settings)
    assert len(records) > 10
    failing = _Failing()
    store = ViewStore(Settings(db=tmp_path / "group.db", views_db=tmp_path / "group.views.db"))
    views = StreamViews(store, [failing], "ops", TOPIC)  # type: ignore[list-item]
    views.prepare()
    directory = KeptDirectory(settings)
    consumer = ProjectionConsumer(NoBroker(), views, KeptLetters(), directory)  # type: ignore[arg-type]
    partition = TopicPartition(TOPIC, 0)
    try:
        consumer.process({partition: records[:3]})
        assert consumer.engine.cached() > 0
        failing.fail_at = 5
        with pytest.raises(RuntimeError, match="disk is full"):
            consumer.process({partition: records[3:8]})
        assert consumer.engine.cached() == 0, "the cache may be ahead of the views: forgotten"
        failing.fail_at = None
        consumer.process({partition: records[3:]})
        seen = store.query(
            "SELECT SUM(CAST(json_extract(state, '$.seen') AS INTEGER)) FROM view_states"
        )
        assert seen == [(len(records),)], "every fact counted once, none twice"
    finally:
        store.close()
