"""Stale-contact alerts: given these touchpoints, as of this date, these alerts are open.

Each story starts on Monday 5 January 2026 (``day(0)``); ``as_of(n)`` is the instant ``n`` days
later. Alerts are read from the real views (SQLite and PostgreSQL), fed by the follower.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from domain.touchpoints import TOUCHPOINT, Touchpoint
from infra.core.alert_rules_file import load_rules
from infra.core.settings import Settings
from infra.read.alerts import (
    next_deadline,
    next_due,
    open_alerts,
    record_transitions,
)
from infra.read.follower import Follower
from infra.read.views import ViewStore
from infra.store.ledger import Ledger
from infra.synthetic import generator
from projections.alert_rules import (
    APPLICANT,
    ENGAGED,
    POOL,
    SHORTLISTED,
    AlertRules,
    AlertRulesError,
)
from projections.alerts import AlertsProjection
from projections.base import Fact, Upsert
from tests.conftest import tp

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CLOCK = datetime(2027, 6, 1, tzinfo=UTC)
"""The ledger's "now": every story is in its past."""


def day(n: float, hours: float = 0) -> str:
    return (START + timedelta(days=n, hours=hours)).isoformat()


def as_of(n: float, hours: float = 0) -> float:
    return (START + timedelta(days=n, hours=hours)).timestamp()


class Desk:
    """A recruiting desk: its ledger, and the alerts view kept by a follower."""

    def __init__(self, settings: Settings, rules: AlertRules | None = None) -> None:
        self.ledger = Ledger(settings, clock=lambda: CLOCK)
        self.store = ViewStore(settings)
        self.projection = AlertsProjection(rules or AlertRules())
        self.follower = Follower(self.ledger.ledger_recorder, self.store, [self.projection])

    def close(self) -> None:
        self.store.close()
        self.ledger.close()

    def record(self, *touchpoints: Touchpoint) -> None:
        for touchpoint in touchpoints:
            self.ledger.record(touchpoint)
        self.follower.catch_up()

    def register(self, candidate: str, recruiter: str = "rec-1") -> None:
        self.record(tp("candidate_registered", candidate, day(0), recruiter=recruiter))

    def open(self, when: float, rule: str | None = None, recruiter: str | None = None) -> set:
        return {
            (alert.candidate, alert.rule)
            for alert in open_alerts(self.store, when, rule=rule, recruiter=recruiter)
        }

    def episodes(self, candidate: str, rule: str) -> list[tuple[Any, ...]]:
        """(anchor day, due day, resolved day or None, resolution) in anchor order."""
        rows = self.store.query(
            "SELECT e.anchor_at, e.due_at, e.resolved_at, e.resolution"
            " FROM view_alert_episodes e JOIN view_alert_candidates c"
            " ON c.candidate_id = e.candidate_id WHERE c.candidate = ? AND e.rule = ?"
            " ORDER BY e.anchor_at, e.opened_position",
            (candidate, rule),
        )
        start = START.timestamp()
        return [
            (
                round((a - start) / 86_400, 3),
                round((d - start) / 86_400, 3),
                None if r is None else round((r - start) / 86_400, 3),
                why,
            )
            for a, d, r, why in rows
        ]


@pytest.fixture
def desk(settings: Settings) -> Iterator[Desk]:
    opened = Desk(settings)
    yield opened
    opened.close()


# --- talent pool: a personal touch at least every 90 days -------------------------------------


