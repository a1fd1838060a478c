"""The touchpoints write API: touchpoints recorded the moment a recruiter, the email platform or
the CRM reports them (role: recruiter; an ``erasure_requested`` needs the compliance role, and is
recorded as requested by the token's holder whatever the body says). The answers are
``infra.http.recording``'s."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from infra.http import recording
from infra.http.bodies import RawBody
from infra.http.deps import API, Recorder, State
from infra.http.recording import TOUCHPOINTS, IdempotencyKey, Timeout, Wait

router = APIRouter(prefix=f"{API}/touchpoints", tags=["capture"])


@router.post("", status_code=201)
def record_one(
    state: State,
    token: Recorder,
    raw: RawBody,
    idempotency_key: IdempotencyKey = None,
    wait: Wait = False,
    timeout: Timeout = 5.0,
) -> JSONResponse:
    """Record one touchpoint (the import format)."""
    return recording.record_one(state, token, raw, idempotency_key, wait, timeout, TOUCHPOINTS)


@router.post("/batch", status_code=201)
def record_batch(
    state: State,
    token: Recorder,
    raw: RawBody,
    idempotency_key: IdempotencyKey = None,
    wait: Wait = False,
    timeout: Timeout = 5.0,
) -> JSONResponse:
    """Record up to MAX_BATCH touchpoints in one transaction: all of them, or none."""
    return recording.record_batch(state, token, raw, idempotency_key, wait, timeout, TOUCHPOINTS)
