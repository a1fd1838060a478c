"""Reading a candidate's journey from the views, as it stood at any instant."""

from __future__ import annotations

from dataclasses import dataclass

from domain.touchpoints import candidate_id
from infra.read.alerts import next_due
from infra.read.views import ViewStore
from projections.journey import Step, last_personal_touch, last_touch, stage_of, steps_from_rows


class NoSuchCandidate(LookupError):
    pass


@dataclass(frozen=True)
class Journey:
    candidate: str
    status: str
    role: str
    recruiter: str | None
    stage: str
    steps: list[Step]
    last_touch: Step | None
    last_personal_touch: Step | None


def journey(store: ViewStore, candidate: str, as_of: float | None = None) -> Journey:
    cid = str(candidate_id(candidate))
    found = store.query(
        "SELECT status, role, recruiter FROM view_journey_candidates WHERE candidate_id = ?",
        (cid,),
    )
    if not found:
        raise NoSuchCandidate(f"candidate {candidate} is not registered")
    status, role, recruiter = found[0]
    rows = store.query(
        "SELECT position, occurred_at, recorded_at, type, by_whom, personal_touch, reaches, data"
        " FROM view_journey_events WHERE candidate_id = ? AND occurred_at <= ?"
        " ORDER BY occurred_at, position",
        (cid, float("inf") if as_of is None else as_of),
    )
    steps = steps_from_rows(rows)
    return Journey(
        candidate=candidate,
        status=status,
        role=role,
        recruiter=recruiter,
        stage=stage_of(steps),
        steps=steps,
        last_touch=last_touch(steps),
        last_personal_touch=last_personal_touch(steps),
    )


def next_due_action(store: ViewStore, found: Journey, as_of: float | None) -> str | None:
    """The earliest open or coming deadline of the stale-contact rules, in words."""
    return next_due(store, str(candidate_id(found.candidate)), as_of)
