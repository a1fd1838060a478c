"""The generated history: deterministic, valid, refused nowhere, and true to its ground truth.

Benchmarks and demos trust these files; if the generator drifted from its ground truth, a
dashboard showing "1 in 5" would prove nothing.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from domain.candidate import Candidate
from domain.lines import LINE_CATALOGUE
from domain.policy import ContactPolicy
from domain.position import Position
from domain.position_facts import POSITION_CATALOGUE, POSITION_FACT, PositionOpened
from domain.touchpoints import CATALOGUE, TOUCHPOINT, CandidateRegistered
from infra.synthetic.generator import DEFAULT_UNTIL, generate, write_jsonl
from infra.synthetic.truth import GROUND_TRUTH

WINDOW = timedelta(days=30)
HEAD = ["type", "candidate", "occurred_at", "source_id"]
POSITION_HEAD = ["type", "occurred_at", "source_id", "position"]


@pytest.fixture(scope="module")
def history() -> list[dict[str, Any]]:
    """About 3000 candidates: enough outreach for the engagement rates to settle."""
    return list(generate(candidates=3000, seed=2026, positions=True))


def engagement_rate(
    lines: list[dict[str, Any]], status: str, personalization: str, audience: str = "cold"
) -> float:
    """Share of outreach of this kind followed within 30 days by an engagement of its candidate;
    ``audience``: outreach sent before the candidate ever joined a talent pool (cold), or after
    (pool).

    Written independently of the generator: an engagement is an interested or not-now reply, a
    call held or an application, as the design notes define it. Outreach whose window is still
    open at the end of the history is left out: its engagements may not have happened yet.
    """
    lines = [line for line in lines if "candidate" in line]
    statuses = {line["candidate"]: line["status"] for line in lines if "status" in line}
    pooled = {}
    for line in reversed(lines):
        if line["type"] == "added_to_talent_pool":
            pooled[line["candidate"]] = datetime.fromisoformat(line["occurred_at"])
    engagements: dict[str, list[datetime]] = defaultdict(list)
    sent: list[tuple[str, datetime]] = []
    for line in lines:
        candidate, when = line["candidate"], datetime.fromisoformat(line["occurred_at"])
        kind = line["type"]
        warm = candidate in pooled and pooled[candidate] <= when
        if kind in ("call_held", "application_submitted") or (
            kind == "reply_received" and line["sentiment"] in ("interested", "not_now")
        ):
            engagements[candidate].append(when)
        elif (
            kind == "outreach_sent"
            and line["personalization"] == personalization
            and statuses[candidate] == status
            and when + WINDOW < DEFAULT_UNTIL
            and warm == (audience == "pool")
        ):
            sent.append((candidate, when))
    engaged = sum(
        any(at < moment <= at + WINDOW for moment in engagements[candidate])
        for candidate, at in sent
    )
    assert len(sent) > 300, "too few messages for a rate"
    return engaged / len(sent)


def test_the_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path):
    first, again, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"

    count = write_jsonl(first, candidates=200, seed=7, positions=True)
    write_jsonl(again, candidates=200, seed=7, positions=True)
    write_jsonl(other, candidates=200, seed=8, positions=True)

    assert first.read_bytes() == again.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    lines = first.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) - 1 == count > 1000
    again_generated = list(generate(200, seed=7, positions=True))
    assert [orjson.loads(line) for line in lines[:-1]] == again_generated


def test_every_line_is_a_valid_touchpoint_or_position_fact_with_its_own_source_id(history):
    for line in history:
        if line["type"] in POSITION_CATALOGUE:
            POSITION_FACT.validate_python(line)
            assert list(line)[:4] == POSITION_HEAD
        else:
            TOUCHPOINT.validate_python(line)
            assert list(line)[:4] == HEAD

    assert len({line["source_id"] for line in history}) == len(history)
    assert {line["type"] for line in history} == set(LINE_CATALOGUE)
    assert set(CATALOGUE) < set(LINE_CATALOGUE)


def test_the_export_is_chronological_in_whole_utc_seconds_and_ends_before_until(history):
    moments = [line["occurred_at"] for line in history]

    assert moments == sorted(moments)
    assert all(moment.endswith("Z") and len(moment) == 20 for moment in moments)
    assert datetime.fromisoformat(moments[-1]) < DEFAULT_UNTIL
    touchpoints = [line["occurred_at"] for line in history if "candidate" in line]
    assert datetime.fromisoformat(touchpoints[0]) > DEFAULT_UNTIL - timedelta(days=19 * 31)
    # positions open from two months before the touchpoints' 18 months
    assert datetime.fromisoformat(moments[0]) > DEFAULT_UNTIL - timedelta(days=548 + 61)


def test_replaying_every_candidate_and_position_through_their_aggregates_is_never_refused():
    by_candidate: dict[str, list[Any]] = defaultdict(list)
    by_position: dict[str, list[Any]] = defaultdict(list)
    for line in generate(candidates=400, seed=11, positions=True):
        if "candidate" in line and line["type"] in CATALOGUE:
            by_candidate[line["candidate"]].append(TOUCHPOINT.validate_python(line))
        else:
            by_position[line["position"]].append(POSITION_FACT.validate_python(line))
    policy = ContactPolicy()
    assert len(by_position) > 50
    for facts in by_position.values():
        opened, *later = facts
        assert isinstance(opened, PositionOpened)
        position = Position.open(opened, recorded_at=DEFAULT_UNTIL, policy=policy)
        for fact in later:
            position.record(fact, recorded_at=DEFAULT_UNTIL, policy=policy)
            position.evolve(fact)

    for touchpoints in by_candidate.values():
        registered, *later = touchpoints
        assert isinstance(registered, CandidateRegistered)
        candidate = Candidate.register(registered, recorded_at=DEFAULT_UNTIL, policy=policy)
        for touchpoint in sorted(later, key=lambda touchpoint: touchpoint.occurred_at):
            candidate.record(touchpoint, recorded_at=DEFAULT_UNTIL, policy=policy)


def test_about_one_in_five_passive_candidates_engage_with_personalized_outreach(history):
    rate = engagement_rate(history, "passive", "personalized")

    assert GROUND_TRUTH.engagement[("passive", "personalized")] == 0.20
    assert 0.16 <= rate <= 0.25


def test_pool_members_engage_more_than_cold_candidates_as_the_truth_says(history):
    rate = engagement_rate(history, "passive", "personalized", audience="pool")

    assert GROUND_TRUTH.pool_engagement[("passive", "personalized")] == 0.30
    assert 0.24 <= rate <= 0.37
    assert rate > engagement_rate(history, "passive", "personalized") + 0.04


def test_positions_open_fill_and_close_and_the_pool_shortlists_for_them(history):
    """Every hiring step names a position opened before it; a pool shortlisting comes the truth's
    2-12 days (then the next working hour) after its position opened, for a consenting member of
    the position's role; a filled position names someone hired for it."""
    opened: dict[str, tuple[datetime, str]] = {}
    ended: dict[str, tuple[str, datetime]] = {}
    role, consented, pooled = {}, set(), {}
    hired: set[tuple[str, str]] = set()
    pool_shortlists = 0
    low, high = GROUND_TRUTH.pool_shortlist_after_days
    for line in history:
        when, kind = datetime.fromisoformat(line["occurred_at"]), line["type"]
        who = line.get("candidate")
        if kind == "position_opened":
            opened[line["position"]] = (when, line["role"])
        elif kind in ("position_filled", "position_closed"):
            ended[line["position"]] = (kind, when)
            if kind == "position_filled":
                assert (line["candidate"], line["position"]) in hired
        elif kind == "candidate_registered":
            role[who] = line["role"]
        elif kind == "consent_given":
            consented.add(who)
        elif kind == "added_to_talent_pool":
            pooled.setdefault(who, when)
        elif kind == "hired":
            hired.add((who, line["position"]))
        if kind in ("application_submitted", "shortlisted", "interview_scheduled"):
            assert opened[line["position"]][0] <= when, line
        if kind == "shortlisted" and line.get("source") == "pool_match":
            pool_shortlists += 1
            since, wanted = opened[line["position"]]
            assert timedelta(days=low) <= when - since <= timedelta(days=high + 4)
            assert role[who] == wanted and who in consented and pooled[who] <= since
            assert 1 <= line["match_rank"] <= 10 and 55 <= line["match_score"] <= 95
    assert pool_shortlists > 100
    assert {kind for kind, _ in ended.values()} == {"position_filled", "position_closed"}
    assert len(opened) > len(ended) > 50


