"""Prometheus metrics of ``rapport serve`` (``prometheus_client``).

The figures are read from the store when scraped, at most every ``REFRESH_SECONDS`` (the
business ones too: settled engagement by personalization and status), plus a latency histogram
of every request. The events by type are counted by the ledger's database
once, then only for the events recorded since (a consumer group's server counts its timeline
view instead).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from infra.read.alerts import count_open_alerts
from infra.read.metrics import Segment, engagement_report
from infra.read.read_side import all_projections
from projections.journey import TIMELINE

if TYPE_CHECKING:
    from infra.http.state import ServerState

REFRESH_SECONDS = 10.0

REGISTRY = CollectorRegistry()
request_seconds = Histogram(
    "rapport_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and status.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)


class _Requests:
    """The process-wide request histogram, collected with a server's own figures."""

    def collect(self) -> Iterator[Metric]:
        return REGISTRY.collect()

    def describe(self) -> Iterator[Metric]:
        return iter(())


class RapportCollector:
    """Ledger, projection, relay, consumer-group and alert figures, refreshed on scrape."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._families: list[Metric] = []
        self._read_at = 0.0
        self._types: Counter[str] = Counter()
        self._types_until = 0
        self._registry = CollectorRegistry()
        self._registry.register(self)
        self._registry.register(_Requests())

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """(body, content type) in the format ``prometheus_client`` chooses for the Accept
        header: OpenMetrics when asked for (one ``# EOF``: both registries in one), the text
        format otherwise."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self._registry), content_type

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if time.monotonic() - self._read_at > REFRESH_SECONDS or not self._families:
                self._families = self._read()
                self._read_at = time.monotonic()
            yield from self._families

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def _read(self) -> list[Metric]:
        state = self.state
        store = state.views()
        ledger = state.ledger.position()
        size = GaugeMetricFamily("rapport_ledger_events", "Events recorded in the ledger.")
        size.add_metric([], ledger)
        by_type = GaugeMetricFamily(
            "rapport_ledger_events_by_type",
            "Events recorded per touchpoint type.",
            labels=["type"],
        )
        for kind, count in sorted(self._by_type(ledger).items()):
            by_type.add_metric([kind], count)
        position = GaugeMetricFamily(
            "rapport_projection_position",
            "Ledger position a projection has applied.",
            labels=["projection"],
        )
        lag = GaugeMetricFamily(
            "rapport_projection_lag_events",
            "Events recorded but not yet applied by a projection.",
            labels=["projection"],
        )
        done = dict(store.query("SELECT projection, position FROM view_positions"))
        for projection in all_projections():
            applied = int(done.get(projection.name, 0))
            position.add_metric([projection.name], applied)
            lag.add_metric([projection.name], max(0, ledger - applied))
        alerts = GaugeMetricFamily(
            "rapport_alerts_open", "Open stale-contact alerts.", labels=["rule"]
        )
        with state.analysis() as (reader, _):
            now = time.time()
            for rule, count in count_open_alerts(reader, now).items():
                alerts.add_metric([rule], count)
            engagement = _engagement(engagement_report(reader, _BREAKDOWN, now, 30))
        families: list[Metric] = [size, by_type, position, lag, alerts, *engagement]
        families += self._relay_and_groups(ledger)
        return families

    def _by_type(self, ledger: int) -> dict[str, int]:
        if self.state.group is not None:
            rows = self.state.views().query(f"SELECT type, COUNT(*) FROM {TIMELINE} GROUP BY type")
            return {str(kind): int(count) for kind, count in rows}
        if ledger > self._types_until:
            recorder = self.state.ledger.ledger_recorder
            self._types.update(recorder.type_counts(self._types_until, ledger))
            self._types_until = ledger
        return dict(self._types)

    def _relay_and_groups(self, ledger: int) -> list[Metric]:
        """The relay's and the consumer groups' distance to the ledger, when they have run."""
        from infra.read.read_side import group_positions
        from infra.streaming.relay_progress import published_positions
        from infra.streaming.topics import Topics

        settings = self.state.settings
        relay = GaugeMetricFamily(
            "rapport_relay_lag_events",
            "Events recorded but not yet published to the touchpoints topic.",
            labels=["topic"],
        )
        topic = Topics.of(settings).touchpoints
        try:
            published = published_positions(settings, topic)
        except Exception:  # the relay never ran here: no table yet
            published = {}
        if published:
            relay.add_metric([topic], max(0, ledger - min(published.values())))
        groups = GaugeMetricFamily(
            "rapport_consumer_lag_events",
            "Events recorded but not yet applied by a consumer group's views.",
            labels=["group"],
        )
        for group, position in group_positions(settings).items():
            groups.add_metric([group], max(0, ledger - position))
        return [relay, groups]


_BREAKDOWN = ["personalization", "status"]


def _engagement(segments: list[Segment]) -> list[Metric]:
    """The headline of the source document as gauges: settled outreach (delivered, its 30-day
    window closed), how many of it engaged and responded, and what is still pending, by
    personalization and candidate status. A dashboard divides engaged by outreach over any
    grouping it likes; ``rapport_engagement_ratio`` is that division per series, ready-made."""
    labels = _BREAKDOWN
    about = "(delivered, 30-day window closed) by personalization and status"
    outreach = GaugeMetricFamily(
        "rapport_engagement_outreach", f"Settled outreach {about}.", labels=labels
    )
    engaged = GaugeMetricFamily(
        "rapport_engagement_engaged", f"Settled outreach that engaged {about}.", labels=labels
    )
    responded = GaugeMetricFamily(
        "rapport_engagement_responded", f"Settled outreach answered {about}.", labels=labels
    )
    ratio = GaugeMetricFamily(
        "rapport_engagement_ratio",
        f"Engaged out of settled outreach {about}, 0 to 1 (absent without outreach).",
        labels=labels,
    )
    pending = GaugeMetricFamily(
        "rapport_engagement_pending_outreach",
        "Delivered outreach whose 30-day window is still open, by personalization and status.",
        labels=labels,
    )
    for segment in segments:
        values = [str(segment.values[name]) for name in labels]
        outreach.add_metric(values, segment.outreach)
        engaged.add_metric(values, segment.engagement.successes)
        responded.add_metric(values, segment.response.successes)
        pending.add_metric(values, segment.pending)
        if segment.outreach:
            ratio.add_metric(values, segment.engagement.value)
    return [outreach, engaged, responded, ratio, pending]
