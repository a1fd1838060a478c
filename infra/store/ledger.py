"""The ledger: the write side, where touchpoints are decided and become immutable events.

One path serves a single touchpoint and a whole CRM export: group the touchpoints by candidate,
drop what was already recorded (by deduplication key), let each ``Candidate`` decide, then store
every candidate's new events and keys in one transaction. A conflicting writer (another process
that recorded the same candidate, or the same key, meanwhile) makes the store refuse the whole
transaction; the batch is then decided again against the fresh history, so nothing is lost and
nothing is counted twice.
"""

from __future__ import annotations

import gc
import hmac
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import structlog
from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
from eventsourcing.persistence import IntegrityError, RecordConflictError, StoredEvent

from domain.access import with_article
from domain.candidate import Candidate
from domain.position import Position, PositionEvent, refuse_unopened
from domain.position_facts import PositionFact, PositionOpened, position_id
from domain.refusals import Refused, UnknownCandidate
from domain.touchpoints import CandidateRegistered, ErasureRequested, Touchpoint, candidate_id
from domain.vocabulary import ErasureReason
from infra.core.private_files import private_sqlite_file
from infra.core.settings import Settings
from infra.store.chain import ChainKey
from infra.store.chain_key import ChainKeyInvalid, ChainTampered, load_secret
from infra.store.checkpoints import write_checkpoint
from infra.store.decided import StoredBatch
from infra.store.persistence import PydanticMapper
from infra.store.recorder import ErasureRow, InboundAdvance, KeyRow, LedgerRecorder, RefusalRow
from infra.store.sealing import new_key

log = structlog.get_logger("rapport.ledger")

POSTGRES_MAX_BATCH = 5_000

Recordable = Touchpoint | PositionFact
"""A fact the ledger records: about a candidate (a touchpoint) or a position."""
Line = tuple[int, Recordable]
"""A fact and where it came from (a line number, or a place in a request)."""
Aggregate = Candidate | Position


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Recorded:
    position: int
    """The event's position in the ledger (its notification id)."""
    candidate_id: UUID
    """The id of the aggregate it belongs to: a candidate's (or a position's)."""
    version: int


@dataclass(frozen=True, slots=True)
class Duplicate:
    key: str


@dataclass
class Decision:
    """What a batch of touchpoints would write, before anything is written."""

    aggregates: list[Aggregate] = field(default_factory=list)
    """Every candidate and position with events to store."""
    keys: list[KeyRow] = field(default_factory=list)
    lines_by_candidate: dict[UUID, list[Line]] = field(default_factory=dict)
    duplicates: list[int] = field(default_factory=list)
    refusals: list[tuple[int, Refused]] = field(default_factory=list)
    sealing_keys: dict[UUID, bytes] = field(default_factory=dict)
    """The key of every candidate in ``aggregates`` (their personal data is sealed with it;
    positions hold none)."""
    new_sealing_keys: dict[UUID, bytes] = field(default_factory=dict)
    erasures: dict[UUID, ErasureRow] = field(default_factory=dict)
    recorded: list[tuple[int, UUID, int]] = field(default_factory=list)
    """(line, candidate id, version) of every touchpoint to record, in ``keys`` order."""
    inbound: list[InboundAdvance] = field(default_factory=list)
    """Inbound-topic offsets to advance in the same transaction (see ``consumers.inbound``)."""
    reused_keys: list[tuple[int, str]] = field(default_factory=list)
    """(line, idempotency key) of touchpoints whose key was recorded with other content."""

    @property
    def event_count(self) -> int:
        """Every touchpoint to record carries exactly one deduplication key."""
        return len(self.keys)


@dataclass
class GroupOutcome:
    """What the rules made of one candidate's touchpoints."""

    candidate: Aggregate | None
    accepted: list[tuple[int, Recordable, int]] = field(default_factory=list)
    """(line, touchpoint, version) of every touchpoint to record."""
    duplicates: list[int] = field(default_factory=list)
    reused_keys: list[tuple[int, str]] = field(default_factory=list)
    refusal: tuple[int, Refused] | None = None
    sealing_key: bytes | None = None
    """The candidate's key in the ledger, if they have one (``decide_candidates`` only)."""


