"""The outbox relay: publishes every recorded event to Kafka, in ledger order, exactly once.

There is no separate outbox table and no dual write: the ledger's notification log *is* the
outbox. The relay reads it from the last position it published, sends each touchpoint (without
its personal data, and without what it says about the person) to the touchpoints topic keyed by
candidate, and each position fact to the positions topic keyed by position (the same partition
number its id hashes to, so one relay's partitions and stored positions cover both), and only
after Kafka has committed them stores the new position. Each batch is one Kafka transaction with
a stable transactional id; when the batch registers, enriches or erases candidates, it also
holds their records (or tombstones) on the candidates topic, committed with the touchpoints (a
consumer that reads a touchpoint before the marker reaches its record's partition reads on,
``CandidateDirectory.catch_up``):

* a crash before the commit leaves an open transaction that the restarted relay aborts (read
  committed consumers never see its messages);
* a crash after the commit but before the position was stored makes the restarted relay send
  that batch again, in a new transaction. Those copies carry the same ``event_id`` and ledger
  ``position``; Rapport's consumers skip any position they have already applied in a partition,
  so they are harmless, and other consumers should deduplicate by ``event_id`` too.

When the broker is down, recording goes on (the ledger never waits for Kafka); the relay retries
with a growing pause and catches up from its stored position when the broker is back.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson
import structlog
from kafka import KafkaProducer
from kafka.errors import KafkaError

from infra.core.settings import Settings
from infra.store.checkpoints import ledger_name
from infra.store.recorder import LedgerRecorder
from infra.streaming.candidate_records import (
    RECORD_HEADERS,
    record_value,
    take_the_person_out,
    tombstone_headers,
)
from infra.streaming.clients import TransactionalProducer
from infra.streaming.messages import Header, ledger_message
from infra.streaming.relay_progress import RelayProgress
from infra.streaming.topics import (
    Topics,
    ensure_topics,
    partition_of,
)

log = structlog.get_logger("rapport.relay")

LOG_EVERY_SECONDS = 5.0


def transactional_id(settings: Settings, topic: str, partitions: Sequence[int]) -> str:
    """The same ledger, topic and partitions always get the same id, so a restarted relay fences
    its predecessor and aborts whatever transaction the predecessor left open."""
    if settings.database_url:
        where = f"{settings.store_description}/{settings.database_schema}"
    else:
        where = str(settings.db.resolve())
    store = hashlib.sha256(where.encode()).hexdigest()[:12]
    owned = hashlib.sha256(",".join(map(str, partitions)).encode()).hexdigest()[:8]
    return f"rapport-relay-{store}-{topic}-{owned}"


class PartitionsDiffer(RuntimeError):
    """The topic exists with another number of partitions than the settings say."""


def partitions_checked(settings: Settings, topic: str) -> Callable[[KafkaProducer], None]:
    """A new producer's check: the topic exists, with the partitions the settings say (a
    topic's partitions never change, or candidates would move between them)."""

    def check(producer: KafkaProducer) -> None:
        ensure_topics(settings)
        found = producer.partitions_for(topic)
        if found and len(found) != settings.kafka_partitions:
            raise PartitionsDiffer(
                f"{topic} has {len(found)} partitions and RAPPORT_KAFKA_PARTITIONS says"
                f" {settings.kafka_partitions}: set it to {len(found)} (a topic's partitions are"
                " never changed, or candidates would move between them)"
            )

    return check


@dataclass(frozen=True, slots=True)
class _Batch:
    messages: list[tuple[str, int, bytes, bytes, list[Header]]]
    """(topic, partition, key, value, headers) of each event this relay publishes."""
    records: list[tuple[int, bytes, bytes | None, list[Header]]]
    """(partition, key, value, headers) of each candidate record the batch changes: the latest
    record of a candidate registered or enriched, a tombstone (None) for one erased."""
    last: int
    """The last ledger position read (events of other relays' partitions included)."""


@dataclass
class RelayStats:
    published: int = 0
    batches: int = 0
    failures: int = 0


