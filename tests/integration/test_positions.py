"""Positions in the ledger, on both stores: their own streams beside the candidates', the same
deduplication, refusals and ordering, and nothing about them in a candidate's views."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from domain.access import UserRole
from domain.position import Position, PositionStatus
from domain.position_facts import PositionFact, position_id
from domain.refusals import PositionNotOpen, UnknownPosition
from infra.cli.app import app
from infra.compliance.audit import verify
from infra.core.settings import Settings
from infra.intake.file_import import ImportRefused, import_touchpoints
from infra.intake.importing import read_touchpoints
from infra.read.follower import Follower
from infra.read.read_side import all_projections
from infra.read.views import ViewStore
from infra.store.ledger import Duplicate, Ledger, Line, Recorded
from projections.requisitions import REQUISITIONS
from projections.summary import LedgerSummary
from tests.support.builders import at, pf, tp
from tests.support.files import dump, history, record_lines, store_env, write_jsonl
from tests.support.stores import fresh_settings


def test_a_position_is_recorded_in_its_own_stream(ledger: Ledger) -> None:
    ledger.record(tp("candidate_registered"))
    opened = ledger.record(pf("position_opened", when=at(days=1)))
    updated = ledger.record(pf("position_updated", when=at(days=2), min_years=4))
    assert isinstance(opened, Recorded) and isinstance(updated, Recorded)
    assert (opened.position, updated.position) == (2, 3)
    assert opened.candidate_id == position_id("REQ-1") and updated.version == 2
    position = ledger.repository.get(position_id("REQ-1"))
    assert isinstance(position, Position) and position.spec is not None
    assert position.spec.min_years == 4
    assert [type(e).__name__ for e in ledger.history()] == [
        "Registered",
        "Opened",
        "PositionFactRecorded",
    ]


def test_a_position_fact_twice_is_a_duplicate_and_an_unknown_position_is_refused(
    ledger: Ledger,
) -> None:
    with pytest.raises(UnknownPosition):
        ledger.record(pf("position_closed", position="REQ-404"))
    ledger.record(pf("position_opened", source_id="bh-1"))
    assert ledger.record(pf("position_opened", source_id="bh-1")) == Duplicate("position-src:bh-1")
    ledger.record(pf("position_filled", when=at(days=9)))
    with pytest.raises(PositionNotOpen):
        ledger.record(pf("position_updated", when=at(days=10)))
    assert ledger.position() == 2
    refused = ledger.ledger_recorder.refusals()  # type: ignore[attr-defined]
    assert [(r.code, r.type, r.candidate) for r in refused] == [
        ("unknown_position", "position_closed", ""),
        ("position_not_open", "position_updated", ""),
    ]


def test_a_batch_orders_each_positions_facts_as_they_happened(ledger: Ledger) -> None:
    lines = [
        (1, pf("position_opened", when=at(days=20), min_years=1)),  # reopened
        (2, pf("position_closed", when=at(days=10), reason="on_hold")),
        (3, pf("position_opened")),
        (4, tp("candidate_registered")),
        (5, pf("position_opened", position="REQ-2")),
    ]
    decision = ledger.decide(lines)
    assert not decision.refusals
    report = ledger.write(decision)
    assert report.events == 5
    position = ledger.repository.get(position_id("REQ-1"))
    assert isinstance(position, Position)
    assert position.status is PositionStatus.OPEN and position.version == 3
    assert ledger.recorder.candidate_key(position_id("REQ-1")) is None  # type: ignore[attr-defined]


IMPORTER = frozenset({UserRole.RECRUITER})
runner = CliRunner()


def _positions_among(lines: list[Line]) -> list[Line]:
    """Position facts for every requisition the history's touchpoints name, with one closed and
    opened again, numbered after the history's lines."""
    named = sorted({t.position for _, t in lines if isinstance(getattr(t, "position", None), str)})
    facts: list[PositionFact] = []
    for requisition in named:
        facts.append(pf("position_opened", position=requisition, when=at(days=-30)))
        facts.append(pf("position_updated", position=requisition, when=at(days=-20)))
    facts += [
        pf("position_closed", position=named[0], when=at(days=-10), reason="on_hold"),
        pf("position_opened", position=named[0], when=at(days=-5), remote=True),
    ]
    return [(len(lines) + n, fact) for n, fact in enumerate(facts, start=1)]


