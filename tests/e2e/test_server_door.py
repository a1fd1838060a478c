"""The real server's door, over its socket: who is not known is answered before their body is
read; no body is read past the cap; the server comes back on its port at once after kill -9.
Both stores."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from domain.access import UserRole
from infra.core.settings import Settings
from infra.http.tokens import add_token
from tests.support.server import Server

HUGE = 121_634_816  # the 116 MB body of the reproduction


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[tuple[Server, str]]:
    tokens_file = tmp_path / "tokens.json"
    token = add_token(tokens_file, UserRole.RECRUITER, "crm")
    served = Server(settings, tokens_file, tmp_path / "serve.log")
    served.start()
    try:
        yield served, token
    finally:
        served.stop()


def exchange(port: int, head: str, body: bytes = b"", timeout: float = 30) -> tuple[int, bytes]:
    """Send ``head`` (and ``body``), read the answer; the status and the body answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(head.encode() + b"\r\n" + body)
        received = b""
        while b"\r\n\r\n" not in received or not _complete(received):
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
    status = int(received.split(b" ", 2)[1])
    return status, received.partition(b"\r\n\r\n")[2]


def _complete(received: bytes) -> bool:
    head, _, body = received.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def request_head(port: int, length: int | None, token: str | None = None) -> str:
    lines = ["POST /api/v1/touchpoints HTTP/1.1", f"Host: 127.0.0.1:{port}",
             "Content-Type: application/json"]  # fmt: skip
    chunked = "Transfer-Encoding: chunked"
    lines.append(f"Content-Length: {length}" if length is not None else chunked)
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return "\r\n".join(lines) + "\r\n"


def test_a_body_is_not_read_before_its_sender_is_known_nor_past_the_cap(
    server: tuple[Server, str],
) -> None:
    served, token = server
    port = served.port
    # Only the headers are sent: the answer must come without waiting for 116 MB.
    started = time.monotonic()
    status, body = exchange(port, request_head(port, HUGE), timeout=10)
    assert status == 401, served.logs()
    assert time.monotonic() - started < 10
    status, body = exchange(port, request_head(port, HUGE, token), timeout=10)
    assert status == 413 and b"at most 10485760 bytes" in body
    # A body that streams in without a length is cut off at the cap.
    chunk = b"[" + b" " * (1 << 20)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(12)) + b"0\r\n\r\n"
    status, _ = exchange(port, request_head(port, None, token), chunks)
    assert status == 413
    # Malformed JSON without a token is a 401, not a parse error.
    status, _ = exchange(port, request_head(port, 5), b"{oops")
    assert status == 401
    # With a token, small bodies are handled as before.
    status, body = exchange(port, request_head(port, 5, token), b"{oops")
    assert status == 422
    ok = orjson.dumps({"type": "reply_received", "candidate": "C-9",
                       "occurred_at": "2026-05-01T00:00:00Z", "channel": "email",
                       "sentiment": "interested"})  # fmt: skip
    status, body = exchange(port, request_head(port, len(ok), token), ok)
    assert status == 409 and orjson.loads(body)["code"] == "unknown_candidate"


def test_serve_comes_back_on_its_port_at_once_after_kill_9(
    server: tuple[Server, str],
) -> None:
    served, token = server
    for _ in range(3):
        # A connection open when the process dies leaves the port in TIME_WAIT.
        status, _ = exchange(served.port, request_head(served.port, 2, token), b"{}")
        assert status == 422
        served.kill()
        served.start(timeout=60)
