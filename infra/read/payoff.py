"""Does the talent pool pay off? Pool against cold outreach, how positions are filled, content
and the pool's health, read from the views.

Why one report: the source document keeps a pool warm ("to which we turn when we have new
positions to fill") at a cost in recruiters' time; whether that pays is several figures read
together. Each figure is defined in the README ("Definitions", "The pool's payoff"), counted in
SQL (the same statements on SQLite, PostgreSQL and the server's DuckDB copy), as of any date,
with Wilson intervals on every share and n beside every median.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from infra.read.alerts import count_open_alerts
from infra.read.matches import pool_as_of
from infra.read.metrics import DAY, Segment, engagement_report
from infra.read.reader import Reader
from infra.store.recorder import LedgerRecorder
from projections.alert_rules import POOL
from projections.rates import Rate, percentile
from projections.requisitions import POOL_MATCH, STEPS

ORIGINS = ("pool", "other")
"""Where a step's candidate came from: a pool match, or anything else (sourced, not said)."""

HIRING_DIMENSIONS = {"role": "r.role", "recruiter": "r.recruiter", "client": "r.client"}
"""What the hiring figures can be broken down by: the position's role, recruiter or client."""

WARMTH_BANDS = (("warm", 90.0), ("cooling", 180.0), ("cold", float("inf")))
"""A pool member's band by the days since their last personal touch or engagement, whichever
came later (never touched nor engaged: cold)."""

_ORIGIN = f"CASE WHEN s.source = '{POOL_MATCH}' THEN 'pool' ELSE 'other' END"


@dataclass(frozen=True, slots=True)
class Days:
    """Days from a position's opening to a step: how many positions, their median and 90th
    percentile."""

    positions: int
    median: float | None
    p90: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"positions": self.positions, "median_days": self.median, "p90_days": self.p90}


@dataclass(frozen=True, slots=True)
class Hiring:
    """One segment of positions (all of them without a breakdown): the steps candidates
    reached for them and how many came from the pool, and the days to the first of each."""

    values: dict[str, str | None]
    from_pool: dict[str, Rate]
    """Per step, the candidates who reached it for these positions and how many of them had
    been shortlisted from a pool match."""
    to_first_shortlist: dict[str, Days]
    """Per origin, days from opening to the first shortlisting of that origin."""
    to_hire: dict[str, Days]
    """Per origin, days from opening to the first hire of that origin."""

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.values,
            "from_pool": {step: rate.as_dict() for step, rate in self.from_pool.items()},
            "days_to_first_shortlist": {o: d.as_dict() for o, d in self.to_first_shortlist.items()},
            "days_to_hire": {o: d.as_dict() for o, d in self.to_hire.items()},
        }


@dataclass(frozen=True, slots=True)
class PoolHealth:
    members: int
    """Candidates in at least one talent pool and not erased."""
    bands: dict[str, int]
    """Members per warmth band (``WARMTH_BANDS``)."""
    overdue: int
    """Open ``talent_pool_without_personal_touch`` alerts: members overdue a personal touch."""

    def as_dict(self) -> dict[str, Any]:
        return {"members": self.members, "bands": self.bands, "overdue": self.overdue}


@dataclass(frozen=True, slots=True)
class Payoff:
    as_of: float
    window_days: float
    audience: list[Segment]
    """Outreach to pool members against cold outreach (``audience``), response and engagement."""
    content: Rate
    content_pending: int
    """Content shared by ``as_of`` whose window was still open then (not counted)."""
    """Content shared that was followed within the window by a reply or an engagement."""
    hiring: list[Hiring]
    positions: int
    """Positions opened by ``as_of`` (only those time is measured from)."""
    unopened: int
    """Steps for positions never opened in Rapport (old data): in the shares, not in the days."""
    health: PoolHealth

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": datetime.fromtimestamp(self.as_of, UTC).isoformat(),
            "window_days": self.window_days,
            "audience": [s.as_dict() for s in self.audience],
            "basis": "settled",
            "content_engagement": self.content.as_dict(),
            "content_pending": self.content_pending,
            "positions": self.positions,
            "steps_for_unopened_positions": self.unopened,
            "hiring": [h.as_dict() for h in self.hiring],
            "pool_health": self.health.as_dict(),
        }


