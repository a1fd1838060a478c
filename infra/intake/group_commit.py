"""Group commit: write requests that arrive together share one ledger transaction.

A durable commit costs a flush to disk (an fsync). That cost, not Python, limits how many
single-touchpoint requests a second one process can record. So a writer thread takes every
request waiting in its queue, up to ``max_lines`` touchpoints, decides them together and writes
them in one transaction. Each request still gets its own answer. A request with a refused
touchpoint is refused as a whole and left out, as if it had never been sent, and the others are
decided again without it. A request that fails in an unexpected way (a bug, a poison input)
fails alone: the group is then decided again one request at a time. An answer is given only
after the commit.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from domain.touchpoints import Touchpoint
from infra.intake.capture import CaptureRefused, Outcome, capture
from infra.store.ledger import BatchRefused, IdempotencyKeyReused, Ledger

log = structlog.get_logger("rapport.group_commit")
T = TypeVar("T")


@dataclass
class _Request:
    lines: list[tuple[int, Touchpoint]]
    source: str
    done: threading.Event = field(default_factory=threading.Event)
    outcomes: list[Outcome] | None = None
    error: BaseException | None = None

    def answer(
        self, outcomes: list[Outcome] | None = None, error: BaseException | None = None
    ) -> None:
        self.outcomes, self.error = outcomes, error
        self.done.set()


class GroupCommit:
    def __init__(self, ledger: Ledger, *, max_lines: int = 2_000) -> None:
        self.ledger = ledger
        self.max_lines = max_lines
        self._queue: queue.Queue[_Request] = queue.Queue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    def submit(self, lines: list[tuple[int, Touchpoint]], source: str) -> list[Outcome]:
        """Record one request's touchpoints (all or none); blocks until they are committed."""
        request = _Request(lines, source)
        self._queue.put(request)
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.outcomes is not None
        return request.outcomes

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                first = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            group, lines = [first], len(first.lines)
            while lines < self.max_lines:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                group.append(more)
                lines += len(more.lines)
            try:
                self._commit(group)
            except BatchRefused:  # a concurrent writer changed a candidate: one by one, then
                self._one_by_one(group)
            except Exception as failure:
                if sum(not request.done.is_set() for request in group) > 1:
                    # Which request caused it is unknown: each is decided again on its own, so
                    # only the culprit's answer is the failure.
                    log.warning("group_commit.failed_together", error=type(failure).__name__)
                    self._one_by_one(group)
                else:
                    self._fail(group, failure)
            except BaseException as failure:
                self._fail(group, failure)

    @staticmethod
    def _fail(group: list[_Request], failure: BaseException) -> None:
        for request in group:
            if not request.done.is_set():
                request.answer(error=failure)

    def _commit(self, group: list[_Request]) -> None:
        live = list(group)
        while live:
            numbered: list[tuple[int, Touchpoint]] = []
            owner: list[tuple[int, int]] = []
            for which, request in enumerate(live):
                for index, touchpoint in request.lines:
                    owner.append((which, index))
                    numbered.append((len(numbered), touchpoint))
            decision = self.ledger.decide(numbered)
            if decision.reused_keys:
                reused = _by_request(decision.reused_keys, owner)
                for which, keys in reused.items():
                    live[which].answer(error=IdempotencyKeyReused(keys))
                live = _without(live, reused)
                continue
            if decision.refusals:
                refused = _by_request(decision.refusals, owner)
                for which, refusals in refused.items():
                    request = live[which]
                    self.ledger.note_refusals(request.lines, refusals, request.source)
                    request.answer(error=CaptureRefused(refusals))
                live = _without(live, refused)
                continue
            report = self.ledger.write(decision)
            number = 0
            for request in live:
                outcomes = []
                for index, _ in request.lines:
                    position = report.positions_by_line.get(number)
                    outcomes.append(
                        Outcome(index, "recorded", position)
                        if position is not None
                        else Outcome(index, "duplicate")
                    )
                    number += 1
                request.answer(outcomes)
            if len(live) > 1:
                log.debug("group_commit.shared", requests=len(live), events=report.events)
            return

    def _one_by_one(self, group: list[_Request]) -> None:
        for request in group:
            if request.done.is_set():
                continue
            try:
                request.answer(capture(self.ledger, request.lines, request.source))
            except BaseException as failure:
                request.answer(error=failure)


def _by_request(
    found: list[tuple[int, T]], owner: list[tuple[int, int]]
) -> dict[int, list[tuple[int, T]]]:
    """What was found about the group's lines, by request (and the line's index in it)."""
    mine: dict[int, list[tuple[int, T]]] = {}
    for number, thing in found:
        which, index = owner[number]
        mine.setdefault(which, []).append((index, thing))
    return mine


def _without(live: list[_Request], answered: dict[int, Any]) -> list[_Request]:
    return [request for which, request in enumerate(live) if which not in answered]
