"""Bad input is answered as bad input, and only its sender's request fails: moments out of
bounds (422 / exit 2 naming the line and the field), an unexpected failure inside a group
commit (its neighbours are decided again and recorded), out-of-range query parameters (422 /
exit 2 naming the parameter). Both stores."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from infra.cli.app import app as cli
from infra.core.settings import Settings
from infra.intake.group_commit import GroupCommit
from infra.store.ledger import Ledger
from tests.support.builders import NOW, tp
from tests.support.capture import position, post, reply
from tests.support.files import import_story, store_env, story, write_jsonl

runner = CliRunner()
OUT_OF_BOUNDS = [
    "0001-01-01T00:00:00+14:00",  # year 0 in UTC: not representable
    "9999-12-31T23:59:59-14:00",  # year 10000 in UTC
    "0001-06-01T00:00:00Z",  # an outreach in year 1: the frequency window overflowed
    "1969-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
]


def outreach(when: str) -> dict[str, Any]:
    return {"type": "outreach_sent", "candidate": "C-1", "occurred_at": when, "channel": "email",
            "personalization": "personalized", "recruiter": "rec-1"}  # fmt: skip


@pytest.mark.parametrize("when", OUT_OF_BOUNDS)
def test_a_moment_out_of_bounds_is_invalid_input_everywhere(
    served: tuple[TestClient, dict[str, str]], settings: Settings, tmp_path: Path, when: str
) -> None:
    client, tokens = served
    before = position(settings)
    single = post(client, tokens["recruiter"], "", outreach(when))
    assert single.status_code == 422, single.text
    assert [d["loc"] for d in single.json()["detail"]] == [["body", "occurred_at"]]
    assert "from 1970-01-01" in single.json()["detail"][0]["msg"]
    batch = post(client, tokens["recruiter"], "/batch", [reply("fine-1"), outreach(when)])
    assert batch.status_code == 422 and batch.json()["detail"][0]["loc"] == [
        "body", 1, "occurred_at"]  # fmt: skip
    env = store_env(settings)
    record = runner.invoke(cli, ["record"], input=orjson.dumps(outreach(when)).decode(), env=env)
    assert record.exit_code == 2, record.output
    assert "line 1: occurred_at: must be from 1970-01-01" in record.stderr
    data = write_jsonl(tmp_path / "x.jsonl", [story("C-1")[2], outreach(when)])
    imported = runner.invoke(cli, ["import", str(data)], env=env)
    assert imported.exit_code == 2 and "line 2: occurred_at:" in imported.stderr
    assert "Traceback" not in record.output + imported.output
    assert position(settings) == before


def test_the_bounds_themselves_are_accepted(ledger: Ledger) -> None:
    ledger.record(tp("candidate_registered", when="1970-01-01T00:00:00Z"))
    ledger.record(tp("reply_received", when="1970-01-01T01:00:00+01:00"))  # midnight UTC
    last = tp("hired", when="2099-12-31T23:59:59.999999Z", start_date="2099-12-31")
    assert last.occurred_at.year == 2099  # valid; the rules refuse it as in the future
    with pytest.raises(ValueError, match="start_date"):
        tp("hired", start_date="0001-01-01")


class Gate:
    """A lock that says when someone waits for it (the writer, inside a commit)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiting = threading.Event()

    def __enter__(self) -> None:
        self.waiting.set()
        self.lock.acquire()

    def __exit__(self, *_: object) -> None:
        self.lock.release()


