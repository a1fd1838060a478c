"""The small faults of one family: input read strictly and the same way at every door (import,
`rapport record`, HTTP single and batch). Both stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from infra.cli.app import app as cli
from infra.core.settings import Settings
from tests.support.builders import at
from tests.support.capture import position, reply
from tests.support.files import store_env, story

runner = CliRunner()
BOM = b"\xef\xbb\xbf"


OUTREACH = {
    "type": "outreach_sent", "candidate": "C-1", "occurred_at": at(5), "channel": "email",
    "personalization": "templated", "recruiter": "rec-1", "source_id": "strict-2",
}  # fmt: skip


def registration(**fields: Any) -> dict[str, Any]:
    return story("C-7")[0] | {"source_id": "strict-1"} | fields


def refused_everywhere(
    client: TestClient, token: str, settings: Settings, tmp_path: Path, raw: bytes, field: str
) -> None:
    """``raw`` (one JSON object) is invalid input naming ``field`` at every door; nothing is
    recorded anywhere."""
    before = position(settings)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    single = client.post("/api/v1/touchpoints", content=raw, headers=headers)
    assert single.status_code == 422, single.text
    assert [*single.json()["detail"][0]["loc"]][1:] == field.split("."), single.json()
    batch = client.post("/api/v1/touchpoints/batch", content=b"[" + raw + b"]", headers=headers)
    assert batch.status_code == 422 and batch.json()["detail"][0]["loc"][1:] == [
        0, *field.split(".")], batch.json()  # fmt: skip
    env = store_env(settings)
    record = runner.invoke(cli, ["record"], input=raw.decode(), env=env)
    assert record.exit_code == 2 and f"line 1: {field}:" in record.stderr, record.output
    data = tmp_path / "line.jsonl"
    data.write_bytes(raw + b"\n")
    imported = runner.invoke(cli, ["import", str(data)], env=env)
    assert imported.exit_code == 2 and f"line 1: {field}:" in imported.stderr, imported.output
    assert position(settings) == before


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        # A key given twice: JSON parsers keep the last one silently.
        (orjson.dumps(registration())[:-1] + b',"status":"active"}', "status"),
        (orjson.dumps(registration(personal={"name": "A"}))[:-2] + b',"name":"B"}}',
         "personal.name"),
        # No coercion: the schema says boolean and integer.
        (orjson.dumps(registration(years_experience="5")), "years_experience"),
        (orjson.dumps(OUTREACH | {"automated": "yes"}), "automated"),
        # A NUL (or any control character) in source_id: PostgreSQL's text cannot hold it.
        (orjson.dumps(registration(source_id="crm\x00-7")), "source_id"),
        (orjson.dumps(registration(source_id="crm\n7")), "source_id"),
        # A candidate reference with a slash would be unreachable over HTTP.
        (orjson.dumps(registration(candidate="C/7")), "candidate"),
    ],
    ids=["repeated-key", "repeated-nested-key", "string-for-integer", "string-for-boolean",
         "nul-in-source-id", "newline-in-source-id", "slash-in-candidate"],
)  # fmt: skip
def test_invalid_input_is_refused_at_every_door(
    served: tuple[TestClient, dict[str, str]],
    settings: Settings,
    tmp_path: Path,
    raw: bytes,
    field: str,
) -> None:
    client, tokens = served
    refused_everywhere(client, tokens["recruiter"], settings, tmp_path, raw, field)


def test_a_byte_order_mark_is_accepted_at_the_start_of_every_input(
    served: tuple[TestClient, dict[str, str]], settings: Settings, tmp_path: Path
) -> None:
    client, tokens = served
    headers = {"Authorization": f"Bearer {tokens['recruiter']}",
               "Content-Type": "application/json"}  # fmt: skip
    answer = client.post("/api/v1/touchpoints", headers=headers,
                         content=BOM + orjson.dumps(reply("bom-1")))  # fmt: skip
    assert answer.status_code == 201, answer.text
    env = store_env(settings)
    record = runner.invoke(cli, ["record"], input=(BOM + orjson.dumps(reply("bom-2",
                           occurred_at=at(11)))).decode(), env=env)  # fmt: skip
    assert record.exit_code == 0, record.output
    data = tmp_path / "bom.jsonl"
    data.write_bytes(BOM + orjson.dumps(reply("bom-3", occurred_at=at(12))) + b"\n")
    assert runner.invoke(cli, ["import", str(data)], env=env).exit_code == 0
    assert position(settings) == 8


def test_csv_cells_are_text_so_numbers_and_booleans_are_read_from_them(
    settings: Settings, tmp_path: Path
) -> None:
    data = tmp_path / "a.csv"
    data.write_text(
        "type,candidate,occurred_at,role,status,years_experience,personal.name,source_id\n"
        f"candidate_registered,C-9,{at()},cra,passive,5,Nine,csv-1\n"
    )
    result = runner.invoke(cli, ["import", str(data)], env=store_env(settings))
    assert result.exit_code == 0, result.output


def test_an_encoded_slash_in_a_path_is_not_another_route(
    served: tuple[TestClient, dict[str, str]],
) -> None:
    client, tokens = served
    compliance = {"Authorization": f"Bearer {tokens['compliance']}"}
    answer = client.get("/api/v1/audit/C-1%2Fsubject-access", headers=compliance)
    assert answer.status_code == 404
    assert client.get("/api/v1/audit/C-1", headers=compliance).status_code == 200