def test_generic_blasts_to_passive_candidates_get_no_meaningful_response(history):
    rate = engagement_rate(history, "passive", "generic_blast")

    assert 0.0 <= rate <= 0.05
    assert rate < engagement_rate(history, "passive", "templated")


def public_strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [
            text
            for key, item in value.items()
            if key != "personal"
            for text in public_strings(item)
        ]
    if isinstance(value, list):
        return [text for item in value for text in public_strings(item)]
    return [value] if isinstance(value, str) else []


def test_personal_data_stays_inside_personal(history):
    """Emails, names, phones and message text all hold an '@' or a space; ids and codes never do."""
    personal = [line["personal"] for line in history if "personal" in line]

    assert all(line["personal"]["email"].endswith(("@example.org", "@example.com"))
               for line in history if line["type"] == "candidate_registered")  # fmt: skip
    assert any("body" in fields for fields in personal)
    for line in history:
        public = {key: value for key, value in line.items() if key != "title"}  # a job's
        for text in public_strings(public):
            assert "@" not in text and " " not in text, (line["type"], text)


def test_congratulations_follow_a_noticed_promotion_or_certification(history):
    noticed: dict[str, list[datetime]] = defaultdict(list)
    congratulated = 0
    for line in history:
        when = datetime.fromisoformat(line["occurred_at"])
        if "candidate" not in line:
            continue
        if line["type"] == "profile_enriched":
            noticed[line["candidate"]].append(when)
        elif line.get("occasion", "").startswith("congratulations_"):
            congratulated += 1
            assert any(when - timedelta(days=14) < at < when for at in noticed[line["candidate"]])

    assert congratulated > 50
