"""The positions topic's messages: every position fact, whole, keyed by the position's id.

A position describes a job, not a person, so its facts travel as they were recorded, with one
exception: ``position_filled`` names the candidate hired by the ledger's ``candidate_id``
instead of the CRM's reference, which only the candidates topic holds (and an erasure removes).
The envelope mirrors a touchpoint's: ``position`` is the event's place in the ledger, as on
every Rapport topic; the requisition id is the payload's ``position``.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal
from uuid import UUID

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model

from domain.position_facts import POSITION_CATALOGUE
from domain.touchpoints import candidate_id

Header = tuple[str, bytes]

POSITION_SCHEMA_VERSIONS: dict[str, int] = {
    kind: cls.schema_version for kind, cls in POSITION_CATALOGUE.items()
}
_VERSION_BYTES = {kind: str(version).encode() for kind, version in POSITION_SCHEMA_VERSIONS.items()}
_TYPE_BYTES = {kind: kind.encode() for kind in POSITION_CATALOGUE}


class PositionEnvelope(BaseModel):
    """One recorded position fact on ``<prefix>.positions.v2``; the key is ``position_id``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID = Field(description="Stable id of the stored event: deduplicate by it.")
    type: str = Field(description="The position fact's type (also the `type` header).")
    schema_version: int = Field(description="The type's schema version (also a header).")
    position_id: UUID = Field(description="The ledger's position id; the message key.")
    position_version: int = Field(ge=1, description="The event's number for this position.")
    occurred_at: AwareDatetime = Field(description="When it happened (may be back-dated).")
    recorded_at: AwareDatetime = Field(description="When Rapport recorded it.")
    position: int = Field(ge=1, description="Position in the ledger: increases per partition.")
    payload: Any = Field(
        description="The fact as in the import format (the requisition id is its `position`;"
        " a candidate is named by `candidate_id`)."
    )


def _payload_model(kind: str) -> type[BaseModel]:
    """The fact's model, a candidate named by the ledger's id instead of the CRM's reference."""
    fact = POSITION_CATALOGUE[kind]
    if "candidate" not in fact.model_fields:
        return fact
    fields: dict[str, Any] = {}
    for name, info in fact.model_fields.items():
        if name == "candidate":
            fields["candidate_id"] = (
                UUID,
                Field(description="The ledger's id of the candidate (see the candidates topic)."),
            )
        else:
            fields[name] = (info.annotation, info)
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{fact.__name__}Payload",
        __config__=ConfigDict(extra="forbid", frozen=True),
        __doc__=fact.__doc__,
        **fields,
    )


@cache
def position_message_model(kind: str) -> type[PositionEnvelope]:
    """The envelope of one position fact type, with its payload's own schema."""
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{POSITION_CATALOGUE[kind].__name__}Message",
        __base__=PositionEnvelope,
        __doc__=f"A position fact of type `{kind}` on the positions topic.",
        type=(Literal[kind], ...),  # type: ignore[valid-type]
        schema_version=(Literal[POSITION_SCHEMA_VERSIONS[kind]], ...),  # type: ignore[valid-type]
        payload=(_payload_model(kind), ...),
    )


def position_message(
    stored: dict[str, Any], position: int, position_id: str, version: int, event_id: str
) -> tuple[bytes, bytes, list[Header]]:
    """(key, value, headers) of a stored position event, from its parsed JSON."""
    fact = stored["fact"]
    kind = fact["type"]
    if "candidate" in fact:
        fact = {
            ("candidate_id" if name == "candidate" else name): (
                str(candidate_id(value)) if name == "candidate" else value
            )
            for name, value in fact.items()
        }
    envelope = {
        "event_id": event_id,
        "type": kind,
        "schema_version": POSITION_SCHEMA_VERSIONS[kind],
        "position_id": position_id,
        "position_version": version,
        "occurred_at": fact["occurred_at"],
        "recorded_at": stored["timestamp"],
        "position": position,
        "payload": fact,
    }
    headers = [("type", _TYPE_BYTES[kind]), ("schema_version", _VERSION_BYTES[kind])]
    return position_id.encode(), orjson.dumps(envelope), headers
