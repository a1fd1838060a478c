"""Engagement rates, the funnel and the candidate experience (``rapport metrics`` as JSON)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response

from infra.http import answers
from infra.http.deps import (
    API,
    AsOf,
    KnownAt,
    ReadsMetrics,
    Selected,
    State,
    analysed,
    instants,
    invalid,
    iso,
    moment,
    reported,
)
from infra.read.comparison import UnknownValue, check_question, compare
from infra.read.metrics import (
    QuestionProblem,
    candidate_experience,
    engagement_report,
    funnel,
    parse_dimensions,
)
from infra.read.payoff import parse_hiring_dimensions, payoff_as_of
from infra.read.reader import Reader
from infra.read.reasons import parse_reason_dimensions, reply_reasons

router = APIRouter(prefix=f"{API}/metrics", tags=["metrics"], dependencies=[ReadsMetrics])


@router.get("/engagement", response_model=answers.Engagement, operation_id="engagement")
def engagement(
    state: State,
    selection: Selected,
    by: Annotated[str, Query(description="Comma-separated dimensions.")] = "status,personalization",
    as_of: AsOf = None,
    known_at: KnownAt = None,
    window: Annotated[float, Query(gt=0, le=3650, description="Attribution window, days.")] = 30,
) -> Response:
    """Response and engagement rates per segment (95% Wilson interval, 1 in N), over settled
    outreach unless ``basis=all``; each segment says how many are still pending."""
    try:
        dimensions = parse_dimensions(by)
    except ValueError as bad:
        raise invalid("by", str(bad)) from None
    at, known = instants(as_of, known_at)

    def compute(reader: Reader) -> dict[str, Any]:
        segments = engagement_report(reader, dimensions, at, window, selection)
        return {
            "as_of": iso(at),
            "window_days": window,
            "by": dimensions,
            **selection.as_dict(),
            "pending": sum(s.pending for s in segments),
            "segments": [s.as_dict() for s in segments],
        }

    key = ("engagement", tuple(dimensions), at, window, selection.key)
    return reported(state, known, key, compute)


@router.get("/compare", response_model=answers.Comparisons, operation_id="compare")
def compare_endpoint(
    state: State,
    selection: Selected,
    by: Annotated[str, Query(description="The dimension to compare along.")],
    a: Annotated[str | None, Query(description="One value (default: every value).")] = None,
    b: Annotated[str | None, Query(description="The value to compare with.")] = None,
    metric: Annotated[str, Query(description="engagement or response.")] = "engagement",
    as_of: AsOf = None,
    known_at: KnownAt = None,
    window: Annotated[float, Query(gt=0, le=3650, description="Attribution window, days.")] = 30,
) -> Response:
    """Two rates compared (as ``rapport compare --format json``): the difference with its 95%
    interval (Newcombe's hybrid score method), the ratio, a verdict and a sentence."""
    try:
        check_question(by, a, b, metric)
    except QuestionProblem as bad:
        raise invalid(bad.field, str(bad)) from None
    at, known = instants(as_of, known_at)
    first, second = (None if v == "-" else v for v in (a, b))

    def compute(reader: Reader) -> dict[str, Any]:
        found = compare(
            reader, by, first, second, as_of=at, window_days=window, selection=selection,
            metric=metric,
        )  # fmt: skip
        return {
            "as_of": iso(at),
            "window_days": window,
            **selection.as_dict(),
            "comparisons": [c.as_dict() for c in found],
        }

    key = ("compare", by, a, b, metric, at, window, selection.key)
    try:
        return reported(state, known, key, compute)
    except UnknownValue as unknown:
        raise HTTPException(404, str(unknown)) from None


@router.get("/reasons", response_model=answers.Reasons, operation_id="reasons")
def reasons_endpoint(
    state: State,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    by: Annotated[str, Query(description="Break down by: channel, status, role, recruiter.")] = "",
) -> Response:
    """Why candidates said no, or not now: each reason's share of those replies."""
    try:
        dimensions = parse_reason_dimensions(by)
    except ValueError as bad:
        raise invalid("by", str(bad)) from None
    at, known = instants(as_of, known_at)
    return reported(
        state,
        known,
        ("reasons", at, tuple(dimensions)),
        lambda reader: {
            "as_of": iso(at),
            "by": dimensions,
            "reasons": [r.as_dict() for r in reply_reasons(reader, at, dimensions)],
        },
    )


@router.get("/funnel", response_model=answers.Funnel, operation_id="funnel")
def funnel_endpoint(state: State, as_of: AsOf = None, known_at: KnownAt = None) -> Response:
    """Candidates per stage, conversion from the previous stage, median days in each."""
    at, known = instants(as_of, known_at)
    return reported(
        state,
        known,
        ("funnel", at),
        lambda reader: {"as_of": iso(at), "stages": [s.as_dict() for s in funnel(reader, at)]},
    )


@router.get(
    "/candidate-experience",
    response_model=answers.CandidateExperience,
    operation_id="candidate_experience",
)
def experience(
    state: State,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    sla_hours: Annotated[float, Query(gt=0, le=8760)] = 48,
) -> Response:
    """Did applicants hear from a person within the SLA, or only from an automation?"""
    at, known = instants(as_of, known_at)
    return reported(
        state,
        known,
        ("experience", at, sla_hours),
        lambda reader: {"as_of": iso(at)} | candidate_experience(reader, at, sla_hours).as_dict(),
    )


@router.get("/payoff", response_model=answers.Payoff, operation_id="payoff")
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
            reader, state.ledger.ledger_recorder, as_of=at, now=not as_of,
            window_days=window, by=dimensions,
        ).as_dict()  # fmt: skip

    return analysed(state, ("payoff", at, not as_of, window, tuple(dimensions)), compute)
