"""A consumer group's first catch-up in bulk gives exactly the views its fold gives, timeline
included, and the fold continues from it (states replayed from the group's timeline): on
hypothesis histories delivered in several imports, on SQLite and PostgreSQL.

The messages are the relay's very messages (``ledger_message``) handed over without a broker,
with relay re-sends and a message no consumer can read, joined with the candidates' records the
relay publishes (as a live group read them, before any erasure); ``test_streaming.py`` runs the same
catch-up against the real broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from kafka import TopicPartition

from consumers.first_catch_up import TopicFacts, first_catch_up
from consumers.projection_consumer import ProjectionConsumer
from infra.core.settings import Settings
from infra.read.bulk import BulkRebuild
from infra.read.follower import Follower
from infra.read.read_side import all_projections, group_views_settings
from infra.read.stream_views import PartitionProgress, StreamViews
from infra.read.views import ViewStore
from infra.store.ledger import Ledger
from infra.streaming.messages import ledger_message
from infra.streaming.topics import partition_of
from projections.alert_rules import AlertRules
from tests.support.drawn_histories import bulk_and_fold_draws, deliveries, record_accepted
from tests.support.files import dump, fill
from tests.support.stores import fresh_settings
from tests.support.streaming import KeptDirectory, KeptLetters, NoBroker

TOPIC = "rapport-test.touchpoints.v2"
PARTITIONS = 3


class _Topic:
    """The touchpoints topic as the relay fills it: each stored event once, in ledger order,
    on its candidate's partition; ``resend`` sends a batch of them again (a relay's crash)."""

    def __init__(self) -> None:
        self.partitions: dict[int, list[SimpleNamespace]] = {p: [] for p in range(PARTITIONS)}
        self.sent = 0

    def publish(self, settings: Settings, *, resend: int = 0) -> None:
        ledger = Ledger(settings)
        try:
            rows = ledger.ledger_recorder.read_stored(self.sent + 1 - resend, 10**9)
        finally:
            ledger.close()
        for row in rows:
            message = ledger_message(row)
            if not message.for_positions:  # a position's fact goes to the positions topic
                self._append(row.candidate_id, message.key, message.value, message.headers)
        self.sent = max([self.sent, *(row.position for row in rows)])

    def garbage(self) -> None:
        self._append("0", b"0", b"not json", [])

    def _append(self, key: str, *message: Any) -> None:
        partition = partition_of(key, PARTITIONS)
        log = self.partitions[partition]
        value_key, value, headers = message
        log.append(
            SimpleNamespace(
                topic=TOPIC,
                partition=partition,
                offset=len(log),
                key=value_key,
                value=value,
                headers=headers,
                timestamp=0,
            )
        )

    def ends(self) -> dict[int, int]:
        return {p: len(log) for p, log in self.partitions.items()}


class _HandedOver(TopicFacts):
    """``TopicFacts`` reading the messages of a ``_Topic`` instead of a broker's."""

    def __init__(
        self, topic: _Topic, views: StreamViews, letters: KeptLetters, ledger: Settings
    ) -> None:
        directory = KeptDirectory(ledger, erasures=False)
        super().__init__(Settings(), views, letters, chunk=7, directory=directory)  # type: ignore[arg-type]
        self.topic_log = topic

    def size(self) -> int:
        return sum(self.topic_log.ends().values())

    def start(self) -> None:
        self.ends = self.topic_log.ends()
        self.starts = dict.fromkeys(self.ends, 0)
        self.highest = dict.fromkeys(self.ends, 0)
        self.directory.catch_up()

    def messages(self) -> Iterator[Any]:
        for partition, end in self.ends.items():
            yield from self.topic_log.partitions[partition][:end]


def _group(
    settings: Settings, name: str, letters: KeptLetters, rules: AlertRules | None = None
) -> ProjectionConsumer:
    views = StreamViews(
        ViewStore(group_views_settings(settings, name)),
        all_projections(rules, timeline=True),
        name,
        TOPIC,
    )
    views.prepare()
    directory = KeptDirectory(settings, erasures=False)
    return ProjectionConsumer(NoBroker(), views, letters, directory)  # type: ignore[arg-type]


