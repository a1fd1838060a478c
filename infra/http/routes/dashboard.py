"""The ops dashboard: server-rendered pages (Jinja2) with SVG charts drawn by pygal.

Everything a page needs is in the page or under ``/static``: the charts are inline SVG (pygal's
tooltip script, which it would fetch from the internet, is switched off), so the dashboard works
on a machine with no way out. The pages read the same functions and cache as the JSON API.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import pygal
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pygal.style import Style

from infra.http.deps import AsOf, Candidate, ReadsJourneys, State, moment
from infra.http.guard import TOKEN_COOKIE
from infra.read.journeys import NoSuchCandidate, journey
from infra.read.metrics import Segment, funnel
from infra.read.reader import Reader
from projections.rates import Rate

STATIC = Path(__file__).parents[1] / "static"
templates = Jinja2Templates(directory=Path(__file__).parents[1] / "templates")
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


def _top(rates: list[Rate]) -> float:
    """The y axis' top: above every interval's upper end, so no whisker reaches the title."""
    highs = [rate.interval[1] * 100 for rate in rates if rate.n]
    return min(100.0, max(highs, default=10.0) * 1.15 + 2)


def segments_chart(segments: Sequence[Segment], by: Sequence[str]) -> str:
    """Engaged share per segment with its 95% interval; two dimensions: one series per value
    of the first (status x personalization reads as before)."""
    chart = _chart(
        pygal.Bar,
        "Engagement within 30 days of delivered, settled outreach (95% interval)",
        value_formatter=_percent,
        y_title="engaged, %",
        range=(0, _top([s.engagement for s in segments])),
        x_label_rotation=30 if len(segments) > 8 else 0,
    )
    if len(by) == 2:
        first, second = by
        labels = list(dict.fromkeys(str(s.values[second]) for s in segments))
        series: dict[str, dict[str, Rate]] = defaultdict(dict)
        for s in segments:
            series[str(s.values[first])][str(s.values[second])] = s.engagement
        chart.x_labels = labels
        for name in sorted(series):
            rates = series[name]
            chart.add(name, [_rate_value(rates[x]) if x in rates else None for x in labels])
    else:
        shown = [s for s in segments if s.outreach][:40]
        chart.x_labels = [str(s.values[by[0]] or "-") for s in shown]
        chart.add("engaged", [_rate_value(s.engagement) for s in shown])
    return chart.render(is_unicode=True)  # type: ignore[no-any-return]


def trend_chart(months: Sequence[Segment]) -> str:
    """Settled engagement per month sent, with intervals: a month still open is marked."""
    counted = [s for s in months if s.outreach]
    chart = _chart(
        pygal.Line,
        "Engagement by month sent (settled outreach; * = the month still has pending outreach)",
        value_formatter=_percent,
        x_label_rotation=40,
        y_title="engaged, %",
        range=(0, _top([s.engagement for s in counted])),
    )
    chart.x_labels = [f"{s.values['cohort_month']}{'*' if s.pending else ''}" for s in counted]
    chart.add("engaged", [_rate_value(s.engagement) for s in counted])
    return chart.render(is_unicode=True)  # type: ignore[no-any-return]


def funnel_chart(reader: Reader, at: float) -> str:
    stages = funnel(reader, at)
    chart = _chart(
        pygal.HorizontalBar, "Funnel: candidates per stage", print_values=True, height=320
    )
    # A horizontal bar chart draws its first label at the bottom: the funnel reads top down.
    chart.x_labels = [s.stage for s in reversed(stages)]
    chart.add("candidates", [s.candidates for s in reversed(stages)])
    return chart.render(is_unicode=True)  # type: ignore[no-any-return]


router = APIRouter(include_in_schema=False)


def _wants_page(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/metrics", "/static/", "/openapi"))


async def to_login(request: Request, problem: HTTPException) -> Response:
    """A browser without a token is sent to the login page, and any other refusal of a page is
    a page saying what was wrong; API clients get the JSON answer."""
    if not _wants_page(request):
        return await http_exception_handler(request, problem)
    if problem.status_code == 401:
        return RedirectResponse("/login", status_code=303)
    return error_page(request, problem.status_code, _said(problem.detail))


async def invalid_page(request: Request, problem: RequestValidationError) -> Response:
    """A page asked with a bad parameter (a date that is not one) says so, as a page."""
    if not _wants_page(request):
        return await request_validation_exception_handler(request, problem)
    return error_page(request, 422, _said(problem.errors()))


def _said(detail: Any) -> str:
    """A refusal's detail in words: ``as_of: 'yesterday' is not a date ...``."""
    if isinstance(detail, list):
        parts = []
        for error in detail:
            where = error.get("loc", ())[-1] if error.get("loc") else "request"
            parts.append(f"{where}: {str(error.get('msg', '')).removeprefix('Value error, ')}")
        return "; ".join(parts)
    return str(detail)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    titles = {404: "Not found", 403: "Not allowed", 422: "That did not read right"}
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "title": titles.get(status, "Something went wrong"), "message": message},
        status_code=status,
    )


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
