"""The projection engine: how facts become views, whatever feeds them.

The follower (facts read from the ledger) and the Kafka projection consumer (facts read from the
touchpoints topic) differ only in where facts come from and how their position is kept. What
they share lives here, once: each candidate's state cached between batches, the fold, forgetting
the cache whenever a commit fails (it may then be ahead of the views), and when a view is rebuilt
from scratch.

Where a state comes from when the cache misses depends on the source. Beside the ledger, it is
*replayed*: the candidate's events up to the view's position, folded again (a few dozen events,
read by the ledger's primary key), so nothing the ledger already holds is stored twice, a state
never goes stale on disk, and a view built set-based (``infra.read.bulk``), which has no states,
continues with the fold. A consumer group fed only by a topic replays from the timeline it keeps
(``infra.read.stream_views``); views without a timeline store each changed state with their rows
(``view_states``) and load it back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import islice

from infra.read.views import ViewStore
from projections.base import CANDIDATES, Fact, Projection, State, Upsert

Work = tuple[Projection, dict[str, State], list[Upsert]]
"""A projection, the states a batch changed (to store), and the rows to keep: what one commit
writes."""

CACHE_SIZE = 50_000
"""Candidates' states an engine keeps per projection by default."""

Replay = Callable[[Sequence[str], int], Sequence[Fact]]
"""These candidates' facts up to a position, in ledger order."""


def to_rebuild(
    projections: Sequence[Projection], built: Mapping[str, int], *, positions_shared: bool
) -> list[Projection]:
    """The views to rebuild from the start of their source: those built by another version of
    their projection; all of them when one position is shared by all (a consumer group's
    offsets), since no view can then start over alone."""
    stale = [p for p in projections if p.name in built and built[p.name] != p.version]
    return list(projections) if stale and positions_shared else stale


class ProjectionEngine:
    """Folds facts into every projection's state, through a per-projection cache."""

    def __init__(
        self,
        store: ViewStore,
        projections: Sequence[Projection],
        *,
        replay: Replay | None = None,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self.store = store
        self.projections = list(projections)
        self.replay = replay
        """Rebuilds states from the ledger; without it, states are stored with the views."""
        self.cache_size = cache_size
        """Candidates' states kept in memory per projection: those used longest ago are dropped
        first (replayed or loaded again when needed), so memory stays bounded however many
        candidates the ledger holds."""
        self._states: dict[str, dict[str, State]] = {p.name: {} for p in self.projections}

    def cached(self) -> int:
        """The most candidates one projection holds in memory (for the benchmarks)."""
        return max((len(states) for states in self._states.values()), default=0)

    def fold(self, projection: Projection, facts: Sequence[Fact], *, after: int = 0) -> Work:
        """Apply ``facts`` in order, each to its candidate's state; the states changed and the
        rows to keep (nothing is written). ``after`` is the position the view has folded so far
        (what a replayed state covers)."""
        rows: list[Upsert] = []
        wanted = getattr(projection, "streams", CANDIDATES)
        if any(fact.stream not in wanted for fact in facts):
            facts = [fact for fact in facts if fact.stream in wanted]
        if not getattr(projection, "stateful", True):
            for fact in facts:
                projection.apply({}, fact, rows)
            return projection, {}, rows
        states = self._states[projection.name]
        batch = {f.candidate_id: None for f in facts}
        missing = batch.keys() - states.keys()
        if missing:
            if self.replay is not None:
                states.update(self._replayed(projection, missing, after))
            else:
                states.update(self.store.load_states(projection, missing))
            for cid in missing - states.keys():
                states[cid] = {}
        for cid in batch:  # used now: the last to be dropped
            states[cid] = states.pop(cid)
        touched: dict[str, State] = {}
        stores_states = self.replay is None
        for fact in facts:
            state = states[fact.candidate_id]
            projection.apply(state, fact, rows)
            if stores_states:
                touched[fact.candidate_id] = state
        for cid in list(islice(states, max(0, len(states) - self.cache_size))):
            del states[cid]
        return projection, touched, rows

    def _replayed(
        self, projection: Projection, candidates: set[str], after: int
    ) -> dict[str, State]:
        """The states these candidates had at position ``after``: their facts folded again."""
        states: dict[str, State] = {}
        if after <= 0 or self.replay is None:
            return states
        discarded: list[Upsert] = []
        for fact in self.replay(sorted(candidates), after):
            projection.apply(states.setdefault(fact.candidate_id, {}), fact, discarded)
            discarded.clear()
        return states

    def fold_all(self, facts: Sequence[Fact], *, after: int = 0) -> list[Work]:
        return [self.fold(projection, facts, after=after) for projection in self.projections]

    def forget(self, projection: Projection | None = None) -> None:
        """Drop cached states (one projection's, or all): they may no longer match the views."""
        for name, states in self._states.items():
            if projection is None or name == projection.name:
                states.clear()

    @contextmanager
    def committing(self, projection: Projection | None = None) -> Iterator[None]:
        """Around a fold and its commit: if anything fails, the cache is forgotten."""
        try:
            yield
        except BaseException:
            self.forget(projection)
            raise