def payoff_report(
    store: Reader,
    pool: Reader,
    *,
    as_of: float,
    window_days: float = 30,
    by: Sequence[str] = (),
) -> Payoff:
    """Every payoff figure as of ``as_of``; ``pool`` holds the pool view as it stood then (the
    views' own when that is now)."""
    _check_dimensions(by)
    positions, unopened = _counts(store, as_of)
    content, content_pending = content_engagement(store, as_of, window_days)
    return Payoff(
        as_of=as_of,
        window_days=window_days,
        audience=engagement_report(store, ["audience"], as_of, window_days),
        content=content,
        content_pending=content_pending,
        hiring=hiring(store, as_of, by),
        positions=positions,
        unopened=unopened,
        health=pool_health(store, pool, as_of),
    )


def payoff_as_of(
    store: Reader,
    ledger: LedgerRecorder,
    *,
    as_of: float,
    now: bool,
    window_days: float = 30,
    by: Sequence[str] = (),
) -> Payoff:
    """``payoff_report`` with the pool view it needs: the views' own when the report is for
    ``now``, else the pool view folded again from the ledger as it stood at ``as_of`` (a read of
    the whole ledger: an audit's question)."""
    if now:
        return payoff_report(store, store, as_of=as_of, window_days=window_days, by=by)
    with pool_as_of(ledger, as_of) as pool:
        return payoff_report(store, pool, as_of=as_of, window_days=window_days, by=by)


def parse_hiring_dimensions(text: str) -> list[str]:
    """``"role,client"`` as a list; a ``ValueError`` naming the unknown ones."""
    by = [name.strip() for name in text.split(",") if name.strip()]
    _check_dimensions(by)
    return by


def _check_dimensions(by: Sequence[str]) -> None:
    if unknown := [name for name in by if name not in HIRING_DIMENSIONS]:
        raise ValueError(
            f"unknown dimension(s) {', '.join(unknown)}; choose from {', '.join(HIRING_DIMENSIONS)}"
        )


def content_engagement(store: Reader, as_of: float, window_days: float) -> tuple[Rate, int]:
    """Content whose window had closed by ``as_of`` (settled, like outreach), and how much of it
    was followed by a reply or an engagement within ``window_days``; and how much shared by
    then was still pending."""
    if window_days <= 0:
        raise ValueError("the attribution window must be positive")
    window = window_days * DAY
    answered = "(c.{0} IS NOT NULL AND c.{0} <= c.shared_at + ? AND c.{0} <= ?)"
    rows = store.query(
        "SELECT SUM(CASE WHEN c.shared_at + ? <= ? THEN 1 ELSE 0 END), SUM(CASE WHEN"
        " c.shared_at + ? <= ? AND ("
        f"{answered.format('first_response_at')} OR {answered.format('first_engagement_at')}"
        ") THEN 1 ELSE 0 END), COUNT(*) FROM view_content c WHERE c.shared_at <= ?",
        [window, as_of, window, as_of, window, as_of, window, as_of, as_of],
    )
    n, answered_count, shared = rows[0] if rows else (0, 0, 0)
    settled = int(n or 0)
    return Rate(int(answered_count or 0), settled), int(shared or 0) - settled


def _counts(store: Reader, as_of: float) -> tuple[int, int]:
    opened = store.query("SELECT COUNT(*) FROM view_requisitions WHERE opened_at <= ?", [as_of])
    unopened = store.query(
        "SELECT COUNT(*) FROM view_requisition_steps s LEFT JOIN view_requisitions r"
        " ON r.requisition = s.requisition WHERE s.reached_at <= ?"
        " AND (r.requisition IS NULL OR r.opened_at > ?)",
        [as_of, as_of],
    )
    return int(opened[0][0]), int(unopened[0][0])