def test_a_pool_member_nobody_writes_to_for_90_days_is_alerted(desk: Desk) -> None:
    desk.register("C-1")
    desk.record(
        tp("added_to_talent_pool", "C-1", day(1)),
        tp("content_shared", "C-1", day(30)),  # automated: keeps the pool warm, but not personal
    )
    assert desk.open(as_of(90)) == set()
    assert desk.open(as_of(92)) == {("C-1", POOL)}
    [alert] = open_alerts(desk.store, as_of(92))
    assert alert.due_at == START + timedelta(days=91)
    assert alert.overdue == timedelta(days=1)
    assert alert.recruiter == "rec-1"
    assert "talent-pool member without a personal touch" in alert.reason

    desk.record(tp("personal_note_sent", "C-1", day(100)))
    assert desk.open(as_of(101)) == set()
    assert desk.open(as_of(95)) == {("C-1", POOL)}, "as of day 95 it was still open"
    assert desk.episodes("C-1", POOL) == [
        (1.0, 91.0, 100.0, "personal touch"),
        (100.0, 190.0, None, None),
    ]
    assert next_due(desk.store, str(alert.candidate_id), as_of(101)) == (
        f"{POOL}: due 2026-07-14 09:00 UTC"
    )


def test_leaving_the_pool_or_being_hired_clears_the_pool_alert(desk: Desk) -> None:
    for candidate in ("C-1", "C-2"):
        desk.register(candidate)
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
    assert desk.open(as_of(99), POOL) == {("C-1", POOL), ("C-2", POOL)}
    assert desk.open(as_of(130)) == set()
    assert desk.episodes("C-1", POOL) == [(1.0, 91.0, 120.0, "left the talent pool")]
    assert desk.episodes("C-2", POOL)[-1][2:] == (105.0, "hired")


# --- engaged candidates get a personal follow-up within 7 days --------------------------------


def test_an_engaged_candidate_without_a_follow_up_within_7_days_is_alerted(desk: Desk) -> None:
    desk.register("C-1")
    desk.record(
        tp("outreach_sent", "C-1", day(0, 1)),
        tp("reply_received", "C-1", day(2), sentiment="interested"),
    )
    assert desk.open(as_of(8.9)) == set()
    assert desk.open(as_of(9)) == {("C-1", ENGAGED)}
    desk.record(tp("call_held", "C-1", day(10)))  # the follow-up, and an engagement itself
    desk.record(tp("personal_note_sent", "C-1", day(12), occasion="opportunity"))
    assert desk.open(as_of(30)) == set()
    assert desk.episodes("C-1", ENGAGED) == [
        (2.0, 9.0, 10.0, "personal touch"),
        (10.0, 17.0, 12.0, "personal touch"),
    ]


def test_a_not_interested_reply_asks_for_no_follow_up(desk: Desk) -> None:
    desk.register("C-1")
    desk.record(
        tp("outreach_sent", "C-1", day(0, 1)),
        tp("reply_received", "C-1", day(2), sentiment="not_interested"),
    )
    assert desk.open(as_of(60)) == set()


# --- applicants hear from a person within 48 hours --------------------------------------------


def test_an_applicant_with_only_an_automated_acknowledgement_is_alerted_after_48_hours(
    desk: Desk,
) -> None:
    for candidate in ("C-auto", "C-personal", "C-nothing"):
        desk.register(candidate)
        desk.record(tp("application_submitted", candidate, day(3)))
    desk.record(
        tp("application_acknowledged", "C-auto", day(3, hours=0.1)),
        tp("application_acknowledged", "C-personal", day(4), automated=False, recruiter="rec-2"),
    )
    assert desk.open(as_of(5, hours=-0.1)) == set()
    assert desk.open(as_of(5)) == {("C-auto", APPLICANT), ("C-nothing", APPLICANT)}
    desk.record(tp("call_held", "C-auto", day(6)))
    assert desk.open(as_of(6), APPLICANT) == {("C-nothing", APPLICANT)}
    assert desk.episodes("C-auto", APPLICANT) == [(3.0, 5.0, 6.0, "personal touch")]
    assert desk.episodes("C-personal", APPLICANT) == [(3.0, 5.0, 4.0, "personal touch")]


# --- shortlisted candidates hear something every 5 days ---------------------------------------


