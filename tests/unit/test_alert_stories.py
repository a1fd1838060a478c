"""The twelve stale-contact stories on the alerts projection alone, folded in memory: the rules,
without a ledger or a database (the same stories run on both stores in the integration tier)."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from projections.alert_rules import AlertRules
from projections.alerts import AlertsProjection, open_as_of, open_as_of_sql
from projections.base import Fact, Upsert
from tests.support.alert_desks import FoldedDesk, as_of
from tests.support.alert_stories import STORIES


@pytest.mark.parametrize("story", STORIES, ids=lambda story: story.__name__)
def test_the_rules_on_a_pure_fold(story: Callable[..., None]) -> None:
    def desk_of(rules: AlertRules | None = None) -> FoldedDesk:
        return FoldedDesk(rules)

    story(desk_of)


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


instants = st.one_of(st.none(), st.floats(0, 100, allow_nan=False).map(lambda x: round(x, 1)))


@hypothesis_settings(max_examples=300, deadline=None)
@given(due_at=instants, resolved_at=instants, when=st.floats(0, 100).map(lambda x: round(x, 1)))
def test_open_as_of_means_the_same_in_python_and_in_sql(
    due_at: float | None, resolved_at: float | None, when: float
) -> None:
    """The views answer "open as of D" in SQL, the alert log in Python: one definition."""
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE TABLE episodes (due_at REAL, resolved_at REAL)")
        db.execute("INSERT INTO episodes VALUES (?, ?)", (due_at, resolved_at))
        where = open_as_of_sql("e")
        in_sql = db.execute(f"SELECT COUNT(*) FROM episodes e WHERE {where}", (when, when))
        assert (in_sql.fetchone()[0] == 1) == open_as_of(due_at, resolved_at, when)
