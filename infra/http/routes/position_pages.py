"""The dashboard's positions pages: does the pool pay off, the positions and their funnels, and
one position's matches, server-rendered like the rest of the dashboard (nothing personal on
them: any role may read them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from infra.http.deps import AsOf, ReadsMatches, State, moment
from infra.http.routes.dashboard import templates
from infra.http.routes.positions import Requisition
from infra.read.matches import NoSuchPosition, match_position
from infra.read.payoff import ORIGINS, payoff_as_of, position_lines
from projections.requisitions import STEPS

SHOWN_MATCHES = 20

router = APIRouter(include_in_schema=False, dependencies=[ReadsMatches])


def _common(at: float, as_of: str | None) -> dict[str, Any]:
    return {
        "as_of": datetime.fromtimestamp(at, UTC),
        "as_of_text": as_of or "",
        "steps": STEPS,
        "origins": ORIGINS,
        "day": lambda seconds: datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d"),
    }


@router.get("/positions")
def positions_page(state: State, request: Request, as_of: AsOf = None) -> HTMLResponse:
    """The pool's payoff and every position opened by then, open ones first."""
    at = moment(as_of)
    with state.analysis() as (reader, position):
        report = state.cached(
            ("payoff page", at, not as_of),
            lambda: payoff_as_of(reader, state.ledger.ledger_recorder, as_of=at, now=not as_of),
            position=position,
        )
        lines = state.cached(
            ("positions page", at), lambda: position_lines(reader, at), position=position
        )
    return templates.TemplateResponse(
        request,
        "positions.html",
        _common(at, as_of) | {"report": report, "positions": lines, "now": at},
    )


@router.get("/positions/{position}")
def position_page(
    state: State, request: Request, position: Requisition, as_of: AsOf = None
) -> HTMLResponse:
    """One position: its funnel, and who in the pool fits it, each score explained."""
    at = moment(as_of)
    with state.analysis() as (reader, _):
        line = next((p for p in position_lines(reader, at) if p.requisition == position), None)
        try:
            found = match_position(
                reader, state.ledger.ledger_recorder, position, now=at,
                as_of=at if as_of else None, weights=state.match_weights,
                policy=state.settings.policy, limit=SHOWN_MATCHES,
            )  # fmt: skip
        except NoSuchPosition as unknown:
            raise HTTPException(404, str(unknown)) from None
    return templates.TemplateResponse(
        request,
        "position.html",
        _common(at, as_of) | {"line": line, "found": found, "asks": found.as_record()["asks"]},
    )
