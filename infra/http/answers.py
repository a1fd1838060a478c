"""What each endpoint answers, as models for the OpenAPI document.

The read endpoints answer cached bytes (``infra.http.deps.answer``): these models are never
instantiated on the way out; they say what those bytes hold, so a generated client gets typed
results and a validator can check every answer (the suite does both, with
``openapi-python-client`` and Schemathesis). They forbid any field they do not name: a field
added to an answer and not here fails those tests. Segments and hiring rows carry their
breakdown's dimensions as extra fields (``"status": "passive"``), typed string or null.

Instants are ISO 8601 / RFC 3339 in UTC; rates are fractions of 1.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Breakdown(BaseModel):
    """A row of a breakdown: its dimensions' values are fields of their own."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, str | None] = Field(init=False)  # type: ignore[assignment]


# --- shared parts ------------------------------------------------------------------------------


class Rate(_Answer):
    """``successes`` out of ``n`` with its 95% Wilson interval."""

    successes: int
    n: int
    rate: float
    low: float
    high: float
    one_in: str | None = Field(description="'1 in 5', when the rate is at most a half.")


class _Read(_Answer):
    position: int = Field(description="The ledger position the views answering reflect.")


class _Report(_Answer):
    """A report that can also be asked as it could have been given at an earlier instant."""

    position: int | None = Field(
        None,
        description="The ledger position the views answering reflect; absent with known_at"
        " (those views are built for the question from what had been recorded by then).",
    )
    known_at: AwareDatetime | None = Field(
        None, description="Only with known_at: the answer as it could be given then."
    )


class _Selected(_Report):
    """The outreach a report counts (``basis``, ``where``, the period sent)."""

    basis: Literal["settled", "all"]
    where: dict[str, str | None]
    sent_from: AwareDatetime | None
    sent_until: AwareDatetime | None


# --- metrics -----------------------------------------------------------------------------------


class Segment(_Breakdown):
    """One combination of the breakdown's values (extra fields) and its rates."""

    outreach: int = Field(description="The outreach the rates count.")
    pending: int = Field(description="Delivered outreach whose window was still open.")
    sent: int
    bounced: int
    bounce: Rate
    response: Rate
    engagement: Rate
    response_hours_median: float | None
    response_hours_p90: float | None


class Engagement(_Selected):
    as_of: AwareDatetime
    window_days: float
    by: list[str]
    pending: int
    segments: list[Segment]


class Comparison(_Answer):
    dimension: str
    metric: Literal["engagement", "response"]
    a: str | None
    b: str | None
    where: dict[str, str | None]
    rate_a: Rate
    rate_b: Rate
    pending_a: int
    pending_b: int
    difference: float = Field(description="Rate a minus rate b.")
    low: float = Field(description="The 95% interval of the difference (Newcombe).")
    high: float
    ratio: float | None = Field(description="Rate a over rate b; null when b is 0.")
    verdict: Literal["too few to tell", "no clear difference", "a higher", "a lower"]
    sentence: str


class Comparisons(_Selected):
    as_of: AwareDatetime
    window_days: float
    comparisons: list[Comparison]


class ReasonShare(_Breakdown):
    sentiment: Literal["not_interested", "not_now"]
    reason: str
    replies: int
    share: Rate


class Reasons(_Report):
    as_of: AwareDatetime
    by: list[str]
    reasons: list[ReasonShare]


class FunnelStage(_Answer):
    stage: str
    candidates: int
    conversion: Rate | None = Field(description="Of those who reached the previous stage.")
    median_days: float | None


class Funnel(_Report):
    as_of: AwareDatetime
    stages: list[FunnelStage]


class CandidateExperience(_Report):
    as_of: AwareDatetime
    sla_hours: float
    applications: int = Field(description="Applications whose SLA had elapsed.")
    personal_within_sla: Rate
    automated_only: int


class Days(_Answer):
    positions: int
    median_days: float | None
    p90_days: float | None


class Hiring(_Breakdown):
    from_pool: dict[str, Rate] = Field(description="Per step: of who reached it, from a pool.")
    days_to_first_shortlist: dict[str, Days] = Field(description="Per origin: pool or other.")
    days_to_hire: dict[str, Days]


class PoolHealth(_Answer):
    members: int
    bands: dict[str, int] = Field(description="Members per warmth band.")
    overdue: int


class Payoff(_Read):
    as_of: AwareDatetime
    window_days: float
    audience: list[Segment]
    basis: Literal["settled"]
    content_engagement: Rate
    content_pending: int
    positions: int
    steps_for_unopened_positions: int
    hiring: list[Hiring]
    pool_health: PoolHealth


# --- a candidate's journey, alerts ---------------------------------------------------------------


class Step(_Answer):
    position: int
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    type: str
    by_whom: str
    personal_touch: bool
    reaches: str | None
    detail: str = Field(description="The touchpoint's non-personal fields, for reading.")


class Deadline(_Answer):
    rule: str
    label: str
    due_at: AwareDatetime
    anchor_at: AwareDatetime
    overdue: bool
    text: str


