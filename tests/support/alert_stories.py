"""The stale-contact rules, told as thirteen stories of a recruiting desk. Each runs on a desk made
by ``desk_of`` (optionally with other rules): on the pure fold in the unit tier, and on the
ledger and its views, both stores, in the integration tier."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from projections.alert_rules import (
    APPLICANT,
    ENGAGED,
    ENRICHED,
    FOLLOW_UP,
    POOL,
    SHORTLISTED,
    AlertRules,
    rules_from,
)
from tests.support.alert_desks import START, Desk, as_of, day, episodes, open_now, register
from tests.support.builders import tp

DeskOf = Callable[..., Desk]


def a_pool_member_nobody_writes_to_for_90_days_is_alerted(desk_of: DeskOf) -> None:
    desk = desk_of()
    register(desk, "C-1")
    desk.record(
        tp("added_to_talent_pool", "C-1", day(1)),
        tp("content_shared", "C-1", day(30)),  # automated: keeps the pool warm, but not personal
    )
    assert open_now(desk, as_of(90)) == set()
    assert open_now(desk, as_of(92)) == {("C-1", POOL)}
    [alert] = desk.alerts(as_of(92))
    assert alert.due_at == START + timedelta(days=91)
    assert alert.overdue == timedelta(days=1)
    assert alert.recruiter == "rec-1"
    assert "talent-pool member without a personal touch" in alert.reason

    desk.record(tp("personal_note_sent", "C-1", day(100)))
    assert open_now(desk, as_of(101)) == set()
    assert open_now(desk, as_of(95)) == {("C-1", POOL)}, "as of day 95 it was still open"
    assert episodes(desk, "C-1", POOL) == [
        (1.0, 91.0, 100.0, "personal touch"),
        (100.0, 190.0, None, None),
    ]


def leaving_the_pool_or_being_hired_clears_the_pool_alert(desk_of: DeskOf) -> None:
    desk = desk_of()
    for candidate in ("C-1", "C-2"):
        register(desk, candidate)
        desk.record(tp("added_to_talent_pool", candidate, day(1)))
    desk.record(
        tp("removed_from_talent_pool", "C-1", day(120), reason="not_a_fit"),
        tp("application_submitted", "C-2", day(100)),
        tp("shortlisted", "C-2", day(101)),
        tp("interview_scheduled", "C-2", day(102)),
        tp("offer_extended", "C-2", day(103)),
        tp("offer_accepted", "C-2", day(104)),
        tp("hired", "C-2", day(105), automated=True, recruiter=None),
    )
    assert open_now(desk, as_of(99), POOL) == {("C-1", POOL), ("C-2", POOL)}
    assert open_now(desk, as_of(130)) == set()
    assert episodes(desk, "C-1", POOL) == [(1.0, 91.0, 120.0, "left the talent pool")]
    assert episodes(desk, "C-2", POOL)[-1][2:] == (105.0, "hired")


def an_engaged_candidate_without_a_follow_up_within_7_days_is_alerted(desk_of: DeskOf) -> None:
    desk = desk_of()
    register(desk, "C-1")
    desk.record(
        tp("outreach_sent", "C-1", day(0, 1)),
        tp("reply_received", "C-1", day(2), sentiment="interested"),
    )
    assert open_now(desk, as_of(8.9)) == set()
    assert open_now(desk, as_of(9)) == {("C-1", ENGAGED)}
    desk.record(tp("call_held", "C-1", day(10)))  # the follow-up, and an engagement itself
    desk.record(tp("personal_note_sent", "C-1", day(12), occasion="opportunity"))
    assert open_now(desk, as_of(30)) == set()
    assert episodes(desk, "C-1", ENGAGED) == [
        (2.0, 9.0, 10.0, "personal touch"),
        (10.0, 17.0, 12.0, "personal touch"),
    ]


def a_not_interested_reply_asks_for_no_follow_up(desk_of: DeskOf) -> None:
    desk = desk_of()
    register(desk, "C-1")
    desk.record(
        tp("outreach_sent", "C-1", day(0, 1)),
        tp("reply_received", "C-1", day(2), sentiment="not_interested"),
    )
    assert open_now(desk, as_of(60)) == set()


def an_applicant_with_only_an_automated_acknowledgement_is_alerted_after_48_hours(
    desk_of: DeskOf,
) -> None:
    desk = desk_of()
    for candidate in ("C-auto", "C-personal", "C-nothing"):
        register(desk, candidate)
        desk.record(tp("application_submitted", candidate, day(3)))
    desk.record(
        tp("application_acknowledged", "C-auto", day(3, hours=0.1)),
        tp("application_acknowledged", "C-personal", day(4), automated=False, recruiter="rec-2"),
    )
    assert open_now(desk, as_of(5, hours=-0.1)) == set()
    assert open_now(desk, as_of(5)) == {("C-auto", APPLICANT), ("C-nothing", APPLICANT)}
    desk.record(tp("call_held", "C-auto", day(6)))
    assert open_now(desk, as_of(6), APPLICANT) == {("C-nothing", APPLICANT)}
    assert episodes(desk, "C-auto", APPLICANT) == [(3.0, 5.0, 6.0, "personal touch")]
    assert episodes(desk, "C-personal", APPLICANT) == [(3.0, 5.0, 4.0, "personal touch")]


def a_shortlisted_candidate_without_an_update_for_5_days_is_alerted(desk_of: DeskOf) -> None:
    desk = desk_of()
    register(desk, "C-1")
    desk.record(
        tp("application_submitted", "C-1", day(0, 2)),
        tp("application_acknowledged", "C-1", day(0, 3), automated=False, recruiter="rec-1"),
        tp("shortlisted", "C-1", day(2)),
        tp("interview_scheduled", "C-1", day(6), automated=True, recruiter=None),
    )
    assert open_now(desk, as_of(10.9)) == set()
    assert open_now(desk, as_of(11)) == {("C-1", SHORTLISTED)}
    desk.record(
        tp("offer_extended", "C-1", day(13)),
        tp("offer_declined", "C-1", day(14), reason="compensation"),
    )
    assert open_now(desk, as_of(60)) == set()
    assert episodes(desk, "C-1", SHORTLISTED) == [
        (2.0, 7.0, 6.0, "touch from us"),
        (6.0, 11.0, 13.0, "touch from us"),
        (13.0, 18.0, 14.0, "offer declined"),
    ]


def an_opt_out_closes_and_prevents_alerts_that_ask_for_outreach(desk_of: DeskOf) -> None:
    desk = desk_of()
    register(desk, "C-1")
    desk.record(
        tp("added_to_talent_pool", "C-1", day(1)),
        tp("outreach_sent", "C-1", day(10)),
        tp("reply_received", "C-1", day(11), sentiment="not_now"),
        tp("opted_out", "C-1", day(12)),
        tp("application_submitted", "C-1", day(20)),
    )
    assert episodes(desk, "C-1", POOL) == [
        (1.0, 91.0, 10.0, "personal touch"),
        (10.0, 100.0, 12.0, "opted out"),
    ]
    assert episodes(desk, "C-1", ENGAGED) == [(11.0, 18.0, 12.0, "opted out")]
    # Acknowledging an application is still allowed, so that alert still stands.
    assert open_now(desk, as_of(200)) == {("C-1", APPLICANT)}

    desk.record(tp("consent_given", "C-1", day(300)))
    assert episodes(desk, "C-1", POOL)[-1] == (300.0, 390.0, None, None)
    assert open_now(desk, as_of(391), POOL) == {("C-1", POOL)}


def an_erasure_closes_every_alert(desk_of: DeskOf) -> None:
    desk = desk_of()
    register(desk, "C-1")
    desk.record(
        tp("added_to_talent_pool", "C-1", day(1)),
        tp("application_submitted", "C-1", day(5)),
    )
    assert open_now(desk, as_of(95)) == {("C-1", POOL), ("C-1", APPLICANT)}
    desk.record(tp("erasure_requested", "C-1", day(150)))
    assert open_now(desk, as_of(200)) == set()
    assert open_now(desk, as_of(95)) == {("C-1", POOL), ("C-1", APPLICANT)}, "history stands"
    closed = episodes(desk, "C-1", POOL) + episodes(desk, "C-1", APPLICANT)
    assert {episode[3] for episode in closed} == {"erased"}


def a_personal_touch_recorded_late_clears_the_alert_as_of_when_it_happened(
    desk_of: DeskOf,
) -> None:
    desk = desk_of()
    register(desk, "C-1")
    desk.record(tp("added_to_talent_pool", "C-1", day(1)))
    assert open_now(desk, as_of(100)) == {("C-1", POOL)}
    # The note was written on day 80, but the CRM export carrying it arrives now.
    desk.record(tp("personal_note_sent", "C-1", day(80)))
    assert open_now(desk, as_of(100)) == set()
    assert open_now(desk, as_of(85)) == set(), "as of day 85 the note had been written"
    assert episodes(desk, "C-1", POOL) == [
        (1.0, 91.0, 80.0, "personal touch"),
        (80.0, 170.0, None, None),
    ]


def a_pool_exit_recorded_late_withdraws_the_episodes_after_it(desk_of: DeskOf) -> None:
    desk = desk_of()
    register(desk, "C-1")
    desk.record(
        tp("added_to_talent_pool", "C-1", day(1)),
        tp("personal_note_sent", "C-1", day(60)),
    )
    assert open_now(desk, as_of(160)) == {("C-1", POOL)}
    desk.record(tp("removed_from_talent_pool", "C-1", day(40), reason="unreachable"))
    assert open_now(desk, as_of(160)) == set()
    assert episodes(desk, "C-1", POOL) == [
        (1.0, 91.0, 40.0, "left the talent pool"),
        (60.0, 150.0, 60.0, "withdrawn"),
    ]


def alerts_are_filtered_by_rule_and_by_recruiter(desk_of: DeskOf) -> None:
    desk = desk_of()
    register(desk, "C-1", recruiter="rec-1")
    register(desk, "C-2", recruiter="rec-2")
    for candidate in ("C-1", "C-2"):
        desk.record(
            tp("added_to_talent_pool", candidate, day(1)),
            tp("application_submitted", candidate, day(2)),
        )
    assert open_now(desk, as_of(100), recruiter="rec-2") == {("C-2", POOL), ("C-2", APPLICANT)}
    assert open_now(desk, as_of(100), rule=POOL) == {("C-1", POOL), ("C-2", POOL)}
    assert open_now(desk, as_of(100), rule=POOL, recruiter="rec-1") == {("C-1", POOL)}


def other_rules_change_periods_and_switch_rules_off(desk_of: DeskOf) -> None:
    rules = rules_from(
        {"rules": {POOL: {"period_days": 30}, APPLICANT: {"period_hours": 24},
                   SHORTLISTED: {"enabled": False}}}
    )  # fmt: skip
    assert rules[POOL].period == 30 * 86_400 and rules[ENGAGED].period == 7 * 86_400
    desk = desk_of(rules)
    register(desk, "C-1")
    desk.record(
        tp("added_to_talent_pool", "C-1", day(1)),
        tp("application_submitted", "C-1", day(2)),
        tp("shortlisted", "C-1", day(2, 1), automated=True, recruiter=None),
    )
    assert open_now(desk, as_of(31)) == {("C-1", POOL), ("C-1", APPLICANT)}
    assert episodes(desk, "C-1", SHORTLISTED) == []
    off = AlertRules(tuple(replace(r, enabled=r.name != POOL) for r in AlertRules()))
    quiet = desk_of(off)
    register(quiet, "C-9")
    quiet.record(tp("added_to_talent_pool", "C-9", day(1)))
    assert open_now(quiet, as_of(200), POOL) == set()


def a_promotion_without_a_congratulation_note_within_14_days_is_alerted(desk_of: DeskOf) -> None:
    """The seed's congratulations: a pool member's promotion or new certification, noticed by
    automation, asks for a personal note; a move to another employer does not, nor does anyone
    outside the pools or opted out."""
    desk = desk_of()
    for candidate in ("C-1", "C-2", "C-3", "C-4", "C-5"):
        register(desk, candidate)
    desk.record(
        tp("added_to_talent_pool", "C-1", day(1)),
        tp("profile_enriched", "C-1", day(10), change="promotion"),
        tp("profile_enriched", "C-2", day(10), change="promotion"),  # in no pool
        tp("added_to_talent_pool", "C-3", day(1)),
        tp("profile_enriched", "C-3", day(5), change="certification", certification="gcp"),
        tp("removed_from_talent_pool", "C-3", day(8)),
        tp("added_to_talent_pool", "C-4", day(1)),
        tp("profile_enriched", "C-4", day(5), change="employer_change"),
        tp("added_to_talent_pool", "C-5", day(1)),
        tp("opted_out", "C-5", day(3)),
        tp("profile_enriched", "C-5", day(5), change="promotion"),
    )
    assert open_now(desk, as_of(23), ENRICHED) == set()
    assert open_now(desk, as_of(25), ENRICHED) == {("C-1", ENRICHED)}
    [alert] = desk.alerts(as_of(25), ENRICHED)
    assert "promotion or new certification without a personal note" in alert.reason
    desk.record(tp("personal_note_sent", "C-1", day(30), occasion="congratulations_promotion"))
    assert open_now(desk, as_of(31), ENRICHED) == set()
    assert episodes(desk, "C-1", ENRICHED) == [(10.0, 24.0, 30.0, "personal note")]
    assert episodes(desk, "C-3", ENRICHED) == [(5.0, 19.0, 8.0, "left the talent pool")]
    assert episodes(desk, "C-2", ENRICHED) == episodes(desk, "C-4", ENRICHED) == []
    assert episodes(desk, "C-5", ENRICHED) == []


def a_not_now_with_a_date_is_alerted_when_that_day_passes_without_a_personal_touch(
    desk_of: DeskOf,
) -> None:
    """ "Not now, ask me on 1 February": the candidate's own date replaces the week's follow-up;
    a personal touch before it, an opt-out or a hire close it; a not-now without a date is the
    engaged rule's, as before."""
    desk = desk_of()
    for candidate in ("C-1", "C-2", "C-3", "C-4"):
        register(desk, candidate)
    asked = {"sentiment": "not_now", "reason": "timing", "follow_up_on": "2026-02-01"}
    desk.record(
        tp("reply_received", "C-1", day(2), **asked),
        tp("reply_received", "C-2", day(2), **asked),
        tp("personal_note_sent", "C-2", day(20)),
        tp("reply_received", "C-3", day(2), sentiment="not_now", reason="timing"),
        tp("reply_received", "C-4", day(2), **asked),
        tp("opted_out", "C-4", day(5)),
    )
    # 1 February starts on day 26.625 (START is 5 January, 09:00): due at that day's end
    assert episodes(desk, "C-1", FOLLOW_UP) == [(2.0, 27.625, None, None)]
    assert episodes(desk, "C-1", ENGAGED) == []
    assert open_now(desk, as_of(27.6), FOLLOW_UP) == set()
    assert open_now(desk, as_of(27.7), FOLLOW_UP) == {("C-1", FOLLOW_UP)}
    [alert] = desk.alerts(as_of(28), FOLLOW_UP)
    assert "follow-up date passed without a personal touch" in alert.reason
    assert episodes(desk, "C-2", FOLLOW_UP) == [(2.0, 27.625, 20.0, "personal touch")]
    assert episodes(desk, "C-3", FOLLOW_UP) == []
    assert episodes(desk, "C-3", ENGAGED) == [(2.0, 9.0, None, None)]
    assert episodes(desk, "C-4", FOLLOW_UP) == [(2.0, 27.625, 5.0, "opted out")]
    desk.record(tp("call_held", "C-1", day(30)))
    assert open_now(desk, as_of(31), FOLLOW_UP) == set()


STORIES = [
    a_pool_member_nobody_writes_to_for_90_days_is_alerted,
    leaving_the_pool_or_being_hired_clears_the_pool_alert,
    an_engaged_candidate_without_a_follow_up_within_7_days_is_alerted,
    a_not_interested_reply_asks_for_no_follow_up,
    an_applicant_with_only_an_automated_acknowledgement_is_alerted_after_48_hours,
    a_shortlisted_candidate_without_an_update_for_5_days_is_alerted,
    an_opt_out_closes_and_prevents_alerts_that_ask_for_outreach,
    an_erasure_closes_every_alert,
    a_personal_touch_recorded_late_clears_the_alert_as_of_when_it_happened,
    a_pool_exit_recorded_late_withdraws_the_episodes_after_it,
    alerts_are_filtered_by_rule_and_by_recruiter,
    other_rules_change_periods_and_switch_rules_off,
    a_promotion_without_a_congratulation_note_within_14_days_is_alerted,
]
