"""The projection machinery: exactly-once effects, concurrent followers, crashes, and the
promise that incremental processing and a full rebuild give identical views."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import psycopg
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from infra.core.settings import Settings
from infra.read.follower import Follower
from infra.read.read_side import all_projections
from infra.read.views import ViewStore, views_path
from infra.store.ledger import Ledger
from projections.base import CANDIDATE, POSITION, Column, Fact, State, Table, Upsert
from tests.support.files import dump, fill, store_env
from tests.support.stores import staged_tables


class CountingProjection:
    """Counts facts per stream (a candidate's or a position's: generated histories hold both):
    any double delivery would show."""

    name: ClassVar[str] = "counting"
    version: ClassVar[int] = 1
    streams: ClassVar[frozenset[str]] = frozenset({CANDIDATE, POSITION})
    tables: ClassVar[tuple[Table, ...]] = (
        Table(
            "view_counts",
            (Column("candidate_id", "TEXT"), Column("facts", "BIGINT")),
            key=("candidate_id",),
        ),
    )

    def apply(self, state: State, fact: Fact, out: list[Upsert]) -> None:
        state["facts"] = state.get("facts", 0) + 1
        out.append(
            Upsert("view_counts", {"candidate_id": fact.candidate_id, "facts": state["facts"]})
        )


def test_catching_up_twice_counts_nothing_twice(settings: Settings, tmp_path: Path) -> None:
    total = fill(settings, 40, seed=1, folder=tmp_path)
    ledger, store = Ledger(settings), ViewStore(settings)
    try:
        follower = Follower(ledger.recorder, store, [CountingProjection()], batch=97)
        assert follower.catch_up() == total
        assert follower.catch_up() == 0
        again = Follower(ledger.recorder, store, [CountingProjection()], batch=50)
        assert again.catch_up() == 0
        assert store.query("SELECT SUM(facts) FROM view_counts") == [(total,)]
    finally:
        store.close()
        ledger.close()


def test_two_followers_on_the_same_views_apply_each_fact_once(
    settings: Settings, tmp_path: Path
) -> None:
    total = fill(settings, 40, seed=2, folder=tmp_path)
    ledger, store_a, store_b = Ledger(settings), ViewStore(settings), ViewStore(settings)
    try:
        first = Follower(ledger.recorder, store_a, [CountingProjection()], batch=100)
        second = Follower(ledger.recorder, store_b, [CountingProjection()], batch=100)
        first.catch_up(until=total // 2)
        second.catch_up(until=total // 3)  # behind already: must notice and skip
        second.catch_up()
        first.catch_up()  # its cached states are stale: must notice and reload
        assert store_a.query("SELECT SUM(facts) FROM view_counts") == [(total,)]
    finally:
        store_a.close()
        store_b.close()
        ledger.close()


def test_kill_9_during_a_rebuild_leaves_the_views_as_they_were(
    settings: Settings, tmp_path: Path
) -> None:
    total = fill(settings, 1500, seed=3, folder=tmp_path)
    env = os.environ | store_env(settings) | {"RAPPORT_LOG_FORMAT": "json"}
    command = [sys.executable, "-m", "infra.cli", "rebuild"]
    killed = False
    for _ in range(3):
        before = _folded_until(settings, total // 2)
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        while process.poll() is None:
            if staged_tables(settings):
                process.send_signal(signal.SIGKILL)
                killed = True
                break
            time.sleep(0.002)
        process.wait()
        if killed:
            break
    assert killed, "the rebuild always finished before its staged tables were seen"
    # Killed while building aside: the views are as they were, at their position.
    assert _views_position(settings) == total // 2
    with ViewStore(settings) as store:
        assert dump(store, all_projections()) == before
    # Run again, it drops what the dead one left and builds what the fold builds.
    subprocess.run(command, env=env, check=True, capture_output=True)
    assert _views_position(settings) == total
    assert not staged_tables(settings)
    ledger, store = Ledger(settings), ViewStore(settings)
    try:
        rebuilt = dump(store, all_projections())
        Follower(ledger.ledger_recorder, store, all_projections()).fold_rebuild()
        assert dump(store, all_projections()) == rebuilt
    finally:
        store.close()
        ledger.close()


def _folded_until(settings: Settings, position: int) -> dict[str, list[tuple[object, ...]]]:
    """Views folded from scratch up to ``position``; their rows."""
    ledger, store = Ledger(settings), ViewStore(settings)
    try:
        follower = Follower(ledger.ledger_recorder, store, all_projections())
        for projection in follower.projections:
            store.drop(projection)
            store.create(projection)
        follower.engine.forget()
        follower.catch_up(until=position)
        return dump(store, all_projections())
    finally:
        store.close()
        ledger.close()


def _views_position(settings: Settings) -> int:
    """How far the slowest view has got, read straight from the database (0 while it is empty)."""
    query = "SELECT MIN(position) FROM view_positions"
    if settings.database_url:
        try:
            with psycopg.connect(
                settings.database_url, options=f"-c search_path={settings.database_schema}"
            ) as conn:
                row = conn.execute(query).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    else:
        try:
            with sqlite3.connect(views_path(settings.db), timeout=5) as conn:
                row = conn.execute(query).fetchone()
        except sqlite3.OperationalError:
            return 0
    return int(row[0] or 0) if row else 0


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 10_000),
    candidates=st.integers(1, 40),
    split=st.floats(0, 1),
    batch=st.integers(1, 300),
)
def test_incremental_processing_equals_a_full_rebuild(
    seed: int, candidates: int, split: float, batch: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(db=Path(folder) / "rapport.db")
        total = fill(settings, candidates, seed, Path(folder))
        ledger, store = Ledger(settings), ViewStore(settings)
        try:
            projections = all_projections()
            # Incrementally: in small batches up to a random point, then a restart.
            Follower(ledger.recorder, store, projections, batch=batch).catch_up(
                until=int(total * split)
            )
            Follower(ledger.recorder, store, all_projections(), batch=batch).catch_up()
            incremental = dump(store, projections)
            Follower(ledger.recorder, store, all_projections()).rebuild()
            assert dump(store, projections) == incremental
        finally:
            store.close()
            ledger.close()
