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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder, Transcoding
from eventsourcing.utils import get_topic, resolve_topic
from pydantic import BaseModel

from domain.touchpoints import IDEMPOTENCY_PREFIX, STORED, WITHHELD, Withheld
from infra.chain import ChainKey, SealedRow
from infra.chain_key import ChainKeyInvalid
from infra.sealing import is_sealed, seal


def idempotency_keys(keys: Iterable[str]) -> list[str]:
    return [key for key in keys if key.startswith(IDEMPOTENCY_PREFIX)]


KeyRow = tuple[str, UUID, int]
"""(deduplication key, candidate id, version of the event that carries it)."""


class StoredRow(NamedTuple):
    position: int
    candidate_id: str
    version: int
    state: bytes


class Lookup(NamedTuple):
    """What a decision needs, read in one snapshot: a touchpoint that is in a history is then
    always among the recorded keys too (read apart, a concurrent writer could land in between
    and make a duplicate look like a broken rule)."""

    recorded_keys: set[str]
    histories: dict[UUID, list[StoredEvent]]
    """The stored events of every registered candidate asked about, in version order."""
    candidate_keys: dict[UUID, bytes]
    """The keys of those registered candidates that still have one (not erased)."""
    keyed_events: dict[str, StoredEvent]
    """The event each recorded idempotency key was recorded with (its content is compared)."""


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


class KeyedFrom(NamedTuple):
    """Where the ledger's keyed links begin, as recorded beside them, sealed with the key."""

    keyed_from: int
    key_id: str
    seal: bytes


class UnsupportedEvent(ValueError):
    """An event the ledger's recorders do not store: the library allows more than they do."""


class LedgerRecorderMixin:
    """What both ledger recorders add to the library's: the rules of what they store, and the
    chain's key while they write (set by the ledger).

    Events belong to candidates: UUID originator ids, versions from 1 (the chain starts each
    candidate's links at version 1). Anything else is refused with ``UnsupportedEvent``, before
    anything is written. A ledger whose links are keyed, opened without its key, must not write
    plain links after keyed ones: ``refusal`` then says why, and every write is refused with it.
    """

    chain_key: ChainKey | None = None
    refusal: str | None = None
    head: tuple[int, bytes] | None = None
    """The position and ledger link of the last event this recorder chained."""

    def keyed(self) -> ChainKey | None:
        if self.refusal is not None:
            raise ChainKeyInvalid(self.refusal)
        return self.chain_key

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        for event in stored_events:
            if not isinstance(event.originator_id, UUID):
                raise UnsupportedEvent(
                    f"originator id {event.originator_id!r}: the ledger stores candidates'"
                    " events, identified by UUIDs"
                )
            if event.originator_version < 1:
                raise UnsupportedEvent(
                    f"version {event.originator_version} of {event.originator_id}: a"
                    " candidate's events are numbered from 1"
                )
        return super().insert_events(stored_events, **kwargs)  # type: ignore[misc]


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
