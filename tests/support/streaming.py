"""Helpers for the tests against the real broker: Rapport's processes, and what they built."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
from jsonschema import Draft202012Validator, FormatChecker
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import OffsetSpec
from kafka.protocol.consumer import IsolationLevel

from infra.core.settings import Settings
from infra.read.read_side import all_projections, following, group_views_settings
from infra.read.views import ViewStore
from infra.store.ledger import Ledger
from infra.store.recorder import StoredRow
from infra.streaming.candidate_records import record_value
from infra.streaming.messages import ledger_message
from infra.streaming.relay_progress import published_positions
from infra.streaming.topics import Topics, admin_client
from projections.base import Fact
from tests.support.files import dump, store_env


class NoBroker:
    """What a consumer fed records by hand asks of its Kafka consumer: where the group stands
    (nothing here)."""

    def assignment(self) -> set[TopicPartition]:
        return set()


class KeptLetters:
    """Dead letters kept in a list instead of sent to the topic."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, str]] = []

    def send(self, rejected: list[tuple[Any, str]]) -> None:
        self.sent.extend(rejected)


def candidate_records(rows: list[StoredRow], *, erasures: bool = True) -> dict[str, dict[str, Any]]:
    """The candidates topic's records after the relay has published ``rows`` (the ledger in
    order), worked out here from the messages the relay makes of them. ``erasures=False``: as
    a group read them before any erasure (a live group, which joined each touchpoint when its
    record was there)."""
    registered: dict[str, tuple[dict[str, Any], int]] = {}
    gained: dict[str, list[tuple[int, str]]] = {}
    erased: set[str] = set()
    for row in rows:
        message = ledger_message(row)
        who, about = row.candidate_id, message.about
        if about is None:
            continue
        if message.type == "candidate_registered":
            registered[who], gained[who] = (about, row.position), []
        elif message.type == "profile_enriched" and about.get("certification") is not None:
            gained[who].append((row.version, about["certification"]))
            registered[who] = (registered[who][0], row.position)
        elif message.type == "erasure_requested" and erasures:
            erased.add(who)
    return {
        who: orjson.loads(record_value(who, about, gained[who], at))
        for who, (about, at) in registered.items()
        if who not in erased
    }


class KeptDirectory:
    """The candidates topic without a broker: the records of what the ledger holds now
    (``erasures=False``: as read before any erasure, see ``candidate_records``)."""

    def __init__(self, settings: Settings, *, erasures: bool = True) -> None:
        self.settings = settings
        self.erasures = erasures
        self.records: dict[str, dict[str, Any]] = {}

    def catch_up(self, *, settled: bool = False, wanted: Collection[Fact] = ()) -> None:
        ledger = Ledger(self.settings)
        try:
            rows = ledger.ledger_recorder.read_stored(1, 10**9)
        finally:
            ledger.close()
        self.records = candidate_records(rows, erasures=self.erasures)

    def awaits(self, fact: Fact) -> bool:
        return False  # every record is here from the start

    def forget_folded(self, folded: dict[int, int]) -> None:
        pass

    def close(self) -> None:
        pass


def stream_env(settings: Settings) -> dict[str, str]:
    return (
        os.environ
        | store_env(settings)
        | {
            "RAPPORT_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "RAPPORT_KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
            "RAPPORT_KAFKA_PARTITIONS": str(settings.kafka_partitions),
            "RAPPORT_INBOUND_ERASURES": str(settings.inbound_erasures).lower(),
            "RAPPORT_LOG_FORMAT": "json",
        }
    )


def start(settings: Settings, *arguments: str, log: Path) -> subprocess.Popen[bytes]:
    """Run ``rapport <arguments>`` in its own process, its logs appended to ``log``."""
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "infra.cli", *arguments],
            env=stream_env(settings),
            stdout=sink,
            stderr=sink,
        )


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM, and wait for a clean exit."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.wait(timeout=timeout)


def kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait()


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, logs: tuple[Path, ...] = ()
) -> None:
    """Poll ``condition``; on a timeout, fail with the end of the processes' logs."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}" + tails(logs))
        time.sleep(0.2)


def tails(logs: tuple[Path, ...], lines: int = 12) -> str:
    """The last lines of each log, progress reports left out."""
    parts = []
    for log in logs:
        if log.exists():
            kept = [x for x in log.read_text().splitlines() if '"consumer.progress"' not in x]
            parts.append(f"\n--- {log.name}\n" + "\n".join(kept[-lines:]))
    return "".join(parts)


def group_events(settings: Settings, group: str) -> int:
    """Journey events in a group's views (one per fact applied), read from outside."""
    where = group_views_settings(settings, group)
    query = "SELECT COUNT(*) FROM view_journey_events"
    try:
        if where.database_url:
            with psycopg.connect(
                where.database_url, options=f"-c search_path={where.views_schema}"
            ) as conn:
                row = conn.execute(query).fetchone()
        else:
            assert where.views_db is not None
            if not where.views_db.exists():
                return 0
            with sqlite3.connect(where.views_db, timeout=10) as conn:
                row = conn.execute(query).fetchone()
    except (psycopg.errors.UndefinedTable, sqlite3.OperationalError):
        return 0
    return int(row[0]) if row else 0


def relay_position(settings: Settings) -> int:
    """The lowest position the relay has published over all partitions (0 before it ran)."""
    published = published_positions(settings, Topics.of(settings).touchpoints)
    if len(published) < settings.kafka_partitions:
        return 0
    return min(published.values())


def embedded_views(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """The views the ledger follower builds from the same ledger (the reference)."""
    with following(settings) as follower:
        follower.catch_up()
        return dump(follower.store, all_projections())


def group_views(settings: Settings, group: str) -> dict[str, list[tuple[Any, ...]]]:
    with ViewStore(group_views_settings(settings, group)) as store:
        return dump(store, all_projections())


def read_topic(settings: Settings, topic: str, timeout: float = 30.0) -> list[Any]:
    """Every committed message of a topic, read to its end by a plain kafka-python consumer."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    try:
        deadline = time.monotonic() + timeout
        # kafka-python answers None until its metadata names the topic (a fresh consumer on a
        # busy machine): wait for it, or an existing topic reads as empty.
        while not (known := consumer.partitions_for_topic(topic)):
            if time.monotonic() > deadline:
                raise AssertionError(f"no partitions of {topic} known after {timeout:.0f}s")
            consumer.topics()  # asks the broker for the metadata
            time.sleep(0.1)
        partitions = [TopicPartition(topic, p) for p in known]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = settled_ends(settings, partitions, deadline - time.monotonic())
        found: list[Any] = []
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end in {timeout:.0f}s")
            for messages in consumer.poll(timeout_ms=200).values():
                found.extend(messages)
        return sorted(found, key=lambda m: (m.partition, m.offset))
    finally:
        consumer.close()


def settled_ends(
    settings: Settings, partitions: list[TopicPartition], timeout: float = 30.0
) -> dict[TopicPartition, int]:
    """Each partition's end once no transaction is open on it: its last stable offset equal to
    its high watermark.

    A producer's ``commit_transaction`` returns once the coordinator has decided; the commit
    markers reach the partitions a moment later, and until then a read-committed reader's end
    (the last stable offset) stands before the transaction. A reader that reads once to the end
    offsets of the moment, as ``kcat -e`` does, must first wait for this, or it misses the last
    transaction the relay committed.
    """
    deadline = time.monotonic() + timeout
    specs = dict.fromkeys(partitions, OffsetSpec.LATEST)
    with admin_client(settings, timeout_ms=10_000) as admin:
        while True:
            stable = admin.list_partition_offsets(specs, IsolationLevel.READ_COMMITTED)
            written = admin.list_partition_offsets(specs, IsolationLevel.READ_UNCOMMITTED)
            ends = {tp: stable[tp].offset for tp in partitions}
            if all(ends[tp] == written[tp].offset for tp in partitions):
                return ends
            if time.monotonic() > deadline:
                open_ = sorted(tp.partition for tp in partitions if ends[tp] != written[tp].offset)
                raise AssertionError(
                    f"partitions {open_} still hold an open transaction after {timeout:.0f}s"
                )
            time.sleep(0.1)


def values(messages: list[Any]) -> Iterator[dict[str, Any]]:
    for message in messages:
        yield orjson.loads(message.value)


def log_events(log: Path, event: str) -> list[dict[str, Any]]:
    found = []
    for line in log.read_bytes().splitlines():
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("event") == event:
            found.append(entry)
    return found


def schema_validator(schemas: dict[str, dict[str, Any]], name: str) -> Draft202012Validator:
    """Validates documents against one of the published schemas, alone: each is self-contained
    (its parts embedded under absolute ids), and formats are asserted."""
    return Draft202012Validator(schemas[name], format_checker=FormatChecker())
