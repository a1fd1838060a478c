"""What ``rapport serve`` holds while it runs: the views, their columnar copy, the ledger, the
tokens, a cache.

Embedded, a follower thread keeps the views current (as ``rapport follow`` does) and requests
read them; with ``--group``, the views are a consumer group's and are read as they are. Each
request thread has its own views connection. Breakdowns, the funnel, the candidate experience
and the alerts are read from the columnar copy (``infra.read.columnar``), which the same thread
refreshes after the views move. Answers are cached per position, so a dashboard refreshed by a
whole team costs one query until something new is recorded.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import structlog

from domain.access import Operation, may
from infra.core.alert_rules_file import load_rules
from infra.core.match_weights_file import load_weights
from infra.core.settings import Settings
from infra.http.tokens import ApiToken, identify
from infra.intake.group_commit import GroupCommit
from infra.read.columnar import ColumnarCopy, Snapshot
from infra.read.read_side import existing_group_views, following
from infra.read.views import ViewStore
from infra.store.ledger import Ledger
from projections.alerts import AlertsProjection
from projections.engagement import EngagementProjection
from projections.journey import JourneyProjection
from projections.pool import PoolProjection
from projections.replies import RepliesProjection
from projections.requisitions import RequisitionsProjection

log = structlog.get_logger("rapport.serve")
T = TypeVar("T")
CACHE_ENTRIES = 256


class ServerState:
    def __init__(
        self,
        settings: Settings,
        tokens: list[ApiToken],
        *,
        group: str | None = None,
        poll_seconds: float = 0.2,
    ) -> None:
        self.settings = settings
        self.tokens = tokens
        self.group = group
        self.views_settings = settings if group is None else existing_group_views(settings, group)
        self.poll_seconds = poll_seconds
        self.alert_rules = load_rules(settings.alert_rules)
        """The stale-contact rules, read once at start (a bad file stops the server there)."""
        self.match_weights = load_weights(settings.match_weights)
        """The matching formula's weights, read once at start."""
        self.columnar = ColumnarCopy(
            [
                EngagementProjection(),
                AlertsProjection(self.alert_rules),
                PoolProjection(),
                RequisitionsProjection(),
                RepliesProjection(),
                JourneyProjection(),  # who each candidate is: what breakdowns join
            ]
        )
        """What breakdowns, alerts and matches are read from, refreshed after the views move."""
        self.ledger = Ledger(settings)
        self.writer = GroupCommit(self.ledger)
        """Where the write API records: concurrent requests share a transaction."""
        self.views_position = 0
        self.caught_up = threading.Event()
        self._local = threading.local()
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._stopping = threading.Event()
        self._nudged = threading.Event()
        self._follower: threading.Thread | None = None
        self._stores: list[ViewStore] = []
        self._stores_lock = threading.Lock()

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self.group is not None:
            self.columnar.refresh(self.views())
            self.caught_up.set()
            self._follower = threading.Thread(
                target=self._copy_group_views, name="columnar-refresh", daemon=True
            )
            self._follower.start()
            return
        with following(self.settings) as follower:  # the views exist before the first request
            follower.catch_up()
            self.columnar.refresh(follower.store, follower.recorder)
            self.views_position = min(follower.positions().values(), default=0)
        self.caught_up.set()
        self._follower = threading.Thread(target=self._follow, name="views-follower", daemon=True)
        self._follower.start()

    def nudge(self) -> None:
        """Something was just recorded: the follower looks now rather than at its next poll."""
        self._nudged.set()

    def stop(self) -> None:
        self._stopping.set()
        self._nudged.set()
        self.writer.stop()
        if self._follower is not None:
            self._follower.join(timeout=10)
        with self._stores_lock:
            for store in self._stores:
                # SQLite lets only the creating thread close a connection; those go with it.
                with contextlib.suppress(sqlite3.ProgrammingError):
                    store.close()
            self._stores.clear()
        self.columnar.close()
        self.ledger.close()

    def _follow(self) -> None:
        while not self._stopping.is_set():
            try:
                with following(self.settings) as follower:
                    while not self._stopping.is_set():
                        if follower.catch_up():
                            # The copy first: a write "visible" at the views' position is then
                            # visible to every read (``seen``), the copy's included.
                            self.columnar.refresh(follower.store, follower.recorder)
                            self.views_position = min(follower.positions().values(), default=0)
                        else:
                            self._nudged.wait(self.poll_seconds)
                            self._nudged.clear()
            except Exception as failure:  # keep serving what the views hold; try again
                log.error("serve.follower_failed", error=type(failure).__name__)
                self._stopping.wait(1.0)

    def _copy_group_views(self) -> None:
        """A consumer group writes its views elsewhere: look for a new position every poll."""
        while not self._stopping.is_set():
            try:
                self.columnar.refresh(self.views())
            except Exception as failure:  # keep serving the last copy; try again
                log.error("serve.columnar_refresh_failed", error=type(failure).__name__)
            self._stopping.wait(self.poll_seconds)

    # --- reading ---------------------------------------------------------------------------------

    @contextmanager
    def analysis(self) -> Iterator[tuple[Snapshot, int]]:
        """The columnar copy as one snapshot, and the ledger position it reflects."""
        with self.columnar.snapshot() as snapshot:
            positions = snapshot.positions()
            yield snapshot, min((at for _, at in positions.values()), default=0)

    def views(self) -> ViewStore:
        store = getattr(self._local, "store", None)
        if store is None:
            beside = self.ledger.ledger_recorder if self.group is None else None
            store = ViewStore(self.views_settings, ledger=beside)
            self._local.store = store
            with self._stores_lock:
                self._stores.append(store)
        return store

    def position(self) -> int:
        """The views' position: what every cached answer is keyed on."""
        if self.group is None:
            return self.views_position
        rows = self.views().query("SELECT MIN(position) FROM view_positions")
        return int(rows[0][0] or 0) if rows else 0

    def cached(
        self, key: tuple[Any, ...], compute: Callable[[], T], *, position: int | None = None
    ) -> T:
        """``compute()``'s answer for ``key`` at the views' position (or at ``position``, that
        of the copy it reads), from the cache when asked before."""
        full = (self.position() if position is None else position, *key)
        with self._cache_lock:
            if full in self._cache:
                self._cache.move_to_end(full)
                return self._cache[full]  # type: ignore[no-any-return]
        value = compute()
        with self._cache_lock:
            self._cache[full] = value
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return value

    def forget_answers(self) -> None:
        """After an erasure: journeys and exports of that candidate change at once."""
        with self._cache_lock:
            self._cache.clear()

    # --- who is asking ------------------------------------------------------------------------

    def token_of(self, presented: str | None) -> ApiToken | None:
        return identify(self.tokens, presented) if presented else None

    @staticmethod
    def allowed(token: ApiToken, operation: Operation) -> bool:
        return may(token.role, operation)
