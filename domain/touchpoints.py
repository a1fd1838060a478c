"""The touchpoint catalogue: every kind of contact between Rapport's users and a candidate.

A touchpoint is a fact as a recruiter, the CRM or an automation reports it. The same models
validate an import line, a command, and the payload of the stored event, so there is one
definition of each kind of touchpoint. Personal data (names, emails, phone numbers, free text)
lives only inside the ``personal`` field of a touchpoint, so the ledger can seal it with the
candidate's own key and leave it off every topic without knowing each type's details.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from functools import lru_cache
from hashlib import sha256
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self
from uuid import UUID, uuid5

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from domain.access import with_article
from domain.vocabulary import (
    BounceKind,
    CandidateSource,
    CandidateStatus,
    Certification,
    Channel,
    ConsentBasis,
    ContentKind,
    DeclineReason,
    DismissReason,
    EnrichmentKind,
    ErasureReason,
    MeetingKind,
    NoteOccasion,
    OptOutScope,
    Personalization,
    PoolExitReason,
    ReplyReason,
    Role,
    Sentiment,
    ShortlistSource,
    TherapeuticArea,
    TrialPhase,
)

IDEMPOTENCY_PREFIX = "idem:"
CANDIDATE_NAMESPACE = UUID("6f1c4b8e-3a52-4f0e-9d3c-2b7a1e5c9f40")


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Touchpoints happen in [EARLIEST, LATEST): a moment outside is a typo or a placeholder
(``0001-01-01``, ``9999-12-31``), and the rules' arithmetic on it would overflow."""


def in_bounds(moment: datetime) -> datetime:
    """``moment`` (with its zone) in UTC, or ``ValueError`` when it is out of bounds.

    The year is checked before the zone is applied: ``0001-01-01T00:00+14:00`` in UTC would be
    in year 0, which Python cannot represent.
    """
    if not EARLIEST.year - 1 <= moment.year <= LATEST.year or not (
        EARLIEST <= (moment := moment.astimezone(UTC)) < LATEST
    ):
        raise ValueError(
            f"must be from {EARLIEST:%Y-%m-%d} up to (not including) {LATEST:%Y-%m-%d}, UTC"
        )
    return moment


def _day_in_bounds(day: date) -> date:
    if not EARLIEST.date() <= day < LATEST.date():
        raise ValueError(f"must be from {EARLIEST:%Y-%m-%d} up to {LATEST:%Y-%m-%d}")
    return day


_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
    r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)
_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NOT_RFC3339 = "must be an RFC 3339 date-time with its offset, e.g. 2026-05-01T09:00:00Z"


def _rfc3339(value: object, validate: ValidatorFunctionWrapHandler) -> object:
    """As the published schema says (``format: date-time``): RFC 3339, seconds and offset
    included, a real day and time; not the other forms pydantic would parse (a space, no
    seconds, ``+0000``, seconds since the epoch in a string). Parsed here, so that strict
    validation gets a datetime."""
    if isinstance(value, str):
        if not _RFC3339.fullmatch(value):
            raise ValueError(_NOT_RFC3339)
        try:
            value = datetime.fromisoformat(value.upper())
        except ValueError:
            raise ValueError(_NOT_RFC3339) from None
    return validate(value)


def _full_date(value: object, validate: ValidatorFunctionWrapHandler) -> object:
    """A day as RFC 3339's ``full-date`` (``format: date``), parsed here as ``_rfc3339`` is."""
    if isinstance(value, str):
        if not _FULL_DATE.fullmatch(value):
            raise ValueError("must be a date as YYYY-MM-DD")
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise ValueError("must be a date as YYYY-MM-DD") from None
    return validate(value)


Instant = Annotated[AwareDatetime, WrapValidator(_rfc3339), AfterValidator(in_bounds)]
"""A moment with its zone, within the bounds, kept in UTC so that every comparison is between
like things."""
Day = Annotated[date, WrapValidator(_full_date), AfterValidator(_day_in_bounds)]

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@#-]{0,63}$")]
"""An opaque id from another system (CRM candidate, recruiter, campaign, position, pool).

Never a name or an address: identifiers travel on topics, personal data does not."""

CandidateRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@#-]{0,63}$")]
"""The CRM's reference of a candidate: an ``Identifier`` without ``/``, so that it is one
segment of a URL (``/api/v1/journeys/{candidate}``)."""

SourceId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")
]
"""A CRM's id of a touchpoint: any printable text (no NUL or other control characters,
which some stores cannot hold)."""
Text = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ().-]{5,30}$")]
Email = Annotated[
    str, StringConstraints(pattern=r"^[^@\s<>]{1,64}@[^@\s<>]+\.[^@\s<>]{2,}$", max_length=254)
]
"""An address's shape only: a CRM export is not the place to check that a mailbox exists."""


_PERSONAL = {"personal": True}


def content_digest(content: bytes) -> str:
    return f"sha256:{sha256(content).hexdigest()}"


@lru_cache(maxsize=1 << 18)
def candidate_id(candidate: str) -> UUID:
    """The ledger's id of a candidate, derived from the CRM's reference so every writer agrees."""
    return uuid5(CANDIDATE_NAMESPACE, candidate)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- personal data: only ever inside a touchpoint's ``personal`` field ------------------------


class ContactDetails(_Model):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    email: Email | None = None
    phone: Phone | None = None


class Message(_Model):
    """The words of a message: free text, so personal."""

    subject: Annotated[str, StringConstraints(max_length=500)] | None = None
    body: Text | None = None


class Notes(_Model):
    text: Text


class ProfileChange(_Model):
    title: Annotated[str, StringConstraints(max_length=200)] | None = None
    employer: Annotated[str, StringConstraints(max_length=200)] | None = None


class Withheld(_Model):
    """Personal data that is not in this copy of a touchpoint.

    The ledger keeps personal data sealed with the candidate's own key and hands it out only
    to a subject-access export; every other reader, and everyone after an erasure, gets this.
    """

    withheld: Literal[True]


WITHHELD = Withheld(withheld=True)

_HIDDEN_MEMBERS = frozenset({Withheld.__name__})
"""Union members the published schema leaves out (``SkipJsonSchema``): what they say is wrong
with an input is no help to whoever wrote it, when the member they meant says it too."""
_MESSAGE_PREFIXES = ("Value error, ", "Assertion failed, ")


def readable_errors(invalid: ValidationError) -> list[tuple[tuple[str | int, ...], str]]:
    """pydantic's errors as the people who sent the input read them: (field path, message).

    pydantic names the union member it tried in the path (``personal.Message.withheld``) and
    prefixes the messages of validators (``Value error, ...``); both are its internals. Here
    the members' names are left out of the path (models' names are capitalised, fields' never
    are), the errors of hidden members dropped where another member at the same place has one,
    the prefixes removed, and each (path, message) kept once.
    """
    errors = invalid.errors(include_url=False, include_input=False, include_context=False)
    found: list[tuple[tuple[str | int, ...], str, bool, tuple[str | int, ...]]] = []
    for error in errors:
        location = tuple(error["loc"])
        members = [i for i, part in enumerate(location) if _is_member(part)]
        place = location[: members[0]] if members else location
        hidden = any(location[i] in _HIDDEN_MEMBERS for i in members)
        path = tuple(part for part in location if not _is_member(part))
        message = str(error["msg"])
        for prefix in _MESSAGE_PREFIXES:
            message = message.removeprefix(prefix)
        found.append((path, message, hidden, place))
    said_by_visible = {place for _, _, hidden, place in found if not hidden}
    readable: list[tuple[tuple[str | int, ...], str]] = []
    for path, message, hidden, place in found:
        if hidden and place in said_by_visible:
            continue
        if (path, message) not in readable:
            readable.append((path, message))
    return readable


