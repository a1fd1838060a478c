"""The rules of a position's own history: opened, refined, then filled or closed; a closed
requisition may be opened again, a filled one may not. Pure domain: no database, no clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from domain.policy import ContactPolicy
from domain.position import Opened, Position, PositionFactRecorded, PositionStatus
from domain.position_facts import POSITION_FACT, PositionFact, position_id
from domain.refusals import OccurredInTheFuture, PositionNotOpen, PositionUpdateInvalid
from tests.support.builders import at, pf, tp

RECORDED = datetime(2026, 6, 1, tzinfo=UTC)
POLICY = ContactPolicy()


def given(*history: PositionFact) -> Position:
    opened, *rest = history
    position = Position.open(opened, recorded_at=RECORDED, policy=POLICY)  # type: ignore[arg-type]
    for fact in rest:
        position.record(fact, recorded_at=RECORDED, policy=POLICY)
    position.collect_events()
    return position


def test_opening_a_position_starts_its_own_stream() -> None:
    position = Position.open(pf("position_opened"), recorded_at=RECORDED, policy=POLICY)  # type: ignore[arg-type]
    (event,) = position.collect_events()
    assert isinstance(event, Opened)
    assert position.id == position_id("REQ-1") != tp("candidate_registered").candidate_id
    assert position.status is PositionStatus.OPEN
    assert position.spec is not None and position.spec.min_years == 3


def test_an_update_replaces_only_what_it_names() -> None:
    position = given(pf("position_opened"))
    position.record(
        pf("position_updated", when=at(days=2), min_years=6, trial_phases=["phase_iii"]),
        recorded_at=RECORDED,
        policy=POLICY,
    )
    (event,) = position.collect_events()
    assert isinstance(event, PositionFactRecorded)
    assert position.spec is not None
    assert (position.spec.min_years, position.spec.trial_phases) == (6, ["phase_iii"])
    assert position.spec.therapeutic_areas == ["oncology"]  # untouched


def test_an_update_may_not_leave_the_position_invalid() -> None:
    position = given(pf("position_opened"))  # required: gcp
    with pytest.raises(PositionUpdateInvalid, match="both required and preferred"):
        position.record(
            pf("position_updated", preferred_certifications=["gcp"]),
            recorded_at=RECORDED,
            policy=POLICY,
        )
    with pytest.raises(PositionUpdateInvalid, match="remote"):
        given(pf("position_opened", country=None, remote=True)).record(
            pf("position_updated", remote=False), recorded_at=RECORDED, policy=POLICY
        )


@pytest.mark.parametrize("end", ["position_filled", "position_closed"])
def test_nothing_after_a_position_ends_but_a_closed_one_reopens(end: str) -> None:
    position = given(pf("position_opened"), pf(end, when=at(days=5)))
    with pytest.raises(PositionNotOpen):
        position.record(
            pf("position_updated", when=at(days=6)), recorded_at=RECORDED, policy=POLICY
        )
    reopening = pf("position_opened", when=at(days=7), min_years=1)
    if end == "position_filled":
        with pytest.raises(PositionNotOpen, match="filled"):
            position.record(reopening, recorded_at=RECORDED, policy=POLICY)
        assert position.filled_by == "C-1"
    else:
        position.record(reopening, recorded_at=RECORDED, policy=POLICY)
        assert position.status is PositionStatus.OPEN
        assert position.spec is not None and position.spec.min_years == 1


def test_an_open_position_is_not_opened_twice() -> None:
    with pytest.raises(PositionNotOpen, match="already open"):
        given(pf("position_opened")).record(
            pf("position_opened", when=at(days=1)), recorded_at=RECORDED, policy=POLICY
        )


def test_a_fact_may_not_claim_to_happen_after_it_was_recorded() -> None:
    with pytest.raises(OccurredInTheFuture):
        Position.open(pf("position_opened", when=at(days=60)), recorded_at=RECORDED, policy=POLICY)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"country": None}, "", "name the country, or set remote to true"),
        ({"required_certifications": ["gcp"], "preferred_certifications": ["gcp"]}, "", "both"),
        ({"title": "Lead\nCRA"}, "title", "pattern"),
        ({"min_years": 61}, "min_years", "less than or equal to 60"),
        ({"role": "astronaut"}, "role", "Input should be"),
    ],
)
def test_an_opening_names_what_is_wrong(fields: dict, field: str, message: str) -> None:
    with pytest.raises(ValidationError) as invalid:
        pf("position_opened", **fields)
    error = invalid.value.errors()[0]
    assert field in ".".join(str(part) for part in error["loc"])
    assert message in error["msg"]


def test_an_update_changes_something_and_a_fill_names_the_candidate() -> None:
    with pytest.raises(ValidationError, match="changes at least one field"):
        POSITION_FACT.validate_python(
            {"type": "position_updated", "position": "REQ-1", "occurred_at": at()}
        )
    with pytest.raises(ValidationError, match="candidate"):
        pf("position_filled", candidate=None)


def test_a_positions_crm_id_never_collides_with_a_touchpoints() -> None:
    position = pf("position_opened", source_id="42")
    touchpoint = tp("candidate_registered", source_id="42")
    assert position.dedupe_key != touchpoint.dedupe_key
    assert pf("position_opened").dedupe_key.startswith("sha256:")
