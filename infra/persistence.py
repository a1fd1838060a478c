"""How the ledger's events are stored: pydantic + orjson, personal data sealed per candidate.

The ``eventsourcing`` library does the event storage. Added here:

* a mapper that lets pydantic serialise and rebuild events (no transcodings to register), and
  seals each touchpoint's ``personal`` field with its candidate's key on the way in; on the way
  out it is ``Withheld`` (only the subject-access export opens it, see ``infra.compliance``);
* the rows the ledger's recorders (``infra.sqlite_recorder``, ``infra.postgres_recorder``)
  write beside the events in the same transaction: deduplication keys, candidate keys, the
  hash chain, erasures; and the refusal log they keep for compliance.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder, Transcoding
from eventsourcing.utils import get_topic, resolve_topic
from pydantic import BaseModel

from domain.touchpoints import STORED, WITHHELD, Withheld
from infra.chain import SealedRow
from infra.sealing import is_sealed, seal

KeyRow = tuple[str, UUID, int]
"""(deduplication key, candidate id, version of the event that carries it)."""


class StoredRow(NamedTuple):
    position: int
    candidate_id: str
    version: int
    state: bytes


class Lookup(NamedTuple):
    recorded_keys: set[str]
    registered_candidates: set[UUID]
    candidate_keys: dict[UUID, bytes]
    """The keys of those registered candidates that still have one (not erased)."""


@dataclass(frozen=True, slots=True)
class ErasureRow:
    candidate_id: UUID
    version: int
    """The version of the ``erasure_requested`` event."""
    reason: str
    erased_at: str
    scrubbed_at: str | None = None
    """When the database files were cleaned of the destroyed key (see ``scrub``)."""


@dataclass(frozen=True, slots=True)
class InboundAdvance:
    """An inbound-topic partition read up to ``next_offset``, stored with what it recorded.

    ``expected`` is where this process believes the partition stood: if another process moved
    it meanwhile, the whole transaction is refused (``InboundMoved``)."""

    topic: str
    partition: int
    expected: int
    next_offset: int


class InboundMoved(Exception):
    """Another consumer advanced this inbound partition: the batch was written by no one twice."""


@dataclass(frozen=True, slots=True)
class RefusalRow:
    """A touchpoint the rules refused: what it was, never what it said (no personal data)."""

    dedupe_key: str
    code: str
    candidate: str
    type: str
    field: str
    occurred_at: str
    message: str
    source: str
    """Where it came from: ``import``, ``record``, ``erase``..."""

    def row(self, at: str) -> tuple[str, ...]:
        """The refusal log's columns, for a first refusal at ``at`` (attempts is the SQL's 1)."""
        return (self.dedupe_key, self.code, self.candidate, self.type, self.field,
                self.occurred_at, self.message, self.source, at, at)  # fmt: skip


@dataclass(frozen=True, slots=True)
class RefusalCount:
    code: str
    candidate: str
    type: str
    occurred_at: str
    message: str
    attempts: int
    first_refused_at: str
    last_refused_at: str
    source: str


class SealingKeyMissing(Exception):
    """Personal data reached the mapper for a candidate without a key: a bug, never stored."""


_IDS_NOT_STORED = {"originator_id": True, "originator_version": True}
_NOT_IN_HEAD = {"originator_id": True, "originator_version": True, "touchpoint": True}
_PERSONAL = {"personal": True}
_KEY_LOOKUP_CHUNK = 500


class OrjsonTranscoder(Transcoder):
    """Plain JSON: pydantic already turned every value into something JSON can hold."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)

    def register(self, transcoding: Transcoding) -> None:
        raise NotImplementedError("events are pydantic models: no transcodings to register")


@cache
def _event_class(topic: str) -> type[BaseModel]:
    return cast("type[BaseModel]", resolve_topic(topic))


class PydanticMapper(Mapper[UUID]):
    """Stores an event's own JSON (its id and version already live in their own columns).

    ``sealing_keys`` is set by the ledger around each write: the key of every candidate whose
    events are being stored.
    """

    sealing_keys: Mapping[UUID, bytes] = {}

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        event = cast("BaseModel", domain_event)
        personal = getattr(domain_event.touchpoint, "personal", None)
        if personal is None or isinstance(personal, Withheld):
            state = event.__pydantic_serializer__.to_json(event, exclude=_IDS_NOT_STORED)
        else:
            state = self._sealed_state(domain_event)
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(event)),
            state=state,
        )

    def _sealed_state(self, event: Any) -> bytes:
        """The event's JSON with ``personal`` sealed, assembled from the serialisers' own JSON
        (a dump to Python objects and back cost twice as much on bulk imports)."""
        key = self.sealing_keys.get(event.originator_id)
        if key is None:
            raise SealingKeyMissing(f"no key for candidate {event.originator_id}")
        touchpoint = event.touchpoint
        personal = touchpoint.personal
        sealed = seal(
            key,
            event.originator_id,
            event.originator_version,
            personal.__pydantic_serializer__.to_json(personal),
        )
        head = event.__pydantic_serializer__.to_json(event, exclude=_NOT_IN_HEAD)
        body = touchpoint.__pydantic_serializer__.to_json(touchpoint, exclude=_PERSONAL)
        return b'%s,"touchpoint":%s,"personal":"%s"}}' % (
            head[:-1],
            body[:-1],
            sealed.encode("ascii"),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        state = stored_event.state
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        data = self.transcoder.decode(state)
        touchpoint = data["touchpoint"]
        if is_sealed(touchpoint.get("personal")):
            touchpoint["personal"] = WITHHELD
        data["originator_id"] = stored_event.originator_id
        data["originator_version"] = stored_event.originator_version
        return _event_class(stored_event.topic).model_validate(data, context=STORED)


def dashed(hex_id: str) -> str:
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"


def first_versions(rows: Iterable[SealedRow]) -> dict[str, int]:
    """Each candidate's first version among newly stored events (they come in version order)."""
    first: dict[str, int] = {}
    for row in rows:
        first.setdefault(row.candidate_id, row.version)
    return first
