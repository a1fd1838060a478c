"""Engagement metrics, the funnel and the candidate experience, read from the views.

Why here and not in ``projections/``: these are queries over the engagement projection's tables
(``projections/engagement.py``) that apply the attribution window and the "as of" instant at
query time, so one set of views answers any window and any date. Counting is SQL ``GROUP BY``
(the same statements on SQLite and PostgreSQL); percentiles and medians are Python.

"As of D" counts only facts that occurred at or before D: outreach sent after D is left out, and
a response or engagement after D does not count (the views keep the *earliest* qualifying moment
after each outreach, so comparing that one moment with D and with the window is exact).
"""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from infra.cli_options import AsOfOption, DbOption, GroupOption, UrlOption, checked_group
from infra.read_side import current_views, parse_as_of
from infra.views import ViewStore
from projections.journey import STAGES
from projections.rates import Rate, percentile

DAY = 86_400.0
HOUR = 3_600.0

DIMENSIONS: dict[str, str] = {
    "status": "o.status",
    "personalization": "o.personalization",
    "channel": "o.channel",
    "recruiter": "o.recruiter",
    "role": "o.role",
    "therapeutic_area": "a.area",
    "campaign": "o.campaign",
    "cohort_week": "o.cohort_week",
    "cohort_month": "o.cohort_month",
}
"""The dimensions a report can be broken down by, and the column each one groups on."""

FORMATS = ("table", "json", "csv")


@dataclass(frozen=True, slots=True)
class Segment:
    """One row of an engagement report: a combination of dimension values and its rates."""

    values: dict[str, str | None]
    outreach: int
    response: Rate
    engagement: Rate
    response_hours_median: float | None
    response_hours_p90: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.values,
            "outreach": self.outreach,
            "response": self.response.as_dict(),
            "engagement": self.engagement.as_dict(),
            "response_hours_median": self.response_hours_median,
            "response_hours_p90": self.response_hours_p90,
        }


@dataclass(frozen=True, slots=True)
class FunnelStage:
    stage: str
    candidates: int
    """Candidates who reached this stage (by ``as_of``)."""
    conversion: Rate | None
    """Of the candidates who reached the previous stage, the share who reached this one too."""
    median_days: float | None
    """Median days from entering this stage to entering the next stage the candidate reached."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "candidates": self.candidates,
            "conversion": self.conversion.as_dict() if self.conversion else None,
            "median_days": self.median_days,
        }


@dataclass(frozen=True, slots=True)
class CandidateExperience:
    sla_hours: float
    applications: int
    """Applications whose SLA had elapsed by ``as_of`` (applied at least ``sla_hours`` before)."""
    personal_within_sla: Rate
    """Of those, the share that got a personal touch within the SLA."""
    automated_only: int
    """Of those, how many got an automated acknowledgement and no personal touch within it."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "sla_hours": self.sla_hours,
            "applications": self.applications,
            "personal_within_sla": self.personal_within_sla.as_dict(),
            "automated_only": self.automated_only,
        }


def _check_dimensions(by: Sequence[str]) -> None:
    unknown = [name for name in by if name not in DIMENSIONS]
    if unknown:
        raise ValueError(
            f"unknown dimension(s) {', '.join(unknown)}; choose from {', '.join(DIMENSIONS)}"
        )