class BatchRefused(Exception):
    """Some touchpoints break the business rules: nothing of the batch was written."""

    def __init__(self, refusals: list[tuple[int, Refused]]) -> None:
        super().__init__(f"{len(refusals)} touchpoint(s) refused")
        self.refusals = refusals


class IdempotencyKeyReused(Exception):
    """A client's idempotency key came back with other content: nothing of the batch was
    written (answering "duplicate" would silently lose the new touchpoint)."""

    def __init__(self, reused: list[tuple[int, str]]) -> None:
        self.reused = reused
        keys = ", ".join(repr(key) for _, key in reused)
        super().__init__(f"idempotency key {keys} was used before for another touchpoint")


class ConflictPersisted(Exception):
    """Concurrent writers kept conflicting with us: nothing was written; try again later."""


@dataclass
class WriteReport:
    events: int = 0
    candidates: int = 0
    """Aggregates written: candidates (and positions, when a write holds any)."""
    first_position: int | None = None
    last_position: int | None = None
    positions: list[int] = field(default_factory=list)
    positions_by_line: dict[int, int] = field(default_factory=dict)
    """The ledger position each recorded line got."""
    duplicates: int = 0
    """Touchpoints found already recorded: when decided, or when decided again after another
    writer recorded them meanwhile."""


