"""The topic contract: the messages Rapport publishes on Kafka, for Rapport and for other teams.

Each touchpoint message is a versioned JSON envelope around the touchpoint *without* its
``personal`` field, so names, emails, phone numbers and free text never reach a topic, and
without what it says about the person (the CRM's reference, a registration's profile, a
certification noticed): those go to the compacted candidates topic, which an erasure empties
(``infra.streaming.candidate_records``). The pydantic models below are the contract's single
definition: ``rapport schemas`` writes their JSON Schemas, and the projection consumers validate
every message against them. The relay writes the same shape straight from the stored JSON
(``ledger_message``), without building models: it publishes tens of thousands of events a
second.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from hashlib import sha1, sha256
from typing import Annotated, Any, Literal, NamedTuple
from uuid import UUID

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, create_model

from domain.line_schema import DIALECT, schema_id, with_patterns
from domain.position_facts import POSITION_CATALOGUE
from domain.touchpoints import CATALOGUE, readable_errors
from infra.store.recorder import StoredRow
from infra.streaming.candidate_records import (
    ABOUT_THE_PERSON,
    IDENTITY,
    NOT_PUBLISHED,
    record_model,
    take_the_person_out,
)
from infra.streaming.position_messages import position_message, position_message_model
from infra.streaming.schema_sets import typed_schemas
from projections.base import Fact

EVENT_NAMESPACE = UUID("0b7d2c4e-5f61-4a8e-9c1d-7e3f2a9b6c58")
_NAMESPACE_BYTES = EVENT_NAMESPACE.bytes
Header = tuple[str, bytes]

SCHEMA_VERSIONS: dict[str, int] = {kind: cls.schema_version for kind, cls in CATALOGUE.items()}
"""The schema version of every touchpoint type: a consumer refuses versions it does not know."""
_VERSION_BYTES = {kind: str(version).encode() for kind, version in SCHEMA_VERSIONS.items()}
_TYPE_BYTES = {kind: kind.encode() for kind in CATALOGUE}


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TouchpointEnvelope(_Message):
    """One recorded touchpoint on ``<prefix>.touchpoints.v2``; the key is ``candidate_id``.

    Who the candidate is (the CRM's reference) and their profile are on the candidates topic,
    under the same key; an ``erasure_requested`` touchpoint is the notice to forget them."""

    event_id: UUID = Field(description="Stable id of the stored event: deduplicate by it.")
    type: str = Field(description="The touchpoint type (also the `type` header).")
    schema_version: int = Field(description="The type's schema version (also a header).")
    candidate_id: UUID = Field(description="The ledger's candidate id; the message key.")
    candidate_version: int = Field(ge=1, description="The event's number for this candidate.")
    occurred_at: AwareDatetime = Field(description="When it happened (may be back-dated).")
    recorded_at: AwareDatetime = Field(description="When Rapport recorded it.")
    position: int = Field(ge=1, description="Position in the ledger: increases per partition.")
    payload: Any = Field(
        description="The touchpoint as in the import format, minus `personal`, `source_id`,"
        " `candidate` and the fields about the person (on the candidates topic)."
    )


def _payload_model(kind: str) -> type[BaseModel]:
    """The touchpoint type's model without ``personal`` and what it says about the person."""
    touchpoint = CATALOGUE[kind]
    left_out = {*NOT_PUBLISHED, IDENTITY, *ABOUT_THE_PERSON.get(kind, ())}
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in touchpoint.model_fields.items()
        if name not in left_out
    }
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{touchpoint.__name__}Payload",
        __config__=ConfigDict(extra="forbid", frozen=True),
        __doc__=f"A touchpoint of type `{kind}`, without anything about the person.",
        **fields,
    )


@cache
def touchpoint_message_model(kind: str) -> type[TouchpointEnvelope]:
    """The envelope of one touchpoint type, with its payload's own schema."""
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{CATALOGUE[kind].__name__}Message",
        __base__=TouchpointEnvelope,
        __doc__=f"A touchpoint of type `{kind}` on the touchpoints topic.",
        type=(Literal[kind], ...),  # type: ignore[valid-type]
        schema_version=(Literal[SCHEMA_VERSIONS[kind]], ...),  # type: ignore[valid-type]
        payload=(_payload_model(kind), ...),
    )


