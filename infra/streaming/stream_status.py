"""What the streaming side looks like right now: topics, the relay's position, each group's lag.

A group's lag is read from the offsets its consumers commit to Kafka, which Rapport's consumers
keep as a hint next to the offsets in their views; for monitoring that is what it is for.

Offsets are not events. The relay writes in transactions, and each commit (or abort) leaves a
control record, a transaction marker, that takes an offset in every partition it wrote to but
that no consumer ever receives; compaction removes records without giving their offsets back.
So a topic's offsets held (end minus start) are at least its events, usually more; the relay's
published position (a ledger position) counts the events.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from kafka import TopicPartition
from kafka.admin import OffsetSpec

from infra.core.settings import Settings
from infra.streaming.relay_progress import published_positions
from infra.streaming.topics import Topics, admin_client


@dataclass
class TopicStatus:
    name: str
    partitions: int
    offsets: int
    """Offsets held: end minus start over the partitions, transaction markers included (so
    not a count of events; see the module's docstring)."""
    end_offsets: dict[int, int]


@dataclass
class GroupStatus:
    group: str
    state: str
    members: int
    lag: int
    lag_by_partition: dict[int, int]


@dataclass
class RelayStatus:
    ledger_position: int
    published_position: int | None
    """The lowest position published over the partitions (None: the relay never ran)."""
    behind: int


@dataclass
class StreamStatus:
    bootstrap: str
    topics: list[TopicStatus] = field(default_factory=list)
    groups: list[GroupStatus] = field(default_factory=list)
    relay: RelayStatus | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def stream_status(settings: Settings, ledger_position: int | None = None) -> StreamStatus:
    topics = Topics.of(settings)
    status = StreamStatus(settings.kafka_bootstrap)
    with admin_client(settings, timeout_ms=5_000) as admin:
        described = {t["name"]: t for t in admin.describe_topics(list(topics.all()))}
        ends: dict[str, dict[int, int]] = {}
        for name in topics.all():
            found = described.get(name)
            if not found or found.get("error_code"):
                continue
            partitions = [TopicPartition(name, p["partition_index"]) for p in found["partitions"]]
            latest = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.LATEST))
            earliest = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.EARLIEST))
            ends[name] = {tp.partition: latest[tp].offset for tp in partitions}
            held = sum(latest[tp].offset - earliest[tp].offset for tp in partitions)
            status.topics.append(TopicStatus(name, len(partitions), held, ends[name]))
        ours = f"{settings.kafka_topic_prefix}."
        groups = [g["group_id"] for g in admin.list_groups() if g["group_id"].startswith(ours)]
        if groups:
            committed = admin.list_group_offsets(groups)
            descriptions = admin.describe_groups(groups)
            for group in sorted(groups):
                offsets = {
                    tp.partition: meta.offset
                    for tp, meta in committed.get(group, {}).items()
                    if tp.topic == topics.touchpoints and meta.offset >= 0
                }
                if not offsets:
                    continue
                end = ends.get(topics.touchpoints, {})
                lag = {p: max(end.get(p, 0) - offsets.get(p, 0), 0) for p in end}
                description = descriptions.get(group, {})
                status.groups.append(
                    GroupStatus(
                        group.removeprefix(ours),
                        str(description.get("group_state", "?")),
                        len(description.get("members", ())),
                        sum(lag.values()),
                        lag,
                    )
                )
    if ledger_position is not None:
        published = published_positions(settings, topics.touchpoints)
        lowest = min(published.values()) if published else None
        status.relay = RelayStatus(ledger_position, lowest, max(ledger_position - (lowest or 0), 0))
    return status
