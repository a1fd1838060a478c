"""Requisitions: each position's life, and the hiring steps that came to it, with where the
candidates came from.

Why: the pool exists "to which we turn when we have new positions to fill". Whether it pays
off is a question about positions: how long from opening to the first shortlist and to the
hire, and how many of the people shortlisted, interviewed and hired came from a pool match.
A position's own facts (its stream) give when it opened and how it ended; the candidates'
hiring touchpoints give the steps, each credited to the attribution of the candidate's
shortlisting for that position (``source`` on ``shortlisted``: ``pool_match`` or ``sourced``;
older shortlistings say nothing).

Every stored moment is the earliest of its kind (a step) or the opening's first moment, and the
attribution is the earliest shortlisting's, so a candidate's rows do not depend on the order
their facts came in. A position's facts are decided in order by its aggregate, so its row
follows its stream.
"""

from __future__ import annotations

from typing import Any, ClassVar

from projections.base import CANDIDATE, POSITION, Column, Fact, State, Table, Upsert

STEP_OF = {
    "shortlisted": "shortlisted",
    "interview_scheduled": "interviewing",
    "hired": "hired",
}
"""The hiring touchpoints whose first moment per position is a step of filling it."""
STEPS = tuple(STEP_OF.values())

POOL_MATCH = "pool_match"
"""The attribution of a shortlisting picked from a pool match."""

_D, _T = "DOUBLE PRECISION", "TEXT"

REQUISITIONS = Table(
    "view_requisitions",
    (
        Column("requisition", _T),
        Column("title", _T),
        Column("role", _T),
        Column("recruiter", _T),
        Column("client", _T),
        Column("status", _T),
        Column("opened_at", _D),
        Column("ended_at", _D),
        Column("close_reason", _T),
    ),
    key=("requisition",),
)
"""One row per position opened: ``status`` open, filled or closed (its latest fact);
``opened_at`` its first opening; ``ended_at`` when it was last filled or closed (NULL while
open); ``close_reason`` why, when closed."""

REQUISITION_STEPS = Table(
    "view_requisition_steps",
    (
        Column("candidate_id", _T),
        Column("requisition", _T),
        Column("step", _T),
        Column("reached_at", _D),
        Column("source", _T),
    ),
    key=("candidate_id", "requisition", "step"),
    indexes=(("requisition",),),
)
"""When each candidate first reached each step (``STEPS``) for a position, and the attribution
of their earliest shortlisting for it (``pool_match``, ``sourced``, or NULL: none said)."""


class RequisitionsProjection:
    """Positions and the hiring steps candidates reached for them."""

    name: ClassVar[str] = "requisitions"
    version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]] = (REQUISITIONS, REQUISITION_STEPS)
    streams: ClassVar[frozenset[str]] = frozenset({CANDIDATE, POSITION})
    types: ClassVar[frozenset[str]] = frozenset(STEP_OF)
    """The only candidates' facts ``apply`` uses (a rebuild folds just those); a position's
    facts are all used."""
    reads: ClassVar[tuple[str, ...]] = ("position", "source")
    """The candidates' touchpoint fields ``apply`` reads."""

    def apply(self, state: State, fact: Fact, out: list[Upsert]) -> None:
        if fact.stream == POSITION:
            _position(state, fact, out)
        elif fact.type in STEP_OF and (requisition := fact.data.get("position")) is not None:
            _step(state, fact, requisition, out)


def _position(state: State, fact: Fact, out: list[Upsert]) -> None:
    data, at = fact.data, fact.occurred_at
    match fact.type:
        case "position_opened":
            state["opened_at"] = min(state.get("opened_at", at), at)
            state.update(
                {name: data.get(name) for name in ("title", "role", "recruiter", "client")},
                status="open",
                ended_at=None,
                close_reason=None,
            )
        case "position_updated":
            for name in ("title", "role", "client"):
                if data.get(name) is not None:
                    state[name] = data[name]
        case "position_filled":
            state.update(status="filled", ended_at=at, close_reason=None)
        case "position_closed":
            state.update(status="closed", ended_at=at, close_reason=data.get("reason"))
    if "opened_at" in state:
        out.append(
            Upsert(
                REQUISITIONS.name,
                {"requisition": data["position"]}
                | {column.name: state.get(column.name) for column in REQUISITIONS.columns[1:]},
            )
        )


def _step(state: State, fact: Fact, requisition: str, out: list[Upsert]) -> None:
    """The step's first moment, and the attribution of the earliest shortlisting."""
    kept: dict[str, Any] = state.setdefault(requisition, {})
    step, at = STEP_OF[fact.type], fact.occurred_at
    changed = False
    if step not in kept or at < kept[step]:
        kept[step] = at
        changed = True
    if fact.type == "shortlisted":
        earliest = kept.get("by")
        if earliest is None or (at, fact.position) < (earliest[0], earliest[1]):
            kept["by"] = [at, fact.position, fact.data.get("source")]
            changed = True
    if not changed:
        return
    source = kept["by"][2] if "by" in kept else None
    for reached in STEPS:
        if reached in kept:
            out.append(
                Upsert(
                    REQUISITION_STEPS.name,
                    {
                        "candidate_id": fact.candidate_id,
                        "requisition": requisition,
                        "step": reached,
                        "reached_at": kept[reached],
                        "source": source,
                    },
                )
            )