def engagement_report(
    store: ViewStore, by: Sequence[str], as_of: float | None = None, window_days: float = 30
) -> list[Segment]:
    """Outreach count, response and engagement rates and time to first response, per segment.

    Every outreach is credited independently: its response (engagement) counts when its first
    reply (engaging event) came within ``window_days`` after it, and by ``as_of``.
    """
    _check_dimensions(by)
    if window_days <= 0:
        raise ValueError("the attribution window must be positive")
    window = window_days * DAY
    columns = [DIMENSIONS[name] for name in by]
    join = (
        " LEFT JOIN view_candidate_areas a ON a.candidate_id = o.candidate_id"
        if "therapeutic_area" in by
        else ""
    )
    responded = "o.first_response_at IS NOT NULL AND o.first_response_at <= o.sent_at + ?"
    engaged = "o.first_engagement_at IS NOT NULL AND o.first_engagement_at <= o.sent_at + ?"
    select_params: list[Any] = [window, window]
    where, where_params = "", []
    if as_of is not None:
        responded += " AND o.first_response_at <= ?"
        engaged += " AND o.first_engagement_at <= ?"
        select_params = [window, as_of, window, as_of]
        where, where_params = " WHERE o.sent_at <= ?", [as_of]
    group = f" GROUP BY {', '.join(columns)}" if columns else ""
    head = "".join(f"{c}, " for c in columns)
    counts = store.query(
        f"SELECT {head}COUNT(*), SUM(CASE WHEN {responded} THEN 1 ELSE 0 END),"
        f" SUM(CASE WHEN {engaged} THEN 1 ELSE 0 END)"
        f" FROM view_outreach o{join}{where}{group}",
        [*select_params, *where_params],
    )
    delays: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    response_params = [window, as_of] if as_of is not None else [window]
    for row in store.query(
        f"SELECT {head}o.first_response_at - o.sent_at FROM view_outreach o{join}"
        f"{where or ' WHERE 1 = 1'} AND {responded}",
        [*where_params, *response_params],
    ):
        delays[tuple(row[:-1])].append(float(row[-1]) / HOUR)
    segments = []
    for row in counts:
        key, (n, responses, engagements) = tuple(row[: len(by)]), row[len(by) :]
        if not n:
            continue
        hours = delays.get(key, [])
        segments.append(
            Segment(
                values=dict(zip(by, key, strict=True)),
                outreach=int(n),
                response=Rate(int(responses or 0), int(n)),
                engagement=Rate(int(engagements or 0), int(n)),
                response_hours_median=percentile(hours, 50),
                response_hours_p90=percentile(hours, 90),
            )
        )
    # NULLs sort differently on SQLite and PostgreSQL: order here, the same on both.
    segments.sort(key=lambda s: tuple((v is not None, v or "") for v in s.values.values()))
    return segments


def funnel(store: ViewStore, as_of: float | None = None) -> list[FunnelStage]:
    """Candidates per stage, conversion from the previous stage, and median days in each stage.

    Days in a stage run from entering it to entering the next stage the candidate reached (by
    ``as_of``); a candidate who reached that later stage first (an active candidate who applied
    before anyone contacted them) is left out of that median rather than counted as negative.
    """
    where, params = ("", []) if as_of is None else (" WHERE entered_at <= ?", [as_of])
    entered: dict[str, dict[str, float]] = defaultdict(dict)
    for cid, stage, at in store.query(
        f"SELECT candidate_id, stage, entered_at FROM view_stage_entries{where}", params
    ):
        entered[cid][stage] = float(at)
    reached = {stage: 0 for stage in STAGES}
    converted = {stage: 0 for stage in STAGES}
    durations: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for stages in entered.values():
        ordered = [(stage, stages[stage]) for stage in STAGES if stage in stages]
        for index, (stage, at) in enumerate(ordered):
            reached[stage] += 1
            if index + 1 < len(ordered) and ordered[index + 1][1] >= at:
                durations[stage].append((ordered[index + 1][1] - at) / DAY)
        for previous, stage in pairwise(STAGES):
            if previous in stages and stage in stages:
                converted[stage] += 1
    return [
        FunnelStage(
            stage=stage,
            candidates=reached[stage],
            conversion=Rate(converted[stage], reached[STAGES[i - 1]]) if i else None,
            median_days=percentile(durations[stage], 50),
        )
        for i, stage in enumerate(STAGES)
    ]


def candidate_experience(
    store: ViewStore, as_of: float | None = None, sla_hours: float = 48
) -> CandidateExperience:
    """Did applicants hear from a person within the SLA, or only from an automation?

    Counts applications (a candidate applying to two positions has two experiences) whose SLA
    had elapsed by ``as_of``; with ``as_of`` None, every application counts (pass the clock's
    "now" for a live reading, so that applications of the last hours are not judged too early).
    """
    sla = sla_hours * HOUR
    where, params = ("", []) if as_of is None else (" WHERE applied_at + ? <= ?", [sla, as_of])
    touched = "first_personal_touch_at IS NOT NULL AND first_personal_touch_at <= applied_at + ?"
    ((n, personal, automated_only),) = store.query(
        f"SELECT COUNT(*), SUM(CASE WHEN {touched} THEN 1 ELSE 0 END),"
        f" SUM(CASE WHEN NOT ({touched}) AND automated_ack_at IS NOT NULL"
        " AND automated_ack_at <= applied_at + ? THEN 1 ELSE 0 END)"
        f" FROM view_applications{where}",
        [sla, sla, sla, *params],
    )
    return CandidateExperience(
        sla_hours=sla_hours,
        applications=int(n),
        personal_within_sla=Rate(int(personal or 0), int(n)),
        automated_only=int(automated_only or 0),
    )


# --- the command line (wired into infra/cli.py as `rapport metrics`) ---------------------------


def parse_dimensions(text: str) -> list[str]:
    """``status,personalization`` as a list of known dimensions (each once, in order)."""
    by = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    _check_dimensions(by)
    return by


