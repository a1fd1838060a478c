"""The pool view's fold, on pure code: a candidate's row depends on which facts happened, never
on the order they arrive in, and it says what matching needs (and nothing personal)."""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import orjson
import pytest

from domain.touchpoints import Touchpoint
from infra.intake.importing import read_touchpoints
from infra.synthetic.generator import write_jsonl
from projections.base import Fact, Upsert
from projections.pool import AREA_BITS, PoolProjection, bits, members
from tests.support.builders import at, tp


def facts_of(touchpoints: list[Touchpoint]) -> list[Fact]:
    """The touchpoints as the follower hands them to projections, in ledger order."""
    facts = []
    for position, touchpoint in enumerate(touchpoints, start=1):
        data = orjson.loads(touchpoint.clear_json)
        facts.append(
            Fact(position, str(touchpoint.candidate_id), position, touchpoint.type,
                 touchpoint.occurred_at.timestamp(), 0.0, data)
        )  # fmt: skip
    return facts


def rows(facts: list[Fact]) -> dict[str, dict]:
    projection, states, out = PoolProjection(), defaultdict(dict), []  # type: ignore[var-annotated]
    for fact in facts:
        projection.apply(states[fact.candidate_id], fact, out)
    return {upsert.row["candidate_id"]: dict(upsert.row) for upsert in out}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> list[Fact]:
    path: Path = tmp_path_factory.mktemp("pool") / "history.jsonl"
    write_jsonl(path, candidates=300, seed=7)
    lines, errors = read_touchpoints(path)
    assert errors == []
    # a position's facts never reach the pool view (``Fact.stream``): the candidates' only
    return facts_of([t for _, t in lines if hasattr(t, "candidate_id")])  # type: ignore[misc]


def test_the_rows_do_not_depend_on_the_order_facts_arrive_in(generated: list[Fact]) -> None:
    expected = rows(generated)
    assert len(expected) == 300
    for seed in range(3):
        shuffled = generated[:]
        random.Random(seed).shuffle(shuffled)
        registrations = [f for f in shuffled if f.type == "candidate_registered"]
        # registrations first, as the ledger records them; the rest in any order
        assert rows(registrations + [f for f in shuffled if f not in registrations]) == expected


def test_all_at_once_equals_one_by_one(generated: list[Fact]) -> None:
    by_candidate: dict[str, list[Fact]] = defaultdict(list)
    for fact in generated:
        by_candidate[fact.candidate_id].append(fact)
    out: list[Upsert] = []
    for facts in by_candidate.values():
        PoolProjection().apply_all({}, facts, out)
    assert {u.row["candidate_id"]: dict(u.row) for u in out} == rows(generated)


def test_a_row_says_what_matching_needs() -> None:
    history = [
        tp("candidate_registered", therapeutic_areas=["oncology", "neurology"],
           certifications=["gcp"], country="DE", years_experience=6),
        tp("added_to_talent_pool", when=at(days=1)),
        tp("profile_enriched", when=at(days=2), change="certification", certification="acrp_ccra"),
        tp("outreach_sent", when=at(days=3)),
        tp("reply_received", when=at(days=4)),
        tp("content_shared", when=at(days=10)),
        tp("reply_received", when=at(days=12), sentiment="not_interested"),
        tp("application_submitted", when=at(days=20), position="REQ-1"),
        tp("shortlisted", when=at(days=25), position="REQ-1"),
        tp("added_to_talent_pool", when=at(days=26), pool="pool-neuro"),
        tp("removed_from_talent_pool", when=at(days=27)),
        tp("opted_out", when=at(days=30)),
        tp("consent_given", when=at(days=31)),
    ]  # fmt: skip
    (row,) = rows(facts_of(history)).values()
    assert members(row["areas"], AREA_BITS) == ["oncology", "neurology"]
    assert row["areas"] == bits(["neurology", "oncology"], AREA_BITS)
    assert (row["country"], row["years"], row["role"]) == ("DE", 6, "cra")
    assert row["certifications"] == 0b10001  # acrp_ccra and gcp
    assert (orjson.loads(row["pools"]), row["in_pool"]) == (["pool-neuro"], 1)
    assert row["consent"] == "given" and row["erased"] == 0
    # a recruiter's own touchpoint (outreach, shortlist, pool changes): the last is day 27
    assert row["last_personal_touch"] == facts_of(history)[10].occurred_at
    assert row["last_engagement"] == facts_of(history)[7].occurred_at  # the application
    assert row["last_content_reply"] == facts_of(history)[6].occurred_at
    assert orjson.loads(row["processes"]) == {"REQ-1": [facts_of(history)[8].occurred_at,
                                                        "shortlisted"]}  # fmt: skip
    assert orjson.loads(row["silver"]) == ["REQ-1"]
    assert "Ada" not in orjson.dumps(row).decode()  # nothing personal


def test_a_hire_ends_the_process_and_the_silver_medal() -> None:
    history = [
        tp("candidate_registered"),
        tp("shortlisted", when=at(days=1)),
        tp("interview_scheduled", when=at(days=2)),
        tp("offer_extended", when=at(days=3)),
        tp("offer_accepted", when=at(days=4)),
        tp("hired", when=at(days=5)),
        tp("erasure_requested", when=at(days=9)),
    ]
    (row,) = rows(facts_of(history)).values()
    assert orjson.loads(row["silver"]) == []
    assert (row["hired_for"], row["erased"]) == ("REQ-1", 1)
    assert orjson.loads(row["processes"])["REQ-1"][1] == "hired"