def _fold(member: ProjectionConsumer, topic: _Topic, batch: int) -> None:
    """Deliver every partition from the offset the group's views hold, ``batch`` at a time."""
    member._progress = member.views.progress()
    for partition, log in topic.partitions.items():
        found = member._progress.get(partition)
        for start in range(found.next_offset if found else 0, len(log), batch):
            member.process({TopicPartition(TOPIC, partition): log[start : start + batch]})


def _bulk(
    member: ProjectionConsumer, topic: _Topic, letters: KeptLetters, settings: Settings
) -> int:
    source = _HandedOver(topic, member.views, letters, settings)
    return BulkRebuild(source, member.store).run(member.projections)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
@bulk_and_fold_draws(max_examples=25)
def test_a_groups_bulk_catch_up_equals_its_fold_and_the_fold_continues_from_it(
    kind: str,
    events: list[tuple[int, str, int, int, int]],
    bulk_after: int,
    batch: int,
    cache: int,
    rules: AlertRules,
) -> None:
    imports = deliveries(events)
    with fresh_settings(kind) as settings:
        topic, letters = _Topic(), KeptLetters()
        bulk = _group(settings, "bulk", letters, rules)
        folded = _group(settings, "folded", letters, rules)
        bulk.engine.cache_size = folded.engine.cache_size = cache
        try:
            for number, lines in enumerate(imports, start=1):
                record_accepted(settings, lines)
                topic.publish(settings, resend=3 if number > 1 else 0)
                if number == 1:
                    topic.garbage()
                if number == bulk_after:
                    _bulk(bulk, topic, letters, settings)
                    bulk.engine.forget()  # a member that starts now, its cache empty
            _fold(bulk, topic, batch)
            _fold(folded, topic, batch)
            group_tables = all_projections(rules, timeline=True)
            assert dump(bulk.store, group_tables) == dump(folded.store, group_tables)
            assert [reason[:21] for _, reason in letters.sent] == ["the value is not JSON"] * 2
            with ViewStore(settings) as embedded:
                ledger = Ledger(settings)
                try:
                    Follower(ledger.ledger_recorder, embedded, all_projections(rules)).catch_up()
                finally:
                    ledger.close()
                embedded_tables = all_projections(rules)
                assert dump(bulk.store, embedded_tables) == dump(embedded, embedded_tables)
        finally:
            bulk.store.close()
            folded.store.close()


def test_a_bulk_catch_up_is_not_swapped_in_once_a_member_has_folded(tmp_path: Path) -> None:
    """A member that folded while the bulk build was reading wins: the build's offsets are
    refused in the swap's transaction, its staged tables go, and the views stay the member's."""
    settings = Settings(db=tmp_path / "rapport.db")
    fill(settings, 20, 3, tmp_path)
    topic, letters = _Topic(), KeptLetters()
    topic.publish(settings)
    builder = _group(settings, "ops", letters)

    class _MemberFoldsMeanwhile(_HandedOver):
        def messages(self) -> Iterator[Any]:
            member = _group(settings, "ops", letters)  # another process, as far as views go
            try:
                _fold(member, topic, 50)
            finally:
                member.store.close()
            yield from super().messages()

    try:
        source = _MemberFoldsMeanwhile(topic, builder.views, letters, settings)
        assert first_catch_up(Settings(), builder.views, letters, bulk_from=1, source=source) == 0
        progress = builder.views.progress()
        assert progress == {
            p: PartitionProgress(len(log), orjson.loads(log[-1].value)["position"])
            for p, log in topic.partitions.items()
            if log
        }, "the member's offsets, not the build's"
        staged = builder.store.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%__next'"
        )
        assert staged == []
        assert dump(builder.store, all_projections(timeline=True))["view_journey_events"]
    finally:
        builder.store.close()
