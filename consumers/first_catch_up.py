"""A consumer group's first catch-up, in bulk: the topic read to its end once, the views built
set-based and swapped in with every partition's offset.

A group that starts from nothing (new, or reset by a projection's new version) would otherwise
fold the whole topic fact by fact. Instead, before a member subscribes, it takes the views'
rebuild lock and, if the group's views still hold no offset and the topic holds ``bulk_from``
messages or more:

1. reads every partition from its start to the end offset of that moment, with a plain consumer
   (read-committed, like the group's members); from ``HELPED_FROM`` messages on, a helper
   process reads every other partition meanwhile, since reading is pure Python;
2. checks each message as the fold does (``fact_from_message``; a relay's re-send, at or below
   its partition's highest position, is skipped; a message it refuses is dead-lettered first)
   and joins it with its candidate's record, the candidates topic read to its end after the
   touchpoints' end offsets were taken;
3. builds the views with ``BulkRebuild`` from those facts, the timeline included;
4. swaps them in with each partition's next offset and highest position in the same
   transaction, only if no member has written an offset meanwhile (otherwise the bulk result is
   dropped and the members' fold carries on).

Members started together wait on the lock, find the offsets, and subscribe; the fold then
continues from those offsets, replaying states from the timeline as after any restart.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import structlog
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from consumers.dead_letters import DeadLetters
from infra.core.logging import configure as configure_logging
from infra.core.settings import Settings
from infra.read.bulk import BulkRebuild, DecodedFacts
from infra.read.stream_views import PartitionMoved, PartitionProgress, StreamViews
from infra.streaming.candidate_directory import CandidateDirectory, Directory
from infra.streaming.candidate_records import identified
from infra.streaming.messages import Undecodable, fact_from_message
from projections.base import Fact

log = structlog.get_logger("rapport.consumer")

BULK_FROM = 20_000
"""Messages on the topic from which a group that starts from nothing builds its views in bulk."""

CHUNK = 50_000
"""Facts handed to DuckDB per step."""

STALL_SECONDS = 120.0
"""How long reading may make no progress before the broker is taken to be gone."""

HELPED_FROM = 100_000
"""Messages from which a second process reads half the partitions (on more than one core)."""


class PartitionReader:
    """Some partitions of the topic read from a start to an end offset, each message checked
    as the fold checks it; what it refuses is kept in ``rejected`` for the dead letters."""

    def __init__(
        self,
        settings: Settings,
        topic: str,
        *,
        chunk: int = CHUNK,
        stall_seconds: float = STALL_SECONDS,
        directory: Directory | None = None,
    ) -> None:
        self.settings = settings
        self.topic = topic
        self.directory = directory or CandidateDirectory(settings, stall_seconds=stall_seconds)
        """The candidates' records the touchpoints are joined with."""
        self.chunk = chunk
        self.stall_seconds = stall_seconds
        self.starts: dict[int, int] = {}
        self.ends: dict[int, int] = {}
        """Each partition's end offset when the build started: where the fold will go on."""
        self.own: list[int] = []
        """The partitions this process reads (the others, if any, a helper)."""
        self.highest: dict[int, int] = {}
        """Each partition's highest ledger position read."""
        self.skipped = 0
        self.rejected: list[tuple[Any, str]] = []
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

    def read(self, starts: dict[int, int], ends: dict[int, int]) -> None:
        """Read these partitions, from these offsets to those."""
        self.starts, self.ends, self.own = starts, ends, sorted(starts)
        self.highest = dict.fromkeys(self.own, 0)
        partitions = [TopicPartition(self.topic, p) for p in self.own]
        consumer = self._reader()
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, starts[tp.partition])
        # After the end offsets were taken: every record of those touchpoints is below the
        # candidates topic's high watermark, read once the transactions open there have ended.
        self.directory.catch_up(settled=True)

    def decoded(self) -> Iterator[pa.Table]:
        """The facts of ``own`` partitions, ``chunk`` at a time."""
        facts = DecodedFacts()
        for message in self.messages():
            self._take(message, facts)
            if len(facts) >= self.chunk:
                yield facts.take()
        if len(facts):
            yield facts.take()

    def messages(self) -> Iterator[Any]:
        """The ``own`` partitions' messages from their start to their end offset."""
        consumer = self._reader()
        left = {p for p in self.own if self.starts[p] < self.ends[p]}
        consumer.pause(*(TopicPartition(self.topic, p) for p in self.own if p not in left))
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

    def _take(self, message: Any, facts: DecodedFacts) -> None:
        try:
            fact = fact_from_message(message.key, message.value, message.headers)
        except Undecodable as bad:
            self.rejected.append((message, str(bad)))
            return
        if fact.position <= self.highest[message.partition]:
            self.skipped += 1  # a copy the relay sent again
            return
        self.highest[message.partition] = fact.position
        facts.add(identified(fact, self.directory.records))

    def close(self) -> None:
        self.directory.close()
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None


