"""The streaming import (scan into partitions on disk, decide in chunks, write sealed batches on
a thread) records exactly what the ledger's in-memory path records: the same events, versions,
personal data, deduplication keys and erasures, the same refusals and counts. On hypothesis
histories delivered in several files (so candidates already in the ledger are decided against
their history), with lines repeated and shuffled, on SQLite and PostgreSQL; with worker
processes; and with another writer getting in between the decision and the write."""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from domain.access import UserRole
from infra.compliance.audit import verify
from infra.core.settings import Settings
from infra.intake.file_import import ImportRefused, ImportResult, import_touchpoints
from infra.intake.importing import read_touchpoints
from infra.store.ledger import Ledger, Line
from infra.store.sealing import is_sealed, unseal
from infra.synthetic import generator
from tests.support.drawn_histories import DRAWN_EVENT, deliveries
from tests.support.stores import fresh_settings

ALL_ROLES = frozenset(UserRole)
CLOCK = datetime(2027, 1, 1, tzinfo=UTC)
"""Both ledgers record at this instant, after every drawn touchpoint happened."""


def _file(path: Path, lines: list[Line], repeats: list[int], seed: int) -> Path:
    """The lines as a JSONL file, some of them twice, in an order drawn from ``seed``."""
    raw = [touchpoint.__pydantic_serializer__.to_json(touchpoint) for _, touchpoint in lines]
    raw += [raw[index % len(raw)] for index in repeats]
    random.Random(seed).shuffle(raw)
    path.write_bytes(b"\n".join(raw) + b"\n")
    return path


def contents(settings: Settings) -> dict[str, Any]:
    """Everything the ledger holds about its candidates, by candidate and version (positions
    aside), with personal data opened; and whether both chains hold."""
    ledger = Ledger(settings)
    try:
        recorder = ledger.ledger_recorder
        events: dict[tuple[str, int], tuple[str, Any, bytes | None]] = {}
        start = 1
        while rows := recorder.sealed_rows(start, 1_000):
            for row in rows:
                cid = UUID(row.candidate_id)
                personal = orjson.loads(row.state)["touchpoint"].get("personal")
                key = recorder.candidate_key(cid)
                opened = (
                    unseal(key, cid, row.version, personal)
                    if is_sealed(personal) and key is not None
                    else None
                )
                event = ledger.mapper.to_domain_event(
                    StoredEvent(cid, row.version, row.topic, row.state)
                )
                events[(cid.hex, row.version)] = (row.topic, event, opened)
            start = rows[-1].position + 1
        keys = [event.touchpoint.dedupe_key for _, event, _ in events.values()]
        return {
            "events": events,
            "keys": sorted(recorder.lookup(keys, [])[0]),
            "erasures": sorted((e.candidate_id, e.version, e.reason) for e in recorder.erasures()),
            "intact": verify(ledger).intact,
        }
    finally:
        ledger.close()


def _streamed(settings: Settings, path: Path, **sizes: int) -> ImportResult:
    ledger = Ledger(settings, clock=lambda: CLOCK)
    try:
        return import_touchpoints(ledger, path, "auto", ALL_ROLES, **sizes)
    finally:
        ledger.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
