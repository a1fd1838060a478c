"""Candidate journeys: each candidate's timeline, the stage they are at, and their last touches.

The timeline is the candidate's touchpoints without personal data (read from the ledger beside
the views, or from a topic-fed copy); the stage and the last touches are read from it for any
"as of" instant, so a journey can be seen as it stood on any date by when things happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, ClassVar

import orjson

from domain.touchpoints import actor_of
from projections.base import Column, Fact, State, Table, Upsert
from projections.rates import Rate, percentile

DAY = 86_400.0

STAGES = (
    "sourced",
    "contacted",
    "engaged",
    "applied",
    "shortlisted",
    "interviewing",
    "offered",
    "hired",
)
"""The way forward, in order; "declined", "opted out" and "erased" are where a journey can stop."""

REACHES = {
    "outreach_sent": "contacted",
    "content_shared": "contacted",
    "personal_note_sent": "contacted",
    "call_held": "engaged",
    "application_submitted": "applied",
    "application_acknowledged": "applied",
    "shortlisted": "shortlisted",
    "interview_scheduled": "interviewing",
    "offer_extended": "offered",
    "offer_accepted": "offered",
    "hired": "hired",
}
_NOT_A_TOUCH = {
    "candidate_registered",
    "profile_enriched",
    "consent_given",
    "erasure_requested",
    "match_dismissed",
    "outreach_bounced",
}
_DETAIL_SKIP = {"type", "candidate", "occurred_at", "source_id", "recruiter", "automated"}


class JourneyProjection:
    """Who each candidate is (reference, status, role, owner): the journey's header. The
    timeline itself is the candidate's own stream in the ledger, read by its primary key
    (``infra.read.journeys``); only views fed from a topic keep a copy (``TimelineProjection``)."""

    name: ClassVar[str] = "journey"
    version: ClassVar[int] = 4
    stateful: ClassVar[bool] = False
    """Every row follows from its fact alone: no per-candidate state to keep."""
    tables: ClassVar[tuple[Table, ...]] = (
        Table(
            "view_journey_candidates",
            (
                Column("candidate_id", "TEXT"),
                Column("candidate", "TEXT"),
                Column("status", "TEXT"),
                Column("role", "TEXT"),
                Column("recruiter", "TEXT"),
                Column("registered_at", "DOUBLE PRECISION"),
                Column("source", "TEXT"),
            ),
            key=("candidate_id",),
            indexes=(("candidate",),),
        ),
    )

    def apply(self, state: State, fact: Fact, out: list[Upsert]) -> None:
        if fact.type == "candidate_registered":
            out.append(
                Upsert(
                    "view_journey_candidates",
                    {
                        "candidate_id": fact.candidate_id,
                        "candidate": fact.data["candidate"],
                        "status": fact.data["status"],
                        "role": fact.data["role"],
                        "recruiter": fact.data.get("recruiter"),
                        "registered_at": fact.occurred_at,
                        "source": fact.data.get("source"),
                    },
                )
            )


TIMELINE = "view_journey_events"


class TimelineProjection:
    """Each candidate's timeline, one row per touchpoint without personal data: for views fed
    from the touchpoints topic, which have no ledger to read it from."""

    name: ClassVar[str] = "timeline"
    version: ClassVar[int] = 2
    stateful: ClassVar[bool] = False
    tables: ClassVar[tuple[Table, ...]] = (
        Table(
            TIMELINE,
            (
                Column("candidate_id", "TEXT"),
                Column("version", "BIGINT"),
                Column("position", "BIGINT"),
                Column("occurred_at", "DOUBLE PRECISION"),
                Column("recorded_at", "DOUBLE PRECISION"),
                Column("type", "TEXT"),
                Column("by_whom", "TEXT"),
                Column("personal_touch", "INTEGER"),
                Column("reaches", "TEXT"),
                Column("data", "TEXT"),
            ),
            key=("candidate_id", "version"),
        ),
    )

    def apply(self, state: State, fact: Fact, out: list[Upsert]) -> None:
        out.append(
            Upsert(
                TIMELINE,
                {
                    "candidate_id": fact.candidate_id,
                    "version": fact.version,
                    "position": fact.position,
                    "occurred_at": fact.occurred_at,
                    "recorded_at": fact.recorded_at,
                    "type": fact.type,
                    "by_whom": _by_whom(fact),
                    "personal_touch": int(fact.is_personal_touch),
                    "reaches": _reaches(fact),
                    "data": orjson.dumps(fact.data).decode(),
                },
            )
        )


def _reaches(fact: Fact) -> str | None:
    """The stage this touchpoint shows the candidate has reached, if it moves them forward."""
    if fact.type == "reply_received":
        return "engaged" if fact.is_engaging_reply else None
    return REACHES.get(fact.type)


def _by_whom(fact: Fact) -> str:
    """The recruiter's id when a recruiter did it, else who did (``touchpoints.actor_of``)."""
    actor, by = actor_of(fact.type, fact.data)
    return by if actor == "recruiter" and by else actor