def test_a_shortlisted_candidate_without_an_update_for_5_days_is_alerted(desk: Desk) -> None:
    desk.register("C-1")
    desk.record(
        tp("application_submitted", "C-1", day(0, 2)),
        tp("application_acknowledged", "C-1", day(0, 3), automated=False, recruiter="rec-1"),
        tp("shortlisted", "C-1", day(2)),
        tp("interview_scheduled", "C-1", day(6), automated=True, recruiter=None),
    )
    assert desk.open(as_of(10.9)) == set()
    assert desk.open(as_of(11)) == {("C-1", SHORTLISTED)}
    desk.record(
        tp("offer_extended", "C-1", day(13)),
        tp("offer_declined", "C-1", day(14), reason="compensation"),
    )
    assert desk.open(as_of(60)) == set()
    assert desk.episodes("C-1", SHORTLISTED) == [
        (2.0, 7.0, 6.0, "touch from us"),
        (6.0, 11.0, 13.0, "touch from us"),
        (13.0, 18.0, 14.0, "offer declined"),
    ]


# --- opt-out and erasure -------------------------------------------------------------------------


def test_an_opt_out_closes_and_prevents_alerts_that_ask_for_outreach(desk: Desk) -> None:
    desk.register("C-1")
    desk.record(
        tp("added_to_talent_pool", "C-1", day(1)),
        tp("outreach_sent", "C-1", day(10)),
        tp("reply_received", "C-1", day(11), sentiment="not_now"),
        tp("opted_out", "C-1", day(12)),
        tp("application_submitted", "C-1", day(20)),
    )
    assert desk.episodes("C-1", POOL) == [
        (1.0, 91.0, 10.0, "personal touch"),
        (10.0, 100.0, 12.0, "opted out"),
    ]
    assert desk.episodes("C-1", ENGAGED) == [(11.0, 18.0, 12.0, "opted out")]
    # Acknowledging an application is still allowed, so that alert still stands.
    assert desk.open(as_of(200)) == {("C-1", APPLICANT)}

    desk.record(tp("consent_given", "C-1", day(300)))
    assert desk.episodes("C-1", POOL)[-1] == (300.0, 390.0, None, None)
    assert desk.open(as_of(391), POOL) == {("C-1", POOL)}


def test_an_erasure_closes_every_alert(desk: Desk) -> None:
    desk.register("C-1")
    desk.record(
        tp("added_to_talent_pool", "C-1", day(1)),
        tp("application_submitted", "C-1", day(5)),
    )
    assert desk.open(as_of(95)) == {("C-1", POOL), ("C-1", APPLICANT)}
    desk.record(tp("erasure_requested", "C-1", day(150)))
    assert desk.open(as_of(200)) == set()
    assert desk.open(as_of(95)) == {("C-1", POOL), ("C-1", APPLICANT)}, "history stands"
    assert {e[3] for e in desk.episodes("C-1", POOL) + desk.episodes("C-1", APPLICANT)} == {
        "erased"
    }


# --- facts recorded late ---------------------------------------------------------------------


def test_a_personal_touch_recorded_late_clears_the_alert_as_of_when_it_happened(
    desk: Desk,
) -> None:
    desk.register("C-1")
    desk.record(tp("added_to_talent_pool", "C-1", day(1)))
    assert [t.action for t in record_transitions(desk.store, as_of(100))] == ["raised"]
    # The note was written on day 80, but the CRM export carrying it arrives now.
    desk.record(tp("personal_note_sent", "C-1", day(80)))
    assert desk.open(as_of(100)) == set()
    assert desk.episodes("C-1", POOL) == [
        (1.0, 91.0, 80.0, "personal touch"),
        (80.0, 170.0, None, None),
    ]
    [cleared] = record_transitions(desk.store, as_of(100))
    assert (cleared.action, cleared.at, cleared.reason) == ("cleared", as_of(80), "personal touch")