def metrics_command(
    by: Annotated[
        str,
        typer.Option("--by", help=f"Comma-separated breakdown: {', '.join(DIMENSIONS)}."),
    ] = "status,personalization",
    as_of: AsOfOption = None,
    window: Annotated[float, typer.Option("--window", help="Attribution window in days.")] = 30.0,
    sla_hours: Annotated[
        float, typer.Option("--sla-hours", help="Hours an applicant may wait for a person.")
    ] = 48.0,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    group: GroupOption = None,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Response and engagement rates (95% Wilson interval, 1 in N), the funnel, the SLA."""
    from infra.cli import EXIT_INVALID, _settings, err

    def invalid(option: str, message: str) -> typer.Exit:
        err.print(f"{option}: {message}", markup=False, highlight=False)
        return typer.Exit(EXIT_INVALID)

    try:
        dimensions = parse_dimensions(by)
    except ValueError as bad:
        raise invalid("--by", str(bad)) from None
    try:
        # No --as-of: now, read at the edge (the functions below never look at a clock).
        moment = time.time() if as_of is None else parse_as_of(as_of)
    except ValueError as bad:
        raise invalid("--as-of", str(bad)) from None
    if not window > 0:
        raise invalid("--window", "the attribution window must be a positive number of days")
    if not sla_hours > 0:
        raise invalid("--sla-hours", "must be a positive number of hours")
    if fmt not in FORMATS:
        raise invalid("--format", f"expected table, json or csv, got {fmt!r}")
    settings = _settings(db, database_url)
    group = checked_group(group, settings)

    with current_views(settings, group) as store:
        segments = engagement_report(store, dimensions, moment, window)
        stages = funnel(store, moment)
        experience = candidate_experience(store, moment, sla_hours)
    if fmt == "json":
        document = {
            "as_of": datetime.fromtimestamp(moment, UTC).isoformat(),
            "window_days": window,
            "by": dimensions,
            "segments": [s.as_dict() for s in segments],
            "funnel": [s.as_dict() for s in stages],
            "candidate_experience": experience.as_dict(),
        }
        typer.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    elif fmt == "csv":
        typer.echo(segments_csv(dimensions, segments), nl=False)
    else:
        from infra.cli import out

        print_tables(out, dimensions, segments, stages, experience, moment, window)


def segments_csv(by: Sequence[str], segments: Sequence[Segment]) -> str:
    """The segments as CSV, one flat row each (rates as fractions)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [*by, "outreach", "responses", "response_rate", "response_low", "response_high",
         "engagements", "engagement_rate", "engagement_low", "engagement_high",
         "engagement_one_in", "response_hours_median", "response_hours_p90"]
    )  # fmt: skip
    for s in segments:
        writer.writerow(
            [*(s.values[name] or "" for name in by), s.outreach,
             s.response.successes, _f(s.response.value), *map(_f, s.response.interval),
             s.engagement.successes, _f(s.engagement.value), *map(_f, s.engagement.interval),
             s.engagement.one_in, _f(s.response_hours_median), _f(s.response_hours_p90)]
        )  # fmt: skip
    return buffer.getvalue()


def _f(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_tables(
    console: Console,
    by: Sequence[str],
    segments: Sequence[Segment],
    stages: Sequence[FunnelStage],
    experience: CandidateExperience,
    as_of: float,
    window_days: float,
) -> None:
    when = datetime.fromtimestamp(as_of, UTC).strftime("%Y-%m-%d %H:%M UTC")
    report = Table(
        *by, "outreach", "response", "engagement", "1st response h (median / p90)",
        title=f"Engagement as of {when}, {window_days:g}-day window",
    )  # fmt: skip
    for s in segments:
        report.add_row(
            *(s.values[name] or "-" for name in by),
            f"{s.outreach:,}",
            str(s.response),
            str(s.engagement),
            f"{_hours(s.response_hours_median)} / {_hours(s.response_hours_p90)}",
        )
    path = Table(
        "stage", "candidates", "from previous stage", "median days in stage", title="Funnel"
    )
    for stage in stages:
        path.add_row(
            stage.stage,
            f"{stage.candidates:,}",
            str(stage.conversion) if stage.conversion else "",
            "-" if stage.median_days is None else f"{stage.median_days:.1f}",
        )
    sla = Table(
        "applications past the SLA", "personal touch within it", "automated acknowledgement only",
        title=f"Candidate experience ({experience.sla_hours:g}-hour SLA)",
    )  # fmt: skip
    sla.add_row(
        f"{experience.applications:,}",
        str(experience.personal_within_sla),
        f"{experience.automated_only:,}",
    )
    console.print(report, path, sla)
