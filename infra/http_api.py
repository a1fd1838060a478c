"""``rapport serve``: the JSON API, the dashboard pages and Prometheus ``/metrics`` (FastAPI).

Every request carries an API token (``Authorization: Bearer <token>``, or the cookie the login
page sets) that maps to a role; each endpoint names the operation it performs and
``domain.access`` says which roles may. A missing or unknown token gets 401, a role without the
operation 403, and nothing happens. Tokens are compared by digest and never logged; the request
log carries the route, the status and the time, not the query or the headers.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import structlog
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from domain.access import Operation, records_anything
from domain.refusals import Refused
from infra import audit
from infra.alerts import count_open_alerts, open_alerts
from infra.api_tokens import ApiToken
from infra.http_bodies import ErasureRequest, RawBody, strict_body
from infra.http_guard import BodyGuard, presented_token
from infra.http_openapi import document
from infra.journeys import NoSuchCandidate, journey, next_due_action
from infra.metrics import candidate_experience, engagement_report, funnel, parse_dimensions
from infra.persistence import ErasureRow
from infra.prometheus_metrics import RapportCollector, request_seconds
from infra.read_side import parse_as_of
from infra.server_state import ServerState, now_minute
from projections.alert_rules import load_rules

log = structlog.get_logger("rapport.http")
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


def invalid(field: str, message: str, where: str = "query") -> HTTPException:
    """A 422 shaped like FastAPI's own: the field named, the value not repeated."""
    return HTTPException(
        422, detail=[{"loc": [where, field], "msg": message, "type": "value_error"}]
    )


def moment(as_of: str | None) -> float:
    if as_of is None:
        return now_minute()
    try:
        return parse_as_of(as_of)
    except ValueError as bad:
        raise invalid("as_of", str(bad)) from None


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


def requester(token: ApiToken) -> str:
    """Who an act is recorded as done by: the token's name, or an id derived from the token
    when the name is not shaped like an identifier."""
    if re.fullmatch(IDENTIFIER_PATTERN, token.name):
        return token.name
    return f"token-{token.digest[:12]}"


