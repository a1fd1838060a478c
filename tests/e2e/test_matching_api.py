"""``GET /api/v1/positions/{id}/matches`` against ``rapport match``: the same list, for every
role (it holds nothing personal), now and as of a date; the answers to bad requests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from domain.access import UserRole
from infra.cli.app import app as cli
from infra.core.settings import Settings
from infra.http.app import create_app
from infra.http.state import ServerState
from infra.http.tokens import add_token, load_tokens
from tests.support.builders import pf
from tests.support.files import history, personal_texts, record_lines, store_env

runner = CliRunner()


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    lines = history(250, seed=8, folder=tmp_path)
    opening = pf(
        "position_opened",
        position="REQ-API",
        when="2025-03-01T09:00:00Z",
        therapeutic_areas=["oncology"],
        required_certifications=["gcp"],
        min_years=2,
    )
    record_lines(settings, [*lines, (len(lines) + 1, opening)])
    (tmp_path / "texts.json").write_bytes(orjson.dumps(sorted(personal_texts(lines))))
    tokens_file = tmp_path / "tokens.json"
    tokens = {role.value: add_token(tokens_file, role, f"{role.value}-1") for role in UserRole}
    with TestClient(create_app(ServerState(settings, load_tokens(tokens_file)))) as client:
        yield client, tokens


def _get(client: TestClient, token: str, path: str, **params: object) -> object:
    return client.get(path, headers={"Authorization": f"Bearer {token}"}, params=params)


def test_every_role_gets_the_list_rapport_match_prints(
    server: tuple[TestClient, dict[str, str]], settings: Settings, tmp_path: Path
) -> None:
    client, tokens = server
    path = "/api/v1/positions/REQ-API/matches"
    for as_of in ("2025-10-01", None):
        for attempt in range(2):  # "now" is the current minute: ask again if it turned
            options = ["--as-of", as_of] if as_of else []
            printed = runner.invoke(
                cli, ["match", "REQ-API", "--limit", "15", "--include-past-candidates",
                      "--format", "json", *options], env=store_env(settings),
            )  # fmt: skip
            assert printed.exit_code == 0, printed.output
            expected = orjson.loads(printed.stdout)
            params = {"limit": 15, "include_past_candidates": "true"} | (
                {"as_of": as_of} if as_of else {}
            )
            answers = [_get(client, tokens[role.value], path, **params) for role in UserRole]
            bodies = [orjson.loads(a.content) for a in answers]  # type: ignore[attr-defined]
            if bodies[0]["as_of"] == expected["as_of"] or attempt:
                break
        assert all(a.status_code == 200 for a in answers)  # type: ignore[attr-defined]
        for body in bodies:
            assert body.pop("position") >= 1  # the ledger position the views reflect
            assert body == expected
        assert expected["matches"], "the position has matches"
    texts = orjson.loads((tmp_path / "texts.json").read_bytes())
    raw = _get(client, tokens["viewer"], path).content  # type: ignore[attr-defined]
    assert not [text for text in texts if text.encode() in raw]  # nothing personal


def test_bad_requests_are_named(server: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = server
    token = tokens["recruiter"]
    unknown = _get(client, token, "/api/v1/positions/REQ-404/matches")
    assert unknown.status_code == 404 and "REQ-404" in unknown.json()["detail"]  # type: ignore[attr-defined]
    too_many = _get(client, token, "/api/v1/positions/REQ-API/matches", limit=501)
    assert too_many.status_code == 422  # type: ignore[attr-defined]
    assert too_many.json()["detail"][0]["loc"] == ["query", "limit"]  # type: ignore[attr-defined]
    before = _get(client, token, "/api/v1/positions/REQ-API/matches", as_of="2025-02-01")
    assert before.status_code == 404  # not opened yet then  # type: ignore[attr-defined]
    assert client.get("/api/v1/positions/REQ-API/matches").status_code == 401


def test_shortlisting_from_the_match_records_the_rank_and_keeps_them_out_of_it(
    server: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    client, tokens = server
    recruiter = {"Authorization": f"Bearer {tokens['recruiter']}"}
    listed = orjson.loads(_get(client, tokens["recruiter"], MATCHES).content)["matches"]  # type: ignore[attr-defined]
    first, second, third = (m["candidate"] for m in listed[:3])
    answer = client.post(SHORTLIST, json={"candidates": [first, second], "from_match": True},
                         headers=recruiter, params={"wait": "true"})  # fmt: skip
    assert answer.status_code == 201, answer.text
    assert answer.json()["visible"] is True  # read your writes: the match below sees them
    results = answer.json()["results"]
    assert [(r["candidate"], r["source"], r["match_rank"]) for r in results] == [
        (first, "pool_match", 1), (second, "pool_match", 2)
    ]  # fmt: skip
    assert [r["match_score"] for r in results] == [m["score"] for m in listed[:2]]
    after = orjson.loads(_get(client, tokens["recruiter"], MATCHES).content)  # type: ignore[attr-defined]
    assert after["matches"][0]["candidate"] == third
    assert after["passed_over"]["already in this position's process"] == 2
    # Dismissed: out of this position's matches from now on.
    dismissal = {"type": "match_dismissed", "candidate": third, "position": "REQ-API",
                 "occurred_at": "2026-12-01T10:00:00Z", "reason": "not_interested",
                 "recruiter": "rec-1"}  # fmt: skip
    dismissed = client.post("/api/v1/touchpoints", json=dismissal, headers=recruiter,
                            params={"wait": "true"})  # fmt: skip
    assert dismissed.status_code == 201 and dismissed.json()["visible"] is True
    again = orjson.loads(_get(client, tokens["recruiter"], MATCHES).content)  # type: ignore[attr-defined]
    assert third not in [m["candidate"] for m in again["matches"]]
    assert again["passed_over"]["dismissed for this position"] == 1
    # Someone the match does not list is refused from the match, and nobody is recorded.
    outsider = client.post(SHORTLIST, json={"candidates": [third, first], "from_match": True},
                           headers=recruiter)  # fmt: skip
    assert outsider.status_code == 422
    assert [d["loc"] for d in outsider.json()["detail"]] == [["body", "candidates", 0],
                                                             ["body", "candidates", 1]]  # fmt: skip
    for role in ("viewer", "compliance"):
        forbidden = client.post(SHORTLIST, json={"candidates": [third]},
                                headers={"Authorization": f"Bearer {tokens[role]}"})  # fmt: skip
        assert forbidden.status_code == 403
    # Sourced otherwise, from the command line.
    done = runner.invoke(cli, ["shortlist", "REQ-API", third, "--recruiter", "rec-2"],
                         env=store_env(settings))  # fmt: skip
    assert done.exit_code == 0, done.output
    assert f"{third}: shortlisted for REQ-API (sourced)" in done.stdout
    _caught_up(client, tokens["viewer"])
    journey = client.get(f"/api/v1/journeys/{third}", headers=recruiter).json()
    step = [s for s in journey["steps"] if s["type"] == "shortlisted"][-1]
    assert "source: sourced" in step["detail"] and "rec-2" in step["by_whom"]


def test_a_closed_position_shortlists_nobody(
    server: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    client, tokens = server
    recruiter = {"Authorization": f"Bearer {tokens['recruiter']}"}
    closing = {"type": "position_closed", "position": "REQ-API", "reason": "on_hold",
               "occurred_at": "2026-12-01T09:00:00Z"}  # fmt: skip
    assert client.post("/api/v1/positions", json=closing, headers=recruiter).status_code == 201
    refused = client.post(SHORTLIST, json={"candidates": ["C-000001"]}, headers=recruiter)
    assert refused.status_code == 409 and refused.json()["code"] == "position_not_open"
    assert "REQ-API is closed" in refused.json()["message"]
    printed = runner.invoke(cli, ["shortlist", "REQ-API", "C-000001", "--recruiter", "rec-2"],
                            env=store_env(settings))  # fmt: skip
    assert printed.exit_code == 2 and "REQ-API is closed" in printed.output


def _caught_up(client: TestClient, token: str, seconds: float = 60.0) -> None:
    """Wait until the server's views hold everything recorded (a condition, not a sleep)."""
    deadline = time.monotonic() + seconds
    while True:
        ready = _get(client, token, "/api/v1/ready").json()  # type: ignore[attr-defined]
        if ready["lag"] == 0:
            return
        assert time.monotonic() < deadline, f"the views did not catch up: {ready}"
        time.sleep(0.05)


