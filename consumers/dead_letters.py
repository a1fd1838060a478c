"""The dead-letter topic: messages a consumer could not accept, with the reason, never the value.

A rejected message may hold anything (a foreign producer's personal data included), so the dead
letter names where it is (topic, partition, offset) with digests of its key and value, instead
of copying it. Dead letters are sent and acknowledged before the consumer commits past the
message, so a crash can send one twice (same ``dead_letter_id``) but never lose one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import orjson
import structlog
from kafka import KafkaProducer

from infra.core.settings import Settings
from infra.streaming.messages import DeadLetterMessage, DeadLetterSource, digest
from infra.streaming.topics import Topics, close_producer

log = structlog.get_logger("rapport.dead_letters")


def dead_letter(message: Any, reason: str, group: str, now: datetime) -> DeadLetterMessage:
    """The dead letter of one consumed ``ConsumerRecord``."""
    where = f"kafka:{message.topic}/{message.partition}/{message.offset}"
    stamp = message.timestamp
    return DeadLetterMessage(
        dead_letter_id=uuid5(NAMESPACE_URL, f"{where}#{group}"),
        consumer_group=group,
        reason=reason,
        failed_at=now,
        source=DeadLetterSource(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            timestamp=datetime.fromtimestamp(stamp / 1000, UTC) if stamp and stamp > 0 else None,
            key_sha256=digest(message.key),
            value_sha256=digest(message.value),
            value_bytes=len(message.value or b""),
        ),
    )


class DeadLetters:
    def __init__(self, settings: Settings, group: str) -> None:
        self.settings = settings
        self.group = group
        self.topic = Topics.of(settings).deadletter
        self._producer: KafkaProducer | None = None

    def send(self, rejected: Sequence[tuple[Any, str]]) -> None:
        """Send and wait for the broker's acknowledgement (raises if it does not come)."""
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap.split(","),
                client_id=f"rapport-dead-letters-{self.group}",
                acks="all",
                max_block_ms=10_000,
                request_timeout_ms=5_000,
                delivery_timeout_ms=10_000,
            )
        now = datetime.now(UTC)
        sent = []
        for message, reason in rejected:
            letter = dead_letter(message, reason, self.group, now)
            sent.append(
                self._producer.send(
                    self.topic,
                    key=str(letter.dead_letter_id).encode(),
                    value=orjson.dumps(letter.model_dump(mode="json")),
                    headers=[("type", b"dead_letter"), ("schema_version", b"1")],
                )
            )
            log.warning(
                "consumer.dead_lettered",
                group=self.group,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                reason=reason,
            )
        self._producer.flush(timeout=10)
        for future in sent:
            future.get(timeout=10)  # raises what the broker said, if it refused

    def close(self) -> None:
        if self._producer is not None:
            close_producer(self._producer)
            self._producer = None