class RequestLog:
    """Times and logs every request (a plain ASGI middleware: no task or stream per request).

    The log carries the route template, the status, the time and the token's name: never the
    query string, the headers or the token."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            template = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            request_seconds.labels(method, template, str(status[0])).observe(elapsed)
            log.info(
                "http.request",
                method=method,
                route=template,
                status=status[0],
                ms=round(elapsed * 1000, 2),
                token=scope.get("state", {}).get("token_name"),
            )


def create_app(state: ServerState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.start()
        yield
        state.stop()

    app = FastAPI(
        title="Rapport",
        version="1",
        summary="Candidate engagement: metrics, funnel, journeys, alerts, compliance exports.",
        docs_url=None,  # the interactive pages fetch their scripts from a CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.rapport = state
    collector = RapportCollector(state)

    app.add_middleware(BodyGuard, state=state, max_bytes=state.settings.max_body_bytes)
    app.add_middleware(RequestLog)  # the outermost: it logs the guard's answers too

    viewer_metrics = Depends(requires(Operation.READ_METRICS))

    @app.get(f"{API}/health", tags=["service"], dependencies=[viewer_metrics])
    def health() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get(f"{API}/ready", tags=["service"], dependencies=[viewer_metrics])
    def ready() -> JSONResponse:
        """Ready once the views have caught up with the ledger at start; reports the lag."""
        ledger_position = state.ledger.position()
        views = state.position()
        body = {
            "ready": state.caught_up.is_set(),
            "ledger_position": ledger_position,
            "views_position": views,
            "lag": max(0, ledger_position - views),
            "views": state.group or "embedded",
        }
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    @app.get(f"{API}/metrics/engagement", tags=["metrics"], dependencies=[viewer_metrics])
    def engagement(
        by: Annotated[
            str, Query(description="Comma-separated dimensions.")
        ] = "status,personalization",
        as_of: AsOf = None,
        window: Annotated[
            float, Query(gt=0, le=3650, description="Attribution window, days.")
        ] = 30,
    ) -> Response:
        """Response and engagement rates per segment (95% Wilson interval, 1 in N)."""
        try:
            dimensions = parse_dimensions(by)
        except ValueError as bad:
            raise invalid("by", str(bad)) from None
        at = moment(as_of)

        def compute() -> dict[str, Any]:
            segments = engagement_report(state.views(), dimensions, at, window)
            return {
                "as_of": _iso(at),
                "window_days": window,
                "by": dimensions,
                "segments": [s.as_dict() for s in segments],
            }

        return answer(state, ("engagement", tuple(dimensions), at, window), compute)

    @app.get(f"{API}/metrics/funnel", tags=["metrics"], dependencies=[viewer_metrics])
    def funnel_endpoint(as_of: AsOf = None) -> Response:
        """Candidates per stage, conversion from the previous stage, median days in each."""
        at = moment(as_of)
        return answer(
            state,
            ("funnel", at),
            lambda: {"as_of": _iso(at), "stages": [s.as_dict() for s in funnel(state.views(), at)]},
        )

    @app.get(f"{API}/metrics/candidate-experience", tags=["metrics"], dependencies=[viewer_metrics])
    def experience(
        as_of: AsOf = None,
        sla_hours: Annotated[float, Query(gt=0, le=8760)] = 48,
    ) -> Response:
        """Did applicants hear from a person within the SLA, or only from an automation?"""
        at = moment(as_of)
        return answer(
            state,
            ("experience", at, sla_hours),
            lambda: (
                {"as_of": _iso(at)} | candidate_experience(state.views(), at, sla_hours).as_dict()
            ),
        )

    @app.get(
        f"{API}/journeys/{{candidate}}",
        tags=["journeys"],
        dependencies=[Depends(requires(Operation.READ_JOURNEYS))],
    )
    def journey_endpoint(candidate: Candidate, as_of: AsOf = None) -> Response:
        """A candidate's timeline, stage, last (personal) touch and next due action."""
        at = None if as_of is None else moment(as_of)

        def compute() -> dict[str, Any]:
            store = state.views()
            found = journey(store, candidate, at)
            return asdict(found) | {"next_due_action": next_due_action(store, found, at)}

        try:
            return answer(state, ("journey", candidate, at), compute)
        except NoSuchCandidate as missing:
            raise HTTPException(404, str(missing)) from None

    @app.get(
        f"{API}/alerts", tags=["alerts"], dependencies=[Depends(requires(Operation.READ_ALERTS))]
    )
    def alerts(
        as_of: AsOf = None,
        rule: Annotated[str | None, Query(description="Only this rule.")] = None,
        recruiter: Annotated[str | None, Query(description="Only this recruiter's.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000, description="Alerts per page.")] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Alerts to skip.")] = 0,
    ) -> Response:
        """Open stale-contact alerts, most overdue first, a page at a time (``count`` is all)."""
        rules = load_rules()
        if rule is not None and rule not in rules.names:
            raise invalid("rule", f"unknown rule {rule!r} (known: {', '.join(rules.names)})")
        at = moment(as_of)

        def compute() -> dict[str, Any]:
            store = state.views()
            found = open_alerts(
                store, at, rule=rule, recruiter=recruiter, limit=limit, offset=offset
            )
            counts = count_open_alerts(store, at, rule=rule, recruiter=recruiter)
            return {
                "as_of": _iso(at),
                "count": sum(counts.values()),
                "by_rule": counts,
                "limit": limit,
                "offset": offset,
                "alerts": [a.as_record() for a in found],
            }

        return answer(state, ("alerts", at, rule, recruiter, limit, offset), compute)

    @app.get(
        f"{API}/audit/{{candidate}}",
        tags=["compliance"],
        responses={200: {"content": {"text/csv": {}}}},
        dependencies=[Depends(requires(Operation.EXPORT_CONTACT_HISTORY))],
    )
    def audit_export(
        candidate: Candidate,
        format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
    ) -> Any:
        """The candidate's contact history (role: compliance), as `rapport audit export`."""
        try:
            record = audit.load(state.ledger, candidate)
        except Refused as unknown:
            raise HTTPException(404, unknown.message) from None
        entries = audit.contact_history(record)
        if format == "csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=audit.AUDIT_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(asdict(entry) for entry in entries)
            return PlainTextResponse(buffer.getvalue(), media_type="text/csv")
        return {
            "candidate": candidate,
            "candidate_id": str(record.candidate_id),
            "touchpoints": [asdict(entry) for entry in entries],
            "refused_touchpoints": [
                asdict(r) for r in state.ledger.ledger_recorder.refusals(candidate)
            ],
        }

    @app.get(
        f"{API}/audit/{{candidate}}/subject-access",
        tags=["compliance"],
        dependencies=[Depends(requires(Operation.EXPORT_SUBJECT_ACCESS))],
    )
    def subject_access(candidate: Candidate) -> dict[str, Any]:
        """Everything held about the person, personal data opened (role: compliance)."""
        try:
            return audit.subject_access(state.ledger, candidate, generated_at=datetime.now(UTC))
        except Refused as unknown:
            raise HTTPException(404, unknown.message) from None

    @app.post(f"{API}/erasures", tags=["compliance"], status_code=201)
    def erase(
        token: Annotated[ApiToken, Depends(requires(Operation.ERASE_CANDIDATE))],
        raw: RawBody,
    ) -> JSONResponse:
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

    @app.get(
        "/metrics",
        tags=["service"],
        response_class=PlainTextResponse,
        dependencies=[viewer_metrics],
    )
    def prometheus() -> Response:
        """Prometheus exposition: ledger, projections, relay and consumer lag, alerts, requests."""
        body, content_type = collector.exposition()
        return Response(body, media_type=content_type)

    from infra.dashboard import mount_dashboard
    from infra.http_writes import mount_writes

    mount_writes(app, state)

    mount_dashboard(app, state)
    app.openapi = lambda: document(app)  # type: ignore[method-assign]
    return app


def answer(state: ServerState, key: tuple[Any, ...], compute: Callable[[], Any]) -> Response:
    """A JSON answer, cached as its bytes: a repeated question costs no serialisation either."""
    body = state.cached(key, lambda: orjson.dumps(compute()))
    return Response(body, media_type="application/json")


def _iso(moment_: float) -> str:
    return datetime.fromtimestamp(moment_, UTC).isoformat()

