"""Matching a position against the pool: the ranked, explained list (``projections.matching``).

The formula's SQL runs over the pool view (the views beside the ledger, or their columnar copy
in ``rapport serve``), ordered by score; the hard filters that read a candidate's JSON columns
(a live process elsewhere, already in this position's process, dismissed for it) are checked
here on the rows it returns, and more are read until the list is full. As of a past date, the
pool view is built again from the facts that had happened by then (the same fold) into a table
of its own, and the same statement runs over it, so a match as of a date is what a rebuild on
that date would say.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from domain.policy import ContactPolicy
from domain.position import as_it_stood
from domain.position_facts import POSITION_FACT, PositionFact, position_id
from infra.read.reader import Reader
from infra.read.stored_facts import to_fact
from infra.store.recorder import LedgerRecorder
from projections.base import CANDIDATE
from projections.matching import (
    DAY,
    TERMS,
    Opening,
    Term,
    Weights,
    explain,
    live_elsewhere,
    term_sql,
)
from projections.pool import POOL, fold, pool_row

_COLUMNS = POOL.column_names
_READ_BATCH = 10_000


class NoSuchPosition(LookupError):
    """No ``position_opened`` was recorded for this requisition (by that date)."""


@dataclass(frozen=True, slots=True)
class Match:
    rank: int
    candidate: str
    """The CRM's reference (an opaque id: nothing personal)."""
    candidate_id: str
    score: float
    terms: list[Term]
    recruiter: str | None
    """The candidate's owner."""
    pools: list[str]
    silver_for: list[str]
    """Positions they reached a shortlist or interview for, and were not hired for."""
    outreach_left: int
    """Outreach messages the contact policy still allows in its window, now."""


@dataclass(frozen=True, slots=True)
class MatchList:
    position: str
    status: str
    opening: Opening
    as_of: float
    matches: list[Match]
    considered: int
    """Registered candidates who pass the filters on the pool view (the pool, or past
    candidates too, with consent, not erased, not hired recently)."""
    left_out: dict[str, int] = field(default_factory=dict)
    """Why the other registered candidates were not considered, and how many."""
    passed_over: dict[str, int] = field(default_factory=dict)
    """Considered candidates ranked above the last one listed who were not listed, and why
    (their hiring processes: checked on the rows read, not on the whole pool)."""

    def as_record(self) -> dict[str, Any]:
        """The list as JSON values: what ``rapport match --format json`` prints and
        ``GET /api/v1/positions/{id}/matches`` answers (which adds ``position``, the ledger
        position the views reflect, as every read of the API does)."""
        return {
            "requisition": self.position,
            "status": self.status,
            "as_of": datetime.fromtimestamp(self.as_of, UTC).isoformat(),
            "asks": {
                "role": self.opening.role,
                "therapeutic_areas": list(self.opening.areas),
                "trial_phases": list(self.opening.phases),
                "required_certifications": list(self.opening.required),
                "preferred_certifications": list(self.opening.preferred),
                "country": self.opening.country,
                "remote": self.opening.remote,
                "min_years": self.opening.min_years,
            },
            "considered": self.considered,
            "left_out": self.left_out,
            "passed_over": self.passed_over,
            "matches": [
                {
                    "rank": m.rank,
                    "candidate": m.candidate,
                    "candidate_id": m.candidate_id,
                    "score": m.score,
                    "terms": [{"term": t.name, "points": t.points, "why": t.why} for t in m.terms],
                    "recruiter": m.recruiter,
                    "pools": m.pools,
                    "silver_for": m.silver_for,
                    "outreach_left": m.outreach_left,
                }
                for m in self.matches
            ],
        }


def opening(recorder: LedgerRecorder, requisition: str, as_of: float) -> tuple[Opening, str]:
    """What the position asked for as of ``as_of``, and its status then."""
    rows = recorder.read_stored_of([str(position_id(requisition))], recorder.max_notification_id())
    facts: list[PositionFact] = [POSITION_FACT.validate_python(to_fact(row).data) for row in rows]
    state = as_it_stood(facts, datetime.fromtimestamp(as_of, UTC))
    spec = state.spec
    if spec is None:
        raise NoSuchPosition(f"position {requisition} was not opened (as of that date)")
    return (
        Opening(
            requisition=requisition,
            role=spec.role.value,
            areas=tuple(a.value for a in spec.therapeutic_areas),
            phases=tuple(p.value for p in spec.trial_phases),
            required=tuple(c.value for c in spec.required_certifications),
            preferred=tuple(c.value for c in spec.preferred_certifications),
            country=spec.country,
            remote=spec.remote,
            min_years=spec.min_years,
        ),
        state.status.value,
    )


