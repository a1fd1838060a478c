"""Is the service up, are its views current, and its Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from infra.http.deps import API, Collector, ReadsMetrics, State

router = APIRouter(prefix=API, tags=["service"], dependencies=[ReadsMetrics])
exposition = APIRouter(tags=["service"], dependencies=[ReadsMetrics])


@router.get("/health")
def health() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/ready")
def ready(state: State) -> JSONResponse:
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


@exposition.get("/metrics", response_class=PlainTextResponse)
def prometheus(collector: Collector) -> Response:
    """Prometheus exposition: ledger, projections, relay and consumer lag, alerts, requests."""
    body, content_type = collector.exposition()
    return Response(body, media_type=content_type)
