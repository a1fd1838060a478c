"""Recording over HTTP, shared by the write endpoints (``routes.touchpoints``,
``routes.positions``): validation, permissions, the ledger's decision and the answers.

Answers: 201 recorded (with the ledger position); 200 duplicate (nothing recorded); 422 invalid
(each field named, nothing recorded; a line of the other kind is invalid too); 403 an item the
role may not record (nothing recorded); 409 refused by the rules (the reason; counted in the
refusal log; nothing recorded), or an ``Idempotency-Key`` sent before with other content
(``idempotency_key_reused``; nothing recorded); 413 a batch over ``MAX_BATCH``. ``wait=true``
holds the answer until the views have applied the write (read your writes), at most
``timeout`` seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query
from fastapi.responses import JSONResponse

from domain.access import NotPermitted
from domain.position_facts import PositionFact
from domain.refusals import Refused
from domain.touchpoints import Touchpoint
from infra.http import answers
from infra.http.bodies import RawBody
from infra.http.deps import API, Recorder, State, requester
from infra.http.state import ServerState
from infra.http.tokens import ApiToken
from infra.intake.capture import (
    MAX_BATCH,
    CaptureRefused,
    Outcome,
    not_permitted,
    read_body,
    requested_by,
    validate,
)
from infra.intake.importing import LineError
from infra.store.ledger import ConflictPersisted, IdempotencyKeyReused

Wait = Annotated[bool, Query(description="Answer once the views show the write.")]
Timeout = Annotated[float, Query(gt=0, le=60, description="Seconds to wait at most.")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=100,
        description="Identifies touchpoints that have no source_id (item i of a batch:"
        " KEY:i). Sent again with the same content: a duplicate; with other content: 409.",
    ),
]


def _path(field: str) -> list[str]:
    """A field's place in the body; ``(body)``, ``(line)``: the item as a whole."""
    return [] if field.startswith("(") else field.split(".")


def _invalid(errors: list[LineError], batch: bool) -> HTTPException:
    detail = [
        {
            "loc": ["body", *([e.line] if batch else []), *_path(e.field)],
            "msg": e.message,
            "type": "value_error",
        }
        for e in errors
    ]
    return HTTPException(422, detail=detail)


def _forbidden(problems: list[NotPermitted], batch: bool) -> HTTPException:
    detail = [
        {"loc": ["body", *([p.index] if batch else []), "type"], "msg": p.message,
         "type": "not_permitted"}
        for p in problems
    ]  # fmt: skip
    return HTTPException(403, detail=detail)


def _refused(refusals: list[tuple[int, Refused]], batch: bool) -> JSONResponse:
    items = [
        {"index": index, "code": r.code, "field": r.field, "message": r.message}
        for index, r in refusals
    ]
    body: dict[str, Any] = {"status": "refused", "recorded": 0}
    body |= {"refusals": items} if batch else items[0]
    if not batch:
        body.pop("index")
    return JSONResponse(body, status_code=409)


def seen(state: ServerState, position: int | None, wait: bool, timeout: float) -> dict[str, Any]:
    if not wait or position is None:
        return {}
    state.nudge()
    deadline = time.monotonic() + timeout
    while state.position() < position and time.monotonic() < deadline:
        time.sleep(0.005)
    return {"visible": state.position() >= position, "views_position": state.position()}


def _record(
    state: ServerState,
    items: list[Any],
    key: str | None,
    batch: bool,
    token: ApiToken,
    kind: Kind,
) -> list[Outcome]:
    lines, errors = validate(items, key)
    errors += [
        LineError(index, "type", f"{fact.type} is not {kind.noun}: send it to {kind.elsewhere}")
        for index, fact in lines
        if not isinstance(fact, kind.accepts)
    ]
    if errors:
        raise _invalid(sorted(errors, key=lambda e: e.line), batch)
    forbidden = not_permitted(lines, frozenset({token.role}))
    if forbidden:
        raise _forbidden(forbidden, batch)
    lines = requested_by(lines, requester(token))
    if state.ledger.chain_problem is not None:
        raise HTTPException(503, f"the ledger cannot be written: {state.ledger.chain_problem}")
    try:
        return state.writer.submit(lines, "http")
    except CaptureRefused as refused:
        raise _Refusal(_refused(refused.refusals, batch)) from None
    except IdempotencyKeyReused as reused:
        body = {"status": "conflict", "recorded": 0, "code": "idempotency_key_reused",
                "field": "Idempotency-Key", "message": str(reused)}  # fmt: skip
        raise _Refusal(JSONResponse(body, status_code=409)) from None
    except ConflictPersisted as busy:
        raise HTTPException(503, str(busy), headers={"Retry-After": "1"}) from None