class AlertMessage(_Message):
    """A stale-contact alert raised or cleared, on ``<prefix>.alerts.v2``; key ``candidate_id``.

    Who the candidate is comes from the candidates topic (join by ``candidate_id``), so an
    erasure leaves no alert naming them."""

    type: Literal["alert_raised", "alert_cleared"]
    schema_version: Literal[2] = 2
    alert_id: UUID = Field(
        description="The alert (one episode of one rule): raise and clear share it."
    )
    seq: int = Field(
        ge=1, description="Order of the alert log that published it; deduplicate by it."
    )
    published_by: str = Field(description="The consumer group whose views raised it.")
    candidate_id: UUID = Field(description="The ledger's candidate id (see the candidates topic).")
    recruiter: str | None = Field(description="The candidate's owner at registration.")
    rule: str
    opened_position: int = Field(description="Ledger position of the fact that opened the episode.")
    at: AwareDatetime = Field(description="Due time of a raise; time of what cleared it.")
    reason: str = Field(description="The rule's description, or why it was cleared.")
    as_of: AwareDatetime = Field(description="The instant the alert log was evaluated at.")


class DeadLetterSource(_Message):
    topic: str
    partition: int
    offset: int
    timestamp: AwareDatetime | None
    key_sha256: str | None = Field(
        description="Digest of the key (the key itself may be anything)."
    )
    value_sha256: str | None = Field(description="Digest of the value, which is never copied.")
    value_bytes: int


class DeadLetterMessage(_Message):
    """A message a consumer could not accept, on ``<prefix>.deadletter.v1``.

    The rejected value is not copied (it may hold anything, personal data included): read it at
    ``source`` (topic, partition, offset) while the source topic retains it.
    """

    type: Literal["dead_letter"] = "dead_letter"
    schema_version: Literal[1] = 1
    dead_letter_id: UUID
    consumer_group: str
    reason: str
    failed_at: AwareDatetime
    source: DeadLetterSource


class CheckpointMessage(_Message):
    """The ledger's latest keyed checkpoint, on ``<prefix>.checkpoints.v1`` (key: the ledger's
    name), exactly the checkpoint file's document: positions, links and the seal, nothing
    about anyone. Only the chain key's holder can check the seal (``rapport audit verify
    --kafka``)."""

    position: Annotated[int, Field(ge=1)]
    head: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    keyed_from: Annotated[int, Field(ge=1)]
    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
    written_at: str
    seal: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


# --- writing --------------------------------------------------------------------------------


