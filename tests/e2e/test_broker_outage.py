"""The broker goes away while recruiters keep working: the ledger keeps recording (it never
waits for Kafka), the relay and the consumers wait it out, and when the broker is back they
catch up with everything, exactly once. This test runs a broker of its own, to stop it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.core.settings import Settings
from tests.support.files import history, record_lines
from tests.support.streaming import (
    embedded_views,
    group_events,
    group_views,
    log_events,
    relay_position,
    start,
    stop,
    wait_for,
)

pytestmark = pytest.mark.kafka

PORT = 29292
"""Below 32768: outside the range the kernel picks client ports from (32768-60999 here), so no
connection the suite has open can hold the port the broker binds."""


class Broker:
    """A broker of this test's own, started and stopped with ``rapport kafka up|down``."""

    def __init__(self, folder: Path) -> None:
        self.env = os.environ | {
            "RAPPORT_KAFKA_BOOTSTRAP": f"127.0.0.1:{PORT}",
            "RAPPORT_KAFKA_DIR": str(folder),
            "RAPPORT_KAFKA_HEAP": "384m",
            "RAPPORT_LOG_FORMAT": "json",
        }

    def run(self, action: str) -> None:
        subprocess.run([sys.executable, "-m", "infra.cli", "kafka", action], env=self.env,
                       check=True, timeout=180)  # fmt: skip


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    if not os.environ.get("RAPPORT_TEST_KAFKA_BOOTSTRAP"):
        pytest.skip("no Kafka broker: run `make test` (which provides the broker's jars)")
    broker = Broker(tmp_path_factory.mktemp("broker"))
    broker.run("up")
    try:
        yield broker
    finally:
        broker.run("down")


def test_the_ledger_records_while_the_broker_is_down_and_the_stream_catches_up(
    settings: Settings, own_broker: Broker, tmp_path: Path
) -> None:
    settings = settings.model_copy(
        update={
            "kafka_bootstrap": f"127.0.0.1:{PORT}",
            "kafka_topic_prefix": f"t{uuid.uuid4().hex[:10]}",
        }
    )
    lines = history(300, seed=41, folder=tmp_path)
    candidates = sorted({touchpoint.candidate for _, touchpoint in lines})
    before = set(candidates[:150])
    first = record_lines(settings, [line for line in lines if line[1].candidate in before])
    relay_log, consumer_log = tmp_path / "relay.log", tmp_path / "consumer.log"
    relay = start(settings, "relay", log=relay_log)
    consumer = start(settings, "consume", "--group", "ops", "--instance", "c0",
                     "--alert-interval", "0.5", log=consumer_log)  # fmt: skip
    try:
        wait_for(lambda: group_events(settings, "ops") == first, 90, "the first half in views")
        own_broker.run("down")
        # Recruiters keep working: every touchpoint is recorded without the broker.
        total = record_lines(settings, [line for line in lines if line[1].candidate not in before])
        assert total > first
        wait_for(lambda: bool(log_events(relay_log, "relay.broker_unavailable")), 60,
                 "the relay to notice the broker is gone")  # fmt: skip
        assert relay.poll() is None and consumer.poll() is None  # both wait it out
        assert relay_position(settings) == first
        own_broker.run("up")
        logs = (relay_log, consumer_log)
        wait_for(lambda: relay_position(settings) == total, 120, "the relay to catch up", logs)
        wait_for(lambda: group_events(settings, "ops") == total, 120, "the views", logs)
    finally:
        for process in (relay, consumer):
            stop(process)
    assert group_views(settings, "ops") == embedded_views(settings)
