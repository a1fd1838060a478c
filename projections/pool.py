"""The talent pool as matching sees it: for every candidate, what fit and warmth are judged by,
and nothing personal.

The source document's pool is the people "to which we turn when we have new positions to fill".
A row says what a candidate brings (role, therapeutic areas, trial phases, certifications from
registration and every enrichment, country, years), whether they may be approached (consent,
erasure), which pools they are in, how warm they are (the last personal touch, the last
engagement, replies to shared content), where they stand in hiring (live processes, the
positions they reached a shortlist or an interview for, their last hire), and the positions a
recruiter dismissed them for. Moments are kept,
not verdicts: "in a live process", "hired recently" and the outreach cap's headroom depend on
the instant a match is asked for, and are judged then (``projections.matching``).

A candidate's state is order-free: each item is the latest by when it happened (ties by ledger
position), a maximum, a union or a sorted window, so facts folded in any order (back-dated
imports included) give the same row, and the row as of a date is the fold of the facts that had
happened by then.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import orjson

from domain.vocabulary import Certification, TherapeuticArea, TrialPhase
from projections.base import Column, Fact, State, Table, Upsert
from projections.engagement import ENGAGING_TYPES

KEPT_TIMES = 24
"""Outreach, content and reply moments kept per candidate (the latest ones): enough for any
contact policy's window and any content's reply window, and bounded however long the history."""

CONTENT_REPLY_DAYS = 30
"""A reply counts as a reply to shared content within this many days after it was shared."""

PROCESS_STAGES = {
    "application_submitted": "applied",
    "application_acknowledged": "applied",
    "shortlisted": "shortlisted",
    "interview_scheduled": "interviewing",
    "offer_extended": "offered",
    "offer_accepted": "offered",
    "offer_declined": "declined",
    "hired": "hired",
}
"""Where a hiring touchpoint leaves the candidate's process for its position."""
ENDED = frozenset({"declined", "hired"})
SILVER = frozenset({"shortlisted", "interviewing", "offered"})
"""Stages that make a candidate a "silver medallist" of a position they were not hired for."""

AREA_BITS = {area.value: 1 << n for n, area in enumerate(TherapeuticArea)}
PHASE_BITS = {phase.value: 1 << n for n, phase in enumerate(TrialPhase)}
CERTIFICATION_BITS = {cert.value: 1 << n for n, cert in enumerate(Certification)}
"""Each vocabulary's values as bits (in the vocabulary's order; a new value takes the next bit),
so a match measures an overlap with integer arithmetic in SQL."""


def bits(values: Iterable[str], of: dict[str, int]) -> int:
    mask = 0
    for value in values:
        mask |= of.get(value, 0)
    return mask


def members(mask: int, of: dict[str, int]) -> list[str]:
    return [value for value, bit in of.items() if mask & bit]


_D, _T, _I = "DOUBLE PRECISION", "TEXT", "INTEGER"

POOL = Table(
    "view_pool",
    (
        Column("candidate_id", _T),
        Column("candidate", _T),
        Column("recruiter", _T),
        Column("status", _T),
        Column("role", _T),
        Column("areas", _I),
        Column("phases", _I),
        Column("certifications", _I),
        Column("country", _T),
        Column("years", _I),
        Column("registered_at", _D),
        Column("pools", _T),
        Column("in_pool", _I),
        Column("consent", _T),
        Column("erased", _I),
        Column("last_personal_touch", _D),
        Column("last_engagement", _D),
        Column("last_content_reply", _D),
        Column("outreach_times", _T),
        Column("processes", _T),
        Column("silver", _T),
        Column("hired_at", _D),
        Column("hired_for", _T),
        Column("dismissed", _T),
    ),
    key=("candidate_id",),
    indexes=(("in_pool", "role"),),
)
"""One row per registered candidate. ``areas``, ``phases``, ``certifications``: bit masks
(``AREA_BITS``…); ``pools``: the pools they are in now (JSON list); ``consent``: not_recorded,
given, withdrawn or do_not_contact; ``outreach_times``: the latest outreach moments (JSON, at
most ``KEPT_TIMES``); ``processes``: per position the latest hiring stage and when (JSON
object); ``silver``: positions they reached a shortlist or interview for and were not hired for
(JSON list); ``dismissed``: positions a recruiter kept them out of the matches of (JSON list)."""


def _later(kept: list[Any] | None, moment: float, position: int) -> bool:
    """Whether a fact at (``moment``, ``position``) comes after what ``kept`` says."""
    return kept is None or (moment, position) > (kept[0], kept[1])


def _keep_latest(times: list[float], moment: float) -> None:
    insort(times, moment)
    if len(times) > KEPT_TIMES:
        del times[0]