def test_an_unexpected_failure_in_a_group_commit_fails_only_its_own_request(
    settings: Settings,
) -> None:
    ledger = Ledger(settings, clock=lambda: NOW)
    ledger.record(tp("candidate_registered"))
    decide_one = ledger._decide_one

    def poisoned(candidate: Any, touchpoint: Any, recorded_at: Any, **options: Any) -> Any:
        if touchpoint.source_id == "poison":
            raise RuntimeError("a bug that only this touchpoint reaches")
        return decide_one(candidate, touchpoint, recorded_at, **options)

    ledger._decide_one = poisoned  # type: ignore[method-assign]
    writer = GroupCommit(ledger)
    answers: dict[str, Any] = {}

    def send(source_id: str) -> None:
        try:
            answers[source_id] = writer.submit([(0, tp("reply_received", source_id=source_id))],
                                               "http")  # fmt: skip
        except Exception as failure:
            answers[source_id] = failure

    names = [f"ok-{n}" for n in range(15)] + ["poison"] + [f"ok-{n}" for n in range(15, 30)]
    gate = Gate()
    ledger._writing = gate  # type: ignore[assignment]
    try:
        # The writer is held inside the first request's commit, so the other 30 queue up and
        # are decided together, the poisoned one among them.
        with gate.lock:
            first = threading.Thread(target=send, args=(names[0],))
            first.start()
            assert gate.waiting.wait(60), "the first commit never reached the store"
            others = [threading.Thread(target=send, args=(n,)) for n in names[1:]]
            for thread in others:
                thread.start()
            deadline = time.monotonic() + 60
            while writer._queue.qsize() < len(others):
                assert time.monotonic() < deadline, f"{writer._queue.qsize()} queued"
                time.sleep(0.01)
        for thread in [first, *others]:
            thread.join(timeout=60)
            assert not thread.is_alive(), "a request was never answered"
    finally:
        writer.stop()
    assert isinstance(answers.pop("poison"), RuntimeError)
    assert sorted(answers) == sorted(n for n in names if n != "poison")
    assert all(a[0].status == "recorded" for a in answers.values()), answers
    assert ledger.position() == 31
    ledger.close()


BAD_AS_OF = ["9999-12-31", "0001-01-01T00:00:00+14:00", "0001-01-01", "2100-01-01"]
READS = [
    "/api/v1/metrics/engagement",
    "/api/v1/metrics/funnel",
    "/api/v1/metrics/candidate-experience",
    "/api/v1/journeys/C-1",
    "/api/v1/alerts",
    "/",
    "/journeys/C-1",
    "/api/v1/metrics/compare",
    "/api/v1/metrics/reasons",
    "/segments",
    "/recruiters/rec-1",
    "/tables/segments.csv",
]
NEEDED = {"/api/v1/metrics/compare": {"by": "channel"}, "/segments": {"where": "channel=email"}}
"""The parameters a path requires besides ``as_of``."""


def test_out_of_range_query_parameters_are_422_naming_them(
    served: tuple[TestClient, dict[str, str]],
) -> None:
    client, tokens = served
    viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
    for path in READS:
        for as_of in BAD_AS_OF:
            params = {"as_of": as_of, **NEEDED.get(path, {})}
            answer = client.get(path, params=params, headers=viewer)
            assert answer.status_code == 422, (path, as_of, answer.status_code)
            if path.startswith("/api/"):
                assert answer.json()["detail"][0]["loc"] == ["query", "as_of"], (path, as_of)
            else:  # a page answers with a page naming the parameter
                assert answer.headers["content-type"].startswith("text/html")
                assert 'data-status="422"' in answer.text and "as_of: " in answer.text
    for offset in ("9223372036854775808", "9223372036854775807", "-1"):
        answer = client.get("/api/v1/alerts", params={"offset": offset}, headers=viewer)
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == [
            "query", "offset"]  # fmt: skip
    ok = client.get("/api/v1/alerts", params={"offset": 1_000_000_000}, headers=viewer)
    assert ok.status_code == 200 and ok.json()["alerts"] == []


def test_out_of_range_as_of_on_the_command_line_exits_2(settings: Settings, tmp_path: Path) -> None:
    env = store_env(settings)
    import_story(settings, tmp_path)
    for command in (["metrics"], ["alerts"], ["journey", "C-1"]):
        for as_of in BAD_AS_OF:
            result = runner.invoke(cli, [*command, "--as-of", as_of], env=env)
            assert result.exit_code == 2, (command, as_of, result.output)
            assert "--as-of" in result.stderr and "Traceback" not in result.output
