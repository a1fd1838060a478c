"""Importing a file in bounded memory, whatever its size.

A file the rules refuse in part is written not at all, so everything is read, validated and
decided before the first write; what waits between the steps waits on disk, in a private
temporary folder (``TMPDIR``), not in memory:

1. **scan**: every line is read and put in a partition file by the candidate it names (a
   strict-JSON pass in Rust; no validation yet). Partitions are ranges of candidate ids, so the
   whole import is written in the order of the ledger's index, not at random places in it.
   A position's facts are kept aside, in memory (a firm has thousands of requisitions, not
   millions), decided by the ledger's ordinary path, and written before the candidates.
2. **decide** (``import_decisions``): a partition at a time, each candidate's lines are
   validated (once: pydantic), put in order and decided against the ledger in chunks. What is
   accepted is sealed and waits on disk as the JSON the ledger will store. Worker processes
   decide partitions side by side when the file is large.
3. **write**: the decided candidates (already sealed in step 2, one cipher per candidate,
   nonces drawn in bulk, their chain fingerprints computed) are written in transactions of
   whole candidates, by a thread of their own while the next batch is read.

A concurrent writer that changes a candidate between steps 2 and 3 makes that batch's store
refuse it; its touchpoints are then rebuilt from their stored JSON and decided again by the
ledger's ordinary path.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Literal
from uuid import UUID

from eventsourcing.persistence import IntegrityError, RecordConflictError

from domain.access import NotPermitted, UserRole, may_record
from domain.position_facts import PositionFact
from domain.touchpoints import STORED, TOUCHPOINT, Touchpoint, candidate_id
from infra.intake.import_decisions import (
    CHUNK_LINES,
    Decided,
    Job,
    decide_in_worker,
    decide_partition,
    deciders,
    refused_line,
    weighed_batches,
)
from infra.intake.importing import LineError, Scanned, scan, validate
from infra.intake.spill import Partitions, Spill, private_folder
from infra.store.decided import DecidedCandidate, StoredBatch, stored_batch, touchpoint_json
from infra.store.ledger import BatchRefused, Decision, Ledger, Line, WriteReport

PARTITION_BYTES = 16 << 20
"""About this much of the file per partition: a partition is grouped in memory."""
MAX_PARTITIONS = 512
"""Files open at once while scanning; past 8 GB, partitions grow instead."""
PARALLEL_FROM_BYTES = 32 << 20
"""Files this large are decided by worker processes (starting one costs about a second)."""


class ImportStopped(Exception):
    """The file was not imported; ``errors`` say why, line by line (the first ones;
    ``total`` counts them all)."""

    def __init__(self, errors: list[LineError], total: int | None = None) -> None:
        self.total = len(errors) if total is None else total
        super().__init__(f"{self.total} problem(s)")
        self.errors = errors


class ImportInvalid(ImportStopped):
    """Lines that are not touchpoints (nothing was written)."""


class ImportNotPermitted(ImportStopped):
    """Acts the operator's roles do not allow, such as erasures (nothing was written)."""


class ImportRefused(ImportStopped):
    """Touchpoints the rules refuse. ``after_writing``: a concurrent writer changed candidates
    between the decision and a batch, so earlier batches are kept (a re-run resumes exactly)."""

    def __init__(
        self, errors: list[LineError], *, after_writing: bool = False, total: int | None = None
    ) -> None:
        super().__init__(errors, total)
        self.after_writing = after_writing


@dataclass(frozen=True, slots=True)
class ImportResult:
    lines: int
    events: int
    """Recorded, or on a dry run, that would be."""
    candidates: int
    duplicates: int
    """Lines found already recorded."""
    written: bool
    seconds: dict[str, float] = field(default_factory=dict, compare=False)
    """How long each step took (scan, decide, write), for the benchmarks."""
    positions: int = 0
    """Positions with facts recorded (or, on a dry run, that would be)."""
    unopened: list[str] = field(default_factory=list, compare=False)
    """Positions the touchpoints name that were never opened (accepted: old data)."""