def _is_member(part: str | int) -> bool:
    """A union member's name pydantic put in an error's path: a model's (capitalised) or a
    validator's label (``function-after[...]``), never a field's."""
    return isinstance(part, str) and (part[:1].isupper() or "[" in part)


STORED: dict[str, bool] = {"stored": True}
"""The validation context of a touchpoint read back from the ledger (may be ``Withheld``)."""


# --- the touchpoints ---------------------------------------------------------------------------


class KeyedFact(_Model):
    """What every recorded fact shares, a touchpoint or a position's: when it happened, the
    CRM's id of it, and the key that makes a re-delivery recognisable.

    Fields are declared by each kind (their order is the stored JSON's, which content keys
    digest); this class holds only what is computed from them.
    """

    schema_version: ClassVar[int] = 1
    source_prefix: ClassVar[str] = "src:"
    """Prefix of the deduplication key made of a CRM id: touchpoints' and positions' differ,
    because a CRM's ids are unique per kind of record, not across kinds."""

    if TYPE_CHECKING:  # declared by each kind, in its own order
        type: str
        occurred_at: datetime
        source_id: str | None
    _idempotency_key: str | None = PrivateAttr(default=None)

    def with_idempotency_key(self, key: str) -> Self:
        """This fact as sent under a client's idempotency key (HTTP, ``record``)."""
        keyed = self.model_copy()
        keyed._idempotency_key = key
        return keyed

    @property
    def idempotency_key(self) -> str | None:
        # Read from pydantic's private store directly: the attribute's own lookup goes through
        # BaseModel.__getattr__ (1.5 µs, once per touchpoint of a bulk import).
        private = self.__pydantic_private__
        return private.get("_idempotency_key") if private else None

    @property
    def stream_id(self) -> UUID:
        """The ledger's id of the aggregate this fact belongs to."""
        raise NotImplementedError

    @property
    def dedupe_key(self) -> str:
        """What makes a re-delivered fact recognisable: its CRM id, else the client's
        idempotency key, else its content. Each kind has its own prefix, so a client's key can
        never match a CRM id (and swallow another fact as its duplicate).

        The content digest leaves personal data out, so the key outlives an erasure.
        """
        return self.dedupe_key_of()

    @property
    def content_digest(self) -> str:
        """What the fact says, personal data left out (it is sealed, then erased)."""
        return content_digest(self.clear_json)

    @property
    def clear_json(self) -> bytes:
        """The fact's JSON without its personal data: what the ledger stores in the clear."""
        return self.__pydantic_serializer__.to_json(self, exclude=_PERSONAL)

    def dedupe_key_of(self, clear_json: bytes | None = None) -> str:
        """``dedupe_key``, from the ``clear_json`` a bulk import has already serialised."""
        if self.source_id is not None:
            return f"{self.source_prefix}{self.source_id}"
        if (key := self.idempotency_key) is not None:
            return f"{IDEMPOTENCY_PREFIX}{key}"
        return content_digest(self.clear_json if clear_json is None else clear_json)


class Touchpoint(KeyedFact):
    """What every touchpoint says: whom it concerns and when it happened."""

    contact_by_us: ClassVar[bool] = False
    """A contact we start: refused once the candidate has opted out."""

    type: str
    candidate: CandidateRef
    occurred_at: Instant
    source_id: SourceId | None = None

    @field_validator("personal", check_fields=False)
    @classmethod
    def _given_not_withheld(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, Withheld) and not (info.context or {}).get("stored"):
            raise ValueError("personal data is given as its fields, never as withheld")
        return value

    @property
    def candidate_id(self) -> UUID:
        return candidate_id(self.candidate)

    @property
    def stream_id(self) -> UUID:
        return candidate_id(self.candidate)

    @property
    def is_personal_touch(self) -> bool:
        """A non-automated touch by a recruiter (the source document's "human contact")."""
        return False


