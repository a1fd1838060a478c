"""Publishing stale-contact alerts: the alert log, raised and cleared, onto the alerts topic.

A consumer group's views hold the deadline queue; every few seconds one of the group's
processes (whoever holds the group's alert lock) evaluates the raise/clear log as of now
(``infra.read.alerts.record_transitions``) and publishes what the log holds beyond the last
published ``seq``, in one Kafka transaction, then stores that ``seq``. A crash between the two
sends the same transitions again with the same ``seq``: consumers of the alerts deduplicate by it.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID, uuid5

import orjson
import structlog

from infra.core.locks import ProcessLocks
from infra.core.settings import Settings
from infra.read.alerts import LOG, AlertLogBehind, ensure_log_tables, record_transitions
from infra.read.views import ViewStore
from infra.streaming.clients import TransactionalProducer
from infra.streaming.messages import AlertMessage
from infra.streaming.topics import Topics
from projections.alerts import CANDIDATES

log = structlog.get_logger("rapport.alerts")

PUBLISHED = "view_alert_published"
ALERT_NAMESPACE = UUID("3c9e6a1f-8b24-4d7a-a5e0-6f2b9d1c4e87")


def alert_id(candidate_id: str, rule: str, opened_position: int) -> UUID:
    """One alert is one episode of one rule for one candidate: its raise and clear share this."""
    return uuid5(ALERT_NAMESPACE, f"{candidate_id}|{rule}|{opened_position}")


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class AlertPublisher:
    """Publishes a consumer group's alert log. Given its collaborators (``connect`` builds the
    real ones): the group's views, the lock that lets one process of the group publish at a
    time, and the transactional producer."""

    def __init__(
        self,
        store: ViewStore,
        group: str,
        topic: str,
        locks: ProcessLocks,
        producer: TransactionalProducer,
    ) -> None:
        self.store = store
        self.group = group
        self.topic = topic
        self.locks = locks
        self.producer = producer
        ensure_log_tables(store)
        with store.transaction() as cur:
            store.serialise_schema_changes(cur)
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {PUBLISHED}"
                " (name TEXT PRIMARY KEY, seq BIGINT NOT NULL)"
            )

    @classmethod
    def connect(
        cls, settings: Settings, store: ViewStore, group: str, *, instance: str | None = None
    ) -> AlertPublisher:
        where = store.schema or str(store.path)
        locks = ProcessLocks(
            settings, f"alerts-{hashlib.sha256(where.encode()).hexdigest()[:12]}", store.path
        )
        # A stable id (with --instance) lets a restarted process abort what it left open at
        # once; otherwise the broker aborts it after the transaction timeout.
        member = instance or uuid.uuid4().hex[:12]
        producer = TransactionalProducer(
            settings,
            client_id=f"rapport-alerts-{group}",
            transactional_id=f"rapport-alerts-{settings.kafka_topic_prefix}-{group}-{member}",
        )
        return cls(store, group, Topics.of(settings).alerts, locks, producer)

    def close(self) -> None:
        self.producer.close()
        self.locks.close()

    def publish(self, as_of: float) -> int:
        """Evaluate the alert log as of ``as_of`` and publish what is new; returns the count.

        Skips (returns 0) while another process of the group is publishing.
        """
        if not self.locks.try_lock([0]):
            return 0
        try:
            try:
                record_transitions(self.store, as_of, incremental=False)
            except (AlertLogBehind, ValueError) as later:
                log.info("alerts.evaluation_skipped", reason=str(later))
            return self._publish_pending()
        finally:
            self.locks.unlock()

    def _publish_pending(self) -> int:
        store = self.store
        published = store.query(f"SELECT seq FROM {PUBLISHED} WHERE name = 'alerts'")
        done = int(published[0][0]) if published else 0
        pending = store.query(
            "SELECT l.seq, l.candidate_id, c.recruiter, l.rule, l.opened_position,"
            f" l.action, l.at, l.reason, l.as_of FROM {LOG} l LEFT JOIN {CANDIDATES} c"
            " ON c.candidate_id = l.candidate_id WHERE l.seq > ? ORDER BY l.seq",
            (done,),
        )
        if not pending:
            return 0
        with self.producer.transaction() as producer:
            for seq, cid, owner, rule, opened, action, at, reason, as_of in pending:
                message = AlertMessage(
                    type="alert_raised" if action == "raised" else "alert_cleared",
                    alert_id=alert_id(cid, rule, opened),
                    seq=seq,
                    published_by=self.group,
                    candidate_id=cid,
                    recruiter=owner,
                    rule=rule,
                    opened_position=opened,
                    at=_moment(at),
                    reason=reason,
                    as_of=_moment(as_of),
                )
                producer.send(
                    self.topic,
                    key=cid.encode(),
                    value=orjson.dumps(message.model_dump(mode="json")),
                    headers=[
                        ("type", message.type.encode()),
                        ("schema_version", str(message.schema_version).encode()),
                    ],
                )
        last = int(pending[-1][0])
        with store.transaction() as cur:
            cur.execute(
                store.sql(
                    f"INSERT INTO {PUBLISHED} VALUES ('alerts', ?) ON CONFLICT (name)"
                    " DO UPDATE SET seq = excluded.seq"
                ),
                (last,),
            )
        log.info("alerts.published", group=self.group, alerts=len(pending), seq=last)
        return len(pending)


class AlertDuty(threading.Thread):
    """Publishes the group's alerts every ``interval`` seconds, beside the consumer's loop.

    Evaluating the log and a Kafka transaction take their time (longer while the broker is
    away); in a thread of their own, with a database connection of their own, they do not hold
    up the views. ``clock`` gives the instant each evaluation is made as of.
    """

    def __init__(
        self,
        settings: Settings,
        group: str,
        *,
        instance: str | None,
        interval: float,
        clock: Callable[[], float],
    ) -> None:
        super().__init__(name=f"rapport-alerts-{group}", daemon=True)
        self.settings, self.group, self.instance = settings, group, instance
        self.interval, self.clock = interval, clock
        self.published = 0
        self._stopping = threading.Event()

    def run(self) -> None:
        store = ViewStore(self.settings)
        publisher = AlertPublisher.connect(self.settings, store, self.group, instance=self.instance)
        try:
            while not self._stopping.wait(self.interval):
                try:
                    self.published += publisher.publish(self.clock())
                except Exception as failed:  # retried at the next interval
                    log.warning(
                        "alerts.publish_failed",
                        group=self.group,
                        error=type(failed).__name__,
                        detail=str(failed)[:300],
                    )
        finally:
            publisher.close()
            store.close()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(timeout)
