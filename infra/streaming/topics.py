"""Rapport's Kafka topics: their names, their settings, and how a candidate finds its partition.

Every message about a candidate is keyed by the candidate's id, so all of one candidate's events
land in one partition, in ledger order. The number of partitions is fixed when the topic is
created: adding partitions later would move candidates to other partitions and break that order,
so Rapport never does it (it warns when an existing topic differs from the settings).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import structlog
from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

from infra.core.settings import Settings

log = structlog.get_logger("rapport.topics")

DAY_MS = 86_400_000


class BrokerUnavailable(KafkaError):
    """The Kafka brokers in the settings could not be reached."""


@dataclass(frozen=True, slots=True)
class Topics:
    touchpoints: str
    alerts: str
    deadletter: str
    inbound: str
    """Touchpoints other systems send in (the import format: ``consumers.inbound``)."""
    checkpoints: str
    """The ledger's keyed checkpoints, a copy outside its host (``infra.store.checkpoints``)."""
    positions: str
    """Every position fact (``infra.streaming.position_messages``), keyed by position."""
    candidates: str
    """Who each candidate is and their profile, compacted, keyed by candidate
    (``infra.streaming.candidate_records``); an erasure's tombstone empties it of the person."""

    @classmethod
    def of(cls, settings: Settings) -> Topics:
        prefix = settings.kafka_topic_prefix
        return cls(
            f"{prefix}.touchpoints.v2",
            f"{prefix}.alerts.v2",
            f"{prefix}.deadletter.v1",
            f"{prefix}.inbound.v1",
            f"{prefix}.checkpoints.v1",
            f"{prefix}.positions.v2",
            f"{prefix}.candidates.v1",
        )

    def all(self) -> tuple[str, ...]:
        return (
            self.touchpoints,
            self.candidates,
            self.alerts,
            self.deadletter,
            self.inbound,
            self.checkpoints,
            self.positions,
        )


def kafka_group_id(settings: Settings, group: str) -> str:
    """A group's id in Kafka: group ids are cluster-wide, topic prefixes are not."""
    return f"{settings.kafka_topic_prefix}.{group}"


def topic_specs(settings: Settings) -> dict[str, dict[str, Any]]:
    """What each topic is created with (kafka-python's ``create_topics`` form)."""
    topics = Topics.of(settings)
    common = {
        "min.insync.replicas": str(settings.kafka_min_insync_replicas),
        # The relay compresses with lz4; the broker keeps the batches as they come.
        "compression.type": "lz4",
        "cleanup.policy": "delete",
        "message.timestamp.type": "CreateTime",
    }
    partitions, replicas = settings.kafka_partitions, settings.kafka_replication_factor
    return {
        # Kept for ever: a new consumer group rebuilds its views from the first event. Nothing
        # about the person is on this topic (so an erasure never has to rewrite it): their CRM
        # reference and profile are on the candidates topic, under the same key.
        topics.touchpoints: {
            "num_partitions": partitions,
            "replication_factor": replicas,
            "configs": common | {"retention.ms": "-1"},
        },
        # Kept for ever, partitioned like the touchpoints (the relay that publishes a
        # partition of one publishes the same partition of the other, in one transaction).
        topics.positions: {
            "num_partitions": partitions,
            "replication_factor": replicas,
            "configs": common | {"retention.ms": "-1"},
        },
        # One record per candidate, partitioned like the touchpoints (the relay of a partition
        # of one publishes the same partition of the other). Compacted: an erasure's tombstone
        # makes the person's record eligible for removal at once (min.compaction.lag.ms 0),
        # max.compaction.lag.ms rolls and cleans a segment within a day however quiet the
        # topic, and the tombstone itself stays a day (delete.retention.ms) so that a consumer
        # that reads daily sees it. So a person's record is gone from the topic within about a
        # day of the erasure, the tombstone a day later.
        topics.candidates: {
            "num_partitions": partitions,
            "replication_factor": replicas,
            "configs": common
            | {
                "cleanup.policy": "compact",
                "retention.ms": "-1",
                "min.compaction.lag.ms": "0",
                "max.compaction.lag.ms": str(DAY_MS),
                "delete.retention.ms": str(DAY_MS),
                "segment.ms": str(DAY_MS),
            },
        },
        topics.alerts: {
            "num_partitions": partitions,
            "replication_factor": replicas,
            "configs": common | {"retention.ms": str(90 * DAY_MS)},
        },
        # One partition keeps failures in the order they happened; a month to look into them.
        topics.deadletter: {
            "num_partitions": 1,
            "replication_factor": replicas,
            "configs": common | {"retention.ms": str(30 * DAY_MS)},
        },
        # The import format, personal data included: kept one day only, long enough for the
        # inbound consumers to record it (the ledger seals it), short enough that an erasure
        # is complete on this topic a day later.
        topics.inbound: {
            "num_partitions": partitions,
            "replication_factor": replicas,
            "configs": common | {"retention.ms": str(DAY_MS)},
        },
        # The latest checkpoint of each ledger, kept for ever: compacted by ledger, one
        # partition. Sealed positions and links only, nothing about anyone.
        topics.checkpoints: {
            "num_partitions": 1,
            "replication_factor": replicas,
            "configs": common | {"cleanup.policy": "compact", "retention.ms": "-1"},
        },
    }