def test_a_pool_exit_recorded_late_withdraws_the_episodes_after_it(desk: Desk) -> None:
    desk.register("C-1")
    desk.record(
        tp("added_to_talent_pool", "C-1", day(1)),
        tp("personal_note_sent", "C-1", day(60)),
    )
    assert desk.open(as_of(160)) == {("C-1", POOL)}
    desk.record(tp("removed_from_talent_pool", "C-1", day(40), reason="unreachable"))
    assert desk.open(as_of(160)) == set()
    assert desk.episodes("C-1", POOL) == [
        (1.0, 91.0, 40.0, "left the talent pool"),
        (60.0, 150.0, 60.0, "withdrawn"),
    ]


# --- filters, deadlines and the log ----------------------------------------------------------


def test_alerts_are_filtered_by_rule_and_by_recruiter(desk: Desk) -> None:
    desk.register("C-1", recruiter="rec-1")
    desk.register("C-2", recruiter="rec-2")
    for candidate in ("C-1", "C-2"):
        desk.record(
            tp("added_to_talent_pool", candidate, day(1)),
            tp("application_submitted", candidate, day(2)),
        )
    assert desk.open(as_of(100), recruiter="rec-2") == {("C-2", POOL), ("C-2", APPLICANT)}
    assert desk.open(as_of(100), rule=POOL) == {("C-1", POOL), ("C-2", POOL)}
    assert desk.open(as_of(100), rule=POOL, recruiter="rec-1") == {("C-1", POOL)}


def test_the_next_deadline_is_the_earliest_unresolved_one(desk: Desk) -> None:
    desk.register("C-1")
    desk.record(
        tp("added_to_talent_pool", "C-1", day(1)),
        tp("application_submitted", "C-1", day(10)),
    )
    cid = _cid("C-1")
    found = next_deadline(desk.store, cid, as_of(5))
    assert found is not None and (found.rule, found.overdue) == (POOL, False)
    found = next_deadline(desk.store, cid, as_of(11))
    assert found is not None and (found.rule, found.due_at) == (APPLICANT, START + timedelta(12))
    assert (
        next_due(desk.store, cid, as_of(13)) == f"{APPLICANT}: overdue since 2026-01-17 09:00 UTC"
    )
    assert next_deadline(desk.store, "no-such-candidate", as_of(13)) is None
    found = next_deadline(desk.store, cid, None)  # with everything recorded
    assert found is not None and found.rule == APPLICANT


def _cid(candidate: str) -> str:
    from domain.touchpoints import candidate_id

    return str(candidate_id(candidate))


def test_the_transition_log_is_idempotent_and_moves_forward(desk: Desk) -> None:
    desk.register("C-1")
    desk.register("C-2")
    desk.record(
        tp("added_to_talent_pool", "C-1", day(1)),
        tp("application_submitted", "C-2", day(1)),
    )
    first = record_transitions(desk.store, as_of(50))
    assert [(t.action, t.rule, t.at) for t in first] == [("raised", APPLICANT, as_of(3))]
    assert record_transitions(desk.store, as_of(50)) == [], "the same instant again: nothing new"
    desk.record(tp("personal_note_sent", "C-2", day(60)))
    later = record_transitions(desk.store, as_of(100))
    assert [(t.action, t.rule, t.at, t.reason) for t in later] == [
        ("cleared", APPLICANT, as_of(60), "personal touch"),
        ("raised", POOL, as_of(91), "talent-pool member without a personal touch"),
    ]
    assert [t.seq for t in later] == [2, 3]
    assert record_transitions(desk.store, as_of(100)) == []
    rows = desk.store.query("SELECT seq, action, logged_position FROM view_alert_log ORDER BY seq")
    assert [r[:2] for r in rows] == [(1, "raised"), (2, "cleared"), (3, "raised")]
    with pytest.raises(ValueError, match="only moves forward"):
        record_transitions(desk.store, as_of(99))


