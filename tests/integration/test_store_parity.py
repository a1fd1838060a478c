"""SQLite and PostgreSQL hold the same ledger for the same input: same events, same order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from infra.core.settings import Settings
from infra.intake.importing import read_touchpoints
from infra.store.ledger import Ledger
from infra.synthetic.generator import DEFAULT_UNTIL, write_jsonl


@pytest.fixture
def both_stores(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[list[Settings]]:
    sqlite = Settings(db=tmp_path / "parity.db")
    postgres = request.getfixturevalue("postgres_settings")
    yield [sqlite, postgres]


RECORDED = DEFAULT_UNTIL + timedelta(days=1)


def ledger_contents(settings: Settings) -> list[tuple[Any, ...]]:
    ledger = Ledger(settings, clock=lambda: RECORDED)
    try:
        return [
            (
                n,
                event.originator_id,
                event.originator_version,
                type(event).__name__,
                event.timestamp,
                event.touchpoint,
            )
            for n, event in enumerate(ledger.history(), start=1)
        ]
    finally:
        ledger.close()


def test_the_same_export_gives_the_same_ledger_on_both_stores(
    both_stores: list[Settings], tmp_path: Path
) -> None:
    data = tmp_path / "history.jsonl"
    write_jsonl(data, candidates=150, seed=3)
    lines, errors = read_touchpoints(data)
    assert errors == []
    for settings in both_stores:
        ledger = Ledger(settings, clock=lambda: RECORDED)
        try:
            ledger.write(ledger.decide(lines), batch_events=400)
        finally:
            ledger.close()
    on_sqlite, on_postgres = (ledger_contents(s) for s in both_stores)
    assert len(on_sqlite) == len(lines)
    assert on_sqlite == on_postgres
