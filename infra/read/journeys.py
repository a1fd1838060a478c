"""Reading a candidate's journey as it stood at any instant: the header from the views, the
timeline from the candidate's own stream in the ledger (up to the views' position, so the two
agree), or from the timeline view where the views are fed from a topic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from domain.touchpoints import candidate_id
from infra.read.alerts import Deadline, next_deadline
from infra.read.read_side import now_minute
from infra.read.stored_facts import to_fact
from infra.read.views import ViewStore
from projections.journey import (
    TIMELINE,
    JourneyProjection,
    Step,
    last_personal_touch,
    last_touch,
    stage_of,
    step_of,
    steps_from_rows,
)


class NoSuchCandidate(LookupError):
    pass


@dataclass(frozen=True)
class Journey:
    candidate: str
    status: str
    role: str
    recruiter: str | None
    as_of: float
    stage: str
    steps: list[Step]
    last_touch: Step | None
    last_personal_touch: Step | None
    next_due: Deadline | None
    """The earliest deadline of the stale-contact rules unresolved as of ``as_of``."""

    def as_dict(self) -> dict[str, Any]:
        """The journey as JSON: instants in ISO 8601 (UTC), like every other answer."""
        return {
            "candidate": self.candidate,
            "status": self.status,
            "role": self.role,
            "recruiter": self.recruiter,
            "as_of": _iso(self.as_of),
            "stage": self.stage,
            "steps": [_step(step) for step in self.steps],
            "last_touch": _step(self.last_touch),
            "last_personal_touch": _step(self.last_personal_touch),
            "next_due": self.next_due and self.next_due.as_dict(),
        }


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def _step(step: Step | None) -> dict[str, Any] | None:
    if step is None:
        return None
    return {
        "position": step.position,
        "occurred_at": _iso(step.occurred_at),
        "recorded_at": _iso(step.recorded_at),
        "type": step.type,
        "by_whom": step.by_whom,
        "personal_touch": step.personal_touch,
        "reaches": step.reaches,
        "detail": step.detail,
    }


def journey(store: ViewStore, candidate: str, as_of: float | None = None) -> Journey:
    """The journey as it stood at ``as_of`` (by when things happened); the current minute
    without one, so deadlines still ahead are not called overdue."""
    moment = now_minute() if as_of is None else as_of
    cid = str(candidate_id(candidate))
    found = store.query(
        "SELECT status, role, recruiter FROM view_journey_candidates WHERE candidate_id = ?",
        (cid,),
    )
    if not found:
        raise NoSuchCandidate(f"candidate {candidate} is not registered")
    status, role, recruiter = found[0]
    steps = timeline(store, cid, moment)
    return Journey(
        candidate=candidate,
        status=status,
        role=role,
        recruiter=recruiter,
        as_of=moment,
        stage=stage_of(steps),
        steps=steps,
        last_touch=last_touch(steps),
        last_personal_touch=last_personal_touch(steps),
        next_due=next_deadline(store, cid, moment),
    )


def timeline(store: ViewStore, cid: str, as_of: float) -> list[Step]:
    """The candidate's touchpoints that occurred by ``as_of``, in the order they happened."""
    if store.ledger is None:
        rows = store.query(
            "SELECT position, occurred_at, recorded_at, type, by_whom, personal_touch, reaches,"
            f" data FROM {TIMELINE} WHERE candidate_id = ? AND occurred_at <= ?"
            " ORDER BY occurred_at, position",
            (cid, as_of),
        )
        return steps_from_rows(rows)
    built = store.position(JourneyProjection())
    facts = [to_fact(row) for row in store.ledger.read_stored_of([cid], built[1] if built else 0)]
    steps = [step_of(fact) for fact in facts if fact.occurred_at <= as_of]
    return sorted(steps, key=lambda step: (step.occurred_at, step.position))
