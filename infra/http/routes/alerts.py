"""Open stale-contact alerts, a page at a time (``rapport alerts`` as JSON)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from infra.http import answers
from infra.http.deps import (
    API,
    MAX_OFFSET,
    AsOf,
    KnownAt,
    ReadsAlerts,
    State,
    instants,
    invalid,
    iso,
    reported,
)
from infra.read.alerts import count_open_alerts, open_alerts
from infra.read.reader import Reader

router = APIRouter(prefix=API, tags=["alerts"], dependencies=[ReadsAlerts])


@router.get("/alerts", response_model=answers.Alerts, operation_id="alerts")
def alerts(
    state: State,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    rule: Annotated[str | None, Query(description="Only this rule.")] = None,
    recruiter: Annotated[str | None, Query(description="Only this recruiter's.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Alerts per page.")] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Alerts to skip.")] = 0,
) -> Response:
    """Open stale-contact alerts, most overdue first, a page at a time (``count`` is all)."""
    rules = state.alert_rules
    if rule is not None and rule not in rules.names:
        raise invalid("rule", f"unknown rule {rule!r} (known: {', '.join(rules.names)})")
    at, known = instants(as_of, known_at)

    def compute(store: Reader) -> dict[str, Any]:
        found = open_alerts(store, at, rule=rule, recruiter=recruiter, limit=limit, offset=offset)
        counts = count_open_alerts(store, at, rule=rule, recruiter=recruiter)
        return {
            "as_of": iso(at),
            "count": sum(counts.values()),
            "by_rule": counts,
            "limit": limit,
            "offset": offset,
            "alerts": [a.as_record() for a in found],
        }

    return reported(state, known, ("alerts", at, rule, recruiter, limit, offset), compute)
