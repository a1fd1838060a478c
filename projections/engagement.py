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
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from projections.base import Column, Fact, Record, State, Table, Upsert, entry, slot

AUTOMATION = "automation"
"""The ``recruiter`` value of outreach sent by a tool rather than a person."""

STAGE_OF = {
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
ENGAGING_TYPES = frozenset({"call_held", "application_submitted"})
BOUNCE_WITHIN = 7 * 86_400.0
"""A bounce applies to the latest outreach on its channel sent at most this long before it."""


class Outreach(Record):
    """One outreach a candidate's state remembers, stored as a JSON list in this order."""

    __slots__ = ()
    position = slot(0)
    sent_at = slot(1)
    personalization = slot(2)
    channel = slot(3)
    recruiter = slot(4)
    campaign = slot(5)
    first_response_at = slot(6)
    first_engagement_at = slot(7)
    bounced_at = slot(8)
    """When the channel reported it undelivered (the earliest bounce that applies to it)."""
    bounce = slot(9)
    """That bounce's kind: hard or soft."""


class Content(Record):
    """One piece of content shared with a candidate, stored as a JSON list in this order."""

    __slots__ = ()
    position = slot(0)
    shared_at = slot(1)
    recruiter = slot(2)
    first_response_at = slot(3)
    first_engagement_at = slot(4)


class Application(Record):
    """One application (by job requisition) a candidate's state remembers, as a JSON list."""

    __slots__ = ()
    applied_at = slot(0)
    first_personal_touch_at = slot(1)
    automated_ack_at = slot(2)


class CandidateEngagement:
    """A candidate's engagement state: a JSON object whose short keys keep the stored states
    small (millions of candidates); the code reads it by these names."""

    __slots__ = ("raw",)
    status = entry("s")
    role = entry("r")
    pooled_at = entry("pe")

    def __init__(self, raw: State) -> None:
        self.raw = raw

    def outreach(self) -> list[Outreach]:
        return [Outreach(o) for o in self.raw.get("o", ())]

    def remember_outreach(self, outreach: Outreach) -> None:
        self.raw.setdefault("o", []).append(outreach.slots)

    def bounces(self) -> list[list[Any]]:
        """Every bounce reported, as [at, channel, kind, position], sorted (to add to)."""
        return self.raw.setdefault("bo", [])  # type: ignore[no-any-return]

    def content(self) -> list[Content]:
        return [Content(c) for c in self.raw.get("c", ())]

    def remember_content(self, content: Content) -> None:
        self.raw.setdefault("c", []).append(content.slots)

    def times(self, what: str) -> list[float]:
        """Sorted moments of ``REPLIES``, ``ENGAGEMENTS`` or ``PERSONAL_TOUCHES``, to add to."""
        return self.raw.setdefault(what, [])  # type: ignore[no-any-return]

    def seen(self, what: str) -> Sequence[float]:
        """The same moments, only read (nothing is added to the state)."""
        return self.raw.get(what, ())  # type: ignore[no-any-return]

    def stages(self) -> dict[str, float]:
        """When the candidate first entered each funnel stage."""
        return self.raw.setdefault("st", {})  # type: ignore[no-any-return]

    def application(self, position: str) -> Application | None:
        found = self.raw.get("ap", {}).get(position)
        return None if found is None else Application(found)

    def applications(self) -> dict[str, Application]:
        return {position: Application(a) for position, a in self.raw.get("ap", {}).items()}

    def remember_application(self, position: str, application: Application) -> None:
        self.raw.setdefault("ap", {})[position] = application.slots

    def automated_acks(self, position: str) -> list[float]:
        """Sorted moments of automated acknowledgements of the application to ``position``."""
        return self.raw.setdefault("aa", {}).setdefault(position, [])  # type: ignore[no-any-return]

    def acks_seen(self, position: str) -> Sequence[float]:
        return self.raw.get("aa", {}).get(position, ())  # type: ignore[no-any-return]


REPLIES, ENGAGEMENTS, PERSONAL_TOUCHES = "rp", "en", "pt"

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
        Column("bounced_at", _F),
        Column("bounce", _T),
    ),
    key=("position",),
    indexes=(("candidate_id",),),
)
"""One row per outreach (its ledger position is the key); ``bounced_at`` and ``bounce`` say
whether (and how) the channel reported it undelivered."""

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

CONTENT = Table(
    "view_content",
    (
        Column("position", "BIGINT"),
        Column("candidate_id", _T),
        Column("shared_at", _D),
        Column("recruiter", _T),
        Column("cohort_month", _T),
        Column("first_response_at", _F),
        Column("first_engagement_at", _F),
    ),
    key=("position",),
    indexes=(("candidate_id",),),
)
"""One row per ``content_shared`` (its ledger position is the key), with the first reply and
the first engagement after it: content engagement is judged like outreach's, at query time."""