def import_touchpoints(
    ledger: Ledger,
    path: Path,
    fmt: Literal["auto", "jsonl", "csv"],
    roles: frozenset[UserRole],
    *,
    dry_run: bool = False,
    batch_events: int = 20_000,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    partition_bytes: int = PARTITION_BYTES,
    chunk_lines: int = CHUNK_LINES,
    workers: int | None = None,
) -> ImportResult:
    """Import the file, or raise the ``ImportStopped`` that says why nothing was written.

    ``workers``: processes deciding partitions side by side (0: this one); by default one per
    core for a file of ``PARALLEL_FROM_BYTES`` or more. ``partition_bytes`` and
    ``chunk_lines`` size the steps (tests make them small to have many).
    """
    size = path.stat().st_size
    count = min(MAX_PARTITIONS, max(1, -(-size // partition_bytes)))
    if workers is None:
        workers = (os.cpu_count() or 1) if size >= PARALLEL_FROM_BYTES else 0
    workers = min(workers, count)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with ExitStack() as stack:
        folder = stack.enter_context(private_folder())
        pool = stack.enter_context(deciders(ledger.settings, workers)) if workers > 1 else None
        partitions, position_lines = _scanned(path, fmt, folder, count)
        seconds["scan"] = time.perf_counter() - started
        recorded_at = ledger.clock()
        jobs = [
            Job(
                part,
                part.with_suffix(".decided"),
                part.with_suffix(".refused"),
                roles,
                recorded_at,
                chunk_lines,
            )
            for part in partitions
        ]
        found = _decide(ledger, jobs, pool)
        positions = _decide_positions(ledger, position_lines, roles, found)
        seconds["decide"] = time.perf_counter() - started - seconds["scan"]
        if found.invalid.total:
            raise ImportInvalid(found.invalid.sorted(), found.invalid.total)
        if found.forbidden.total:
            raise ImportNotPermitted(found.forbidden.sorted(), found.forbidden.total)
        if found.refused.total:
            if not dry_run:
                _note_refusals(ledger, jobs)
                ledger.note_refusals(_position_lines(positions), positions.refusals, "import")
            raise ImportRefused(found.refused.sorted(), total=found.refused.total)
        opened = len(positions.aggregates)
        if dry_run:
            return ImportResult(
                found.lines,
                found.events,
                found.candidates,
                found.duplicates,
                False,
                seconds,
                positions=opened,
                unopened=_unopened(ledger, found, positions),
            )
        if on_total is not None:
            on_total(found.events)
        began = time.perf_counter()
        position_report = _write_positions(ledger, positions, on_progress)
        written = _write(ledger, jobs, recorded_at, ledger.batch_limit(batch_events), on_progress)
        written.events += position_report.events
        written.lines += len(position_report.positions_by_line)
        seconds["write"] = time.perf_counter() - began
    return ImportResult(
        found.lines,
        written.events,
        written.candidates,
        found.lines - written.lines,
        True,
        seconds,
        positions=position_report.candidates,
        unopened=ledger.unopened(found.requisitions),
    )


# --- step 1: scan into partitions by candidate id ------------------------------------------


def _scanned(
    path: Path, fmt: Literal["auto", "jsonl", "csv"], folder: Path, count: int
) -> tuple[list[Path], list[Scanned]]:
    partitions = Partitions(folder, count)
    positions: list[Scanned] = []
    for scanned in scan(path, fmt):
        if scanned.of_position:
            positions.append(scanned)
            continue
        reference = scanned.candidate
        index = 0
        if reference is not None:
            index = int.from_bytes(candidate_id(reference).bytes[:2], "big") * count >> 16
        partitions.add(index, tuple(scanned))
    return partitions.finish(), positions


# --- step 2: decide, here or in worker processes ------------------------------------------


def _decide(ledger: Ledger, jobs: list[Job], pool: Executor | None) -> Decided:
    found = Decided()
    if pool is None:
        for job in jobs:
            found.merge(decide_partition(ledger, job))
    else:
        for decided in pool.map(decide_in_worker, jobs):
            found.merge(decided)
    return found


def _decide_positions(
    ledger: Ledger, scanned: list[Scanned], roles: frozenset[UserRole], found: Decided
) -> Decision:
    """The positions' facts, validated and decided whole (the ledger's ordinary path); their
    problems join the candidates' in ``found``."""
    lines: list[Line] = []
    for line in scanned:
        found.lines += 1
        fact = validate(line)
        if isinstance(fact, list):
            for error in fact:
                found.invalid.add(error)
        elif not isinstance(fact, PositionFact):  # the scan read its type: never here
            raise AssertionError(f"line {line.line} was taken for a position's fact")
        elif not may_record(roles, fact.type):
            forbidden = NotPermitted(line.line, fact.type)
            found.forbidden.add(LineError(line.line, forbidden.field, forbidden.message))
        else:
            lines.append((line.line, fact))
    if found.stopped or not lines:
        return Decision()
    decision = ledger.decide(lines)
    for number, refusal in decision.refusals:
        found.refused.add(refused_line(number, refusal))
    found.duplicates += len(decision.duplicates)
    found.events += decision.event_count
    return decision


def _unopened(ledger: Ledger, found: Decided, positions: Decision) -> list[str]:
    """On a dry run: the requisitions named that are neither in the ledger nor opened by the
    file itself."""
    opening = {
        fact.position for _, fact in _position_lines(positions) if fact.type == "position_opened"
    }
    return ledger.unopened(found.requisitions - opening)


def _position_lines(decision: Decision) -> list[Line]:
    return [line for lines in decision.lines_by_candidate.values() for line in lines]


def _write_positions(
    ledger: Ledger, decision: Decision, on_progress: Callable[[int], None] | None
) -> WriteReport:
    if not decision.aggregates:
        return WriteReport()
    try:
        report = ledger.write(decision)
    except BatchRefused as late:  # another writer changed a position meanwhile
        ledger.note_refusals(_position_lines(decision), late.refusals, "import")
        raise ImportRefused([refused_line(n, r) for n, r in late.refusals]) from None
    if on_progress is not None:
        on_progress(report.events)
    return report


def _note_refusals(ledger: Ledger, jobs: list[Job]) -> None:
    """Count the refused touchpoints in the refusal log, a few thousand at a time."""
    rows = []
    for job in jobs:
        for row in Spill.read(job.refused):
            rows.append(row)
            if len(rows) >= 5_000:
                ledger.note_refusal_rows(rows)
                rows = []
    ledger.note_refusal_rows(rows)


# --- step 3: write, in transactions of whole candidates -------------------------------------


def _write(
    ledger: Ledger,
    jobs: list[Job],
    recorded_at: datetime,
    batch_events: int,
    on_progress: Callable[[int], None] | None,
) -> _Written:
    with _Writer(ledger, on_progress) as writer:
        decided = (candidate for job in jobs for candidate in Spill.read(job.decided))
        for batch in weighed_batches(decided, _events, batch_events):
            writer.put(batch, stored_batch(batch, recorded_at.isoformat()))
    ledger.scrub_pending()  # the log pages that held erased candidates' keys, once at the end
    return writer.written


class _Writer:
    """Stores prepared batches on a thread of its own: SQLite and PostgreSQL do their part
    without holding the GIL, so the next batch is read and assembled meanwhile."""

    def __init__(self, ledger: Ledger, on_progress: Callable[[int], None] | None) -> None:
        self.ledger = ledger
        self.on_progress = on_progress
        self.written = _Written()
        self.failure: BaseException | None = None
        self._queue: queue.Queue[tuple[list[DecidedCandidate], StoredBatch] | None]
        self._queue = queue.Queue(maxsize=1)
        self._thread = threading.Thread(target=self._run, name="import-writer", daemon=True)

    def __enter__(self) -> _Writer:
        self._thread.start()
        return self

    def put(self, candidates: list[DecidedCandidate], batch: StoredBatch) -> None:
        if self.failure is not None:
            raise self.failure
        self._queue.put((candidates, batch))

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._queue.put(None)
        self._thread.join()
        if kind is None and self.failure is not None:
            raise self.failure

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self.failure is not None:
                continue  # the importer stops at its next batch; take what it already sent
            candidates, batch = item
            try:
                written = _store(self.ledger, candidates, batch)
            except BaseException as failure:  # re-raised by the importer's thread
                self.failure = failure
                continue
            self.written.add(written)
            if self.on_progress is not None:
                self.on_progress(len(batch.events))


def _store(ledger: Ledger, candidates: list[DecidedCandidate], batch: StoredBatch) -> WriteReport:
    try:
        return ledger.store_prepared(batch)
    except (IntegrityError, RecordConflictError):
        pass  # another writer changed some of these candidates since they were decided
    lines: list[Line] = []
    for id_bytes, new_key, events, _ in candidates:
        cid = UUID(bytes=id_bytes)
        key = new_key or ledger.ledger_recorder.candidate_key(cid)
        for number, version, _, state, _ in events:
            lines.append((number, _rebuilt(touchpoint_json(cid, version, state, key))))
    try:
        return ledger.write(ledger.decide(lines))
    except BatchRefused as late:
        ledger.note_refusals(lines, late.refusals, "import")
        raise ImportRefused(
            [refused_line(n, r) for n, r in late.refusals], after_writing=True
        ) from None


def _events(candidate: DecidedCandidate) -> int:
    _, _, events, _ = candidate
    return len(events)


def _rebuilt(touchpoint: bytes) -> Touchpoint:
    """A decided touchpoint again, from the JSON it was decided as (valid then: valid now;
    its personal data withheld if the candidate was erased meanwhile)."""
    return TOUCHPOINT.validate_json(touchpoint, strict=True, context=STORED)


@dataclass
class _Written:
    """What the write step recorded (counts only: a million positions would not be small)."""

    events: int = 0
    candidates: int = 0
    lines: int = 0

    def add(self, report: WriteReport) -> None:
        self.events += report.events
        self.candidates += report.candidates
        self.lines += len(report.positions_by_line)
