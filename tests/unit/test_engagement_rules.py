"""The engagement projection's rules and the rate arithmetic, on pure code only: the rows
depend on the set of facts alone (never their order or batching), the Wilson interval and its
"1 in N", and which breakdowns a report accepts. Counting the rows into rates is SQL over the
views, checked on both stores in ``tests/integration/test_engagement_metrics.py``."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from infra.read.metrics import parse_dimensions
from projections.base import Fact, Upsert
from projections.engagement import EngagementProjection
from projections.rates import Z_95, Rate, newcombe, one_in, percentile, wilson

DAY = 86_400


# --- the rate helpers ----------------------------------------------------------------------------


def test_wilson_interval_one_in_n_and_percentiles() -> None:
    low, high = wilson(20, 100)
    assert round(low, 4) == 0.1334 and round(high, 4) == 0.2888  # the published values
    assert wilson(0, 50)[0] == 0.0 and wilson(50, 50)[1] == 1.0
    assert wilson(0, 0) == (0.0, 1.0)
    assert one_in(0.2) == "1 in 5" and one_in(0.0) == "none" and one_in(0.0004) == "1 in 2,500"
    assert one_in(0.5) == "1 in 2" and one_in(0.94) is None  # never "1 in 1" for 94%
    assert str(Rate(94, 100)).startswith("94.0% [") and "1 in" not in str(Rate(94, 100))
    assert percentile([1, 2, 3, 4], 50) == 2.5 and percentile([5], 90) == 5
    assert percentile([], 50) is None
    assert str(Rate(201, 1000)) == "20.1% [17.7\u201322.7] 1 in 5 (n=1,000)"


def test_the_difference_of_two_rates_by_newcombes_method() -> None:
    """Newcombe (1998), "Interval estimation for the difference between independent
    proportions", Statistics in Medicine 17, table II, method 10: his published intervals."""
    assert Z_95 == 1.959964
    for (a, n_a, b, n_b), published in (
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.0582, 0.8062)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
        ((0, 10, 0, 20), (-0.1611, 0.2775)),
        ((10, 10, 0, 20), (0.6791, 1.0)),
    ):
        low, high = newcombe(a, n_a, b, n_b)
        assert (round(low, 4), round(high, 4)) == published, (a, n_a, b, n_b)
    # b against a is the mirror image
    low, high = newcombe(48, 80, 56, 70)
    assert (round(low, 4), round(high, 4)) == (-0.3339, -0.0524)


def test_unknown_dimensions_are_refused() -> None:
    assert parse_dimensions(" status, cohort_week ,status") == ["status", "cohort_week"]
    with pytest.raises(ValueError, match="unknown dimension"):
        parse_dimensions("status,mood")


# --- order and batching never change the rows ----------------------------------------------------

_KINDS = ["outreach", "reply", "call", "application", "ack", "note", "content", "shortlisted"]


def _fact(position: int, candidate: str, kind: str, day: int, pick: int) -> Fact:
    data: dict[str, Any]
    if kind == "registered":
        data = {"type": "candidate_registered", "role": "cra", "status": "passive",
                "therapeutic_areas": ["oncology"]}  # fmt: skip
    elif kind == "outreach":
        personalization = ["personalized", "templated", "generic_blast"][pick % 3]
        data = {"type": "outreach_sent", "channel": "email", "personalization": personalization,
                "recruiter": "rec-1", "automated": pick % 2 == 0}  # fmt: skip
    elif kind == "reply":
        sentiment = ["interested", "not_now", "not_interested"][pick % 3]
        data = {"type": "reply_received", "channel": "email", "sentiment": sentiment}
    elif kind == "call":
        data = {"type": "call_held", "recruiter": "rec-1"}
    elif kind == "application":
        data = {"type": "application_submitted", "position": f"REQ-{pick % 2}"}
    elif kind == "ack":
        data = {"type": "application_acknowledged", "position": f"REQ-{pick % 2}",
                "automated": pick % 3 != 0, "recruiter": "rec-1"}  # fmt: skip
    elif kind == "note":
        data = {"type": "personal_note_sent", "occasion": "check_in", "recruiter": "rec-1"}
    elif kind == "content":
        data = {"type": "content_shared", "content": "trial_news", "automated": True}
    else:
        data = {"type": kind, "position": "REQ-0", "recruiter": "rec-1"}
    return Fact(position, candidate, position, data["type"], float(day * DAY), 0.0, data)


def _fold(facts: list[Fact], cuts: set[int]) -> dict[tuple[str, str], Any]:
    """Apply in this order, round-tripping every state through JSON at each cut (a new batch)."""
    projection, states = EngagementProjection(), defaultdict[str, dict[str, Any]](dict)
    final: dict[tuple[str, str], Any] = {}
    out: list[Upsert] = []
    for index, fact in enumerate(facts):
        if index in cuts:
            states = defaultdict(dict, orjson.loads(orjson.dumps(states)))
        projection.apply(states[fact.candidate_id], fact, out)
    tables = {t.name: t for t in projection.tables}
    for upsert in out:
        key = tuple(upsert.row[k] for k in tables[upsert.table].key)
        final[(upsert.table, repr(key))] = dict(upsert.row)
    return final


@hypothesis_settings(max_examples=150, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(["C-1", "C-2"]),
            st.sampled_from(_KINDS),
            st.integers(0, 40),
            st.integers(0, 5),
        ),
        max_size=25,
    ),
    data=st.data(),
)
def test_rows_depend_only_on_the_set_of_facts(events: list[Any], data: st.DataObject) -> None:
    facts = [_fact(1, "C-1", "registered", 0, 0), _fact(2, "C-2", "registered", 0, 0)]
    facts += [_fact(i + 3, *event) for i, event in enumerate(events)]
    shuffled = data.draw(st.permutations(facts))
    cuts = data.draw(st.sets(st.integers(0, len(facts))))

    assert _fold(shuffled, cuts) == _fold(facts, set())
