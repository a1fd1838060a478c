"""The ops dashboard: server-rendered pages (Jinja2) with SVG charts drawn by pygal.

Everything a page needs is in the page or under ``/static``: the charts are inline SVG (pygal's
tooltip script, which it would fetch from the internet, is switched off), so the dashboard works
on a machine with no way out. The pages read the same functions and cache as the JSON API.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import pygal
from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pygal.style import Style

from infra.http.deps import AsOf, Candidate, ReadsJourneys, ReadsMetrics, State, moment
from infra.http.guard import TOKEN_COOKIE
from infra.read.alerts import count_open_alerts, open_alerts
from infra.read.journeys import NoSuchCandidate, journey
from infra.read.metrics import candidate_experience, engagement_report, funnel
from infra.read.reader import Reader
from projections.rates import Rate

STATIC = Path(__file__).parents[1] / "static"
templates = Jinja2Templates(directory=Path(__file__).parents[1] / "templates")
PERSONALIZATIONS = ("personalized", "templated", "generic_blast")
SHOWN_ALERTS = 50
"""The dashboard lists the most overdue alerts; the filters reach the others."""
STYLE = Style(
    background="transparent",
    plot_background="#ffffff",
    foreground="#1f2933",
    foreground_strong="#1f2933",
    foreground_subtle="#7b8794",
    colors=("#2f6f9f", "#d9822b", "#3f9142", "#a23b72", "#6b7280"),
    font_family="system-ui, sans-serif",
)


def _chart(kind: type[pygal.graph.graph.Graph], title: str, **options: Any) -> Any:
    return kind(
        title=title,
        style=STYLE,
        js=[],  # pygal's tooltips script lives on a CDN: the dashboard fetches nothing
        disable_xml_declaration=True,
        width=options.pop("width", 720),
        height=options.pop("height", 360),
        legend_at_bottom=True,
        print_values=options.pop("print_values", False),
        **options,
    )


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _rate_value(rate: Rate) -> dict[str, Any]:
    low, high = rate.interval
    return {
        "value": round(rate.value * 100, 1),
        "ci": {"low": round(low * 100, 1), "high": round(high * 100, 1)},
        "label": f"{rate.one_in + ' ' if rate.one_in else ''}(n={rate.n:,})",
    }


def engagement_chart(reader: Reader, at: float) -> tuple[str, list[dict[str, Any]]]:
    segments = engagement_report(reader, ["status", "personalization"], at)
    by_status: dict[str, dict[str, Rate]] = defaultdict(dict)
    rows = []
    for segment in segments:
        status, kind = segment.values["status"], segment.values["personalization"]
        by_status[str(status)][str(kind)] = segment.engagement
        rows.append({"status": status, "personalization": kind, "rate": segment.engagement})
    chart = _chart(
        pygal.Bar,
        "Engagement within 30 days of an outreach (95% interval)",
        value_formatter=_percent,
        y_title="engaged, %",
    )
    chart.x_labels = list(PERSONALIZATIONS)
    for status in sorted(by_status):
        chart.add(
            status,
            [
                _rate_value(by_status[status][kind]) if kind in by_status[status] else None
                for kind in PERSONALIZATIONS
            ],
        )
    return chart.render(is_unicode=True), rows


def trend_chart(reader: Reader, at: float) -> str:
    segments = engagement_report(reader, ["cohort_week", "personalization"], at)
    weeks = sorted({str(s.values["cohort_week"]) for s in segments if s.values["cohort_week"]})
    rates = {(str(s.values["cohort_week"]), s.values["personalization"]): s for s in segments}
    chart = _chart(
        pygal.Line,
        "Engagement by cohort week of the outreach",
        value_formatter=_percent,
        x_label_rotation=40,
        show_minor_x_labels=False,
        y_title="engaged, %",
    )
    chart.x_labels = weeks
    chart.x_labels_major = weeks[:: max(1, len(weeks) // 12)]
    for kind in PERSONALIZATIONS:
        values = []
        for week in weeks:
            segment = rates.get((week, kind))
            values.append(round(segment.engagement.value * 100, 1) if segment else None)
        chart.add(kind, values, allow_interruptions=True)
    return chart.render(is_unicode=True)


def funnel_chart(reader: Reader, at: float) -> tuple[str, list[Any]]:
    stages = funnel(reader, at)
    chart = _chart(
        pygal.HorizontalBar, "Funnel: candidates per stage", print_values=True, height=320
    )
    # A horizontal bar chart draws its first label at the bottom: the funnel reads top down.
    chart.x_labels = [s.stage for s in reversed(stages)]
    chart.add("candidates", [s.candidates for s in reversed(stages)])
    return chart.render(is_unicode=True), stages


router = APIRouter(include_in_schema=False)


async def to_login(request: Request, problem: HTTPException) -> Response:
    """A browser without a token is sent to the login page; API clients get the 401."""
    wants_page = not request.url.path.startswith(("/api/", "/metrics", "/static/"))
    if problem.status_code == 401 and wants_page:
        return RedirectResponse("/login", status_code=303)
    return await http_exception_handler(request, problem)


@router.get("/login", include_in_schema=False)
def login_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {"failed": False})


@router.post("/login", include_in_schema=False)
def login(state: State, request: Request, token: Annotated[str, Form()]) -> Response:
    if state.token_of(token.strip()) is None:
        return templates.TemplateResponse(request, "login.html", {"failed": True}, status_code=401)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(TOKEN_COOKIE, token.strip(), httponly=True, samesite="strict")
    return response


@router.get("/logout", include_in_schema=False)
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(TOKEN_COOKIE)
    return response


@router.get("/", include_in_schema=False, dependencies=[ReadsMetrics])
def dashboard(
    state: State,
    request: Request,
    as_of: AsOf = None,
    rule: Annotated[str | None, Query()] = None,
    recruiter: Annotated[str | None, Query()] = None,
) -> HTMLResponse:
    at = moment(as_of)
    rule = rule or None
    recruiter = recruiter or None
    rules = state.alert_rules
    if rule is not None and rule not in rules.names:
        rule = None

    with state.analysis() as (reader, position):

        def charts() -> dict[str, Any]:
            engagement_svg, engagement_rows = engagement_chart(reader, at)
            funnel_svg, stages = funnel_chart(reader, at)
            return {
                "engagement_svg": engagement_svg,
                "engagement_rows": engagement_rows,
                "trend_svg": trend_chart(reader, at),
                "funnel_svg": funnel_svg,
                "stages": stages,
                "experience": candidate_experience(reader, at),
            }

        page = state.cached(("dashboard", at), charts, position=position)
        alerts, by_rule = state.cached(
            ("dashboard alerts", at, rule, recruiter),
            lambda: (
                open_alerts(reader, at, rule=rule, recruiter=recruiter, limit=SHOWN_ALERTS),
                count_open_alerts(reader, at, rule=rule, recruiter=recruiter),
            ),
            position=position,
        )
    return templates.TemplateResponse(
        request,
        "dashboard.html",
        page
        | {
            "as_of": datetime.fromtimestamp(at, UTC),
            "as_of_text": as_of or "",
            "alerts": alerts,
            "alert_count": sum(by_rule.values()),
            "alerts_by_rule": by_rule,
            "rules": rules.names,
            "rule": rule or "",
            "recruiter": recruiter or "",
        },
    )


@router.get(
    "/journeys/{candidate}",
    include_in_schema=False,
    dependencies=[ReadsJourneys],
)
def journey_page(
    state: State, request: Request, candidate: Candidate, as_of: AsOf = None
) -> HTMLResponse:
    at = moment(as_of)
    store = state.views()
    try:
        found = journey(store, candidate, at)
    except NoSuchCandidate as missing:
        raise HTTPException(404, str(missing)) from None
    return templates.TemplateResponse(
        request,
        "journey.html",
        {
            "journey": found,
            "next_due": found.next_due and found.next_due.text,
            "when": lambda seconds: datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M"),
        },
    )
