"""Streaming on the real broker: ledger -> relay -> touchpoints topic -> a consumer group's views,
which must equal what the ledger follower builds from the same ledger."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from kafka import KafkaProducer
from typer.testing import CliRunner

from consumers.alert_publisher import AlertPublisher
from consumers.dead_letters import DeadLetters
from consumers.first_catch_up import first_catch_up
from consumers.projection_consumer import ProjectionConsumer
from consumers.relay import Relay
from domain.access import UserRole
from infra.cli.app import app
from infra.core.settings import Settings
from infra.http.app import create_app
from infra.http.state import ServerState
from infra.http.tokens import add_token, load_tokens
from infra.read.read_side import all_projections, group_views_settings
from infra.read.stream_views import StreamViews
from infra.read.views import ViewStore, views_path
from infra.store.ledger import Ledger
from infra.streaming.messages import message_schemas
from infra.streaming.relay_progress import RelayProgress
from infra.streaming.topics import Topics, partition_of
from infra.synthetic.generator import DEFAULT_UNTIL
from tests.support.builders import at, pf
from tests.support.files import RECORDED, history, personal_texts, record_lines
from tests.support.streaming import (
    embedded_views,
    group_events,
    group_views,
    log_events,
    read_topic,
    schema_validator,
    start,
    stop,
    stream_env,
    values,
    wait_for,
)

pytestmark = pytest.mark.kafka
runner = CliRunner()


def split_by_candidate(lines: list[Any], share: float) -> tuple[list[Any], list[Any]]:
    """Two groups of whole candidates: the first ``share`` of them, then the rest."""
    candidates = sorted({touchpoint.candidate for _, touchpoint in lines})
    first = set(candidates[: int(len(candidates) * share)])
    return (
        [line for line in lines if line[1].candidate in first],
        [line for line in lines if line[1].candidate not in first],
    )


def relay_everything(settings: Settings) -> None:
    ledger = Ledger(settings)
    try:
        with Relay.connect(settings, ledger.ledger_recorder) as relay:
            relay.run(until_caught_up=True)
    finally:
        ledger.close()


def consume_until(settings: Settings, group: str, events: int, **options: Any) -> Any:
    consumer = ProjectionConsumer.connect(
        group_views_settings(settings, group), group, all_projections(timeline=True), **options
    )
    try:
        consumer.run(lambda: consumer.stats.applied >= events)
        return consumer.stats
    finally:
        consumer.close()


def test_two_consumer_processes_build_the_views_of_an_embedded_rebuild(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings
    early, late = split_by_candidate(history(300, seed=21, folder=tmp_path), 0.7)
    record_lines(settings, early)
    known_at = RECORDED.isoformat()  # when the early lines were recorded; the late ones a day on
    log = tmp_path / "processes.log"
    relay = start(settings, "relay", log=log)
    # Small batches: a member busy applying one large batch while the other joins misses the
    # rebalance on a loaded machine, is dropped from the group after its session timeout, and
    # (kafka-python, static membership) was seen not to come back for minutes.
    consumers = [
        start(settings, "consume", "--group", "ops", "--instance", f"ops-{i}", "--batch", "200",
              "--alert-interval", "0.5", log=tmp_path / f"consumer-{i}.log")
        for i in range(2)
    ]  # fmt: skip

    def partitions_split() -> bool:
        """Each consumer's latest assignment is its own share, and together they cover the
        topic. (A consumer dropped from the group under load logs nothing until it rejoins, so
        "both have some" alone could hold while one of them had in fact lost everything.)"""
        latest = [log_events(tmp_path / f"consumer-{i}.log", "consumer.positioned") for i in (0, 1)]
        if not all(latest):
            return False
        first, second = (set(entries[-1]["partitions"]) for entries in latest)
        split = bool(first) and bool(second) and not first & second
        return split and len(first | second) == settings.kafka_partitions

    try:
        logs = (log, *(tmp_path / f"consumer-{i}.log" for i in (0, 1)))
        wait_for(partitions_split, 120, "the two consumers to split the partitions", logs)
        # Touchpoints recorded while the relay and the consumers run arrive as well.
        total = record_lines(settings, late, RECORDED + timedelta(days=1))
        wait_for(lambda: group_events(settings, "ops") == total, 120, f"{total} events", logs)
    finally:
        for process in [relay, *consumers]:
            assert stop(process) == 0
    assert group_views(settings, "ops") == embedded_views(settings)
    # No fact was applied by both, and the two processes shared the work: each read its own
    # share, or (on a loaded machine, kafka-python with static membership) one member stopped
    # heartbeating before it applied anything, was dropped from the group after its session
    # timeout, and the other took every partition over.
    applied = [
        log_events(tmp_path / f"consumer-{i}.log", "consumer.progress")[-1]["applied_total"]
        for i in (0, 1)
    ]
    assert sum(applied) == total
    if min(applied) == 0:
        survivor = tmp_path / f"consumer-{1 - applied.index(0)}.log"
        taken = log_events(survivor, "consumer.positioned")[-1]["partitions"]
        assert sorted(taken) == list(range(settings.kafka_partitions)), survivor.read_text()
    # kafka-python's group-membership lines are in the consumers' logs, as JSON like ours.
    assert all(log_events(path, "kafka.membership") for path in logs[1:])
    # No log line of the relay or the consumers carries anyone's personal data.
    written = b"".join(path.read_bytes() for path in logs)
    assert [text for text in personal_texts(early + late) if text.encode() in written] == []
    # While they ran, the group published its alert log (from one process at a time).
    alerts = list(values(read_topic(settings, Topics.of(settings).alerts)))
    assert alerts and {alert["published_by"] for alert in alerts} == {"ops"}
    assert len({alert["seq"] for alert in alerts}) == len(alerts)
    # The read commands answer from the group's views what they answer embedded.
    env = stream_env(settings)
    candidate = early[0][1].candidate
    for command in (
        ["metrics", "--by", "status,personalization", "--as-of", "2026-10-31", "--format", "json"],
        ["alerts", "--as-of", "2026-10-31", "--format", "json"],
        ["journey", candidate, "--as-of", "2026-10-31", "--format", "json"],
        # What was known once only the early lines were recorded: the group rebuilds it from
        # its timeline, the embedded views from the ledger.
        ["metrics", "--as-of", "2026-10-31", "--known-at", known_at, "--format", "json"],
        ["alerts", "--as-of", "2026-10-31", "--known-at", known_at, "--format", "json"],
        [
            "compare",
            "--by",
            "channel",
            "--as-of",
            "2026-10-31",
            "--known-at",
            known_at,
            "--format",
            "json",
        ],
    ):
        embedded = runner.invoke(app, command, env=env)
        streamed = runner.invoke(app, [*command, "--group", "ops"], env=env)
        assert embedded.exit_code == streamed.exit_code == 0, streamed.output
        assert streamed.stdout == embedded.stdout
    whole, then = (
        orjson.loads(runner.invoke(app, ["metrics", "--as-of", "2026-10-31", *known, "--format",
                                         "json", "--group", "ops"], env=env).stdout)["segments"]
        for known in ([], ["--known-at", known_at])
    )  # fmt: skip
    assert whole != then  # the late lines are not known then
    missing = runner.invoke(app, ["metrics", "--group", "nosuch"], env=env)
    assert missing.exit_code == 2
    assert "--group nosuch: no views of that group" in missing.stderr
    # rapport serve --group answers from the same views, and /metrics shows the relay and the
    # group caught up.
    tokens_file = tmp_path / "tokens.json"
    token = add_token(tokens_file, UserRole.VIEWER, "ops")
    state = ServerState(settings, load_tokens(tokens_file), group="ops")
    with TestClient(create_app(state)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        served = client.get(
            "/api/v1/metrics/engagement", params={"as_of": "2026-10-31"}, headers=headers
        ).json()
        cli_metrics = orjson.loads(
            runner.invoke(
                app, ["metrics", "--as-of", "2026-10-31", "--format", "json", "--group", "ops"],
                env=env,
            ).stdout
        )  # fmt: skip
        assert served["segments"] == cli_metrics["segments"]
        ready = client.get("/api/v1/ready", headers=headers).json()
        assert ready["views"] == "ops" and ready["lag"] == 0
        exposition = client.get("/metrics", headers=headers).text
        assert 'rapport_consumer_lag_events{group="ops"} 0.0' in exposition
        assert "rapport_relay_lag_events{topic=" in exposition


def test_the_alert_log_is_published_and_every_alert_follows_the_contract(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings
    total = record_lines(settings, history(200, seed=23, folder=tmp_path))
    relay_everything(settings)
    consume_until(settings, "ops", total, publish_alerts=False)
    where = group_views_settings(settings, "ops")
    with ViewStore(where) as store:
        publisher = AlertPublisher.connect(where, store, "ops")
        try:
            as_of = DEFAULT_UNTIL.timestamp()
            count = publisher.publish(as_of)
            assert count > 0
            assert publisher.publish(as_of) == 0  # nothing new: nothing sent again
        finally:
            publisher.close()
        logged = store.query("SELECT seq, action, rule, candidate_id FROM view_alert_log")
    messages = read_topic(settings, Topics.of(settings).alerts)
    validator = Draft202012Validator(message_schemas()["alerts.v2.schema.json"])
    published = list(values(messages))
    for alert, message in zip(published, messages, strict=True):
        assert validator.is_valid(alert), alert
        assert message.key == alert["candidate_id"].encode()
        assert alert["published_by"] == "ops"
    assert len(published) == count == len(logged)
    assert sorted(
        (a["seq"], a["type"].removeprefix("alert_"), a["rule"], a["candidate_id"])
        for a in published
    ) == sorted(logged)


def test_a_message_that_breaks_the_contract_goes_to_the_dead_letters_and_the_rest_goes_on(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings
    topics = Topics.of(settings)
    lines = history(60, seed=25, folder=tmp_path)
    early, late = split_by_candidate(lines, 0.5)
    record_lines(settings, early)
    relay_everything(settings)
    # Another team's producer writes what Rapport does not understand to the topic.
    foreign = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    good = read_topic(settings, topics.touchpoints)[0]
    document = orjson.loads(good.value)
    bad = [
        b"ada.okafor@example.org is not JSON",
        orjson.dumps(document | {"schema_version": 99}),
        orjson.dumps(document | {"payload": {**document["payload"], "channel": "pigeon"}}),
    ]
    for value in bad:
        foreign.send(topics.touchpoints, key=good.key, value=value, partition=good.partition)
    foreign.flush()
    foreign.close()
    total = record_lines(settings, late)
    relay_everything(settings)
    stats = consume_until(settings, "ops", total, publish_alerts=False)
    assert stats.dead_letters == 3
    assert group_views(settings, "ops") == embedded_views(settings)
    letters = read_topic(settings, topics.deadletter)
    assert len(letters) == 3
    validator = Draft202012Validator(message_schemas()["deadletter.v1.schema.json"])
    reasons = []
    for letter in letters:
        assert b"ada.okafor" not in letter.value  # the rejected value is never copied
        content = orjson.loads(letter.value)
        assert validator.is_valid(content), content
        assert content["source"]["topic"] == topics.touchpoints
        assert content["source"]["partition"] == good.partition
        reasons.append(content["reason"])
    assert reasons[0].startswith("the value is not JSON")
    assert "schema_version: candidate_registered version 99 is not known" in reasons[1]
    assert "payload.channel: Extra inputs are not permitted" in reasons[2]


def test_a_new_groups_first_catch_up_is_built_in_bulk_and_the_fold_goes_on_from_it(
    stream_settings: Settings, tmp_path: Path
) -> None:
    """The topic read to its end once, with a relay's re-sends and a foreign message on it;
    the views equal a group that folded everything, and the fold continues from them."""
    settings = stream_settings
    topics = Topics.of(settings)
    early, late = split_by_candidate(history(90, seed=31, folder=tmp_path), 0.6)
    first = record_lines(settings, early)
    relay_everything(settings)
    progress = RelayProgress(settings, topics.touchpoints)
    progress.save(range(settings.kafka_partitions), 0)  # the relay sends it all again
    progress.close()
    relay_everything(settings)
    foreign = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    foreign.send(topics.touchpoints, key=b"k", value=b"not json", partition=0)
    foreign.flush()
    foreign.close()
    bulk = ProjectionConsumer.connect(
        group_views_settings(settings, "bulk"),
        "bulk",
        all_projections(timeline=True),
        publish_alerts=False,
        bulk_from=1,
    )
    try:
        # Built before the member joined the group: nothing left for the fold.
        assert group_views(settings, "bulk") == embedded_views(settings)
        assert group_events(settings, "bulk") == first
        assert len(read_topic(settings, topics.deadletter)) == 1
        total = record_lines(
            settings, late, RECORDED + timedelta(days=1)
        )  # all the events the ledger holds
        relay_everything(settings)
        deadline = time.monotonic() + 180
        bulk.run(lambda: bulk.stats.applied >= total - first or time.monotonic() > deadline)
        assert bulk.stats.applied == total - first, bulk.stats
        assert bulk.stats.dead_letters == 0
    finally:
        bulk.close()
    folded = consume_until(settings, "folded", total, publish_alerts=False)
    assert folded.applied == total
    assert group_views(settings, "bulk") == group_views(settings, "folded")
    assert group_views(settings, "bulk") == embedded_views(settings)
    assert group_events(settings, "bulk") == group_events(settings, "folded") == total


def test_a_first_catch_up_read_by_two_processes_equals_the_embedded_views(
    stream_settings: Settings, tmp_path: Path
) -> None:
    """A helper process reads every other partition (a foreign message on one of them is
    dead-lettered by the process it helps)."""
    settings = stream_settings
    topics = Topics.of(settings)
    total = record_lines(settings, history(60, seed=33, folder=tmp_path))
    relay_everything(settings)
    foreign = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    foreign.send(topics.touchpoints, key=b"k", value=b"not json", partition=1)  # the helper's
    foreign.flush()
    foreign.close()
    where = group_views_settings(settings, "pair")
    projections = all_projections(timeline=True)
    views = StreamViews(ViewStore(where), projections, "pair", topics.touchpoints)
    views.prepare()
    letters = DeadLetters(where, "pair")
    try:
        assert first_catch_up(where, views, letters, bulk_from=1, readers=2) == total
    finally:
        letters.close()
        views.store.close()
    assert group_views(settings, "pair") == embedded_views(settings)
    assert group_events(settings, "pair") == total
    [letter] = values(read_topic(settings, topics.deadletter))
    assert letter["source"]["partition"] == 1


def test_a_batch_the_relay_sends_again_after_a_crash_is_not_counted_twice(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings
    total = record_lines(settings, history(80, seed=27, folder=tmp_path))
    relay_everything(settings)
    consume_until(settings, "ops", total, publish_alerts=False)
    # The relay crashed after Kafka committed but before it stored its position: it starts
    # again from the beginning and sends every event a second time.
    progress = RelayProgress(settings, Topics.of(settings).touchpoints)
    progress.save(range(settings.kafka_partitions), 0)
    progress.close()
    relay_everything(settings)
    assert len(read_topic(settings, Topics.of(settings).touchpoints)) == 2 * total
    consumer = ProjectionConsumer.connect(
        group_views_settings(settings, "ops"),
        "ops",
        all_projections(timeline=True),
        publish_alerts=False,
    )
    try:
        consumer.run(lambda: consumer.stats.duplicates >= total)
        assert consumer.stats.applied == 0
    finally:
        consumer.close()
    assert group_views(settings, "ops") == embedded_views(settings)
    assert group_events(settings, "ops") == total


def test_only_one_relay_publishes_a_partition(stream_settings: Settings, tmp_path: Path) -> None:
    settings = stream_settings
    record_lines(settings, history(5, seed=29, folder=tmp_path))
    ledger = Ledger(settings)
    try:
        with Relay.connect(settings, ledger.ledger_recorder, worker=(0, 2)):
            second = start(settings, "relay", log=tmp_path / "second.log")
            assert second.wait(timeout=60) == 4
            assert (
                "another relay publishes some of partitions"
                in (tmp_path / "second.log").read_text()
            )
            # The other half of the partitions is free for a second worker.
            other = start(settings, "relay", "--worker", "1/2", "--until-caught-up",
                          log=tmp_path / "other.log")  # fmt: skip
            assert other.wait(timeout=60) == 0
    finally:
        ledger.close()


def test_views_are_fed_by_the_ledger_follower_or_by_one_group_never_both(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings
    record_lines(settings, history(5, seed=31, folder=tmp_path))
    embedded_views(settings)  # the ledger follower now keeps the default views
    where = (
        {"RAPPORT_VIEWS_SCHEMA": settings.database_schema}
        if settings.database_url
        else {"RAPPORT_VIEWS_DB": str(views_path(settings.db))}
    )
    result = runner.invoke(app, ["consume", "--group", "ops"], env=stream_env(settings) | where)
    assert result.exit_code == 2
    assert "are kept by the ledger follower, not consumer group ops" in result.stderr


def test_relay_workers_split_the_partitions_and_publish_every_event_once(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings
    total = record_lines(settings, history(60, seed=33, folder=tmp_path))
    relay = start(settings, "relay", "--workers", "2", "--until-caught-up", log=tmp_path / "r.log")
    assert relay.wait(timeout=120) == 0
    started = log_events(tmp_path / "r.log", "relay.started")
    assert sorted(entry["partitions"] for entry in started) == [[0, 2, 4], [1, 3, 5]]
    messages = read_topic(settings, Topics.of(settings).touchpoints)
    assert sorted(m["position"] for m in values(messages)) == list(range(1, total + 1))


def test_a_relay_refuses_a_topic_with_other_partitions(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings
    early, late = split_by_candidate(history(10, seed=35, folder=tmp_path), 0.5)
    record_lines(settings, early)
    relay_everything(settings)
    record_lines(settings, late)
    other = settings.model_copy(update={"kafka_partitions": 3})
    relay = start(other, "relay", "--until-caught-up", log=tmp_path / "r.log")
    assert relay.wait(timeout=120) == 2
    said = (tmp_path / "r.log").read_text()
    assert "has 6 partitions and RAPPORT_KAFKA_PARTITIONS says 3" in said


def test_positions_are_published_on_their_own_topic_in_their_partitions(
    stream_settings: Settings, tmp_path: Path
) -> None:
    """The relay sends a position's facts to the positions topic, keyed and partitioned by the
    position's id, in the same transactions as the touchpoints; each follows the contract."""
    settings = stream_settings
    lines = history(20, seed=35, folder=tmp_path)
    facts = [
        pf("position_opened", position="REQ-A", when=at(days=-40)),
        pf("position_opened", position="REQ-B", when=at(days=-40), country=None, remote=True),
        pf("position_updated", position="REQ-A", when=at(days=-30), min_years=5),
        pf("position_closed", position="REQ-B", when=at(days=-20), reason="client_withdrew"),
    ]
    numbered = [(len(lines) + n, fact) for n, fact in enumerate(facts, start=1)]
    total = record_lines(settings, numbered[:2] + lines + numbered[2:])
    relay_everything(settings)
    published = read_topic(settings, Topics.of(settings).positions)
    schemas = message_schemas()
    validator = schema_validator(schemas, "positions.v2.schema.json")
    for message in published:
        document = orjson.loads(message.value)
        validator.validate(document)
        assert message.key.decode() == document["position_id"]
        assert message.partition == partition_of(document["position_id"], settings.kafka_partitions)
    documents = sorted(values(published), key=lambda d: (d["payload"]["position"], d["position"]))
    assert [(d["payload"]["position"], d["type"], d["position_version"]) for d in documents] == [
        ("REQ-A", "position_opened", 1),
        ("REQ-A", "position_updated", 2),
        ("REQ-B", "position_opened", 1),
        ("REQ-B", "position_closed", 2),
    ]
    touchpoints = read_topic(settings, Topics.of(settings).touchpoints)
    assert len(touchpoints) == total - len(facts)
    assert all(not d["type"].startswith("position_") for d in values(touchpoints))