def test_switching_a_rule_off_clears_its_raised_alerts_in_the_log(settings: Settings) -> None:
    desk = Desk(settings)
    try:
        desk.register("C-1")
        desk.record(tp("added_to_talent_pool", "C-1", day(1)))
        assert [t.action for t in record_transitions(desk.store, as_of(100))] == ["raised"]
    finally:
        desk.close()
    rules = AlertRules(tuple(replace(r, enabled=r.name != POOL) for r in AlertRules()))
    desk = Desk(settings, rules)  # other rules: the view is rebuilt
    try:
        desk.follower.catch_up()
        [cleared] = record_transitions(desk.store, as_of(101))
        assert (cleared.action, cleared.rule, cleared.reason) == ("cleared", POOL, "withdrawn")
    finally:
        desk.close()


# --- the rules file --------------------------------------------------------------------------


def test_a_rules_file_changes_periods_and_switches_rules_off(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules_file = tmp_path / "alerts.toml"
    rules_file.write_text(
        f"[rules.{POOL}]\nperiod_days = 30\n\n"
        f"[rules.{APPLICANT}]\nperiod_hours = 24\n\n"
        f"[rules.{SHORTLISTED}]\nenabled = false\n"
    )
    monkeypatch.setenv("RAPPORT_ALERT_RULES", str(rules_file))
    rules = load_rules(Settings().alert_rules)
    assert rules[POOL].period == 30 * 86_400 and rules[ENGAGED].period == 7 * 86_400
    desk = Desk(settings, rules)
    try:
        desk.register("C-1")
        desk.record(
            tp("added_to_talent_pool", "C-1", day(1)),
            tp("application_submitted", "C-1", day(2)),
            tp("shortlisted", "C-1", day(2, 1), automated=True, recruiter=None),
        )
        assert desk.open(as_of(31)) == {("C-1", POOL), ("C-1", APPLICANT)}
        assert desk.episodes("C-1", SHORTLISTED) == []
        assert desk.projection.version != AlertsProjection.version, "other rules: a rebuild"
    finally:
        desk.close()


def test_the_documented_rules_file_example_is_valid(tmp_path: Path) -> None:
    from projections import alert_rules

    example = []
    for line in (alert_rules.__doc__ or "").split("# rapport-alerts.toml\n", 1)[1].splitlines():
        if line and not line.startswith("    "):
            break  # the end of the indented example
        example.append(line[4:])
    (tmp_path / "example.toml").write_text("\n".join(example))
    rules = load_rules(tmp_path / "example.toml")
    assert rules[POOL].period == 60 * 86_400 and rules[APPLICANT].period == 24 * 3_600
    assert rules[APPLICANT].suppressed_by_opt_out and not rules[SHORTLISTED].enabled


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[rules.pool_is_stale]\nperiod_days = 3\n", "rules.pool_is_stale: unknown rule"),
        (f"[rules.{POOL}]\nperiod_days = 'ninety'\n", f"rules.{POOL}.period_days: expected a"),
        (f"[rules.{POOL}]\nperiod_days = 0\n", f"rules.{POOL}.period_days: expected a number > 0"),
        (f"[rules.{POOL}]\nperod_days = 9\n", f"rules.{POOL}.perod_days: unknown setting"),
        (f"[rules.{POOL}]\nenabled = 'no'\n", f"rules.{POOL}.enabled: expected true or false"),
        (f"[rules.{POOL}\nperiod_days = 9\n", "not valid TOML"),
    ],
)
def test_a_bad_rules_file_is_refused_naming_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    rules_file = tmp_path / "alerts.toml"
    rules_file.write_text(text)
    with pytest.raises(AlertRulesError, match=message.replace("[", r"\[")) as refused:
        load_rules(rules_file)
    assert str(rules_file) in str(refused.value)


# --- the command line --------------------------------------------------------------------------


def _command_app() -> Any:
    from infra.cli.app import app

    return app


