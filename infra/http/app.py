"""``rapport serve``: the JSON API, the dashboard pages and Prometheus ``/metrics`` (FastAPI).

Every request but the probes (``/api/v1/health``, ``/api/v1/ready``) carries an API token
(``Authorization: Bearer <token>``, or the cookie the login page sets) that maps to a role;
each endpoint names the operation it performs and ``domain.access`` says which roles may. A
missing or unknown token gets 401, a role without the operation 403, and nothing happens.
Tokens are compared by digest and never logged; the request log carries the route, the status
and the time, not the query or the headers.

The routes live in ``infra.http.routes``, one module per resource; what they depend on (the
state, the caller's role, shared parameters) in ``infra.http.deps``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles

from infra.http.guard import BodyGuard
from infra.http.openapi import document
from infra.http.prometheus import RapportCollector, request_seconds
from infra.http.routes import (
    alerts,
    board_pages,
    compliance,
    dashboard,
    journeys,
    metrics,
    position_pages,
    positions,
    service,
    touchpoints,
)
from infra.http.state import ServerState

log = structlog.get_logger("rapport.http")


def route_label(scope: dict[str, Any]) -> str:
    """The route template a request matched (never its path: that may hold a candidate's
    reference): a static file is ``/static/{path}``, no route at all ``unmatched``."""
    route = scope.get("route")
    if route is not None:
        return str(route.path)
    if isinstance(scope.get("endpoint"), StaticFiles):
        return f"{scope.get('root_path', '')}/{{path}}"
    return "unmatched"


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
            template = route_label(scope)
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
    app.state.collector = RapportCollector(state)
    app.add_middleware(BodyGuard, state=state, max_bytes=state.settings.max_body_bytes)
    app.add_middleware(RequestLog)  # the outermost: it logs the guard's answers too
    app.add_exception_handler(HTTPException, dashboard.to_login)  # type: ignore[arg-type]
    app.add_exception_handler(
        RequestValidationError,
        dashboard.invalid_page,  # type: ignore[arg-type]
    )
    for router in (
        service.probes,
        metrics.router,
        journeys.router,
        alerts.router,
        compliance.router,
        service.exposition,
        touchpoints.router,
        positions.router,
        dashboard.router,
        board_pages.router,
        position_pages.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=dashboard.STATIC), name="static")
    app.openapi = lambda: document(app)  # type: ignore[method-assign]
    return app
