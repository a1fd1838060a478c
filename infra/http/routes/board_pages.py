"""The dashboard's main pages: the engagement board, its drill-down, a recruiter's page, and a
CSV download of every table they show.

What a recruiting-ops lead asks every morning: how did each recruiter, channel, campaign, role,
area, source or personalization do (choose the breakdown), over which outreach (a period of
sending, settled or all), is it moving (by month, with intervals and counts), is a difference
real (the comparison's sentence), who is behind a number (the drill-down: references only), and
what is overdue (alerts, most urgent first, a page at a time). Every table downloads as CSV with
the same parameters, so what is shown is what is sent on to a client.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from infra.http.board import (
    BREAKDOWNS,
    BoardTable,
    alerts_table,
    board_segments,
    candidates_table,
    funnel_table,
    query_string,
    reasons_table,
    segments_table,
    trend_table,
)
from infra.http.deps import (
    AsOf,
    KnownAt,
    ReadsMetrics,
    Selected,
    State,
    instants,
    invalid,
    moment,
)
from infra.http.routes.dashboard import funnel_chart, segments_chart, templates, trend_chart
from infra.read.alerts import count_open_alerts, open_alerts, rule_label
from infra.read.comparison import Comparison, UnknownValue, compare
from infra.read.known_at import CannotTell, views_known_at
from infra.read.metrics import (
    SETTLED,
    Segment,
    Selection,
    candidate_experience,
    engagement_report,
    segment_candidates,
)
from infra.read.reader import Reader

router = APIRouter(include_in_schema=False, dependencies=[ReadsMetrics])

ALERTS_PER_PAGE = 25
CANDIDATES_PER_PAGE = 50
TABLES = ("segments", "trend", "funnel", "reasons", "alerts", "candidates")

Breakdown = Annotated[str, Query(description="The breakdown: " + ", ".join(BREAKDOWNS))]


def _by(by: str) -> tuple[str, ...]:
    if by not in BREAKDOWNS:
        raise invalid("by", f"unknown breakdown {by!r}; choose from {', '.join(BREAKDOWNS)}")
    return BREAKDOWNS[by]


def _params(as_of: str | None, by: str, selection: Selection, **more: Any) -> dict[str, Any]:
    """The page's parameters, for the links and downloads it carries."""
    where = ",".join(f"{k}={v or '-'}" for k, v in selection.where.items())
    return {
        "as_of": as_of,
        "by": by,
        "basis": "" if selection.basis == SETTLED else selection.basis,
        "where": where,
        "sent_from": _day(selection.sent_from),
        "sent_until": _day(selection.sent_until),
        **more,
    }


def _day(seconds: float | None) -> str | None:
    """A period's end as the form shows it: a day when it is a day's start or end (as a form
    asks it), the instant otherwise."""
    if seconds is None:
        return None
    when = datetime.fromtimestamp(seconds, UTC)
    if when.time() in (time.min, time.max):
        return when.strftime("%Y-%m-%d")
    return when.isoformat()


def _drill(by: tuple[str, ...], params: dict[str, Any]) -> Callable[[Segment], str]:
    """Where a segment's row leads: its candidates (the page's own filter and the segment's
    values), or, by recruiter, the recruiter's page."""
    already = [part.split("=", 1) for part in params["where"].split(",") if "=" in part]

    def link(segment: Segment) -> str:
        if by == ("recruiter",) and segment.values["recruiter"]:
            return f"/recruiters/{segment.values['recruiter']}?" + query_string(
                as_of=params.get("as_of")
            )
        extra = dict(already)
        for name in by:
            extra[name] = segment.values[name] or "-"
        where = ",".join(f"{k}={v}" for k, v in extra.items())
        return "/segments?" + query_string(**{**params, "where": where})

    return link


def _headline(reader: Reader, at: float, selection: Selection) -> Comparison | None:
    """The source document's question, answered with its interval: personalized outreach to
    passive candidates against generic blasts."""
    try:
        found = compare(
            reader, "personalization", "personalized", "generic_blast", as_of=at,
            selection=Selection(selection.basis, {**selection.where, "status": "passive"},
                                selection.sent_from, selection.sent_until),
        )  # fmt: skip
    except UnknownValue:
        return None
    return found[0] if found else None


def _compared(
    reader: Reader, by: tuple[str, ...], a: str | None, b: str | None, at: float,
    selection: Selection,
) -> list[Comparison]:  # fmt: skip
    if len(by) != 1 or not a:
        return []
    try:
        return compare(reader, by[0], a, b or None, as_of=at, selection=selection)
    except UnknownValue as unknown:
        raise HTTPException(404, str(unknown)) from None


