"""A realistic, deterministic clinical-staffing history, in the import format.

Why: demos, benchmarks and tests need data whose answers are known in advance. Every touchpoint
here is drawn from ``GROUND_TRUTH``, so the metrics Rapport computes from it (the one-in-five
passive engagement rate, the funnel, the stale-contact alerts) can be checked against the numbers
that produced them. Every line also obeys the Candidate aggregate's rules, so importing a
generated file is never refused.

The history is simulated one candidate at a time, forward in time: registration, consent,
outreach and what it caused, applications and the hiring funnel, talent-pool nurture, profile
enrichment, opt-outs and erasures. A candidate's outreach messages are spaced at least one
attribution window apart (a templated follow-up aside), so an engagement is caused by the
outreach it follows and the measured rates match the ground truth. Lines are then sorted by
``occurred_at``, like a CRM export.
"""

from __future__ import annotations

import gc
import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from operator import itemgetter
from pathlib import Path
from random import Random
from typing import Any, Generic, TypeVar

import orjson

from domain.vocabulary import CandidateStatus, Personalization

DEFAULT_UNTIL: datetime = datetime(2026, 10, 31, tzinfo=UTC)
"""The history ends before this instant: nothing generated is in its future."""

HISTORY_DAYS = 548
"""About eighteen months of history before ``until``."""

DAY = 86_400
HOUR = 3_600
ATTRIBUTION_WINDOW = 30 * DAY
"""An engagement is credited to an outreach it follows within this window (the README's 30 days)."""

_PASSIVE, _ACTIVE = CandidateStatus.PASSIVE.value, CandidateStatus.ACTIVE.value
_PERSONALIZED = Personalization.PERSONALIZED.value
_TEMPLATED = Personalization.TEMPLATED.value
_BLAST = Personalization.GENERIC_BLAST.value