def test_the_alerts_command_lists_open_alerts(settings: Settings) -> None:
    from tests.files import store_env

    ledger = Ledger(settings, clock=lambda: CLOCK)
    try:
        ledger.record(tp("candidate_registered", "C-1", day(0), recruiter="rec-7"))
        ledger.record(tp("added_to_talent_pool", "C-1", day(1)))
    finally:
        ledger.close()
    runner = CliRunner()
    env = store_env(settings) | {"RAPPORT_ALERT_RULES": ""}
    result = runner.invoke(_command_app(), ["alerts", "--as-of", "2026-04-06", "--format", "json"],
                           env=env)  # fmt: skip
    assert result.exit_code == 0, result.output
    [alert] = orjson.loads(result.stdout)
    assert (alert["candidate"], alert["rule"], alert["recruiter"]) == ("C-1", POOL, "rec-7")
    assert alert["due_at"] == "2026-04-06T09:00:00+00:00"
    result = runner.invoke(_command_app(), ["alerts", "--as-of", "2026-04-05", "--format", "csv"],
                           env=env)  # fmt: skip
    assert result.exit_code == 0 and result.stdout.splitlines()[1:] == []
    result = runner.invoke(_command_app(), ["alerts", "--as-of", "2026-04-07"], env=env)
    assert result.exit_code == 0 and "1 open alert(s) as of 2026-04-07 23:59 UTC" in result.stdout
    result = runner.invoke(_command_app(), ["alerts", "--rule", "stale"], env=env)
    assert result.exit_code == 2 and "--rule: unknown rule 'stale'" in result.stderr
    result = runner.invoke(_command_app(), ["alerts", "--as-of", "2026-04-06T09:00"], env=env)
    assert result.exit_code == 2 and "needs a zone" in result.stderr


# --- order of arrival never matters ----------------------------------------------------------

_KINDS = [
    ("added_to_talent_pool", {"pool": "pool-a", "recruiter": "rec-1"}),
    ("added_to_talent_pool", {"pool": "pool-b", "automated": True}),
    ("removed_from_talent_pool", {"pool": "pool-a", "reason": "other", "automated": True}),
    ("personal_note_sent", {"occasion": "check_in", "recruiter": "rec-1"}),
    ("content_shared", {"content": "trial_news", "automated": True}),
    ("outreach_sent", {"personalization": "generic_blast", "recruiter": "rec-1"}),
    ("reply_received", {"sentiment": "interested"}),
    ("call_held", {"recruiter": "rec-1"}),
    ("application_submitted", {"position": "REQ-1"}),
    ("application_acknowledged", {"position": "REQ-1", "automated": True}),
    ("shortlisted", {"position": "REQ-1", "recruiter": "rec-1"}),
    ("interview_scheduled", {"position": "REQ-2", "automated": True}),
    ("offer_declined", {"position": "REQ-1", "reason": "other"}),
    ("hired", {"position": "REQ-2", "automated": True}),
    ("opted_out", {"scope": "opt_out"}),
    ("consent_given", {}),
    ("erasure_requested", {}),
]