POOL_ENTRIES = Table(
    "view_pool_entries",
    (Column("candidate_id", _T), Column("entered_at", _D)),
    key=("candidate_id",),
)
"""When each candidate first joined a talent pool: outreach sent from then on is outreach to
a pool member (the ``audience`` of a breakdown), outreach before it is cold."""

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


def _first_after(times: Sequence[float], moment: float) -> float | None:
    """The earliest of the sorted ``times`` strictly after ``moment``."""
    index = bisect_right(times, moment)
    return times[index] if index < len(times) else None


class EngagementProjection:
    """Outreach, applications and funnel stages, each with the earliest moments that judge them."""

    name: ClassVar[str] = "engagement"
    version: ClassVar[int] = 3
    tables: ClassVar[tuple[Table, ...]] = (
        OUTREACH,
        CANDIDATE_AREAS,
        APPLICATIONS,
        STAGE_ENTRIES,
        POOL_ENTRIES,
        CONTENT,
    )

    def apply(self, state: State, fact: Fact, out: list[Upsert]) -> None:
        kind = fact.type
        at = fact.occurred_at
        cid = fact.candidate_id
        candidate = CandidateEngagement(state)
        stage = STAGE_OF.get(kind)
        if stage is not None:
            _enter(candidate, cid, stage, at, out)
        if kind == "outreach_sent":
            _outreach(candidate, fact, out)
        elif kind == "reply_received":
            engaging = fact.is_engaging_reply
            _credit(candidate, cid, at, engaging, out)
        elif kind in ENGAGING_TYPES:
            _credit(candidate, cid, at, None, out)
            if kind == "application_submitted":
                _application(candidate, cid, fact.data["position"], at, out)
        elif kind == "application_acknowledged" and fact.data.get("automated"):
            _automated_ack(candidate, cid, fact.data["position"], at, out)
        elif kind == "candidate_registered":
            _registered(candidate, fact, out)
        elif kind == "added_to_talent_pool":
            _pooled(candidate, cid, at, out)
        elif kind == "content_shared":
            _content(candidate, fact, out)
        elif kind == "outreach_bounced":
            data = fact.data
            insort(candidate.bounces(), [at, data["channel"], data["bounce"], fact.position])
            _rebounce(candidate, cid, data["channel"], out)
        if fact.data.get("recruiter") and fact.is_personal_touch:
            _personal_touch(candidate, cid, at, out)


def _enter(
    candidate: CandidateEngagement, cid: str, stage: str, at: float, out: list[Upsert]
) -> None:
    stages = candidate.stages()
    entered = stages.get(stage)
    if entered is None or at < entered:
        stages[stage] = at
        out.append(
            Upsert(STAGE_ENTRIES.name, {"candidate_id": cid, "stage": stage, "entered_at": at})
        )


def _pooled(candidate: CandidateEngagement, cid: str, at: float, out: list[Upsert]) -> None:
    if candidate.pooled_at is None or at < candidate.pooled_at:
        candidate.pooled_at = at
        out.append(Upsert(POOL_ENTRIES.name, {"candidate_id": cid, "entered_at": at}))


def _outreach_row(candidate: CandidateEngagement, cid: str, o: Outreach) -> Upsert:
    week, month = cohorts(o.sent_at)
    return Upsert(
        OUTREACH.name,
        {
            "position": o.position,
            "candidate_id": cid,
            "sent_at": o.sent_at,
            "status": candidate.status,
            "role": candidate.role,
            "personalization": o.personalization,
            "channel": o.channel,
            "recruiter": o.recruiter,
            "campaign": o.campaign,
            "cohort_week": week,
            "cohort_month": month,
            "first_response_at": o.first_response_at,
            "first_engagement_at": o.first_engagement_at,
            "bounced_at": o.bounced_at,
            "bounce": o.bounce,
        },
    )


def _registered(candidate: CandidateEngagement, fact: Fact, out: list[Upsert]) -> None:
    data = fact.data
    candidate.status = data.get("status")
    candidate.role = data.get("role")
    cid = fact.candidate_id
    for area in data.get("therapeutic_areas") or ():
        out.append(Upsert(CANDIDATE_AREAS.name, {"candidate_id": cid, "area": area}))
    for o in candidate.outreach():  # outreach seen before the registration: now with a status
        out.append(_outreach_row(candidate, cid, o))


def _outreach(candidate: CandidateEngagement, fact: Fact, out: list[Upsert]) -> None:
    data = fact.data
    at = fact.occurred_at
    o = Outreach(
        [
            fact.position,
            at,
            data.get("personalization"),
            data.get("channel"),
            AUTOMATION if data.get("automated") else data.get("recruiter") or AUTOMATION,
            data.get("campaign"),
            _first_after(candidate.seen(REPLIES), at),
            _first_after(candidate.seen(ENGAGEMENTS), at),
            None,
            None,
        ]
    )
    candidate.remember_outreach(o)
    out.append(_outreach_row(candidate, fact.candidate_id, o))
    if candidate.raw.get("bo"):
        _rebounce(candidate, fact.candidate_id, o.channel, out)


