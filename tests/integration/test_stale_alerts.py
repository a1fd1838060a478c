"""Stale-contact alerts on the ledger and its views (SQLite and PostgreSQL), fed by the follower.

The twelve stories of the rules (``tests/support/alert_stories.py``) run here on both stores, as
they run on the pure fold in the unit tier; the tests below them check what only the store has:
the next deadline, the raise/clear log, the rules file, the command, rebuilds.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from domain.touchpoints import TOUCHPOINT, Touchpoint, candidate_id
from infra.core.alert_rules_file import load_rules
from infra.core.settings import Settings
from infra.read.alerts import next_deadline, open_alerts, record_transitions
from infra.read.follower import Follower
from infra.read.views import ViewStore
from infra.store.ledger import Ledger
from infra.synthetic import generator
from projections.alert_rules import (
    APPLICANT,
    POOL,
    SHORTLISTED,
    AlertRules,
    AlertRulesError,
)
from projections.alerts import AlertsProjection
from tests.support.alert_desks import CLOCK, START, StoredDesk, as_of, day, register
from tests.support.alert_stories import STORIES
from tests.support.builders import tp


@pytest.fixture
def desk(settings: Settings) -> Iterator[StoredDesk]:
    opened = StoredDesk(settings)
    yield opened
    opened.close()


def _cid(candidate: str) -> str:
    return str(candidate_id(candidate))


@pytest.mark.parametrize("story", STORIES, ids=lambda story: story.__name__)
def test_the_stories_on_the_ledger_and_its_views(
    story: Callable[..., None], settings: Settings
) -> None:
    desks: list[StoredDesk] = []

    def desk_of(rules: AlertRules | None = None) -> StoredDesk:
        desks.append(StoredDesk(settings, rules))
        return desks[-1]

    try:
        story(desk_of)
    finally:
        for opened in desks:
            opened.close()


def test_the_next_due_action_names_the_coming_deadline(desk: StoredDesk) -> None:
    register(desk, "C-1")
    desk.record(
        tp("added_to_talent_pool", "C-1", day(1)),
        tp("personal_note_sent", "C-1", day(100)),
    )
    found = next_deadline(desk.store, _cid("C-1"), as_of(101))
    assert found is not None
    assert found.text == "talent-pool member without a personal touch: due 2026-07-14 09:00 UTC"
    assert found.as_dict() == {
        "rule": POOL,
        "label": "talent-pool member without a personal touch",
        "due_at": "2026-07-14T09:00:00+00:00",
        "anchor_at": "2026-04-15T09:00:00+00:00",
        "overdue": False,
        "text": found.text,
    }


def test_a_personal_touch_recorded_late_clears_the_raised_alert_in_the_log(
    desk: StoredDesk,
) -> None:
    register(desk, "C-1")
    desk.record(tp("added_to_talent_pool", "C-1", day(1)))
    assert [t.action for t in record_transitions(desk.store, as_of(100))] == ["raised"]
    desk.record(tp("personal_note_sent", "C-1", day(80)))
    [cleared] = record_transitions(desk.store, as_of(100))
    assert (cleared.action, cleared.at, cleared.reason) == ("cleared", as_of(80), "personal touch")


def test_the_next_deadline_is_the_earliest_unresolved_one(desk: StoredDesk) -> None:
    register(desk, "C-1")
    desk.record(
        tp("added_to_talent_pool", "C-1", day(1)),
        tp("application_submitted", "C-1", day(10)),
    )
    cid = _cid("C-1")
    found = next_deadline(desk.store, cid, as_of(5))
    assert found is not None and (found.rule, found.overdue) == (POOL, False)
    found = next_deadline(desk.store, cid, as_of(11))
    assert found is not None and (found.rule, found.due_at) == (APPLICANT, START + timedelta(12))
    found = next_deadline(desk.store, cid, as_of(13))
    assert found is not None and found.overdue
    assert found.text.endswith("overdue since 2026-01-17 09:00 UTC")
    assert next_deadline(desk.store, "no-such-candidate", as_of(13)) is None


def test_the_transition_log_is_idempotent_and_moves_forward(desk: StoredDesk) -> None:
    register(desk, "C-1")
    register(desk, "C-2")
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
    desk = StoredDesk(settings)
    try:
        register(desk, "C-1")
        desk.record(tp("added_to_talent_pool", "C-1", day(1)))
        assert [t.action for t in record_transitions(desk.store, as_of(100))] == ["raised"]
    finally:
        desk.close()
    rules = AlertRules(tuple(replace(r, enabled=r.name != POOL) for r in AlertRules()))
    desk = StoredDesk(settings, rules)  # other rules: the view is rebuilt
    try:
        desk.follower.catch_up()
        [cleared] = record_transitions(desk.store, as_of(101))
        assert (cleared.action, cleared.rule, cleared.reason) == ("cleared", POOL, "withdrawn")
    finally:
        desk.close()


# --- the rules file --------------------------------------------------------------------------


def test_the_rules_file_the_settings_name_is_read_and_rebuilds_the_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules_file = tmp_path / "alerts.toml"
    rules_file.write_text(
        f"[rules.{POOL}]\nperiod_days = 30\n\n[rules.{SHORTLISTED}]\nenabled = false\n"
    )
    monkeypatch.setenv("RAPPORT_ALERT_RULES", str(rules_file))
    rules = load_rules(Settings().alert_rules)
    assert rules[POOL].period == 30 * 86_400 and not rules[SHORTLISTED].enabled
    assert AlertsProjection(rules).version != AlertsProjection.version, "other rules: a rebuild"
    monkeypatch.setenv("RAPPORT_ALERT_RULES", "")
    assert load_rules(Settings().alert_rules) == AlertRules()


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
    from tests.support.files import store_env

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


def test_following_the_ledger_bit_by_bit_equals_a_rebuild(settings: Settings) -> None:
    desk = StoredDesk(settings)
    try:
        rng = random.Random(7)
        for n in range(6):
            candidate = f"C-{n}"
            register(desk, candidate)
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
