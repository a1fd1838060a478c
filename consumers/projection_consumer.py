"""Projection consumers: the journey, engagement and alert views fed from the touchpoints topic.

Run one or more processes with the same ``--group``: Kafka splits the topic's partitions among
them, and since a candidate's events all live in one partition, each process folds whole
candidates. The projections are the very code the embedded follower runs; here their facts come
from messages instead of stored events. Each batch's rows, states and per-partition offsets
commit in one transaction of the group's views database (``infra/read/stream_views.py``), which is
what makes redelivery and relay re-sends harmless. A message that is not a touchpoint this
version understands goes to the dead-letter topic with the reason, and the consumer carries on.
A group that starts from nothing on a long topic is first built in bulk
(``consumers/first_catch_up.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from consumers.alert_publisher import AlertDuty
from consumers.dead_letters import DeadLetters
from consumers.first_catch_up import BULK_FROM, first_catch_up
from consumers.rebalance import FlagOnRebalance
from infra.core.settings import Settings
from infra.read.engine import ProjectionEngine
from infra.read.stream_views import PartitionAdvance, PartitionMoved, PartitionProgress, StreamViews
from infra.read.views import ViewStore
from infra.streaming.candidate_directory import CandidateDirectory, Directory
from infra.streaming.candidate_records import identified
from infra.streaming.clients import group_consumer
from infra.streaming.messages import Undecodable, fact_from_message
from infra.streaming.topics import Topics, ensure_topics
from projections.base import Fact, Projection

log = structlog.get_logger("rapport.consumer")

LOG_EVERY_SECONDS = 5.0


@dataclass
class ConsumerStats:
    applied: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    batches: int = 0
    conflicts: int = 0


class ProjectionConsumer:
    """Folds one consumer group's share of the touchpoints topic into the group's views.

    It is given its collaborators (``connect`` builds the real ones from the settings), so
    ``process`` can be exercised on records made by hand, without a broker."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        views: StreamViews,
        dead_letters: DeadLetters,
        directory: Directory,
        *,
        batch: int = 5_000,
        alerts: AlertDuty | None = None,
    ) -> None:
        self.consumer = consumer
        self.directory = directory
        """The candidates topic's records, which the touchpoints are joined with."""
        self.views = views
        self.store = views.store
        self.group = views.group
        self.topic = views.topic
        self.projections = views.projections
        self.engine = ProjectionEngine(self.store, self.projections, replay=views.replay())
        self.dead_letters = dead_letters
        self.alerts = alerts
        self.batch = batch
        self.stats = ConsumerStats()
        self._progress: dict[int, PartitionProgress] = {}
        self._assignment_changed = threading.Event()
        self._last_log = time.monotonic()
        self._logged_applied = 0

    @classmethod
    def connect(
        cls,
        settings: Settings,
        group: str,
        projections: Sequence[Projection],
        *,
        instance: str | None = None,
        batch: int = 5_000,
        publish_alerts: bool = True,
        alert_interval: float = 5.0,
        clock: Callable[[], float] = time.time,
        bulk_from: int = BULK_FROM,
    ) -> ProjectionConsumer:
        """A member of ``group``: its views prepared (built in bulk if they start from nothing
        and the topic holds ``bulk_from`` messages or more), subscribed to the touchpoints
        topic."""
        topic = Topics.of(settings).touchpoints
        views = StreamViews(ViewStore(settings), projections, group, topic)
        views.prepare()
        partitions = ensure_topics(settings)[topic].partitions
        dead_letters = DeadLetters(settings, group)
        first_catch_up(settings, views, dead_letters, bulk_from=bulk_from)
        # The candidates' records read before joining the group: a member busy reading them
        # all would hold a rebalance up.
        directory = CandidateDirectory(settings)
        directory.catch_up()
        consumer = group_consumer(settings, group, role="consumer", batch=batch, instance=instance)
        member = cls(consumer, views, dead_letters, directory, batch=batch)
        member._await_partitions(partitions)
        consumer.subscribe([topic], listener=FlagOnRebalance(member._assignment_changed))
        # Only then the alert duty: building it can wait on the views' schema lock, and a member
        # that subscribed that much later joined a group whose other member had done the work.
        if publish_alerts:
            member.alerts = AlertDuty(
                settings, group, instance=instance, interval=alert_interval, clock=clock
            )
        return member

    def _await_partitions(self, expected: int, timeout: float = 30.0) -> None:
        """Subscribe only once this client's metadata shows every partition: the group leader
        assigns the partitions it knows of, and a topic created a moment ago may show none."""
        deadline = time.monotonic() + timeout
        while len(self.consumer.partitions_for_topic(self.topic) or ()) < expected:
            if time.monotonic() > deadline:
                raise KafkaError(f"{self.topic} does not show its {expected} partitions")
            time.sleep(0.1)

    def close(self) -> None:
        try:
            try:
                self._hint_offsets(wait=True)
            except KafkaError:
                log.info("consumer.offsets_not_hinted")  # monitoring only: nothing is lost
            # Bounded: after a broker restart, leaving the group can wait on a coordinator that
            # is not back yet, and a stopped process must not hang on it.
            self.consumer.close(autocommit=False, timeout_ms=5_000)
        finally:
            self.dead_letters.close()
            self.directory.close()
            if self.alerts is not None:
                self.alerts.stop(timeout=10.0)
            self.store.close()

    # --- partitions -------------------------------------------------------------------------

    def _reposition(self) -> None:
        """Seek every assigned partition to the offset the views hold (the start when they
        hold none), after a rebalance, a conflict or an error."""
        self.engine.forget()  # the cache may be ahead of, or behind, what the views hold now
        self._progress = self.views.progress()
        assigned = sorted(self.consumer.assignment(), key=lambda tp: tp.partition)
        fresh = [tp for tp in assigned if tp.partition not in self._progress]
        # Explicit offsets, not seek_to_beginning(): its reset is asynchronous in kafka-python
        # and a rebalance in the middle of it left partitions unread.
        starts = self.consumer.beginning_offsets(fresh) if fresh else {}
        for tp in assigned:
            found = self._progress.get(tp.partition)
            self.consumer.seek(tp, found.next_offset if found else starts[tp])
        log.info(
            "consumer.positioned", group=self.group, partitions=[tp.partition for tp in assigned]
        )

    # --- the loop ---------------------------------------------------------------------------

    def run(self, stop: Callable[[], bool] = lambda: False, *, poll_ms: int = 100) -> None:
        log.info("consumer.started", group=self.group, topic=self.topic)
        if self.alerts is not None and self.alerts.ident is None:
            self.alerts.start()
        pause = 0.0
        while not stop():
            try:
                records = self.consumer.poll(timeout_ms=poll_ms, max_records=self.batch)
                if self._assignment_changed.is_set():
                    # This poll's records may come from positions we did not choose: drop them,
                    # seek every partition to the views' offsets, and read from there.
                    self._assignment_changed.clear()
                    self._reposition()
                    continue
                if records:
                    self.process(records)
                pause = 0.0
            except PartitionMoved as moved:
                self.stats.conflicts += 1
                log.info("consumer.partition_moved", reason=str(moved))
                self._assignment_changed.set()  # read again from what the views hold
            except KafkaError as down:
                pause = min(max(pause * 2, 0.2), 5.0)
                log.warning(
                    "consumer.kafka_error",
                    error=type(down).__name__,
                    detail=str(down)[:300],
                    retry_in_seconds=pause,
                )
                self._assignment_changed.set()
                time.sleep(pause)
            self._log_progress()
        self._log_progress(force=True)

    def process(self, records: dict[TopicPartition, list[Any]]) -> None:
        """Apply one poll's records to every projection, and commit them with their offsets.

        The candidates' records are read first, up to the end of this moment, and on past
        the transactions open then if a record is missing (the relay commits the records with
        their touchpoints, and the commit marker reaches the candidates' partitions in its own
        time), so each is joined with its candidate's record (none: erased)."""
        self.directory.catch_up()
        found: list[Fact] = []
        advances: list[PartitionAdvance] = []
        rejected: list[tuple[Any, str]] = []
        for tp, messages in records.items():
            before = self._progress.get(tp.partition)
            next_offset = before.next_offset if before else 0
            position = before.position if before else 0
            for message in messages:
                if message.offset < next_offset:
                    continue  # delivered again: already in the views
                next_offset = message.offset + 1
                try:
                    fact = fact_from_message(message.key, message.value, message.headers)
                except Undecodable as bad:
                    rejected.append((message, str(bad)))
                    continue
                if fact.position <= position:
                    self.stats.duplicates += 1  # a copy the relay sent again
                    continue
                position = fact.position
                found.append(fact)
            advances.append(
                PartitionAdvance(tp.partition, before, PartitionProgress(next_offset, position))
            )
        if not advances:
            return
        if awaiting := [fact for fact in found if self.directory.awaits(fact)]:
            self.directory.catch_up(wanted=awaiting)
        known = self.directory.records
        facts = [identified(fact, known) for fact in found]
        if rejected:
            # Dead letters first: a crash before the commit sends them again, never loses them.
            self.dead_letters.send(rejected)
        with self.engine.committing():
            # A replayed state covers what the views hold: every fact up to the highest
            # position any partition has reached (a candidate's facts are all in one partition).
            folded = max((p.position for p in self._progress.values()), default=0)
            self.views.commit(self.engine.fold_all(facts, after=folded), advances)
        for advance in advances:
            self._progress[advance.partition] = advance.after
        # An erasure folded: the candidate's record (kept since its tombstone) is forgotten.
        self.directory.forget_folded({p: done.position for p, done in self._progress.items()})
        self.stats.applied += len(facts)
        self.stats.dead_letters += len(rejected)
        self.stats.batches += 1
        self._hint_offsets()

    def _hint_offsets(self, *, wait: bool = False) -> None:
        """Tell Kafka how far the group is, for monitoring only (the views hold the truth).

        A partition's position is past every record poll returned and every transaction
        marker after them, and everything poll returned is in the views by now.
        """
        offsets = {}
        for tp in self.consumer.assignment():
            try:
                at = self.consumer.position(tp, timeout_ms=0)
            except KafkaError:
                continue
            if at is not None:
                offsets[tp] = OffsetAndMetadata(at, "", -1)
        if offsets and wait:
            self.consumer.commit(offsets, timeout_ms=5_000)
        elif offsets:
            self.consumer.commit_async(offsets)

    # --- observability ----------------------------------------------------------------------

    def lag(self) -> dict[int, int]:
        """Messages behind the end of each assigned partition (from the last fetch)."""
        behind: dict[int, int] = {}
        for tp in self.consumer.assignment():
            end = self.consumer.highwater(tp)
            try:
                at = self.consumer.position(tp, timeout_ms=0)
            except KafkaError:
                continue
            if end is not None and at is not None:
                behind[tp.partition] = max(end - at, 0)
        return behind

    def _log_progress(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_log < LOG_EVERY_SECONDS:
            return
        self._hint_offsets()
        applied = self.stats.applied - self._logged_applied
        elapsed = max(now - self._last_log, 1e-9)
        positions = {p: progress.position for p, progress in self._progress.items()}
        log.info(
            "consumer.progress",
            group=self.group,
            applied=applied,
            applied_total=self.stats.applied,
            facts_per_second=round(applied / elapsed, 1),
            lag_by_partition={str(p): n for p, n in sorted(self.lag().items())},
            positions={str(p): n for p, n in sorted(positions.items())},
            duplicates_skipped=self.stats.duplicates,
            dead_letters=self.stats.dead_letters,
            alerts_published=self.alerts.published if self.alerts else 0,
        )
        self._last_log, self._logged_applied = now, self.stats.applied
