"""Engagement rates, the funnel and the candidate experience (``rapport metrics`` as JSON)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from infra.http.deps import API, AsOf, ReadsMetrics, State, analysed, invalid, iso, moment
from infra.read.metrics import candidate_experience, engagement_report, funnel, parse_dimensions
from infra.read.payoff import parse_hiring_dimensions, payoff_as_of
from infra.read.reader import Reader

router = APIRouter(prefix=f"{API}/metrics", tags=["metrics"], dependencies=[ReadsMetrics])


@router.get("/engagement")
def engagement(
    state: State,
    by: Annotated[str, Query(description="Comma-separated dimensions.")] = "status,personalization",
    as_of: AsOf = None,
    window: Annotated[float, Query(gt=0, le=3650, description="Attribution window, days.")] = 30,
) -> Response:
    """Response and engagement rates per segment (95% Wilson interval, 1 in N)."""
    try:
        dimensions = parse_dimensions(by)
    except ValueError as bad:
        raise invalid("by", str(bad)) from None
    at = moment(as_of)

    def compute(reader: Reader) -> dict[str, Any]:
        segments = engagement_report(reader, dimensions, at, window)
        return {
            "as_of": iso(at),
            "window_days": window,
            "by": dimensions,
            "segments": [s.as_dict() for s in segments],
        }

    return analysed(state, ("engagement", tuple(dimensions), at, window), compute)


@router.get("/funnel")
def funnel_endpoint(state: State, as_of: AsOf = None) -> Response:
    """Candidates per stage, conversion from the previous stage, median days in each."""
    at = moment(as_of)
    return analysed(
        state,
        ("funnel", at),
        lambda reader: {"as_of": iso(at), "stages": [s.as_dict() for s in funnel(reader, at)]},
    )


@router.get("/candidate-experience")
def experience(
    state: State,
    as_of: AsOf = None,
    sla_hours: Annotated[float, Query(gt=0, le=8760)] = 48,
) -> Response:
    """Did applicants hear from a person within the SLA, or only from an automation?"""
    at = moment(as_of)
    return analysed(
        state,
        ("experience", at, sla_hours),
        lambda reader: {"as_of": iso(at)} | candidate_experience(reader, at, sla_hours).as_dict(),
    )


@router.get("/payoff")
def payoff(
    state: State,
    as_of: AsOf = None,
    window: Annotated[float, Query(gt=0, le=3650, description="Attribution window, days.")] = 30,
    by: Annotated[
        str, Query(description="Break the hiring figures down: role, recruiter, client.")
    ] = "",
) -> Response:
    """Does the talent pool pay off (as ``rapport payoff --format json``): pool against cold
    outreach, positions filled from the pool, content engagement, the pool's health."""
    try:
        dimensions = parse_hiring_dimensions(by)
    except ValueError as bad:
        raise invalid("by", str(bad)) from None
    at = moment(as_of)

    def compute(reader: Reader) -> dict[str, Any]:
        return payoff_as_of(
            reader, state.ledger.ledger_recorder, as_of=at, now=as_of is None,
            window_days=window, by=dimensions,
        ).as_dict()  # fmt: skip

    return analysed(state, ("payoff", at, as_of is None, window, tuple(dimensions)), compute)
