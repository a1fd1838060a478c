"""A consumer group's first catch-up, in bulk: the topic read to its end once, the views built
set-based and swapped in with every partition's offset.

A group that starts from nothing (new, or reset by a projection's new version) would otherwise
fold the whole topic fact by fact. Instead, before a member subscribes, it takes the views'
rebuild lock and, if the group's views still hold no offset and the topic holds ``bulk_from``
messages or more:

1. reads every partition from its start to the end offset of that moment, with a plain consumer
   assigned every partition (read-committed, like the group's members);
2. checks each message as the fold does (``fact_from_message``; a relay's re-send, at or below
   its partition's highest position, is skipped; a message it refuses is dead-lettered first);
3. builds the views with ``BulkRebuild`` from those facts, the timeline included;
4. swaps them in with each partition's next offset and highest position in the same
   transaction, only if no member has written an offset meanwhile (otherwise the bulk result is
   dropped and the members' fold carries on).

Members started together wait on the lock, find the offsets, and subscribe; the fold then
continues from those offsets, replaying states from the timeline as after any restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import structlog
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from consumers.dead_letters import DeadLetters
from infra.core.settings import Settings
from infra.read.bulk import BulkRebuild, DecodedFacts
from infra.read.stream_views import PartitionMoved, PartitionProgress, StreamViews
from infra.streaming.messages import Undecodable, fact_from_message

log = structlog.get_logger("rapport.consumer")

BULK_FROM = 20_000
"""Messages on the topic from which a group that starts from nothing builds its views in bulk."""

CHUNK = 50_000
"""Facts handed to DuckDB per step."""

STALL_SECONDS = 120.0
"""How long reading may make no progress before the broker is taken to be gone."""


class TopicFacts:
    """Every touchpoint message on the topic up to the end offsets of ``start()`` (a
    ``FactSource`` for ``BulkRebuild``)."""

    exact_data = True

    def __init__(
        self,
        settings: Settings,
        views: StreamViews,
        dead_letters: DeadLetters,
        *,
        chunk: int = CHUNK,
        stall_seconds: float = STALL_SECONDS,
    ) -> None:
        self.settings = settings
        self.views = views
        self.topic = views.topic
        self.dead_letters = dead_letters
        self.chunk = chunk
        self.stall_seconds = stall_seconds
        self.ends: dict[int, int] = {}
        """Each partition's end offset when the build started: where the fold will go on."""
        self.starts: dict[int, int] = {}
        self.highest: dict[int, int] = {}
        """Each partition's highest ledger position read."""
        self.dead_lettered = 0
        self.skipped = 0
        self._consumer: KafkaConsumer | None = None

    def _reader(self) -> KafkaConsumer:
        if self._consumer is None:
            self._consumer = KafkaConsumer(
                bootstrap_servers=self.settings.kafka_bootstrap.split(","),
                client_id=f"rapport-first-catch-up-{self.topic}",
                enable_auto_commit=False,
                isolation_level="read_committed",
                max_poll_records=self.chunk,
                fetch_max_wait_ms=20,
                request_timeout_ms=30_000,
            )
        return self._consumer

    def _partitions(self) -> list[TopicPartition]:
        found = self._reader().partitions_for_topic(self.topic) or ()
        return [TopicPartition(self.topic, p) for p in sorted(found)]

    def size(self) -> int:
        """Messages (and transaction markers) on the topic now."""
        partitions = self._partitions()
        if not partitions:
            return 0
        ends = self._reader().end_offsets(partitions)
        starts = self._reader().beginning_offsets(partitions)
        return sum(ends[tp] - starts[tp] for tp in partitions)

    def start(self) -> None:
        consumer, partitions = self._reader(), self._partitions()
        if not partitions:
            raise KafkaError(f"{self.topic} shows no partitions")
        consumer.assign(partitions)
        ends, starts = consumer.end_offsets(partitions), consumer.beginning_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, starts[tp])
        self.ends = {tp.partition: ends[tp] for tp in partitions}
        self.starts = {tp.partition: starts[tp] for tp in partitions}
        self.highest = {tp.partition: 0 for tp in partitions}

    def loading(self, *, with_data: bool) -> str:
        return DecodedFacts.LOADING  # the data is always there: the timeline copies it

    def chunks(self) -> Iterator[pa.Table]:
        facts = DecodedFacts()
        rejected: list[tuple[Any, str]] = []
        for message in self.messages():
            self._take(message, facts, rejected)
            if len(facts) >= self.chunk:
                self._send(rejected)
                yield facts.take()
        self._send(rejected)
        if len(facts):
            yield facts.take()

    def messages(self) -> Iterator[Any]:
        """Every partition's messages from its start to its end offset at ``start()``."""
        consumer = self._reader()
        left = {p for p, end in self.ends.items() if self.starts[p] < end}
        consumer.pause(*(TopicPartition(self.topic, p) for p in self.ends if p not in left))
        progressed = time.monotonic()
        while left:
            records = consumer.poll(timeout_ms=200)
            for tp, messages in records.items():
                if tp.partition in left:
                    # Beyond the end: recorded after the snapshot, the fold reads it.
                    yield from (m for m in messages if m.offset < self.ends[tp.partition])
            for partition in list(left):
                tp = TopicPartition(self.topic, partition)
                if consumer.position(tp) >= self.ends[partition]:
                    left.discard(partition)
                    consumer.pause(tp)
            if records:
                progressed = time.monotonic()
            elif time.monotonic() - progressed > self.stall_seconds:
                raise KafkaError(
                    f"{self.topic}: nothing read for {self.stall_seconds:.0f}s with partitions"
                    f" {sorted(left)} not read to their end"
                )

    def _take(self, message: Any, facts: DecodedFacts, rejected: list[tuple[Any, str]]) -> None:
        try:
            fact = fact_from_message(message.key, message.value, message.headers)
        except Undecodable as bad:
            rejected.append((message, str(bad)))
            return
        if fact.position <= self.highest[message.partition]:
            self.skipped += 1  # a copy the relay sent again
            return
        self.highest[message.partition] = fact.position
        facts.add(fact)

    def _send(self, rejected: list[tuple[Any, str]]) -> None:
        """Dead letters before the views: a crash sends them again, never loses them."""
        if rejected:
            self.dead_letters.send(rejected)
            self.dead_lettered += len(rejected)
            rejected.clear()

    def position(self) -> int:
        return max(self.highest.values(), default=0)

    def record(self, cur: Any) -> None:
        self.views.record_start(
            cur,
            {p: PartitionProgress(end, self.highest[p]) for p, end in self.ends.items()},
        )

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None


