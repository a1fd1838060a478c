"""Import files for tests: small, readable candidate stories written as JSON Lines or CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from infra.settings import Settings
from tests.conftest import at


def story(candidate: str, start: float = 0, prefix: str = "crm") -> list[dict[str, Any]]:
    """A passive CRA contacted personally, who replies, applies and is acknowledged."""
    return [
        {"type": "candidate_registered", "candidate": candidate, "occurred_at": at(start),
         "source_id": f"{prefix}-{candidate}-1", "role": "cra", "status": "passive",
         "therapeutic_areas": ["oncology"],
         "personal": {"name": f"Person {candidate}", "email": f"{candidate.lower()}@example.org"}},
        {"type": "outreach_sent", "candidate": candidate, "occurred_at": at(start + 1),
         "source_id": f"{prefix}-{candidate}-2", "channel": "email",
         "personalization": "personalized", "recruiter": "rec-1",
         "personal": {"subject": "Your oncology monitoring work", "body": "Dear ..."}},
        {"type": "reply_received", "candidate": candidate, "occurred_at": at(start + 3),
         "source_id": f"{prefix}-{candidate}-3", "channel": "email", "sentiment": "interested"},
        {"type": "application_submitted", "candidate": candidate, "occurred_at": at(start + 4),
         "source_id": f"{prefix}-{candidate}-4", "position": "REQ-1"},
        {"type": "application_acknowledged", "candidate": candidate,
         "occurred_at": at(start + 4, hours=1), "source_id": f"{prefix}-{candidate}-5",
         "position": "REQ-1", "automated": True},
    ]  # fmt: skip


def write_jsonl(path: Path, records: list[dict[str, Any]] | list[bytes]) -> Path:
    path.write_bytes(
        b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records)
    )
    return path


def store_env(settings: Settings) -> dict[str, str]:
    """The environment that points the CLI at the same store as ``settings``."""
    if settings.database_url:
        return {
            "RAPPORT_DATABASE_URL": settings.database_url,
            "RAPPORT_DATABASE_SCHEMA": settings.database_schema,
            "RAPPORT_DB": "",
        }
    return {"RAPPORT_DB": str(settings.db), "RAPPORT_DATABASE_URL": ""}
