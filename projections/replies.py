"""Replies with what they said: the sentiment, why (``reason``) and when to ask again.

Why: "why people say no" decides what a recruiter changes (the pay band, the location, the
timing), and it is a breakdown of replies, not of outreach. Each reply is its own row, a
function of its fact alone, so the view needs no per-candidate state; the candidate's status
and role are joined at query time from the journey header.
"""

from __future__ import annotations

from typing import ClassVar

from projections.base import Column, Fact, State, Table, Upsert

REPLIES = Table(
    "view_replies",
    (
        Column("position", "BIGINT"),
        Column("candidate_id", "TEXT"),
        Column("replied_at", "DOUBLE PRECISION"),
        Column("channel", "TEXT"),
        Column("sentiment", "TEXT"),
        Column("reason", "TEXT"),
        Column("follow_up_on", "TEXT"),
    ),
    key=("position",),
    indexes=(("candidate_id",),),
)
"""One row per ``reply_received`` (its ledger position is the key); ``reason`` and
``follow_up_on`` are NULL when the reply did not say (every reply recorded before they existed)."""


class RepliesProjection:
    """Every reply, with its sentiment, reason and follow-up day."""

    name: ClassVar[str] = "replies"
    version: ClassVar[int] = 1
    stateful: ClassVar[bool] = False
    types: ClassVar[frozenset[str]] = frozenset({"reply_received"})
    tables: ClassVar[tuple[Table, ...]] = (REPLIES,)

    def apply(self, state: State, fact: Fact, out: list[Upsert]) -> None:
        if fact.type != "reply_received":
            return
        out.append(
            Upsert(
                REPLIES.name,
                {
                    "position": fact.position,
                    "candidate_id": fact.candidate_id,
                    "replied_at": fact.occurred_at,
                    "channel": fact.get("channel"),
                    "sentiment": fact.get("sentiment"),
                    "reason": fact.get("reason"),
                    "follow_up_on": fact.get("follow_up_on"),
                },
            )
        )