def detail(data: Mapping[str, Any]) -> str:
    """The touchpoint's non-personal fields, for reading (identifiers and vocabulary only)."""
    parts = []
    for key, value in data.items():
        if key in _DETAIL_SKIP or value is None or value == []:
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(f"{key}: {shown}")
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class Step:
    """One row of a journey's timeline."""

    position: int
    occurred_at: float
    recorded_at: float
    type: str
    by_whom: str
    personal_touch: bool
    reaches: str | None
    detail: str


def stage_of(steps: Sequence[Step]) -> str:
    """Where the journey stands after these steps (in the order they happened)."""
    reached = 0
    offer_open = declined = opted_out = False
    for step in steps:
        kind = step.type
        if kind == "erasure_requested":
            return "erased"
        if step.reaches:
            reached = max(reached, STAGES.index(step.reaches))
        if kind == "offer_extended":
            offer_open, declined = True, False
        elif kind == "offer_declined":
            offer_open, declined = False, True
        elif kind == "opted_out":
            opted_out = True
        elif kind == "consent_given":
            opted_out = False
    if reached == STAGES.index("hired"):
        return "hired"
    if declined and not offer_open:
        return "declined"
    if opted_out:
        return "opted out"
    return STAGES[reached]


def last_touch(steps: Sequence[Step]) -> Step | None:
    touches = [s for s in steps if s.type not in _NOT_A_TOUCH]
    return max(touches, key=_when, default=None)


def last_personal_touch(steps: Sequence[Step]) -> Step | None:
    return max((s for s in steps if s.personal_touch), key=_when, default=None)


def _when(step: Step) -> tuple[float, int]:
    return step.occurred_at, step.position


def step_of(fact: Fact) -> Step:
    """A fact as its journey shows it (what a ``TimelineProjection`` row holds)."""
    return Step(
        fact.position,
        fact.occurred_at,
        fact.recorded_at,
        fact.type,
        _by_whom(fact),
        fact.is_personal_touch,
        _reaches(fact),
        detail(fact.data),
    )


def steps_from_rows(rows: Sequence[Sequence[Any]]) -> list[Step]:
    return [
        Step(
            int(r[0]),
            float(r[1]),
            float(r[2]),
            r[3],
            r[4],
            bool(r[5]),
            r[6],
            detail(orjson.loads(r[7])),
        )
        for r in rows
    ]


# --- the funnel: what the stage entries add up to --------------------------------------------


@dataclass(frozen=True, slots=True)
class FunnelStage:
    stage: str
    candidates: int
    """Candidates who reached this stage (by ``as_of``)."""
    conversion: Rate | None
    """Of the candidates who reached the previous stage, the share who reached this one too."""
    median_days: float | None
    """Median days from entering this stage to entering the next stage the candidate reached."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "candidates": self.candidates,
            "conversion": self.conversion.as_dict() if self.conversion else None,
            "median_days": self.median_days,
        }


def funnel_of(entries: Iterable[Mapping[str, float]]) -> list[FunnelStage]:
    """Candidates per stage, conversion from the previous stage, and median days in each, from
    each candidate's stage entries (stage -> when it was entered; ``view_stage_entries``).

    Days in a stage run from entering it to entering the next stage the candidate reached; a
    candidate who reached that later stage first (an active candidate who applied before anyone
    contacted them) is left out of that median rather than counted as negative.
    """
    reached = dict.fromkeys(STAGES, 0)
    converted = dict.fromkeys(STAGES, 0)
    durations: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for stages in entries:
        ordered = [(stage, stages[stage]) for stage in STAGES if stage in stages]
        for index, (stage, at) in enumerate(ordered):
            reached[stage] += 1
            if index + 1 < len(ordered) and ordered[index + 1][1] >= at:
                durations[stage].append((ordered[index + 1][1] - at) / DAY)
        for previous, stage in pairwise(STAGES):
            if previous in stages and stage in stages:
                converted[stage] += 1
    return [
        FunnelStage(
            stage=stage,
            candidates=reached[stage],
            conversion=Rate(converted[stage], reached[STAGES[i - 1]]) if i else None,
            median_days=percentile(durations[stage], 50),
        )
        for i, stage in enumerate(STAGES)
    ]
