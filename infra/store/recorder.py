"""The ledger's recorder contract: what it stores beside the events, and what it reads back.

The rows here are written in the same transaction as the events they belong to: deduplication
keys, candidate keys, the hash chain, erasures, inbound offsets; and the refusal log kept for
compliance. ``LedgerRecorder`` names every operation once; each store implements it.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, StoredEvent

from domain.touchpoints import IDEMPOTENCY_PREFIX
from infra.store.chain import ChainKey, LinkRow, SealedRow
from infra.store.chain_key import ChainKeyInvalid


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


class LedgerRecorder(ApplicationRecorder):
    """The ledger's recorder: the library's application recorder, plus what the ledger keeps
    beside the events in the same transaction, and the reads its decisions, audits, relay and
    views need. ``sqlite_recorder`` and ``postgres_recorder`` hold only their SQL dialect; one
    contract test suite (``tests/test_recorder_contract.py``) runs against both.

    Events belong to candidates: UUID originator ids, versions from 1 (the chain starts each
    candidate's links at version 1). Anything else is refused with ``UnsupportedEvent``, before
    anything is written. A ledger whose links are keyed, opened without its key, must not write
    plain links after keyed ones: ``refusal`` then says why, and every write is refused with it.

    ``insert_events`` takes, besides the events, the rows stored with them atomically:
    ``touchpoint_keys`` (``KeyRow``s; a key recorded twice is an ``IntegrityError``),
    ``candidate_keys`` (new candidates' sealing keys), ``erasures`` (each deletes a key) and
    ``inbound`` (``InboundAdvance``s; a partition another process moved is ``InboundMoved``).
    Every event is chained: its candidate link and ledger link, keyed when ``chain_key`` is set
    (over ``fingerprints``, each event's ``chain.digest``, when the caller computed them).
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

    # --- the chain's key ------------------------------------------------------------------------

    @abstractmethod
    def chain_keyed(self) -> KeyedFrom | None:
        """Where keyed links begin, if they do."""

    @abstractmethod
    def key_chain(self, key_id: str, seal: Callable[[int], bytes]) -> KeyedFrom:
        """Key links from the next position on (unless another process did it first)."""

    @abstractmethod
    def chain_head(self) -> tuple[int, bytes] | None:
        """The last position and its ledger link."""

    @abstractmethod
    def ledger_link_at(self, position: int) -> bytes | None:
        """The ledger link at ``position``, if that position holds one."""

    # --- what decisions read --------------------------------------------------------------------

    @abstractmethod
    def lookup(self, keys: Iterable[str], candidates: Iterable[UUID]) -> Lookup:
        """Which keys are recorded, the candidates' histories and keys: one snapshot."""

    @abstractmethod
    def candidate_key(self, candidate: UUID) -> bytes | None:
        """The candidate's sealing key; None once erased (or never registered)."""

    # --- reading the ledger in order --------------------------------------------------------------

    @abstractmethod
    def read_stored(self, start: int, limit: int, stop: int | None = None) -> list[StoredRow]:
        """Events from position ``start`` as plain rows (the relay's and the views' feed)."""

    @abstractmethod
    def read_raw(self, start: int, limit: int, stop: int) -> list[tuple[int, str, int, bytes]]:
        """Events from position ``start`` as (position, candidate id as the database keeps it:
        32 hex digits on SQLite, dashed on PostgreSQL, version, state): a bulk rebuild's feed,
        with nothing built per row in Python."""

    @abstractmethod
    def read_stored_of(self, candidates: Sequence[str], stop: int) -> list[StoredRow]:
        """These candidates' events up to position ``stop``, in ledger order: what a view had
        folded of them, replayed to rebuild their states instead of storing them."""

    @abstractmethod
    def candidates_between(self, after: int, until: int) -> list[str]:
        """The candidates with an event at a position in (``after``, ``until``]: whose view rows
        may have changed between those two positions."""

    @abstractmethod
    def type_counts(self, after: int, until: int) -> dict[str, int]:
        """Events per touchpoint type at positions in (``after``, ``until``], counted by the
        database (a monitoring figure, added up as the ledger grows)."""

    @abstractmethod
    def sealed_rows(self, start: int, limit: int) -> list[SealedRow]:
        """Events from position ``start`` as the chain sees them (``audit verify``)."""

    @abstractmethod
    def sealed_rows_of(self, candidate: UUID) -> list[SealedRow]:
        """One candidate's events as the chain sees them, in version order."""

    @abstractmethod
    def link_rows(self, start: int, limit: int) -> list[LinkRow]:
        """Chain links from position ``start``."""

    @abstractmethod
    def link_rows_of(self, candidate: UUID) -> list[LinkRow]:
        """One candidate's chain links, in version order."""

    # --- compliance -------------------------------------------------------------------------------

    @abstractmethod
    def note_refusals(self, refusals: Sequence[RefusalRow], at: str) -> None:
        """Count each refused touchpoint once per reason, however often it is sent again."""

    @abstractmethod
    def refusals(self, candidate: str | None = None) -> list[RefusalCount]:
        """The refusal log, or one candidate's part of it."""

    @abstractmethod
    def erasures(self, candidate: UUID | None = None) -> list[ErasureRow]:
        """The erasures recorded, or one candidate's."""

    @abstractmethod
    def scrub(self, erased: Sequence[UUID], at: str) -> None:
        """Make the database files forget the destroyed keys, and note when it was done."""

    # --- the inbound topic's offsets ------------------------------------------------------------

    @abstractmethod
    def inbound_offsets(self, topic: str) -> dict[int, int]:
        """Where each partition of the inbound topic stands (the next offset to read)."""

    @abstractmethod
    def advance_inbound(self, advances: Sequence[InboundAdvance]) -> None:
        """Move partitions forward with nothing recorded (``InboundMoved`` if another did)."""


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


def dashed(hex_id: str) -> str:
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"


def first_versions(rows: Iterable[SealedRow]) -> dict[str, int]:
    """Each candidate's first version among newly stored events (they come in version order)."""
    first: dict[str, int] = {}
    for row in rows:
        first.setdefault(row.candidate_id, row.version)
    return first
