"""Reading the topics as another team would: with clients that are not Rapport's (Debian's kcat,
on librdkafka, and Kafka's own console consumer run from the broker's jar cache), against the
schemas ``rapport schemas`` publishes; and ``rapport kafka status``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator
from kafka import TopicPartition
from typer.testing import CliRunner

from domain.touchpoints import CATALOGUE
from infra.cli.app import app
from infra.core.settings import Settings
from infra.store.ledger import Ledger
from infra.streaming.topics import Topics
from tests.integration.test_streaming import consume_until, relay_everything
from tests.support.files import history, personal_texts, record_lines
from tests.support.streaming import candidate_records, settled_ends, stream_env

KAFKA_SH = Path(__file__).resolve().parents[2] / "infra" / "ops" / "scripts" / "kafka.sh"

pytestmark = pytest.mark.kafka
runner = CliRunner()


def kcat(settings: Settings, topic: str) -> bytes:
    """The topic read to its end by kcat, once the relay's last commit markers are written
    (``-e`` stops at the end offsets of the moment)."""
    if shutil.which("kcat") is None:
        pytest.fail("kcat is missing: `make test` installs it (make tools)")
    partitions = [TopicPartition(topic, p) for p in range(settings.kafka_partitions)]
    settled_ends(settings, partitions, timeout=60)
    found = subprocess.run(
        ["kcat", "-C", "-b", settings.kafka_bootstrap, "-t", topic, "-o", "beginning", "-e",
         "-q", "-J"],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    return found.stdout


def test_kcat_reads_every_touchpoint_once_and_each_follows_the_published_schema(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings
    lines = history(150, seed=43, folder=tmp_path)
    total = record_lines(settings, lines)
    relay_everything(settings)
    assert runner.invoke(app, ["schemas", "--out", str(tmp_path / "schemas")]).exit_code == 0
    validators = {
        kind: Draft202012Validator(
            orjson.loads((tmp_path / "schemas" / f"touchpoints.v2.{kind}.schema.json").read_bytes())
        )
        for kind in CATALOGUE
    }
    output = kcat(settings, Topics.of(settings).touchpoints)
    messages = [orjson.loads(line) for line in output.splitlines()]
    positions = []
    for message in messages:
        document = orjson.loads(message["payload"])
        errors = list(validators[document["type"]].iter_errors(document))
        assert errors == [], errors[:1]
        headers = dict(zip(message["headers"][::2], message["headers"][1::2], strict=True))
        version = str(CATALOGUE[document["type"]].schema_version)  # 1, shortlisted 2
        assert headers == {"type": document["type"], "schema_version": version}
        assert message["key"] == document["candidate_id"]
        positions.append(document["position"])
    assert sorted(positions) == list(range(1, total + 1))  # every event, exactly once
    # No name, email, phone number or message text of anyone reaches the topic.
    texts = personal_texts(lines)
    assert len(texts) > 300
    leaked = [text for text in texts if text.encode() in output]
    assert leaked == []
    # Nor any CRM reference: who a candidate is travels on the candidates topic only.
    references = {line.candidate for _, line in lines if hasattr(line, "candidate")}
    assert not [ref for ref in references if f'"{ref}"'.encode() in output]
    record_schema = Draft202012Validator(
        orjson.loads((tmp_path / "schemas" / "candidates.v1.schema.json").read_bytes())
    )
    latest: dict[str, object] = {}
    for message in map(orjson.loads, kcat(settings, Topics.of(settings).candidates).splitlines()):
        if message["payload"] is not None:  # None: an erasure's tombstone
            record = orjson.loads(message["payload"])
            assert list(record_schema.iter_errors(record)) == []
            assert message["key"] == record["candidate_id"]
        latest[message["key"]] = message["payload"] and orjson.loads(message["payload"])
    # The last word on each candidate is their record as the ledger holds it now (the
    # certifications noticed since included), or a tombstone for one erased.
    ledger = Ledger(settings)
    try:
        rows = ledger.ledger_recorder.read_stored(1, 10**9)
    finally:
        ledger.close()
    expected = candidate_records(rows, erasures=False)
    erased = expected.keys() - candidate_records(rows).keys()
    assert erased, "the history erases someone"
    assert latest == {who: None if who in erased else record for who, record in expected.items()}
    assert any(record["certifications_gained"] for record in expected.values())
    assert {record["candidate"] for record in expected.values()} <= references


def test_kafka_status_shows_the_topics_the_relay_and_each_groups_lag(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings
    total = record_lines(settings, history(40, seed=45, folder=tmp_path))
    relay_everything(settings)
    consume_until(settings, "ops", total, publish_alerts=False)
    topic = Topics.of(settings).touchpoints
    settled_ends(settings, [TopicPartition(topic, p) for p in range(settings.kafka_partitions)])
    env = stream_env(settings)
    result = runner.invoke(app, ["kafka", "status", "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    status = orjson.loads(result.stdout)
    topics = {topic["name"]: topic for topic in status["topics"]}
    touchpoints = topics[Topics.of(settings).touchpoints]
    assert touchpoints["partitions"] == settings.kafka_partitions
    # Offsets are not events: each transaction the relay committed left a marker in every
    # partition it wrote to. Kafka's own get-offsets tool reads the same ends.
    assert touchpoints["offsets"] > total
    ends = _kafka_tool(settings, "get-offsets", "--topic", Topics.of(settings).touchpoints)
    by_partition = {int(line.split(":")[1]): int(line.split(":")[2]) for line in ends.splitlines()}
    assert by_partition == {int(p): end for p, end in touchpoints["end_offsets"].items()}
    assert status["relay"] == {"ledger_position": total, "published_position": total, "behind": 0}
    groups = {group["group"]: group for group in status["groups"]}
    assert groups["ops"]["lag"] == 0
    table = runner.invoke(app, ["kafka", "status"], env=env)
    assert table.exit_code == 0
    assert Topics.of(settings).touchpoints in table.stdout and "ops" in table.stdout
    assert "Offsets are not events" in table.stdout


def _kafka_tool(settings: Settings, tool: str, *args: str, timeout: float = 180) -> str:
    """One of Kafka's own tools, run from the broker's jars (``kafka.sh tool``); its stderr is
    printed when it fails."""
    found = subprocess.run(
        [str(KAFKA_SH), "tool", tool, "--bootstrap-server", settings.kafka_bootstrap, *args],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert found.returncode == 0, f"kafka.sh tool {tool} failed:\n{found.stderr[-3000:]}"
    return found.stdout


def test_kafkas_own_console_consumer_reads_every_committed_touchpoint(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings
    total = record_lines(settings, history(30, seed=47, folder=tmp_path))
    relay_everything(settings)
    output = _kafka_tool(
        settings, "console-consumer", "--topic", Topics.of(settings).touchpoints,
        "--from-beginning", "--isolation-level", "read_committed", "--max-messages", str(total),
        "--timeout-ms", "60000", "--formatter-property", "print.key=true",
        "--formatter-property", "key.separator=|",
    )  # fmt: skip
    rows = [line.split("|", 1) for line in output.splitlines()]  # the key: a UUID
    documents = [orjson.loads(value) for _, value in rows]
    assert sorted(document["position"] for document in documents) == list(range(1, total + 1))
    assert all(
        key == document["candidate_id"] for (key, _), document in zip(rows, documents, strict=True)
    )


def test_kafka_status_says_when_no_broker_answers(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["kafka", "status", "--db", str(tmp_path / "none.db")],
        env={"RAPPORT_KAFKA_BOOTSTRAP": "127.0.0.1:9", "RAPPORT_DATABASE_URL": ""},
    )
    assert result.exit_code == 4
    assert "no Kafka broker answers at 127.0.0.1:9" in result.stderr
