"""The columnar copy answers every breakdown, funnel, candidate-experience figure, alert query
and pool match exactly as the views do, at the position it carries: copied whole, refreshed by the
candidates that changed, after a rebuild, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from itertools import combinations
from pathlib import Path
from typing import Any

from domain.policy import ContactPolicy
from infra.core.settings import Settings
from infra.read.alerts import count_open_alerts, open_alerts
from infra.read.columnar import ColumnarCopy
from infra.read.follower import Follower
from infra.read.matches import ranked
from infra.read.metrics import DIMENSIONS, candidate_experience, engagement_report, funnel
from infra.read.payoff import payoff_report, position_lines
from infra.read.read_side import all_projections
from infra.read.reader import Reader
from infra.read.reasons import reply_reasons
from infra.read.views import ViewStore
from infra.store.ledger import Ledger
from infra.synthetic.generator import DEFAULT_UNTIL
from projections.alerts import AlertsProjection
from projections.engagement import EngagementProjection
from projections.journey import JourneyProjection
from projections.matching import Opening, Weights
from projections.pool import PoolProjection
from projections.replies import RepliesProjection
from projections.requisitions import RequisitionsProjection
from tests.support.files import history, record_lines

DAY = 86_400.0
UNTIL = DEFAULT_UNTIL.timestamp()


def _answers(reader: Reader) -> dict[str, Any]:
    """Every question the dashboard and the API ask of the copy, on a few instants."""
    found: dict[str, Any] = {}
    pairs = [[name] for name in DIMENSIONS] + [list(p) for p in combinations(DIMENSIONS, 2)][:12]
    for as_of in (None, UNTIL - 200 * DAY, UNTIL - 30 * DAY):
        for by in [[], *pairs]:
            for window in (30.0, 3.0):
                key = f"engagement {by} {as_of} {window}"
                found[key] = [s.as_dict() for s in engagement_report(reader, by, as_of, window)]
        found[f"funnel {as_of}"] = [s.as_dict() for s in funnel(reader, as_of)]
        for by in ([], ["status", "role"]):
            found[f"reasons {as_of} {by}"] = [
                r.as_dict() for r in reply_reasons(reader, as_of or 2e9, by)
            ]
    for moment in (UNTIL, UNTIL - 120 * DAY):
        found[f"experience {moment}"] = candidate_experience(reader, moment).as_dict()
        found[f"alert counts {moment}"] = count_open_alerts(reader, moment)
        found[f"alerts by rec-01 {moment}"] = count_open_alerts(reader, moment, recruiter="rec-01")
        found[f"alerts {moment}"] = [
            asdict(a) for a in open_alerts(reader, moment, limit=50, offset=10)
        ]
        for by in ([], ["role"], ["recruiter", "client"]):
            report = payoff_report(reader, reader, as_of=moment, by=by)
            found[f"payoff {moment} {by}"] = report.as_dict()
        found[f"positions {moment}"] = [p.as_dict(moment) for p in position_lines(reader, moment)]
        for opening in OPENINGS:
            for include_past in (False, True):
                found[f"match {opening} {moment} {include_past}"] = ranked(
                    reader, "view_pool", opening, Weights(), moment, ContactPolicy(),
                    limit=40, include_past=include_past,
                )  # fmt: skip
    return found


COPIED = [EngagementProjection(), AlertsProjection(), PoolProjection(), RequisitionsProjection(),
          RepliesProjection(), JourneyProjection()]  # fmt: skip

OPENINGS = (
    Opening("REQ-9", "cra", ("oncology", "cardiology"), ("phase_ii",), ("gcp",), ("acrp_ccra",),
            "DE", False, 3),
    Opening("REQ-8", "crc", remote=True),
)  # fmt: skip


@contextmanager
def _views(settings: Settings) -> Iterator[tuple[Ledger, ViewStore, Follower]]:
    ledger, store = Ledger(settings), ViewStore(settings)
    try:
        yield ledger, store, Follower(ledger.ledger_recorder, store, all_projections())
    finally:
        store.close()
        ledger.close()


def test_the_copy_answers_as_the_views_do_at_its_position(
    settings: Settings, tmp_path: Path
) -> None:
    lines = history(400, seed=11, folder=tmp_path, positions=True)
    half = len(lines) // 2
    record_lines(settings, lines[:half])
    copy = ColumnarCopy(COPIED)
    try:
        with _views(settings) as (ledger, store, follower):
            follower.catch_up()
            assert copy.refresh(store, ledger.ledger_recorder)  # whole: nothing copied yet
            with copy.snapshot() as snapshot:
                assert _answers(snapshot) == _answers(store)
                at_half = snapshot.positions()
        record_lines(settings, lines[half:])
        with _views(settings) as (ledger, store, follower):
            with copy.snapshot() as before:
                follower.catch_up()
                # A snapshot taken before the views moved keeps answering at its position.
                assert before.positions() == at_half
                assert copy.refresh(store, ledger.ledger_recorder)  # only the changed candidates
                assert before.positions() == at_half
            with copy.snapshot() as snapshot:
                assert snapshot.positions() == _positions(store)
                assert _answers(snapshot) == _answers(store)
            assert not copy.refresh(store, ledger.ledger_recorder), "nothing new to copy"
            follower.rebuild()
            copy.refresh(store, ledger.ledger_recorder)
            with copy.snapshot() as snapshot:
                assert _answers(snapshot) == _answers(store)
    finally:
        copy.close()


def test_a_consumer_groups_views_are_copied_whole(settings: Settings, tmp_path: Path) -> None:
    """Without the ledger to say who changed, every refresh copies the tables whole."""
    lines = history(120, seed=12, folder=tmp_path)
    record_lines(settings, lines[:400])
    copy = ColumnarCopy(COPIED)
    try:
        with _views(settings) as (_, store, follower):
            follower.catch_up()
            copy.refresh(store)
        record_lines(settings, lines[400:])
        with _views(settings) as (_, store, follower):
            follower.catch_up()
            assert copy.refresh(store)
            with copy.snapshot() as snapshot:
                assert _answers(snapshot) == _answers(store)
    finally:
        copy.close()


def _positions(store: ViewStore) -> dict[str, tuple[int, int]]:
    rows = store.query("SELECT projection, version, position FROM view_positions")
    return {str(name): (int(version), int(position)) for name, version, position in rows}
