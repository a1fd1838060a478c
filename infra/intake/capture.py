"""Live capture: touchpoints sent one by one or in small batches (HTTP, ``rapport record``).

The same models as the import validate every item, and the same ledger decides them: a batch
is validated whole, then decided whole, then written in one transaction, so it is recorded
entirely or not at all. A touchpoint seen before (its ``source_id``, an ``Idempotency-Key``, or
else its content) is answered "duplicate" and recorded again never.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from domain.access import NotPermitted, UserRole, may_record
from domain.refusals import Refused
from domain.touchpoints import ErasureRequested
from infra.intake.importing import BOM, LineError, load_json, parse_item
from infra.store.ledger import BatchRefused, IdempotencyKeyReused, Ledger, Line

MAX_BATCH = 500
"""Touchpoints per batch request: one transaction each, answered well inside a second."""


@dataclass(frozen=True, slots=True)
class Outcome:
    index: int
    status: Literal["recorded", "duplicate"]
    position: int | None = None

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.position is not None:
            found["position"] = self.position
        return found


class CaptureRefused(Exception):
    """The rules refused some items; nothing of the batch was written (refusals are counted)."""

    def __init__(self, refusals: list[tuple[int, Refused]]) -> None:
        super().__init__(f"{len(refusals)} touchpoint(s) refused")
        self.refusals = refusals


def read_body(raw: bytes) -> list[Any] | None:
    """A request's touchpoints: one JSON object or an array of them (strict JSON, see
    ``infra.intake.importing.load_json``); None if the body is neither."""
    try:
        whole = load_json(raw.removeprefix(BOM))
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(whole, dict):
        return [whole]
    return whole if isinstance(whole, list) else None


def validate(
    items: Sequence[Any], idempotency_key: str | None = None
) -> tuple[list[Line], list[LineError]]:
    """Every item as a touchpoint, or every problem with the item's index and field.

    An ``idempotency_key`` identifies items that have no ``source_id`` (item ``i`` of a batch
    gets ``<key>:<i>``), so a client that sends the same request again is recognised. Keys
    live apart from CRM ids, and a key sent again with other content is a conflict
    (``infra.store.ledger.IdempotencyKeyReused``), never a duplicate.
    """
    lines: list[Line] = []
    errors: list[LineError] = []
    for index, item in enumerate(items):
        parsed = parse_item(index, item)
        if isinstance(parsed, list):
            errors.extend(parsed)
            continue
        touchpoint = parsed
        if idempotency_key is not None and touchpoint.source_id is None:
            key = idempotency_key if len(items) == 1 else f"{idempotency_key}:{index}"
            touchpoint = touchpoint.with_idempotency_key(key)
        lines.append((index, touchpoint))
    return lines, errors


def not_permitted(lines: Sequence[Line], roles: frozenset[UserRole]) -> list[NotPermitted]:
    """Every item the roles may not record (``domain.access`` decides per touchpoint type)."""
    return [
        NotPermitted(index, touchpoint.type)
        for index, touchpoint in lines
        if not may_record(roles, touchpoint.type)
    ]


def requested_by(lines: list[Line], requester: str) -> list[Line]:
    """Erasures carry who asked for them as the authenticated caller, never as the body says."""
    return [
        (index, touchpoint.model_copy(update={"requested_by": requester}))
        if isinstance(touchpoint, ErasureRequested)
        else (index, touchpoint)
        for index, touchpoint in lines
    ]


def capture(ledger: Ledger, lines: list[Line], source: str) -> list[Outcome]:
    """Record the lines in one transaction (or refuse them all, counting the refusals)."""
    decision = ledger.decide(lines)
    if decision.reused_keys:
        raise IdempotencyKeyReused(decision.reused_keys)
    if decision.refusals:
        ledger.note_refusals(lines, decision.refusals, source)
        raise CaptureRefused(decision.refusals)
    try:
        report = ledger.write(decision)
    except BatchRefused as late:  # a concurrent writer changed a candidate meanwhile
        ledger.note_refusals(lines, late.refusals, source)
        raise CaptureRefused(late.refusals) from None
    return [
        Outcome(index, "recorded", report.positions_by_line[index])
        if index in report.positions_by_line
        else Outcome(index, "duplicate")
        for index, _ in lines
    ]
