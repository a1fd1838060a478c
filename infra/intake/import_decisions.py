"""An import's decide step: each partition of scanned lines validated and decided against the
ledger, and what was accepted kept on disk for the write step.

Partitions hold disjoint candidates, so they are decided independently: by worker processes,
one per core, when the file is large enough to repay starting them (each opens the ledger
read-mostly; the write step stays with the one process that holds the ledger for writing).
"""

from __future__ import annotations

import gc
import heapq
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar
from uuid import UUID

from domain.access import NotPermitted, UserRole, may_record
from domain.refusals import Refused
from domain.touchpoints import ErasureRequested, Touchpoint, candidate_id
from infra.core.logging import configure as configure_logging
from infra.core.settings import Settings
from infra.intake.importing import LineError, Scanned, validate
from infra.intake.spill import Spill
from infra.store.decided import Accepted, DecidedCandidate, heads_at, sealed_events
from infra.store.ledger import GroupOutcome, IdempotencyKeyReused, Ledger, Line, refusal_row
from infra.store.sealing import Nonces, new_key

T = TypeVar("T")

CHUNK_LINES = 5_000
"""Candidates are validated and decided this many lines at a time (one ledger lookup each)."""
ERRORS_KEPT = 1_000
"""The first errors, by line, that are kept to report; all are counted."""


class FirstErrors:
    """The first ``ERRORS_KEPT`` errors by line number, and how many there were."""

    def __init__(self) -> None:
        self.total = 0
        self._heap: list[tuple[int, int, LineError]] = []
        self._seen = 0

    def add(self, error: LineError) -> None:
        self.total += 1
        self._keep(error)

    def merge(self, other: FirstErrors) -> None:
        self.total += other.total
        for _, _, error in other._heap:
            self._keep(error)

    def _keep(self, error: LineError) -> None:
        self._seen += 1
        item = (-error.line, -self._seen, error)  # a max-heap: the last kept line on top
        if len(self._heap) < ERRORS_KEPT:
            heapq.heappush(self._heap, item)
        elif item > self._heap[0]:
            heapq.heapreplace(self._heap, item)

    def sorted(self) -> list[LineError]:
        return [error for _, _, error in sorted(self._heap, reverse=True)]


@dataclass
class Decided:
    """What the decide step found: counts, and the first problems of each kind."""

    lines: int = 0
    events: int = 0
    candidates: int = 0
    duplicates: int = 0
    invalid: FirstErrors = field(default_factory=FirstErrors)
    forbidden: FirstErrors = field(default_factory=FirstErrors)
    refused: FirstErrors = field(default_factory=FirstErrors)
    requisitions: set[str] = field(default_factory=set)
    """The positions the touchpoints name (a firm's requisitions: thousands, not millions)."""

    def merge(self, other: Decided) -> None:
        self.lines += other.lines
        self.events += other.events
        self.candidates += other.candidates
        self.duplicates += other.duplicates
        self.invalid.merge(other.invalid)
        self.forbidden.merge(other.forbidden)
        self.refused.merge(other.refused)
        self.requisitions |= other.requisitions

    @property
    def stopped(self) -> bool:
        """Nothing will be written: what is left to do is to find the other problems."""
        return bool(self.invalid.total or self.forbidden.total)


@dataclass(frozen=True)
class Job:
    """One partition to decide, and where its decisions and refusals go."""

    partition: Path
    decided: Path
    refused: Path
    roles: frozenset[UserRole]
    recorded_at: datetime
    chunk_lines: int = CHUNK_LINES


def deciders(settings: Settings, workers: int) -> Executor:
    """Worker processes, each with the ledger open (started early: they load while the
    file is scanned)."""
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_open_ledger,
        initargs=(settings,),
    )
    pool.submit(int)  # the first task starts every worker
    return pool


_worker_ledger: Ledger | None = None


def _open_ledger(settings: Settings) -> None:
    global _worker_ledger  # one ledger per worker process, for its lifetime
    configure_logging("warning", "console")
    gc.disable()  # as ``bulk_mode`` in the importing process: no cycles among what is decided
    _worker_ledger = Ledger(settings)


def decide_in_worker(job: Job) -> Decided:
    assert _worker_ledger is not None, "the worker's initializer opens the ledger"
    return decide_partition(_worker_ledger, job)