class _ByUs(Touchpoint):
    """A touchpoint done by a recruiter or by an automation on the firm's behalf."""

    recruiter: Identifier | None = None
    automated: bool = False

    @model_validator(mode="after")
    def _someone_did_it(self) -> Self:
        if self.recruiter is None and not self.automated:
            raise ValueError("name the recruiter, or set automated to true")
        return self

    @property
    def is_personal_touch(self) -> bool:
        return not self.automated and self.recruiter is not None


class _ByRecruiter(_ByUs):
    """A touchpoint only a person can do."""

    @model_validator(mode="after")
    def _a_person_did_it(self) -> Self:
        if self.automated or self.recruiter is None:
            raise ValueError(f"{with_article(self.type)} is done by a recruiter, not by automation")
        return self


class CandidateRegistered(Touchpoint):
    type: Literal["candidate_registered"] = "candidate_registered"
    role: Role
    status: CandidateStatus
    source: CandidateSource = CandidateSource.OTHER
    therapeutic_areas: list[TherapeuticArea] = Field(default_factory=list, max_length=11)
    trial_phases: list[TrialPhase] = Field(default_factory=list, max_length=4)
    certifications: list[Certification] = Field(default_factory=list, max_length=8)
    years_experience: Annotated[int, Field(ge=0, le=60)] | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    recruiter: Identifier | None = None
    personal: ContactDetails | SkipJsonSchema[Withheld]


class ProfileEnriched(_ByUs):
    """Automation noticed a promotion, a new certification or a move: a reason to say hello."""

    type: Literal["profile_enriched"] = "profile_enriched"
    automated: bool = True
    change: EnrichmentKind
    certification: Certification | None = None
    personal: ProfileChange | SkipJsonSchema[Withheld] | None = None

    @model_validator(mode="after")
    def _certification_named(self) -> Self:
        if self.change is EnrichmentKind.CERTIFICATION and self.certification is None:
            raise ValueError("a certification change names the certification")
        return self


class OutreachSent(_ByUs):
    type: Literal["outreach_sent"] = "outreach_sent"
    contact_by_us: ClassVar[bool] = True
    channel: Channel
    personalization: Personalization
    campaign: Identifier | None = None
    position: Identifier | None = None
    personal: Message | SkipJsonSchema[Withheld] | None = None

    @model_validator(mode="after")
    def _research_needs_a_person(self) -> Self:
        if self.personalization is Personalization.PERSONALIZED and self.automated:
            raise ValueError("a personalized message is researched and sent by a recruiter")
        return self

    @property
    def is_personal_touch(self) -> bool:
        return super().is_personal_touch and self.personalization is not (
            Personalization.GENERIC_BLAST
        )


_LEFT_OUT_WHEN_NONE = {"exclude_if": lambda value: value is None}
"""For a field added to a type later: left out of the JSON when not given, so a touchpoint
recorded before it existed keeps its content digest (its deduplication key) byte for byte."""


class OutreachBounced(Touchpoint):
    """The channel reported an outreach undelivered (a hard or soft bounce): not a response,
    and the message never reached the candidate. It applies to the candidate's latest
    outreach on that channel sent at or before it, within 7 days (README, "Definitions")."""

    type: Literal["outreach_bounced"] = "outreach_bounced"
    channel: Channel
    bounce: BounceKind
    automated: Literal[True] = True
    """Reported by the channel's system, never by a person."""


