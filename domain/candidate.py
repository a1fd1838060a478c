"""The Candidate aggregate: one person's contact history and the rules that guard it.

Every touchpoint about a candidate is decided here, against what we already know of them, and
becomes an immutable event. The rules are the ones a recruiting team and its compliance officer
agree on: no contact after an opt-out, no more outreach than the contact policy allows, no
events for someone we never registered or have erased, and a hiring process that happens in
an order that makes sense. Time never comes from a clock here: ``recorded_at`` is passed in.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate
from pydantic import BaseModel, ConfigDict

from domain.consent import ConsentHistory, ConsentState
from domain.policy import ContactPolicy
from domain.refusals import (
    AlreadyRegistered,
    CandidateErased,
    ConsentWithdrawn,
    FrequencyCapExceeded,
    OccurredInTheFuture,
    StageTransitionRefused,
)
from domain.touchpoints import (
    WITHHELD,
    AddedToTalentPool,
    AnyTouchpoint,
    ApplicationAcknowledged,
    ApplicationSubmitted,
    CandidateRegistered,
    ConsentGiven,
    ErasureRequested,
    Hired,
    InterviewScheduled,
    OfferAccepted,
    OfferDeclined,
    OfferExtended,
    OptedOut,
    OutreachSent,
    RemovedFromTalentPool,
    Shortlisted,
    Touchpoint,
)


class CandidateEvent(BaseModel, CanMutateAggregate[UUID]):
    """A touchpoint as recorded: ``timestamp`` is when Rapport recorded it.

    ``touchpoint.occurred_at`` is when it happened, which an import may back-date.
    """

    model_config = ConfigDict(frozen=True)

    originator_id: UUID
    originator_version: int
    timestamp: datetime
    touchpoint: AnyTouchpoint

    def apply(self, aggregate: Any) -> None:
        aggregate.evolve(self.touchpoint)


class Registered(CandidateEvent, CanInitAggregate[UUID]):
    """The first event of every candidate: a CandidateRegistered touchpoint."""

    originator_topic: str
    touchpoint: CandidateRegistered


class TouchpointRecorded(CandidateEvent):
    """Any later touchpoint."""


class Candidate(BaseAggregate[UUID]):
    def __init__(self) -> None:
        self.profile: CandidateRegistered | None = None
        self.erased = False
        self.consent = ConsentHistory()
        self.outreach_times: list[datetime] = []
        self.applications: set[str] = set()
        self.shortlisted_for: set[str] = set()
        self.interviews: set[str] = set()
        self.open_offers: set[str] = set()
        self.accepted_offers: set[str] = set()
        self.hired_for: set[str] = set()
        self.pools: set[str] = set()

    # --- commands -------------------------------------------------------------------------

    @classmethod
    def register(
        cls, touchpoint: CandidateRegistered, *, recorded_at: datetime, policy: ContactPolicy
    ) -> Candidate:
        _not_in_the_future(touchpoint, recorded_at, policy)
        return cls._create(
            Registered,
            id=touchpoint.candidate_id,
            touchpoint=touchpoint,
            timestamp=recorded_at,
        )

    def record(
        self, touchpoint: Touchpoint, *, recorded_at: datetime, policy: ContactPolicy
    ) -> None:
        """Record a touchpoint about this candidate, or raise the ``Refused`` that forbids it."""
        self.check(touchpoint, recorded_at=recorded_at, policy=policy)
        self.trigger_event(TouchpointRecorded, touchpoint=touchpoint, timestamp=recorded_at)

    @classmethod
    def admitted(
        cls, registration: CandidateRegistered, *, recorded_at: datetime, policy: ContactPolicy
    ) -> Candidate:
        """``register``'s decision without its event object: a bulk import stores each event's
        form itself (building a pydantic event per touchpoint only to serialise it again was a
        large share of an import's time)."""
        _not_in_the_future(registration, recorded_at, policy)
        candidate = cls.__new__(cls)
        candidate.__base_init__(registration.candidate_id, cls.INITIAL_VERSION, recorded_at)
        candidate.__init__()  # type: ignore[misc]
        candidate.evolve(registration)
        return candidate

    def admit(
        self, touchpoint: Touchpoint, *, recorded_at: datetime, policy: ContactPolicy
    ) -> None:
        """``record``'s decision and its effect, without the event object (see ``admitted``)."""
        self.check(touchpoint, recorded_at=recorded_at, policy=policy)
        self.evolve(touchpoint)
        self.version += 1

    def check(
        self, touchpoint: Touchpoint, *, recorded_at: datetime, policy: ContactPolicy
    ) -> None:
        _not_in_the_future(touchpoint, recorded_at, policy)
        if self.erased:
            raise CandidateErased(
                f"candidate {touchpoint.candidate} was erased; nothing more is recorded about them"
            )
        if isinstance(touchpoint, CandidateRegistered):
            raise AlreadyRegistered(f"candidate {touchpoint.candidate} is already registered")
        if touchpoint.contact_by_us:
            consent = self.consent.at(touchpoint.occurred_at)
            if consent.state.forbids_contact:
                raise ConsentWithdrawn(
                    f"candidate {touchpoint.candidate} {_CONSENT_WORDS[consent.state]}"
                    f" as of {touchpoint.occurred_at.isoformat()}: no {touchpoint.type}"
                )
        if isinstance(touchpoint, OutreachSent):
            self._check_frequency_cap(touchpoint, policy)
        self._check_stage(touchpoint)

    # --- what the candidate's history says ------------------------------------------------

    def outreach_in_window_around(self, moment: datetime, policy: ContactPolicy) -> int:
        """The most outreach messages any rolling window holding ``moment`` would contain."""
        times = self.outreach_times
        window = policy.outreach_window
        worst = 0
        # Every busiest window can be taken to start at an outreach, or at ``moment`` itself.
        first = bisect_right(times, moment - window)
        for start in [*times[first : bisect_right(times, moment)], moment]:
            inside = bisect_left(times, start + window) - bisect_left(times, start)
            worst = max(worst, inside + 1)
        return worst

    # --- evolution ------------------------------------------------------------------------

    def evolve(self, touchpoint: Touchpoint) -> None:
        match touchpoint:
            case CandidateRegistered():
                self.profile = touchpoint
            case OutreachSent():
                insort(self.outreach_times, touchpoint.occurred_at)
            case OptedOut():
                self.consent.opted_out(touchpoint.occurred_at, touchpoint.scope)
            case ConsentGiven():
                self.consent.given(touchpoint.occurred_at, touchpoint.basis)
            case ApplicationSubmitted():
                self.applications.add(touchpoint.position)
            case Shortlisted():
                self.shortlisted_for.add(touchpoint.position)
            case InterviewScheduled():
                self.interviews.add(touchpoint.position)
            case OfferExtended():
                self.open_offers.add(touchpoint.position)
            case OfferAccepted():
                self.open_offers.discard(touchpoint.position)
                self.accepted_offers.add(touchpoint.position)
            case OfferDeclined():
                self.open_offers.discard(touchpoint.position)
            case Hired():
                self.hired_for.add(touchpoint.position)
            case AddedToTalentPool():
                self.pools.add(touchpoint.pool)
            case RemovedFromTalentPool():
                self.pools.discard(touchpoint.pool)
            case ErasureRequested():
                self.erased = True
                if self.profile is not None:
                    # Forget what this process still holds in memory, as the store forgets.
                    self.profile = self.profile.model_copy(update={"personal": WITHHELD})

    def _check_frequency_cap(self, outreach: OutreachSent, policy: ContactPolicy) -> None:
        busiest = self.outreach_in_window_around(outreach.occurred_at, policy)
        if busiest > policy.max_outreach:
            days = policy.outreach_window.total_seconds() / 86400
            raise FrequencyCapExceeded(
                f"candidate {outreach.candidate} would get {busiest} outreach messages within"
                f" {days:g} days; the contact policy allows {policy.max_outreach}"
            )

    def _check_stage(self, touchpoint: Touchpoint) -> None:
        match touchpoint:
            case ApplicationAcknowledged() if touchpoint.position not in self.applications:
                problem = "acknowledges an application that was never submitted"
            case InterviewScheduled() if touchpoint.position not in (
                self.applications | self.shortlisted_for
            ):
                problem = "schedules an interview before an application or a shortlisting"
            case OfferExtended() if touchpoint.position not in self.interviews:
                problem = "extends an offer without an interview"
            case OfferAccepted() | OfferDeclined() if touchpoint.position not in self.open_offers:
                problem = "answers an offer that is not open"
            case Hired() if touchpoint.position not in self.accepted_offers:
                problem = "hires without an accepted offer"
            case AddedToTalentPool() if touchpoint.pool in self.pools:
                raise StageTransitionRefused(
                    f"candidate {touchpoint.candidate} is already in talent pool {touchpoint.pool}"
                )
            case RemovedFromTalentPool() if touchpoint.pool not in self.pools:
                raise StageTransitionRefused(
                    f"candidate {touchpoint.candidate} is not in talent pool {touchpoint.pool}"
                )
            case _:
                return
        position = getattr(touchpoint, "position", "")
        raise StageTransitionRefused(
            f"{touchpoint.type} for candidate {touchpoint.candidate} {problem}"
            f" (position {position})"
        )


_CONSENT_WORDS = {
    ConsentState.WITHDRAWN: "opted out",
    ConsentState.DO_NOT_CONTACT: "asked not to be contacted",
}


def _not_in_the_future(
    touchpoint: Touchpoint, recorded_at: datetime, policy: ContactPolicy
) -> None:
    if touchpoint.occurred_at > recorded_at + policy.clock_skew:
        raise OccurredInTheFuture(
            f"{touchpoint.type} for candidate {touchpoint.candidate} claims to have happened at"
            f" {touchpoint.occurred_at.isoformat()}, after it was recorded"
            f" ({recorded_at.isoformat()})"
        )