MATCHES = "/api/v1/positions/REQ-API/matches"
SHORTLIST = "/api/v1/positions/REQ-API/shortlist"


def test_the_payoff_and_the_positions_read_as_the_commands_print(
    server: tuple[TestClient, dict[str, str]], settings: Settings, tmp_path: Path
) -> None:
    """As of a date (the pool folded from the ledger then), for every role; and the pages."""
    client, tokens = server
    as_of = "2025-10-01"
    for command, path, params in (
        (["payoff", "--by", "role"], "/api/v1/metrics/payoff", {"by": "role"}),
        (["positions", "--status", "all"], "/api/v1/positions", {"status": "all"}),
    ):
        printed = runner.invoke(
            cli, [*command, "--as-of", as_of, "--format", "json"], env=store_env(settings)
        )
        assert printed.exit_code == 0, printed.output
        expected = orjson.loads(printed.stdout)
        for role in UserRole:
            answer = _get(client, tokens[role.value], path, as_of=as_of, **params)
            assert answer.status_code == 200, answer.content  # type: ignore[attr-defined]
            body = orjson.loads(answer.content)  # type: ignore[attr-defined]
            assert body.pop("position") >= 1
            if path.endswith("positions"):
                assert body == {"as_of": "2025-10-01T23:59:59.999999+00:00", "positions": expected}
            else:
                assert body == expected
    assert [p["requisition"] for p in expected] == ["REQ-API"]
    bad = _get(client, tokens["viewer"], "/api/v1/metrics/payoff", by="colour")
    assert bad.status_code == 422  # type: ignore[attr-defined]
    title = "Senior CRA, oncology"  # the position's, not a person's (a profile's title too)
    texts = [t for t in orjson.loads((tmp_path / "texts.json").read_bytes()) if t not in title]
    for page, table in (
        ("/positions", "audience"),
        (f"/positions?as_of={as_of}", "positions"),
        ("/positions/REQ-API", "matches"),
    ):
        shown = _get(client, tokens["viewer"], page)
        assert shown.status_code == 200, page  # type: ignore[attr-defined]
        html = shown.text  # type: ignore[attr-defined]
        assert f'data-table="{table}"' in html and "REQ-API" in html and title in html
        assert not [text for text in texts if text in html]  # nothing personal
    missing = _get(client, tokens["viewer"], "/positions/REQ-NONE")
    assert missing.status_code == 404  # type: ignore[attr-defined]
