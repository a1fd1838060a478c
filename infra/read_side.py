"""Opening the read side: every projection, brought up to date before a question is answered."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from typing import cast

from infra.follower import Follower
from infra.ledger import Ledger, LedgerRecorder
from infra.settings import Settings
from infra.views import ViewStore
from projections.alerts import AlertsProjection
from projections.base import Projection
from projections.engagement import EngagementProjection
from projections.journey import JourneyProjection


def all_projections() -> list[Projection]:
    return [JourneyProjection(), EngagementProjection(), AlertsProjection()]


@contextmanager
def following(settings: Settings) -> Iterator[Follower]:
    ledger = Ledger(settings)
    store = ViewStore(settings)
    try:
        yield Follower(cast(LedgerRecorder, ledger.recorder), store, all_projections())
    finally:
        store.close()
        ledger.close()


@contextmanager
def current_views(settings: Settings) -> Iterator[ViewStore]:
    """The views, caught up with everything recorded so far (embedded mode)."""
    with following(settings) as follower:
        follower.catch_up()
        yield follower.store


def parse_as_of(text: str) -> float:
    """``YYYY-MM-DD`` means the end of that day (UTC); otherwise an ISO instant with its zone."""
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").date()
            return datetime.combine(day + timedelta(days=1), time(), UTC).timestamp() - 1e-6
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO instant") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} needs a zone (e.g. Z or +02:00)")
    return moment.timestamp()