def hiring(store: Reader, as_of: float, by: Sequence[str] = ()) -> list[Hiring]:
    """Per segment of positions: shares of each step from the pool, and days to the first
    shortlisting and the first hire by origin."""
    columns = [HIRING_DIMENSIONS[name] for name in by]
    head = "".join(f"{c}, " for c in columns)
    reached: dict[tuple[Any, ...], dict[str, list[int]]] = defaultdict(
        lambda: {step: [0, 0] for step in STEPS}
    )
    for *key, step, origin, count in store.query(
        f"SELECT {head}s.step, {_ORIGIN}, COUNT(*) FROM view_requisition_steps s"
        " LEFT JOIN view_requisitions r ON r.requisition = s.requisition"
        f" WHERE s.reached_at <= ? GROUP BY {head}s.step, {_ORIGIN}",
        [as_of],
    ):
        counted = reached[tuple(key)][step]
        counted[1] += int(count)
        if origin == "pool":
            counted[0] += int(count)
    days: dict[tuple[Any, ...], dict[tuple[str, str], list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for *key, step, origin, opened_at, first in store.query(
        f"SELECT {head}s.step, {_ORIGIN}, r.opened_at, MIN(s.reached_at)"
        " FROM view_requisition_steps s JOIN view_requisitions r"
        " ON r.requisition = s.requisition"
        " WHERE s.reached_at <= ? AND r.opened_at <= ? AND s.step IN ('shortlisted', 'hired')"
        f" GROUP BY {head}r.requisition, r.opened_at, s.step, {_ORIGIN}",
        [as_of, as_of],
    ):
        if first >= opened_at:  # a step before the opening (old data) measures nothing
            days[tuple(key)][(step, origin)].append((first - opened_at) / DAY)

    def measured(key: tuple[Any, ...], step: str) -> dict[str, Days]:
        return {
            origin: Days(len(spans), percentile(spans, 50), percentile(spans, 90))
            for origin in ORIGINS
            for spans in [days[key][(step, origin)]]
        }

    segments = [
        Hiring(
            values=dict(zip(by, key, strict=True)),
            from_pool={step: Rate(*reached[key][step]) for step in STEPS},
            to_first_shortlist=measured(key, "shortlisted"),
            to_hire=measured(key, "hired"),
        )
        for key in reached.keys() | days.keys()
    ]
    segments.sort(key=lambda h: tuple((v is not None, v or "") for v in h.values.values()))
    return segments


def pool_health(store: Reader, pool: Reader, as_of: float) -> PoolHealth:
    """Members of the pool by warmth band as of ``as_of`` (``pool``: the pool view then), and
    how many are overdue a personal touch (the alerts view, as of then)."""
    bands = dict.fromkeys((name for name, _ in WARMTH_BANDS), 0)
    members = 0
    for touched, engaged in pool.query(
        "SELECT last_personal_touch, last_engagement FROM view_pool"
        " WHERE in_pool = 1 AND erased = 0 AND registered_at <= ?",
        [as_of],
    ):
        members += 1
        warmed = max((t for t in (touched, engaged) if t is not None), default=None)
        age = float("inf") if warmed is None else (as_of - warmed) / DAY
        bands[next(name for name, days in WARMTH_BANDS if age <= days)] += 1
    overdue = count_open_alerts(store, as_of, rule=POOL).get(POOL, 0)
    return PoolHealth(members, bands, overdue)


@dataclass(frozen=True, slots=True)
class PositionLine:
    """A position as the positions page lists it: where it stands and its funnel."""

    requisition: str
    title: str | None
    role: str | None
    recruiter: str | None
    client: str | None
    status: str
    opened_at: float
    ended_at: float | None
    reached: dict[str, tuple[int, int]]
    """Per step, (candidates who reached it, of whom from a pool match)."""

    def days_open(self, as_of: float) -> float:
        return ((self.ended_at or as_of) - self.opened_at) / DAY

    def as_dict(self, as_of: float) -> dict[str, Any]:
        return {
            "requisition": self.requisition,
            "title": self.title,
            "role": self.role,
            "recruiter": self.recruiter,
            "client": self.client,
            "status": self.status,
            "opened_at": _iso(self.opened_at),
            "ended_at": None if self.ended_at is None else _iso(self.ended_at),
            "days_open": round(self.days_open(as_of), 1),
            "funnel": {
                step: {"candidates": n, "from_pool": pooled}
                for step, (n, pooled) in self.reached.items()
            },
        }


def position_lines(store: Reader, as_of: float, status: str | None = None) -> list[PositionLine]:
    """Positions opened by ``as_of``, the open ones first, then by opening; with ``status``,
    only those whose latest fact left them so (open, filled or closed)."""
    reached: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for requisition, step, n, pooled in store.query(
        f"SELECT s.requisition, s.step, COUNT(*), SUM(CASE WHEN {_ORIGIN} = 'pool' THEN 1"
        " ELSE 0 END) FROM view_requisition_steps s WHERE s.reached_at <= ?"
        " GROUP BY s.requisition, s.step",
        [as_of],
    ):
        reached[requisition][step] = (int(n), int(pooled or 0))
    where, params = "WHERE opened_at <= ?", [as_of]
    if status is not None:
        where, params = where + " AND status = ?", [as_of, status]
    lines = [
        PositionLine(
            requisition,
            title,
            role,
            recruiter,
            client,
            current,
            opened_at,
            ended_at,
            {step: reached[requisition].get(step, (0, 0)) for step in STEPS},
        )
        for requisition, title, role, recruiter, client, current, opened_at, ended_at in (
            store.query(
                "SELECT requisition, title, role, recruiter, client, status, opened_at,"
                f" ended_at FROM view_requisitions {where}",
                params,
            )
        )
    ]
    lines.sort(key=lambda p: (p.status != "open", p.opened_at, p.requisition))
    return lines


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()