def decide_partition(ledger: Ledger, job: Job) -> Decided:
    """Validate and decide one partition's candidates, in chunks of about ``CHUNK_LINES``."""
    found = Decided()
    groups: dict[str, list[Scanned]] = {}
    for scanned in Spill.read(job.partition):
        groups.setdefault(scanned[3] or "", []).append(scanned)
    decided, refused = Spill(job.decided), Spill(job.refused)
    sealing = _Sealing(heads_at(job.recorded_at), Nonces())
    in_id_order = sorted(groups, key=lambda reference: candidate_id(reference).bytes)
    in_order = (groups[reference] for reference in in_id_order)
    for chunk in weighed_batches(in_order, len, job.chunk_lines):
        _decide_chunk(ledger, chunk, job, found, decided, refused, sealing)
    decided.finish()
    refused.finish()
    job.partition.unlink()  # what a redo needs is in the decided file
    return found


def weighed_batches(
    items: Iterable[T], weight: Callable[[T], int], limit: int
) -> Iterator[list[T]]:
    """Consecutive items in lists that each weigh ``limit`` or more (the last may weigh less):
    a chunk of candidates by their lines, a write batch by its events."""
    batch: list[T] = []
    size = 0
    for item in items:
        batch.append(item)
        size += weight(item)
        if size >= limit:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _decide_chunk(
    ledger: Ledger,
    chunk: list[list[Scanned]],
    job: Job,
    found: Decided,
    decided: Spill,
    refused: Spill,
    sealing: _Sealing,
) -> None:
    groups: list[list[Line]] = []
    keys: dict[int, str] = {}
    clear: dict[int, bytes] = {}
    touchpoints: dict[int, Touchpoint] = {}
    permitted: dict[str, bool] = {}
    for scanned_group in chunk:
        group: list[Line] = []
        for scanned in scanned_group:
            found.lines += 1
            number = scanned[0]
            touchpoint = validate(scanned)
            if isinstance(touchpoint, list):
                for error in touchpoint:
                    found.invalid.add(error)
                continue
            if touchpoint.candidate != scanned[3]:
                raise AssertionError(f"line {number} was grouped under another candidate")
            kind = touchpoint.type
            if kind not in permitted:
                permitted[kind] = may_record(job.roles, kind)
            if not permitted[kind]:
                forbidden = NotPermitted(number, kind)
                found.forbidden.add(LineError(number, forbidden.field, forbidden.message))
                continue
            if (requisition := getattr(touchpoint, "position", None)) is not None:
                found.requisitions.add(requisition)
            clear[number] = clear_json = touchpoint.clear_json
            keys[number] = touchpoint.dedupe_key_of(clear_json)
            touchpoints[number] = touchpoint
            group.append((number, touchpoint))
        if group:
            groups.append(group)
    if found.stopped or not groups:
        return
    outcomes = ledger.decide_candidates(groups, keys, job.recorded_at)
    for outcome in outcomes:
        found.duplicates += len(outcome.duplicates)
        if outcome.reused_keys:  # a file carries no idempotency keys: never, but not silently
            raise IdempotencyKeyReused(outcome.reused_keys)
        if outcome.refusal is not None:
            number, refusal = outcome.refusal
            found.refused.add(refused_line(number, refusal))
            refused.add(refusal_row(touchpoints[number], refusal, "import"))
        elif outcome.accepted:
            found.events += len(outcome.accepted)
            found.candidates += 1
            decided.add(_decided(outcome, clear, keys, sealing))


def refused_line(number: int, refusal: Refused) -> LineError:
    return LineError(number, refusal.field, f"{refusal.message} [{refusal.code}]")


@dataclass(frozen=True)
class _Sealing:
    heads: dict[bool, bytes]
    nonces: Nonces


def _decided(
    outcome: GroupOutcome, clear: dict[int, bytes], keys: dict[int, str], sealing: _Sealing
) -> DecidedCandidate:
    """The accepted touchpoints sealed and assembled as the ledger will store them, here in
    the decide step (worker processes) rather than in the one writer."""
    accepted: list[Accepted] = []
    erasure = None
    for number, touchpoint, version in outcome.accepted:
        personal = getattr(touchpoint, "personal", None)
        accepted.append(
            (
                number,
                version,
                keys[number],
                clear[number],
                None if personal is None else personal.__pydantic_serializer__.to_json(personal),
            )
        )
        if isinstance(touchpoint, ErasureRequested):
            erasure = (version, touchpoint.reason.value)
    assert outcome.candidate is not None
    cid: UUID = outcome.candidate.id
    fresh = new_key() if outcome.sealing_key is None else None
    key = outcome.sealing_key or fresh
    assert key is not None
    events = sealed_events(cid, key, accepted, sealing.heads, sealing.nonces)
    return (cid.bytes, fresh, events, erasure)
