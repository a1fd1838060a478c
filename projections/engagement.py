"""Engagement metrics' read model: every outreach with its first response and engagement.

Why this shape: the definitions (README, "Definitions") credit every outreach independently
with the first reply (a *response*) and the first interested / not-now reply, call held or
application (an *engagement*) that follows it. Storing, per outreach, the earliest such moment
after it — whatever the window — lets a query apply any attribution window and any "as of"
instant with plain SQL (``first_response_at <= sent_at + window AND first_response_at <= as_of``),
because the earliest qualifying event is the one that decides both. The funnel
(``view_stage_entries``) and the candidate-experience SLA (``view_applications``) are kept the
same way: earliest moments, judged at query time.

Facts may be back-dated (occurred earlier than facts already processed), so the per-candidate
state keeps the sorted times of replies, engagements and personal touches: a late reply still
credits earlier outreach, and a late outreach looks back into the replies already seen. Every
stored value is a minimum over a set of facts, so the rows depend only on which facts were
applied, never on their order or on how they were batched.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from datetime import UTC, datetime
from typing import Any, ClassVar

from projections.base import Column, Fact, State, Table, Upsert

AUTOMATION = "automation"
"""The ``recruiter`` value of outreach sent by a tool rather than a person."""

_STAGE_OF = {
    "candidate_registered": "sourced",
    "outreach_sent": "contacted",
    "content_shared": "contacted",
    "personal_note_sent": "contacted",
    "application_submitted": "applied",
    "shortlisted": "shortlisted",
    "interview_scheduled": "interviewing",
    "offer_extended": "offered",
    "hired": "hired",
}
_ENGAGING_TYPES = frozenset({"call_held", "application_submitted"})

# An outreach in the state: [position, sent_at, personalization, channel, recruiter, campaign,
# first_response_at, first_engagement_at] (a list: the state is JSON).
_POS, _SENT, _PERS, _CHANNEL, _RECRUITER, _CAMPAIGN, _FR, _FE = range(8)
# An application in the state, by job position: [applied_at, first_personal_touch_at,
# automated_ack_at].
_APPLIED, _TOUCH, _ACK = range(3)

_D, _F, _T = "DOUBLE PRECISION", "DOUBLE PRECISION", "TEXT"
"""Column types: a moment always there, a moment that may be NULL, text."""

OUTREACH = Table(
    "view_outreach",
    (
        Column("position", "BIGINT"),
        Column("candidate_id", _T),
        Column("sent_at", _D),
        Column("status", _T),
        Column("role", _T),
        Column("personalization", _T),
        Column("channel", _T),
        Column("recruiter", _T),
        Column("campaign", _T),
        Column("cohort_week", _T),
        Column("cohort_month", _T),
        Column("first_response_at", _F),
        Column("first_engagement_at", _F),
    ),
    key=("position",),
)
"""One row per outreach (its ledger position is the key)."""

CANDIDATE_AREAS = Table(
    "view_candidate_areas",
    (Column("candidate_id", _T), Column("area", _T)),
    key=("candidate_id", "area"),
)
"""A candidate's therapeutic areas (one row each: a candidate counts in every area)."""

APPLICATIONS = Table(
    "view_applications",
    (
        Column("candidate_id", _T),
        Column("position", _T),
        Column("applied_at", _D),
        Column("first_personal_touch_at", _F),
        Column("automated_ack_at", _F),
    ),
    key=("candidate_id", "position"),
)
"""One row per application (``position`` is the job requisition), with its first answers."""

STAGE_ENTRIES = Table(
    "view_stage_entries",
    (Column("candidate_id", _T), Column("stage", _T), Column("entered_at", _D)),
    key=("candidate_id", "stage"),
)
"""When each candidate first reached each funnel stage."""

_COHORTS: dict[int, tuple[str, str]] = {}


def cohorts(moment: float) -> tuple[str, str]:
    """(ISO week like ``2026-W05``, month like ``2026-05``) of a UTC instant, cached per day."""
    day = int(moment // 86_400)
    found = _COHORTS.get(day)
    if found is None:
        when = datetime.fromtimestamp(day * 86_400, UTC)
        year, week, _ = when.isocalendar()
        found = _COHORTS[day] = (f"{year}-W{week:02d}", f"{when.year}-{when.month:02d}")
    return found


def _first_after(times: list[float], moment: float) -> float | None:
    """The earliest of the sorted ``times`` strictly after ``moment``."""
    index = bisect_right(times, moment)
    return times[index] if index < len(times) else None


class EngagementProjection:
    """Outreach, applications and funnel stages, each with the earliest moments that judge them."""

    name: ClassVar[str] = "engagement"
    version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]] = (OUTREACH, CANDIDATE_AREAS, APPLICATIONS, STAGE_ENTRIES)

    def apply(self, state: State, fact: Fact, out: list[Upsert]) -> None:
        kind = fact.type
        at = fact.occurred_at
        cid = fact.candidate_id
        stage = _STAGE_OF.get(kind)
        if stage is not None:
            _enter(state, cid, stage, at, out)
        if kind == "outreach_sent":
            _outreach(state, fact, out)
        elif kind == "reply_received":
            engaging = fact.is_engaging_reply
            _credit(state, cid, at, engaging, out)
        elif kind in _ENGAGING_TYPES:
            _credit(state, cid, at, None, out)
            if kind == "application_submitted":
                _application(state, cid, fact.data["position"], at, out)
        elif kind == "application_acknowledged" and fact.data.get("automated"):
            _automated_ack(state, cid, fact.data["position"], at, out)
        elif kind == "candidate_registered":
            _registered(state, fact, out)
        if fact.data.get("recruiter") and fact.is_personal_touch:
            _personal_touch(state, cid, at, out)