@dataclass(frozen=True, slots=True)
class Kind:
    """What a write endpoint records."""

    accepts: type[Touchpoint] | type[PositionFact]
    name: str
    """``touchpoint``: the operations are ``record_touchpoint`` and ``record_touchpoints``."""
    noun: str
    """``a touchpoint``, in messages."""
    plural: str
    elsewhere: str
    """Where the other kind of line goes."""


TOUCHPOINTS = Kind(Touchpoint, "touchpoint", "a touchpoint", "touchpoints", f"{API}/positions")
POSITIONS = Kind(
    PositionFact, "position_fact", "a position's fact", "position facts", f"{API}/touchpoints"
)


def record_one(
    state: ServerState,
    token: ApiToken,
    raw: bytes,
    idempotency_key: str | None,
    wait: bool,
    timeout: float,
    kind: Kind,
) -> JSONResponse:
    """Record one line of ``kind`` (the import format)."""
    payload = read_body(raw)
    if payload is None or len(payload) != 1 or not isinstance(payload[0], dict):
        raise _invalid([LineError(0, "(body)", "expected one JSON object")], False)
    try:
        (outcome,) = _record(state, payload, idempotency_key, False, token, kind)
    except _Refusal as refusal:
        return refusal.response
    if outcome.status == "duplicate":
        return JSONResponse({"status": "duplicate", "recorded": 0}, status_code=200)
    body = {"status": "recorded", "recorded": 1, "position": outcome.position}
    return JSONResponse(body | seen(state, outcome.position, wait, timeout), status_code=201)


def record_batch(
    state: ServerState,
    token: ApiToken,
    raw: bytes,
    idempotency_key: str | None,
    wait: bool,
    timeout: float,
    kind: Kind,
) -> JSONResponse:
    """Record up to MAX_BATCH lines of ``kind`` in one transaction: all of them, or none."""
    payload = read_body(raw)
    if payload is None or raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] != b"[":
        raise _invalid([LineError(0, "(body)", "expected a JSON array of objects")], False)
    if not payload or len(payload) > MAX_BATCH:
        raise HTTPException(
            413 if payload else 422,
            f"a batch holds 1 to {MAX_BATCH} {kind.plural}, not {len(payload)}",
        )
    try:
        outcomes = _record(state, payload, idempotency_key, True, token, kind)
    except _Refusal as refusal:
        return refusal.response
    positions = [o.position for o in outcomes if o.position is not None]
    recorded = len(positions)
    body: dict[str, Any] = {
        "status": "recorded" if recorded else "duplicate",
        "recorded": recorded,
        "duplicates": len(outcomes) - recorded,
        "last_position": max(positions, default=None),
        "results": [o.as_dict() for o in outcomes],
    }
    body |= seen(state, body["last_position"], wait, timeout)
    return JSONResponse(body, status_code=201 if recorded else 200)


class _Refusal(Exception):
    def __init__(self, response: JSONResponse) -> None:
        super().__init__("refused")
        self.response = response


def add_capture_routes(router: APIRouter, kind: Kind, one: str, batch: str) -> None:
    """``POST`` (one line) and ``POST /batch`` (up to ``MAX_BATCH``, all or none) recording
    ``kind`` on ``router``; ``one`` and ``batch`` describe them in the OpenAPI document."""

    @router.post(
        "",
        status_code=201,
        description=one,
        operation_id=f"record_{kind.name}",
        summary=f"Record {kind.noun}",
        response_model=answers.Recorded,
        responses={200: {"model": answers.Duplicate, "description": "Recorded before"}},
    )
    def record_one_line(
        state: State,
        token: Recorder,
        raw: RawBody,
        idempotency_key: IdempotencyKey = None,
        wait: Wait = False,
        timeout: Timeout = 5.0,
    ) -> JSONResponse:
        return record_one(state, token, raw, idempotency_key, wait, timeout, kind)

    @router.post(
        "/batch",
        status_code=201,
        description=batch,
        operation_id=f"record_{kind.name}s",
        summary=f"Record {kind.plural}",
        response_model=answers.BatchRecorded,
        responses={200: {"model": answers.BatchRecorded, "description": "Every line seen before"}},
    )
    def record_lines(
        state: State,
        token: Recorder,
        raw: RawBody,
        idempotency_key: IdempotencyKey = None,
        wait: Wait = False,
        timeout: Timeout = 5.0,
    ) -> JSONResponse:
        return record_batch(state, token, raw, idempotency_key, wait, timeout, kind)
