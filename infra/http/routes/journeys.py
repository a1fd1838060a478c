"""A candidate's journey (``rapport journey`` as JSON)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response

from infra.http import answers
from infra.http.deps import API, AsOf, Candidate, ReadsJourneys, State, answer, moment
from infra.read.journeys import NoSuchCandidate, journey

router = APIRouter(prefix=f"{API}/journeys", tags=["journeys"], dependencies=[ReadsJourneys])


@router.get("/{candidate}", response_model=answers.Journey, operation_id="journey")
def journey_endpoint(state: State, candidate: Candidate, as_of: AsOf = None) -> Response:
    """A candidate's timeline, stage, last (personal) touch and next due action."""
    at = moment(as_of)

    def compute() -> dict[str, Any]:
        return journey(state.views(), candidate, at).as_dict()

    try:
        return answer(state, ("journey", candidate, at), compute)
    except NoSuchCandidate as missing:
        raise HTTPException(404, str(missing)) from None
