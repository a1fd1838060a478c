"""Who may record what is decided per touchpoint, wherever it enters: an erasure needs the
compliance role over HTTP (single and batch), an explicit flag on the command line, and an
explicit setting on the inbound topic. Both stores; the inbound case on the real broker."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient
from kafka import KafkaProducer
from typer.testing import CliRunner

from consumers.inbound import InboundRecorder
from domain.access import UserRole, may_record, operation_recording
from domain.touchpoints import CATALOGUE
from infra.cli.app import app as cli
from infra.core.settings import Settings
from infra.store.ledger import Ledger
from infra.streaming.topics import Topics, ensure_topics
from tests.support.builders import at
from tests.support.capture import position, post, reply
from tests.support.files import import_story, store_env, story, write_jsonl
from tests.support.streaming import read_topic, values

runner = CliRunner()


def erasure(candidate: str = "C-1", **fields: Any) -> dict[str, Any]:
    return {"type": "erasure_requested", "candidate": candidate, "occurred_at": at(20),
            "requested_by": "anyone"} | fields  # fmt: skip


def key_of(settings: Settings, candidate: str = "C-1") -> bytes | None:
    ledger = Ledger(settings)
    try:
        return ledger.ledger_recorder.candidate_key(ledger.candidate(candidate).id)
    finally:
        ledger.close()


def last_event(settings: Settings, candidate: str = "C-1") -> Any:
    ledger = Ledger(settings)
    try:
        return ledger.candidate_events(candidate)[-1]
    finally:
        ledger.close()


def test_every_touchpoint_type_has_exactly_one_operation() -> None:
    for kind in CATALOGUE:
        needs_compliance = kind == "erasure_requested"
        assert may_record({UserRole.RECRUITER}, kind) is not needs_compliance, kind
        assert may_record({UserRole.COMPLIANCE}, kind) is needs_compliance, kind
        assert not may_record({UserRole.VIEWER}, kind), kind
    assert operation_recording("erasure_requested").value == "erase_candidate"


def test_a_recruiter_cannot_erase_through_the_touchpoint_endpoints(
    served: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    client, tokens = served
    before = position(settings)
    single = post(client, tokens["recruiter"], "", erasure())
    assert single.status_code == 403, single.text
    assert single.json()["detail"][0]["loc"] == ["body", "type"]
    assert "compliance" in single.json()["detail"][0]["msg"]
    batch = post(client, tokens["recruiter"], "/batch", [reply("ok-1"), erasure()])
    assert batch.status_code == 403 and batch.json()["detail"][0]["loc"] == ["body", 1, "type"]
    assert position(settings) == before  # nothing of either request, not even the reply
    assert key_of(settings) is not None  # the candidate's key is still there
    # A compliance token may not record recruiting work, and a viewer nothing at all.
    assert post(client, tokens["compliance"], "", reply("ok-2")).status_code == 403
    assert post(client, tokens["viewer"], "", erasure()).status_code == 403


def test_compliance_erases_through_a_touchpoint_as_itself_whatever_the_body_says(
    served: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    client, tokens = served
    answer = post(client, tokens["compliance"], "", erasure(requested_by="someone-else"))
    assert answer.status_code == 201, answer.text
    assert key_of(settings) is None
    assert last_event(settings).touchpoint.requested_by == "compliance-1"
    # The erasure endpoint takes who asked from the token too; a body naming someone is refused.
    compliance = {"Authorization": f"Bearer {tokens['compliance']}"}
    named = client.post("/api/v1/erasures", headers=compliance,
                        json={"candidate": "C-1", "reason": "data_subject_request",
                              "requested_by": "someone-else"})  # fmt: skip
    assert named.status_code == 422 and named.json()["detail"][0]["loc"] == [
        "body", "requested_by"]  # fmt: skip


def test_the_command_line_erases_only_when_told_to(settings: Settings, tmp_path: Path) -> None:
    env = store_env(settings)
    with_erasure = write_jsonl(tmp_path / "a.jsonl", [*story("C-1"), erasure()])
    refused = runner.invoke(cli, ["import", str(with_erasure)], env=env)
    assert refused.exit_code == 6, refused.output
    assert "line 6: type: an erasure_requested may be recorded only with the compliance" in (
        refused.stderr
    )
    assert position(settings) == 0  # nothing at all, not the five lines before it
    import_story(settings, tmp_path)
    line = orjson.dumps(erasure()).decode()
    record = runner.invoke(cli, ["record"], input=line, env=env)
    assert record.exit_code == 6 and "--allow-erasures" in record.stderr
    assert key_of(settings) is not None
    allowed = runner.invoke(cli, ["record", "--allow-erasures"], input=line, env=env)
    assert allowed.exit_code == 0, allowed.output
    assert key_of(settings) is None
    erased_in_import = runner.invoke(
        cli, ["import", "--allow-erasures", str(with_erasure)], env=env
    )
    assert erased_in_import.exit_code == 0, erased_in_import.output


def test_inbound_erasures_go_to_the_dead_letters_unless_the_setting_allows_them(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings
    import_story(settings, tmp_path)
    ensure_topics(settings)
    topics = Topics.of(settings)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    producer.send(topics.inbound, key=b"C-1", value=orjson.dumps(erasure(source_id="in-1")))
    producer.send(topics.inbound, key=b"C-1", value=orjson.dumps(reply("in-2")))
    producer.flush()
    recorder = InboundRecorder.connect(settings, "capture")
    try:
        deadline = time.monotonic() + 120
        while recorder.stats.recorded + recorder.stats.dead_letters < 2:
            assert time.monotonic() < deadline, f"inbound stuck: {recorder.stats}"
            recorder.poll_once()
    finally:
        recorder.close()
    assert (recorder.stats.recorded, recorder.stats.dead_letters) == (1, 1)
    assert key_of(settings) is not None
    (letter,) = values(read_topic(settings, topics.deadletter))
    assert letter["reason"].startswith("not permitted: an erasure_requested")
    assert "anyone" not in orjson.dumps(letter).decode()  # the value is never copied

    allowed = settings.model_copy(update={"inbound_erasures": True})
    producer.send(topics.inbound, key=b"C-1", value=orjson.dumps(erasure(source_id="in-3")))
    producer.flush()
    producer.close()
    recorder = InboundRecorder.connect(allowed, "capture")
    try:
        deadline = time.monotonic() + 120
        while recorder.stats.recorded < 1:
            assert time.monotonic() < deadline, f"inbound stuck: {recorder.stats}"
            recorder.poll_once()
    finally:
        recorder.close()
    assert key_of(settings) is None
