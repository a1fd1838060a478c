"""Feeding projections straight from the ledger (embedded mode), through the projection engine
(``infra.read.engine``); each projection's position is its own, in ``view_positions``.

The library's SQLite recorder cannot ``subscribe()``, so the follower reads the notification
log in batches from the position the views have reached and polls for more. Events are read as
JSON, not rebuilt into domain objects: projections only need the touchpoint's fields, and
skipping pydantic here is what makes a full rebuild fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import structlog

from infra.read.bulk import CHUNK, BulkRebuild, LedgerFacts
from infra.read.engine import CACHE_SIZE, ProjectionEngine, to_rebuild
from infra.read.stored_facts import to_fact
from infra.read.views import LEDGER_FOLLOWER, ViewMoved, ViewStore
from infra.store.recorder import LedgerRecorder
from projections.base import Fact, Projection

log = structlog.get_logger("rapport.follower")

BULK_FROM = 20_000
"""Events from which a view that starts from nothing is built in bulk, not folded."""

RETIRED_TABLES = ("view_journey_events",)
"""Tables views beside the ledger no longer keep: the journey timeline is read from the ledger
(a consumer group fed from a topic keeps it, in views of its own)."""


class Follower:
    """Brings every projection's view up to the ledger's last position."""

    def __init__(
        self,
        recorder: LedgerRecorder,
        store: ViewStore,
        projections: Sequence[Projection],
        *,
        batch: int = 10_000,
        bulk_from: int | None = BULK_FROM,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        """``bulk_from``: a view never built (or dropped for a new version) is built in bulk
        when the ledger holds at least this many events (None: always folded)."""
        self.recorder = recorder
        self.store = store
        self.projections = list(projections)
        self.batch = batch
        self.bulk_from = bulk_from
        self.engine = ProjectionEngine(
            store, self.projections, replay=self._replay, cache_size=cache_size
        )
        store.claim(LEDGER_FOLLOWER)
        store.retire(RETIRED_TABLES)
        built = {p.name: found[0] for p in self.projections if (found := store.position(p))}
        for projection in to_rebuild(self.projections, built, positions_shared=False):
            log.info("views.rebuild_needed", projection=projection.name)
            store.drop(projection)
        for projection in self.projections:
            store.create(projection)

    def positions(self) -> dict[str, int]:
        return {p.name: (self.store.position(p) or (0, 0))[1] for p in self.projections}

    def catch_up(
        self, on_progress: Callable[[int], None] | None = None, *, until: int | None = None
    ) -> int:
        """Process everything recorded so far (or up to position ``until``); returns the count."""
        applied = 0
        positions = self.positions()
        if until is None and self.bulk_from is not None and 0 in positions.values():
            applied = self._build_empty_views(on_progress)
            positions = self.positions()
        start = min(positions.values(), default=0) + 1
        while until is None or start <= until:
            rows = self.recorder.read_stored(start, self.batch, until)
            if not rows:
                return applied
            facts = [to_fact(row) for row in rows]
            for projection in self.projections:
                done = positions[projection.name]
                todo = [f for f in facts if f.position > done]
                if todo:
                    try:
                        self._apply(projection, done, todo)
                    except ViewMoved:
                        log.info("views.moved_by_another_follower", projection=projection.name)
                        return applied + self.catch_up(on_progress, until=until)
                    positions[projection.name] = todo[-1].position
            applied += len(facts)
            start = facts[-1].position + 1
            if on_progress:
                on_progress(len(facts))
        return applied

    def _build_empty_views(self, on_progress: Callable[[int], None] | None) -> int:
        """Views that start from nothing on a ledger of ``bulk_from`` events or more are built
        in bulk rather than folded fact by fact; returns the events read."""
        empty = self._empty()
        if not empty or (self.recorder.max_notification_id() or 0) < (self.bulk_from or 0):
            return 0
        self.engine.forget()
        return BulkRebuild(LedgerFacts(self.recorder), self.store).run(
            empty, still_needed=self._empty, on_progress=on_progress
        )

    def _empty(self) -> list[Projection]:
        return [p for p in self.projections if (self.store.position(p) or (0, 0))[1] == 0]

    def rebuild(
        self, on_progress: Callable[[int], None] | None = None, *, chunk: int = CHUNK
    ) -> int:
        """Build every view again from the first event, in bulk (``infra.read.bulk``, reading
        ``chunk`` events per step), and swap it in; then fold whatever was recorded meanwhile."""
        self.engine.forget()
        count = BulkRebuild(LedgerFacts(self.recorder, chunk=chunk), self.store).run(
            self.projections, on_progress=on_progress
        )
        return count + self.catch_up(on_progress)

    def fold_rebuild(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Drop every view and fold it again from the first event, batch by batch: the live
        path run over the whole ledger (what the bulk rebuild is checked against)."""
        for projection in self.projections:
            self.store.drop(projection)
            self.store.create(projection)
        self.engine.forget()
        with self.store.rebuilding():
            return self.catch_up(on_progress)

    def follow(self, poll_seconds: float = 0.05, stop: Callable[[], bool] = lambda: False) -> None:
        """Keep the views current until ``stop()`` says otherwise."""
        while not stop():
            if not self.catch_up():
                time.sleep(poll_seconds)

    def _replay(self, candidates: Sequence[str], stop: int) -> list[Fact]:
        return [to_fact(row) for row in self.recorder.read_stored_of(candidates, stop)]

    def _apply(self, projection: Projection, done: int, facts: list[Fact]) -> None:
        with self.engine.committing(projection):
            _, touched, rows = self.engine.fold(projection, facts, after=done)
            self.store.commit(projection, done, facts[-1].position, touched, rows)