@contextmanager
def admin_client(settings: Settings, timeout_ms: int = 10_000) -> Iterator[KafkaAdminClient]:
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap.split(","),
            client_id="rapport-admin",
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )
    except KafkaError as down:
        raise BrokerUnavailable(
            f"no Kafka broker answers at {settings.kafka_bootstrap} ({type(down).__name__})"
        ) from None
    try:
        yield admin
    finally:
        admin.close()


class TopicState(NamedTuple):
    outcome: str
    """``created`` or ``exists``."""
    partitions: int


def ensure_topics(settings: Settings) -> dict[str, TopicState]:
    """Create the missing topics (idempotent); returns what happened to each."""
    specs = topic_specs(settings)
    outcome: dict[str, str] = {}
    with admin_client(settings) as admin:
        response = admin.create_topics(specs, raise_errors=False, wait_for_metadata=False)
        for topic in response["topics"]:
            name, code = topic["name"], topic["error_code"]
            if code == 0:
                outcome[name] = "created"
            elif code == TopicAlreadyExistsError.errno:
                outcome[name] = "exists"
            else:
                message = topic.get("error_message") or f"error code {code}"
                raise KafkaError(f"cannot create topic {name}: {message}")
        # Another process may have created a topic a moment ago: wait until every partition of
        # every topic has a leader, so consumers subscribing next see all the partitions.
        admin.wait_for_topics(list(specs))
        described = {t["name"]: t for t in admin.describe_topics(list(specs))}
    states = {}
    for name, spec in specs.items():
        found = len(described.get(name, {}).get("partitions", ()))
        states[name] = TopicState(outcome[name], found)
        if found != spec["num_partitions"]:
            log.warning(
                "topics.partitions_differ",
                topic=name,
                partitions=found,
                configured=spec["num_partitions"],
            )
    log.info("topics.ensured", **outcome)
    return states


@lru_cache(maxsize=1 << 18)
def partition_of(candidate_id: str, partitions: int) -> int:
    """The partition of a candidate's messages: Kafka's default for the key (murmur2), so any
    client producing with the candidate id as key agrees with Rapport."""
    return (murmur2(candidate_id.encode()) & 0x7FFFFFFF) % partitions


def close_producer(producer: KafkaProducer, timeout: float = 5.0) -> None:
    """Close a producer, waiting up to ``timeout`` for what it holds; if its broker is gone,
    without waiting.

    kafka-python 3.0's ``close()`` flushes first and raises when batches are still pending,
    leaving its sender thread running; then the thread is stopped directly.
    """
    try:
        producer.close(timeout=timeout)
    except KafkaError:
        sender = getattr(producer, "_sender", None)
        if sender is not None:
            sender.force_close()
        producer._closed = True  # type: ignore[attr-defined]  # so __del__ does not flush again


def discard_producer(producer: KafkaProducer) -> None:
    """Drop a producer that failed, and whatever it still holds."""
    close_producer(producer, timeout=0)