class ReplyReceived(Touchpoint):
    """A candidate's answer; a no or a not-now may say why (``reason``), and a not-now may name
    the day to ask again (``follow_up_on``: "not now, ask me in March")."""

    schema_version: ClassVar[int] = 2
    type: Literal["reply_received"] = "reply_received"
    channel: Channel
    sentiment: Sentiment
    reason: ReplyReason | None = Field(default=None, **_LEFT_OUT_WHEN_NONE)
    follow_up_on: Annotated[date, WrapValidator(_full_date)] | None = Field(
        default=None, **_LEFT_OUT_WHEN_NONE
    )
    personal: Message | SkipJsonSchema[Withheld] | None = None

    @model_validator(mode="after")
    def _reason_and_date_fit(self) -> Self:
        if self.reason is not None and self.sentiment is Sentiment.INTERESTED:
            raise ValueError("a reason is given for a not_interested or not_now reply only")
        if self.follow_up_on is not None:
            if self.sentiment is not Sentiment.NOT_NOW:
                raise ValueError("follow_up_on is given for a not_now reply only")
            if self.follow_up_on <= self.occurred_at.astimezone(UTC).date():
                raise ValueError("follow_up_on must be a day after the reply")
            if self.follow_up_on >= LATEST.date():
                raise ValueError(f"follow_up_on must be before {LATEST.date()}")
        return self


class CallHeld(_ByRecruiter):
    """A call or meeting that actually took place (not one merely booked)."""

    type: Literal["call_held"] = "call_held"
    kind: MeetingKind = MeetingKind.CALL
    duration_minutes: Annotated[int, Field(ge=1, le=600)] | None = None
    personal: Notes | SkipJsonSchema[Withheld] | None = None


class ApplicationSubmitted(Touchpoint):
    type: Literal["application_submitted"] = "application_submitted"
    position: Identifier


class ApplicationAcknowledged(_ByUs):
    """The "we got your application" message: automated, or written by a person."""

    type: Literal["application_acknowledged"] = "application_acknowledged"
    position: Identifier
    channel: Channel = Channel.EMAIL
    personal: Message | SkipJsonSchema[Withheld] | None = None


class AddedToTalentPool(_ByUs):
    type: Literal["added_to_talent_pool"] = "added_to_talent_pool"
    pool: Identifier


class RemovedFromTalentPool(_ByUs):
    type: Literal["removed_from_talent_pool"] = "removed_from_talent_pool"
    pool: Identifier
    reason: PoolExitReason


class ContentShared(_ByUs):
    """Relevant content that keeps the talent pool warm, without a hard sell."""

    type: Literal["content_shared"] = "content_shared"
    contact_by_us: ClassVar[bool] = True
    content: ContentKind
    content_id: Identifier | None = None
    channel: Channel = Channel.EMAIL
    campaign: Identifier | None = None


class PersonalNoteSent(_ByRecruiter):
    """A note written by a person: congratulations on a promotion, an opportunity, a check-in."""

    type: Literal["personal_note_sent"] = "personal_note_sent"
    contact_by_us: ClassVar[bool] = True
    occasion: NoteOccasion
    channel: Channel = Channel.EMAIL
    personal: Message | SkipJsonSchema[Withheld] | None = None


class Shortlisted(_ByUs):
    """A candidate put on a position's short list; where they came from, when it is known (a
    pool match, with the rank and score it had when they were picked, or sourced otherwise)."""

    schema_version: ClassVar[int] = 2
    type: Literal["shortlisted"] = "shortlisted"
    position: Identifier
    source: ShortlistSource | None = Field(default=None, **_LEFT_OUT_WHEN_NONE)
    match_rank: Annotated[int, Field(ge=1)] | None = Field(default=None, **_LEFT_OUT_WHEN_NONE)
    match_score: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = Field(
        default=None, **_LEFT_OUT_WHEN_NONE
    )

    @model_validator(mode="after")
    def _attributed(self) -> Self:
        from_match = self.match_rank is not None or self.match_score is not None
        if self.source is ShortlistSource.POOL_MATCH and (
            self.match_rank is None or self.match_score is None
        ):
            raise ValueError("a pool_match shortlisting gives its match_rank and match_score")
        if from_match and self.source is not ShortlistSource.POOL_MATCH:
            raise ValueError("match_rank and match_score come with source pool_match only")
        return self


class MatchDismissed(_ByRecruiter):
    """A recruiter keeps the candidate out of a position's matches from now on: a decision
    about the candidate, not a contact with them (never a personal touch)."""

    type: Literal["match_dismissed"] = "match_dismissed"
    position: Identifier
    reason: DismissReason
    personal: Notes | SkipJsonSchema[Withheld] | None = None

    @property
    def is_personal_touch(self) -> bool:
        return False


