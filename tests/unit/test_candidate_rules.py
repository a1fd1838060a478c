"""The business rules of a candidate's contact history: given these touchpoints, when this one,
then it is recorded, or refused for this reason. Pure domain: no database, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.candidate import Candidate, Registered, TouchpointRecorded
from domain.policy import ContactPolicy
from domain.refusals import (
    AlreadyRegistered,
    CandidateErased,
    ConsentWithdrawn,
    FrequencyCapExceeded,
    OccurredInTheFuture,
    Refused,
    StageTransitionRefused,
)
from domain.touchpoints import Touchpoint
from tests.support.builders import at, tp

RECORDED = datetime(2026, 6, 1, tzinfo=UTC)
POLICY = ContactPolicy()


def given(*history: Touchpoint, policy: ContactPolicy = POLICY) -> Candidate:
    registered, *rest = history
    candidate = Candidate.register(registered, recorded_at=RECORDED, policy=policy)  # type: ignore[arg-type]
    for touchpoint in rest:
        candidate.record(touchpoint, recorded_at=RECORDED, policy=policy)
    candidate.collect_events()
    return candidate


def when(candidate: Candidate, touchpoint: Touchpoint, policy: ContactPolicy = POLICY) -> list:
    candidate.record(touchpoint, recorded_at=RECORDED, policy=policy)
    return list(candidate.collect_events())


def test_registering_a_candidate_starts_their_history() -> None:
    candidate = Candidate.register(tp("candidate_registered"), recorded_at=RECORDED, policy=POLICY)
    (event,) = candidate.collect_events()
    assert isinstance(event, Registered)
    assert event.timestamp == RECORDED
    assert candidate.profile is not None and candidate.profile.status.value == "passive"


def test_a_candidate_cannot_be_registered_twice() -> None:
    candidate = given(tp("candidate_registered"))
    with pytest.raises(AlreadyRegistered):
        when(candidate, tp("candidate_registered", when=at(days=1)))


def test_personalized_outreach_to_a_passive_candidate_is_recorded() -> None:
    candidate = given(tp("candidate_registered"))
    (event,) = when(candidate, tp("outreach_sent", when=at(days=1)))
    assert isinstance(event, TouchpointRecorded)
    assert event.touchpoint.is_personal_touch


def test_no_outreach_after_the_candidate_opted_out() -> None:
    candidate = given(tp("candidate_registered"), tp("opted_out", when=at(days=2)))
    with pytest.raises(ConsentWithdrawn, match="opted out"):
        when(candidate, tp("outreach_sent", when=at(days=3)))


def test_do_not_contact_also_stops_content_and_personal_notes() -> None:
    candidate = given(
        tp("candidate_registered"), tp("opted_out", when=at(days=2), scope="do_not_contact")
    )
    for touchpoint in (
        tp("content_shared", when=at(days=3)),
        tp("personal_note_sent", when=at(days=3)),
    ):
        with pytest.raises(ConsentWithdrawn, match="asked not to be contacted"):
            when(candidate, touchpoint)


def test_outreach_back_dated_before_the_opt_out_is_still_a_fact() -> None:
    candidate = given(tp("candidate_registered"), tp("opted_out", when=at(days=5)))
    assert when(candidate, tp("outreach_sent", when=at(days=1)))


def test_consent_given_again_lifts_an_earlier_opt_out() -> None:
    candidate = given(
        tp("candidate_registered"),
        tp("opted_out", when=at(days=2)),
        tp("consent_given", when=at(days=4)),
    )
    assert when(candidate, tp("outreach_sent", when=at(days=5)))
    with pytest.raises(ConsentWithdrawn):
        when(candidate, tp("outreach_sent", when=at(days=3)))


def test_an_opted_out_candidate_may_still_reply_and_apply() -> None:
    candidate = given(tp("candidate_registered"), tp("opted_out", when=at(days=2)))
    assert when(candidate, tp("reply_received", when=at(days=3)))
    assert when(candidate, tp("application_submitted", when=at(days=3)))


def test_the_frequency_cap_limits_outreach_in_any_rolling_window() -> None:
    candidate = given(
        tp("candidate_registered"),
        tp("outreach_sent", when=at(days=1)),
        tp("outreach_sent", when=at(days=5)),
        tp("outreach_sent", when=at(days=9)),
    )
    with pytest.raises(FrequencyCapExceeded, match="allows 3"):
        when(candidate, tp("outreach_sent", when=at(days=14)))
    # A back-dated message that would crowd an earlier window is refused as well.
    with pytest.raises(FrequencyCapExceeded):
        when(candidate, tp("outreach_sent", when=at(days=-3)))
    # Fifteen days after the first, the window has moved on.
    assert when(candidate, tp("outreach_sent", when=at(days=15.5)))


def test_the_frequency_cap_is_the_team_s_choice() -> None:
    strict = ContactPolicy(max_outreach=1, outreach_window=timedelta(days=30))
    candidate = given(
        tp("candidate_registered"), tp("outreach_sent", when=at(days=1)), policy=strict
    )
    with pytest.raises(FrequencyCapExceeded):
        when(candidate, tp("outreach_sent", when=at(days=20)), policy=strict)


def test_content_and_notes_do_not_count_against_the_outreach_cap() -> None:
    candidate = given(
        tp("candidate_registered"),
        *(tp("outreach_sent", when=at(days=d)) for d in (1, 2, 3)),
    )
    assert when(candidate, tp("content_shared", when=at(days=4)))
    assert when(candidate, tp("personal_note_sent", when=at(days=4)))


def test_an_acknowledgement_needs_an_application() -> None:
    candidate = given(tp("candidate_registered"))
    with pytest.raises(StageTransitionRefused, match="never submitted"):
        when(candidate, tp("application_acknowledged", when=at(days=1)))
    when(candidate, tp("application_submitted", when=at(days=1)))
    assert when(candidate, tp("application_acknowledged", when=at(days=1, hours=1)))


def test_the_hiring_process_happens_in_order() -> None:
    candidate = given(tp("candidate_registered"))
    with pytest.raises(StageTransitionRefused, match="interview before"):
        when(candidate, tp("interview_scheduled", when=at(days=1)))
    when(candidate, tp("shortlisted", when=at(days=1)))
    with pytest.raises(StageTransitionRefused, match="without an interview"):
        when(candidate, tp("offer_extended", when=at(days=2)))
    when(candidate, tp("interview_scheduled", when=at(days=2)))
    with pytest.raises(StageTransitionRefused, match="not open"):
        when(candidate, tp("offer_accepted", when=at(days=3)))
    when(candidate, tp("offer_extended", when=at(days=3)))
    with pytest.raises(StageTransitionRefused, match="without an accepted offer"):
        when(candidate, tp("hired", when=at(days=4)))
    when(candidate, tp("offer_accepted", when=at(days=4)))
    assert when(candidate, tp("hired", when=at(days=5)))


def test_a_declined_offer_cannot_then_be_accepted() -> None:
    candidate = given(
        tp("candidate_registered"),
        tp("application_submitted", when=at(days=1)),
        tp("interview_scheduled", when=at(days=2)),
        tp("offer_extended", when=at(days=3)),
        tp("offer_declined", when=at(days=4)),
    )
    with pytest.raises(StageTransitionRefused):
        when(candidate, tp("offer_accepted", when=at(days=5)))


def test_talent_pool_membership_is_kept_straight() -> None:
    candidate = given(tp("candidate_registered"), tp("added_to_talent_pool", when=at(days=1)))
    with pytest.raises(StageTransitionRefused, match="already in talent pool"):
        when(candidate, tp("added_to_talent_pool", when=at(days=2)))
    when(candidate, tp("removed_from_talent_pool", when=at(days=3)))
    with pytest.raises(StageTransitionRefused, match="not in talent pool"):
        when(candidate, tp("removed_from_talent_pool", when=at(days=4)))


def test_nothing_is_recorded_after_an_erasure() -> None:
    candidate = given(tp("candidate_registered"), tp("erasure_requested", when=at(days=1)))
    with pytest.raises(CandidateErased):
        when(candidate, tp("reply_received", when=at(days=2)))


def test_a_touchpoint_cannot_happen_after_it_was_recorded() -> None:
    candidate = given(tp("candidate_registered"))
    with pytest.raises(OccurredInTheFuture):
        when(candidate, tp("reply_received", when=(RECORDED + timedelta(hours=1)).isoformat()))


def test_a_refusal_changes_nothing() -> None:
    candidate = given(tp("candidate_registered"), tp("opted_out", when=at(days=1)))
    version = candidate.version
    with pytest.raises(Refused):
        when(candidate, tp("outreach_sent", when=at(days=2)))
    assert candidate.version == version
    assert candidate.outreach_times == []
    assert candidate.collect_events() == []
