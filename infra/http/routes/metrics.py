"""Engagement rates, the funnel and the candidate experience (``rapport metrics`` as JSON)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from infra.http.deps import API, AsOf, ReadsMetrics, State, analysed, invalid, iso, moment
from infra.read.metrics import candidate_experience, engagement_report, funnel, parse_dimensions
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
