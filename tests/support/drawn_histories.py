"""Histories drawn by hypothesis: a few candidates, touchpoints of every kind on days that
tie, delivered in several imports so later ones carry facts that happened earlier. A drawn
history breaks the ledger's rules at times (outreach after an opt-out, anything after an
erasure): the tests that use it say what they do with the refusals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from domain.touchpoints import Touchpoint
from infra.core.settings import Settings
from infra.store.ledger import Ledger, Line
from projections.alert_rules import DAY, AlertRule, AlertRules
from tests.support.builders import at, tp

_RECRUITERS = ["rec-1", "rec-2"]


def _touchpoint(kind: str, candidate: str, day: float, pick: int) -> Touchpoint:
    """A touchpoint of ``kind`` whose fields vary with ``pick`` over what the views tell apart."""
    when = at(days=day)
    recruiter = _RECRUITERS[pick % 2]
    if kind == "outreach_sent":
        automated = pick % 4 == 0
        personalization = ["personalized", "templated", "generic_blast"][pick % 3]
        if automated:
            personalization = ["templated", "generic_blast"][pick % 2]
        fields: dict[str, Any] = {
            "personalization": personalization,
            "channel": ["email", "linkedin"][pick % 2],
            "campaign": [None, "camp-a", "camp-b"][pick % 3],
        }
        if automated:
            fields |= {"automated": True, "recruiter": None}
        else:
            fields |= {"recruiter": recruiter}
        return tp(kind, candidate, when, **fields)
    if kind == "reply_received":
        sentiment = ["interested", "not_now", "not_interested"][pick % 3]
        said: dict[str, Any] = {}
        if sentiment != "interested" and pick % 2:
            said["reason"] = ["timing", "compensation", "location"][pick % 3]
        if sentiment == "not_now" and pick >= 6:  # "ask me again on ...": a day or weeks on
            said["follow_up_on"] = at(day + 1 + 5 * (pick % 4))[:10]
        return tp(kind, candidate, when, sentiment=sentiment, **said)
    if kind == "outreach_bounced":  # on the outreach's channels: some within 7 days of one
        return tp(kind, candidate, when, channel=["email", "linkedin"][pick % 2],
                  bounce=["hard", "soft"][pick % 3 == 0])  # fmt: skip
    if kind == "shortlisted":  # attributed to a pool match, sourced, or not said (old data)
        attribution = [{"source": "pool_match", "match_rank": 1 + pick, "match_score": 50.5 + pick},
                       {"source": "sourced"}, {}][pick % 3]  # fmt: skip
        return tp(kind, candidate, when, position=f"REQ-{pick % 2}", **attribution)
    if kind == "match_dismissed":
        return tp(kind, candidate, when, position=f"REQ-{pick % 2}", recruiter=recruiter)
    if kind in ("application_submitted", "interview_scheduled", "offer_declined"):
        return tp(kind, candidate, when, position=f"REQ-{pick % 2}")
    if kind == "application_acknowledged":
        if pick % 3:
            return tp(kind, candidate, when, position=f"REQ-{pick % 2}")
        return tp(kind, candidate, when, position=f"REQ-{pick % 2}", automated=False,
                  recruiter=recruiter)  # fmt: skip
    if kind in ("added_to_talent_pool", "removed_from_talent_pool"):
        return tp(kind, candidate, when, pool=f"pool-{pick % 2}")
    if kind in ("call_held", "personal_note_sent", "offer_extended", "hired"):
        return tp(kind, candidate, when, recruiter=recruiter)
    return tp(kind, candidate, when)


_KINDS = [
    "outreach_sent", "outreach_sent", "reply_received", "reply_received", "call_held",
    "application_submitted", "application_acknowledged", "added_to_talent_pool",
    "removed_from_talent_pool", "content_shared", "personal_note_sent", "shortlisted",
    "interview_scheduled", "offer_extended", "offer_declined", "hired", "opted_out",
    "consent_given", "profile_enriched", "erasure_requested", "match_dismissed",
    "outreach_bounced",
]  # fmt: skip

DRAWN_EVENT = st.tuples(
    st.integers(0, 4),  # candidate
    st.sampled_from(_KINDS),
    st.integers(1, 120) | st.just(30),  # day: ties happen
    st.integers(0, 11),  # pick
    st.integers(0, 3),  # delivery
)


def deliveries(events: list[tuple[int, str, int, int, int]]) -> list[list[Line]]:
    """The history as several imports: registrations in the first, every other touchpoint in
    the import drawn for it, so later imports carry facts that happened earlier."""
    imports: list[list[Line]] = [[] for _ in range(4)]
    candidates = sorted({event[0] for event in events})
    number = 0
    for candidate in candidates:
        number += 1
        registered = tp("candidate_registered", f"C-{candidate}", at(days=0),
                        therapeutic_areas=["oncology", "cardiology"][: 1 + candidate % 2],
                        recruiter=_RECRUITERS[candidate % 2])  # fmt: skip
        imports[0].append((number, registered))
    for candidate, kind, day, pick, delivery in events:
        number += 1
        imports[delivery].append((number, _touchpoint(kind, f"C-{candidate}", day, pick)))
    return [lines for lines in imports if lines]


def record_accepted(settings: Settings, lines: list[Line]) -> None:
    """What the ledger accepts of ``lines`` (a drawn history breaks its rules at times: outreach
    after an opt-out, anything after an erasure)."""
    ledger = Ledger(settings)
    try:
        while lines:
            decision = ledger.decide(lines)
            if not decision.refusals:
                ledger.write(decision)
                return
            refused = {number for number, _ in decision.refusals}
            lines = [line for line in lines if line[0] not in refused]
    finally:
        ledger.close()


@st.composite
def _rule(draw: st.DrawFn, rule: AlertRule) -> AlertRule:
    return replace(
        rule,
        enabled=draw(st.sampled_from([True, True, True, False])),
        suppressed_by_opt_out=draw(st.booleans()),
        period=draw(st.sampled_from([rule.period, 0.5 * DAY, 2 * DAY, 40 * DAY])),
    )


DRAWN_RULES = st.one_of(
    st.just(AlertRules()),
    st.tuples(*(_rule(rule) for rule in AlertRules())).map(AlertRules),
)
"""The built-in alert rules, or each switched on or off, suppressed by an opt-out or not, with
its own period or another."""


def bulk_and_fold_draws(max_examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """What the bulk-against-fold properties draw: a history (``events``, for ``deliveries``),
    the import after which views are built in bulk (``bulk_after``), the fold's batch size,
    how many candidates' states it caches (``cache``; the others are replayed) and the alert
    rules (``rules``)."""

    def draws(test: Callable[..., None]) -> Callable[..., None]:
        drawn = given(
            events=st.lists(DRAWN_EVENT, min_size=1, max_size=60),
            bulk_after=st.integers(1, 4),
            batch=st.integers(1, 40),
            cache=st.sampled_from([1, 2, 50_000]),
            rules=DRAWN_RULES,
        )(test)
        return hypothesis_settings(
            max_examples=max_examples,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )(drawn)

    return draws
