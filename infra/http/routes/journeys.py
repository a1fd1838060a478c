"""A candidate's journey (``rapport journey`` as JSON)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException, Response

from infra.http.deps import API, AsOf, Candidate, ReadsJourneys, State, answer, moment
from infra.read.journeys import NoSuchCandidate, journey, next_due_action

router = APIRouter(prefix=f"{API}/journeys", tags=["journeys"], dependencies=[ReadsJourneys])


@router.get("/{candidate}")
def journey_endpoint(state: State, candidate: Candidate, as_of: AsOf = None) -> Response:
    """A candidate's timeline, stage, last (personal) touch and next due action."""
    at = None if as_of is None else moment(as_of)

    def compute() -> dict[str, Any]:
        store = state.views()
        found = journey(store, candidate, at)
        return asdict(found) | {"next_due_action": next_due_action(store, found, at)}

    try:
        return answer(state, ("journey", candidate, at), compute)
    except NoSuchCandidate as missing:
        raise HTTPException(404, str(missing)) from None