def test_positions_leave_every_candidate_view_as_it_was(settings: Settings, tmp_path: Path) -> None:
    """Only the requisitions view sees a position's facts: it lists each position as its stream
    left it, folded or rebuilt in bulk alike."""
    lines = history(25, seed=11, folder=tmp_path)
    positions = _positions_among(lines)
    half = len(lines) // 2
    with fresh_settings("sqlite") as alone:  # the same candidates, in the same imports
        record_lines(alone, lines[:half])
        record_lines(alone, lines[half:])
        with ViewStore(alone) as store, Ledger(alone) as ledger:
            Follower(ledger.ledger_recorder, store, all_projections()).fold_rebuild()
            expected = dump(store, all_projections())
            assert expected.pop(REQUISITIONS.name) == []
            numbered_alone = _numbering(ledger)
    record_lines(settings, positions[:3] + lines[:half] + positions[3:-2])
    record_lines(settings, lines[half:] + positions[-2:])
    with ViewStore(settings) as store, Ledger(settings) as ledger:
        # The ledger positions the views name, renumbered as the ledger without positions has them
        renumber = {
            p: numbered_alone[event]
            for event, p in _numbering(ledger).items()
            if event in numbered_alone
        }
        follower = Follower(ledger.ledger_recorder, store, all_projections(), batch=7)
        follower.fold_rebuild()
        folded = _renumbered(dump(store, all_projections()), renumber)
        requisitions = folded.pop(REQUISITIONS.name)
        assert folded == expected
        opened = {fact.position for _, fact in positions}
        assert {row[0] for row in requisitions} == opened
        reopened = next(row for row in requisitions if row[0] == positions[-1][1].position)
        first_opened = datetime.fromisoformat(at(days=-30)).timestamp()
        assert reopened[5:] == ("open", first_opened, None, None)
        assert set(follower.positions().values()) == {ledger.position()}
        assert follower.catch_up() == 0  # nothing left to read: no busy loop on positions
        follower.rebuild()
        rebuilt = _renumbered(dump(store, all_projections()), renumber)
        assert rebuilt.pop(REQUISITIONS.name) == requisitions
        assert rebuilt == expected
        assert verify(ledger).intact
        summary = LedgerSummary()
        for event in ledger.history():
            summary.apply(event)
        assert summary.events == len(lines)
        assert summary.positions_by_type["position_opened"] == len(positions) // 2
        counts = ledger.ledger_recorder.type_counts(0, ledger.position())
        assert counts["position_updated"] == len(positions) // 2 - 1
        assert sum(counts.values()) == ledger.position()


def _numbering(ledger: Ledger) -> dict[tuple[str, int], int]:
    """Each candidate event's ledger position, by (candidate id, version)."""
    rows = ledger.ledger_recorder.read_stored(1, 1_000_000)
    return {(r.candidate_id, r.version): r.position for r in rows}


def _renumbered(tables: dict[str, list[tuple[Any, ...]]], renumber: dict[int, int]) -> Any:
    """The views with every ledger position they hold translated by ``renumber``."""
    result = {}
    for projection in all_projections():
        for table in projection.tables:
            numbered = [
                i
                for i, column in enumerate(table.columns)
                if column.name.endswith("position") and column.type == "BIGINT"
            ]
            rows = [
                tuple(
                    renumber.get(value, value) if i in numbered else value
                    for i, value in enumerate(row)
                )
                for row in tables[table.name]
            ]
            keys = [table.column_names.index(name) for name in table.key]
            result[table.name] = sorted(rows, key=lambda row: [row[i] for i in keys])
    return result