def _enter(state: State, cid: str, stage: str, at: float, out: list[Upsert]) -> None:
    stages = state.get("st")
    if stages is None:
        stages = state["st"] = {}
    entered = stages.get(stage)
    if entered is None or at < entered:
        stages[stage] = at
        out.append(
            Upsert(STAGE_ENTRIES.name, {"candidate_id": cid, "stage": stage, "entered_at": at})
        )


def _outreach_row(state: State, cid: str, o: list[Any]) -> Upsert:
    week, month = cohorts(o[_SENT])
    return Upsert(
        OUTREACH.name,
        {
            "position": o[_POS],
            "candidate_id": cid,
            "sent_at": o[_SENT],
            "status": state.get("s"),
            "role": state.get("r"),
            "personalization": o[_PERS],
            "channel": o[_CHANNEL],
            "recruiter": o[_RECRUITER],
            "campaign": o[_CAMPAIGN],
            "cohort_week": week,
            "cohort_month": month,
            "first_response_at": o[_FR],
            "first_engagement_at": o[_FE],
        },
    )


def _registered(state: State, fact: Fact, out: list[Upsert]) -> None:
    data = fact.data
    state["s"] = data.get("status")
    state["r"] = data.get("role")
    cid = fact.candidate_id
    for area in data.get("therapeutic_areas") or ():
        out.append(Upsert(CANDIDATE_AREAS.name, {"candidate_id": cid, "area": area}))
    for o in state.get("o", ()):  # outreach seen before the registration: now with a status
        out.append(_outreach_row(state, cid, o))


def _outreach(state: State, fact: Fact, out: list[Upsert]) -> None:
    data = fact.data
    at = fact.occurred_at
    o = [
        fact.position,
        at,
        data.get("personalization"),
        data.get("channel"),
        AUTOMATION if data.get("automated") else data.get("recruiter") or AUTOMATION,
        data.get("campaign"),
        _first_after(state["rp"], at) if "rp" in state else None,
        _first_after(state["en"], at) if "en" in state else None,
    ]
    state.setdefault("o", []).append(o)
    out.append(_outreach_row(state, fact.candidate_id, o))


def _credit(state: State, cid: str, at: float, engaging: bool | None, out: list[Upsert]) -> None:
    """A reply (``engaging`` says if it also engages) or, with None, a call or application."""
    response = engaging is not None
    engagement = engaging is None or engaging
    if response:
        insort(state.setdefault("rp", []), at)
    if engagement:
        insort(state.setdefault("en", []), at)
        _enter(state, cid, "engaged", at, out)
    for o in state.get("o", ()):
        if o[_SENT] >= at:
            continue
        changed = False
        if response and (o[_FR] is None or at < o[_FR]):
            o[_FR] = at
            changed = True
        if engagement and (o[_FE] is None or at < o[_FE]):
            o[_FE] = at
            changed = True
        if changed:
            out.append(_outreach_row(state, cid, o))


def _application_row(cid: str, position: str, a: list[Any]) -> Upsert:
    return Upsert(
        APPLICATIONS.name,
        {
            "candidate_id": cid,
            "position": position,
            "applied_at": a[_APPLIED],
            "first_personal_touch_at": a[_TOUCH],
            "automated_ack_at": a[_ACK],
        },
    )


def _application(state: State, cid: str, position: str, at: float, out: list[Upsert]) -> None:
    applications = state.setdefault("ap", {})
    found = applications.get(position)
    if found is not None and found[_APPLIED] <= at:
        return
    acks = state.get("aa", {}).get(position)
    a = applications[position] = [
        at,
        _first_after(state["pt"], at) if "pt" in state else None,
        _first_after(acks, at) if acks else None,
    ]
    out.append(_application_row(cid, position, a))


def _automated_ack(state: State, cid: str, position: str, at: float, out: list[Upsert]) -> None:
    insort(state.setdefault("aa", {}).setdefault(position, []), at)
    a = state.get("ap", {}).get(position)
    if a is not None and a[_APPLIED] < at and (a[_ACK] is None or at < a[_ACK]):
        a[_ACK] = at
        out.append(_application_row(cid, position, a))


def _personal_touch(state: State, cid: str, at: float, out: list[Upsert]) -> None:
    insort(state.setdefault("pt", []), at)
    for position, a in state.get("ap", {}).items():
        if a[_APPLIED] < at and (a[_TOUCH] is None or at < a[_TOUCH]):
            a[_TOUCH] = at
            out.append(_application_row(cid, position, a))