class InterviewScheduled(_ByUs):
    type: Literal["interview_scheduled"] = "interview_scheduled"
    position: Identifier
    scheduled_for: Instant | None = None


class OfferExtended(_ByRecruiter):
    type: Literal["offer_extended"] = "offer_extended"
    position: Identifier


class OfferAccepted(Touchpoint):
    type: Literal["offer_accepted"] = "offer_accepted"
    position: Identifier


class OfferDeclined(Touchpoint):
    type: Literal["offer_declined"] = "offer_declined"
    position: Identifier
    reason: DeclineReason
    personal: Notes | SkipJsonSchema[Withheld] | None = None


class Hired(_ByUs):
    type: Literal["hired"] = "hired"
    position: Identifier
    start_date: Day | None = None


class ConsentGiven(Touchpoint):
    type: Literal["consent_given"] = "consent_given"
    basis: ConsentBasis = ConsentBasis.EXPLICIT_CONSENT


class OptedOut(Touchpoint):
    type: Literal["opted_out"] = "opted_out"
    scope: OptOutScope = OptOutScope.OPT_OUT
    channel: Channel | None = None


class ErasureRequested(Touchpoint):
    """The candidate's personal data is to be forgotten (GDPR Art. 17).

    Recording it destroys the candidate's key in the same transaction, so everything personal
    the ledger holds about them becomes unreadable; nothing more is recorded after it.
    """

    type: Literal["erasure_requested"] = "erasure_requested"
    reason: ErasureReason = ErasureReason.DATA_SUBJECT_REQUEST
    requested_by: Identifier | None = None
    """The compliance officer (or system) that carried it out."""


AnyTouchpoint = Annotated[
    CandidateRegistered
    | ProfileEnriched
    | OutreachSent
    | OutreachBounced
    | ReplyReceived
    | CallHeld
    | ApplicationSubmitted
    | ApplicationAcknowledged
    | AddedToTalentPool
    | RemovedFromTalentPool
    | ContentShared
    | PersonalNoteSent
    | Shortlisted
    | MatchDismissed
    | InterviewScheduled
    | OfferExtended
    | OfferAccepted
    | OfferDeclined
    | Hired
    | ConsentGiven
    | OptedOut
    | ErasureRequested,
    Field(discriminator="type"),
]

CATALOGUE: dict[str, type[Touchpoint]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        CandidateRegistered,
        ProfileEnriched,
        OutreachSent,
        OutreachBounced,
        ReplyReceived,
        CallHeld,
        ApplicationSubmitted,
        ApplicationAcknowledged,
        AddedToTalentPool,
        RemovedFromTalentPool,
        ContentShared,
        PersonalNoteSent,
        Shortlisted,
        MatchDismissed,
        InterviewScheduled,
        OfferExtended,
        OfferAccepted,
        OfferDeclined,
        Hired,
        ConsentGiven,
        OptedOut,
        ErasureRequested,
    )
}
"""Every touchpoint type by its ``type`` name, in the order a journey usually meets them."""

TOUCHPOINT = TypeAdapter(AnyTouchpoint)
"""Validates one touchpoint of any type (the import format)."""


def actor_of(kind: str, data: Mapping[str, Any]) -> tuple[str, str | None]:
    """Who did a touchpoint — ``recruiter``, ``automation``, ``candidate``, ``crm`` (a
    registration without a recruiter) or ``compliance`` (an erasure) — and their id when one is
    named: the one answer the journey and the compliance export both give."""
    recruiter = data.get("recruiter")
    if kind == "erasure_requested":
        return "compliance", data.get("requested_by")
    if kind == "candidate_registered":
        return ("recruiter" if recruiter else "crm"), recruiter
    if "automated" in data:
        return ("automation" if data["automated"] else "recruiter"), recruiter
    return "candidate", None