def test_an_import_file_holds_positions_beside_touchpoints(
    settings: Settings, tmp_path: Path
) -> None:
    """Positions' lines are decided apart and written first; a refused one stops the whole
    file; a CSV cell lists with ``;`` as for touchpoints; a second run finds duplicates."""
    lines = [
        {"type": "candidate_registered", "candidate": "C-1", "occurred_at": at(), "role": "cra",
         "status": "passive", "personal": {"name": "Ada Okafor"}},
        {"type": "shortlisted", "candidate": "C-1", "occurred_at": at(days=3),
         "position": "REQ-9", "recruiter": "rec-1"},
        {"type": "position_opened", "position": "REQ-9", "occurred_at": at(days=1),
         "title": "CRA II", "role": "cra", "remote": True, "recruiter": "rec-1",
         "source_id": "bh-9"},
        {"type": "position_filled", "position": "REQ-9", "occurred_at": at(days=9),
         "candidate": "C-1", "recruiter": "rec-1"},
    ]  # fmt: skip
    path = write_jsonl(tmp_path / "mixed.jsonl", lines)
    with Ledger(settings) as ledger:
        result = import_touchpoints(ledger, path, "auto", IMPORTER)
        assert (result.events, result.candidates, result.positions) == (4, 1, 1)
        assert [type(e).__name__ for e in ledger.history()][:2] == [
            "Opened",
            "PositionFactRecorded",
        ]
        again = import_touchpoints(ledger, path, "auto", IMPORTER)
        assert (again.events, again.duplicates) == (0, 4)
        refused = write_jsonl(
            tmp_path / "refused.jsonl",
            [
                {**lines[0], "candidate": "C-2"},
                {"type": "position_updated", "position": "REQ-9", "occurred_at": at(days=10),
                 "min_years": 2},
            ],
        )  # fmt: skip
        with pytest.raises(ImportRefused) as stopped:
            import_touchpoints(ledger, refused, "auto", IMPORTER)
        (error,) = stopped.value.errors
        assert (error.line, error.field) == (2, "position")
        assert "position_not_open" in error.message
        assert ledger.position() == 4  # C-2 was not written either
    csv = tmp_path / "positions.csv"
    csv.write_text(
        "type,position,occurred_at,title,role,therapeutic_areas,country,recruiter\n"
        f"position_opened,REQ-C,{at()},Data manager,data_manager,oncology;rare_disease,FR,rec-2\n"
        f"position_updated,REQ-C,{at(days=1)},,,oncology,,rec-2\n"
    )
    with Ledger(settings) as ledger:
        import_touchpoints(ledger, csv, "auto", IMPORTER)
        position = ledger.repository.get(position_id("REQ-C"))
        assert position.spec.therapeutic_areas == ["oncology"]


def test_an_invalid_position_line_names_its_field(tmp_path: Path) -> None:
    bad = write_jsonl(
        tmp_path / "bad.jsonl",
        [{"type": "position_opened", "position": "REQ-1", "occurred_at": at(), "title": "CRA",
          "role": "cra", "recruiter": "rec-1", "min_years": -1, "remote": True}],
    )  # fmt: skip
    lines, errors = read_touchpoints(bad)
    assert lines == []
    assert [(e.line, e.field) for e in errors] == [(1, "min_years")]


def test_an_import_names_the_positions_its_touchpoints_refer_to_that_were_never_opened(
    tmp_path: Path,
) -> None:
    settings = Settings(db=tmp_path / "rapport.db")
    lines = [
        {"type": "candidate_registered", "candidate": "C-1", "occurred_at": at(), "role": "cra",
         "status": "active", "personal": {"name": "Ada Okafor"}},
        {"type": "application_submitted", "candidate": "C-1", "occurred_at": at(days=1),
         "position": "REQ-OLD"},
        {"type": "shortlisted", "candidate": "C-1", "occurred_at": at(days=2),
         "position": "REQ-NEW", "recruiter": "rec-1"},
        {"type": "position_opened", "position": "REQ-NEW", "occurred_at": at(),
         "title": "CRA", "role": "cra", "remote": True, "recruiter": "rec-1"},
    ]  # fmt: skip
    path = write_jsonl(tmp_path / "old.jsonl", lines)
    dry = runner.invoke(app, ["import", str(path), "--dry-run"], env=store_env(settings))
    assert dry.exit_code == 0, dry.output
    assert "1 position(s) named by touchpoints were never opened" in dry.stderr
    assert "REQ-OLD" in dry.stderr and "REQ-NEW" not in dry.stderr
    done = runner.invoke(app, ["import", str(path)], env=store_env(settings))
    assert done.exit_code == 0, done.output
    assert "for 1 candidate(s) and 1 position(s)" in done.stdout
    assert "REQ-OLD" in done.stderr
