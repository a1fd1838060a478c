"""The candidates topic read into memory: each candidate's current record, for a consumer to
join its touchpoints with (``candidate_records.identified``).

It reads every partition from the start (the topic is compacted: one record per candidate,
plus recent tombstones), read committed, and ``catch_up`` reads on to the end of the moment.
A consumer catches up after it has polled touchpoints and before it folds them. The relay
commits their records in the same transaction, but the commit marker reaches each partition in
turn: a touchpoint can be readable while its record's partition still shows the transaction
open. So while a touchpoint's record is ``awaits``-ed, the consumer reads on towards each
partition's high watermark of that moment, which it reaches once the transactions open below it
have ended (the record is then read, or it was compacted away after an erasure); a first
catch-up reads there whole (``settled``). A tombstone
marks the record for forgetting: it is dropped once the consumer has folded the erasure it
names (``forget_folded``), so the touchpoints before the erasure are joined as published.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any, Protocol

import orjson
import structlog
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from pydantic import ValidationError

from infra.core.settings import Settings
from infra.streaming.candidate_records import ERASED_AT, awaited, record_model
from infra.streaming.topics import Topics, partition_of
from projections.base import Fact

log = structlog.get_logger("rapport.candidates")


class Directory(Protocol):
    """What a consumer joins its touchpoints with: each candidate's record, by candidate id."""

    records: dict[str, dict[str, Any]]

    def catch_up(self, *, settled: bool = False, wanted: Collection[Fact] = ()) -> None:
        """Read on to the end of the moment; with ``settled``, past every transaction open
        then; with ``wanted``, that far only while it ``awaits`` these touchpoints' records."""

    def awaits(self, fact: Fact) -> bool:
        """Whether the record this touchpoint joins may be committed and not read yet (its
        commit marker had not reached its partition)."""

    def forget_folded(self, folded: dict[int, int]) -> None:
        """Drop the records of candidates whose erasure is folded: ``folded`` is the ledger
        position each partition has been folded to."""

    def close(self) -> None: ...