class TopicFacts(PartitionReader):
    """Every touchpoint message on the topic up to the end offsets of ``start()`` (a
    ``FactSource`` for ``BulkRebuild``). With ``readers=2``, a helper process reads every other
    partition meanwhile (reading is pure Python: decoding Kafka's records and checking each
    message), into a file this process then loads."""

    exact_data = True

    def __init__(
        self,
        settings: Settings,
        views: StreamViews,
        dead_letters: DeadLetters,
        *,
        chunk: int = CHUNK,
        stall_seconds: float = STALL_SECONDS,
        readers: int = 1,
        directory: Directory | None = None,
    ) -> None:
        super().__init__(
            settings, views.topic, chunk=chunk, stall_seconds=stall_seconds, directory=directory
        )
        self.views = views
        self.dead_letters = dead_letters
        self.readers = readers
        self.dead_lettered = 0
        self._helped: list[int] = []
        """The partitions the helper process reads."""

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
        ends, starts = consumer.end_offsets(partitions), consumer.beginning_offsets(partitions)
        every_start = {tp.partition: starts[tp] for tp in partitions}
        every_end = {tp.partition: ends[tp] for tp in partitions}
        mine = sorted(every_start)[:: max(self.readers, 1)]
        self.read({p: every_start[p] for p in mine}, {p: every_end[p] for p in mine})
        self.starts, self.ends = every_start, every_end
        self.highest = dict.fromkeys(every_start, 0)
        self._helped = [p for p in sorted(every_start) if p not in mine]

    def loading(self, *, with_data: bool) -> str:
        return DecodedFacts.LOADING  # the data is always there: the timeline copies it

    def chunks(self) -> Iterator[pa.Table]:
        helped = self._helped
        if not helped:
            yield from self._own_chunks()
            return
        with tempfile.TemporaryDirectory(prefix="rapport-catch-up-") as folder:
            spill = Path(folder) / "helper.arrow"
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                helper = pool.submit(
                    read_in_helper,
                    self.settings,
                    self.topic,
                    {p: self.starts[p] for p in helped},
                    {p: self.ends[p] for p in helped},
                    self.chunk,
                    str(spill),
                )
                try:
                    yield from self._own_chunks()
                    highest, skipped, rejected = helper.result()
                finally:
                    helper.cancel()
            self.highest.update(highest)
            self.skipped += skipped
            self.rejected.extend(rejected)
            self._send()
            if spill.exists() and spill.stat().st_size:
                with pa.memory_map(str(spill)) as source:
                    for batch in pa.ipc.open_stream(source):
                        yield pa.Table.from_batches([batch])

    def _own_chunks(self) -> Iterator[pa.Table]:
        for chunk in self.decoded():
            self._send()
            yield chunk
        self._send()

    def _send(self) -> None:
        """Dead letters before the views: a crash sends them again, never loses them."""
        if self.rejected:
            self.dead_letters.send(self.rejected)
            self.dead_lettered += len(self.rejected)
            self.rejected.clear()

    def position(self) -> int:
        return max(self.highest.values(), default=0)

    def record(self, cur: Any) -> None:
        self.views.record_start(
            cur,
            {p: PartitionProgress(end, self.highest[p]) for p, end in self.ends.items()},
        )

    def positions(self) -> Sequence[Fact]:
        """None: the touchpoints topic carries no position's facts."""
        return ()


def read_in_helper(
    settings: Settings,
    topic: str,
    starts: dict[int, int],
    ends: dict[int, int],
    chunk: int,
    spill: str,
) -> tuple[dict[int, int], int, list[tuple[Any, str]]]:
    """A helper process's share: these partitions' facts into an Arrow stream file ``spill``;
    returns each partition's highest position, the relay's copies skipped, and what it
    refused (dead-lettered by the process it helps)."""
    configure_logging("warning", "console")
    reader = PartitionReader(settings, topic, chunk=chunk)
    try:
        reader.read(starts, ends)
        writer: pa.ipc.RecordBatchStreamWriter | None = None
        with pa.OSFile(spill, "wb") as sink:
            for table in reader.decoded():
                writer = writer or pa.ipc.new_stream(sink, table.schema)
                writer.write_table(table)
            if writer is not None:
                writer.close()
        return reader.highest, reader.skipped, reader.rejected
    finally:
        reader.close()


def first_catch_up(
    settings: Settings,
    views: StreamViews,
    dead_letters: DeadLetters,
    *,
    bulk_from: int = BULK_FROM,
    on_progress: Callable[[int], None] | None = None,
    source: TopicFacts | None = None,
    readers: int | None = None,
) -> int:
    """Build a group's views in bulk if they start from nothing and the topic holds
    ``bulk_from`` messages or more; returns the facts built (0: the fold will do it).
    ``source``: the topic's reader (by default a ``TopicFacts`` of these views); ``readers``:
    the processes that read it (by default two from ``HELPED_FROM`` messages on, one below)."""
    if views.progress() or not views.replays_states():
        return 0  # begun already; or views that store states, which a bulk build has not
    source = source or TopicFacts(settings, views, dead_letters)
    try:
        size = source.size()
        if size < max(bulk_from, 1):
            return 0
        if readers is None:
            readers = 2 if size >= HELPED_FROM and (os.cpu_count() or 1) > 1 else 1
        source.readers = readers
        started = time.perf_counter()
        log.info("consumer.catching_up_in_bulk", group=views.group, messages=size, readers=readers)
        built = BulkRebuild(source, views.store).run(
            views.projections,
            still_needed=lambda: [] if views.progress() else views.projections,
            on_progress=on_progress or _logged_progress(views.group),
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
            readers=source.readers,
            relay_copies_skipped=source.skipped,
            dead_letters=source.dead_lettered,
            seconds=round(time.perf_counter() - started, 3),
        )
    return built


def _logged_progress(group: str, every: float = 5.0) -> Callable[[int], None]:
    """Facts loaded so far, logged every ``every`` seconds: a long catch-up is not silent."""
    loaded, last = 0, time.monotonic()

    def progress(facts: int) -> None:
        nonlocal loaded, last
        loaded += facts
        if time.monotonic() - last >= every:
            last = time.monotonic()
            log.info("consumer.bulk_progress", group=group, facts_loaded=loaded)

    return progress
