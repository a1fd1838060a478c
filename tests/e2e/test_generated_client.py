"""A client generated from the served OpenAPI document by ``openapi-python-client`` (PyPI), as
a team integrating with Rapport would build one, calling every operation of a running
``rapport serve``, writes included: each answer parses into the generated model its status
names, and its JSON validates against the document's schema (``jsonschema``, formats asserted).

SQLite only: the generated code does not depend on the store, and the schemas are checked on
both stores by the Schemathesis test (``test_api_fuzzing.py``, response conformance).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from domain.access import UserRole
from infra.core.settings import Settings
from infra.http.tokens import add_token
from tests.support.builders import at
from tests.support.files import history, record_lines
from tests.support.server import Server

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "rapport_client"


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[tuple[ModuleType, Server, dict[str, str], Any]]:
    """The server on a generated history (positions included), its tokens, the generated
    package and the document it was generated from."""
    settings = Settings(db=tmp_path / "rapport.db")
    record_lines(settings, history(120, seed=31, folder=tmp_path, positions=True))
    tokens_file = tmp_path / "tokens.json"
    tokens = {role.value: add_token(tokens_file, role, f"{role.value}-1") for role in UserRole}
    server = Server(settings, tokens_file, tmp_path / "serve.log")
    server.start()
    try:
        document = _fetch(server, "/openapi.json")
        (tmp_path / "openapi.json").write_bytes(document)
        made = subprocess.run(
            [str(GENERATOR), "generate", "--path", str(tmp_path / "openapi.json"),
             "--meta", "none", "--output-path", str(tmp_path / PACKAGE)],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
            env=os.environ | {"PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ['PATH']}"},
        )  # fmt: skip
        said = made.stdout + made.stderr
        assert made.returncode == 0, said[-4000:]
        # A warning means a part of the document the generator could not type (it skips it).
        assert "warning" not in said.lower(), said[-4000:]
        sys.path.insert(0, str(tmp_path))
        try:
            yield importlib.import_module(PACKAGE), server, tokens, orjson.loads(document)
        finally:
            sys.path.remove(str(tmp_path))
            for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
                del sys.modules[name]
    finally:
        server.stop()


def ago(hours: float) -> str:
    """An instant ``hours`` after a moment just before the test (writes are refused in the
    future)."""
    return (START + timedelta(hours=hours)).isoformat()


START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)


def _fetch(server: Server, path: str) -> bytes:
    with urllib.request.urlopen(f"{server.url}{path}", timeout=30) as answer:
        return bytes(answer.read())


class Caller:
    """Calls one operation of the generated client and checks its answer against the model
    and the document."""

    def __init__(self, package: ModuleType, server: Server, document: Any) -> None:
        self.package = package
        self.models = importlib.import_module(f"{PACKAGE}.models")
        self.server = server
        self.document = document
        self.called: set[str] = set()

    def client(self, token: str) -> Any:
        return self.package.AuthenticatedClient(
            base_url=self.server.url, token=token, raise_on_unexpected_status=True, timeout=60
        )

    def __call__(
        self, client: Any, tag: str, operation: str, status: int, model: str, /, **arguments: Any
    ) -> Any:
        module = importlib.import_module(f"{PACKAGE}.api.{tag}.{operation}")
        answer = module.sync_detailed(client=client, **arguments)
        assert answer.status_code == status, (
            f"{operation}: {answer.status_code} {answer.content[:2000]!r}" + self.server.logs()
        )
        assert isinstance(answer.parsed, getattr(self.models, model)), (operation, answer.parsed)
        schema = {
            "$ref": f"#/components/schemas/{model}",
            "components": self.document["components"],
        }
        errors = list(
            Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(
                orjson.loads(answer.content)
            )
        )
        assert errors == [], (operation, [f"{list(e.absolute_path)}: {e.message}" for e in errors])
        self.called.add(operation)
        return answer.parsed


def test_a_generated_client_calls_every_operation_and_gets_typed_answers(
    generated: tuple[ModuleType, Server, dict[str, str], Any],
) -> None:
    package, server, tokens, document = generated
    call = Caller(package, server, document)
    models = call.models
    recruiter, compliance = call.client(tokens["recruiter"]), call.client(tokens["compliance"])
    viewer = call.client(tokens["viewer"])

    # --- reads --------------------------------------------------------------------------------
    engagement = call(viewer, "metrics", "engagement", 200, "Engagement")
    assert isinstance(engagement.as_of, datetime) and engagement.segments
    segment = engagement.segments[0]
    assert {"status", "personalization"} <= segment.additional_properties.keys()
    assert isinstance(segment.engagement.rate, float) and segment.engagement.n == segment.outreach
    compared = call(viewer, "metrics", "compare", 200, "Comparisons", by="personalization",
                    a="personalized", b="generic_blast")  # fmt: skip
    assert compared.comparisons[0].verdict.value in {"a higher", "a lower", "no clear difference",
                                                     "too few to tell"}  # fmt: skip
    reasons = call(viewer, "metrics", "reasons", 200, "Reasons", by="channel")
    assert reasons.reasons and "channel" in reasons.reasons[0].additional_properties
    funnel = call(viewer, "metrics", "funnel", 200, "Funnel")
    assert funnel.stages[0].candidates > 0
    call(viewer, "metrics", "candidate_experience", 200, "CandidateExperience")
    payoff = call(viewer, "metrics", "payoff", 200, "Payoff", by="role")
    assert payoff.hiring and "role" in payoff.hiring[0].additional_properties
    known = call(viewer, "metrics", "funnel", 200, "Funnel", known_at=at(0))
    assert isinstance(known.known_at, datetime) and not isinstance(known.position, int)
    alerts = call(viewer, "alerts", "alerts", 200, "Alerts", limit=5)
    assert alerts.count >= len(alerts.alerts) > 0
    someone = alerts.alerts[0].candidate
    journey = call(viewer, "journeys", "journey", 200, "Journey", candidate=someone)
    assert journey.steps and isinstance(journey.steps[0].occurred_at, datetime)
    opened = call(
        viewer, "positions", "positions", 200, "Positions", status=models.PositionsStatus.ALL
    )
    assert opened.positions and isinstance(opened.positions[0].opened_at, datetime)
    open_ = [p for p in opened.positions if p.status.value == "open"]
    assert open_, "the history leaves a position open"
    matched = call(viewer, "positions", "matches", 200, "Matches",
                   position=open_[0].requisition, limit=5)  # fmt: skip
    assert matched.matches and matched.matches[0].terms
    history_ = call(compliance, "compliance", "contact_history", 200, "ContactHistory",
                    candidate=someone)  # fmt: skip
    assert history_.touchpoints[0].actor.value in {"recruiter", "crm", "automation", "candidate"}
    csv = compliance.get_httpx_client().get(f"/api/v1/audit/{someone}", params={"format": "csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.count("\n") == len(history_.touchpoints) + 1
    held = call(compliance, "compliance", "subject_access", 200, "SubjectAccess",
                candidate=someone)  # fmt: skip
    assert held.subject.candidate == someone and held.erased is False
    assert call(viewer, "service", "health", 200, "Health").status == "ok"
    assert call(viewer, "service", "ready", 200, "Readiness").ready is True
    exposition = importlib.import_module(f"{PACKAGE}.api.service.prometheus")
    scraped = exposition.sync_detailed(client=viewer)
    assert scraped.status_code == 200 and "rapport_ledger_events" in scraped.parsed
    call.called.add("prometheus")

    # --- writes, each twice: recorded (201), then a duplicate (200) ---------------------------
    registration = models.CandidateRegistered.from_dict(
        {"type": "candidate_registered", "candidate": "C-CLIENT-1", "occurred_at": ago(0),
         "role": "cra", "status": "passive", "recruiter": "rec-1", "source_id": "client-1",
         "personal": {"name": "Ines Client", "email": "ines.client@example.org"}}
    )  # fmt: skip
    for status, model in ((201, "Recorded"), (200, "Duplicate")):
        call(recruiter, "capture", "record_touchpoint", status, model, body=registration,
             wait=True)  # fmt: skip
    outreach = [
        models.OutreachSent.from_dict(
            {
                "type": "outreach_sent",
                "candidate": "C-CLIENT-1",
                "occurred_at": ago(hours),
                "channel": "email",
                "personalization": "personalized",
                "recruiter": "rec-1",
                "source_id": f"client-out-{hours}",
            }
        )
        for hours in (1, 2)
    ]
    done = call(recruiter, "capture", "record_touchpoints", 201, "BatchRecorded", body=outreach)
    assert done.recorded == 2 and [r.status.value for r in done.results] == ["recorded"] * 2
    again = call(recruiter, "capture", "record_touchpoints", 200, "BatchRecorded", body=outreach)
    assert again.recorded == 0 and again.duplicates == 2
    opening = models.PositionOpened.from_dict(
        {"type": "position_opened", "position": "REQ-CLIENT", "occurred_at": ago(0),
         "title": "CRA II", "role": "cra", "therapeutic_areas": ["oncology"], "country": "DE",
         "recruiter": "rec-1", "source_id": "client-req"}
    )  # fmt: skip
    for status, model in ((201, "Recorded"), (200, "Duplicate")):
        call(recruiter, "positions", "record_position_fact", status, model, body=opening)
    update = [
        models.PositionUpdated.from_dict(
            {
                "type": "position_updated",
                "position": "REQ-CLIENT",
                "occurred_at": ago(3),
                "min_years": 2,
                "source_id": "client-req-update",
            }
        )
    ]
    for status in (201, 200):
        call(recruiter, "positions", "record_position_facts", status, "BatchRecorded", body=update)
    # Shortlisting is stamped with the moment it is asked for: asked again later, it is a new
    # shortlisting (recorded), so each is asked once here.
    sourced = models.ShortlistRequest(candidates=["C-CLIENT-1"])
    listed = call(recruiter, "positions", "shortlist", 201, "Shortlist", position="REQ-CLIENT",
                  body=sourced, wait=True)  # fmt: skip
    assert listed.results[0].source == "sourced" and listed.results[0].match_rank is None
    best = matched.matches[0]
    picked = models.ShortlistRequest(candidates=[best.candidate], from_match=True)
    listed = call(recruiter, "positions", "shortlist", 201, "Shortlist",
                  position=open_[0].requisition, body=picked)  # fmt: skip
    assert (listed.results[0].source, listed.results[0].match_rank) == ("pool_match", best.rank)
    erasure = models.ErasureRequest(
        candidate="C-CLIENT-1", reason=models.ErasureReason("data_subject_request")
    )
    erased = call(compliance, "compliance", "erase", 201, "Erased", body=erasure)
    assert erased.already is False
    before = call(compliance, "compliance", "erase", 200, "ErasedBefore", body=erasure)
    assert before.already is True
    gone = call(compliance, "compliance", "subject_access", 200, "SubjectAccess",
                candidate="C-CLIENT-1")  # fmt: skip
    assert gone.erased is True and gone.personal_data == "erased"

    operations = {
        operation["operationId"]
        for path in document["paths"].values()
        for operation in path.values()
    }
    assert call.called == operations, operations ^ call.called
