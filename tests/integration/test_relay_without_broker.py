"""The relay given a producer made by hand (no broker): every event goes once to its
candidate's partition inside one transaction per batch, and a batch whose transaction fails is
neither counted nor forgotten; it is published whole on the next try. On a real SQLite ledger
and relay progress store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from consumers.relay import Relay
from infra.core.settings import Settings
from infra.store.ledger import Ledger
from infra.streaming.relay_progress import RelayProgress
from infra.streaming.topics import Topics, partition_of
from tests.support.files import fill


class _Producer:
    """Records what each committed transaction sent; fails the next one when told to."""

    def __init__(self) -> None:
        self.committed: list[list[tuple[str, int | None, bytes]]] = []
        self.fail_next = False

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        sent: list[tuple[str, int | None, bytes]] = []

        class _Kafka:
            def send(self, topic: str, value: bytes, key: bytes, **options: Any) -> None:
                sent.append((topic, options.get("partition"), key))

        yield _Kafka()
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("the broker went away before the commit")
        self.committed.append(sent)

    def close(self) -> None:
        pass


def test_the_relay_publishes_every_event_once_and_a_failed_batch_again_whole(
    tmp_path: Path,
) -> None:
    settings = Settings(db=tmp_path / "rapport.db", kafka_topic_prefix="norelay")
    total = fill(settings, 30, 5, tmp_path)
    ledger = Ledger(settings)
    topic = Topics.of(settings).touchpoints
    progress = RelayProgress(settings, topic)
    partitions = list(range(settings.kafka_partitions))
    progress.lock(partitions)
    producer = _Producer()
    relay = Relay(
        settings, ledger.ledger_recorder, progress, producer,  # type: ignore[arg-type]
        partitions=partitions, batch=100,
    )  # fmt: skip
    try:
        assert relay.publish_next() > 0
        producer.fail_next = True
        with pytest.raises(ConnectionError):
            relay.publish_next()
        assert progress.load(partitions) == dict.fromkeys(partitions, 100), "not counted"
        while relay.publish_next():
            pass
    finally:
        relay.close()
        ledger.close()
    sent = [message for batch in producer.committed for message in batch if message[0] == topic]
    assert len(sent) == total, "each event once: the failed batch was sent again, whole"
    for _, partition, key in sent:
        assert partition == partition_of(key.decode(), settings.kafka_partitions)
    assert RelayProgress(settings, topic).load(partitions) == dict.fromkeys(partitions, total)
