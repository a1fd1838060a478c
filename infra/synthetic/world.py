"""The world every candidate lives in: the calendar, the recruiters, the open positions, the
campaigns and the talent pools."""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from random import Random
from typing import Any

from infra.synthetic.truth import DAY, GROUND_TRUTH, HISTORY_DAYS, HOUR
from infra.synthetic.vocabulary import (
    AREA_SLUG,
    AREAS,
    CERTIFICATIONS,
    CLOSE_REASONS,
    CONTENT,
    COUNTRIES,
    PHASES,
    ROLE_SLUG,
    ROLE_TITLE,
    ROLES,
    Event,
    Item,
)

# --- the shared world: calendar, recruiters, positions, campaigns, pools ----------------------


class _Calendar:
    """Epoch seconds to the strings the import format needs, cached per day (it is hot)."""

    def __init__(self, first: int, last: int) -> None:
        self.first_day = first // DAY
        days = range(self.first_day, last // DAY + 1)
        dates = [date.fromordinal(date(1970, 1, 1).toordinal() + d) for d in days]
        self.dates = [d.isoformat() for d in dates]
        self.times = [f"T{s // HOUR:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z" for s in range(DAY)]

    def date(self, ts: int) -> str:
        index = ts // DAY - self.first_day
        if 0 <= index < len(self.dates):
            return self.dates[index]
        return datetime.fromtimestamp(ts, UTC).date().isoformat()

    def iso(self, ts: int) -> str:
        return self.date(ts) + self.times[ts % DAY]

    def month(self, ts: int) -> str:
        return self.date(ts)[:7]


def draw_between(rng: Random, low: int, high: int) -> int:
    """An int in [low, high): ``Random.randrange`` without its checks, several times faster."""
    return low + int(rng.random() * (high - low))


def pick_from(rng: Random, items: Sequence[Item]) -> Item:
    """``Random.choice``, faster (the generator draws millions of them)."""
    return items[int(rng.random() * len(items))]


def office(ts: int, rng: Random) -> int:
    """The first moment at or after ``ts`` when a recruiter works (weekdays, 08:00-18:00 UTC)."""
    day, seconds = divmod(ts, DAY)
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    if weekday < 5:
        if 8 * HOUR <= seconds < 18 * HOUR:
            return ts
        if seconds < 8 * HOUR:
            return day * DAY + 8 * HOUR + draw_between(rng, 0, 3 * HOUR)
    day += 1
    while (day + 3) % 7 >= 5:
        day += 1
    return day * DAY + 8 * HOUR + draw_between(rng, 0, 4 * HOUR)


@dataclass(frozen=True, slots=True)
class Opening:
    """A requisition of the world: what it asks for, and when it is open."""

    requisition: str
    role: str
    opened: int
    closes: int
    """When it stops being open unless someone is hired for it first."""
    title: str
    areas: list[str]
    phases: list[str]
    required: list[str]
    preferred: list[str]
    country: str | None
    """None: remote."""
    min_years: int
    client: str
    recruiter: str


def _asks(rng: Random, role: str, recruiters: Sequence[str]) -> dict[str, Any]:
    """What a new position of ``role`` asks for, drawn."""
    areas = sorted({AREAS.pick(rng) for _ in range(pick_from(rng, (1, 1, 2)))})
    certifications = CERTIFICATIONS[role]
    required = [c for c in certifications if rng.random() < 0.3]
    preferred = [c for c in certifications if c not in required and rng.random() < 0.2]
    return {
        "title": f"{ROLE_TITLE[role][0].upper()}{ROLE_TITLE[role][1:]},"
        f" {areas[0].replace('_', ' ')}",
        "areas": areas,
        "phases": sorted({pick_from(rng, PHASES) for _ in range(pick_from(rng, (1, 2)))}),
        "required": required,
        "preferred": preferred,
        "country": None if rng.random() < 0.2 else COUNTRIES.pick(rng),
        "min_years": pick_from(rng, (0, 1, 2, 3, 3, 5, 8)),
        "client": f"sponsor-{draw_between(rng, 1, 16):02d}",
        "recruiter": pick_from(rng, recruiters),
    }


K_POSITION_FACT = ("position", "recruiter")
"""The fields every generated position fact starts with."""


@dataclass(slots=True)
class _Pool:
    """A talent pool's nurture schedule: what it shares, when, and when it was forgotten."""

    content_times: list[int]
    content: list[tuple[str, str, str]]
    """(content kind, content id, campaign) per shared piece."""
    neglected_from: int | None


class World:
    """Everything candidates share: recruiters, open positions, blast campaigns, pools."""

    def __init__(self, rng: Random, candidates: int, until: int) -> None:
        self.rng = rng
        self.until = until
        self.start = until - HISTORY_DAYS * DAY
        self.horizon = until - self.start
        self.calendar = _Calendar(self.start - 90 * DAY, until + 120 * DAY)
        self.recruiters = [f"rec-{n:02d}" for n in range(1, len(GROUND_TRUTH.recruiter_skill) + 1)]
        self.content_ids = itertools.count(1)
        self.pools: dict[str, _Pool] = {}
        self._open_positions(max(8 * len(ROLES.items), candidates // 25))
        self._blast_campaigns()

    def _open_positions(self, count: int) -> None:
        """Requisitions, each open for a span drawn from the truth; candidates hear of open ones,
        apply to them, and pool members of their role are shortlisted from a pool match."""
        rng, truth = self.rng, GROUND_TRUTH
        self.openings: list[Opening] = []
        self.openings_by_role: dict[str, list[Opening]] = {role: [] for role in ROLES.items}
        self.open_positions: dict[tuple[str, int], list[Opening]] = {}
        self.hires: dict[str, list[tuple[int, str]]] = {}
        """Requisition -> (when, candidate reference) of each hire for it."""
        for n in range(count):
            roles = ROLES.items
            role = roles[n % len(roles)] if n < 4 * len(roles) else ROLES.pick(rng)
            opened = office(draw_between(rng, self.start - 60 * DAY, self.until - 7 * DAY), rng)
            opening = Opening(
                requisition=f"REQ-{1001 + n}",
                role=role,
                opened=opened,
                closes=opened + draw_between(rng, *truth.position_open_days) * DAY,
                **_asks(rng, role, self.recruiters),
            )
            self.openings.append(opening)
            self.openings_by_role[role].append(opening)
            for fortnight in range(self._fortnight(opened), self._fortnight(opening.closes) + 1):
                self.open_positions.setdefault((role, fortnight), []).append(opening)
        for openings in self.openings_by_role.values():
            openings.sort(key=lambda o: o.opened)

    def _fortnight(self, ts: int) -> int:
        return (ts - self.start) // (14 * DAY)

    def position(self, role: str, ts: int, taken: set[str]) -> str | None:
        """A requisition for ``role`` open at ``ts`` and not one in ``taken``; None if none."""
        candidates = self.open_positions.get((role, self._fortnight(ts)), ())
        free = [
            o.requisition
            for o in candidates
            if o.opened <= ts < o.closes and o.requisition not in taken
        ]
        return pick_from(self.rng, free) if free else None

    def openings_between(self, role: str, start: int, end: int) -> list[Opening]:
        """The role's positions opened in [start, end), in the order they opened."""
        openings = self.openings_by_role[role]
        first = bisect_left(openings, start, key=lambda o: o.opened)
        last = bisect_left(openings, end, key=lambda o: o.opened)
        return openings[first:last]

    def hired(self, requisition: str, ts: int, candidate: str) -> None:
        self.hires.setdefault(requisition, []).append((ts, candidate))

    def position_events(self) -> list[Event]:
        """Each position's facts: opened, perhaps refined, then filled by its first hire or
        closed for a reason when its span ends (still open if that is after ``until``)."""
        rng, truth = self.rng, GROUND_TRUTH
        events: list[Event] = []
        for o in self.openings:
            fact = partial(self._position_fact, events, o)
            where = ("remote", True) if o.country is None else ("country", o.country)
            fact(
                o.opened,
                "position_opened",
                ("title", "role", "therapeutic_areas", "trial_phases", "required_certifications",
                 "preferred_certifications", where[0], "min_years", "client"),
                (o.title, o.role, o.areas, o.phases, o.required, o.preferred, where[1],
                 o.min_years, o.client),
            )  # fmt: skip
            hires = self.hires.get(o.requisition, ())
            filled = min((h for h in hires if o.opened <= h[0] < self.until), default=None)
            ends = min(o.closes, self.until) if filled is None else filled[0] + HOUR
            if rng.random() < truth.position_updated:
                refined = o.opened + draw_between(rng, 3 * DAY, 30 * DAY)
                if refined < ends:
                    fact(refined, "position_updated", ("min_years",), (o.min_years + 1,))
            if filled is not None and filled[0] + HOUR < self.until:
                fact(filled[0] + HOUR, "position_filled", ("candidate",), (filled[1],))
            elif filled is None and o.closes < self.until:
                reason = CLOSE_REASONS.pick(rng)
                fact(o.closes, "position_closed", ("reason",), (reason,))
        return events

    def _position_fact(
        self,
        events: list[Event],
        o: Opening,
        ts: int,
        kind: str,
        keys: tuple[str, ...],
        values: tuple[Any, ...],
    ) -> None:
        events.append(
            (
                ts - self.start,
                kind,
                None,
                (*K_POSITION_FACT, *keys),
                (o.requisition, o.recruiter, *values),
            )
        )

    def _blast_campaigns(self) -> None:
        """One generic blast per role and month, sent by automation on a weekday afternoon."""
        self.blast_times: dict[str, list[int]] = {}
        self.blast_ids: dict[str, list[str]] = {}
        first = datetime.fromtimestamp(self.start, UTC)
        year, month = first.year, first.month
        while True:
            month_start = int(datetime(year, month, 1, tzinfo=UTC).timestamp())
            if month_start >= self.until:
                break
            for role, slug in ROLE_SLUG.items():
                day = month_start // DAY + draw_between(self.rng, 3, 26)
                while (day + 3) % 7 >= 5:
                    day += 1
                self.blast_times.setdefault(role, []).append(day * DAY + 14 * HOUR)
                self.blast_ids.setdefault(role, []).append(f"camp-{year}-{month:02d}-blast-{slug}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)

    def next_blast(self, role: str, ts: int) -> tuple[int, str] | None:
        times = self.blast_times[role]
        index = bisect_left(times, ts)
        if index == len(times):
            return None
        return times[index] + draw_between(self.rng, 0, 2 * HOUR), self.blast_ids[role][index]

    def pool(self, pool_id: str, area: str) -> _Pool:
        """The pool's schedule, drawn the first time anyone joins it."""
        pool = self.pools.get(pool_id)
        if pool is not None:
            return pool
        rng, truth = self.rng, GROUND_TRUTH
        every = int(rng.uniform(*truth.nurture_every_weeks) * 7 * DAY)
        neglected_from = None
        if rng.random() < truth.neglected_pool_share:
            neglected_from = self.until - draw_between(rng, *truth.neglected_for_days) * DAY
        end = self.until if neglected_from is None else neglected_from
        times: list[int] = []
        content: list[tuple[str, str, str]] = []
        ts = self.start + draw_between(rng, 0, every)
        while ts < end:
            shared = office(ts + draw_between(rng, -2 * DAY, 2 * DAY), rng)
            if shared < end:
                times.append(shared)
                campaign = f"camp-{self.calendar.month(shared)}-nurture-{AREA_SLUG[area]}"
                content.append((CONTENT.pick(rng), f"cnt-{next(self.content_ids):05d}", campaign))
            ts += every
        pool = _Pool(times, content, neglected_from)
        self.pools[pool_id] = pool
        return pool
