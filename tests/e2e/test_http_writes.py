"""Live capture over HTTP and from standard input: every answer (recorded, duplicate, invalid,
refused, too many, not allowed) on both stores, and read-your-writes."""

from __future__ import annotations

from pathlib import Path

import orjson
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from infra.cli.app import app as cli
from infra.core.settings import Settings
from infra.intake.capture import MAX_BATCH
from tests.support.builders import at
from tests.support.capture import position, post, reply
from tests.support.files import import_story, store_env, story

runner = CliRunner()


def test_one_touchpoint_is_recorded_once_and_read_back_at_once(
    served: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    client, tokens = served
    recruiter = tokens["recruiter"]
    answer = post(client, recruiter, "", reply(), wait="true")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "recorded" and body["position"] == 6 and body["visible"] is True
    journey = client.get("/api/v1/journeys/C-1", headers={"Authorization": f"Bearer {recruiter}"})
    assert journey.json()["steps"][-1]["type"] == "reply_received"  # read your write
    again = post(client, recruiter, "", reply())
    assert again.status_code == 200 and again.json() == {"status": "duplicate", "recorded": 0}
    assert position(settings) == 6
    # Without a source_id, an Idempotency-Key makes a retried request recognisable.
    first = post(client, recruiter, "", reply(None, occurred_at=at(11)),
                 headers={"Idempotency-Key": "req-42"})  # fmt: skip
    retried = post(client, recruiter, "", reply(None, occurred_at=at(11)),
                   headers={"Idempotency-Key": "req-42"})  # fmt: skip
    assert (first.status_code, retried.status_code) == (201, 200)
    assert position(settings) == 7


def test_invalid_refused_and_unauthorised_writes_record_nothing(
    served: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    client, tokens = served
    recruiter = tokens["recruiter"]
    bad = post(client, recruiter, "", reply(channel="pigeon", sentiment=None))
    assert bad.status_code == 422
    assert {tuple(d["loc"]) for d in bad.json()["detail"]} == {("body", "channel"),
                                                               ("body", "sentiment")}  # fmt: skip
    assert "pigeon" not in bad.text  # the value is not echoed back
    unknown = post(client, recruiter, "", reply(candidate="C-404"))
    assert unknown.status_code == 409
    assert unknown.json()["code"] == "unknown_candidate" and unknown.json()["field"] == "candidate"
    assert post(client, recruiter, "", {"type": "opted_out", "candidate": "C-1",
                                        "occurred_at": at(8)}).status_code == 201  # fmt: skip
    outreach = {
        "type": "outreach_sent", "candidate": "C-1", "occurred_at": at(9), "channel": "email",
        "personalization": "templated", "recruiter": "rec-1",
    }  # fmt: skip
    refused = post(client, recruiter, "", outreach)
    assert refused.status_code == 409 and refused.json()["code"] == "consent_withdrawn"
    assert "opted out" in refused.json()["message"]
    for role in ("viewer", "compliance"):
        assert post(client, tokens[role], "", reply("live-9")).status_code == 403
    assert client.post("/api/v1/touchpoints", json=reply("live-9")).status_code == 401
    assert position(settings) == 6  # only the opt-out was recorded
    compliance = {"Authorization": f"Bearer {tokens['compliance']}"}
    history = client.get("/api/v1/audit/C-1", headers=compliance).json()
    assert [(r["code"], r["source"]) for r in history["refused_touchpoints"]] == [
        ("consent_withdrawn", "http")
    ]


def test_a_batch_is_recorded_whole_or_not_at_all(
    served: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    client, tokens = served
    recruiter = tokens["recruiter"]
    batch = [*story("C-2", prefix="b"), reply("live-1"), reply("live-1")]
    answer = post(client, recruiter, "/batch", batch, wait="true")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["recorded"], body["duplicates"]) == (6, 1) and body["visible"] is True
    assert [r["status"] for r in body["results"]] == ["recorded"] * 6 + ["duplicate"]
    assert [r["position"] for r in body["results"][:6]] == [6, 7, 8, 9, 10, 11]
    again = post(client, recruiter, "/batch", batch)
    assert again.status_code == 200 and again.json()["recorded"] == 0
    invalid = post(client, recruiter, "/batch", [reply("live-2"), reply("live-3", sentiment="meh")])
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["loc"] == ["body", 1, "sentiment"]
    refused = post(client, recruiter, "/batch", [reply("live-4"), reply("live-5", candidate="C-9")])
    assert refused.status_code == 409 and refused.json()["recorded"] == 0
    assert refused.json()["refusals"] == [
        {"index": 1, "code": "unknown_candidate", "field": "candidate",
         "message": "candidate C-9 is not registered: a reply_received needs a"
                    " candidate_registered first"},
    ]  # fmt: skip
    assert position(settings) == 11  # nothing of the invalid or refused batches
    too_many = [reply(f"many-{i}") for i in range(MAX_BATCH + 1)]
    assert post(client, recruiter, "/batch", too_many).status_code == 413
    assert post(client, recruiter, "/batch", []).status_code == 422
    assert post(client, recruiter, "/batch", {"not": "a list"}).status_code == 422


def test_record_reads_standard_input_and_answers_the_same(
    settings: Settings, tmp_path: Path
) -> None:
    env = store_env(settings)
    import_story(settings, tmp_path)
    one = runner.invoke(cli, ["record"], input=orjson.dumps(reply()).decode(), env=env)
    assert one.exit_code == 0 and orjson.loads(one.stdout) == {"status": "recorded",
                                                              "position": 6, "line": 1}  # fmt: skip
    lines = b"\n".join(orjson.dumps(t) for t in (reply(), reply("live-2", occurred_at=at(12))))
    many = runner.invoke(cli, ["record"], input=lines.decode(), env=env)
    assert many.exit_code == 0
    assert [orjson.loads(x)["status"] for x in many.stdout.splitlines()] == [
        "duplicate",
        "recorded",
    ]
    bad = runner.invoke(cli, ["record"], input=lines.decode() + "\n{oops\n", env=env)
    assert bad.exit_code == 2 and "line 3: (line): Invalid JSON: Expecting" in bad.stderr
    assert "nothing was recorded" in bad.stderr
    unknown = orjson.dumps(reply("x", candidate="C-7")).decode()
    refused = runner.invoke(cli, ["record"], input=unknown, env=env)
    assert refused.exit_code == 3 and "line 1: candidate:" in refused.stderr
    assert "[unknown_candidate]" in refused.stderr
    assert runner.invoke(cli, ["record"], input="", env=env).exit_code == 2
    keyed = orjson.dumps(reply(None, occurred_at=at(13))).decode()
    first = runner.invoke(cli, ["record", "--idempotency-key", "k-1"], input=keyed, env=env)
    second = runner.invoke(cli, ["record", "--idempotency-key", "k-1"], input=keyed, env=env)
    assert '"recorded"' in first.stdout and '"duplicate"' in second.stdout
    assert position(settings) == 8


def test_an_idempotency_key_never_swallows_another_touchpoint(
    served: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    client, tokens = served
    recruiter = tokens["recruiter"]
    assert post(client, recruiter, "/batch", story("C-42")[:1]).status_code == 201
    before = position(settings)
    opt_out = {"type": "opted_out", "candidate": "C-42", "occurred_at": at(8)}
    # The key equals C-1's CRM id (source_id "crm-C-1-2"): it is a key, not that touchpoint.
    first = post(client, recruiter, "", opt_out, headers={"Idempotency-Key": "crm-C-1-2"})
    assert first.status_code == 201, first.text
    again = post(client, recruiter, "", opt_out, headers={"Idempotency-Key": "crm-C-1-2"})
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    other = post(client, recruiter, "", opt_out | {"scope": "do_not_contact"},
                 headers={"Idempotency-Key": "crm-C-1-2"})  # fmt: skip
    assert other.status_code == 409, other.text
    assert other.json()["code"] == "idempotency_key_reused"
    assert other.json()["field"] == "Idempotency-Key" and "crm-C-1-2" in other.json()["message"]
    assert position(settings) == before + 1
    batch = [reply(None, candidate="C-42", occurred_at=at(5)), opt_out | {"occurred_at": at(9)}]
    assert post(client, recruiter, "/batch", batch, headers={"Idempotency-Key": "b-1"}
                ).status_code == 201  # fmt: skip
    batch[1] = batch[1] | {"scope": "do_not_contact"}
    changed = post(client, recruiter, "/batch", batch, headers={"Idempotency-Key": "b-1"})
    assert changed.status_code == 409 and "b-1:1" in changed.json()["message"]
    assert position(settings) == before + 3
    env = store_env(settings)
    cli_opt_out = orjson.dumps(opt_out | {"scope": "do_not_contact", "occurred_at": at(10)})
    first_cli = runner.invoke(cli, ["record", "--idempotency-key", "cli-1"],
                              input=cli_opt_out.decode(), env=env)  # fmt: skip
    assert first_cli.exit_code == 0, first_cli.output
    changed_cli = runner.invoke(cli, ["record", "--idempotency-key", "cli-1"],
                                input=orjson.dumps(opt_out).decode(), env=env)  # fmt: skip
    assert changed_cli.exit_code == 2 and "--idempotency-key:" in changed_cli.stderr
    assert position(settings) == before + 4


def test_positions_are_recorded_at_their_own_endpoint_and_by_rapport_record(
    served: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    client, tokens = served
    auth = {"Authorization": f"Bearer {tokens['recruiter']}"}
    opening = {"type": "position_opened", "position": "REQ-7", "occurred_at": at(1),
               "title": "CRA II, oncology", "role": "cra", "therapeutic_areas": ["oncology"],
               "country": "DE", "recruiter": "rec-1", "source_id": "bh-7"}  # fmt: skip
    recorded = client.post("/api/v1/positions", json=opening, headers=auth)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["position"] == 6
    again = client.post("/api/v1/positions", json=opening, headers=auth)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    # Each endpoint records its own kind: the other is named as invalid, nothing recorded.
    crossed = client.post("/api/v1/touchpoints/batch", json=[reply(), opening], headers=auth)
    assert crossed.status_code == 422
    assert crossed.json()["detail"][0]["loc"] == ["body", 1, "type"]
    assert "/api/v1/positions" in crossed.json()["detail"][0]["msg"]
    bad = client.post("/api/v1/positions", json=opening | {"min_years": 99}, headers=auth)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "min_years"]
    closed = {"type": "position_closed", "position": "REQ-8", "occurred_at": at(2),
              "reason": "cancelled"}  # fmt: skip
    refused = client.post("/api/v1/positions/batch", json=[closed], headers=auth)
    assert refused.status_code == 409
    assert refused.json()["refusals"][0]["code"] == "unknown_position"
    viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
    assert client.post("/api/v1/positions", json=closed, headers=viewer).status_code == 403
    assert position(settings) == 6
    updated = {"type": "position_updated", "position": "REQ-7", "occurred_at": at(3),
               "min_years": 4}  # fmt: skip
    result = runner.invoke(cli, ["record"], input=orjson.dumps(updated), env=store_env(settings))
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout.splitlines()[-1])["status"] == "recorded"
    assert position(settings) == 7
