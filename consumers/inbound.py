"""Inbound capture: touchpoints other systems produce to ``<prefix>.inbound.v1``, recorded once.

Each message's value is one line in the import format, a touchpoint or a position's fact (key:
the candidate reference or the requisition id, so each one's lines stay in order). A consumer
group splits the partitions over its processes. For each partition batch it validates every
message, lets the ledger decide, and writes the new events **together with the partition's next
offset** in one ledger transaction.
The ledger's offsets are where a partition resumes after a crash or a rebalance. Kafka's
committed offsets are only a hint for monitoring. If another process advanced a partition
meanwhile, the transaction is refused and the batch is read again.

So a message is recorded exactly once. Redelivery finds the offset already past it. A producer
that sends again is caught by the deduplication key (its ``source_id``, else its content).
A message that is not valid JSON, breaks the import format, or that the rules refuse goes to
the dead-letter topic with the reason; refusals are also counted in the refusal log. The
message's value is never copied. Whoever may produce to the topic acts as a recruiter: an
``erasure_requested`` goes to the dead letters unless ``RAPPORT_INBOUND_ERASURES`` is set.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from eventsourcing.persistence import IntegrityError, RecordConflictError
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from consumers.dead_letters import DeadLetters
from consumers.rebalance import FlagOnRebalance
from domain.access import UserRole, may_record, with_article
from infra.core.settings import Settings
from infra.intake.importing import parse_touchpoint
from infra.store.ledger import BatchRefused, ConflictPersisted, Ledger, Line
from infra.store.recorder import InboundAdvance, InboundMoved
from infra.streaming.clients import group_consumer
from infra.streaming.topics import Topics, ensure_topics

log = structlog.get_logger("rapport.inbound")
LOG_EVERY_SECONDS = 5.0


@dataclass
class InboundStats:
    recorded: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    batches: int = 0
    moved: int = 0


class InboundRecorder:
    """Records what the inbound topic carries, as ``rapport record`` would, with the roles the
    settings allow. Given its collaborators (``connect`` builds the real ones from settings)."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        ledger: Ledger,
        dead_letters: DeadLetters,
        *,
        topic: str,
        group: str,
        batch: int = 500,
    ) -> None:
        self.consumer = consumer
        self.ledger = ledger
        self.dead_letters = dead_letters
        self.topic = topic
        self.group = group
        self.batch = batch
        self.roles = frozenset(
            {UserRole.RECRUITER, UserRole.COMPLIANCE}
            if ledger.settings.inbound_erasures
            else {UserRole.RECRUITER}
        )
        self.stats = InboundStats()
        self.changed = threading.Event()
        self.next_offsets: dict[TopicPartition, int] = {}
        self._logged_at = time.monotonic()

    @classmethod
    def connect(
        cls, settings: Settings, group: str, *, instance: str | None = None, batch: int = 500
    ) -> InboundRecorder:
        """A member of ``group``, subscribed to the inbound topic, recording into the ledger."""
        expected = ensure_topics(settings)[Topics.of(settings).inbound].partitions
        topic = Topics.of(settings).inbound
        consumer = group_consumer(settings, group, role="inbound", batch=batch, instance=instance)
        # Subscribe only once this client's metadata shows every partition: a group leader
        # assigns only the partitions it knows of, and a topic created a moment ago may show
        # none (the member then sat with nothing assigned until the next rebalance).
        deadline = time.monotonic() + 30.0
        while len(consumer.partitions_for_topic(topic) or ()) < expected:
            if time.monotonic() > deadline:
                consumer.close(autocommit=False)
                raise KafkaError(f"{topic} does not show its {expected} partitions")
            consumer.topics()  # asks the broker for the metadata
            time.sleep(0.1)
        member = cls(
            consumer, Ledger(settings), DeadLetters(settings, group),
            topic=topic, group=group, batch=batch,
        )  # fmt: skip
        consumer.subscribe([topic], listener=FlagOnRebalance(member.changed))
        return member

    def close(self) -> None:
        try:
            self.consumer.close(autocommit=False, timeout_ms=5_000)
        finally:
            self.dead_letters.close()
            self.ledger.close()

    def run(self, stop: Callable[[], bool]) -> None:
        while not stop():
            self.poll_once()
        self._log_progress(force=True)

    def poll_once(self, timeout_ms: int = 200) -> None:
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=self.batch)
        if self.changed.is_set():
            self._reposition()
            return  # what was polled may predate the seek: read it again from the ledger's offset
        for partition, messages in polled.items():
            self._record(partition, messages)
        self._log_progress()

    def _reposition(self) -> None:
        """Every assigned partition resumes where the ledger says it was recorded up to."""
        self.changed.clear()
        stored = self.ledger.ledger_recorder.inbound_offsets(self.topic)
        self.next_offsets = {}
        for partition in self.consumer.assignment():
            offset = stored.get(partition.partition, 0)
            self.next_offsets[partition] = offset
            self.consumer.seek(partition, offset)
        log.info(
            "inbound.positioned",
            group=self.group,
            partitions={p.partition: o for p, o in sorted(self.next_offsets.items())},
        )

    def _record(self, partition: TopicPartition, messages: list[Any]) -> None:
        expected = self.next_offsets.get(partition)
        if expected is None:
            self.changed.set()  # assigned before we positioned it
            return
        messages = [m for m in messages if m.offset >= expected]
        if not messages:
            return
        lines: list[Line] = []
        rejected: list[tuple[Any, str]] = []
        by_offset = {m.offset: m for m in messages}
        for message in messages:
            touchpoint = parse_touchpoint(0, message.value or b"")
            if isinstance(touchpoint, list):
                problems = "; ".join(f"{e.field}: {e.message}" for e in touchpoint)
                rejected.append((message, f"invalid touchpoint: {problems}"))
                continue
            if not may_record(self.roles, touchpoint.type):
                kind = with_article(touchpoint.type)
                why = f"not permitted: {kind} needs RAPPORT_INBOUND_ERASURES"
                rejected.append((message, why))
                continue
            lines.append((message.offset, touchpoint))
        try:
            decision = self.ledger.decide(lines)
            while decision.refusals:
                refused = {n for n, _ in decision.refusals}
                self.ledger.note_refusals(lines, decision.refusals, "inbound")
                rejected += [
                    (by_offset[n], f"refused: {r.code}: {r.message}") for n, r in decision.refusals
                ]
                lines = [line for line in lines if line[0] not in refused]
                decision = self.ledger.decide(lines)
            if rejected:
                self.dead_letters.send(rejected)  # acknowledged before the offsets move past them
            last = messages[-1].offset + 1
            decision.inbound = [InboundAdvance(self.topic, partition.partition, expected, last)]
            report = self.ledger.write(decision)
        except (
            InboundMoved,
            BatchRefused,
            ConflictPersisted,
            IntegrityError,
            RecordConflictError,
        ) as moved:
            self.stats.moved += 1
            log.info("inbound.batch_again", partition=partition.partition, why=type(moved).__name__)
            self.changed.set()
            return
        self.next_offsets[partition] = last
        self.stats.batches += 1
        self.stats.recorded += report.events
        self.stats.duplicates += len(decision.duplicates)
        self.stats.dead_letters += len(rejected)
        with contextlib.suppress(KafkaError):  # a hint only: the ledger holds the position
            self.consumer.commit({partition: OffsetAndMetadata(last, "", -1)})

    def _log_progress(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._logged_at < LOG_EVERY_SECONDS:
            return
        self._logged_at = time.monotonic()
        log.info(
            "inbound.progress",
            group=self.group,
            recorded_total=self.stats.recorded,
            duplicates_total=self.stats.duplicates,
            dead_letters_total=self.stats.dead_letters,
            batches=self.stats.batches,
            read_again=self.stats.moved,
            partitions={p.partition: o for p, o in sorted(self.next_offsets.items())},
        )
