"""A stored event as projections see it: a ``Fact``, its personal data left behind.

Below the follower, the bulk rebuild and every read that folds the ledger again (journeys, a
match as of a date), so they all make facts the same way.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import orjson

from infra.store.recorder import StoredRow
from projections.base import CANDIDATE, POSITION, Fact

POSITION_MARK = b'"fact":'
"""How a stored position event's JSON names its body (a candidate's names ``touchpoint``); in a
touchpoint it cannot occur, since quotes inside its text values are escaped."""


def to_fact(row: StoredRow) -> Fact:
    """A stored event as a ``Fact``; personal data never leaves this function. A position's
    event becomes a fact of its stream (its fields hold nothing personal)."""
    stored = orjson.loads(row.state)
    touchpoint = stored.get("touchpoint")
    stream = CANDIDATE
    if touchpoint is None:
        touchpoint, stream = stored["fact"], POSITION
    touchpoint.pop("personal", None)
    return Fact(
        position=row.position,
        candidate_id=row.candidate_id,
        version=row.version,
        type=touchpoint["type"],
        occurred_at=_seconds(touchpoint["occurred_at"]),
        recorded_at=_seconds(stored["timestamp"]),
        data=touchpoint,
        stream=stream,
    )


def _seconds(moment: str) -> float:
    return datetime.fromisoformat(moment).timestamp()


def position_fact(position: int, stream_id: str, version: int, state: bytes) -> Fact | None:
    """A raw stored event as a position's fact; None when it is a candidate's touchpoint."""
    if POSITION_MARK not in state:
        return None
    fact = to_fact(StoredRow(position, str(UUID(str(stream_id))), version, state))
    return fact if fact.stream == POSITION else None
