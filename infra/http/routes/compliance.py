"""The compliance officer's exports and erasures (``rapport audit`` and ``rapport erase``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, PlainTextResponse

from domain.refusals import Refused
from infra.compliance import audit
from infra.http import answers
from infra.http.bodies import ErasureRequest, RawBody, strict_body
from infra.http.deps import (
    API,
    Candidate,
    Eraser,
    ExportsContactHistory,
    ExportsSubjectAccess,
    State,
    requester,
)
from infra.store.recorder import ErasureRow

router = APIRouter(prefix=API, tags=["compliance"])


@router.get(
    "/audit/{candidate}",
    response_model=answers.ContactHistory,
    operation_id="contact_history",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    dependencies=[ExportsContactHistory],
)
def audit_export(
    state: State,
    candidate: Candidate,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    """The candidate's contact history (role: compliance), as `rapport audit export`."""
    try:
        export = audit.contact_history_export(state.ledger, candidate)
    except Refused as unknown:
        raise HTTPException(404, unknown.message) from None
    if format == "csv":
        return PlainTextResponse(export.csv(), media_type="text/csv")
    return JSONResponse(export.document())


@router.get(
    "/audit/{candidate}/subject-access",
    dependencies=[ExportsSubjectAccess],
    response_model=answers.SubjectAccess,
    operation_id="subject_access",
)
def subject_access(state: State, candidate: Candidate) -> JSONResponse:
    """Everything held about the person, personal data opened (role: compliance)."""
    try:
        held = audit.subject_access(state.ledger, candidate, generated_at=datetime.now(UTC))
    except Refused as unknown:
        raise HTTPException(404, unknown.message) from None
    return JSONResponse(held)


@router.post(
    "/erasures",
    status_code=201,
    response_model=answers.Erased,
    operation_id="erase",
    responses={200: {"model": answers.ErasedBefore, "description": "Erased before (already)"}},
)
def erase(state: State, token: Eraser, raw: RawBody) -> JSONResponse:
    """Erase the candidate's personal data by destroying their key (role: compliance)."""
    request = strict_body(raw, ErasureRequest)
    if state.ledger.chain_problem is not None:
        raise HTTPException(503, f"the ledger cannot be written: {state.ledger.chain_problem}")
    try:
        done = state.ledger.erase(request.candidate, request.reason, requester(token))
    except Refused as refused:
        raise HTTPException(
            409 if refused.code != "unknown_candidate" else 404, refused.message
        ) from None
    state.forget_answers()
    if isinstance(done, ErasureRow):
        return JSONResponse(
            {"candidate": request.candidate, "erased": True, "already": True,
             "erased_at": done.erased_at, "reason": done.reason},
            status_code=200,
        )  # fmt: skip
    return JSONResponse(
        {"candidate": request.candidate, "erased": True, "already": False,
         "position": done.position},
        status_code=201,
    )  # fmt: skip
