"""Reading a candidate's journey as it stood at any instant: the header from the views, the
timeline from the candidate's own stream in the ledger (up to the views' position, so the two
agree), or from the timeline view where the views are fed from a topic."""

from __future__ import annotations

from dataclasses import dataclass

from domain.touchpoints import candidate_id
from infra.read.alerts import next_due
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
    steps = timeline(store, cid, float("inf") if as_of is None else as_of)
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


def next_due_action(store: ViewStore, found: Journey, as_of: float | None) -> str | None:
    """The earliest open or coming deadline of the stale-contact rules, in words."""
    return next_due(store, str(candidate_id(found.candidate)), as_of)