class CandidateDirectory:
    """The candidates topic's records (a ``Directory`` read from the broker)."""

    def __init__(self, settings: Settings, *, stall_seconds: float = 120.0) -> None:
        self.settings = settings
        self.topic = Topics.of(settings).candidates
        self.stall_seconds = stall_seconds
        self.records: dict[str, dict[str, Any]] = {}
        """The current record of each candidate known, by candidate id."""
        self.erased = 0
        """Records forgotten after their candidate's erasure."""
        self._forgetting: dict[str, int] = {}
        """Candidates whose tombstone was read: the ledger position of their erasure."""
        self._consumer: KafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._watermarks: KafkaConsumer | None = None
        """Read uncommitted, assigned nothing: asks for high watermarks only."""
        self.reached: dict[int, int] = {}
        """Per partition, the highest ledger position of a record or tombstone read."""

    def _reader(self) -> KafkaConsumer:
        if self._consumer is None:
            consumer = KafkaConsumer(
                bootstrap_servers=self.settings.kafka_bootstrap.split(","),
                client_id=f"rapport-candidates-{self.topic}",
                enable_auto_commit=False,
                isolation_level="read_committed",
                fetch_max_wait_ms=20,
                request_timeout_ms=30_000,
            )
            deadline = time.monotonic() + 30.0
            while not (found := consumer.partitions_for_topic(self.topic)):
                if time.monotonic() > deadline:
                    consumer.close(autocommit=False)
                    raise KafkaError(f"{self.topic} shows no partitions")
                time.sleep(0.1)
            self._partitions = [TopicPartition(self.topic, p) for p in sorted(found)]
            consumer.assign(self._partitions)
            starts = consumer.beginning_offsets(self._partitions)
            for tp in self._partitions:
                consumer.seek(tp, starts[tp])
            self._consumer = consumer
        return self._consumer

    def catch_up(self, *, settled: bool = False, wanted: Collection[Fact] = ()) -> None:
        """Read every partition to its end offset of this moment: its last stable offset.

        ``settled``: to its high watermark instead, which a read-committed consumer reaches once
        the transactions open below it have ended. ``wanted``: touchpoints about to be folded;
        while the record one of them joins is ``awaited``, read on towards the high watermarks
        (its commit marker may not have reached its partition yet). One still awaited there
        was compacted away after an erasure."""
        consumer = self._reader()
        if settled:
            self._read_to(self._high_watermarks())
            return
        self._read_to(consumer.end_offsets(self._partitions))
        missing = [fact for fact in wanted if self.awaits(fact)]
        if missing:
            self._read_to(self._high_watermarks(), lambda: not any(map(self.awaits, missing)))

    def _read_to(
        self, ends: dict[TopicPartition, int], done: Callable[[], bool] = lambda: False
    ) -> None:
        consumer = self._reader()
        left = {tp for tp in self._partitions if consumer.position(tp) < ends[tp]}
        progressed = time.monotonic()
        while left and not done():
            records = consumer.poll(timeout_ms=200)
            for messages in records.values():
                for message in messages:
                    self._take(message.partition, message.key, message.value, message.headers)
            left = {tp for tp in left if consumer.position(tp) < ends[tp]}
            if records:
                progressed = time.monotonic()
            elif time.monotonic() - progressed > self.stall_seconds:
                raise KafkaError(
                    f"{self.topic}: nothing read for {self.stall_seconds:.0f}s with partitions"
                    f" {sorted(tp.partition for tp in left)} not read to their end"
                )

    def _high_watermarks(self) -> dict[TopicPartition, int]:
        if self._watermarks is None:
            self._watermarks = KafkaConsumer(
                bootstrap_servers=self.settings.kafka_bootstrap.split(","),
                client_id=f"rapport-candidates-{self.topic}-ends",
                enable_auto_commit=False,
                isolation_level="read_uncommitted",
                request_timeout_ms=30_000,
            )
        return dict(self._watermarks.end_offsets(self._partitions))

    def forget_folded(self, folded: dict[int, int]) -> None:
        partitions = len(self._partitions)
        done = [
            candidate
            for candidate, at in self._forgetting.items()
            if at <= folded.get(partition_of(candidate, partitions), 0)
        ]
        for candidate in done:
            del self._forgetting[candidate]
            if self.records.pop(candidate, None) is not None:
                self.erased += 1

    def _take(
        self, partition: int, key: bytes | None, value: bytes | None, headers: list[Any]
    ) -> None:
        if key is None:
            return
        candidate = key.decode(errors="replace")
        if value is None:
            said = dict(headers or ())
            try:
                at = int(said.get(ERASED_AT, b"0"))
            except ValueError:
                at = 0
            if candidate in self.records:
                self._forgetting[candidate] = at
            self._reached(partition, at)
            return
        try:
            record = orjson.loads(value)
            record_model().model_validate(record)
        except (ValidationError, orjson.JSONDecodeError):
            # Fields only: a record is personal data, never logged.
            log.warning("candidates.record_refused", topic=self.topic, reason="not a record")
            return
        if record["candidate_id"] == candidate:
            self.records[candidate] = record
            self._reached(partition, int(record["position"]))
        else:
            log.warning("candidates.record_refused", topic=self.topic, reason="key differs")

    def _reached(self, partition: int, position: int) -> None:
        if position > self.reached.get(partition, 0):
            self.reached[partition] = position

    def awaits(self, fact: Fact) -> bool:
        """Whether the record this touchpoint joins may still come: ``awaited``, and no record
        at or after the touchpoint's ledger position read yet on its partition (the relay
        publishes a partition's records in ledger order, so one read there means the
        touchpoint's own, if any, was read before it)."""
        self._reader()  # the partitions known
        partition = partition_of(fact.candidate_id, len(self._partitions))
        return awaited(fact, self.records) and self.reached.get(partition, 0) < fact.position

    def close(self) -> None:
        for consumer in (self._consumer, self._watermarks):
            if consumer is not None:
                consumer.close(autocommit=False)
        self._consumer = self._watermarks = None
