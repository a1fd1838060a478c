"""Test data: small, readable candidate stories written as JSON Lines or CSV; generated
histories recorded in a ledger; and views dumped for comparison."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

from infra.cli.app import app
from infra.core.settings import Settings
from infra.intake.importing import read_touchpoints
from infra.read.views import ViewStore
from infra.store.ledger import Ledger, Line
from infra.synthetic.generator import DEFAULT_UNTIL
from infra.synthetic.generator import write_jsonl as write_history
from tests.support.builders import at

RECORDED = DEFAULT_UNTIL + timedelta(days=1)
"""When generated histories are recorded: just after the generator's last day."""


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


def import_story(settings: Settings, folder: Path, candidate: str = "C-1") -> None:
    """``rapport import`` of one candidate's story (five touchpoints, positions 1-5)."""
    data = write_jsonl(folder / f"{candidate}.jsonl", story(candidate))
    result = CliRunner().invoke(app, ["import", str(data)], env=store_env(settings))
    assert result.exit_code == 0, result.output


def write_jsonl(path: Path, records: list[dict[str, Any]] | list[bytes]) -> Path:
    path.write_bytes(
        b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records)
    )
    return path


def store_env(settings: Settings) -> dict[str, str]:
    """The environment that points the CLI at the same store as ``settings``."""
    outside = {  # the chain's key and checkpoint, where the settings put them
        "RAPPORT_CHAIN_KEY_FILE": str(settings.chain_key_path),
        "RAPPORT_CHECKPOINT_FILE": str(settings.checkpoint_path),
    }
    if settings.database_url:
        return outside | {
            "RAPPORT_DATABASE_URL": settings.database_url,
            "RAPPORT_DATABASE_SCHEMA": settings.database_schema,
            "RAPPORT_DB": "",
        }
    return outside | {"RAPPORT_DB": str(settings.db), "RAPPORT_DATABASE_URL": ""}


def history(candidates: int, seed: int, folder: Path, *, positions: bool = False) -> list[Line]:
    """A generated history's lines; with ``positions``, its positions' facts too (most tests
    count the ledger's events as touchpoints)."""
    data = folder / f"history-{seed}.jsonl"
    write_history(data, candidates=candidates, seed=seed, positions=positions)
    lines, errors = read_touchpoints(data)
    assert errors == []
    return lines


def record_lines(settings: Settings, lines: list[Line], recorded: datetime = RECORDED) -> int:
    """Record touchpoints in the ledger, as if at ``recorded``; returns the ledger's last
    position."""
    ledger = Ledger(settings, clock=lambda: recorded)
    try:
        ledger.write(ledger.decide(lines))
        return ledger.position()
    finally:
        ledger.close()


def fill(
    settings: Settings, candidates: int, seed: int, folder: Path, *, positions: bool = False
) -> int:
    """Record a generated history; returns the ledger's last position."""
    return record_lines(settings, history(candidates, seed, folder, positions=positions))


def dump(store: ViewStore, projections: list[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the projections' tables, in key order (states are the machinery's: beside
    the ledger they are replayed, not stored)."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for projection in projections:
        for table in projection.tables:
            tables[table.name] = store.query(
                f"SELECT * FROM {table.name} ORDER BY {', '.join(table.key)}"
            )
    return tables


def personal_texts(lines: list[Line]) -> set[str]:
    """Every name, email, phone number and message text in the touchpoints (6 characters or
    more), to look for where none may be."""
    texts: set[str] = set()
    for _, touchpoint in lines:
        personal = getattr(touchpoint, "personal", None)
        if personal is not None:
            for value in personal.model_dump().values():
                if isinstance(value, str) and len(value) >= 6:
                    texts.add(value)
    return texts
