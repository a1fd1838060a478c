"""What every projection is: a fold over facts, per candidate, that says which view rows to keep.

A projection never knows where its facts come from (the ledger directly, or a Kafka topic) nor
which database keeps its rows. It receives one narrow input, a ``Fact`` (a recorded touchpoint
and its ledger position, without personal data), together with the projection's own state for
that candidate, and appends ``Upsert``s. The machinery that feeds it (``infra/read/engine.py``,
under the follower and the Kafka consumer) keeps the state, the rows and the processed position
in one transaction, so re-delivering a fact never double counts and a crash never loses one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

ENGAGING_SENTIMENTS = frozenset({"interested", "not_now"})
"""Replies that count as engagement (a "not interested" reply is a response, not engagement)."""

NOT_TOUCHES = frozenset({"candidate_registered", "match_dismissed"})
"""Recorded by a recruiter, yet no contact with the candidate: never a personal touch."""

CANDIDATE = "candidate"
POSITION = "position"
CANDIDATES = frozenset({CANDIDATE})
"""What a projection folds unless it says otherwise (``Projection.streams``)."""

State = dict[str, Any]
"""A projection's memory of one candidate: JSON-serialisable, kept between facts."""


class Record:
    """A record of a projection's state kept as a JSON list (short on disk), read by name:
    subclasses name its positions with ``slot``."""

    __slots__ = ("slots",)

    def __init__(self, slots: list[Any]) -> None:
        self.slots = slots


def slot(index: int) -> Any:
    """A named field of a state record kept as a JSON list (``self.slots``): short on disk,
    named in code."""

    def get(record: Any) -> Any:
        return record.slots[index]

    def put(record: Any, value: Any) -> None:
        record.slots[index] = value

    return property(get, put)


def entry(key: str) -> Any:
    """A named field of a state kept as a JSON object with a short key (``self.raw``)."""

    def get(record: Any) -> Any:
        return record.raw.get(key)

    def put(record: Any, value: Any) -> None:
        record.raw[key] = value

    return property(get, put)


@dataclass(frozen=True, slots=True)
class Fact:
    """A recorded touchpoint as projections see it."""

    position: int
    """The event's position in the ledger: facts arrive in increasing position per candidate."""
    candidate_id: str
    """The candidate's id in the ledger (a UUID as text)."""
    version: int
    """The event's number in the candidate's own sequence (1 = registration)."""
    type: str
    occurred_at: float
    """When it happened, in seconds since the epoch (UTC)."""
    recorded_at: float
    """When Rapport recorded it, in seconds since the epoch (UTC)."""
    data: Mapping[str, Any]
    """The touchpoint's fields as JSON values, without ``personal``."""
    stream: str = CANDIDATE
    """Whose stream the fact is in: a candidate's touchpoint, or a position's fact
    (``POSITION``; ``candidate_id`` is then the position's id)."""

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)

    @property
    def is_engaging_reply(self) -> bool:
        return self.type == "reply_received" and self.data.get("sentiment") in ENGAGING_SENTIMENTS

    @property
    def is_personal_touch(self) -> bool:
        """A non-automated touch by a recruiter (see ``domain.touchpoints``)."""
        if not self.data.get("recruiter") or self.data.get("automated", False):
            return False
        if self.type in NOT_TOUCHES:
            return False
        return self.data.get("personalization") != "generic_blast"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    """Portable SQL type: TEXT, BIGINT, INTEGER (also for booleans), DOUBLE PRECISION."""


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True, slots=True)
class Upsert:
    """Insert or replace one whole row (every column of the table, in any order)."""

    table: str
    row: Mapping[str, Any]


class Projection(Protocol):
    name: ClassVar[str]
    """Identifies the projection's position and state (change ``version`` to force a rebuild)."""
    version: ClassVar[int]
    tables: ClassVar[tuple[Table, ...]]
    # Optional: ``stateful: ClassVar[bool] = False`` when rows follow from each fact alone,
    # which spares the machinery from storing an empty state per candidate;
    # ``reads: ClassVar[tuple[str, ...]]``, the only touchpoint fields ``apply`` reads (a
    # rebuild then gives it only those); ``apply_all(state, facts, out)``, a candidate's facts
    # at once with the same effect as ``apply`` on each in turn (a rebuild's shortcut);
    # ``streams: ClassVar[frozenset[str]]``, the streams whose facts it folds (default
    # ``CANDIDATES``: a position's facts never reach it).

    def apply(self, state: State, fact: Fact, out: list[Upsert]) -> None:
        """Fold ``fact`` into this candidate's ``state`` (in place) and append the rows to keep."""
        ...
