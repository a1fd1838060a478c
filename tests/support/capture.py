"""Helpers for the write API's tests: a served ledger with a token per role, and requests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from domain.access import UserRole
from infra.core.settings import Settings
from infra.http.app import create_app
from infra.http.state import ServerState
from infra.http.tokens import add_token, load_tokens
from infra.store.ledger import Ledger
from tests.support.builders import at
from tests.support.files import import_story

runner = CliRunner()


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    import_story(settings, tmp_path)
    tokens_file = tmp_path / "tokens.json"
    tokens = {role.value: add_token(tokens_file, role, f"{role.value}-1") for role in UserRole}
    state = ServerState(settings, load_tokens(tokens_file))
    with TestClient(create_app(state)) as client:
        yield client, tokens


def reply(source_id: str | None = "live-1", candidate: str = "C-1", **fields: Any) -> dict:
    touchpoint = {"type": "reply_received", "candidate": candidate, "occurred_at": at(10),
                  "channel": "email", "sentiment": "interested"}  # fmt: skip
    if source_id:
        touchpoint["source_id"] = source_id
    return touchpoint | fields


def position(settings: Settings) -> int:
    ledger = Ledger(settings)
    try:
        return ledger.position()
    finally:
        ledger.close()


def post(client: TestClient, token: str, path: str, body: Any, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} | kwargs.pop("headers", {})
    return client.post(f"/api/v1/touchpoints{path}", json=body, headers=headers, params=kwargs)
