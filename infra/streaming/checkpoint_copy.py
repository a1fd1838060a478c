"""The ledger's checkpoint as the relay published it on the compacted checkpoints topic: a copy
that whoever can write the ledger's host cannot roll back (``rapport audit verify --kafka``)."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition

from infra.core.settings import Settings
from infra.store.chain import ChainKey
from infra.store.checkpoints import Checkpoint, CheckpointMissing, ledger_name, parse_checkpoint
from infra.streaming.topics import Topics


def published_checkpoint(settings: Settings, key: ChainKey, timeout: float = 30.0) -> Checkpoint:
    """The latest checkpoint of this ledger on the checkpoints topic, its seal checked.

    ``CheckpointInvalid`` if the topic holds none for this ledger (the relay has not run since
    the ledger was keyed) or one whose seal does not match; ``KafkaError`` if no broker answers.
    """
    topic = Topics.of(settings).checkpoints
    name = ledger_name(settings.store_description)
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        enable_auto_commit=False,
        isolation_level="read_committed",
        request_timeout_ms=int(timeout * 1000),
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            raise CheckpointMissing(f"{topic}: no such topic (the relay creates it)")
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        latest: Checkpoint | None = None
        deadline = time.monotonic() + timeout
        while any(consumer.position(p) < ends[p] for p in partitions):
            if time.monotonic() > deadline:
                raise CheckpointMissing(f"{topic}: could not be read to its end in {timeout:.0f}s")
            for messages in consumer.poll(timeout_ms=200).values():
                for message in messages:
                    if message.key == name and message.value:
                        found = parse_checkpoint(message.value, key, topic)
                        if latest is None or found.position > latest.position:
                            latest = found
    finally:
        consumer.close()
    if latest is None:
        raise CheckpointMissing(f"{topic}: holds no checkpoint of this ledger (run the relay)")
    return latest
