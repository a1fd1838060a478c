"""The HTTP API on a real store (the app in-process, its views and ledger real): every endpoint,
what each role may do, the refusals (401, 403, 422 naming the field), and no token in any log."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from domain.access import UserRole
from infra.cli.app import app as cli
from infra.core.settings import Settings
from infra.http.app import create_app
from infra.http.state import ServerState
from infra.http.tokens import TokensInvalid, add_token, identify, load_tokens
from infra.read.metrics import engagement_report
from infra.read.read_side import current_views, parse_as_of
from tests.support.files import fill, store_env

AS_OF = "2026-10-31"


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A ledger of 150 generated candidates, a token per role, and the app serving them."""
    fill(settings, 150, 5, tmp_path)
    tokens_file = tmp_path / "tokens.json"
    tokens = {role.value: add_token(tokens_file, role, f"{role.value}-1") for role in UserRole}
    settings = settings.model_copy(update={"api_tokens_file": tokens_file})
    state = ServerState(settings, load_tokens(tokens_file))
    with TestClient(create_app(state)) as client:
        yield client, tokens


def get(client: TestClient, token: str | None, url: str, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(url, params=params, headers=headers)


def test_metrics_funnel_and_experience_answer_as_the_cli_does(
    served: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    client, tokens = served
    answer = get(client, tokens["viewer"], "/api/v1/metrics/engagement", by="status,channel",
                 as_of=AS_OF, window=21)  # fmt: skip
    assert answer.status_code == 200
    document = answer.json()
    assert document["by"] == ["status", "channel"] and document["window_days"] == 21
    with current_views(settings) as store:
        expected = engagement_report(store, ["status", "channel"], document_as_of(document), 21)
    assert document["segments"] == [orjson.loads(orjson.dumps(s.as_dict())) for s in expected]
    code, out, _ = run_cli(settings, "metrics", "--format", "json", "--as-of", AS_OF)
    assert code == 0
    cli_document = orjson.loads(out)
    api = get(client, tokens["viewer"], "/api/v1/metrics/engagement", as_of=AS_OF).json()
    assert api["segments"] == cli_document["segments"]
    funnel = get(client, tokens["recruiter"], "/api/v1/metrics/funnel", as_of=AS_OF).json()
    assert funnel["stages"] == cli_document["funnel"]
    experience = get(client, tokens["compliance"], "/api/v1/metrics/candidate-experience",
                     as_of=AS_OF).json()  # fmt: skip
    # Read from the columnar copy, each answer says which ledger position it reflects.
    with current_views(settings) as store:
        (position,) = store.query("SELECT MIN(position) FROM view_positions")[0]
    assert document["position"] == funnel["position"] == experience.pop("position") == position
    assert experience | {"as_of": None} == cli_document["candidate_experience"] | {"as_of": None}
    assert get(client, tokens["viewer"], "/api/v1/metrics/engagement").status_code == 200  # now


def test_settled_rates_slices_and_comparisons_answer_as_the_cli_does(
    served: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    client, tokens = served
    viewer = tokens["viewer"]
    for params, args in (
        ({"basis": "all"}, ["--basis", "all"]),
        ({"where": "status=passive", "sent_from": "2026-06-01", "sent_until": "2026-08-31"},
         ["--where", "status=passive", "--sent-from", "2026-06-01", "--sent-until",
          "2026-08-31"]),
    ):  # fmt: skip
        api = get(client, viewer, "/api/v1/metrics/engagement", as_of=AS_OF, **params).json()
        code, out, _ = run_cli(settings, "metrics", "--format", "json", "--as-of", AS_OF, *args)
        cli_document = orjson.loads(out)
        assert code == 0 and api["segments"] == cli_document["segments"]
        for key in ("basis", "where", "sent_from", "sent_until", "pending"):
            assert api[key] == cli_document[key], key
    reasons = get(client, viewer, "/api/v1/metrics/reasons", as_of=AS_OF).json()
    code, out, _ = run_cli(settings, "metrics", "--format", "json", "--as-of", AS_OF)
    assert code == 0 and reasons["reasons"] == orjson.loads(out)["reasons"] != []
    by_role = get(client, viewer, "/api/v1/metrics/reasons", as_of=AS_OF, by="role").json()
    assert {r["sentiment"] for r in by_role["reasons"]} == {"not_interested", "not_now"}
    assert all(r["role"] for r in by_role["reasons"])
    assert get(client, viewer, "/api/v1/metrics/reasons", by="shoe").status_code == 422
    settled = get(client, viewer, "/api/v1/metrics/engagement", as_of=AS_OF).json()
    assert settled["basis"] == "settled" and settled["pending"] > 0
    compared = get(client, viewer, "/api/v1/metrics/compare", by="personalization",
                   a="personalized", b="generic_blast", where="status=passive",
                   as_of=AS_OF).json()  # fmt: skip
    code, out, _ = run_cli(settings, "compare", "--by", "personalization", "--a", "personalized",
                           "--b", "generic_blast", "--where", "status=passive", "--as-of",
                           AS_OF, "--format", "json")  # fmt: skip
    assert code == 0 and compared["comparisons"] == orjson.loads(out)["comparisons"]
    (only,) = compared["comparisons"]
    assert only["low"] < only["difference"] < only["high"] and only["sentence"]
    # Known at: everything was recorded on 2026-11-01 (tests' clock), nothing before it.
    known = "2026-11-01T00:00:00+00:00"
    for url in ("/api/v1/metrics/engagement", "/api/v1/metrics/funnel", "/api/v1/alerts",
                "/api/v1/metrics/candidate-experience", "/api/v1/metrics/compare"):  # fmt: skip
        extra = {"by": "channel"} if url.endswith("compare") else {}
        now = get(client, viewer, url, as_of=AS_OF, **extra).json()
        then = get(client, viewer, url, as_of=AS_OF, known_at=known, **extra).json()
        assert then.pop("known_at") == known and then.pop("position", None) is None
        now.pop("position")
        assert then == now, url
    before = get(client, viewer, "/api/v1/metrics/engagement", as_of=AS_OF,
                 known_at="2026-10-31T23:59:00+00:00").json()  # fmt: skip
    assert before["segments"] == [] and before["as_of"] == document_as_of_iso(AS_OF)
    code, out, _ = run_cli(settings, "metrics", "--format", "json", "--as-of", AS_OF,
                           "--known-at", known)  # fmt: skip
    assert (
        code == 0
        and orjson.loads(out)["segments"]
        == get(client, viewer, "/api/v1/metrics/engagement", as_of=AS_OF, known_at=known).json()[
            "segments"
        ]
    )
    assert get(client, viewer, "/api/v1/alerts", known_at="soon").status_code == 422
    missing = get(client, viewer, "/api/v1/metrics/compare", by="channel", a="fax")
    assert missing.status_code == 404 and "no channel 'fax'" in missing.json()["detail"]


def document_as_of_iso(as_of: str) -> str:
    return datetime.fromtimestamp(parse_as_of(as_of), UTC).isoformat()


def document_as_of(document: dict[str, Any]) -> float:
    from datetime import datetime

    return datetime.fromisoformat(document["as_of"]).timestamp()


def run_cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=store_env(settings))
    return result.exit_code, result.stdout, result.stderr


def test_journeys_and_alerts(served: tuple[TestClient, dict[str, str]], settings: Settings) -> None:
    client, tokens = served
    alerts = get(client, tokens["viewer"], "/api/v1/alerts", as_of=AS_OF, limit=5).json()
    code, out, _ = run_cli(settings, "alerts", "--format", "json", "--as-of", AS_OF)
    everything = orjson.loads(out)
    assert alerts["count"] == len(everything) > 5 and sum(alerts["by_rule"].values()) == len(
        everything
    )
    assert alerts["alerts"] == everything[:5]
    page = get(client, tokens["viewer"], "/api/v1/alerts", as_of=AS_OF, limit=5, offset=5).json()
    assert page["alerts"] == everything[5:10] and page["offset"] == 5
    first = alerts["alerts"][0]
    only = get(client, tokens["viewer"], "/api/v1/alerts", as_of=AS_OF, rule=first["rule"],
               recruiter=first["recruiter"]).json()  # fmt: skip
    assert only["count"] >= 1
    wanted = (first["rule"], first["recruiter"])
    assert {(a["rule"], a["recruiter"]) for a in only["alerts"]} == {wanted}
    journey = get(client, tokens["viewer"], f"/api/v1/journeys/{first['candidate']}",
                  as_of=AS_OF).json()  # fmt: skip
    assert journey["candidate"] == first["candidate"] and journey["steps"]
    code, out, _ = run_cli(settings, "journey", first["candidate"], "--format", "json",
                           "--as-of", AS_OF)  # fmt: skip
    assert code == 0
    assert journey == orjson.loads(out)
    missing = get(client, tokens["viewer"], "/api/v1/journeys/C-999999")
    assert missing.status_code == 404 and "not registered" in missing.json()["detail"]


def test_bad_parameters_get_422_naming_the_field(
    served: tuple[TestClient, dict[str, str]],
) -> None:
    client, tokens = served
    viewer = tokens["viewer"]
    for url, params, field in (
        ("/api/v1/metrics/engagement", {"by": "status,shoe_size"}, "by"),
        ("/api/v1/metrics/engagement", {"window": "-3"}, "window"),
        ("/api/v1/metrics/engagement", {"as_of": "yesterday"}, "as_of"),
        ("/api/v1/metrics/engagement", {"basis": "some"}, "basis"),
        ("/api/v1/metrics/engagement", {"where": "status"}, "where"),
        ("/api/v1/metrics/engagement", {"sent_from": "soon"}, "sent_from"),
        ("/api/v1/metrics/compare", {"by": "shoe"}, "by"),
        ("/api/v1/metrics/compare", {"by": "status", "b": "active"}, "b"),
        ("/api/v1/metrics/compare", {"by": "status", "metric": "joy"}, "metric"),
        ("/api/v1/metrics/funnel", {"as_of": "2026-10-31T00:00"}, "as_of"),
        ("/api/v1/metrics/candidate-experience", {"sla_hours": "soon"}, "sla_hours"),
        ("/api/v1/alerts", {"rule": "nonsense"}, "rule"),
        ("/api/v1/alerts", {"limit": "0"}, "limit"),
        ("/api/v1/alerts", {"offset": "-1"}, "offset"),
        ("/api/v1/journeys/not a ref", {}, "candidate"),
    ):
        answer = get(client, viewer, url, **params)
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["detail"][0]["loc"][-1] == field, answer.json()
    compliance = tokens["compliance"]
    answer = get(client, compliance, "/api/v1/audit/C-000001", format="xml")
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["query", "format"]
    answer = client.post("/api/v1/erasures", json={"candidate": "C-000001", "reason": "because"},
                         headers={"Authorization": f"Bearer {compliance}"})  # fmt: skip
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "reason"]


def test_every_endpoint_but_the_probes_refuses_a_missing_or_wrong_token(
    served: tuple[TestClient, dict[str, str]],
) -> None:
    client, _ = served
    urls = ["/api/v1/metrics/engagement", "/api/v1/metrics/funnel",
            "/api/v1/metrics/candidate-experience", "/api/v1/journeys/C-000001",
            "/api/v1/alerts", "/api/v1/audit/C-000001",
            "/api/v1/audit/C-000001/subject-access", "/metrics"]  # fmt: skip
    for url in urls:
        for token in (None, "not-a-token"):
            answer = get(client, token, url)
            assert answer.status_code == 401, (url, token)
            assert answer.headers["www-authenticate"] == "Bearer"
    answer = client.post("/api/v1/erasures", json={"candidate": "C-000001",
                                                   "reason": "data_subject_request"})  # fmt: skip
    assert answer.status_code == 401
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"


def test_compliance_endpoints_are_for_the_compliance_role_only(
    served: tuple[TestClient, dict[str, str]],
) -> None:
    client, tokens = served
    for role in ("viewer", "recruiter"):
        for url in ("/api/v1/audit/C-000001", "/api/v1/audit/C-000001/subject-access"):
            answer = get(client, tokens[role], url)
            assert answer.status_code == 403 and role in answer.json()["detail"]
        answer = client.post("/api/v1/erasures",
                             json={"candidate": "C-000001", "reason": "data_subject_request"},
                             headers={"Authorization": f"Bearer {tokens[role]}"})  # fmt: skip
        assert answer.status_code == 403
    compliance = tokens["compliance"]
    history = get(client, compliance, "/api/v1/audit/C-000001").json()
    assert history["candidate"] == "C-000001" and history["touchpoints"][0]["version"] == 1
    table = list(csv.DictReader(io.StringIO(get(client, compliance, "/api/v1/audit/C-000001",
                                                format="csv").text)))  # fmt: skip
    assert [row["type"] for row in table] == [t["type"] for t in history["touchpoints"]]
    access = get(client, compliance, "/api/v1/audit/C-000001/subject-access").json()
    assert access["personal_data"]["name"] and access["erased"] is False
    assert get(client, compliance, "/api/v1/audit/C-999999").status_code == 404

    journey_before = get(client, tokens["viewer"], "/api/v1/journeys/C-000001").json()
    assert journey_before["stage"] != "erased"
    headers = {"Authorization": f"Bearer {compliance}"}

    def erase(candidate: str) -> Any:
        body = {"candidate": candidate, "reason": "data_subject_request"}
        return client.post("/api/v1/erasures", headers=headers, json=body)

    erased = erase("C-000001")
    assert erased.status_code == 201 and erased.json()["already"] is False
    again = erase("C-000001")
    assert again.status_code == 200 and again.json()["already"] is True
    assert erase("C-999999").status_code == 404
    access = get(client, compliance, "/api/v1/audit/C-000001/subject-access").json()
    assert access["erased"] is True and access["personal_data"] == "erased"
    assert access["erasure"]["reason"] == "data_subject_request"
    assert access["touchpoints"][-1]["by"] == "compliance-1"  # the token's name


def test_health_readiness_openapi_and_prometheus(
    served: tuple[TestClient, dict[str, str]],
) -> None:
    client, tokens = served
    viewer = tokens["viewer"]
    assert get(client, viewer, "/api/v1/health").json() == {"status": "ok"}
    ready = get(client, viewer, "/api/v1/ready").json()
    assert ready["ready"] is True and ready["lag"] == 0 and ready["ledger_position"] > 1000
    schema = client.get("/openapi.json").json()
    for path in ("/api/v1/metrics/engagement", "/api/v1/metrics/funnel", "/api/v1/alerts",
                 "/api/v1/journeys/{candidate}", "/api/v1/audit/{candidate}",
                 "/api/v1/erasures", "/api/v1/ready", "/metrics"):  # fmt: skip
        assert path in schema["paths"], path
    assert client.get("/docs").status_code == 404  # its scripts would come from a CDN
    exposition = get(client, viewer, "/metrics").text
    for series in (
        f"rapport_ledger_events {float(ready['ledger_position'])}",
        'rapport_ledger_events_by_type{type="outreach_sent"}',
        'rapport_projection_lag_events{projection="journey"} 0.0',
        'rapport_projection_position{projection="engagement"}',
        "rapport_alerts_open{rule=",
        'rapport_http_request_duration_seconds_bucket{le="0.05",method="GET"',
    ):
        assert series in exposition, series


def test_the_pages_log_in_and_render(served: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = served
    assert "Paste your API token" in client.get("/login").text
    wrong = client.post("/login", data={"token": "guess"}, follow_redirects=False)
    assert wrong.status_code == 401 and "not known here" in wrong.text
    right = client.post("/login", data={"token": tokens["viewer"]}, follow_redirects=False)
    assert right.status_code == 303 and "httponly" in right.headers["set-cookie"].lower()
    page = client.get("/", params={"as_of": AS_OF})  # the cookie is sent from now on
    assert page.status_code == 200
    for part in ('data-chart="engagement"', 'data-chart="trend"', 'data-chart="funnel"',
                 'id="experience"', 'data-table="alerts"', "<svg"):  # fmt: skip
        assert part in page.text, part
    assert "<script src=" not in page.text and "https://" not in page.text
    journey = client.get("/journeys/C-000001")
    assert journey.status_code == 200 and 'class="timeline"' in journey.text
    assert client.get("/journeys/C-999999").status_code == 404
    assert client.get("/static/rapport.css").status_code == 200
    client.get("/logout")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_tokens_are_never_logged(
    served: tuple[TestClient, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    client, tokens = served
    for token in tokens.values():
        get(client, token, "/api/v1/metrics/funnel", as_of=AS_OF)
        get(client, token, "/api/v1/audit/C-000002")
    client.post("/login", data={"token": tokens["viewer"]})
    logged = capsys.readouterr()
    everything = logged.out + logged.err
    assert '"http.request"' in everything or "http.request" in everything
    for token in tokens.values():
        assert token not in everything


def test_tokens_file_keeps_digests_only(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    with pytest.raises(TokensInvalid, match="no tokens file"):
        load_tokens(path)
    token = add_token(path, UserRole.COMPLIANCE, "dpo")
    assert token not in path.read_text() and oct(path.stat().st_mode)[-3:] == "600"
    found = identify(load_tokens(path), token)
    assert found is not None and found.role is UserRole.COMPLIANCE and found.name == "dpo"
    assert identify(load_tokens(path), token + "x") is None
    with pytest.raises(TokensInvalid, match="exists already"):
        add_token(path, UserRole.VIEWER, "dpo")
    path.write_text("{not json")
    with pytest.raises(TokensInvalid, match="not a tokens file"):
        load_tokens(path)


def test_serve_refuses_to_start_without_tokens(settings: Settings, tmp_path: Path) -> None:
    env = store_env(settings) | {"RAPPORT_API_TOKENS_FILE": str(tmp_path / "none.json")}
    result = CliRunner().invoke(cli, ["serve", "--port", "1"], env=env)
    assert result.exit_code == 2 and "no tokens file" in result.stderr
    result = CliRunner().invoke(cli, ["token", "add", "--role", "viewer", "--name", "ops"], env=env)
    assert result.exit_code == 0 and len(result.stdout.strip()) > 30


def test_the_demo_ends_by_saying_how_to_open_the_dashboard(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--candidates", "60", "--workdir", str(workdir)])
    assert result.exit_code == 0, result.output
    assert "Dashboard: rapport serve --db" in result.stdout
    assert "http://127.0.0.1:8080/login" in result.stdout
    token = result.stdout.split("paste the viewer token")[1].split()[0]
    (found,) = load_tokens(workdir / "rapport.tokens.json")
    assert identify([found], token) is not None and found.role is UserRole.VIEWER