class Relay:
    """Publishes the ledger to the touchpoints topic; one process per set of partitions.

    It is given its progress store (holding the locks of its partitions) and its producer;
    ``connect`` builds the real ones from the settings."""

    def __init__(
        self,
        settings: Settings,
        recorder: LedgerRecorder,
        progress: RelayProgress,
        producer: TransactionalProducer,
        *,
        partitions: Sequence[int],
        batch: int = 5_000,
    ) -> None:
        self.settings = settings
        self.recorder = recorder
        self.progress = progress
        self.producer = producer
        self.batch = batch
        self.topic = progress.topic
        self.partitions_total = settings.kafka_partitions
        self.partitions = list(partitions)
        """The partitions this relay publishes."""
        self.published = progress.load(self.partitions)
        self.stats = RelayStats()
        self._next: _Batch | None = None
        self._mine = frozenset(self.partitions)
        self._last_log = time.monotonic()
        self._logged_published = 0
        self._positions = Topics.of(settings).positions
        """A position's facts go there, in the partition its id hashes to, as touchpoints do."""
        self._candidates = Topics.of(settings).candidates
        """Candidates' records go there, in their touchpoints' partition."""
        self._checkpoints = Topics.of(settings).checkpoints if 0 in self.partitions else None
        """The first relay also carries the ledger's checkpoint to its topic."""
        self._checkpoint_sent = 0

    @classmethod
    def connect(
        cls,
        settings: Settings,
        recorder: LedgerRecorder,
        *,
        batch: int = 5_000,
        worker: tuple[int, int] = (0, 1),
    ) -> Relay:
        """Relay ``worker`` i of n (every n-th partition), its partitions locked to it."""
        topic = Topics.of(settings).touchpoints
        index, workers = worker
        partitions = [p for p in range(settings.kafka_partitions) if p % workers == index]
        progress = RelayProgress(settings, topic)
        try:
            progress.lock(partitions)
        except BaseException:
            progress.close()
            raise
        producer = TransactionalProducer(
            settings,
            client_id="rapport-relay",
            transactional_id=transactional_id(settings, topic, partitions),
            on_connect=partitions_checked(settings, topic),
            batch_size=256 * 1024,
            max_request_size=8 * 1024 * 1024,
            retry_backoff_ms=100,
            reconnect_backoff_max_ms=1_000,
        )
        return cls(settings, recorder, progress, producer, partitions=partitions, batch=batch)

    @property
    def position(self) -> int:
        """Every event up to here that belongs to this relay's partitions is published."""
        return min(self.published.values())

    def close(self) -> None:
        self.producer.close()
        self.progress.close()

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- Kafka ------------------------------------------------------------------------------

    # --- publishing -------------------------------------------------------------------------

    def _prepare(self, start: int) -> _Batch | None:
        """Read the ledger from ``start`` and encode this relay's messages, sending nothing."""
        rows = self.recorder.read_stored(start, self.batch)
        if not rows:
            return None
        partitions, mine, published = self.partitions_total, self._mine, self.published
        messages = []
        registered: dict[str, tuple[int, dict[str, object], int]] = {}
        enriched: dict[str, int] = {}
        """Candidates enriched with a certification in this batch, and their partition."""
        erased_now: dict[str, tuple[int, int]] = {}
        """Candidates erased in this batch: their partition and the erasure's position."""
        for row in rows:
            partition = partition_of(row.candidate_id, partitions)
            if partition in mine and row.position > published[partition]:
                message = ledger_message(row)
                topic = self._positions if message.for_positions else self.topic
                messages.append((topic, partition, message.key, message.value, message.headers))
                about = message.about
                if about is None:
                    continue
                if message.type == "erasure_requested":
                    erased_now[row.candidate_id] = (partition, row.position)
                elif message.type == "candidate_registered":
                    registered[row.candidate_id] = (partition, about, row.position)
                elif about.get("certification") is not None:
                    enriched[row.candidate_id] = partition
        # Every record, even of a candidate whose erasure is already recorded further on: a
        # consumer joins the touchpoints before an erasure as the embedded views do, whenever
        # the relay runs. In ledger order: a consumer that has read a record of a partition has
        # read every earlier one there (``CandidateDirectory.awaits``), and a candidate's
        # tombstone follows their record, so compaction keeps it.
        records = [
            (at, (partition, who.encode(), record_value(who, about, [], at), RECORD_HEADERS))
            for who, (partition, about, at) in registered.items()
            if who not in enriched
        ]
        records += self._enriched_records(enriched, rows[-1].position)
        records += [
            (at, (partition, who.encode(), None, tombstone_headers(at)))
            for who, (partition, at) in erased_now.items()
        ]
        records.sort(key=lambda positioned: positioned[0])
        return _Batch(messages, [record for _, record in records], rows[-1].position)

    def _enriched_records(
        self, enriched: dict[str, int], stop: int
    ) -> list[tuple[int, tuple[int, bytes, bytes | None, list[Header]]]]:
        """The whole record of each candidate enriched with a certification: the registration
        and every certification noticed up to ``stop``, read back from the ledger (rare), with
        the ledger position it reflects."""
        if not enriched:
            return []
        registrations: dict[str, dict[str, object]] = {}
        gained: dict[str, list[tuple[int, str]]] = {who: [] for who in enriched}
        latest: dict[str, int] = {}
        for row in self.recorder.read_stored_of(sorted(enriched), stop):
            stored = orjson.loads(row.state).get("touchpoint")
            if stored is None:
                continue
            about = take_the_person_out(stored)
            if stored["type"] == "candidate_registered":
                registrations[row.candidate_id] = about
            elif (certification := about.get("certification")) is not None:
                gained[row.candidate_id].append((row.version, str(certification)))
            else:
                continue
            latest[row.candidate_id] = row.position
        return [
            (
                latest[who],
                (
                    partition,
                    who.encode(),
                    record_value(who, registrations[who], gained[who], latest[who]),
                    RECORD_HEADERS,
                ),
            )
            for who, partition in enriched.items()
            if who in registrations
        ]

    def publish_next(self) -> int:
        """Publish the next batch of the ledger (one Kafka transaction); returns events sent."""
        batch, self._next = self._next or self._prepare(self.position + 1), None
        if batch is None:
            return 0
        checkpoint = None
        if batch.messages:
            try:
                with self.producer.transaction() as producer:
                    # In the touchpoints' transaction: committed with them, or not at all. A
                    # consumer that sees a touchpoint before the commit marker reaches the
                    # record's partition reads on until it does (``CandidateDirectory``).
                    for partition, key, value, headers in batch.records:
                        producer.send(
                            self._candidates, value=value, key=key, headers=headers,
                            partition=partition,
                        )  # fmt: skip
                    for topic, partition, key, value, headers in batch.messages:
                        producer.send(
                            topic, value=value, key=key, headers=headers, partition=partition
                        )
                    checkpoint = self._checkpoint()
                    if checkpoint is not None:
                        producer.send(self._checkpoints, value=checkpoint[1], key=self._ledger_name)
                    # While the producer's thread ships this batch, read and encode the next one.
                    self._next = self._prepare(batch.last + 1)
            except BaseException:
                self._next = None
                raise
        if checkpoint is not None:
            self._checkpoint_sent = checkpoint[0]
        self.progress.save(self.partitions, batch.last)
        self.published = dict.fromkeys(self.partitions, batch.last)
        self.stats.published += len(batch.messages)
        self.stats.batches += 1
        return len(batch.messages)

    @property
    def _ledger_name(self) -> bytes:
        return ledger_name(self.settings.store_description)

    def _checkpoint(self) -> tuple[int, bytes] | None:
        """The checkpoint file's document, if newer than the one last published (it is sealed
        by the ledger; the relay only carries it, and never needs the chain's key)."""
        if self._checkpoints is None:
            return None
        try:
            raw = self.settings.checkpoint_path.read_bytes()
            position = int(orjson.loads(raw)["position"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return (position, raw.strip()) if position > self._checkpoint_sent else None

    def run(
        self,
        stop: Callable[[], bool] = lambda: False,
        *,
        poll_seconds: float = 0.005,
        until_caught_up: bool = False,
    ) -> RelayStats:
        """Publish until ``stop()`` (or, with ``until_caught_up``, until nothing is left)."""
        pause = 0.0
        log.info(
            "relay.started",
            topic=self.topic,
            partitions=self.partitions,
            position=self.position,
            ledger_position=self.recorder.max_notification_id() or 0,
        )
        while not stop():
            try:
                sent = self.publish_next()
                idle = self.position >= (self.recorder.max_notification_id() or 0)
            except KafkaError as down:
                self.stats.failures += 1
                pause = min(max(pause * 2, 0.2), 5.0)
                log.warning(
                    "relay.broker_unavailable",
                    error=type(down).__name__,
                    detail=str(down)[:300],
                    position=self.position,
                    retry_in_seconds=pause,
                )
                time.sleep(pause)
                continue
            pause = 0.0
            self._log_progress()
            if idle:
                if until_caught_up:
                    break
                if not sent:
                    time.sleep(poll_seconds)
        self._log_progress(force=True)
        return self.stats

    def _log_progress(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_log < LOG_EVERY_SECONDS:
            return
        sent = self.stats.published - self._logged_published
        elapsed = max(now - self._last_log, 1e-9)
        ledger = self.recorder.max_notification_id() or 0
        log.info(
            "relay.progress",
            topic=self.topic,
            position=self.position,
            behind=max(ledger - self.position, 0),
            published=sent,
            events_per_second=round(sent / elapsed, 1),
            batches=self.stats.batches,
        )
        self._last_log, self._logged_published = now, self.stats.published