def event_id(candidate_id: str, version: int) -> str:
    """The same stored event always gets the same id (a UUIDv5), however often it is sent.

    Computed as ``uuid.uuid5`` does, without building ``UUID`` objects: the relay makes one
    for every event it publishes."""
    digest = bytearray(sha1(_NAMESPACE_BYTES + f"{candidate_id}/{version}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class LedgerMessage(NamedTuple):
    """What the relay sends for one stored event."""

    for_positions: bool
    """A position's fact (for the positions topic), else a touchpoint."""
    type: str
    key: bytes
    value: bytes
    headers: list[Header]
    about: dict[str, Any] | None
    """A touchpoint's fields about the person, taken out of ``value`` (the candidates topic's
    record is made of them); None for a position's fact."""


def ledger_message(row: StoredRow) -> LedgerMessage:
    """The message of any stored event: a position's goes to the positions topic, a
    candidate's to the touchpoints topic (what it says about the person apart)."""
    stored = orjson.loads(row.state)
    if "fact" in stored:
        event = event_id(row.candidate_id, row.version)
        message = position_message(stored, row.position, row.candidate_id, row.version, event)
        return LedgerMessage(True, stored["fact"]["type"], *message, None)
    touchpoint = stored["touchpoint"]
    about = take_the_person_out(touchpoint)
    return LedgerMessage(False, touchpoint["type"], *_touchpoint_message(stored, row), about)


def touchpoint_message(row: StoredRow) -> tuple[bytes, bytes, list[Header]]:
    """(key, value, headers) of a stored touchpoint; personal data and what it says about the
    person never leave this function."""
    stored = orjson.loads(row.state)
    take_the_person_out(stored["touchpoint"])
    return _touchpoint_message(stored, row)


def _touchpoint_message(
    stored: dict[str, Any], row: StoredRow
) -> tuple[bytes, bytes, list[Header]]:
    touchpoint = stored["touchpoint"]
    kind = touchpoint["type"]
    envelope = {
        "event_id": event_id(row.candidate_id, row.version),
        "type": kind,
        "schema_version": SCHEMA_VERSIONS[kind],
        "candidate_id": row.candidate_id,
        "candidate_version": row.version,
        "occurred_at": touchpoint["occurred_at"],
        "recorded_at": stored["timestamp"],
        "position": row.position,
        "payload": touchpoint,
    }
    headers = [("type", _TYPE_BYTES[kind]), ("schema_version", _VERSION_BYTES[kind])]
    return row.candidate_id.encode(), orjson.dumps(envelope), headers


# --- reading --------------------------------------------------------------------------------


class Undecodable(ValueError):
    """A message that is not a touchpoint this version of Rapport understands (dead-lettered)."""


def fact_from_message(key: bytes | None, value: bytes | None, headers: list[Header]) -> Fact:
    """Validate a touchpoint message against the contract and turn it into a ``Fact``.

    The fact carries the message's own JSON values (not the model's): joined with the
    candidate's record (``candidate_records.identified``), a projection fed from the topics
    sees exactly what it sees fed from the ledger.
    """
    if value is None:
        raise Undecodable("the message has no value")
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError as bad:
        raise Undecodable(f"the value is not JSON: {bad}") from None
    if not isinstance(document, dict):
        raise Undecodable("the value is not a JSON object")
    kind = document.get("type")
    if kind not in SCHEMA_VERSIONS:
        raise Undecodable(f"type: unknown touchpoint type {str(kind)[:64]!r}")
    version = document.get("schema_version")
    if version != SCHEMA_VERSIONS[kind]:
        raise Undecodable(
            f"schema_version: {kind} version {str(version)[:16]} is not known"
            f" (this consumer reads version {SCHEMA_VERSIONS[kind]})"
        )
    said = dict(headers or ())
    if (
        said.get("type", _TYPE_BYTES[kind]) != _TYPE_BYTES[kind]
        or said.get("schema_version", _VERSION_BYTES[kind]) != _VERSION_BYTES[kind]
    ):
        raise Undecodable("headers: type or schema_version disagree with the value")
    try:
        touchpoint_message_model(kind).model_validate(document)
    except ValidationError as invalid:
        raise Undecodable(describe(invalid)) from None
    if key is not None and key.decode(errors="replace") != document["candidate_id"]:
        raise Undecodable("key: the key is not the message's candidate_id")
    payload = document["payload"]
    return Fact(
        position=document["position"],
        candidate_id=document["candidate_id"],
        version=document["candidate_version"],
        type=kind,
        occurred_at=_seconds(payload["occurred_at"]),
        recorded_at=_seconds(document["recorded_at"]),
        data=payload,
    )


def describe(invalid: ValidationError, limit: int = 5) -> str:
    """Fields and messages only: the rejected values themselves may be personal data."""
    errors = readable_errors(invalid)
    parts = [
        f"{'.'.join(str(part) for part in path) or 'message'}: {message}"
        for path, message in errors[:limit]
    ]
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(parts) + more


def _seconds(moment: str) -> float:
    return datetime.fromisoformat(moment).timestamp()


def digest(data: bytes | None) -> str | None:
    return None if data is None else sha256(data).hexdigest()


# --- the published schemas ------------------------------------------------------------------


def message_schemas() -> dict[str, dict[str, Any]]:
    """Every message type's JSON Schema (draft 2020-12), by file name; each ``$id`` is
    ``urn:rapport:schema:<file name without .schema.json>``."""
    schemas = typed_schemas("touchpoints.v2", CATALOGUE, touchpoint_message_model)
    schemas |= typed_schemas("positions.v2", POSITION_CATALOGUE, position_message_model)
    for name, model in (
        ("candidates.v1", record_model()),
        ("alerts.v2", AlertMessage),
        ("deadletter.v1", DeadLetterMessage),
        ("checkpoints.v1", CheckpointMessage),
    ):
        schemas[f"{name}.schema.json"] = {
            "$schema": DIALECT,
            "$id": schema_id(name),
            **with_patterns(model.model_json_schema()),
        }
    return schemas
