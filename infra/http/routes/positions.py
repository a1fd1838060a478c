"""Positions over HTTP: a requisition opened, refined, filled or closed, recorded as it happens
(role: recruiter), in the import format's position lines (the answers are
``infra.http.recording``'s, as for touchpoints); and who in the pool fits one, ranked and
explained (any role: the list holds nothing personal)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response
from fastapi.responses import JSONResponse

from domain.touchpoints import Identifier
from infra.http import recording
from infra.http.bodies import RawBody
from infra.http.deps import API, AsOf, ReadsMatches, Recorder, State, analysed, moment
from infra.http.recording import POSITIONS, IdempotencyKey, Timeout, Wait
from infra.read.matches import NoSuchPosition, match_position
from infra.read.reader import Reader

router = APIRouter(prefix=f"{API}/positions", tags=["positions"])


@router.post("", status_code=201)
def record_one(
    state: State,
    token: Recorder,
    raw: RawBody,
    idempotency_key: IdempotencyKey = None,
    wait: Wait = False,
    timeout: Timeout = 5.0,
) -> JSONResponse:
    """Record one position fact (`position_opened`, `position_updated`, `position_filled`,
    `position_closed`)."""
    return recording.record_one(state, token, raw, idempotency_key, wait, timeout, POSITIONS)


@router.post("/batch", status_code=201)
def record_batch(
    state: State,
    token: Recorder,
    raw: RawBody,
    idempotency_key: IdempotencyKey = None,
    wait: Wait = False,
    timeout: Timeout = 5.0,
) -> JSONResponse:
    """Record up to MAX_BATCH position facts in one transaction: all of them, or none."""
    return recording.record_batch(state, token, raw, idempotency_key, wait, timeout, POSITIONS)


Requisition = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@#-]{0,63}$")]
"""A requisition id as it can stand in a path (an ``Identifier`` without ``/``)."""
assert Identifier  # the same alphabet, less ``/``


@router.get("/{position}/matches", dependencies=[ReadsMatches])
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
                as_of=None if as_of is None else at, weights=state.match_weights,
                policy=state.settings.policy, limit=limit, include_past=include_past_candidates,
            )  # fmt: skip
        except NoSuchPosition as unknown:
            raise HTTPException(404, str(unknown)) from None
        return found.as_record()

    key = ("matches", position, at, as_of is None, limit, include_past_candidates)
    return analysed(state, key, compute)
