"""The bulk rebuild (set-based SQL; the alerts of candidates with a back-dated fact folded a
candidate at a time) gives exactly the views of the fact-by-fact fold, and the fold continues
from a bulk-built view as from its own: on hypothesis histories delivered in several imports (so
facts arrive back-dated and interleaved), with opt-outs, consent given again and erasures, under
drawn alert rules, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from infra.core.settings import Settings
from infra.read import set_based_alerts
from infra.read.bulk import BulkRebuild, LedgerFacts
from infra.read.follower import Follower
from infra.read.read_side import all_projections
from infra.read.views import ViewStore
from infra.store.ledger import Ledger
from projections.alert_rules import AlertRules
from tests.support.drawn_histories import bulk_and_fold_draws, deliveries, record_accepted
from tests.support.files import dump, fill
from tests.support.stores import fresh_settings


@contextmanager
def _views(settings: Settings) -> Iterator[tuple[Ledger, ViewStore]]:
    ledger, store = Ledger(settings), ViewStore(settings)
    try:
        yield ledger, store
    finally:
        store.close()
        ledger.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
@bulk_and_fold_draws(max_examples=30)
def test_a_bulk_rebuild_equals_the_fold_and_the_fold_continues_from_it(
    kind: str,
    events: list[tuple[int, str, int, int, int]],
    bulk_after: int,
    batch: int,
    cache: int,
    rules: AlertRules,
) -> None:
    """``cache``: how many candidates' states the fold keeps in memory; the others are replayed
    from the ledger when their next fact comes."""
    imports = deliveries(events)
    with fresh_settings(kind) as settings:
        for number, lines in enumerate(imports, start=1):
            record_accepted(settings, lines)
            if number == bulk_after:
                # Built in bulk part way; the rest folded later by a new follower, whose empty
                # cache must replay what the bulk build saw.
                with _views(settings) as (ledger, store):
                    Follower(ledger.ledger_recorder, store, all_projections(rules)).rebuild()
        with _views(settings) as (ledger, store):
            Follower(
                ledger.ledger_recorder, store, all_projections(rules), batch=batch, cache_size=cache
            ).catch_up()
            continued = dump(store, all_projections(rules))
            follower = Follower(
                ledger.ledger_recorder, store, all_projections(rules), batch=batch, cache_size=cache
            )
            follower.fold_rebuild()
            folded = dump(store, all_projections(rules))
            follower.rebuild()
            assert dump(store, all_projections(rules)) == folded
            assert continued == folded


def test_a_rebuild_that_dies_before_the_swap_leaves_the_old_views(tmp_path: Path) -> None:
    settings = Settings(db=tmp_path / "rapport.db")
    fill(settings, 30, seed=5, folder=tmp_path)
    with _views(settings) as (ledger, store):
        follower = Follower(ledger.ledger_recorder, store, all_projections())
        follower.catch_up()
        before = dump(store, all_projections())
        position = follower.positions()

        class Crash(RuntimeError):
            pass

        def crash(*_args: object, **_kwargs: object) -> None:
            raise Crash

        with ViewStore(settings) as dying:
            dying.swap = crash  # type: ignore[method-assign]
            with pytest.raises(Crash):
                BulkRebuild(LedgerFacts(ledger.ledger_recorder), dying).run(all_projections())
        assert dump(store, all_projections()) == before
        assert follower.positions() == position
        staged = sqlite3.connect(store.path).execute(  # type: ignore[arg-type]
            "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE '%\\_\\_next' ESCAPE '\\'"
        )
        assert staged.fetchone()[0] > 0, "the staged tables are left for the next run to drop"
        Follower(ledger.ledger_recorder, store, all_projections()).rebuild()
        assert dump(store, all_projections()) == before


def test_a_statement_that_fails_ahead_fails_the_rebuild_and_leaves_the_old_views(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statements are computed on a thread ahead of the writing: a failure there reaches
    the rebuild, which stops its thread and swaps nothing in."""
    settings = Settings(db=tmp_path / "rapport.db")
    fill(settings, 30, seed=6, folder=tmp_path)
    with _views(settings) as (ledger, store):
        follower = Follower(ledger.ledger_recorder, store, all_projections())
        follower.catch_up()
        before, position = dump(store, all_projections()), follower.positions()
        monkeypatch.setattr(
            set_based_alerts, "alert_episodes", lambda _projection: "SELECT no_such_column"
        )
        threads = threading.active_count()
        with pytest.raises(duckdb.Error, match="no_such_column"):
            BulkRebuild(LedgerFacts(ledger.ledger_recorder), store).run(all_projections())
        assert threading.active_count() == threads
        assert dump(store, all_projections()) == before
        assert follower.positions() == position


def test_two_rebuilds_at_once_take_turns_and_agree(settings: Settings, tmp_path: Path) -> None:
    """Two processes rebuilding the same views at once (say, two operators): the second waits
    for the first, then builds again; neither sees the other's half-staged tables."""
    fill(settings, 60, seed=7, folder=tmp_path)
    with _views(settings) as (ledger, store):
        follower = Follower(ledger.ledger_recorder, store, all_projections())
        follower.fold_rebuild()
        expected = dump(store, all_projections())
    failures: list[BaseException] = []

    def rebuild() -> None:
        try:
            with _views(settings) as (ledger, store):
                Follower(ledger.ledger_recorder, store, all_projections()).rebuild()
        except BaseException as failure:  # reported by the main thread
            failures.append(failure)

    threads = [threading.Thread(target=rebuild) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not failures
    with _views(settings) as (_, store):
        assert dump(store, all_projections()) == expected


def test_views_that_start_from_nothing_are_built_in_bulk(
    settings: Settings, tmp_path: Path
) -> None:
    """A first catch-up (or one after a projection's version changed) on a large ledger builds in
    bulk, then folds what comes next, with the fold's rows."""
    total = fill(settings, 40, seed=9, folder=tmp_path)
    with _views(settings) as (ledger, store):
        follower = Follower(ledger.ledger_recorder, store, all_projections(), bulk_from=1)
        assert follower.catch_up() == total
        assert set(follower.positions().values()) == {total}
        assert follower.engine.cached() == 0, "folded fact by fact: no state was needed in bulk"
        built = dump(store, all_projections())
        follower.fold_rebuild()
        assert dump(store, all_projections()) == built