class Journey(_Answer):
    candidate: str
    status: str
    role: str
    recruiter: str | None
    as_of: AwareDatetime
    stage: str
    steps: list[Step]
    last_touch: Step | None
    last_personal_touch: Step | None
    next_due: Deadline | None


class Alert(_Answer):
    candidate: str | None
    candidate_id: str
    recruiter: str | None
    rule: str
    due_at: AwareDatetime
    anchor_at: AwareDatetime
    overdue_days: float
    opened_by: str
    reason: str


class Alerts(_Report):
    as_of: AwareDatetime
    count: int = Field(description="Every open alert, not this page's.")
    by_rule: dict[str, int]
    limit: int
    offset: int
    alerts: list[Alert]


# --- positions ---------------------------------------------------------------------------------


class Reached(_Answer):
    candidates: int
    from_pool: int


class PositionLine(_Answer):
    requisition: str
    title: str | None
    role: str | None
    recruiter: str | None
    client: str | None
    status: Literal["open", "filled", "closed"]
    opened_at: AwareDatetime
    ended_at: AwareDatetime | None
    days_open: float
    funnel: dict[str, Reached] = Field(description="Per step reached.")


class Positions(_Read):
    as_of: AwareDatetime
    positions: list[PositionLine]


class Asks(_Answer):
    role: str
    therapeutic_areas: list[str]
    trial_phases: list[str]
    required_certifications: list[str]
    preferred_certifications: list[str]
    country: str | None
    remote: bool
    min_years: int | None


class Term(_Answer):
    term: str
    points: float
    why: str


class Match(_Answer):
    rank: int
    candidate: str
    candidate_id: str
    score: float
    terms: list[Term]
    recruiter: str | None
    pools: list[str]
    silver_for: list[str]
    outreach_left: int


class Matches(_Read):
    requisition: str
    status: Literal["open", "filled", "closed"]
    as_of: AwareDatetime
    asks: Asks
    considered: int
    left_out: dict[str, int]
    passed_over: dict[str, int]
    matches: list[Match]


# --- compliance --------------------------------------------------------------------------------


class AuditEntry(_Answer):
    position: int
    version: int
    type: str
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    actor: Literal["recruiter", "automation", "candidate", "crm", "compliance"]
    by: str | None
    channel: str | None
    personalization: str | None
    contact_by_us: bool
    consent: str
    fingerprint: str
    link: str


class RefusedTouchpoint(_Answer):
    dedupe_key: str
    code: str
    candidate: str
    type: str
    field: str
    occurred_at: str
    message: str
    source: str


class ContactHistory(_Answer):
    candidate: str
    candidate_id: str
    touchpoints: list[AuditEntry]
    refused_touchpoints: list[RefusedTouchpoint]


class Subject(_Answer):
    candidate: str
    candidate_id: str


class Erasure(_Answer):
    candidate_id: str
    version: int
    reason: str
    erased_at: str
    scrubbed_at: str | None


class HeldTouchpoint(AuditEntry):
    details: dict[str, Any] = Field(description="The touchpoint as recorded, personal data aside.")
    personal: Any = Field(
        description="Its personal data opened; null if it had none; 'erased' after an erasure."
    )


class Processing(_Answer):
    purpose: str
    source: str
    storage: str
    recipients: list[str]
    protection: str


class SubjectAccess(_Answer):
    subject: Subject
    generated_at: AwareDatetime
    erased: bool
    erasure: Erasure | None
    personal_data: Any = Field(description="As at registration; 'erased' after an erasure.")
    profile: dict[str, Any]
    touchpoints: list[HeldTouchpoint]
    refused_touchpoints: list[RefusedTouchpoint]
    processing: Processing


class Erased(_Answer):
    candidate: str
    erased: Literal[True]
    already: Literal[False]
    position: int = Field(description="The erasure_requested event's ledger position.")


class ErasedBefore(_Answer):
    candidate: str
    erased: Literal[True]
    already: Literal[True]
    erased_at: str
    reason: str


# --- writes ------------------------------------------------------------------------------------


class _Seen(_Answer):
    visible: bool | None = Field(None, description="Only with wait: the views show it.")
    views_position: int | None = Field(None, description="Only with wait.")


class Recorded(_Seen):
    status: Literal["recorded"]
    recorded: Literal[1]
    position: int


class Duplicate(_Answer):
    status: Literal["duplicate"]
    recorded: Literal[0]


class Outcome(_Answer):
    index: int
    status: Literal["recorded", "duplicate"]
    position: int | None = Field(None, description="Absent for a duplicate.")


class BatchRecorded(_Seen):
    status: Literal["recorded", "duplicate"]
    recorded: int
    duplicates: int
    last_position: int | None
    results: list[Outcome]


class ShortlistEntry(_Answer):
    candidate: str
    status: Literal["recorded", "duplicate"]
    position: int | None
    source: str | None
    match_rank: int | None
    match_score: float | None


class Shortlist(_Seen):
    """The candidates shortlisted (``Shortlisted`` is the touchpoint's own schema)."""

    status: Literal["recorded", "duplicate"]
    recorded: int
    results: list[ShortlistEntry]
