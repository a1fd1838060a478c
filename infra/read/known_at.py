"""The views as they were *known* at an instant: built again from the events recorded by then.

Why: an import or a late reply restates the past (documented, and correct by when things
happened), so "what did Rapport show on 1 March?" cannot be read from today's views. Every
stored event keeps when it was recorded, so the views of that day are the bulk rebuild of the
events recorded by then, into a scratch SQLite file that lives as long as the question. The
same query functions then answer from it, ``as_of`` included. Beside the ledger the events are
the ledger's; a consumer group without a ledger reads its own timeline (``view_journey_events``,
which keeps each fact's recorded time), so a group that does not keep one cannot answer.

It reads every event once: an auditor's question, seconds per million events, not a dashboard's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from infra.core.settings import Settings
from infra.read.bulk import BulkRebuild, DecodedFacts, LedgerFacts
from infra.read.read_side import current_views, deployed_projections
from infra.read.views import ViewStore
from projections.base import Fact
from projections.journey import TIMELINE, TimelineProjection

_CHUNK = 20_000


class CannotTell(LookupError):
    """These views cannot say what was known at an instant (a group without its timeline)."""


class _LedgerKnownAt(LedgerFacts):
    """The ledger's events recorded by ``known_at`` (the rest are read and left out)."""

    def __init__(self, recorder: Any, known_at: float) -> None:
        super().__init__(recorder)
        self.known_at = known_at

    def loading(self, *, with_data: bool) -> str:
        return (
            super().loading(with_data=with_data)
            + f" AND epoch_us(e.timestamp::TIMESTAMPTZ) / 1e6 <= {self.known_at!r}"
        )

    def positions(self) -> Sequence[Fact]:
        return [f for f in super().positions() if f.recorded_at <= self.known_at]


class _TimelineKnownAt:
    """A consumer group's facts recorded by ``known_at``, read back from its timeline."""

    exact_data = True

    def __init__(self, views: ViewStore, known_at: float) -> None:
        self.views, self.known_at = views, known_at
        self.until = 0

    def start(self) -> None:
        (found,) = self.views.query(
            f"SELECT COALESCE(MAX(position), 0) FROM {TIMELINE} WHERE recorded_at <= ?",
            (self.known_at,),
        )
        self.until = int(found[0])

    def loading(self, *, with_data: bool) -> str:
        return DecodedFacts.LOADING

    def chunks(self) -> Iterator[pa.Table]:
        # Read on the bulk build's own thread: a connection of its own (SQLite's are per thread).
        with ViewStore(self.views.settings) as views:
            yield from self._chunks(views)

    def _chunks(self, views: ViewStore) -> Iterator[pa.Table]:
        after = 0
        while True:
            rows = views.query(
                "SELECT position, candidate_id, version, occurred_at, recorded_at, data"
                f" FROM {TIMELINE} WHERE position > ? AND recorded_at <= ?"
                " ORDER BY position LIMIT ?",
                (after, self.known_at, _CHUNK),
            )
            if not rows:
                return
            columns = list(zip(*rows, strict=True))
            yield pa.table(
                {
                    "position": pa.array(columns[0], pa.int64()),
                    "candidate_id": pa.array(columns[1], pa.string()),
                    "version": pa.array(columns[2], pa.int64()),
                    "happened": pa.array(columns[3], pa.float64()),
                    "recorded_at": pa.array(columns[4], pa.float64()),
                    "data": pa.array(columns[5], pa.string()),
                }
            )
            after = int(rows[-1][0])

    def position(self) -> int:
        return self.until

    def record(self, cur: Any) -> None:
        pass

    def positions(self) -> Sequence[Fact]:
        return ()


@contextmanager
def views_known_at(settings: Settings, views: ViewStore, known_at: float) -> Iterator[ViewStore]:
    """Views built from the events recorded by ``known_at`` (beside the ledger: the ledger's;
    for a consumer group: its timeline's), in a scratch file removed afterwards."""
    if views.ledger is None and not _keeps_timeline(views):
        raise CannotTell(
            "these views keep no timeline, so they cannot tell what was known at an earlier"
            " instant (a consumer group started with --timeline can)"
        )
    with tempfile.TemporaryDirectory(prefix="rapport-known-at-") as folder:
        scratch = Settings(
            db=Path(folder) / "known-at.db",
            views_db=Path(folder) / "known-at.views.db",
            database_url=None,
            alert_rules=settings.alert_rules,
        )
        with ViewStore(scratch, ledger=views.ledger) as known:
            source = (
                _TimelineKnownAt(views, known_at)
                if views.ledger is None
                else _LedgerKnownAt(views.ledger, known_at)
            )
            BulkRebuild(source, known).run(deployed_projections(scratch))
            yield known


def _keeps_timeline(views: ViewStore) -> bool:
    return bool(
        views.query("SELECT 1 FROM view_positions WHERE projection = ?", (TimelineProjection.name,))
    )


@contextmanager
def answering_views(
    settings: Settings, group: str | None, known_at: float | None
) -> Iterator[ViewStore]:
    """The views a report reads: the current ones (``read_side.current_views``), or, with
    ``known_at``, those built from what had been recorded by then."""
    with current_views(settings, group) as store:
        if known_at is None:
            yield store
            return
        with views_known_at(settings, store, known_at) as known:
            yield known
