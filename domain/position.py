"""The Position aggregate: a requisition's own history, in the same ledger as the candidates.

A position is opened, refined, and ends filled or closed; a closed one may be opened again
(a requisition put on hold and revived), a filled one may not (the client opens a new
requisition). The hiring touchpoints that name it stay with their candidates: a position does
not know who applied, which is what keeps each aggregate's rules its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate
from pydantic import BaseModel, ConfigDict, ValidationError

from domain.access import with_article
from domain.policy import ContactPolicy
from domain.position_facts import (
    AnyPositionFact,
    PositionClosed,
    PositionFact,
    PositionFilled,
    PositionOpened,
    PositionUpdated,
)
from domain.refusals import (
    OccurredInTheFuture,
    PositionNotOpen,
    PositionUpdateInvalid,
    UnknownPosition,
)
from domain.touchpoints import readable_errors


class PositionStatus(StrEnum):
    OPEN = "open"
    FILLED = "filled"
    CLOSED = "closed"


class PositionEvent(BaseModel, CanMutateAggregate[UUID]):
    """A position fact as recorded: ``timestamp`` is when Rapport recorded it."""

    model_config = ConfigDict(frozen=True)

    originator_id: UUID
    originator_version: int
    timestamp: datetime
    fact: AnyPositionFact

    def apply(self, aggregate: Any) -> None:
        aggregate.evolve(self.fact)


class Opened(PositionEvent, CanInitAggregate[UUID]):
    """The first event of every position: a PositionOpened fact."""

    originator_topic: str
    fact: PositionOpened


class PositionFactRecorded(PositionEvent):
    """Any later fact about the position."""


@dataclass(slots=True)
class PositionState:
    """What a position's facts add up to."""

    spec: PositionOpened | None = None
    """What the position asks for: the opening with every update applied."""
    status: PositionStatus = PositionStatus.OPEN
    opened_at: datetime | None = None
    filled_by: str | None = None


def evolve(state: PositionState, fact: PositionFact) -> None:
    """``state`` after ``fact``. Never refuses: the ledger decided every fact when it was
    recorded, and a reading in another order (as they happened) only merges fields."""
    match fact:
        case PositionOpened():
            state.spec, state.status = fact, PositionStatus.OPEN
            state.opened_at = fact.occurred_at
        case PositionUpdated() if state.spec is not None:
            state.spec = state.spec.model_copy(update=fact.changes)
        case PositionFilled():
            state.status, state.filled_by = PositionStatus.FILLED, fact.candidate
        case PositionClosed():
            state.status = PositionStatus.CLOSED


def check_update(state: PositionState, update: PositionUpdated) -> None:
    """Refuse an update that would break the opening's own rules (leave a position with
    nowhere to work, say)."""
    assert state.spec is not None  # every position starts with its opening
    try:
        PositionOpened.model_validate({**state.spec.model_dump(), **update.changes})
    except ValidationError as invalid:
        (_, message), *_ = readable_errors(invalid)
        raise PositionUpdateInvalid(
            f"position_updated for position {update.position} would leave it invalid: {message}"
        ) from None


def as_it_stood(facts: Iterable[PositionFact], moment: datetime | None = None) -> PositionState:
    """A position as its recorded facts say it stood at ``moment`` (default: now), taking the
    facts as they happened, as the ledger decided them."""
    state = PositionState()
    for fact in sorted(facts, key=lambda f: (f.occurred_at, f.type != "position_opened")):
        if moment is None or fact.occurred_at <= moment:
            evolve(state, fact)
    return state


class Position(BaseAggregate[UUID]):
    def __init__(self) -> None:
        self.state = PositionState()

    @property
    def spec(self) -> PositionOpened | None:
        return self.state.spec

    @property
    def status(self) -> PositionStatus:
        return self.state.status

    @property
    def filled_by(self) -> str | None:
        return self.state.filled_by

    @classmethod
    def open(
        cls, fact: PositionOpened, *, recorded_at: datetime, policy: ContactPolicy
    ) -> Position:
        _not_in_the_future(fact, recorded_at, policy)
        return cls._create(Opened, id=fact.position_id, fact=fact, timestamp=recorded_at)

    def record(self, fact: PositionFact, *, recorded_at: datetime, policy: ContactPolicy) -> None:
        """Record a fact about this position, or raise the ``Refused`` that forbids it."""
        _not_in_the_future(fact, recorded_at, policy)
        if isinstance(fact, PositionOpened):
            if self.status is not PositionStatus.CLOSED:
                raise PositionNotOpen(
                    f"position {fact.position} is already {self.status.value}: it cannot be"
                    " opened again"
                )
        elif self.status is not PositionStatus.OPEN:
            raise PositionNotOpen(
                f"position {fact.position} is {self.status.value}: no {fact.type} after that"
            )
        elif isinstance(fact, PositionUpdated):
            check_update(self.state, fact)
        self.trigger_event(PositionFactRecorded, fact=fact, timestamp=recorded_at)

    def evolve(self, fact: PositionFact) -> None:
        evolve(self.state, fact)


def refuse_unopened(fact: PositionFact) -> UnknownPosition:
    """Why a fact about a position never opened is refused."""
    return UnknownPosition(
        f"position {fact.position} is not open: {with_article(fact.type)} needs a"
        " position_opened first"
    )


def _not_in_the_future(fact: PositionFact, recorded_at: datetime, policy: ContactPolicy) -> None:
    if fact.occurred_at > recorded_at + policy.clock_skew:
        raise OccurredInTheFuture(
            f"{fact.type} for position {fact.position} claims to have happened at"
            f" {fact.occurred_at.isoformat()}, after it was recorded ({recorded_at.isoformat()})"
        )
