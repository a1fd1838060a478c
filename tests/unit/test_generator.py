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
from domain.policy import ContactPolicy
from domain.touchpoints import CATALOGUE, TOUCHPOINT, CandidateRegistered
from infra.synthetic.generator import DEFAULT_UNTIL, generate, write_jsonl
from infra.synthetic.truth import GROUND_TRUTH

WINDOW = timedelta(days=30)
HEAD = ["type", "candidate", "occurred_at", "source_id"]


@pytest.fixture(scope="module")
def history() -> list[dict[str, Any]]:
    """About 3000 candidates: enough outreach for the engagement rates to settle."""
    return list(generate(candidates=3000, seed=2026))


def engagement_rate(lines: list[dict[str, Any]], status: str, personalization: str) -> float:
    """Share of outreach of this kind followed within 30 days by an engagement of its candidate.

    Written independently of the generator: an engagement is an interested or not-now reply, a
    call held or an application, as the design notes define it. Outreach whose window is still
    open at the end of the history is left out: its engagements may not have happened yet.
    """
    statuses = {line["candidate"]: line["status"] for line in lines if "status" in line}
    engagements: dict[str, list[datetime]] = defaultdict(list)
    sent: list[tuple[str, datetime]] = []
    for line in lines:
        candidate, when = line["candidate"], datetime.fromisoformat(line["occurred_at"])
        kind = line["type"]
        if kind in ("call_held", "application_submitted") or (
            kind == "reply_received" and line["sentiment"] in ("interested", "not_now")
        ):
            engagements[candidate].append(when)
        elif (
            kind == "outreach_sent"
            and line["personalization"] == personalization
            and statuses[candidate] == status
            and when + WINDOW < DEFAULT_UNTIL
        ):
            sent.append((candidate, when))
    engaged = sum(
        any(at < moment <= at + WINDOW for moment in engagements[candidate])
        for candidate, at in sent
    )
    assert len(sent) > 500, "too few messages for a rate"
    return engaged / len(sent)


def test_the_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path):
    first, again, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"

    count = write_jsonl(first, candidates=200, seed=7)
    write_jsonl(again, candidates=200, seed=7)
    write_jsonl(other, candidates=200, seed=8)

    assert first.read_bytes() == again.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    lines = first.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) - 1 == count > 1000
    assert [orjson.loads(line) for line in lines[:-1]] == list(generate(200, seed=7))


def test_every_line_is_a_valid_touchpoint_with_its_own_source_id(history):
    for line in history:
        TOUCHPOINT.validate_python(line)
        assert list(line)[:4] == HEAD

    assert len({line["source_id"] for line in history}) == len(history)
    assert {line["type"] for line in history} == set(CATALOGUE)


def test_the_export_is_chronological_in_whole_utc_seconds_and_ends_before_until(history):
    moments = [line["occurred_at"] for line in history]

    assert moments == sorted(moments)
    assert all(moment.endswith("Z") and len(moment) == 20 for moment in moments)
    assert datetime.fromisoformat(moments[-1]) < DEFAULT_UNTIL
    assert datetime.fromisoformat(moments[0]) > DEFAULT_UNTIL - timedelta(days=19 * 31)


def test_replaying_every_candidate_through_the_aggregate_is_never_refused():
    by_candidate: dict[str, list[Any]] = defaultdict(list)
    for line in generate(candidates=400, seed=11):
        by_candidate[line["candidate"]].append(TOUCHPOINT.validate_python(line))
    policy = ContactPolicy()

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
        for text in public_strings(line):
            assert "@" not in text and " " not in text, (line["type"], text)


def test_congratulations_follow_a_noticed_promotion_or_certification(history):
    noticed: dict[str, list[datetime]] = defaultdict(list)
    congratulated = 0
    for line in history:
        when = datetime.fromisoformat(line["occurred_at"])
        if line["type"] == "profile_enriched":
            noticed[line["candidate"]].append(when)
        elif line.get("occasion", "").startswith("congratulations_"):
            congratulated += 1
            assert any(when - timedelta(days=14) < at < when for at in noticed[line["candidate"]])

    assert congratulated > 50
