"""Opening the read side: every projection, brought up to date before a question is answered.

Embedded, the views are the ledger follower's, caught up before each answer. With ``group``,
they are the views a consumer group keeps from the touchpoints topic (``rapport consume``):
read as they are, since only that group's consumers may write them.
"""

from __future__ import annotations

import re
import time as _time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time

from domain.touchpoints import in_bounds
from infra.core.alert_rules_file import load_rules
from infra.core.settings import Settings
from infra.read.follower import Follower
from infra.read.metrics import BASES, QuestionProblem, Selection, parse_filters
from infra.read.views import ViewStore
from infra.store.ledger import Ledger
from projections.alert_rules import AlertRules
from projections.alerts import AlertsProjection
from projections.base import Projection
from projections.engagement import EngagementProjection
from projections.journey import JourneyProjection, TimelineProjection
from projections.pool import PoolProjection
from projections.replies import RepliesProjection
from projections.requisitions import RequisitionsProjection


def check_group(group: str) -> str:
    """Group names become part of a file or schema name: lower case letters, digits, ``_``."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,29}", group):
        raise ValueError(
            f"{group!r} is not a group name: 1-30 lower-case letters, digits or _,"
            " starting with a letter"
        )
    return group


def group_views_settings(settings: Settings, group: str) -> Settings:
    """Where consumer group ``group`` keeps its views: ``<ledger>.<group>.views.db`` beside the
    SQLite ledger, or the schema ``<schema>_<group>`` on PostgreSQL, unless the settings name
    the place (``RAPPORT_VIEWS_DB``, ``RAPPORT_VIEWS_SCHEMA``)."""
    check_group(group)
    if settings.database_url:
        schema = settings.views_schema or f"{settings.database_schema}_{group}"
        return settings.model_copy(update={"views_schema": schema})
    path = settings.views_db or settings.db.with_name(f"{settings.db.stem}.{group}.views.db")
    return settings.model_copy(update={"views_db": path})


class ViewsNotFound(LookupError):
    """No consumer group of that name has built views here."""


def existing_group_views(settings: Settings, group: str) -> Settings:
    """Where group ``group`` keeps its views, or ``ViewsNotFound`` if it never built any."""
    where = group_views_settings(settings, group)
    if where.database_url:
        import psycopg

        with psycopg.connect(where.database_url, connect_timeout=10) as conn:
            found = conn.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s"
                " AND table_name = 'view_stream_offsets'",
                (where.views_schema,),
            ).fetchone()
        missing = None if found else f"schema {where.views_schema}"
    else:
        missing = None if where.views_db and where.views_db.exists() else str(where.views_db)
    if missing:
        raise ViewsNotFound(
            f"--group {group}: no views of that group in {missing}"
            f" (start them with: rapport consume --group {group})"
        )
    return where


def all_projections(rules: AlertRules | None = None, *, timeline: bool = False) -> list[Projection]:
    """Every projection the views hold; the alerts with ``rules`` (default: the built-in ones).
    ``timeline``: views fed from a topic keep each journey's timeline too (beside the ledger,
    it is read from the ledger)."""
    found: list[Projection] = [
        JourneyProjection(),
        EngagementProjection(),
        AlertsProjection(rules),
        PoolProjection(),
        RequisitionsProjection(),
        RepliesProjection(),
    ]
    return [*found, TimelineProjection()] if timeline else found


def deployed_projections(settings: Settings, *, timeline: bool = False) -> list[Projection]:
    """Every projection, the alerts with the rules the settings name."""
    return all_projections(load_rules(settings.alert_rules), timeline=timeline)


@contextmanager
def following(settings: Settings) -> Iterator[Follower]:
    ledger = Ledger(settings)
    store = ViewStore(settings, ledger=ledger.ledger_recorder)
    try:
        yield Follower(ledger.ledger_recorder, store, deployed_projections(settings))
    finally:
        store.close()
        ledger.close()


@contextmanager
def current_views(settings: Settings, group: str | None = None) -> Iterator[ViewStore]:
    """The views, caught up with everything recorded so far (embedded mode), or as consumer
    group ``group`` has built them."""
    if group is not None:
        with ViewStore(existing_group_views(settings, group)) as store:
            yield store
        return
    with following(settings) as follower:
        follower.catch_up()
        yield follower.store


def parse_as_of(text: str, *, day_starts: bool = False) -> float:
    """``YYYY-MM-DD`` means the end of that day (UTC), or its start with ``day_starts`` (the
    first day of a period); otherwise an ISO instant with its zone.

    Within the touchpoints' bounds (``domain.touchpoints.EARLIEST`` .. ``LATEST``): any other
    moment is a ``ValueError``, never an overflow further down."""
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").date()
            moment = datetime.combine(day, time() if day_starts else time.max, UTC)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO instant") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} needs a zone (e.g. Z or +02:00)")
    try:
        return in_bounds(moment).timestamp()
    except ValueError as outside:
        raise ValueError(f"{text!r} {outside}") from None


def selection_of(
    basis: str, where: str | None, sent_from: str | None, sent_until: str | None
) -> Selection:
    """Which outreach a report counts, from its parameters as text (an empty one is none), or
    a ``QuestionProblem`` naming the parameter."""
    if basis not in BASES:
        raise QuestionProblem("basis", f"expected {' or '.join(BASES)}, got {basis!r}")
    try:
        filters = parse_filters(where or "")
    except ValueError as bad:
        raise QuestionProblem("where", str(bad)) from None
    period: list[float | None] = []
    for field, text, starts in (("sent_from", sent_from, True), ("sent_until", sent_until, False)):
        try:
            period.append(parse_as_of(text, day_starts=starts) if text else None)
        except ValueError as bad:
            raise QuestionProblem(field, str(bad)) from None
    try:
        return Selection(basis, filters, *period)
    except ValueError as bad:
        raise QuestionProblem("sent_until", str(bad)) from None


def group_positions(settings: Settings) -> dict[str, int]:
    """Every consumer group whose views sit in the default place here, and the lowest ledger
    position its projections have applied (for monitoring; groups kept elsewhere are not found)."""
    found: dict[str, int] = {}
    if settings.database_url:
        import psycopg

        prefix = f"{settings.database_schema}_"
        with psycopg.connect(settings.database_url, connect_timeout=10) as conn:
            schemas = conn.execute(
                "SELECT table_schema FROM information_schema.tables"
                " WHERE table_name = 'view_stream_offsets' AND table_schema LIKE %s",
                (prefix.replace("_", r"\_") + "%",),
            ).fetchall()
            for (schema,) in schemas:
                group = schema.removeprefix(prefix)
                (lowest,) = conn.execute(  # type: ignore[misc]
                    f'SELECT MIN(position) FROM "{schema}".view_positions'
                ).fetchone()
                found[group] = int(lowest or 0)
        return found
    import sqlite3

    for path in settings.db.parent.glob(f"{settings.db.stem}.*.views.db"):
        group = path.name.removeprefix(f"{settings.db.stem}.").removesuffix(".views.db")
        try:
            check_group(group)
        except ValueError:
            continue
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            try:
                (lowest,) = conn.execute("SELECT MIN(position) FROM view_positions").fetchone()
            except sqlite3.OperationalError:
                continue
        found[group] = int(lowest or 0)
    return found


def now_minute() -> float:
    """ "Now" for a default ``as_of``: the end of the current minute, so answers can be shared
    within it (the API's cache), and a command asked in the same minute answers alike."""
    return float(int(_time.time() // 60 * 60) + 59.999999)
