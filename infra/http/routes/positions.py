"""Positions over HTTP: a requisition opened, refined, filled or closed, recorded as it happens
(role: recruiter), in the import format's position lines. The answers are
``infra.http.recording``'s, as for touchpoints."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from infra.http import recording
from infra.http.bodies import RawBody
from infra.http.deps import API, Recorder, State
from infra.http.recording import POSITIONS, IdempotencyKey, Timeout, Wait

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