def first_catch_up(
    settings: Settings,
    views: StreamViews,
    dead_letters: DeadLetters,
    *,
    bulk_from: int = BULK_FROM,
    on_progress: Callable[[int], None] | None = None,
    source: TopicFacts | None = None,
) -> int:
    """Build a group's views in bulk if they start from nothing and the topic holds
    ``bulk_from`` messages or more; returns the facts built (0: the fold will do it).
    ``source``: the topic's reader (by default a ``TopicFacts`` of these views)."""
    if views.progress() or not views.replays_states():
        return 0  # begun already; or views that store states, which a bulk build has not
    source = source or TopicFacts(settings, views, dead_letters)
    try:
        if source.size() < max(bulk_from, 1):
            return 0
        started = time.perf_counter()
        built = BulkRebuild(source, views.store).run(
            views.projections,
            still_needed=lambda: [] if views.progress() else views.projections,
            on_progress=on_progress,
        )
    except PartitionMoved as moved:
        views.store.unstage(views.projections)
        log.info("consumer.bulk_catch_up_abandoned", group=views.group, reason=str(moved))
        return 0
    finally:
        source.close()
    if built:
        log.info(
            "consumer.caught_up_in_bulk",
            group=views.group,
            facts=built,
            relay_copies_skipped=source.skipped,
            dead_letters=source.dead_lettered,
            seconds=round(time.perf_counter() - started, 3),
        )
    return built
