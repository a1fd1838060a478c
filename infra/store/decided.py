"""Touchpoints a bulk import has decided, in the form they will be stored.

A streaming import decides every candidate before it writes anything (a file the rules refuse
in part is written not at all), so what it decided waits on disk between the two passes: plain
tuples, not event objects. Each accepted touchpoint keeps its stored JSON without the personal
data (``clear_json``, serialised once, right after validation) and its personal data as JSON;
sealing happens only when the batch is written, so no candidate's key ever waits on disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.candidate import Registered, TouchpointRecorded
from infra.store.persistence import stored_state
from infra.store.recorder import ErasureRow, KeyRow
from infra.store.sealing import Nonces, new_key, seal_with

REGISTERED_TOPIC = get_topic(Registered)
RECORDED_TOPIC = get_topic(TouchpointRecorded)


DecidedEvent = tuple[int, int, str, bytes, bytes | None]
"""(line, version, deduplication key, clear JSON, personal JSON or None): an accepted
touchpoint. The personal data's JSON is sealed when it is written."""

DecidedCandidate = tuple[bytes, list[DecidedEvent], tuple[int, str] | None]
"""(the candidate id's bytes, their accepted touchpoints, (version, reason) of their erasure if
it is among them). If another writer changes the candidate before the batch is written, the
touchpoints are rebuilt from their JSON and decided again. Plain tuples: they are pickled."""


@dataclass
class StoredBatch:
    """A batch of decided candidates as the recorder takes them."""

    events: list[StoredEvent] = field(default_factory=list)
    keys: list[KeyRow] = field(default_factory=list)
    new_sealing_keys: list[tuple[UUID, bytes]] = field(default_factory=list)
    erasures: list[ErasureRow] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    """The line of each event, in ``events`` order."""
    candidates: int = 0


def stored_batch(
    candidates: Iterable[DecidedCandidate],
    sealing_keys: Mapping[UUID, bytes],
    heads: Mapping[bool, bytes],
    erased_at: str,
    nonces: Nonces,
) -> StoredBatch:
    """Seal and assemble the events: one cipher per candidate, nonces drawn in bulk.

    ``sealing_keys`` holds the keys of the candidates already in the ledger; every other
    candidate gets a new one. ``heads`` is the stored head of a first event (True) and of any
    later one (False), the same for every event of the write.
    """
    batch = StoredBatch()
    for id_bytes, events, erasure in candidates:
        cid = UUID(bytes=id_bytes)
        key = sealing_keys.get(cid)
        if key is None:  # a new candidate (or one recorded before keys existed)
            key = new_key()
            batch.new_sealing_keys.append((cid, key))
        cipher = AESGCM(key)
        for line, version, dedupe_key, clear_json, personal in events:
            first = version == 1
            sealed = (
                None
                if personal is None
                else seal_with(cipher, nonces.next(), cid, version, personal)
            )
            batch.events.append(
                StoredEvent(
                    originator_id=cid,
                    originator_version=version,
                    topic=REGISTERED_TOPIC if first else RECORDED_TOPIC,
                    state=stored_state(heads[first], clear_json, sealed),
                )
            )
            batch.keys.append((dedupe_key, cid, version))
            batch.lines.append(line)
        if erasure is not None:
            batch.erasures.append(ErasureRow(cid, erasure[0], erasure[1], erased_at))
        batch.candidates += 1
    return batch
