"""The alert episodes' set-based form (``infra.read.set_based_alerts``) gives exactly the rows of
the live fold (``AlertsProjection.remember``, a fact at a time) for candidates whose facts
arrive in the order they happened: on drawn sequences of every remembered kind, every flag,
tied days, several pools and positions, and drawn rule settings (rules switched off, opt-outs
that do or do not suppress a rule, other periods). The whole rebuild, back-dated candidates
included, is held to the fold by ``tests/integration/test_bulk_rebuild.py``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import duckdb
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from infra.read.set_based_alerts import alert_episodes
from projections.alert_rules import AlertRules
from projections.alerts import (
    FLAG_PERSONAL,
    FLAG_TOUCH,
    STRUCTURAL,
    TOUCH_TYPES,
    AlertsProjection,
    Entry,
)
from projections.base import Upsert
from tests.support.drawn_histories import DRAWN_RULES

KINDS = sorted(STRUCTURAL | TOUCH_TYPES | {"reply_received"})
"""Every kind the rules remember: what changes their states, our touches, and replies."""

FACT = st.tuples(
    st.sampled_from(KINDS),
    st.sampled_from([0, FLAG_TOUCH, FLAG_PERSONAL | FLAG_TOUCH]),
    st.sampled_from(["pool-a", "pool-b", "REQ-1"]),
    st.sampled_from([0.0, 0.0, 0.5, 1.0, 3.0, 40.0]),
    st.integers(0, 2),
)
"""(kind, flags, argument, days after the candidate's previous fact, candidate); the ledger
requires a pool or a position on every fact that joins or leaves one."""


FOLLOW_UPS = [None, None, "2023-11-20", "2024-02-01"]
"""What a reply's argument can be: nothing, or the day a not-now asked to be contacted again
(before, between and after the drawn facts' days, which start in November 2023)."""


def _entries(facts: list[tuple[str, int, str | None, float, int]]) -> dict[str, list[Entry]]:
    """Each candidate's entries in ledger order, happened in that order (ties included); a
    reply's argument is a follow-up day or nothing, never a pool."""
    by_candidate: dict[str, list[Entry]] = {}
    clock: dict[str, float] = {}
    for position, (kind, flags, argument, days, who) in enumerate(facts, start=1):
        cid = f"c{who}"
        clock[cid] = clock.get(cid, 1_700_000_000.0) + days * 86_400.0
        if kind == "reply_received":
            argument = FOLLOW_UPS[position % len(FOLLOW_UPS)]
        by_candidate.setdefault(cid, []).append([clock[cid], position, kind, flags, argument])
    return by_candidate


def _folded(rules: AlertRules, entries: dict[str, list[Entry]]) -> list[tuple[Any, ...]]:
    projection = AlertsProjection(rules)
    columns = projection.tables[0].column_names
    rows: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for cid, remembered in entries.items():
        state: dict[str, Any] = {}
        out: list[Upsert] = []
        for entry in remembered:
            projection.remember(state, cid, list(entry), out)
        for upsert in out:
            row = tuple(upsert.row[c] for c in columns)
            rows[row[:3]] = row
    return sorted(rows.values(), key=lambda row: row[:3])


def _set_based(rules: AlertRules, entries: dict[str, list[Entry]]) -> list[tuple[Any, ...]]:
    statement = alert_episodes(AlertsProjection(rules))
    if statement is None:
        return []
    db = duckdb.connect()
    try:
        db.execute(
            "CREATE TEMP TABLE drawn (candidate_id VARCHAR, happened DOUBLE, position BIGINT,"
            " type VARCHAR, flags INTEGER, argument VARCHAR)"
        )
        rows = [(cid, *entry) for cid, remembered in entries.items() for entry in remembered]
        if rows:
            db.executemany("INSERT INTO drawn VALUES (?, ?, ?, ?, ?, ?)", rows)
        db.execute(
            "CREATE TEMP TABLE alert_entries AS SELECT *, true AS in_order,"
            " dense_rank() OVER (ORDER BY candidate_id) AS cand,"
            " row_number() OVER (ORDER BY candidate_id, position) AS seq FROM drawn"
        )
        return db.execute(statement).fetchall()
    finally:
        db.close()


@given(facts=st.lists(FACT, max_size=40), rules=DRAWN_RULES)
@hypothesis_settings(max_examples=400, deadline=None)
def test_the_set_based_episodes_are_the_folds(
    facts: list[tuple[str, int, str | None, float, int]], rules: AlertRules
) -> None:
    entries = _entries(facts)
    assert _set_based(rules, entries) == _folded(rules, entries)


def test_with_every_rule_switched_off_the_fold_finds_no_episode() -> None:
    rules = AlertRules(tuple(replace(rule, enabled=False) for rule in AlertRules()))
    assert alert_episodes(AlertsProjection(rules)) is None


def test_a_fold_changed_since_the_restatement_is_run_instead() -> None:
    class Changed(AlertsProjection):
        version = AlertsProjection.version + 1

    assert alert_episodes(Changed()) is None
    assert alert_episodes(AlertsProjection()) is not None


def test_a_period_without_end_is_restated_too() -> None:
    """A rules file may say ``period_days = inf`` (never due): the statement must still read."""
    rules = AlertRules(tuple(replace(rule, period=float("inf")) for rule in AlertRules()))
    facts = [
        ("added_to_talent_pool", 0, "pool-a", 0.0, 0),
        ("application_submitted", 0, "REQ-1", 1.0, 0),
        ("call_held", FLAG_PERSONAL | FLAG_TOUCH, "REQ-1", 2.0, 0),
    ]
    entries = _entries(facts)
    assert _set_based(rules, entries) == _folded(rules, entries) != []