@router.get("/")
def board(
    state: State,
    request: Request,
    selection: Selected,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    by: Breakdown = "status,personalization",
    a: Annotated[str | None, Query()] = None,
    b: Annotated[str | None, Query()] = None,
    rule: Annotated[str | None, Query()] = None,
    recruiter: Annotated[str | None, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> HTMLResponse:
    """The engagement board (as it was known at ``known_at``, when given)."""
    dims = _by(by)
    at, known = instants(as_of, known_at)
    rule = rule or None
    recruiter = recruiter or None
    if rule is not None and rule not in state.alert_rules.names:
        raise invalid("rule", f"unknown rule {rule!r}")
    params = _params(as_of, by, selection, known_at=known_at)

    def page_of(reader: Reader) -> dict[str, Any]:
        segments = board_segments(reader, dims, at, selection)
        months = engagement_report(reader, ["cohort_month"], at, 30, selection)
        return {
            "segments": segments_table(segments, dims, _drill(dims, params)),
            "segments_svg": segments_chart(segments, dims),
            "trend": trend_table(months),
            "trend_svg": trend_chart(months),
            "funnel": funnel_table(reader, at),
            "funnel_svg": funnel_chart(reader, at),
            "reasons": reasons_table(reader, at),
            "experience": candidate_experience(reader, at),
            "headline": _headline(reader, at, selection),
            "values": [
                str(s.values[dims[0]]) for s in segments if s.values[dims[0]] is not None
            ] if len(dims) == 1 else [],
        }  # fmt: skip

    def alerts_of(reader: Reader) -> tuple[Any, dict[str, int]]:
        return (
            open_alerts(
                reader, at, rule=rule, recruiter=recruiter, limit=ALERTS_PER_PAGE, offset=offset
            ),
            count_open_alerts(reader, at, rule=rule, recruiter=recruiter),
        )

    if known is None:
        with state.analysis() as (reader, position):
            page = state.cached(("board", at, by, selection.key), lambda: page_of(reader),
                                position=position)  # fmt: skip
            comparisons = _compared(reader, dims, a, b, at, selection)
            alerts, by_rule = state.cached(
                ("board alerts", at, rule, recruiter, offset), lambda: alerts_of(reader),
                position=position,
            )  # fmt: skip
    else:
        # What the board showed then: views rebuilt from the events recorded by then.
        def everything() -> tuple[Any, ...]:
            try:
                with views_known_at(state.settings, state.views(), known) as views:
                    return (page_of(views), _compared(views, dims, a, b, at, selection),
                            *alerts_of(views))  # fmt: skip
            except CannotTell as cannot:
                raise invalid("known_at", str(cannot)) from None

        page, comparisons, alerts, by_rule = state.cached(
            ("board known", known, at, by, selection.key, a, b, rule, recruiter, offset),
            everything,
        )
    count = sum(by_rule.values())
    alert_params = {**params, "rule": rule, "recruiter": recruiter}
    return templates.TemplateResponse(
        request,
        "dashboard.html",
        page
        | _common(at, as_of, by, selection, params)
        | {
            "comparisons": comparisons,
            "a": a or "",
            "b": b or "",
            "alerts": alerts_table(alerts),
            "alert_count": count,
            "alerts_by_rule": {rule_label(name): n for name, n in by_rule.items()},
            "rules": [(name, rule_label(name)) for name in state.alert_rules.names],
            "rule": rule or "",
            "recruiter": recruiter or "",
            "offset": offset,
            "previous_alerts": _page_link(alert_params, offset - ALERTS_PER_PAGE, count),
            "next_alerts": _page_link(alert_params, offset + ALERTS_PER_PAGE, count),
        },
    )


def _page_link(params: dict[str, Any], offset: int, count: int) -> str | None:
    if offset < 0 or offset >= count:
        return None
    return "/?" + query_string(**params, offset=offset) + "#alerts"


def _common(
    at: float, as_of: str | None, by: str, selection: Selection, params: dict[str, Any]
) -> dict[str, Any]:
    return {
        "as_of": datetime.fromtimestamp(at, UTC),
        "as_of_text": as_of or "",
        "known_at": params.get("known_at") or "",
        "by": by,
        "breakdowns": list(BREAKDOWNS),
        "basis": selection.basis,
        "where": params["where"] or "",
        "sent_from": params["sent_from"] or "",
        "sent_until": params["sent_until"] or "",
        "csv": lambda name, **more: f"/tables/{name}.csv?" + query_string(**params, **more),
        "query": lambda **more: query_string(**{**params, **more}),
    }


@router.get("/segments")
def segment_page(
    state: State,
    request: Request,
    selection: Selected,
    as_of: AsOf = None,
    by: Breakdown = "status,personalization",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> HTMLResponse:
    """A segment's candidates (CRM references only), most recently contacted first."""
    _by(by)
    at = moment(as_of)
    if not selection.where:
        raise invalid("where", "name the segment: DIMENSION=VALUE[,DIMENSION=VALUE]")
    with state.analysis() as (reader, _):
        total, found = segment_candidates(
            reader, {}, at, 30, selection, limit=CANDIDATES_PER_PAGE, offset=offset
        )
        (segment,) = engagement_report(reader, [], at, 30, selection) or [None]
    params = _params(as_of, by, selection)
    return templates.TemplateResponse(
        request,
        "segment.html",
        _common(at, as_of, by, selection, params)
        | {
            "segment": segment,
            "candidates": candidates_table(found),
            "total": total,
            "offset": offset,
            "previous": None
            if offset <= 0
            else "/segments?" + query_string(**params, offset=max(0, offset - CANDIDATES_PER_PAGE)),
            "next": None
            if offset + CANDIDATES_PER_PAGE >= total
            else "/segments?" + query_string(**params, offset=offset + CANDIDATES_PER_PAGE),
        },
    )


@router.get("/recruiters/{recruiter}")
def recruiter_page(
    state: State,
    request: Request,
    recruiter: str,
    as_of: AsOf = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> HTMLResponse:
    """One recruiter: the rates of the outreach they sent, their candidates' open alerts, and
    their workload."""
    at = moment(as_of)
    selection = Selection(where={"recruiter": recruiter})
    with state.analysis() as (reader, _):
        segments = engagement_report(reader, ["status", "personalization"], at, 30, selection)
        alerts = open_alerts(reader, at, recruiter=recruiter, limit=ALERTS_PER_PAGE,
                             offset=offset)  # fmt: skip
        by_rule = count_open_alerts(reader, at, recruiter=recruiter)
        workload = _workload(reader, recruiter, at)
    if not segments and not by_rule and not workload["candidates"]:
        raise HTTPException(404, f"no recruiter {recruiter!r}: no outreach, no candidates")
    params = _params(as_of, "status,personalization", selection)
    count = sum(by_rule.values())
    base = f"/recruiters/{recruiter}?" + query_string(as_of=as_of)
    return templates.TemplateResponse(
        request,
        "recruiter.html",
        _common(at, as_of, "status,personalization", selection, params)
        | {
            "recruiter": recruiter,
            "segments": segments_table(
                segments,
                ("status", "personalization"),
                _drill(("status", "personalization"), params),
            ),
            "segments_svg": segments_chart(segments, ("status", "personalization")),
            "alerts": alerts_table(alerts),
            "alert_count": count,
            "alerts_by_rule": {rule_label(name): n for name, n in by_rule.items()},
            "workload": workload,
            "previous_alerts": None
            if offset <= 0
            else f"{base}&offset={max(0, offset - ALERTS_PER_PAGE)}",
            "next_alerts": None
            if offset + ALERTS_PER_PAGE >= count
            else f"{base}&offset={offset + ALERTS_PER_PAGE}",
        },
    )


def _workload(reader: Reader, recruiter: str, at: float) -> dict[str, int]:
    """Candidates they own, and outreach they sent in the last 30 and 90 days."""
    ((owned,),) = reader.query(
        "SELECT COUNT(*) FROM view_journey_candidates WHERE recruiter = ? AND registered_at <= ?",
        [recruiter, at],
    )
    ((last_30, last_90),) = reader.query(
        "SELECT SUM(CASE WHEN sent_at > ? THEN 1 ELSE 0 END), COUNT(*) FROM view_outreach"
        " WHERE recruiter = ? AND sent_at <= ? AND sent_at > ?",
        [at - 30 * 86_400, recruiter, at, at - 90 * 86_400],
    )
    return {"candidates": int(owned), "outreach_30": int(last_30 or 0),
            "outreach_90": int(last_90 or 0)}  # fmt: skip


@router.get("/tables/{name}.csv")
def table_csv(
    state: State,
    selection: Selected,
    name: str,
    as_of: AsOf = None,
    by: Breakdown = "status,personalization",
    rule: Annotated[str | None, Query()] = None,
    recruiter: Annotated[str | None, Query()] = None,
) -> Response:
    """Any table of the board as CSV, for the same parameters (alerts and candidates: all of
    them, not a page)."""
    if name not in TABLES:
        raise HTTPException(404, f"no table {name!r} (tables: {', '.join(TABLES)})")
    dims = _by(by)
    at = moment(as_of)
    with state.analysis() as (reader, _):
        table = _table(reader, name, dims, at, selection, rule or None, recruiter or None)
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y%m%d")
    return Response(
        table.csv(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="rapport-{name}-{stamp}.csv"'},
    )


def _table(
    reader: Reader, name: str, dims: tuple[str, ...], at: float, selection: Selection,
    rule: str | None, recruiter: str | None,
) -> BoardTable:  # fmt: skip
    if name == "segments":
        return segments_table(board_segments(reader, dims, at, selection), dims, lambda _: "")
    if name == "trend":
        return trend_table(engagement_report(reader, ["cohort_month"], at, 30, selection))
    if name == "funnel":
        return funnel_table(reader, at)
    if name == "reasons":
        return reasons_table(reader, at)
    if name == "alerts":
        return alerts_table(open_alerts(reader, at, rule=rule, recruiter=recruiter))
    if not selection.where:
        raise invalid("where", "name the segment: DIMENSION=VALUE[,DIMENSION=VALUE]")
    _, found = segment_candidates(reader, {}, at, 30, selection, limit=1_000_000)
    return candidates_table(found)