class PoolProjection:
    """The pool view: one row per candidate, for matching positions."""

    name: ClassVar[str] = "pool"
    version: ClassVar[int] = 2
    tables: ClassVar[tuple[Table, ...]] = (POOL,)
    reads: ClassVar[tuple[str, ...]] = (
        "candidate",
        "recruiter",
        "status",
        "role",
        "therapeutic_areas",
        "trial_phases",
        "certifications",
        "country",
        "years_experience",
        "certification",
        "automated",
        "personalization",
        "sentiment",
        "scope",
        "position",
        "pool",
    )
    """The touchpoint fields ``apply`` reads (a bulk rebuild gives it only those)."""

    def apply(self, state: State, fact: Fact, out: list[Upsert]) -> None:
        fold(state, fact)
        if "g" in state:
            out.append(Upsert(POOL.name, pool_row(fact.candidate_id, state)))

    def apply_all(self, state: State, facts: Sequence[Fact], out: list[Upsert]) -> None:
        """A candidate's facts at once: the same state, one row."""
        for fact in facts:
            fold(state, fact)
        if facts and "g" in state:
            out.append(Upsert(POOL.name, pool_row(facts[0].candidate_id, state)))


def fold(state: State, fact: Fact) -> None:
    """``state`` with ``fact`` folded in; the same whatever order the facts come in."""
    kind, at, data = fact.type, fact.occurred_at, fact.data
    if fact.is_personal_touch:
        state["tp"] = max(state.get("tp", at), at)
    if kind in ENGAGING_TYPES or fact.is_engaging_reply:
        state["en"] = max(state.get("en", at), at)
    match kind:
        case "candidate_registered":
            state["g"] = [
                data.get("candidate"),
                data.get("recruiter"),
                data.get("status"),
                data.get("role"),
                bits(data.get("therapeutic_areas") or (), AREA_BITS),
                bits(data.get("trial_phases") or (), PHASE_BITS),
                bits(data.get("certifications") or (), CERTIFICATION_BITS),
                data.get("country"),
                data.get("years_experience"),
                at,
            ]
        case "profile_enriched":
            if (certification := data.get("certification")) is not None:
                state["ce"] = state.get("ce", 0) | CERTIFICATION_BITS.get(certification, 0)
        case "added_to_talent_pool" | "removed_from_talent_pool":
            pools = state.setdefault("pl", {})
            if _later(pools.get(data["pool"]), at, fact.position):
                pools[data["pool"]] = [at, fact.position, kind == "added_to_talent_pool"]
        case "opted_out" | "consent_given":
            if _later(state.get("cs"), at, fact.position):
                given = "given" if kind == "consent_given" else None
                scope = "do_not_contact" if data.get("scope") == "do_not_contact" else "withdrawn"
                state["cs"] = [at, fact.position, given or scope]
        case "outreach_sent":
            _keep_latest(state.setdefault("ou", []), at)
        case "content_shared":
            _keep_latest(state.setdefault("co", []), at)
        case "reply_received":
            _keep_latest(state.setdefault("rp", []), at)
        case "erasure_requested":
            state["er"] = True
        case "match_dismissed":
            state.setdefault("dm", {})[data["position"]] = True
    if kind in PROCESS_STAGES and (position := data.get("position")) is not None:
        stage = PROCESS_STAGES[kind]
        processes = state.setdefault("pr", {})
        if _later(processes.get(position), at, fact.position):
            processes[position] = [at, fact.position, stage]
        if stage in SILVER:
            state.setdefault("sv", {})[position] = True
        if stage == "hired" and _later(state.get("hi"), at, fact.position):
            state["hi"] = [at, fact.position, position]


def last_content_reply(contents: Sequence[float], replies: Sequence[float]) -> float | None:
    """The latest reply that came within ``CONTENT_REPLY_DAYS`` after some shared content."""
    window = CONTENT_REPLY_DAYS * 86_400.0
    for reply in reversed(replies):
        if any(shared <= reply <= shared + window for shared in contents):
            return reply
    return None


def pool_row(candidate_id: str, state: State) -> dict[str, Any]:
    """The view's row of a candidate from their state."""
    (reference, recruiter, status, role, areas, phases, certifications, country, years,
     registered_at) = state["g"]  # fmt: skip
    pools = sorted(pool for pool, (_, _, joined) in state.get("pl", {}).items() if joined)
    processes = state.get("pr", {})
    hired = state.get("hi")
    silver = sorted(
        position
        for position in state.get("sv", {})
        if processes.get(position, [0, 0, ""])[2] != "hired"
    )
    return {
        "candidate_id": candidate_id,
        "candidate": reference,
        "recruiter": recruiter,
        "status": status,
        "role": role,
        "areas": areas,
        "phases": phases,
        "certifications": certifications | state.get("ce", 0),
        "country": country,
        "years": years,
        "registered_at": registered_at,
        "pools": orjson.dumps(pools).decode(),
        "in_pool": int(bool(pools)),
        "consent": state["cs"][2] if "cs" in state else "not_recorded",
        "erased": int(state.get("er", False)),
        "last_personal_touch": state.get("tp"),
        "last_engagement": state.get("en"),
        "last_content_reply": last_content_reply(state.get("co", ()), state.get("rp", ())),
        "outreach_times": orjson.dumps(state.get("ou", [])).decode(),
        "processes": orjson.dumps(
            {position: [at, stage] for position, (at, _, stage) in sorted(processes.items())}
        ).decode(),
        "silver": orjson.dumps(silver).decode(),
        "hired_at": hired[0] if hired else None,
        "hired_for": hired[2] if hired else None,
        "dismissed": orjson.dumps(sorted(state.get("dm", ()))).decode(),
    }