def hard_filters(include_past: bool) -> str:
    """SQL: who may be listed at all, before the checks that read a row's processes. The
    moments are parameters: hired before, registered by."""
    members = "(in_pool = 1 OR silver <> '[]')" if include_past else "in_pool = 1"
    return (
        f"erased = 0 AND consent = 'given' AND {members}"
        " AND (hired_at IS NULL OR hired_at < ?) AND registered_at <= ?"
    )


def ranked(
    reader: Reader,
    table: str,
    opening: Opening,
    weights: Weights,
    now: float,
    policy: ContactPolicy,
    *,
    limit: int,
    include_past: bool,
) -> tuple[list[Match], int, dict[str, int], dict[str, int]]:
    """The first ``limit`` matches of ``table`` (the pool view, or its rebuild as of a date),
    how many rows the SQL filters let through, why the others were left out, and why those
    read but not listed were passed over."""
    terms, params = term_sql(opening, weights, now)
    where = hard_filters(include_past)
    hired_before = now - weights.hired_within_days * DAY
    named = [f"{term} AS t{n}" for n, term in enumerate(terms)]
    score = " + ".join(f"t{n}" for n in range(len(terms)))
    # The terms computed once per row (inside), added up and ordered outside.
    statement = (
        f"SELECT *, {score} AS score FROM (SELECT {', '.join(_COLUMNS)}, {', '.join(named)}"
        f" FROM {table} WHERE {where}) AS scored ORDER BY score DESC, candidate LIMIT ? OFFSET ?"
    )
    considered, left_out = _counted(reader, table, include_past, hired_before, now)
    passed_over: dict[str, int] = {}
    found: list[Match] = []
    offset, page = 0, max(4 * limit, 50)
    while len(found) < limit:
        rows = reader.query(statement, [*params, hired_before, now, page, offset])
        for values in rows:
            if len(found) == limit:
                break
            row = dict(zip(_COLUMNS, values, strict=False))
            processes = orjson.loads(row["processes"])
            why = (
                "already in this position's process"
                if opening.requisition in processes
                else "dismissed for this position"
                if opening.requisition in orjson.loads(row["dismissed"])
                else "in a live process for another position"
                if live_elsewhere(processes, opening.requisition, now, weights) is not None
                else None
            )
            if why is not None:
                passed_over[why] = passed_over.get(why, 0) + 1
            else:
                points = values[len(_COLUMNS) : len(_COLUMNS) + len(TERMS)]
                found.append(_match(len(found) + 1, row, points, opening, now, policy))
        if len(rows) < page:
            break
        offset += page
    return found, considered, left_out, passed_over


def _counted(
    reader: Reader, table: str, include_past: bool, hired_before: float, now: float
) -> tuple[int, dict[str, int]]:
    """How many registered candidates pass the SQL filters, and how many each filter left out
    (the first that applies), in one scan."""
    members = "(in_pool = 1 OR silver <> '[]')" if include_past else "in_pool = 1"
    hired = "hired_at IS NOT NULL AND hired_at >= ?"
    (considered, erased, withdrawn, not_recorded, outside, recent) = reader.query(
        "SELECT"
        f" sum(CASE WHEN erased = 0 AND consent = 'given' AND {members} AND NOT ({hired})"
        " THEN 1 ELSE 0 END),"
        " sum(CASE WHEN erased = 1 THEN 1 ELSE 0 END),"
        " sum(CASE WHEN erased = 0 AND consent IN ('withdrawn', 'do_not_contact')"
        " THEN 1 ELSE 0 END),"
        " sum(CASE WHEN erased = 0 AND consent = 'not_recorded' THEN 1 ELSE 0 END),"
        f" sum(CASE WHEN erased = 0 AND consent = 'given' AND NOT {members} THEN 1 ELSE 0 END),"
        f" sum(CASE WHEN erased = 0 AND consent = 'given' AND {members} AND {hired}"
        " THEN 1 ELSE 0 END)"
        f" FROM {table} WHERE registered_at <= ?",
        [hired_before, hired_before, now],
    )[0]
    counts = {
        "erased": erased,
        "opted out or asked not to be contacted": withdrawn,
        "no consent recorded": not_recorded,
        "not in a talent pool" + (" nor a past candidate" if include_past else ""): outside,
        "hired recently": recent,
    }
    return int(considered or 0), {why: int(n) for why, n in counts.items() if n}


