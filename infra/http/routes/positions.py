"""Positions over HTTP: a requisition opened, refined, filled or closed, recorded as it happens
(role: recruiter), in the import format's position lines (the answers are
``infra.http.recording``'s, as for touchpoints); and who in the pool fits one, ranked and
explained (any role: the list holds nothing personal)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response
from fastapi.responses import JSONResponse

from domain.access import may_record
from domain.shortlisting import NotAmongMatches, shortlistings
from infra.http import answers, recording
from infra.http.bodies import RawBody, ShortlistRequest, invalid_body, strict_body
from infra.http.deps import (
    API,
    AsOf,
    ReadsMatches,
    Recorder,
    State,
    analysed,
    iso,
    moment,
    requester,
)
from infra.http.recording import POSITIONS, Timeout, Wait, add_capture_routes
from infra.intake.capture import CaptureRefused
from infra.read.matches import NoSuchPosition, match_position, picked_from
from infra.read.payoff import position_lines
from infra.read.read_side import now_minute
from infra.read.reader import Reader

router = APIRouter(prefix=f"{API}/positions", tags=["positions"])


add_capture_routes(
    router,
    POSITIONS,
    one="Record one position fact (position_opened, position_updated, position_filled,"
    " position_closed).",
    batch="Record up to MAX_BATCH position facts in one transaction: all of them, or none.",
)


Requisition = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@#-]{0,63}$")]
"""A requisition id as it can stand in a path: ``domain.touchpoints.Identifier``'s alphabet
without ``/`` (a requisition id with one is not reachable here)."""


@router.get(
    "", dependencies=[ReadsMatches], response_model=answers.Positions, operation_id="positions"
)
def positions(
    state: State,
    as_of: AsOf = None,
    status: Annotated[
        Literal["open", "filled", "closed", "all"], Query(description="Which positions.")
    ] = "open",
) -> Response:
    """Positions with their funnels (as ``rapport positions --format json``): shortlisted,
    interviewing and hired, and how many of them from a pool match."""
    at = moment(as_of)
    wanted = None if status == "all" else status
    return analysed(
        state,
        ("positions", at, status),
        lambda reader: {
            "as_of": iso(at),
            "positions": [line.as_dict(at) for line in position_lines(reader, at, wanted)],
        },
    )


@router.get(
    "/{position}/matches",
    dependencies=[ReadsMatches],
    response_model=answers.Matches,
    operation_id="matches",
)
def matches(
    state: State,
    position: Requisition,
    as_of: AsOf = None,
    limit: Annotated[int, Query(ge=1, le=500, description="How many to list.")] = 20,
    include_past_candidates: Annotated[
        bool, Query(description="Also silver medallists of other positions, in a pool or not.")
    ] = False,
) -> Response:
    """Who in the pool fits the position, ranked, each score explained term by term (as
    ``rapport match --format json``)."""
    at = moment(as_of)

    def compute(pool: Reader) -> dict[str, Any]:
        try:
            found = match_position(
                pool, state.ledger.ledger_recorder, position, now=at,
                as_of=at if as_of else None, weights=state.match_weights,
                policy=state.settings.policy, limit=limit, include_past=include_past_candidates,
            )  # fmt: skip
        except NoSuchPosition as unknown:
            raise HTTPException(404, str(unknown)) from None
        return found.as_record()

    key = ("matches", position, at, not as_of, limit, include_past_candidates)
    return analysed(state, key, compute)


@router.post(
    "/{position}/shortlist",
    status_code=201,
    response_model=answers.Shortlist,
    operation_id="shortlist",
    responses={200: {"model": answers.Shortlist, "description": "All shortlisted before"}},
)
def shortlist(
    state: State,
    token: Recorder,
    raw: RawBody,
    position: Requisition,
    wait: Wait = False,
    timeout: Timeout = 5.0,
) -> JSONResponse:
    """Shortlist candidates for the position (as ``rapport shortlist``), as a pool match with
    their rank and score, or sourced otherwise; recorded as done by the token's holder."""
    request = strict_body(raw, ShortlistRequest)
    if not may_record(frozenset({token.role}), "shortlisted"):
        raise HTTPException(403, f"the {token.role.value} role may not record shortlisted")
    now = now_minute()
    with state.analysis() as (pool, _):
        try:
            status, matched = picked_from(
                pool, state.ledger.ledger_recorder, position, from_match=request.from_match,
                now=now, weights=state.match_weights, policy=state.settings.policy,
                include_past=request.include_past_candidates,
            )  # fmt: skip
        except NoSuchPosition as unknown:
            raise HTTPException(404, str(unknown)) from None
    if status != "open":
        message = f"position {position} is {status}: nobody is shortlisted"
        body = {"status": "refused", "recorded": 0, "code": "position_not_open",
                "field": "position", "message": message}  # fmt: skip
        return JSONResponse(body, status_code=409)
    try:
        lines = shortlistings(
            position, request.candidates, recruiter=requester(token),
            at=datetime.fromtimestamp(time.time(), UTC), matched=matched,
        )  # fmt: skip
    except NotAmongMatches as missing:
        raise invalid_body(
            *((["candidates", request.candidates.index(c)], "not among the position's matches")
              for c in missing.candidates)
        ) from None  # fmt: skip
    try:
        outcomes = state.writer.submit(list(enumerate(lines)), "http")
    except CaptureRefused as refused:
        items = [
            {"index": i, "code": r.code, "field": r.field, "message": r.message}
            for i, r in refused.refusals
        ]
        return JSONResponse(
            {"status": "refused", "recorded": 0, "refusals": items}, status_code=409
        )
    results = [
        {
            "candidate": line.candidate,
            "status": outcome.status,
            "position": outcome.position,
            "source": line.source.value if line.source else None,
            "match_rank": line.match_rank,
            "match_score": line.match_score,
        }
        for outcome, line in zip(outcomes, lines, strict=True)
    ]
    recorded = sum(1 for o in outcomes if o.status == "recorded")
    body = {"status": "recorded" if recorded else "duplicate", "recorded": recorded,
            "results": results}  # fmt: skip
    last = max((o.position for o in outcomes if o.position is not None), default=None)
    body |= recording.seen(state, last, wait, timeout)
    return JSONResponse(body, status_code=201 if recorded else 200)
