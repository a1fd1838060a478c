"""Rapport's Kafka clients, configured once: the group consumer every consumer process uses, and
the transactional producer of the relay and the alert publisher.

Consumers read committed transactions only and keep their offsets in their own database (Kafka's
committed offsets are hints for monitoring). A transactional producer is made and initialised
on first use, carries each batch in one transaction, and after any failure is discarded with
what it holds: the next use makes it again, and the new one fences the old.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from infra.core.logging import log_group_membership
from infra.core.settings import Settings
from infra.streaming.topics import close_producer, discard_producer, kafka_group_id


def group_consumer(
    settings: Settings, group: str, *, role: str, batch: int, instance: str | None = None
) -> KafkaConsumer:
    """A member of consumer group ``group`` (``role`` names the process kind in client ids);
    its membership changes are logged with ours."""
    log_group_membership()
    return KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        group_id=kafka_group_id(settings, group),
        group_instance_id=instance,
        client_id=f"rapport-{role}-{group}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=batch,
        fetch_max_wait_ms=20,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
        request_timeout_ms=30_000,
        reconnect_backoff_max_ms=1_000,
    )


class TransactionalProducer:
    """One transactional id's producer: ``with producer.transaction() as kafka: kafka.send(...)``
    commits on leaving the block, and on any failure aborts by discarding the producer."""

    def __init__(
        self,
        settings: Settings,
        *,
        client_id: str,
        transactional_id: str,
        on_connect: Callable[[KafkaProducer], None] | None = None,
        **options: Any,
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self.transactional_id = transactional_id
        self.on_connect = on_connect
        """Checks run on a new producer (it is discarded if they raise)."""
        self.options = options
        self._producer: KafkaProducer | None = None

    def connect(self) -> KafkaProducer:
        if self._producer is None:
            producer = KafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap.split(","),
                client_id=self.client_id,
                transactional_id=self.transactional_id,
                transaction_timeout_ms=15_000,
                acks="all",
                compression_type="lz4",
                linger_ms=5,
                max_block_ms=10_000,
                request_timeout_ms=5_000,
                delivery_timeout_ms=10_000,
                **self.options,
            )
            try:
                producer.init_transactions()
                if self.on_connect is not None:
                    self.on_connect(producer)
            except BaseException:
                discard_producer(producer)
                raise
            self._producer = producer
        return self._producer

    @contextmanager
    def transaction(self) -> Iterator[KafkaProducer]:
        producer = self.connect()
        try:
            producer.begin_transaction()
            yield producer
            # flush() waits with a timeout; commit_transaction() alone could wait for ever.
            producer.flush(timeout=10)
            producer.commit_transaction()
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Drop the producer and whatever it holds (its open transaction is never committed)."""
        if self._producer is not None:
            discard_producer(self._producer)
            self._producer = None

    def close(self) -> None:
        if self._producer is not None:
            close_producer(self._producer)
            self._producer = None