def _fold(facts: list[Fact]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The view's episode rows after applying ``facts`` one by one (an in-memory store)."""
    projection = AlertsProjection(AlertRules())
    state: dict[str, Any] = {}
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for fact in facts:
        out: list[Upsert] = []
        projection.apply(state, fact, out)
        for upsert in out:
            if upsert.table == "view_alert_episodes":
                row = dict(upsert.row)
                rows[(row["rule"], row["opened_position"])] = row
    return {
        key: {k: v for k, v in row.items() if k != "changed_position"}
        for key, row in rows.items()
        if row["resolution"] != "withdrawn"
    }


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    story=st.lists(
        st.tuples(st.sampled_from(range(len(_KINDS))), st.integers(0, 400)), max_size=25
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_episodes_depend_on_the_facts_not_on_the_order_they_arrive(
    story: list[tuple[int, int]], seed: int
) -> None:
    facts = []
    for position, (kind, hour) in enumerate(story, start=2):
        name, data = _KINDS[kind]
        facts.append(
            Fact(position, "cid", position, name, as_of(hour / 24), 0.0, {"type": name, **data})
        )
    shuffled = facts[:]
    random.Random(seed).shuffle(shuffled)
    assert _fold(shuffled) == _fold(facts)


def test_following_the_ledger_bit_by_bit_equals_a_rebuild(settings: Settings) -> None:
    desk = Desk(settings)
    try:
        rng = random.Random(7)
        for n in range(6):
            candidate = f"C-{n}"
            desk.register(candidate)
            moments = sorted(rng.uniform(1, 200) for _ in range(4))
            touchpoints = [
                tp("added_to_talent_pool", candidate, day(moments[0])),
                tp("application_submitted", candidate, day(moments[1])),
                tp("personal_note_sent", candidate, day(moments[2])),
                tp("reply_received", candidate, day(moments[3]), sentiment="not_now"),
            ]
            rng.shuffle(touchpoints)  # recorded out of order: some are back-dated
            for touchpoint in touchpoints:
                desk.record(touchpoint)
        query = "SELECT * FROM view_alert_episodes ORDER BY candidate_id, rule, opened_position"
        incremental = desk.store.query(query)
        desk.follower.rebuild()
        assert desk.store.query(query) == incremental
    finally:
        desk.close()


# --- a whole synthetic history ---------------------------------------------------------------


def _stale_pool_members(lines: list[dict[str, Any]], until: float) -> int:
    """Talent-pool members without a personal touch for 90 days, computed from the raw lines."""
    by_candidate: dict[str, list[tuple[float, int, Touchpoint]]] = {}
    for number, line in enumerate(lines):
        touchpoint = TOUCHPOINT.validate_python(line)
        by_candidate.setdefault(touchpoint.candidate, []).append(
            (touchpoint.occurred_at.timestamp(), number, touchpoint)
        )
    stale = 0
    for history in by_candidate.values():
        pools: set[str] = set()
        opted_out = erased = False
        last = 0.0
        for when, _number, touchpoint in sorted(history, key=lambda h: h[:2]):
            data = touchpoint.model_dump(mode="json")
            was_member = bool(pools) and not opted_out
            if touchpoint.type == "added_to_talent_pool":
                pools.add(data["pool"])
            elif touchpoint.type == "removed_from_talent_pool":
                pools.discard(data["pool"])
            elif touchpoint.type == "hired":
                pools.clear()
            elif touchpoint.type == "opted_out":
                opted_out = True
            elif touchpoint.type == "consent_given":
                opted_out = False
            elif touchpoint.type == "erasure_requested":
                erased = True
            member = bool(pools) and not opted_out
            if member and (not was_member or touchpoint.is_personal_touch):
                last = when
        if pools and not opted_out and not erased and last + 90 * 86_400 <= until:
            stale += 1
    return stale


def test_open_pool_alerts_in_a_generated_history_match_a_plain_count(tmp_path: Path) -> None:
    lines = list(generator.generate(1_500, seed=11))
    until = generator.DEFAULT_UNTIL.timestamp()
    settings = Settings(db=tmp_path / "rapport.db")
    ledger = Ledger(settings, clock=lambda: generator.DEFAULT_UNTIL)
    store = ViewStore(settings)
    try:
        ledger.write(
            ledger.decide([(n, TOUCHPOINT.validate_python(x)) for n, x in enumerate(lines)])
        )
        Follower(ledger.ledger_recorder, store, [AlertsProjection(AlertRules())]).catch_up()
        counted = len(open_alerts(store, until, rule=POOL))
    finally:
        store.close()
        ledger.close()
    expected = _stale_pool_members(lines, until)
    assert expected > 50, "the generator neglects a quarter of its pools"
    assert counted == expected