class Ledger(Application[UUID]):
    """Rapport's event store application (the ``eventsourcing`` library's ``Application``)."""

    name = "Ledger"
    max_attempts = 12

    def __init__(
        self, settings: Settings | None = None, *, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.settings = settings or Settings()
        self.policy = self.settings.policy
        self.clock = clock
        if not self.settings.database_url:
            private_sqlite_file(self.settings.db)
        super().__init__(env=self.settings.event_store_environment())
        recorder = self.recorder
        assert isinstance(recorder, LedgerRecorder)  # the settings name one of the two
        self.ledger_recorder: LedgerRecorder = recorder
        """The library's recorder, as the ledger's: checked once here, not on every use."""
        self._writing = threading.Lock()
        self.chain_key: ChainKey | None = None
        self.chain_problem: str | None = None
        """Why links cannot be made or checked (the key is missing or wrong), else None."""
        self.chain_tampered = False
        self._open_chain()
        self.scrub_pending()

    def _open_chain(self) -> None:
        """The chain's key: loaded, or created for a ledger whose links are not keyed yet.

        Without the key of a keyed ledger nothing can be written (plain links after keyed ones
        would be forgeable); reading still works, and ``audit verify`` says what is wrong.
        """
        recorder = self.ledger_recorder
        try:
            keyed = recorder.chain_keyed()
            secret = load_secret(self.settings, create=keyed is None)
            if secret is None:  # keyed before, and the key is gone: never a new one
                raise ChainKeyInvalid(
                    f"the ledger's links are keyed, and its chain key is missing"
                    f" ({self.settings.chain_key_path}; RAPPORT_CHAIN_KEY_FILE)"
                )
            newly_keyed = keyed is None
            if keyed is None:
                key_id = ChainKey(secret, 0).key_id
                keyed = recorder.key_chain(key_id, lambda n: _keyed_seal(secret, n, key_id))
            key = ChainKey(secret, keyed.keyed_from)
            if key.key_id != keyed.key_id:
                raise ChainKeyInvalid(
                    f"the chain key ({key.key_id}) is not the ledger's ({keyed.key_id});"
                    " RAPPORT_CHAIN_KEY_FILE names another ledger's key"
                )
            if not hmac.compare_digest(
                keyed.seal, _keyed_seal(secret, keyed.keyed_from, keyed.key_id)
            ):
                raise ChainTampered(
                    "the record of where keyed links begin was altered in the database:"
                    " its seal does not match"
                )
            self.chain_key = key
            head = recorder.chain_head() if newly_keyed else None
            if head is not None:  # an older ledger: its plain head is sealed at once
                self._checkpoint(*head)
        except ChainKeyInvalid as problem:
            self.chain_key, self.chain_problem = None, str(problem)
            self.chain_tampered = isinstance(problem, ChainTampered)
            log.warning("ledger.chain_key_unusable", problem=str(problem))
        recorder.chain_key, recorder.refusal = self.chain_key, self.chain_problem

    def _checkpoint(self, position: int, head: bytes) -> None:
        assert self.chain_key is not None
        write_checkpoint(
            self.settings.checkpoint_path, self.chain_key, position, head,
            self.clock().isoformat(), self.ledger_recorder.ledger_link_at,
        )  # fmt: skip

    # --- one touchpoint -----------------------------------------------------------------------

    def record(self, touchpoint: Recordable, *, source: str = "record") -> Recorded | Duplicate:
        """Record one fact in its own transaction, or raise the ``Refused`` forbidding it.

        A refusal is kept in the refusal log (``source`` says who asked) before it is raised.
        """
        for _attempt in range(self.max_attempts):
            decision = self.decide([(0, touchpoint)])
            if decision.refusals:
                self.note_refusals([(0, touchpoint)], decision.refusals, source)
                raise decision.refusals[0][1]
            if decision.reused_keys:
                raise IdempotencyKeyReused(decision.reused_keys)
            if decision.duplicates:
                return Duplicate(touchpoint.dedupe_key)
            try:
                report = self._store(decision)
            except (IntegrityError, RecordConflictError):
                log.info("ledger.conflict_retried", stream=str(touchpoint.stream_id))
                _back_off(_attempt)
                continue
            return Recorded(
                position=report.positions[-1],
                candidate_id=touchpoint.stream_id,
                version=decision.aggregates[0].version,
            )
        raise ConflictPersisted(f"{_subject(touchpoint)}: too many concurrent writers")

    # --- many touchpoints -------------------------------------------------------------------

    def decide(self, lines: Sequence[Line]) -> Decision:
        """Decide every touchpoint against the stored history; write nothing.

        A candidate's touchpoints are taken registration first, then in the order they
        happened, so a CRM export need not be sorted. After a refusal, the rest of that
        candidate's touchpoints are not decided (their outcome would depend on the refused one).
        """
        decision = Decision()
        by_candidate: dict[UUID, list[Line]] = defaultdict(list)
        for line in lines:
            by_candidate[line[1].stream_id].append(line)
        keys = {number: touchpoint.dedupe_key for number, touchpoint in lines}
        seen, histories, sealing, keyed = self.ledger_recorder.lookup(keys.values(), by_candidate)
        contents = {key: self._content(event) for key, event in keyed.items()}
        recorded_at = self.clock()
        for cid, group in by_candidate.items():
            group.sort(key=_chronology)
            decision.lines_by_candidate[cid] = group
            candidate = self._rebuilt(histories[cid]) if cid in histories else None
            outcome = self._decide_group(candidate, group, keys, seen, contents, recorded_at)
            decision.duplicates += outcome.duplicates
            decision.reused_keys += outcome.reused_keys
            if outcome.refusal is not None:
                decision.refusals.append(outcome.refusal)
            for number, touchpoint, version in outcome.accepted:
                decision.keys.append((keys[number], cid, version))
                decision.recorded.append((number, cid, version))
                if isinstance(touchpoint, ErasureRequested):
                    decision.erasures[cid] = ErasureRow(
                        cid, version, touchpoint.reason.value, recorded_at.isoformat()
                    )
            candidate = outcome.candidate
            if candidate is not None and candidate.pending_events:
                decision.aggregates.append(candidate)
                if isinstance(candidate, Position):  # nothing personal to seal
                    continue
                if cid in sealing:
                    decision.sealing_keys[cid] = sealing[cid]
                else:  # a new candidate (or one recorded before keys existed)
                    decision.sealing_keys[cid] = decision.new_sealing_keys[cid] = new_key()
        decision.refusals.sort(key=lambda refusal: refusal[0])
        decision.reused_keys.sort()
        return decision

    def decide_candidates(
        self, groups: Sequence[list[Line]], keys: Mapping[int, str], recorded_at: datetime
    ) -> list[GroupOutcome]:
        """``decide`` for a bulk import: each group is one candidate's touchpoints, ``keys``
        their deduplication keys by line. The rules are the same; no event objects are built
        (``Candidate.admit``), because the import stores each event's form itself."""
        ids = [group[0][1].candidate_id for group in groups]
        seen, histories, sealing, keyed = self.ledger_recorder.lookup(
            (keys[number] for group in groups for number, _ in group), ids
        )
        contents = {key: self._content(event) for key, event in keyed.items()}
        outcomes = []
        for cid, group in zip(ids, groups, strict=True):
            group.sort(key=_chronology)
            candidate = self._rebuilt(histories[cid]) if cid in histories else None
            outcome = self._decide_group(
                candidate, group, keys, seen, contents, recorded_at, admit=True
            )
            outcome.sealing_key = sealing.get(cid)
            outcomes.append(outcome)
        return outcomes

    def _decide_group(
        self,
        candidate: Aggregate | None,
        group: list[Line],
        keys: Mapping[int, str],
        seen: set[str],
        contents: dict[str, str],
        recorded_at: datetime,
        *,
        admit: bool = False,
    ) -> GroupOutcome:
        """One candidate's touchpoints, registration first, then as they happened. After a
        refusal the rest are not decided (their outcome would depend on the refused one)."""
        outcome = GroupOutcome(candidate)
        for number, touchpoint in group:
            key = keys[number]
            if key in seen:
                if (
                    touchpoint.idempotency_key is not None
                    and contents.get(key, touchpoint.content_digest) != touchpoint.content_digest
                ):
                    outcome.reused_keys.append((number, touchpoint.idempotency_key))
                else:
                    outcome.duplicates.append(number)
                continue
            try:
                candidate = self._decide_one(candidate, touchpoint, recorded_at, admit=admit)
            except Refused as refusal:
                outcome.refusal = (number, refusal)
                break
            seen.add(key)
            if touchpoint.idempotency_key is not None:
                contents[key] = touchpoint.content_digest
            outcome.accepted.append((number, touchpoint, candidate.version))
        outcome.candidate = candidate
        return outcome

    def _content(self, stored: StoredEvent) -> str:
        event = self.mapper.to_domain_event(stored)
        fact = event.fact if isinstance(event, PositionEvent) else event.touchpoint
        return cast(str, fact.content_digest)

    def write(
        self,
        decision: Decision,
        *,
        batch_events: int = 20_000,
        on_progress: Callable[[int], None] | None = None,
    ) -> WriteReport:
        """Store a decision in transactions of whole candidates (never part of one).

        If another writer got in between deciding and writing, the affected batch is decided
        again against the fresh history; a refusal that only now appears stops the write, with
        earlier batches kept (re-running the same input resumes exactly, by deduplication key).
        """
        if decision.refusals:
            raise BatchRefused(decision.refusals)
        if decision.reused_keys:
            raise IdempotencyKeyReused(decision.reused_keys)
        if decision.inbound and not decision.aggregates:  # nothing new: only the offsets move
            self.ledger_recorder.advance_inbound(decision.inbound)
        batch_events = self.batch_limit(batch_events)
        report = WriteReport()
        for part in _split(decision, batch_events):
            written = self._store_with_retry(part)
            report.events += written.events
            report.candidates += written.candidates
            report.positions_by_line.update(written.positions_by_line)
            if written.first_position is not None:
                if report.first_position is None:
                    report.first_position = written.first_position
                report.last_position = written.last_position
            if on_progress:
                on_progress(part.event_count)
        # Every line not recorded was found recorded: when decided, or decided again after
        # another writer recorded it meanwhile.
        lines = sum(len(group) for group in decision.lines_by_candidate.values())
        report.duplicates = lines - len(report.positions_by_line)
        log.info(
            "ledger.batch_written",
            events=report.events,
            candidates=report.candidates,
            duplicates=report.duplicates,
            first_position=report.first_position,
            last_position=report.last_position,
        )
        return report

    def batch_limit(self, batch_events: int) -> int:
        """The most events one transaction may take on this store."""
        if self.settings.database_url:
            # The library's PostgreSQL insert is one pipelined statement per transaction; with
            # psycopg 3.3 it hung at 20,000 events, while 10,000 never did.
            return min(batch_events, POSTGRES_MAX_BATCH)
        return batch_events

    def _store_with_retry(self, part: Decision) -> WriteReport:
        """Store a part; if another writer got in first, decide its lines again (keys and
        histories read together) and store what is still new. A line recorded meanwhile is
        then a duplicate, never a refusal."""
        for _attempt in range(self.max_attempts):
            try:
                return self._store(part)
            except (IntegrityError, RecordConflictError):
                lines = [line for group in part.lines_by_candidate.values() for line in group]
                log.info("ledger.conflict_retried", touchpoints=len(lines))
                _back_off(_attempt)
                inbound = part.inbound
                part = self.decide(lines)
                part.inbound = inbound
                if part.refusals:
                    raise BatchRefused(part.refusals) from None
                if part.reused_keys:
                    raise IdempotencyKeyReused(part.reused_keys) from None
        raise ConflictPersisted("too many concurrent writers on the same candidates")

    def _store(self, decision: Decision) -> WriteReport:
        if not decision.aggregates:  # decided again, everything was recorded meanwhile
            if decision.inbound:
                self.ledger_recorder.advance_inbound(decision.inbound)
            return WriteReport()
        # The event store's ``put`` is what ``Application.save`` calls; going to it directly skips
        # save's per-object runtime-protocol checks (~50 µs each on Python 3.11), which a bulk
        # import of whole candidates does not need.
        events = [
            event for aggregate in decision.aggregates for event in aggregate.collect_events()
        ]
        mapper = cast(PydanticMapper, self.mapper)
        with self._writing:  # the mapper's keys belong to one write at a time
            mapper.sealing_keys = decision.sealing_keys
            try:
                recordings = self.events.put(
                    events,
                    touchpoint_keys=decision.keys,
                    candidate_keys=list(decision.new_sealing_keys.items()),
                    erasures=list(decision.erasures.values()),
                    inbound=decision.inbound,
                )
            finally:
                mapper.sealing_keys = {}
            head = self.ledger_recorder.head
        if head is not None:  # committed: the new head is sealed outside the database
            self._checkpoint(*head)
        if decision.erasures:
            self.scrub(list(decision.erasures))
        positions = [r.notification.id for r in recordings]
        by_event = {
            (r.domain_event.originator_id, r.domain_event.originator_version): r.notification.id
            for r in recordings
        }
        return WriteReport(
            events=len(recordings),
            candidates=len(decision.aggregates),
            first_position=positions[0],
            last_position=positions[-1],
            positions=positions,
            positions_by_line={n: by_event[(cid, v)] for n, cid, v in decision.recorded},
        )

    def store_prepared(self, batch: StoredBatch) -> WriteReport:
        """Store a batch a bulk import decided and sealed (``decided.stored_batch``) in one
        transaction; a writer thread stores one while the next is read. A conflicting writer
        makes the store raise ``IntegrityError`` or ``RecordConflictError`` with nothing
        written; the importer then decides those lines again through ``decide`` and ``write``.
        Erased candidates' keys are gone when this returns; the log is emptied of them by
        ``scrub_pending``."""
        with self._writing:
            positions = self.ledger_recorder.insert_events(
                batch.events,
                touchpoint_keys=batch.keys,
                candidate_keys=batch.new_sealing_keys,
                erasures=batch.erasures,
                fingerprints=batch.fingerprints,
            )
            head = self.ledger_recorder.head
        if head is not None:
            self._checkpoint(*head)
        log.info(
            "ledger.batch_written",
            events=len(positions),
            candidates=batch.candidates,
            first_position=positions[0],
            last_position=positions[-1],
        )
        return WriteReport(
            events=len(positions),
            candidates=batch.candidates,
            first_position=positions[0],
            last_position=positions[-1],
            positions_by_line=dict(zip(batch.lines, positions, strict=True)),
        )

    # --- compliance -----------------------------------------------------------------------------

    def erase(
        self, reference: str, reason: ErasureReason, requested_by: str | None = None
    ) -> Recorded | ErasureRow:
        """Record the erasure of a candidate's personal data; their key goes with it.

        Erasing again is not a refusal: the earlier erasure is returned, and nothing recorded.
        """
        done = self.ledger_recorder.erasures(candidate_id(reference))
        if done:
            return done[0]
        erasure = ErasureRequested(
            candidate=reference,
            occurred_at=self.clock(),
            reason=reason,
            requested_by=requested_by,
        )
        try:
            recorded = self.record(erasure, source="erase")
        finally:
            self.scrub_pending()
        assert isinstance(recorded, Recorded)  # an erasure's content is never seen before
        return recorded

    def note_refusals(
        self, lines: Sequence[Line], refusals: Sequence[tuple[int, Refused]], source: str
    ) -> None:
        """Keep every refused touchpoint in the refusal log, where compliance counts them."""
        touchpoints = dict(lines)
        self.note_refusal_rows(
            [refusal_row(touchpoints[number], refusal, source) for number, refusal in refusals]
        )

    def note_refusal_rows(self, rows: Sequence[RefusalRow]) -> None:
        if rows:
            self.ledger_recorder.note_refusals(rows, self.clock().isoformat())
            log.info("ledger.refusals_noted", refusals=len(rows), source=rows[0].source)

    def scrub(self, erased: list[UUID]) -> None:
        self.ledger_recorder.scrub(erased, self.clock().isoformat())
        log.info("ledger.keys_scrubbed", candidates=len(erased))

    def scrub_pending(self) -> None:
        """Finish the physical clean-up of erasures a crash or a busy reader interrupted."""
        pending = [e.candidate_id for e in self.ledger_recorder.erasures() if not e.scrubbed_at]
        if pending:
            self.scrub(pending)

    def _rebuilt(self, stored: list[StoredEvent]) -> Aggregate:
        """A candidate (or position) as of the decision's snapshot (never from a cache a writer
        in this process may have moved past that snapshot)."""
        events = [self.mapper.to_domain_event(event) for event in stored]
        return cast(Aggregate, project_aggregate(None, events))

    def _decide_one(
        self,
        candidate: Aggregate | None,
        touchpoint: Recordable,
        recorded_at: datetime,
        *,
        admit: bool = False,
    ) -> Aggregate:
        policy = self.policy
        if isinstance(touchpoint, PositionFact):
            return self._decide_position(cast(Position | None, candidate), touchpoint, recorded_at)
        assert not isinstance(candidate, Position)  # a stream id is a candidate's or a position's
        if candidate is None:
            if not isinstance(touchpoint, CandidateRegistered):
                raise UnknownCandidate(
                    f"candidate {touchpoint.candidate} is not registered:"
                    f" {with_article(touchpoint.type)} needs a candidate_registered first"
                )
            if admit:
                return Candidate.admitted(touchpoint, recorded_at=recorded_at, policy=policy)
            return Candidate.register(touchpoint, recorded_at=recorded_at, policy=policy)
        if admit:
            candidate.admit(touchpoint, recorded_at=recorded_at, policy=policy)
        else:
            candidate.record(touchpoint, recorded_at=recorded_at, policy=policy)
        return candidate

    def _decide_position(
        self, position: Position | None, fact: PositionFact, recorded_at: datetime
    ) -> Position:
        if position is None:
            if not isinstance(fact, PositionOpened):
                raise refuse_unopened(fact)
            return Position.open(fact, recorded_at=recorded_at, policy=self.policy)
        position.record(fact, recorded_at=recorded_at, policy=self.policy)
        return position

    # --- reading ------------------------------------------------------------------------------

    def candidate(self, reference: str) -> Candidate:
        try:
            return cast(Candidate, self.repository.get(candidate_id(reference)))
        except AggregateNotFoundError:
            raise UnknownCandidate(f"candidate {reference} is not registered") from None

    def candidate_events(self, reference: str) -> list[Any]:
        """One candidate's events in the order they were recorded."""
        return list(self.events.get(candidate_id(reference)))

    def history(self, *, batch: int = 10_000) -> Iterator[Any]:
        """Every recorded event, in ledger order (positions from 1)."""
        start = 1
        while True:
            notifications = self.recorder.select_notifications(start, batch)
            if not notifications:
                return
            for notification in notifications:
                yield self.mapper.to_domain_event(notification)
            start = notifications[-1].id + 1

    def position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def unopened(self, requisitions: Iterable[str], *, chunk: int = 500) -> list[str]:
        """The requisitions, in order, that no ``position_opened`` was ever recorded for:
        touchpoints may name them (old data), and the import reports them."""
        wanted = sorted(set(requisitions))
        missing = []
        for start in range(0, len(wanted), chunk):
            part = wanted[start : start + chunk]
            histories = self.ledger_recorder.lookup([], [position_id(r) for r in part]).histories
            missing += [r for r in part if position_id(r) not in histories]
        return missing


def refusal_row(touchpoint: Recordable, refusal: Refused, source: str) -> RefusalRow:
    """How the refusal log keeps a refused fact (nothing personal); a position's has no
    candidate (its message names the position)."""
    return RefusalRow(
        dedupe_key=touchpoint.dedupe_key,
        code=refusal.code,
        candidate=getattr(touchpoint, "candidate", ""),
        type=touchpoint.type,
        field=refusal.field,
        occurred_at=touchpoint.occurred_at.isoformat(),
        message=refusal.message,
        source=source,
    )


def _keyed_seal(secret: bytes, keyed_from: int, key_id: str) -> bytes:
    return ChainKey(secret, keyed_from).seal(b"keyed_from|%d|%s" % (keyed_from, key_id.encode()))


def _back_off(attempt: int) -> None:
    """Let the other writer finish: a short, growing, jittered pause."""
    time.sleep(random.uniform(0, 0.002 * 2**attempt))


def _chronology(line: Line) -> tuple[int, datetime, int, int]:
    """A candidate's registration first (a CRM registers people after first contact), then
    as things happened; a position's facts as they happened, an opening first at a tie (a
    requisition closed and opened again keeps its order)."""
    number, fact = line
    if isinstance(fact, PositionFact):
        return (1, fact.occurred_at, 0 if isinstance(fact, PositionOpened) else 1, number)
    return (0 if isinstance(fact, CandidateRegistered) else 1, fact.occurred_at, 1, number)


def _subject(fact: Recordable) -> str:
    if isinstance(fact, PositionFact):
        return f"position {fact.position}"
    return f"candidate {fact.candidate}"


def _split(decision: Decision, batch_events: int) -> Iterator[Decision]:
    """Cut a decision into parts of about ``batch_events`` events, each of whole candidates;
    inbound offsets go with the last part."""
    parts = list(_parts(decision, batch_events))
    if parts:
        parts[-1].inbound = decision.inbound
    yield from parts


def _parts(decision: Decision, batch_events: int) -> Iterator[Decision]:
    keys_by_candidate: dict[UUID, list[KeyRow]] = defaultdict(list)
    for row in decision.keys:
        keys_by_candidate[row[1]].append(row)
    recorded_by_candidate: dict[UUID, list[tuple[int, UUID, int]]] = defaultdict(list)
    for recorded in decision.recorded:
        recorded_by_candidate[recorded[1]].append(recorded)
    part = Decision()
    for candidate in decision.aggregates:
        cid = candidate.id
        part.aggregates.append(candidate)
        part.keys.extend(keys_by_candidate[cid])
        part.recorded.extend(recorded_by_candidate[cid])
        part.lines_by_candidate[cid] = decision.lines_by_candidate[cid]
        if cid in decision.sealing_keys:
            part.sealing_keys[cid] = decision.sealing_keys[cid]
        if cid in decision.new_sealing_keys:
            part.new_sealing_keys[cid] = decision.new_sealing_keys[cid]
        if cid in decision.erasures:
            part.erasures[cid] = decision.erasures[cid]
        if len(part.keys) >= batch_events:
            yield part
            part = Decision()
    if part.aggregates:
        yield part


@contextmanager
def bulk_mode() -> Iterator[None]:
    """Hold Python's cyclic garbage collector while a bulk import builds many small objects.

    Touchpoints and events hold no reference cycles, and without this the collector rescans the
    growing heap again and again (it halved import throughput in measurements).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