def _match(
    rank: int,
    row: dict[str, Any],
    points: Sequence[int],
    opening: Opening,
    now: float,
    policy: ContactPolicy,
) -> Match:
    terms = explain(row, points, opening, now)
    window = policy.outreach_window.total_seconds()
    recent = [t for t in orjson.loads(row["outreach_times"]) if now - window < t <= now]
    return Match(
        rank=rank,
        candidate=row["candidate"],
        candidate_id=row["candidate_id"],
        score=sum(points) / 100,
        terms=terms,
        recruiter=row["recruiter"],
        pools=orjson.loads(row["pools"]),
        silver_for=orjson.loads(row["silver"]),
        outreach_left=max(0, policy.max_outreach - len(recent)),
    )


def match_position(
    views: Reader,
    recorder: LedgerRecorder,
    requisition: str,
    *,
    now: float,
    as_of: float | None,
    weights: Weights,
    policy: ContactPolicy,
    limit: int = 20,
    include_past: bool = False,
) -> MatchList:
    """The ranked list for ``requisition``: now, from ``views``; as of a past date, from the
    pool view rebuilt from the facts that had happened by then."""
    moment = now if as_of is None else as_of
    found, status = opening(recorder, requisition, moment)
    if as_of is None:
        answer = ranked(
            views, POOL.name, found, weights, moment, policy, limit=limit,
            include_past=include_past,
        )  # fmt: skip
    else:
        with pool_as_of(recorder, as_of) as past:
            answer = ranked(
                past, POOL.name, found, weights, moment, policy, limit=limit,
                include_past=include_past,
            )  # fmt: skip
    return MatchList(requisition, status, found, moment, *answer)


def picked_from(
    views: Reader,
    recorder: LedgerRecorder,
    requisition: str,
    *,
    from_match: bool,
    now: float,
    weights: Weights,
    policy: ContactPolicy,
    include_past: bool,
) -> tuple[str, dict[str, tuple[int, float]] | None]:
    """What shortlisting needs: the position's status now, and (``from_match``) each listed
    candidate's rank and score in its match list; without it, no list is ranked at all."""
    if not from_match:
        return opening(recorder, requisition, now)[1], None
    found = match_position(
        views, recorder, requisition, now=now, as_of=None, weights=weights, policy=policy,
        limit=500, include_past=include_past,
    )  # fmt: skip
    return found.status, {m.candidate: (m.rank, m.score) for m in found.matches}


class _MemoryPool:
    """A pool view of its own, in memory (SQLite): the rows as of a date."""

    def __init__(self) -> None:
        self.conn = sqlite3.connect(":memory:")
        columns = ", ".join(f"{c.name} {c.type}" for c in POOL.columns)
        self.conn.execute(f"CREATE TABLE {POOL.name} ({columns}, PRIMARY KEY (candidate_id))")

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(statement, params).fetchall()


class pool_as_of:
    """The pool view as it stood at ``as_of``: every candidate's facts that had happened by
    then, folded by the pool projection, in a table of their own (a read of the whole ledger:
    an audit's question, not a dashboard's)."""

    def __init__(self, recorder: LedgerRecorder, as_of: float) -> None:
        self.recorder, self.as_of = recorder, as_of
        self.pool = _MemoryPool()

    def __enter__(self) -> _MemoryPool:
        states: dict[str, dict[str, Any]] = {}
        for fact in _facts(self.recorder):
            if fact.stream == CANDIDATE and fact.occurred_at <= self.as_of:
                fold(states.setdefault(fact.candidate_id, {}), fact)
        rows = [pool_row(cid, state) for cid, state in states.items() if "g" in state]
        marks = ", ".join("?" * len(_COLUMNS))
        self.pool.conn.executemany(
            f"INSERT INTO {POOL.name} ({', '.join(_COLUMNS)}) VALUES ({marks})",
            [[row[c] for c in _COLUMNS] for row in rows],
        )
        return self.pool

    def __exit__(self, *_exc: object) -> None:
        self.pool.conn.close()


def _facts(recorder: LedgerRecorder) -> Iterator[Any]:
    start, until = 1, recorder.max_notification_id() or 0
    while start <= until:
        rows = recorder.read_stored(start, _READ_BATCH, until)
        if not rows:
            return
        yield from (to_fact(row) for row in rows)
        start = rows[-1].position + 1
