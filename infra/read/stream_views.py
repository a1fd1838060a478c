"""Views fed from a Kafka topic: each partition's consumed offset commits with the view rows.

A consumer group's views keep, per partition of the touchpoints topic, the next offset to read
and the highest ledger position applied from it, in ``view_stream_offsets``, in the same
transaction as the rows and states those messages produced. So:

* a message delivered again (after a crash or a rebalance) is below the stored offset: skipped;
* a copy the relay sent again (after its own crash) has a ledger position at or below the one
  stored for its partition: skipped;
* Kafka's own committed offsets are only a hint for monitoring; these rows are the truth.

Two consumers that both believe they own a partition (a rebalance in flight, a paused process)
cannot both write: each update of a partition's row checks the offset it started from, and the
second writer's transaction fails (``PartitionMoved``) and it reloads.

A group that keeps the timeline (``TimelineProjection``, every fact without personal data) stores
no per-candidate state: like the follower beside the ledger, it replays a candidate's facts from
that timeline when its fold needs a state it has not cached. The timeline commits with every other
view, so it holds exactly the facts the states would have covered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from infra.read.engine import Replay, Work, to_rebuild
from infra.read.views import ViewStore
from projections.base import Fact, Projection
from projections.journey import TIMELINE, TimelineProjection

OFFSETS = "view_stream_offsets"
_CHUNK = 500
"""Candidates per replay query."""
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {OFFSETS} (topic TEXT NOT NULL, partition INTEGER NOT NULL,"
    " next_offset BIGINT NOT NULL, position BIGINT NOT NULL, PRIMARY KEY (topic, partition))"
)


class PartitionMoved(Exception):
    """Another consumer wrote this partition's progress meanwhile: nothing of the batch was kept."""


@dataclass(frozen=True, slots=True)
class PartitionProgress:
    next_offset: int
    """The next offset to read."""
    position: int
    """The highest ledger position applied from this partition."""


@dataclass(frozen=True, slots=True)
class PartitionAdvance:
    partition: int
    before: PartitionProgress | None
    """What the batch started from (None: the partition had no row yet)."""
    after: PartitionProgress


def group_owner(group: str, topic: str) -> str:
    return f"consumer group {group} reading {topic}"


class StreamViews:
    """One consumer group's views over one topic."""

    def __init__(
        self, store: ViewStore, projections: Sequence[Projection], group: str, topic: str
    ) -> None:
        self.store = store
        self.projections = list(projections)
        self.group = group
        self.topic = topic

    def prepare(self) -> None:
        """Create what is missing; if any projection's version changed, start every view (and
        every partition's offset) from scratch: offsets are shared by all the projections."""
        store = self.store
        store.claim(group_owner(self.group, self.topic))
        with store.transaction() as cur:
            store.serialise_schema_changes(cur)
            cur.execute(_CREATE)
            cur.execute("SELECT projection, version FROM view_positions")
            built = {name: int(version) for name, version in cur.fetchall()}
            if to_rebuild(self.projections, built, positions_shared=True):
                for projection in self.projections:
                    for table in projection.tables:
                        cur.execute(f"DROP TABLE IF EXISTS {table.name}")
                cur.execute("DELETE FROM view_states")
                cur.execute("DELETE FROM view_positions")
                cur.execute(f"DELETE FROM {OFFSETS}")
            if self.replays_states():
                cur.execute("DELETE FROM view_states")  # kept by an earlier Rapport: unused now
        for projection in self.projections:
            store.create(projection)

    def replays_states(self) -> bool:
        """Whether the group keeps the timeline, and so replays states instead of storing them."""
        return any(p.name == TimelineProjection.name for p in self.projections)

    def replay(self) -> Replay | None:
        """Where the fold finds a state it has not cached (None: stored with the views)."""
        return self._replayed if self.replays_states() else None

    def _replayed(self, candidates: Sequence[str], stop: int) -> list[Fact]:
        """These candidates' facts in the timeline up to position ``stop``, in ledger order."""
        facts: list[Fact] = []
        for i in range(0, len(candidates), _CHUNK):
            chunk = candidates[i : i + _CHUNK]
            rows = self.store.query(
                "SELECT position, candidate_id, version, type, occurred_at, recorded_at, data"
                f" FROM {TIMELINE} WHERE candidate_id IN ({','.join('?' * len(chunk))})"
                " AND position <= ? ORDER BY candidate_id, version",
                (*chunk, stop),
            )
            facts.extend(
                Fact(int(at), cid, int(version), kind, happened, recorded, orjson.loads(data))
                for at, cid, version, kind, happened, recorded, data in rows
            )
        return facts

    def progress(self) -> dict[int, PartitionProgress]:
        rows = self.store.query(
            f"SELECT partition, next_offset, position FROM {OFFSETS} WHERE topic = ?",
            (self.topic,),
        )
        return {int(p): PartitionProgress(int(offset), int(pos)) for p, offset, pos in rows}

    def record_start(self, cur: Any, progress: dict[int, PartitionProgress]) -> None:
        """Every partition's offset after a first catch-up in bulk, inside the transaction that
        swaps its views in: refused (``PartitionMoved``) if a member wrote one meanwhile."""
        store = self.store
        cur.execute(store.sql(f"SELECT COUNT(*) FROM {OFFSETS} WHERE topic = ?"), (self.topic,))
        if cur.fetchone()[0]:
            raise PartitionMoved(f"a member of {self.group} started folding {self.topic} meanwhile")
        cur.executemany(
            store.sql(f"INSERT INTO {OFFSETS} VALUES (?, ?, ?, ?)"),
            [
                (self.topic, partition, at.next_offset, at.position)
                for partition, at in sorted(progress.items())
            ],
        )

    def commit(self, work: Sequence[Work], advances: Sequence[PartitionAdvance]) -> None:
        """The partitions' new offsets, then every projection's rows and states: all or nothing.

        The offsets are written first, so on PostgreSQL a second consumer of the same partition
        waits on the row lock and then finds the offset moved.
        """
        store = self.store
        highest = max((a.after.position for a in advances), default=0)
        with store.transaction() as cur:
            for advance in sorted(advances, key=lambda a: a.partition):
                after, before = advance.after, advance.before
                if before is None:
                    cur.execute(
                        store.sql(
                            f"INSERT INTO {OFFSETS} VALUES (?, ?, ?, ?)"
                            " ON CONFLICT (topic, partition) DO NOTHING"
                        ),
                        (self.topic, advance.partition, after.next_offset, after.position),
                    )
                else:
                    cur.execute(
                        store.sql(
                            f"UPDATE {OFFSETS} SET next_offset = ?, position = ?"
                            " WHERE topic = ? AND partition = ? AND next_offset = ?"
                        ),
                        (
                            after.next_offset,
                            after.position,
                            self.topic,
                            advance.partition,
                            before.next_offset,
                        ),
                    )
                if cur.rowcount != 1:
                    raise PartitionMoved(
                        f"partition {advance.partition} of {self.topic} was advanced by another"
                        " consumer"
                    )
            for projection, states, rows in work:
                store.write(cur, projection, states, rows)
            greatest = "GREATEST" if store.is_postgres else "MAX"
            cur.executemany(
                store.sql(
                    f"UPDATE view_positions SET position = {greatest}(position, ?)"
                    " WHERE projection = ?"
                ),
                [(highest, p.name) for p in sorted(self.projections, key=lambda p: p.name)],
            )
