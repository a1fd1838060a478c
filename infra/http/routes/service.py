"""Is the service up, are its views current, and its Prometheus exposition.

The probes answer without a token, as an orchestrator's liveness and readiness checks call
them: ``/health`` says only that the process answers, ``/ready`` whether the views have caught
up (and, to a caller whose token may read metrics, the positions behind that answer).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from domain.access import Operation
from infra.http.deps import API, Collector, ReadsMetrics, State
from infra.http.guard import presented_token

probes = APIRouter(prefix=API, tags=["service"])
exposition = APIRouter(tags=["service"], dependencies=[ReadsMetrics])


class Health(BaseModel):
    status: str = Field(description="Always `ok`: the process answers.", examples=["ok"])


class Readiness(BaseModel):
    ready: bool = Field(description="The views caught up with the ledger at start.")
    ledger_position: int | None = Field(
        default=None, description="The ledger's last position (callers with a token only)."
    )
    views_position: int | None = Field(
        default=None, description="The views' position (callers with a token only)."
    )
    lag: int | None = Field(
        default=None, description="Events recorded but not yet in the views (with a token)."
    )
    views: str | None = Field(
        default=None, description="`embedded` or the consumer group read (with a token)."
    )


@probes.get("/health", response_model=Health, operation_id="health")
def health() -> Health:
    """Liveness: the process answers. No token needed, no data given."""
    return Health(status="ok")


@probes.get(
    "/ready",
    response_model=Readiness,
    operation_id="ready",
    response_model_exclude_none=True,
    responses={503: {"model": Readiness, "description": "The views are still catching up."}},
)
def ready(state: State, request: Request) -> JSONResponse:
    """Readiness: 200 once the views have caught up with the ledger at start, 503 before. No
    token needed; a token that may read metrics also gets the positions and the lag."""
    body = Readiness(ready=state.caught_up.is_set())
    token = state.token_of(presented_token(request))
    if token is not None and state.allowed(token, Operation.READ_METRICS):
        ledger_position = state.ledger.position()
        views = state.position()
        body = Readiness(
            ready=body.ready,
            ledger_position=ledger_position,
            views_position=views,
            lag=max(0, ledger_position - views),
            views=state.group or "embedded",
        )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=200 if body.ready else 503)


@exposition.get(
    "/metrics",
    response_class=Response,
    operation_id="prometheus",
    responses={
        200: {
            "description": "The Prometheus text format, or OpenMetrics when the Accept header"
            " asks for it.",
            "content": {
                "text/plain; version=0.0.4": {"schema": {"type": "string"}},
                "application/openmetrics-text": {"schema": {"type": "string"}},
            },
        }
    },
)
def prometheus(collector: Collector, accept: Annotated[str | None, Header()] = None) -> Response:
    """Prometheus exposition: ledger, projections, relay and consumer lag, alerts, settled
    engagement, requests; the format is ``prometheus_client``'s choice for the Accept header."""
    body, content_type = collector.exposition(accept)
    return Response(body, media_type=content_type)
