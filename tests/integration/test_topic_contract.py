"""The topic contract, without a broker: what the relay writes, what a consumer accepts, and the
published JSON Schemas agreeing with both."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from domain.position_facts import POSITION_CATALOGUE
from domain.touchpoints import CATALOGUE
from infra.cli.app import app
from infra.core.settings import Settings
from infra.intake.importing import read_touchpoints
from infra.read.stored_facts import to_fact
from infra.store.ledger import Ledger
from infra.streaming.messages import (
    Undecodable,
    event_id,
    fact_from_message,
    ledger_message,
    message_schemas,
    touchpoint_message,
)
from infra.synthetic.generator import DEFAULT_UNTIL, write_jsonl
from tests.support.builders import at, pf
from tests.support.files import personal_texts
from tests.support.streaming import schema_validator

runner = CliRunner()
RECORDED = DEFAULT_UNTIL + timedelta(days=1)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    data = tmp_path_factory.mktemp("history") / "history.jsonl"
    write_jsonl(data, candidates=400, seed=11)
    lines, errors = read_touchpoints(data)
    assert errors == []
    return lines


@pytest.fixture(scope="module")
def stored_rows(tmp_path_factory: pytest.TempPathFactory, history: list[Any]) -> list[Any]:
    """Every stored event of a generated history with every touchpoint type in it."""
    folder = tmp_path_factory.mktemp("contract")
    lines = history
    ledger = Ledger(Settings(db=folder / "rapport.db"), clock=lambda: RECORDED)
    try:
        ledger.write(ledger.decide(lines))
        return ledger.recorder.read_stored(1, 10**6)  # type: ignore[attr-defined]
    finally:
        ledger.close()


def test_the_history_has_every_touchpoint_type(stored_rows: list[Any]) -> None:
    kinds = {orjson.loads(row.state)["touchpoint"]["type"] for row in stored_rows}
    assert kinds == set(CATALOGUE)


def test_messages_carry_no_personal_data_and_validate_against_the_published_schemas(
    stored_rows: list[Any], history: list[Any]
) -> None:
    texts = [text.encode() for text in personal_texts(history)]
    assert len(texts) > 300
    schemas = message_schemas()
    any_type = schema_validator(schemas, "touchpoints.v1.schema.json")
    by_type = {
        kind: schema_validator(schemas, f"touchpoints.v1.{kind}.schema.json") for kind in CATALOGUE
    }
    union_checked: set[str] = set()
    for row in stored_rows:
        key, value, headers = touchpoint_message(row)
        document = orjson.loads(value)
        assert key == row.candidate_id.encode()
        assert "personal" not in document["payload"]
        assert not any(text in value for text in texts)
        kind = document["type"]
        version = str(CATALOGUE[kind].schema_version).encode()  # 1, shortlisted 2
        assert dict(headers) == {"type": kind.encode(), "schema_version": version}
        errors = list(by_type[kind].iter_errors(document))
        assert errors == [], (kind, errors[:1])
        if kind not in union_checked:  # the union tries all 20 schemas: once per type is enough
            assert any_type.is_valid(document)
            union_checked.add(kind)


def test_a_consumer_sees_exactly_the_fact_the_ledger_follower_sees(stored_rows: list[Any]) -> None:
    for row in stored_rows:
        assert fact_from_message(*touchpoint_message(row)) == to_fact(row)


def test_an_event_keeps_its_id_however_often_it_is_sent(stored_rows: list[Any]) -> None:
    row = stored_rows[7]
    first = orjson.loads(touchpoint_message(row)[1])["event_id"]
    assert first == orjson.loads(touchpoint_message(row)[1])["event_id"]
    assert first == event_id(row.candidate_id, row.version)
    assert first != event_id(row.candidate_id, row.version + 1)


def _message(stored_rows: list[Any], kind: str) -> tuple[bytes, dict[str, Any], list[Any]]:
    row = next(r for r in stored_rows if orjson.loads(r.state)["touchpoint"]["type"] == kind)
    key, value, headers = touchpoint_message(row)
    return key, orjson.loads(value), headers


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: b"not json {", "the value is not JSON"),
        (lambda d: [1, 2], "not a JSON object"),
        (lambda d: d | {"type": "telepathy"}, "type: unknown touchpoint type 'telepathy'"),
        (
            lambda d: d | {"schema_version": 2},
            "schema_version: outreach_sent version 2 is not known",
        ),
        (
            lambda d: d | {"payload": d["payload"] | {"channel": "pigeon"}},
            "payload.channel: Input should be",
        ),
        (lambda d: {k: v for k, v in d.items() if k != "position"}, "position: Field required"),
        (
            lambda d: d | {"payload": d["payload"] | {"personal": {"name": "Ada Okafor"}}},
            "payload.personal: Extra inputs are not permitted",
        ),
    ],
)
def test_a_message_that_breaks_the_contract_is_refused_with_the_field_named(
    stored_rows: list[Any], change: Any, reason: str
) -> None:
    key, document, headers = _message(stored_rows, "outreach_sent")
    changed = change(document)
    value = changed if isinstance(changed, bytes) else orjson.dumps(changed)
    with pytest.raises(Undecodable) as refused:
        fact_from_message(key, value, headers)
    assert reason in str(refused.value)
    assert "Ada Okafor" not in str(refused.value)  # the reason never quotes the value


def test_headers_and_key_must_agree_with_the_value(stored_rows: list[Any]) -> None:
    key, document, headers = _message(stored_rows, "reply_received")
    value = orjson.dumps(document)
    with pytest.raises(Undecodable, match="headers"):
        fact_from_message(key, value, [("type", b"hired"), ("schema_version", b"1")])
    with pytest.raises(Undecodable, match="key"):
        fact_from_message(b"someone-else", value, headers)
    assert fact_from_message(None, value, []).type == "reply_received"


def test_rapport_schemas_writes_one_schema_per_message_type(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schemas", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = {path.name for path in tmp_path.iterdir()}
    expected = (
        {f"touchpoints.v1.{kind}.schema.json" for kind in CATALOGUE}
        | {f"positions.v1.{kind}.schema.json" for kind in POSITION_CATALOGUE}
        | {
            "touchpoint.schema.json",
            "touchpoints.v1.schema.json",
            "positions.v1.schema.json",
            "alerts.v1.schema.json",
            "deadletter.v1.schema.json",
            "checkpoints.v1.schema.json",
        }
    )
    assert written == expected
    for name in written:
        Draft202012Validator.check_schema(json.loads((tmp_path / name).read_text()))


def test_a_positions_message_follows_its_schema_and_keeps_its_id(tmp_path: Path) -> None:
    """What the relay writes for a position's event: its own envelope, keyed by the position,
    the fact whole (nothing in it is personal), the same event id every time."""
    ledger = Ledger(Settings(db=tmp_path / "rapport.db"), clock=lambda: RECORDED)
    try:
        facts = [pf(kind, when=at(days=n)) for n, kind in enumerate(POSITION_CATALOGUE)]
        ledger.write(ledger.decide([(n, facts[n]) for n in (0, 1, 2)]))
        rows = ledger.ledger_recorder.read_stored(1, 10)
    finally:
        ledger.close()
    validator = schema_validator(message_schemas(), "positions.v1.schema.json")
    for row, fact in zip(rows, facts, strict=False):
        for_positions, key, value, headers = ledger_message(row)
        document = orjson.loads(value)
        assert for_positions and key.decode() == row.candidate_id == document["position_id"]
        validator.validate(document)
        assert document["payload"] == orjson.loads(fact.clear_json)
        assert dict(headers) == {"type": fact.type.encode(), "schema_version": b"1"}
        assert ledger_message(row)[2] == value  # the same event id when sent again
