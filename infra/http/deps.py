"""What the routes depend on, as named ``Annotated`` aliases: the server's state, the caller's
token checked for an operation, the parameters several routes share, and the cached answer."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import Depends, HTTPException, Path, Query, Request, Response

from domain.access import Operation, records_anything
from infra.http.guard import presented_token
from infra.http.prometheus import RapportCollector
from infra.http.state import ServerState
from infra.http.tokens import ApiToken
from infra.read.known_at import CannotTell, views_known_at
from infra.read.metrics import SETTLED, QuestionProblem, Selection
from infra.read.read_side import now_minute, parse_as_of, selection_of
from infra.read.reader import Reader

API = "/api/v1"
MAX_OFFSET = 1_000_000_000
"""Past any real count of alerts, and far inside the stores' 64-bit integers."""

IDENTIFIER_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:/@#-]{0,63}"
Candidate = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@#-]{0,63}$", examples=["C-000001"])
]
AsOf = Annotated[
    str | None,
    Query(
        description="As things stood then: YYYY-MM-DD (the end of that day, UTC) or an ISO"
        " instant with a zone. Default: the current minute."
    ),
]


def server_state(request: Request) -> ServerState:
    return request.app.state.rapport  # type: ignore[no-any-return]


def collector(request: Request) -> RapportCollector:
    return request.app.state.collector  # type: ignore[no-any-return]


State = Annotated[ServerState, Depends(server_state)]
Collector = Annotated[RapportCollector, Depends(collector)]


def invalid(field: str, message: str, where: str = "query") -> HTTPException:
    """A 422 shaped like FastAPI's own: the field named, the value not repeated."""
    return HTTPException(
        422, detail=[{"loc": [where, field], "msg": message, "type": "value_error"}]
    )


KnownAt = Annotated[
    str | None,
    Query(
        description="As the report stood then: only events recorded by this instant (YYYY-MM-DD:"
        " the end of that day, UTC). as_of defaults to it. Builds the views of that instant"
        " from the ledger: seconds per million events."
    ),
]


def instants(as_of: str | None, known_at: str | None) -> tuple[float, float | None]:
    """(as of, known at): ``as_of`` defaults to ``known_at``, and to the current minute."""
    if not known_at:
        return moment(as_of), None
    try:
        known = parse_as_of(known_at)
    except ValueError as bad:
        raise invalid("known_at", str(bad)) from None
    return (moment(as_of) if as_of else known), known


def moment(as_of: str | None) -> float:
    """The ``as_of`` parameter as seconds since the epoch; the current minute without one (a
    form's empty field is none)."""
    if not as_of:
        return now_minute()
    try:
        return parse_as_of(as_of)
    except ValueError as bad:
        raise invalid("as_of", str(bad)) from None


def selected(
    basis: Annotated[
        str,
        Query(
            description="settled: only outreach whose window had closed (default); all: every"
            " outreach sent, open windows included."
        ),
    ] = SETTLED,
    where: Annotated[
        str | None, Query(description="Only outreach with these values: DIM=VALUE[,DIM=VALUE].")
    ] = None,
    sent_from: Annotated[
        str | None, Query(description="Only outreach sent from this day (its start) or instant.")
    ] = None,
    sent_until: Annotated[
        str | None, Query(description="Only outreach sent up to this day (its end) or instant.")
    ] = None,
) -> Selection:
    """Which outreach a report counts, from the query, or 422 naming the parameter (a form's
    empty field is none)."""
    try:
        return selection_of(basis, where, sent_from, sent_until)
    except QuestionProblem as bad:
        raise invalid(bad.field, str(bad)) from None


Selected = Annotated[Selection, Depends(selected)]


def authenticated(request: Request) -> ApiToken:
    """The caller's token, or 401 (a browser is sent to the login page instead)."""
    state: ServerState = request.app.state.rapport
    token = state.token_of(presented_token(request))
    if token is None:
        raise HTTPException(
            401, "a valid API token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    request.state.token_name = token.name
    return token


def requires(operation: Operation) -> Callable[[Request], ApiToken]:
    """A dependency: the caller's token, or 403 when its role may not perform ``operation``."""

    def check(request: Request) -> ApiToken:
        token = authenticated(request)
        if not ServerState.allowed(token, operation):
            raise HTTPException(403, f"the {token.role.value} role may not {operation.value}")
        return token

    return check


def records_touchpoints(request: Request) -> ApiToken:
    """A role that may record some touchpoints; each one is then checked by its type."""
    token = authenticated(request)
    if not records_anything(token.role):
        raise HTTPException(403, f"the {token.role.value} role may not record touchpoints")
    return token


ReadsMetrics = Depends(requires(Operation.READ_METRICS))
ReadsJourneys = Depends(requires(Operation.READ_JOURNEYS))
ReadsAlerts = Depends(requires(Operation.READ_ALERTS))
ReadsMatches = Depends(requires(Operation.READ_MATCHES))
ExportsContactHistory = Depends(requires(Operation.EXPORT_CONTACT_HISTORY))
ExportsSubjectAccess = Depends(requires(Operation.EXPORT_SUBJECT_ACCESS))
Eraser = Annotated[ApiToken, Depends(requires(Operation.ERASE_CANDIDATE))]
Recorder = Annotated[ApiToken, Depends(records_touchpoints)]


def requester(token: ApiToken) -> str:
    """Who an act is recorded as done by: the token's name, or an id derived from the token
    when the name is not shaped like an identifier."""
    if re.fullmatch(IDENTIFIER_PATTERN, token.name):
        return token.name
    return f"token-{token.digest[:12]}"


def answer(state: ServerState, key: tuple[Any, ...], compute: Callable[[], Any]) -> Response:
    """A JSON answer, cached as its bytes: a repeated question costs no serialisation either."""
    body = state.cached(key, lambda: orjson.dumps(compute()))
    return Response(body, media_type="application/json")


def analysed(
    state: ServerState, key: tuple[Any, ...], compute: Callable[[Reader], dict[str, Any]]
) -> Response:
    """A JSON answer read from the columnar copy in one snapshot, carrying the ledger position
    it reflects (``position``), cached per that position."""
    with state.analysis() as (snapshot, position):
        body = state.cached(
            key, lambda: orjson.dumps(compute(snapshot) | {"position": position}), position=position
        )
    return Response(body, media_type="application/json")


def reported(
    state: ServerState,
    known_at: float | None,
    key: tuple[Any, ...],
    compute: Callable[[Reader], dict[str, Any]],
) -> Response:
    """``analysed``; with ``known_at``, computed from views built from what had been recorded
    by then (``infra.read.known_at``), cached per the views' position like any answer."""
    if known_at is None:
        return analysed(state, key, compute)

    def build() -> bytes:
        try:
            with views_known_at(state.settings, state.views(), known_at) as known:
                return orjson.dumps(compute(known) | {"known_at": iso(known_at)})
        except CannotTell as cannot:
            raise invalid("known_at", str(cannot)) from None

    body = state.cached(("known_at", known_at, *key), build)
    return Response(body, media_type="application/json")


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()