@hypothesis_settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    events=st.lists(DRAWN_EVENT, min_size=10, max_size=60),
    repeats=st.lists(st.integers(0, 200), max_size=6),
    seed=st.integers(0, 1_000),
    partition_bytes=st.sampled_from([300, 2_000, 1 << 20]),
    chunk_lines=st.sampled_from([1, 7, 5_000]),
    batch_events=st.sampled_from([1, 5, 20_000]),
)
def test_the_streaming_import_records_what_the_ledger_decides(
    kind: str,
    tmp_path: Path,
    events: list[tuple[int, str, int, int, int]],
    repeats: list[int],
    seed: int,
    partition_bytes: int,
    chunk_lines: int,
    batch_events: int,
) -> None:
    sizes = {"partition_bytes": partition_bytes, "chunk_lines": chunk_lines}
    with fresh_settings(kind) as streamed, fresh_settings(kind) as decided:
        for number, delivery in enumerate(deliveries(events)):
            path = _file(tmp_path / f"import-{seed}-{number}.jsonl", delivery, repeats, seed)
            lines, errors = read_touchpoints(path)
            assert not errors
            while True:  # drop what the rules refuse, as a recruiter fixing the file would
                ledger = Ledger(decided, clock=lambda: CLOCK)
                try:
                    decision = ledger.decide(lines)
                    if not decision.refusals:
                        report = ledger.write(decision)
                finally:
                    ledger.close()
                if not decision.refusals:
                    break
                with pytest.raises(ImportRefused) as refused:
                    _streamed(streamed, path, **sizes)
                assert [(e.line, e.field) for e in refused.value.errors] == [
                    (n, r.field) for n, r in decision.refusals
                ]
                dropped = {n for n, _ in decision.refusals}
                lines = [line for line in lines if line[0] not in dropped]
                path = _file(path, lines, [], seed)
                lines, _ = read_touchpoints(path)
            result = _streamed(streamed, path, batch_events=batch_events, **sizes)
            assert (result.events, result.candidates, result.duplicates) == (
                report.events,
                report.candidates,
                len(lines) - report.events,
            )
        held = contents(streamed)
        assert held == contents(decided)
        assert held["events"]
        assert held["intact"]


def test_worker_processes_decide_what_one_process_decides(tmp_path: Path) -> None:
    data = tmp_path / "history.jsonl"
    generator.write_jsonl(data, candidates=80, seed=11)
    alone = Settings(db=tmp_path / "alone.db")
    together = Settings(db=tmp_path / "together.db")
    first = _streamed(alone, data, workers=0, partition_bytes=4_096)
    second = _streamed(together, data, workers=2, partition_bytes=4_096)
    assert first == second
    assert first.events > 500
    assert contents(alone) == contents(together)


def test_a_writer_that_gets_in_between_the_decision_and_the_write(tmp_path: Path) -> None:
    """Another process records one of the file's touchpoints after the import decided it: that
    batch is decided again, and the touchpoint is counted once, as a duplicate."""
    data = tmp_path / "history.jsonl"
    generator.write_jsonl(data, candidates=12, seed=3)
    lines, _ = read_touchpoints(data)
    registration = lines[0][1]
    later = min(
        (
            t
            for _, t in lines
            if t.candidate == registration.candidate and t.type == "outreach_sent"
        ),
        key=lambda touchpoint: touchpoint.occurred_at,
    )
    settings = Settings(db=tmp_path / "rapport.db")

    def meanwhile(_total: int) -> None:
        other = Ledger(settings)
        try:
            other.record(registration)
            other.record(later)
        finally:
            other.close()

    ledger = Ledger(settings)
    try:
        result = import_touchpoints(ledger, data, "jsonl", ALL_ROLES, on_total=meanwhile)
    finally:
        ledger.close()
    assert result.events == len(lines) - 2
    assert result.duplicates == 2
    held = contents(settings)
    assert held["intact"]
    assert len(held["events"]) == len(lines)
    theirs = [version for cid, version in held["events"] if cid == later.candidate_id.hex]
    assert sorted(theirs) == list(
        range(1, 1 + sum(t.candidate == later.candidate for _, t in lines))
    )


def test_an_import_removes_what_a_killed_import_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder whose importer is gone (``kill -9``) holds an export's personal data: the next
    import removes it, and leaves alone the folder of an import still running."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    ended = subprocess.Popen(["true"])  # a process that has ended: its pid names nobody
    ended.wait()
    left = temporary / "rapport-import-killed"
    left.mkdir()
    (left / "owner.pid").write_text(str(ended.pid))
    (left / "part-0000").write_bytes(b"personal data of an export")
    running = temporary / "rapport-import-running"
    running.mkdir()
    (running / "owner.pid").write_text(str(os.getpid()))
    data = tmp_path / "history.jsonl"
    generator.write_jsonl(data, candidates=3, seed=1)
    _streamed(Settings(db=tmp_path / "rapport.db"), data)
    assert not left.exists()
    assert running.exists()
    assert [p.name for p in temporary.iterdir()] == ["rapport-import-running"]
