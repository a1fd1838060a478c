"""How the ledger's events are stored: pydantic + orjson, personal data sealed per candidate.

The ``eventsourcing`` library does the event storage. Added here:

* a mapper that lets pydantic serialise and rebuild events (no transcodings to register), and
  seals each touchpoint's ``personal`` field with its candidate's key on the way in; on the way
  out it is ``Withheld`` (only the subject-access export opens it, see ``infra.compliance.audit``);
* the transcoder: plain JSON by orjson.

What the recorders store beside the events is ``infra.store.recorder``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder, Transcoding
from eventsourcing.utils import get_topic, resolve_topic
from pydantic import BaseModel

from domain.touchpoints import STORED, WITHHELD, Withheld
from infra.store.sealing import is_sealed, seal


class SealingKeyMissing(Exception):
    """Personal data reached the mapper for a candidate without a key: a bug, never stored."""


_IDS_NOT_STORED = {"originator_id": True, "originator_version": True}
_NOT_IN_HEAD = {"originator_id": True, "originator_version": True, "touchpoint": True}


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


def event_head(event: BaseModel) -> bytes:
    """An event's JSON without its ids and touchpoint (when it was recorded, and for the first
    event the aggregate's topic): the same for every event of one kind in one write."""
    return event.__pydantic_serializer__.to_json(event, exclude=_NOT_IN_HEAD)


def stored_state(head: bytes, clear_json: bytes, sealed: str | None) -> bytes:
    """The stored JSON of an event from its head, its touchpoint's ``clear_json`` (JSON without
    ``personal``) and the sealed personal data, if any."""
    if sealed is None:
        return b'%s,"touchpoint":%s}' % (head[:-1], clear_json)
    return b'%s,"touchpoint":%s,"personal":"%s"}}' % (head[:-1], clear_json[:-1], sealed.encode())


class PydanticMapper(Mapper[UUID]):
    """Stores an event's own JSON (its id and version already live in their own columns).

    ``sealing_keys`` is set by the ledger around each write: the key of every candidate whose
    events are being stored.
    """

    sealing_keys: Mapping[UUID, bytes] = {}

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        event = cast("BaseModel", domain_event)
        # A position's event has no touchpoint, and nothing personal.
        personal = getattr(getattr(domain_event, "touchpoint", None), "personal", None)
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
        return stored_state(event_head(event), touchpoint.clear_json, sealed)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        state = stored_event.state
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        data = self.transcoder.decode(state)
        touchpoint = data.get("touchpoint")  # absent from a position's event
        if touchpoint is not None and is_sealed(touchpoint.get("personal")):
            touchpoint["personal"] = WITHHELD
        data["originator_id"] = stored_event.originator_id
        data["originator_version"] = stored_event.originator_version
        return _event_class(stored_event.topic).model_validate(data, context=STORED)
