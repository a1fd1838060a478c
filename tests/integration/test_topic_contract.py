"""The topic contract, without a broker: what the relay writes, what a consumer accepts, the
candidates' records it joins them with, and the published JSON Schemas agreeing with all."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from domain.position_facts import POSITION_CATALOGUE
from domain.touchpoints import CATALOGUE, candidate_id
from infra.cli.app import app
from infra.core.settings import Settings
from infra.intake.importing import read_touchpoints
from infra.read.stored_facts import to_fact
from infra.store.ledger import Ledger
from infra.streaming.candidate_records import (
    ABOUT_THE_PERSON,
    NOT_PUBLISHED,
    PROFILE_FIELDS,
    identified,
)
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
from tests.support.streaming import candidate_records, schema_validator

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
    any_type = schema_validator(schemas, "touchpoints.v2.schema.json")
    by_type = {
        kind: schema_validator(schemas, f"touchpoints.v2.{kind}.schema.json") for kind in CATALOGUE
    }
    references = {line.candidate.encode() for _, line in history if hasattr(line, "candidate")}
    union_checked: set[str] = set()
    for row in stored_rows:
        key, value, headers = touchpoint_message(row)
        document = orjson.loads(value)
        assert key == row.candidate_id.encode()
        kind = document["type"]
        # Nothing about the person: no personal data, no CRM reference, no profile.
        about = {*NOT_PUBLISHED, "candidate", *ABOUT_THE_PERSON.get(kind, ())}
        assert not about & document["payload"].keys()
        assert not any(text in value for text in texts)
        assert not any(b'"' + reference + b'"' in value for reference in references)
        version = str(CATALOGUE[kind].schema_version).encode()  # 1, shortlisted 2
        assert dict(headers) == {"type": kind.encode(), "schema_version": version}
        errors = list(by_type[kind].iter_errors(document))
        assert errors == [], (kind, errors[:1])
        if kind not in union_checked:  # the union tries all 20 schemas: once per type is enough
            assert any_type.is_valid(document)
            union_checked.add(kind)


def test_a_consumer_sees_exactly_the_fact_the_ledger_follower_sees(stored_rows: list[Any]) -> None:
    """Joined with the candidates' records as a live group reads them (before any erasure)."""
    records = candidate_records(stored_rows, erasures=False)
    for row in stored_rows:
        fact = identified(fact_from_message(*touchpoint_message(row)), records)
        assert fact == _published(to_fact(row))


def _published(fact: Any) -> Any:
    """A stored fact without what no topic carries (the CRM's id of it; no projection reads it)."""
    data = {name: value for name, value in fact.data.items() if name not in NOT_PUBLISHED}
    return replace(fact, data=data)


def test_after_an_erasure_a_consumer_knows_the_touchpoints_but_not_the_person(
    stored_rows: list[Any],
) -> None:
    """A group rebuilt from the topics once an erased candidate's record is compacted away
    counts their touchpoints, with every field about the person null."""
    records = candidate_records(stored_rows)
    erased = {
        row.candidate_id
        for row in stored_rows
        if orjson.loads(row.state)["touchpoint"]["type"] == "erasure_requested"
    }
    assert erased and not erased & records.keys()
    for row in stored_rows:
        fact = identified(fact_from_message(*touchpoint_message(row)), records)
        ledger = _published(to_fact(row))
        if row.candidate_id not in erased:
            assert fact == ledger
            continue
        assert fact.data["candidate"] is None and fact.type == ledger.type
        about = ABOUT_THE_PERSON.get(fact.type, ())
        assert all(fact.data[name] is None for name in about)
        kept = {k: v for k, v in ledger.data.items() if k not in {"candidate", *about}}
        assert {k: fact.data[k] for k in kept} == kept


def test_a_candidates_record_follows_its_schema_and_holds_the_registration_s_profile(
    stored_rows: list[Any], history: list[Any]
) -> None:
    validator = schema_validator(message_schemas(), "candidates.v1.schema.json")
    records = candidate_records(stored_rows, erasures=False)
    registrations = {
        str(candidate_id(line.candidate)): line
        for _, line in history
        if getattr(line, "type", None) == "candidate_registered"
    }
    assert records.keys() == registrations.keys()
    gained = 0
    for who, record in records.items():
        validator.validate(record)
        line = registrations[who]
        assert record["candidate"] == line.candidate
        assert record["profile"] == line.model_dump(mode="json", include=set(PROFILE_FIELDS))
        gained += len(record["certifications_gained"])
    assert gained > 0  # the history enriches some profiles with a certification


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
        {f"touchpoints.v2.{kind}.schema.json" for kind in CATALOGUE}
        | {f"positions.v2.{kind}.schema.json" for kind in POSITION_CATALOGUE}
        | {
            "touchpoint.schema.json",
            "touchpoints.v2.schema.json",
            "positions.v2.schema.json",
            "candidates.v1.schema.json",
            "alerts.v2.schema.json",
            "deadletter.v1.schema.json",
            "checkpoints.v1.schema.json",
        }
    )
    assert written == expected
    for name in written:
        Draft202012Validator.check_schema(json.loads((tmp_path / name).read_text()))


def test_a_positions_message_follows_its_schema_and_keeps_its_id(tmp_path: Path) -> None:
    """What the relay writes for a position's event: its own envelope, keyed by the position,
    the fact whole (nothing in it is personal) but for the candidate hired, named by the
    ledger's id; the same event id every time."""
    ledger = Ledger(Settings(db=tmp_path / "rapport.db"), clock=lambda: RECORDED)
    try:
        # Opened, updated, filled (a closed one after it would be refused).
        facts = [pf(kind, when=at(days=n)) for n, kind in enumerate(POSITION_CATALOGUE)][:3]
        assert facts[-1].type == "position_filled"
        ledger.write(ledger.decide(list(enumerate(facts))))
        rows = ledger.ledger_recorder.read_stored(1, 10)
    finally:
        ledger.close()
    assert len(rows) == len(facts)
    validator = schema_validator(message_schemas(), "positions.v2.schema.json")
    for row, fact in zip(rows, facts, strict=True):
        message = ledger_message(row)
        document = orjson.loads(message.value)
        assert message.for_positions and message.type == fact.type
        assert message.key.decode() == row.candidate_id == document["position_id"]
        validator.validate(document)
        expected = orjson.loads(fact.clear_json)
        if "candidate" in expected:
            reference = expected.pop("candidate")
            expected["candidate_id"] = str(candidate_id(reference))
            assert reference.encode() not in message.value
        assert document["payload"] == expected
        assert dict(message.headers) == {"type": fact.type.encode(), "schema_version": b"1"}
        assert ledger_message(row).value == message.value  # the same event id when sent again
