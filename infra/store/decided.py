"""Touchpoints a bulk import has decided, in the form they will be stored.

A streaming import decides every candidate before it writes anything (a file the rules refuse
in part is written not at all), so what it decided waits on disk between the two steps, as plain
tuples, not event objects: each accepted touchpoint already sealed and assembled into the JSON
the ledger stores, with its chain fingerprint. The decide step runs in worker processes, so that
work is spread over the cores; the write step (one writer) only inserts and links.

A new candidate's key waits on disk with their events, in the import's private folder, which
holds the file's own plaintext anyway; a key already in the ledger never does (it protects what
is already recorded): it is read again if the batch has to be decided again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.candidate import Candidate, Registered, TouchpointRecorded
from domain.touchpoints import WITHHELD
from infra.store.chain import SealedRow, digest
from infra.store.persistence import event_head, stored_state
from infra.store.recorder import ErasureRow, KeyRow
from infra.store.sealing import Nonces, is_sealed, seal_with, unseal

REGISTERED_TOPIC = get_topic(Registered)
RECORDED_TOPIC = get_topic(TouchpointRecorded)

Accepted = tuple[int, int, str, bytes, bytes | None]
"""(line, version, deduplication key, clear JSON, personal JSON or None): a touchpoint the
rules accepted, as the decide step has it."""

DecidedEvent = tuple[int, int, str, bytes, bytes]
"""(line, version, deduplication key, stored JSON, chain fingerprint)."""

DecidedCandidate = tuple[bytes, bytes | None, list[DecidedEvent], tuple[int, str] | None]
"""(the candidate id's bytes, their new sealing key (None when the ledger has one), their
accepted touchpoints, (version, reason) of their erasure if it is among them)."""


def heads_at(recorded_at: datetime) -> dict[bool, bytes]:
    """The stored head of a first event (True) and of any later one (False): the same for every
    event recorded at ``recorded_at``."""
    return {
        True: event_head(
            Registered.model_construct(timestamp=recorded_at, originator_topic=get_topic(Candidate))
        ),
        False: event_head(TouchpointRecorded.model_construct(timestamp=recorded_at)),
    }


def sealed_events(
    candidate: UUID,
    key: bytes,
    accepted: Iterable[Accepted],
    heads: dict[bool, bytes],
    nonces: Nonces,
) -> list[DecidedEvent]:
    """Seal and assemble a candidate's accepted touchpoints: one cipher for the candidate,
    nonces drawn in bulk, the fingerprint the chain links will cover."""
    cipher = AESGCM(key)
    hex_id = candidate.hex
    events = []
    for line, version, dedupe_key, clear_json, personal in accepted:
        first = version == 1
        sealed = (
            None
            if personal is None
            else seal_with(cipher, nonces.next(), candidate, version, personal)
        )
        state = stored_state(heads[first], clear_json, sealed)
        topic = REGISTERED_TOPIC if first else RECORDED_TOPIC
        fingerprint = digest(SealedRow(0, hex_id, version, topic, state))
        events.append((line, version, dedupe_key, state, fingerprint))
    return events


@dataclass
class StoredBatch:
    """A batch of decided candidates as the recorder takes them."""

    events: list[StoredEvent] = field(default_factory=list)
    fingerprints: list[bytes] = field(default_factory=list)
    keys: list[KeyRow] = field(default_factory=list)
    new_sealing_keys: list[tuple[UUID, bytes]] = field(default_factory=list)
    erasures: list[ErasureRow] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    """The line of each event, in ``events`` order."""
    candidates: int = 0


def stored_batch(candidates: Iterable[DecidedCandidate], erased_at: str) -> StoredBatch:
    batch = StoredBatch()
    for id_bytes, new_key, events, erasure in candidates:
        cid = UUID(bytes=id_bytes)
        if new_key is not None:
            batch.new_sealing_keys.append((cid, new_key))
        for line, version, dedupe_key, state, fingerprint in events:
            topic = REGISTERED_TOPIC if version == 1 else RECORDED_TOPIC
            batch.events.append(StoredEvent(cid, version, topic, state))
            batch.fingerprints.append(fingerprint)
            batch.keys.append((dedupe_key, cid, version))
            batch.lines.append(line)
        if erasure is not None:
            batch.erasures.append(ErasureRow(cid, erasure[0], erasure[1], erased_at))
        batch.candidates += 1
    return batch


def touchpoint_json(candidate: UUID, version: int, state: bytes, key: bytes | None) -> bytes:
    """A decided event's touchpoint as JSON again, its personal data opened with ``key`` (or
    withheld, when the key is gone: the candidate was erased meanwhile)."""
    touchpoint = orjson.loads(state)["touchpoint"]
    personal = touchpoint.get("personal")
    if is_sealed(personal):
        touchpoint["personal"] = (
            orjson.loads(unseal(key, candidate, version, personal))
            if key is not None
            else WITHHELD.model_dump()
        )
    return orjson.dumps(touchpoint)
