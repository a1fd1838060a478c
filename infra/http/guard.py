"""The server's door: nobody's body is read before they are known, and no body is read whole
past a size cap.

FastAPI reads and parses a request's body before it runs the endpoint's dependencies, so an
unauthenticated client could make the server read, hold and parse any amount of JSON before
its 401. This ASGI middleware answers first: 401 to a request with a body and no valid token
(the login form aside), 413 to a body over ``max_bytes`` (by its ``Content-Length`` at once,
or while it streams in), without reading the rest; and 404 to a path with an encoded ``/``,
which would otherwise route as two segments.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request

from infra.http.state import ServerState

TOKEN_COOKIE = "rapport_token"
OPEN_FOR_BODIES = frozenset({"/login"})
"""Where a body may come without a token: the form that trades a token for the cookie."""
BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})


def presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.cookies.get(TOKEN_COOKIE)


class _TooLarge(HTTPException):
    """Raised from inside the body's stream; FastAPI passes an ``HTTPException`` on as is."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"a request body holds at most {limit} bytes")


class BodyGuard:
    def __init__(self, app: Any, state: ServerState, max_bytes: int) -> None:
        self.app = app
        self.state = state
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%2f" in scope.get("raw_path", b"").lower():
            # Decoded, it would route as two segments: C-42%2Fsubject-access to C-42's export.
            await _answer(send, 404, "no resource has an encoded / in its path")
            return
        request = Request(scope)
        if (
            scope["method"] not in BODILESS
            and scope["path"] not in OPEN_FOR_BODIES
            and self.state.token_of(presented_token(request)) is None
        ):
            await _answer(
                send, 401, "a valid API token is required", {"www-authenticate": "Bearer"}
            )
            return
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _answer(send, 413, f"a request body holds at most {self.max_bytes} bytes")
            return
        received = 0
        started = False

        async def counted() -> dict[str, Any]:
            nonlocal received
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        async def sending(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except _TooLarge as too_large:
            if not started:
                await _answer(send, 413, str(too_large.detail))


async def _answer(
    send: Any, status: int, detail: str, headers: dict[str, str] | None = None
) -> None:
    body = orjson.dumps({"detail": detail})
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *((k.encode(), v.encode()) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
