"""What the synthetic world is made of, in numbers: the ground truth every generated history
is drawn from, so the metrics computed from it can be checked against the numbers that made it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from domain.vocabulary import CandidateStatus, Personalization

DEFAULT_UNTIL: datetime = datetime(2026, 10, 31, tzinfo=UTC)
"""The history ends before this instant: nothing generated is in its future."""

HISTORY_DAYS = 548
"""About eighteen months of history before ``until``."""

DAY = 86_400
HOUR = 3_600
ATTRIBUTION_WINDOW = 30 * DAY
"""An engagement is credited to an outreach it follows within this window (the README's 30 days)."""

PASSIVE, ACTIVE = CandidateStatus.PASSIVE.value, CandidateStatus.ACTIVE.value
PERSONALIZED = Personalization.PERSONALIZED.value
TEMPLATED = Personalization.TEMPLATED.value
BLAST = Personalization.GENERIC_BLAST.value


def _by_status_and_personalization() -> dict[tuple[str, str], float]:
    return {
        (PASSIVE, PERSONALIZED): 0.20,  # "approximately one-in-five passive candidates engage"
        (PASSIVE, TEMPLATED): 0.07,
        # "generic email blasts ... do not generate any meaningful response"
        (PASSIVE, BLAST): 0.02,
        (ACTIVE, PERSONALIZED): 0.35,
        (ACTIVE, TEMPLATED): 0.15,
        (ACTIVE, BLAST): 0.04,
    }


def _in_the_pool() -> dict[tuple[str, str], float]:
    return {
        (PASSIVE, PERSONALIZED): 0.30,  # warmed by content and notes: half as likely again
        (PASSIVE, TEMPLATED): 0.10,
        (PASSIVE, BLAST): 0.03,
        (ACTIVE, PERSONALIZED): 0.45,
        (ACTIVE, TEMPLATED): 0.20,
        (ACTIVE, BLAST): 0.06,
    }


@dataclass(frozen=True)
class GroundTruth:
    """The probabilities that drive the generator: parameters, and the answer key of the metrics.

    Probabilities are per event unless stated otherwise. The engagement rates are exact in
    expectation: a recruiter's skill scales them, but skills average to 1 over the team and
    candidates are assigned to recruiters uniformly.
    """

    engagement: Mapping[tuple[str, str], float] = field(
        default_factory=_by_status_and_personalization
    )
    """P(an outreach engages the candidate) by (candidate status, personalization): a positive or
    neutral reply, a call held or an application within the attribution window. For cold
    outreach: sent before the candidate ever joined a talent pool."""

    pool_engagement: Mapping[tuple[str, str], float] = field(default_factory=_in_the_pool)
    """The same, for outreach to a pool member (sent once they had joined a talent pool): the
    README's ``audience`` pool, against ``engagement`` for cold."""

    not_interested: Mapping[str, float] = field(
        default_factory=lambda: {PERSONALIZED: 0.08, TEMPLATED: 0.04, BLAST: 0.01}
    )
    """P(a reply that is a response but no engagement: "not interested") per outreach."""

    engagement_forms: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: {
            PASSIVE: {"reply": 0.65, "call": 0.25, "application": 0.10},
            ACTIVE: {"reply": 0.45, "call": 0.25, "application": 0.30},
        }
    )
    """The form an engagement first takes, by candidate status (active candidates apply more)."""

    interested_share: float = 0.6
    """Of engaging replies, the share that are "interested" (the rest are "not now")."""

    call_after_interested_reply: float = 0.7
    """P(a call is held after an "interested" reply)."""

    application_after_conversation: Mapping[str, float] = field(
        default_factory=lambda: {PASSIVE: 0.35, ACTIVE: 0.65}
    )
    """P(an "interested" reply or a call leads to an application), by status."""

    pool_after_engagement: float = 0.85
    """P(an engaged candidate who does not apply joins a talent pool) — the source's talent pool."""

    outreach_mix: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: {
            PASSIVE: {PERSONALIZED: 0.35, TEMPLATED: 0.25, BLAST: 0.40},
            ACTIVE: {PERSONALIZED: 0.30, TEMPLATED: 0.35, BLAST: 0.35},
        }
    )
    """Which kind of outreach a candidate gets next, by status."""

    self_application: Mapping[str, float] = field(
        default_factory=lambda: {PASSIVE: 0.0, ACTIVE: 0.35}
    )
    """P(the candidate's next step is an application without any outreach), by status."""

    days_between_steps: Mapping[str, float] = field(
        default_factory=lambda: {PASSIVE: 75.0, ACTIVE: 60.0}
    )
    """Mean quiet days after an attribution window (or an episode) before the next step."""

    templated_follow_up: float = 0.3
    """P(an unanswered templated message gets an automated follow-up 4-9 days later). The
    follow-up falls inside the first message's window, so "engaged within 30 days" measured per
    templated message comes out above the rates above (about 0.085 passive, 0.18 active)."""

    templated_automated: float = 0.4
    """Share of templated messages sent by a sequencing tool rather than by a recruiter."""

    recruiter_skill: tuple[float, ...] = (
        1.25, 1.15, 1.10, 1.05, 1.00, 1.00, 1.00, 0.95, 0.95, 0.90, 0.85, 0.80,
    )  # fmt: skip
    """Multiplier of the engagement rate of outreach written by rec-01 ... rec-12 (mean 1)."""

    passive_share: float = 0.6
    """Share of candidates who are passive (not looking)."""

    ack_personal_within_48h: float = 0.40
    """Share of applications that get a personal acknowledgement within 48 hours."""

    ack_automated_only: float = 0.50
    """Share of applications that only ever get the automated "we got your application!".
    The rest (0.10) get an automated one, then a personal one days later."""

    automated_ack_before_personal: float = 0.7
    """P(an automated acknowledgement is sent as well, before a personal one)."""

    walk_away_after_automated_only: float = 0.25
    """P(a candidate who only got an automated acknowledgement walks away from the process)."""

    shortlist: float = 0.40
    """P(an application is shortlisted)."""

    interview_after_shortlist: float = 0.60
    """P(a shortlisted application gets an interview)."""

    interview_without_shortlist: float = 0.05
    """P(an application that was not shortlisted still gets an interview)."""

    offer_after_interview: float = 0.35
    """P(an interview leads to an offer, extended by a recruiter)."""

    accept: Mapping[str, float] = field(
        default_factory=lambda: {"personal": 0.80, "automated_only": 0.55}
    )
    """P(an offer is accepted), by how the application was acknowledged (the source's "50% declined
    a job offer" after a negative experience)."""

    hire_after_accept: float = 0.95
    """P(an accepted offer ends in a hire; the rest fall through before the start)."""

    position_open_days: tuple[int, int] = (45, 180)
    """A position stays open this many days (uniform) unless someone is hired for it first;
    positions open from 60 days before the history to a week before its end."""

    position_updated: float = 0.25
    """P(a position is refined, its minimum years raised, 3-30 days after it opened)."""

    position_close_reasons: Mapping[str, float] = field(
        default_factory=lambda: {
            "filled_elsewhere": 0.4, "cancelled": 0.3, "on_hold": 0.2, "client_withdrew": 0.1
        }
    )  # fmt: skip
    """Why a position nobody was hired for closes at the end of its span."""

    pool_match_shortlist: float = 0.12
    """P(a pool member of a position's role, with consent given, is shortlisted from a pool
    match when it opens), unless they are busy then (in another process or conversation) or
    already in its process. Their process goes on as after any shortlisting."""

    pool_shortlist_after_days: tuple[int, int] = (2, 12)
    """A pool shortlisting comes this many days after the opening (uniform, then the next
    working hour): the first of several for a position comes sooner."""

    pool_after_rejection: float = 0.35
    """P(a candidate who was not offered the job joins a talent pool, a "silver medalist")."""

    opt_out: Mapping[str, float] = field(
        default_factory=lambda: {PERSONALIZED: 0.001, TEMPLATED: 0.004, BLAST: 0.012}
    )
    """P(an outreach that got no response makes the candidate opt out), by personalization."""

    opt_out_after_not_interested: float = 0.15
    """P(a "not interested" reply comes with an opt-out)."""

    bounces: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: {
            "email": (0.02, 0.01),
            "sms": (0.01, 0.005),
            "linkedin": (0.0, 0.003),
        }
    )
    """P(an outreach bounces), hard and soft, by channel (phone: never); a bounced message
    gets no response. Every engagement figure above is per *delivered* outreach."""

    reply_reasons: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: {
            "not_interested": {
                "compensation": 0.25,
                "location": 0.15,
                "role_fit": 0.20,
                "not_looking": 0.20,
                "other": 0.05,
            },
            "not_now": {"timing": 0.45, "not_looking": 0.15, "compensation": 0.10},
        }
    )
    """P(a declining reply gives each reason), by sentiment; the rest give none ("not said")."""

    follow_up_asked: float = 0.4
    """P(a "not now" reply names the day to ask again, 30 to 150 days after it)."""

    do_not_contact_share: float = 0.2
    """Share of opt-outs that ask for no contact at all (the rest stop marketing only)."""

    pool_at_registration: Mapping[str, float] = field(
        default_factory=lambda: {PASSIVE: 0.15, ACTIVE: 0.05}
    )
    """P(a candidate is put in a talent pool as soon as they are registered)."""

    nurture_every_weeks: tuple[float, float] = (4.0, 8.0)
    """Each pool shares content every N weeks, N drawn uniformly from this range."""

    content_delivered: float = 0.9
    """P(a pool member receives a given piece of content)."""

    content_by_recruiter: float = 0.15
    """Share of content shared by the candidate's recruiter by hand (a personal touch)."""

    check_in_every_days: float = 90.0
    """Mean days between a recruiter's personal notes to a member of a nurtured pool."""

    opportunity_note_share: float = 0.2
    """Share of those notes that mention an opportunity (the rest are check-ins)."""

    neglected_pool_share: float = 0.25
    """Share of pools that are neglected (no content, no notes) towards the end of the history."""

    neglected_for_days: tuple[int, int] = (120, 240)
    """A neglected pool gets nothing for the last N days before ``until`` (stale alerts fire)."""

    pool_exit: float = 0.08
    """P(a pool member is removed some months later as unreachable or not a fit)."""

    enrichment_per_year: float = 0.35
    """Profile changes noticed by automation per candidate and year."""

    enrichment_kinds: Mapping[str, float] = field(
        default_factory=lambda: {"promotion": 0.5, "certification": 0.35, "employer_change": 0.15}
    )
    """What automation noticed, when it noticed something."""

    congratulations: Mapping[str, float] = field(
        default_factory=lambda: {"nurtured_pool": 0.65, "neglected_pool": 0.05, "no_pool": 0.15}
    )
    """P(a promotion or certification is followed by a recruiter's congratulations note)."""

    consent: Mapping[str, float] = field(
        default_factory=lambda: {"explicit_consent": 0.45, "legitimate_interest": 0.15}
    )
    """P(a consent_given at registration, by legal basis; the rest record none)."""

    erasure: float = 0.004
    erasure_after_opt_out: float = 0.10
    """P(a candidate's history ends with an erasure request), without and with an opt-out."""


GROUND_TRUTH = GroundTruth()
"""The one set of numbers the generator uses; import it to compare a metric with its truth."""