def _rebounce(candidate: CandidateEngagement, cid: str, channel: str, out: list[Upsert]) -> None:
    """Which outreach on ``channel`` each bounce applies to, again (a late outreach can take a
    bounce over): the latest sent at or before it, within ``BOUNCE_WITHIN``; each outreach keeps
    its earliest bounce. Rows whose bounce changed are written."""
    sent = sorted(
        (o for o in candidate.outreach() if o.channel == channel),
        key=lambda o: (o.sent_at, o.position),
    )
    moments = [o.sent_at for o in sent]
    found: dict[int, tuple[float, int, str]] = {}
    for at, on, kind, position in candidate.bounces():
        index = bisect_right(moments, at) - 1
        if on != channel or index < 0 or at > sent[index].sent_at + BOUNCE_WITHIN:
            continue
        target = sent[index].position
        if target not in found or (at, position) < found[target][:2]:
            found[target] = (at, position, kind)
    for o in sent:
        bounced = found.get(o.position)
        value = (None, None) if bounced is None else (bounced[0], bounced[2])
        if (o.bounced_at, o.bounce) != value:
            o.bounced_at, o.bounce = value
            out.append(_outreach_row(candidate, cid, o))


def _content_row(cid: str, c: Content) -> Upsert:
    return Upsert(
        CONTENT.name,
        {
            "position": c.position,
            "candidate_id": cid,
            "shared_at": c.shared_at,
            "recruiter": c.recruiter,
            "cohort_month": cohorts(c.shared_at)[1],
            "first_response_at": c.first_response_at,
            "first_engagement_at": c.first_engagement_at,
        },
    )


def _content(candidate: CandidateEngagement, fact: Fact, out: list[Upsert]) -> None:
    data = fact.data
    at = fact.occurred_at
    c = Content(
        [
            fact.position,
            at,
            AUTOMATION if data.get("automated") else data.get("recruiter") or AUTOMATION,
            _first_after(candidate.seen(REPLIES), at),
            _first_after(candidate.seen(ENGAGEMENTS), at),
        ]
    )
    candidate.remember_content(c)
    out.append(_content_row(fact.candidate_id, c))


def _credit(
    candidate: CandidateEngagement, cid: str, at: float, engaging: bool | None, out: list[Upsert]
) -> None:
    """A reply (``engaging`` says if it also engages) or, with None, a call or application."""
    response = engaging is not None
    engagement = engaging is None or engaging
    if response:
        insort(candidate.times(REPLIES), at)
    if engagement:
        insort(candidate.times(ENGAGEMENTS), at)
        _enter(candidate, cid, "engaged", at, out)
    for o in candidate.outreach():
        if o.sent_at < at and _earlier(o, at, response, engagement):
            out.append(_outreach_row(candidate, cid, o))
    for c in candidate.content():
        if c.shared_at < at and _earlier(c, at, response, engagement):
            out.append(_content_row(cid, c))


def _earlier(record: Outreach | Content, at: float, response: bool, engagement: bool) -> bool:
    """Credit a reply or engagement at ``at`` to an earlier outreach or content, if it is the
    first of its kind after it; whether anything changed."""
    changed = False
    if response and (record.first_response_at is None or at < record.first_response_at):
        record.first_response_at = at
        changed = True
    if engagement and (record.first_engagement_at is None or at < record.first_engagement_at):
        record.first_engagement_at = at
        changed = True
    return changed


def _application_row(cid: str, position: str, a: Application) -> Upsert:
    return Upsert(
        APPLICATIONS.name,
        {
            "candidate_id": cid,
            "position": position,
            "applied_at": a.applied_at,
            "first_personal_touch_at": a.first_personal_touch_at,
            "automated_ack_at": a.automated_ack_at,
        },
    )


def _application(
    candidate: CandidateEngagement, cid: str, position: str, at: float, out: list[Upsert]
) -> None:
    found = candidate.application(position)
    if found is not None and found.applied_at <= at:
        return
    a = Application(
        [
            at,
            _first_after(candidate.seen(PERSONAL_TOUCHES), at),
            _first_after(candidate.acks_seen(position), at),
        ]
    )
    candidate.remember_application(position, a)
    out.append(_application_row(cid, position, a))


def _automated_ack(
    candidate: CandidateEngagement, cid: str, position: str, at: float, out: list[Upsert]
) -> None:
    insort(candidate.automated_acks(position), at)
    a = candidate.application(position)
    if (
        a is not None
        and a.applied_at < at
        and (a.automated_ack_at is None or at < a.automated_ack_at)
    ):
        a.automated_ack_at = at
        out.append(_application_row(cid, position, a))


def _personal_touch(candidate: CandidateEngagement, cid: str, at: float, out: list[Upsert]) -> None:
    insort(candidate.times(PERSONAL_TOUCHES), at)
    for position, a in candidate.applications().items():
        if a.applied_at < at and (
            a.first_personal_touch_at is None or at < a.first_personal_touch_at
        ):
            a.first_personal_touch_at = at
            out.append(_application_row(cid, position, a))