def _by_status_and_personalization() -> dict[tuple[str, str], float]:
    return {
        (_PASSIVE, _PERSONALIZED): 0.20,  # "approximately one-in-five passive candidates engage"
        (_PASSIVE, _TEMPLATED): 0.07,
        # "generic email blasts ... do not generate any meaningful response"
        (_PASSIVE, _BLAST): 0.02,
        (_ACTIVE, _PERSONALIZED): 0.35,
        (_ACTIVE, _TEMPLATED): 0.15,
        (_ACTIVE, _BLAST): 0.04,
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
    neutral reply, a call held or an application within the attribution window."""

    not_interested: Mapping[str, float] = field(
        default_factory=lambda: {_PERSONALIZED: 0.08, _TEMPLATED: 0.04, _BLAST: 0.01}
    )
    """P(a reply that is a response but no engagement: "not interested") per outreach."""

    engagement_forms: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: {
            _PASSIVE: {"reply": 0.65, "call": 0.25, "application": 0.10},
            _ACTIVE: {"reply": 0.45, "call": 0.25, "application": 0.30},
        }
    )
    """The form an engagement first takes, by candidate status (active candidates apply more)."""

    interested_share: float = 0.6
    """Of engaging replies, the share that are "interested" (the rest are "not now")."""

    call_after_interested_reply: float = 0.7
    """P(a call is held after an "interested" reply)."""

    application_after_conversation: Mapping[str, float] = field(
        default_factory=lambda: {_PASSIVE: 0.35, _ACTIVE: 0.65}
    )
    """P(an "interested" reply or a call leads to an application), by status."""

    pool_after_engagement: float = 0.85
    """P(an engaged candidate who does not apply joins a talent pool) — the source's talent pool."""

    outreach_mix: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: {
            _PASSIVE: {_PERSONALIZED: 0.35, _TEMPLATED: 0.25, _BLAST: 0.40},
            _ACTIVE: {_PERSONALIZED: 0.30, _TEMPLATED: 0.35, _BLAST: 0.35},
        }
    )
    """Which kind of outreach a candidate gets next, by status."""

    self_application: Mapping[str, float] = field(
        default_factory=lambda: {_PASSIVE: 0.0, _ACTIVE: 0.35}
    )
    """P(the candidate's next step is an application without any outreach), by status."""

    days_between_steps: Mapping[str, float] = field(
        default_factory=lambda: {_PASSIVE: 75.0, _ACTIVE: 60.0}
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

    pool_after_rejection: float = 0.35
    """P(a candidate who was not offered the job joins a talent pool, a "silver medalist")."""

    opt_out: Mapping[str, float] = field(
        default_factory=lambda: {_PERSONALIZED: 0.001, _TEMPLATED: 0.004, _BLAST: 0.012}
    )
    """P(an outreach that got no response makes the candidate opt out), by personalization."""

    opt_out_after_not_interested: float = 0.15
    """P(a "not interested" reply comes with an opt-out)."""

    do_not_contact_share: float = 0.2
    """Share of opt-outs that ask for no contact at all (the rest stop marketing only)."""

    pool_at_registration: Mapping[str, float] = field(
        default_factory=lambda: {_PASSIVE: 0.15, _ACTIVE: 0.05}
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


# --- vocabulary of the synthetic world -------------------------------------------------------

_T = TypeVar("_T")


class _Weighted(Generic[_T]):
    """A fast weighted choice (``Random.choices`` is slow for millions of draws)."""

    def __init__(self, weights: Mapping[_T, float]) -> None:
        self.items = list(weights)
        self.cumulative = list(itertools.accumulate(weights.values()))
        self.total = self.cumulative[-1]

    def pick(self, rng: Random) -> _T:
        return self.items[bisect_right(self.cumulative, rng.random() * self.total)]


_OUTREACH_MIX = {s: _Weighted(mix) for s, mix in GROUND_TRUTH.outreach_mix.items()}
_ENRICHMENT_KINDS = _Weighted(GROUND_TRUTH.enrichment_kinds)

_ROLES = _Weighted(
    {
        "cra": 0.28,
        "crc": 0.22,
        "clinical_research_nurse": 0.14,
        "project_manager": 0.10,
        "data_manager": 0.09,
        "regulatory_specialist": 0.06,
        "biostatistician": 0.04,
        "medical_monitor": 0.03,
        "other": 0.04,
    }
)
_ROLE_SLUG = {
    "cra": "cra",
    "crc": "crc",
    "clinical_research_nurse": "crn",
    "project_manager": "pm",
    "data_manager": "dm",
    "regulatory_specialist": "reg",
    "biostatistician": "biostat",
    "medical_monitor": "mm",
    "other": "other",
}
_ROLE_TITLE = {
    "cra": "CRA",
    "crc": "CRC",
    "clinical_research_nurse": "clinical research nurse",
    "project_manager": "clinical project manager",
    "data_manager": "clinical data manager",
    "regulatory_specialist": "regulatory specialist",
    "biostatistician": "biostatistician",
    "medical_monitor": "medical monitor",
    "other": "clinical research",
}
_CERTIFICATIONS = {
    "cra": ("acrp_ccra", "socra_ccrp", "gcp"),
    "crc": ("acrp_ccrc", "socra_ccrp", "gcp"),
    "clinical_research_nurse": ("rn", "gcp", "acrp_ccrc"),
    "project_manager": ("pmp", "acrp_cp", "gcp"),
    "data_manager": ("gcp", "other"),
    "regulatory_specialist": ("gcp", "acrp_cp"),
    "biostatistician": ("gcp", "other"),
    "medical_monitor": ("gcp", "other"),
    "other": ("gcp", "other"),
}
_CERT_NAME = {
    "acrp_ccra": "ACRP CCRA",
    "acrp_ccrc": "ACRP CCRC",
    "acrp_cp": "ACRP-CP",
    "socra_ccrp": "SOCRA CCRP",
    "gcp": "GCP",
    "pmp": "PMP",
    "rn": "RN",
    "other": "new",
}
_AREAS = _Weighted(
    {
        "oncology": 0.26,
        "cardiology": 0.10,
        "neurology": 0.10,
        "immunology": 0.09,
        "infectious_disease": 0.09,
        "rare_disease": 0.08,
        "endocrinology": 0.07,
        "respiratory": 0.06,
        "psychiatry": 0.05,
        "dermatology": 0.04,
        "other": 0.06,
    }
)
_AREA_SLUG = {
    "oncology": "onc",
    "cardiology": "cardio",
    "neurology": "neuro",
    "immunology": "immuno",
    "infectious_disease": "id",
    "rare_disease": "rare",
    "endocrinology": "endo",
    "respiratory": "resp",
    "psychiatry": "psych",
    "dermatology": "derm",
    "other": "other",
}
_PHASES = ("phase_i", "phase_ii", "phase_iii", "phase_iv")
_SOURCES = {
    _PASSIVE: _Weighted(
        {"linkedin": 0.45, "database": 0.2, "referral": 0.15, "conference": 0.15, "other": 0.05}
    ),
    _ACTIVE: _Weighted(
        {"career_site": 0.4, "job_board": 0.35, "linkedin": 0.1, "referral": 0.1, "other": 0.05}
    ),
}
_COUNTRIES = _Weighted(
    {"US": 0.45, "GB": 0.12, "DE": 0.08, "IN": 0.08, "CA": 0.06, "FR": 0.05, "PL": 0.05,
     "NL": 0.04, "ES": 0.04, "IE": 0.03}
)  # fmt: skip
_DIALING = {"US": "+1", "CA": "+1", "GB": "+44", "DE": "+49", "IN": "+91", "FR": "+33",
            "PL": "+48", "NL": "+31", "ES": "+34", "IE": "+353"}  # fmt: skip
_FIRST = (
    "Ada", "Amara", "Ben", "Carla", "Dev", "Elena", "Femi", "Grace", "Hiro", "Ines", "Jonas",
    "Kavya", "Liam", "Maria", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma",
    "Victor", "Wei", "Yara", "Zoe", "Marta", "Tomasz", "Aoife", "Lucas",
)  # fmt: skip
_LAST = (
    "Okafor", "Keller", "Nguyen", "Garcia", "Schmidt", "Patel", "Kowalski", "Murphy", "Rossi",
    "Tanaka", "Dubois", "Jansen", "Silva", "Cohen", "Larsen", "Haddad", "Moreau", "Byrne",
    "Novak", "Fischer", "Mensah", "Ortiz", "Lindqvist", "Reyes", "Walsh", "Kim",
)  # fmt: skip
_EMPLOYERS = (
    "Northwind Research", "Harbor Clinical", "Bluepeak CRO", "Meridian Trials", "Alder Health",
    "Crescent Biosciences", "Summit Site Network", "Lakeside University Hospital",
)  # fmt: skip
_CHANNELS = {
    _PERSONALIZED: _Weighted({"email": 0.45, "linkedin": 0.40, "phone": 0.15}),
    _TEMPLATED: _Weighted({"email": 0.7, "linkedin": 0.2, "sms": 0.1}),
    _BLAST: _Weighted({"email": 0.9, "sms": 0.1}),
}
_CONTENT = _Weighted(
    {"best_practices": 0.35, "trial_news": 0.35, "market_insight": 0.2, "event_invitation": 0.1}
)
_DECLINE = {
    "personal": _Weighted(
        {"compensation": 0.4, "counteroffer": 0.25, "location": 0.15, "role_fit": 0.1,
         "candidate_experience": 0.03, "other": 0.07}
    ),
    "automated_only": _Weighted(
        {"compensation": 0.25, "counteroffer": 0.15, "location": 0.1, "role_fit": 0.05,
         "candidate_experience": 0.4, "other": 0.05}
    ),
}  # fmt: skip
_DECLINE_NOTE = {
    "compensation": "The salary did not meet my expectations.",
    "counteroffer": "My current employer made a counteroffer I accepted.",
    "location": "The commute would not work for my family.",
    "role_fit": "The study portfolio is not what I am looking for.",
    "candidate_experience": "I never heard from a person during the process.",
    "other": "Personal reasons.",
}
_PERSONAL_OPENERS = (
    "I saw your {phase} {area} work at {employer} and thought of a {role} role that fits it.",
    "Your {area} site experience stood out to me; we have a {role} opening you may like.",
    "Congrats on the {area} study milestone at {employer}. A {role} role came up that fits you.",
)

# Key layouts of the type-specific fields, in output order (the head fields come first).
_K_REGISTERED = (
    "role", "status", "source", "therapeutic_areas", "trial_phases", "certifications",
    "years_experience", "country", "recruiter", "personal",
)  # fmt: skip
_K_OUTREACH = (
    "recruiter", "automated", "channel", "personalization", "campaign", "position", "personal",
)  # fmt: skip
_OUTREACH_KEYS = {
    (automated, no_position): tuple(
        key
        for key in _K_OUTREACH
        if not (automated and key == "recruiter") and not (no_position and key == "position")
    )
    for automated in (False, True)
    for no_position in (False, True)
}
"""The outreach fields present, by (automated, without a position)."""
_K_REPLY = ("channel", "sentiment", "personal")
_K_CALL = ("recruiter", "kind", "duration_minutes", "personal")
_K_APPLICATION = ("position",)
_K_ACK = ("recruiter", "automated", "position", "channel", "personal")
_K_AUTOMATED_ACK = _K_ACK[1:]
_K_POOL_ADD = ("recruiter", "pool")
_K_POOL_REMOVE = ("recruiter", "automated", "pool", "reason")
_K_CONTENT = ("recruiter", "automated", "content", "content_id", "channel", "campaign")
_K_AUTOMATED_CONTENT = _K_CONTENT[1:]
_K_NOTE = ("recruiter", "occasion", "channel", "personal")
_K_ENRICHED = ("automated", "change", "certification", "personal")
_K_BY_RECRUITER = ("recruiter", "position")
_K_INTERVIEW = ("recruiter", "position", "scheduled_for")
_K_POSITION = ("position",)
_K_DECLINED = ("position", "reason", "personal")
_K_HIRED = ("recruiter", "position", "start_date")
_K_CONSENT = ("basis",)
_K_OPT_OUT = ("scope", "channel")
_K_NONE: tuple[str, ...] = ()

_Event = tuple[int, str, str, tuple[str, ...], tuple[Any, ...]]
"""(seconds since the history's start, type, candidate, field names, field values).

Compact on purpose: a million of them are held for the final sort (by the small int in front,
stable, so ties keep the order in which candidates and their touchpoints were simulated)."""


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


def _between(rng: Random, low: int, high: int) -> int:
    """An int in [low, high): ``Random.randrange`` without its checks, several times faster."""
    return low + int(rng.random() * (high - low))


def _pick(rng: Random, items: Sequence[_T]) -> _T:
    """``Random.choice``, faster (the generator draws millions of them)."""
    return items[int(rng.random() * len(items))]


def _office(ts: int, rng: Random) -> int:
    """The first moment at or after ``ts`` when a recruiter works (weekdays, 08:00-18:00 UTC)."""
    day, seconds = divmod(ts, DAY)
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    if weekday < 5:
        if 8 * HOUR <= seconds < 18 * HOUR:
            return ts
        if seconds < 8 * HOUR:
            return day * DAY + 8 * HOUR + _between(rng, 0, 3 * HOUR)
    day += 1
    while (day + 3) % 7 >= 5:
        day += 1
    return day * DAY + 8 * HOUR + _between(rng, 0, 4 * HOUR)


@dataclass(slots=True)
class _Pool:
    """A talent pool's nurture schedule: what it shares, when, and when it was forgotten."""

    content_times: list[int]
    content: list[tuple[str, str, str]]
    """(content kind, content id, campaign) per shared piece."""
    neglected_from: int | None


class _World:
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
        self._open_positions(max(8 * len(_ROLES.items), candidates // 25))
        self._blast_campaigns()

    def _open_positions(self, count: int) -> None:
        """Requisitions, each open for one to five months; candidates hear of open ones."""
        rng = self.rng
        self.positions_by_role: dict[str, list[str]] = {role: [] for role in _ROLES.items}
        self.open_positions: dict[tuple[str, int], list[str]] = {}
        for n in range(count):
            roles = _ROLES.items
            role = roles[n % len(roles)] if n < 4 * len(roles) else _ROLES.pick(rng)
            position = f"REQ-{1001 + n}"
            opened = _between(rng, self.start - 60 * DAY, self.until - 7 * DAY)
            closed = opened + _between(rng, 30, 150) * DAY
            self.positions_by_role[role].append(position)
            for fortnight in range(self._fortnight(opened), self._fortnight(closed) + 1):
                self.open_positions.setdefault((role, fortnight), []).append(position)

    def _fortnight(self, ts: int) -> int:
        return (ts - self.start) // (14 * DAY)

    def position(self, role: str, ts: int, taken: set[str]) -> str | None:
        """A requisition for ``role``, open at ``ts`` if any is, and not one in ``taken``."""
        rng = self.rng
        for choices in (
            self.open_positions.get((role, self._fortnight(ts))),
            self.positions_by_role[role],
        ):
            if choices:
                position = _pick(rng, choices)
                if position not in taken:
                    return position
                free = [p for p in choices if p not in taken]
                if free:
                    return _pick(rng, free)
        return None

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
            for role, slug in _ROLE_SLUG.items():
                day = month_start // DAY + _between(self.rng, 3, 26)
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
        return times[index] + _between(self.rng, 0, 2 * HOUR), self.blast_ids[role][index]

    def pool(self, pool_id: str, area: str) -> _Pool:
        """The pool's schedule, drawn the first time anyone joins it."""
        pool = self.pools.get(pool_id)
        if pool is not None:
            return pool
        rng, truth = self.rng, GROUND_TRUTH
        every = int(rng.uniform(*truth.nurture_every_weeks) * 7 * DAY)
        neglected_from = None
        if rng.random() < truth.neglected_pool_share:
            neglected_from = self.until - _between(rng, *truth.neglected_for_days) * DAY
        end = self.until if neglected_from is None else neglected_from
        times: list[int] = []
        content: list[tuple[str, str, str]] = []
        ts = self.start + _between(rng, 0, every)
        while ts < end:
            shared = _office(ts + _between(rng, -2 * DAY, 2 * DAY), rng)
            if shared < end:
                times.append(shared)
                campaign = f"camp-{self.calendar.month(shared)}-nurture-{_AREA_SLUG[area]}"
                content.append((_CONTENT.pick(rng), f"cnt-{next(self.content_ids):05d}", campaign))
            ts += every
        pool = _Pool(times, content, neglected_from)
        self.pools[pool_id] = pool
        return pool


# --- one candidate's history -------------------------------------------------------------------


class _Stop(Exception):
    """The candidate's story of contacts is over (hired or opted out)."""


class _History:
    """One candidate, simulated forward in time; ``events`` obey the Candidate aggregate."""

    def __init__(self, world: _World, number: int) -> None:
        self.world = world
        self.rng = rng = world.rng
        self.ref = f"C-{number:06d}"
        self.events: list[_Event] = []
        self.status = _PASSIVE if rng.random() < GROUND_TRUTH.passive_share else _ACTIVE
        self.role = _ROLES.pick(rng)
        self.areas = sorted({_AREAS.pick(rng) for _ in range(_pick(rng, (1, 1, 2, 3)))})
        self.area = self.areas[0]
        self.owner = _between(rng, 0, len(world.recruiters))
        self.recruiter = world.recruiters[self.owner]
        self.skill = GROUND_TRUTH.recruiter_skill[self.owner]
        self.first = _pick(rng, _FIRST)
        self.last = _pick(rng, _LAST)
        self.certifications = {c for c in _CERTIFICATIONS[self.role] if rng.random() < 0.4}
        self.outreach_times: list[int] = []
        self.last_outreach = 0
        self.positions: set[str] = set()
        self.opted_out_at: int | None = None
        self.pool_id: str | None = None
        self.pool_in = 0
        self.pool_out: int | None = None
        self.pool_out_reason = "other"

    def add(self, ts: int, kind: str, keys: tuple[str, ...], values: tuple[Any, ...]) -> int:
        """Record a touchpoint at ``ts`` with these fields (``keys`` and ``values`` pair up)."""
        self.events.append((ts - self.world.start, kind, self.ref, keys, values))
        return ts

    def add_sparse(self, ts: int, kind: str, keys: tuple[str, ...], values: tuple[Any, ...]) -> int:
        """Like ``add``, leaving out the fields whose value is None (optional in the format)."""
        present = [value is not None for value in values]
        keys = tuple(itertools.compress(keys, present))
        return self.add(ts, kind, keys, tuple(itertools.compress(values, present)))

    # --- the story ------------------------------------------------------------------------

    def simulate(self) -> list[_Event]:
        world, rng, truth = self.world, self.rng, GROUND_TRUTH
        span = world.until - 5 * DAY - world.start
        registered = world.start + int(span * rng.random())
        self._register(registered)
        if rng.random() < truth.pool_at_registration[self.status]:
            self._join_pool(registered + 600)
        mean_gap = truth.days_between_steps[self.status] * DAY
        step = registered + int(rng.expovariate(1 / (10 * DAY))) + HOUR
        source = self.events[0][4][2]  # the registration's source
        try:
            if self.status == _ACTIVE and source in ("career_site", "job_board"):
                # They registered by applying.
                step = self._apply(registered + _between(rng, 60, 1800), None) + HOUR
            while step < world.until:
                if rng.random() < truth.self_application[self.status]:
                    end = self._apply(step, None)
                else:
                    end = self._outreach(step, _OUTREACH_MIX[self.status].pick(rng))
                quiet = max(end, self.last_outreach + ATTRIBUTION_WINDOW)
                step = quiet + int(rng.expovariate(1 / mean_gap)) + HOUR
        except _Stop:
            pass
        self._nurture()
        self._enrichment(registered)
        self._erasure()
        return self.events

    def _register(self, ts: int) -> None:
        rng = self.rng
        country = _COUNTRIES.pick(rng)
        email = f"{self.first}.{self.last}{_between(rng, 1, 1000)}".lower()
        phone = f"{_DIALING[country]} {_between(rng, 200, 999)} {_between(rng, 1000, 10000)}"
        personal = {
            "name": f"{self.first} {self.last}",
            "email": f"{email}@{_pick(rng, ('example.org', 'example.com'))}",
            "phone": phone,
        }
        phases = [p for p in _PHASES if rng.random() < 0.45] or [_pick(rng, _PHASES)]
        self.add(
            ts,
            "candidate_registered",
            _K_REGISTERED,
            (
                self.role,
                self.status,
                _SOURCES[self.status].pick(rng),
                self.areas,
                phases,
                sorted(self.certifications),
                _between(rng, 1, 30),
                country,
                self.recruiter,
                personal,
            ),
        )
        roll = rng.random()
        for basis, share in GROUND_TRUTH.consent.items():
            if roll < share:
                self.add(ts + _between(rng, 60, HOUR), "consent_given", _K_CONSENT, (basis,))
                break
            roll -= share

    def _cap_allows(self, ts: int) -> bool:
        """The contact policy: at most 3 outreach messages in any rolling 14 days."""
        times = self.outreach_times
        if not times or times[-1] <= ts - 14 * DAY:
            return True  # the usual case: nothing in the last fortnight, nothing later
        index = bisect_left(times, ts)
        merged = [*times[max(0, index - 3) : index], ts, *times[index : index + 3]]
        return all(merged[i + 3] - merged[i] >= 14 * DAY for i in range(len(merged) - 3))

    def _outreach(self, ts: int, kind: str, follow_up: bool = False) -> int:
        """Send one outreach message and play out what it causes; returns when that ends."""
        world, rng, truth = self.world, self.rng, GROUND_TRUTH
        automated = kind == _BLAST or (
            kind == _TEMPLATED and (follow_up or rng.random() < truth.templated_automated)
        )
        position = None
        if kind == _BLAST:
            blast = world.next_blast(self.role, ts)
            if blast is None:
                return world.until
            ts, campaign = blast
            personal = {
                "subject": f"New {_ROLE_TITLE[self.role]} jobs this month",
                "body": "Dear candidate, browse this month's openings on our career site.",
            }
        else:
            if not automated:
                ts = _office(ts, rng)
            position = world.position(self.role, ts, self.positions)
            campaign = (
                f"camp-{world.calendar.month(ts)}-{_AREA_SLUG[self.area]}-{_ROLE_SLUG[self.role]}"
            )
            personal = self._outreach_message(kind, position)
        if ts >= world.until or not self._cap_allows(ts):
            return ts
        channel = _CHANNELS[kind].pick(rng)
        self.outreach_times.insert(bisect_left(self.outreach_times, ts), ts)
        self.last_outreach = max(self.last_outreach, ts)
        by = (True,) if automated else (self.recruiter, False)
        about = (campaign,) if position is None else (campaign, position)
        keys = _OUTREACH_KEYS[automated, position is None]
        self.add(ts, "outreach_sent", keys, (*by, channel, kind, *about, personal))
        engage = truth.engagement[(self.status, kind)] * (1.0 if automated else self.skill)
        roll = rng.random()
        if roll < engage:
            return self._engage(ts, channel, position)
        if roll < engage + truth.not_interested[kind]:
            replied = ts + self._reply_delay()
            self.add(
                replied,
                "reply_received",
                _K_REPLY,
                (channel, "not_interested", {"body": "Thanks, but I am not interested."}),
            )
            if rng.random() < truth.opt_out_after_not_interested:
                self._opt_out(replied + _between(rng, 60, 6 * HOUR), channel)
            return replied
        if rng.random() < truth.opt_out[kind]:
            self._opt_out(ts + _between(rng, 10 * 60, 5 * DAY), channel)
        if kind == _TEMPLATED and not follow_up and rng.random() < truth.templated_follow_up:
            return self._outreach(ts + _between(rng, 4, 10) * DAY, _TEMPLATED, follow_up=True)
        return ts + ATTRIBUTION_WINDOW

    def _outreach_message(self, kind: str, position: str) -> dict[str, str]:
        role = _ROLE_TITLE[self.role]
        area = self.area.replace("_", " ")
        if kind == _PERSONALIZED:
            opener = _pick(self.rng, _PERSONAL_OPENERS).format(
                phase=_pick(self.rng, _PHASES).replace("_", " ").title(),
                area=area,
                employer=_pick(self.rng, _EMPLOYERS),
                role=role,
            )
            return {
                "subject": f"Your {area} experience",
                "body": f"Hi {self.first}, {opener} Open to a short call this week?",
            }
        return {
            "subject": f"{role} opportunities ({position})",
            "body": f"Hi {self.first}, we are hiring {role}s in {area}. Interested?",
        }

    def _reply_delay(self) -> int:
        """Typically one to ten days, always well inside the attribution window."""
        return min(26 * DAY, int(DAY * (0.25 + self.rng.expovariate(1 / 3.5))))

    def _engage(self, sent: int, channel: str, position: str | None) -> int:
        """The candidate engages: a positive or neutral reply, a call, or an application."""
        rng, truth = self.rng, GROUND_TRUTH
        forms = truth.engagement_forms[self.status]
        roll = rng.random()
        at = sent + self._reply_delay()
        if roll < forms["reply"]:
            interested = rng.random() < truth.interested_share
            sentiment, body = (
                ("interested", "Thanks for reaching out, happy to talk. When suits you?")
                if interested
                else ("not_now", "Not looking right now, but please keep me posted.")
            )
            at = self.add(at, "reply_received", _K_REPLY, (channel, sentiment, {"body": body}))
            if not interested:
                return self._maybe_join_pool(at, truth.pool_after_engagement)
            if rng.random() < truth.call_after_interested_reply:
                at = self._call(at + _between(rng, DAY, 7 * DAY))
        elif roll < forms["reply"] + forms["call"] or self._free_position(at, position) is None:
            at = self._call(at)  # (also when no position is left to apply to)
        else:
            return self._apply(at, position)
        if rng.random() < truth.application_after_conversation[self.status]:
            return self._apply(at + _between(rng, 2 * HOUR, 7 * DAY), position)
        return self._maybe_join_pool(at, truth.pool_after_engagement)

    def _free_position(self, ts: int, preferred: str | None) -> str | None:
        """The position to apply to: ``preferred`` unless already applied to, else an open one."""
        if preferred is not None and preferred not in self.positions:
            return preferred
        return self.world.position(self.role, ts, self.positions)

    def _call(self, ts: int) -> int:
        rng = self.rng
        notes = f"Talked about {self.area.replace('_', ' ')} studies, availability and pay."
        return self.add(
            _office(ts, rng),
            "call_held",
            _K_CALL,
            (
                self.recruiter,
                _pick(rng, ("call", "call", "video", "in_person")),
                _pick(rng, (15, 20, 30, 30, 45, 60)),
                {"text": notes},
            ),
        )

    def _apply(self, ts: int, position: str | None) -> int:
        """An application, its acknowledgement(s) and the hiring funnel; returns when it ends."""
        world, rng, truth = self.world, self.rng, GROUND_TRUTH
        position = self._free_position(ts, position)
        if position is None:
            return ts
        self.positions.add(position)
        applied = self.add(ts, "application_submitted", _K_APPLICATION, (position,))
        end = self._acknowledge(applied, position)
        experience = "personal" if end[1] else "automated_only"
        end = end[0]
        if experience == "automated_only" and rng.random() < truth.walk_away_after_automated_only:
            return end
        at = applied
        if rng.random() < truth.shortlist:
            at = self.add(
                _office(applied + _between(rng, 2 * DAY, 14 * DAY), rng),
                "shortlisted",
                _K_BY_RECRUITER,
                (self.recruiter, position),
            )
            interview = rng.random() < truth.interview_after_shortlist
        else:
            interview = rng.random() < truth.interview_without_shortlist
        if not interview:
            return self._maybe_join_pool(max(at, end) + DAY, truth.pool_after_rejection)
        at = _office(at + _between(rng, DAY, 10 * DAY), rng)
        meets = _office(at + _between(rng, 2 * DAY, 10 * DAY), rng)
        scheduled = world.calendar.iso(meets) if meets < world.until else None
        self.add_sparse(
            at, "interview_scheduled", _K_INTERVIEW, (self.recruiter, position, scheduled)
        )
        if rng.random() >= truth.offer_after_interview:
            return self._maybe_join_pool(meets + DAY, truth.pool_after_rejection)
        offered = self.add(
            _office(meets + _between(rng, DAY, 10 * DAY), rng),
            "offer_extended",
            _K_BY_RECRUITER,
            (self.recruiter, position),
        )
        answered = offered + _between(rng, HOUR, 7 * DAY)
        if rng.random() >= truth.accept[experience]:
            reason = _DECLINE[experience].pick(rng)
            note = {"text": _DECLINE_NOTE[reason]}
            return self.add(answered, "offer_declined", _K_DECLINED, (position, reason, note))
        self.add(answered, "offer_accepted", _K_POSITION, (position,))
        if rng.random() >= truth.hire_after_accept:
            return answered
        hired = _office(answered + _between(rng, DAY, 5 * DAY), rng)
        starts = hired + _between(rng, 14, 43) * DAY
        start_date = world.calendar.date(starts) if starts < world.until else None
        self.add_sparse(hired, "hired", _K_HIRED, (self.recruiter, position, start_date))
        self._leave_pool(hired + _between(rng, HOUR, 3 * DAY), "hired")
        raise _Stop

    def _acknowledge(self, applied: int, position: str) -> tuple[int, bool]:
        """The "we got your application" message(s): when the last went, and if one was personal."""
        rng, truth = self.rng, GROUND_TRUTH
        roll = rng.random()
        personal_within_48h = roll < truth.ack_personal_within_48h
        automated_only = not personal_within_48h and roll < (
            truth.ack_personal_within_48h + truth.ack_automated_only
        )
        at = applied
        if not personal_within_48h or rng.random() < truth.automated_ack_before_personal:
            at = self.add(
                applied + _between(rng, 30, 15 * 60),
                "application_acknowledged",
                _K_AUTOMATED_ACK,
                (
                    True,
                    position,
                    "email",
                    {
                        "subject": "We got your application!",
                        "body": f"Thank you for applying to {position}. We will be in touch.",
                    },
                ),
            )
        if automated_only:
            return at, False
        if personal_within_48h:
            written = _office(at + _between(rng, HOUR, 30 * HOUR), rng)
            written = min(written, applied + 47 * HOUR)
            written = max(written, at + 60)
        else:
            written = _office(applied + _between(rng, 3 * DAY, 10 * DAY), rng)
        body = (
            f"Hi {self.first}, thank you for applying to {position}. I read your CV and will call."
        )
        self.add(
            written,
            "application_acknowledged",
            _K_ACK,
            (
                self.recruiter,
                False,
                position,
                "email",
                {"subject": "Your application", "body": body},
            ),
        )
        return written, True

    def _opt_out(self, ts: int, channel: str) -> None:
        rng = self.rng
        scope = "do_not_contact" if rng.random() < GROUND_TRUTH.do_not_contact_share else "opt_out"
        self.add(ts, "opted_out", _K_OPT_OUT, (scope, channel))
        self.opted_out_at = ts
        if rng.random() < 0.8:
            self._leave_pool(ts + _between(rng, HOUR, 3 * DAY), "opted_out")
        raise _Stop

    # --- the talent pool ------------------------------------------------------------------

    def _maybe_join_pool(self, ts: int, probability: float) -> int:
        if self.pool_id is None and self.rng.random() < probability:
            return self._join_pool(ts)
        return ts

    def _join_pool(self, ts: int) -> int:
        """Join the pool of the candidate's role and main area (once; recorded in ``_nurture``)."""
        rng, truth = self.rng, GROUND_TRUTH
        if self.pool_id is not None:
            return ts
        self.pool_id = f"pool-{self.area}-{self.role}".replace("_", "-")
        self.pool_in = _office(ts, rng)
        if rng.random() < truth.pool_exit:
            self.pool_out = self.pool_in + int(rng.expovariate(1 / (240 * DAY))) + DAY
            self.pool_out_reason = _pick(rng, ("unreachable", "not_a_fit", "other"))
        return self.pool_in

    def _leave_pool(self, ts: int, reason: str) -> None:
        if self.pool_id is not None and (self.pool_out is None or ts < self.pool_out):
            self.pool_out, self.pool_out_reason = max(ts, self.pool_in + 60), reason

    def _nurture(self) -> None:
        """Membership, shared content and check-in notes, stopping at an opt-out or exit."""
        if self.pool_id is None:
            return
        world, rng, truth = self.world, self.rng, GROUND_TRUTH
        pool = world.pool(self.pool_id, self.area)
        self.add(self.pool_in, "added_to_talent_pool", _K_POOL_ADD, (self.recruiter, self.pool_id))
        end = min(world.until, self.pool_out or world.until, self.opted_out_at or world.until)
        if self.pool_out is not None:
            automated = self.pool_out_reason == "unreachable"
            recruiter = None if automated else self.recruiter
            self.add_sparse(
                self.pool_out,
                "removed_from_talent_pool",
                _K_POOL_REMOVE,
                (recruiter, automated, self.pool_id, self.pool_out_reason),
            )
        first = bisect_right(pool.content_times, self.pool_in)
        for index in range(first, bisect_left(pool.content_times, end)):
            if rng.random() >= truth.content_delivered:
                continue
            kind, content_id, campaign = pool.content[index]
            by_hand = rng.random() < truth.content_by_recruiter
            self.add(
                pool.content_times[index],
                "content_shared",
                _K_CONTENT if by_hand else _K_AUTOMATED_CONTENT,
                (self.recruiter, False, kind, content_id, "email", campaign)
                if by_hand
                else (True, kind, content_id, "email", campaign),
            )
        warm_until = min(end, pool.neglected_from or end)
        at = self.pool_in
        while True:
            at = _office(
                at + int(rng.expovariate(1 / (truth.check_in_every_days * DAY))) + DAY, rng
            )
            if at >= warm_until:
                break
            if rng.random() < truth.opportunity_note_share:
                occasion = "opportunity"
                body = f"Hi {self.first}, a {self.area.replace('_', ' ')} study is starting up."
            else:
                occasion = "check_in"
                body = f"Hi {self.first}, how are your studies going? Anything I can help with?"
            self.add(
                at,
                "personal_note_sent",
                _K_NOTE,
                (self.recruiter, occasion, "email", {"body": body}),
            )

    def _enrichment(self, registered: int) -> None:
        """Automation notices promotions and certifications; recruiters may congratulate."""
        world, rng, truth = self.world, self.rng, GROUND_TRUTH
        at = registered
        while True:
            at += int(rng.expovariate(truth.enrichment_per_year / (365 * DAY))) + HOUR
            if at >= world.until:
                return
            change = _ENRICHMENT_KINDS.pick(rng)
            certification = None
            profile: dict[str, str] | None = None
            if change == "certification":
                missing = [c for c in _CERTIFICATIONS[self.role] if c not in self.certifications]
                certification = _pick(rng, missing or ["other"])
                self.certifications.add(certification)
            elif change == "promotion":
                profile = {"title": f"Senior {_ROLE_TITLE[self.role]}"}
            else:
                profile = {"employer": _pick(rng, _EMPLOYERS)}
            self.add_sparse(
                at, "profile_enriched", _K_ENRICHED, (True, change, certification, profile)
            )
            if change == "employer_change" or rng.random() >= self._congratulations_chance(at):
                continue
            noted = _office(at + _between(rng, HOUR, 10 * DAY), rng)
            if self.opted_out_at is not None and noted >= self.opted_out_at:
                continue
            if change == "promotion":
                occasion, body = (
                    "congratulations_promotion",
                    f"Congratulations on the promotion, {self.first}!",
                )
            else:
                name = _CERT_NAME[certification or "other"]
                occasion, body = (
                    "congratulations_certification",
                    f"Congratulations on your {name} certification, {self.first}!",
                )
            self.add(
                noted,
                "personal_note_sent",
                _K_NOTE,
                (self.recruiter, occasion, "email", {"body": body}),
            )

    def _congratulations_chance(self, ts: int) -> float:
        chances = GROUND_TRUTH.congratulations
        in_pool = (
            self.pool_id is not None
            and self.pool_in <= ts
            and (self.pool_out is None or ts < self.pool_out)
        )
        if not in_pool:
            return chances["no_pool"]
        neglected = self.world.pool(self.pool_id or "", self.area).neglected_from
        if neglected is not None and ts >= neglected:
            return chances["neglected_pool"]
        return chances["nurtured_pool"]

    def _erasure(self) -> None:
        """A few candidates ask to be forgotten at the end of their history: nothing follows."""
        rng, truth = self.rng, GROUND_TRUTH
        chance = truth.erasure if self.opted_out_at is None else truth.erasure_after_opt_out
        if rng.random() >= chance:
            return
        world = self.world
        last = world.start + max(event[0] for event in self.events if event[0] < world.horizon)
        at = last + _between(rng, HOUR, 60 * DAY)
        if at < self.world.until:
            self.add(at, "erasure_requested", _K_NONE, ())


# --- the public API ------------------------------------------------------------------------------


def generate(
    candidates: int, seed: int, until: datetime = DEFAULT_UNTIL
) -> Iterator[dict[str, Any]]:
    """The touchpoints of ``candidates`` candidates in the 18 months before ``until``, as lines.

    Deterministic for a ``seed`` (one ``Random``, no clock), sorted by ``occurred_at`` like a CRM
    export, each with a unique ``source_id`` so a re-import is recognised as one.
    """
    if until.tzinfo is None:
        raise ValueError("until needs a time zone")
    world = _World(Random(seed), candidates, int(until.timestamp()))
    events = _simulate(world, candidates)
    start, dates, times = world.start, world.calendar.dates, world.calendar.times
    first_day = world.calendar.first_day
    for number, (offset, kind, candidate, keys, values) in enumerate(events, start=1):
        ts = start + offset
        line: dict[str, Any] = {
            "type": kind,
            "candidate": candidate,
            "occurred_at": dates[ts // DAY - first_day] + times[ts % DAY],
            "source_id": f"crm-{number:07d}",
        }
        line.update(zip(keys, values, strict=True))
        yield line


def _simulate(world: _World, candidates: int) -> list[_Event]:
    """Every candidate's history, cut at ``until``, in the order a CRM export has them.

    The cyclic garbage collector is paused meanwhile: the simulation allocates millions of
    acyclic tuples, which it would otherwise rescan over and over (a third of the run time).
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        events: list[_Event] = []
        horizon = world.horizon
        for number in range(1, candidates + 1):
            events.extend(e for e in _History(world, number).simulate() if e[0] < horizon)
        events.sort(key=itemgetter(0))
        return events
    finally:
        if paused:
            gc.enable()


def write_jsonl(path: Path, candidates: int, seed: int, until: datetime = DEFAULT_UNTIL) -> int:
    """Write ``generate(...)`` as JSON Lines (orjson, one object per line); returns the count."""
    count = 0
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    with path.open("wb", buffering=1 << 20) as file:
        for count, line in enumerate(generate(candidates, seed, until), start=1):  # noqa: B007
            file.write(dumps(line, option=newline))
    return count
