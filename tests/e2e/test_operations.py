"""What operations rely on, checked with their own tools: probes that answer without a token
and give nothing away, a Prometheus exposition that promtool accepts and an OpenMetrics one
that the strict parser accepts, route labels that never carry a path, settled engagement as
gauges, and a Grafana dashboard that provisions and only asks for series the server exposes."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from domain.access import UserRole
from infra.core.settings import Settings
from infra.http.app import create_app
from infra.http.state import ServerState
from infra.http.tokens import add_token, load_tokens
from infra.read.metrics import engagement_report
from tests.support.files import fill

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "infra" / "ops" / "grafana"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    fill(settings, 150, 5, tmp_path)
    tokens_file = tmp_path / "tokens.json"
    tokens = {role.value: add_token(tokens_file, role, f"{role.value}-1") for role in UserRole}
    settings = settings.model_copy(update={"api_tokens_file": tokens_file})
    with TestClient(create_app(ServerState(settings, load_tokens(tokens_file)))) as client:
        yield client, tokens


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_probes_answer_without_a_token_and_give_figures_only_to_a_token(served) -> None:
    client, tokens = served
    health = client.get("/api/v1/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = client.get("/api/v1/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True}
    for token in ("not-a-token", tokens["viewer"]):
        assert client.get("/api/v1/ready", headers=_bearer(token)).status_code == 200
    assert client.get("/api/v1/ready", headers=_bearer("not-a-token")).json() == {"ready": True}
    told = client.get("/api/v1/ready", headers=_bearer(tokens["viewer"])).json()
    assert told["ready"] is True and told["lag"] == 0 and told["ledger_position"] > 1000
    assert told["views"] == "embedded"
    assert client.get("/metrics").status_code == 401  # the figures still need a token


def test_the_exposition_passes_promtool_and_openmetrics_is_negotiated(served) -> None:
    client, tokens = served
    client.get("/static/rapport.css", headers=_bearer(tokens["viewer"]))
    client.get("/api/v1/journeys/C-000001", headers=_bearer(tokens["viewer"]))
    text = client.get("/metrics", headers=_bearer(tokens["viewer"]))
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    promtool = subprocess.run(
        [str(ROOT / "infra/ops/scripts/promtool.sh")], capture_output=True, text=True, check=True
    ).stdout.strip()
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text.text, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    open_metrics = client.get(
        "/metrics", headers=_bearer(tokens["viewer"]) | {"Accept": OPENMETRICS}
    )
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    body = open_metrics.text
    assert body.endswith("# EOF\n") and body.count("# EOF") == 1
    families = {family.name: family for family in text_string_to_metric_families(body)}
    assert {"rapport_ledger_events", "rapport_http_request_duration_seconds"} <= families.keys()

    routes = {
        sample.labels["route"]
        for sample in families["rapport_http_request_duration_seconds"].samples
        if "route" in sample.labels
    }
    assert "/static/{path}" in routes and "/api/v1/journeys/{candidate}" in routes
    assert not any("C-000001" in route or route.endswith(".css") for route in routes)


def test_settled_engagement_is_exposed_by_personalization_and_status(
    served, settings: Settings
) -> None:
    client, tokens = served
    body = client.get("/metrics", headers=_bearer(tokens["viewer"]) | {"Accept": OPENMETRICS})
    families = {family.name: family for family in text_string_to_metric_families(body.text)}
    gauges = {
        name: {
            (sample.labels["personalization"], sample.labels["status"]): sample.value
            for sample in families[name].samples
        }
        for name in ("rapport_engagement_outreach", "rapport_engagement_engaged",
                     "rapport_engagement_ratio", "rapport_engagement_pending_outreach")
    }  # fmt: skip
    state: ServerState = client.app.state.rapport  # type: ignore[attr-defined]
    with state.analysis() as (reader, _):
        segments = engagement_report(reader, ["personalization", "status"], None, 30)
    assert segments and len(gauges["rapport_engagement_outreach"]) == len(segments)
    for segment in segments:
        key = (str(segment.values["personalization"]), str(segment.values["status"]))
        assert gauges["rapport_engagement_outreach"][key] == segment.outreach
        assert gauges["rapport_engagement_engaged"][key] == segment.engagement.successes
        assert gauges["rapport_engagement_pending_outreach"][key] == segment.pending
        if segment.outreach:
            assert gauges["rapport_engagement_ratio"][key] == pytest.approx(
                segment.engagement.value
            )


def _series(expression: str) -> set[str]:
    return set(re.findall(r"\brapport_[a-z_]+", expression))


def test_the_grafana_dashboard_provisions_and_reads_only_exposed_series(served) -> None:
    dashboard = json.loads((GRAFANA / "rapport-dashboard.json").read_text(encoding="utf-8"))
    # Provisioning reads the file as it is: no import-time inputs; the data source is a
    # template variable every panel names, and the plugins it needs are declared.
    assert "__inputs" not in dashboard
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"
    required = {(item["type"], item["id"]) for item in dashboard["__requires"]}
    assert ("grafana", "grafana") in required and ("datasource", "prometheus") in required
    panels = dashboard["panels"]
    assert {("panel", panel["type"]) for panel in panels} <= required
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": f"${{{variable['name']}}}"}
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    provider = (GRAFANA / "provisioning" / "dashboards" / "rapport.yaml").read_text("utf-8")
    assert "type: file" in provider

    client, tokens = served
    exposed = {
        family.name
        for family in text_string_to_metric_families(
            client.get("/metrics", headers=_bearer(tokens["viewer"]) | {"Accept": OPENMETRICS}).text
        )
    }
    asked = set().union(*(_series(t["expr"]) for p in panels for t in p["targets"]))
    histogram = {"rapport_http_request_duration_seconds_bucket",
                 "rapport_http_request_duration_seconds_count"}  # fmt: skip
    assert asked - histogram <= exposed, asked - histogram - exposed
    titles = " ".join(panel["title"] for panel in panels).lower()
    assert "engagement" in titles and "settled" in titles
