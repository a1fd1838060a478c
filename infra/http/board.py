"""The dashboard's tables, each once: what a page shows, and what its CSV download holds.

Why one place: a recruiting-ops lead downloads the table they are looking at, so the page and
the CSV must be the same rows. Each table is built from the read side's queries (the same as
the API's) into columns, raw values (for CSV: fractions, ISO instants) and the text a page shows
(percentages, intervals, "1 in N"), with a link per row where a row leads somewhere.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from infra.read.alerts import Alert, rule_label
from infra.read.metrics import (
    Segment,
    SegmentCandidate,
    Selection,
    engagement_report,
    funnel,
)
from infra.read.reader import Reader
from infra.read.reasons import reply_reasons
from projections.rates import Rate

BREAKDOWNS: dict[str, tuple[str, ...]] = {
    "status,personalization": ("status", "personalization"),
    "personalization": ("personalization",),
    "recruiter": ("recruiter",),
    "channel": ("channel",),
    "campaign": ("campaign",),
    "role": ("role",),
    "therapeutic_area": ("therapeutic_area",),
    "source": ("source",),
    "audience": ("audience",),
}
"""The breakdowns the dashboard offers (any dimension, and personalization x status)."""


@dataclass(frozen=True, slots=True)
class BoardTable:
    """A table as a page shows it and as its CSV holds it."""

    name: str
    columns: list[str]
    """The CSV's header: raw values, one column each."""
    headers: list[str]
    """The page's header: what it shows (an interval in one column, say)."""
    raw: list[list[Any]] = field(default_factory=list)
    shown: list[list[str]] = field(default_factory=list)
    links: list[str | None] = field(default_factory=list)
    """Per row, where its first cell leads (a drill-down, a journey, a recruiter's page)."""

    def add(self, raw: list[Any], shown: list[str], link: str | None = None) -> None:
        self.raw.append(raw)
        self.shown.append(shown)
        self.links.append(link)

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows([_csv_value(v) for v in row] for row in self.raw)
        return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def percent(rate: Rate) -> str:
    return f"{rate.value * 100:.1f}%" if rate.n else "-"


def interval(rate: Rate) -> str:
    if not rate.n:
        return "-"
    low, high = rate.interval
    return f"{low * 100:.1f}\u2013{high * 100:.1f}%"


def iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")


def segments_table(
    segments: Sequence[Segment], by: Sequence[str], drill: Callable[[Segment], str]
) -> BoardTable:
    table = BoardTable(
        "segments",
        [*by, "sent", "bounced", "bounce_rate", "pending", "outreach", "engaged", "engaged_low",
         "engaged_high", "one_in", "responded", "response_hours_median"],
        [*by, "sent", "bounced", "pending", "counted", "engaged", "95% interval", "reading",
         "responded", "first response (median)"],
    )  # fmt: skip
    for s in segments:
        low, high = s.engagement.interval
        table.add(
            [*(s.values[name] for name in by), s.sent, s.bounced, s.bounce.value, s.pending,
             s.outreach, s.engagement.value if s.outreach else None,
             low if s.outreach else None, high if s.outreach else None, s.engagement.one_in,
             s.response.value if s.outreach else None, s.response_hours_median],
            [*(str(s.values[name] or "-") for name in by), f"{s.sent:,}",
             f"{s.bounced:,} ({s.bounce.value:.1%})" if s.bounced else "0", f"{s.pending:,}",
             f"{s.outreach:,}", percent(s.engagement),
             interval(s.engagement), s.engagement.one_in or "", percent(s.response),
             "-" if s.response_hours_median is None else f"{s.response_hours_median:.0f} h"],
            drill(s),
        )  # fmt: skip
    return table


def trend_table(segments: Sequence[Segment]) -> BoardTable:
    """Settled engagement per cohort month, with the month's open outreach marked."""
    table = BoardTable(
        "trend",
        ["cohort_month", "outreach", "pending", "engaged", "engaged_low", "engaged_high"],
        ["month sent", "counted", "pending", "engaged", "95% interval"],
    )
    for s in segments:
        low, high = s.engagement.interval
        month = str(s.values["cohort_month"])
        table.add(
            [month, s.outreach, s.pending, s.engagement.value if s.outreach else None,
             low if s.outreach else None, high if s.outreach else None],
            [month + (" (open)" if s.pending else ""), f"{s.outreach:,}", f"{s.pending:,}",
             percent(s.engagement), interval(s.engagement)],
        )  # fmt: skip
    return table


def funnel_table(reader: Reader, at: float) -> BoardTable:
    table = BoardTable(
        "funnel", ["stage", "candidates", "conversion", "conversion_low", "conversion_high",
                   "median_days"],
        ["stage", "candidates", "from the previous stage", "median days in stage"],
    )  # fmt: skip
    for stage in funnel(reader, at):
        conversion = stage.conversion
        low, high = conversion.interval if conversion else (None, None)
        table.add(
            [stage.stage, stage.candidates, conversion.value if conversion else None, low, high,
             stage.median_days],
            [stage.stage, f"{stage.candidates:,}", str(conversion) if conversion else "-",
             "-" if stage.median_days is None else f"{stage.median_days:.1f}"],
        )  # fmt: skip
    return table


def reasons_table(reader: Reader, at: float) -> BoardTable:
    table = BoardTable(
        "reasons",
        ["reply", "reason", "replies", "share", "share_low", "share_high"],
        ["reply", "reason", "replies", "share of those replies", "95% interval"],
    )
    for r in reply_reasons(reader, at):
        low, high = r.share.interval
        table.add(
            [r.sentiment, r.reason, r.share.successes, r.share.value, low, high],
            [r.sentiment.replace("_", " "), r.reason.replace("_", " "),
             f"{r.share.successes:,}", percent(r.share), interval(r.share)],
        )  # fmt: skip
    return table


def alerts_table(alerts: Sequence[Alert]) -> BoardTable:
    table = BoardTable(
        "alerts",
        ["candidate", "rule", "what", "due_at", "overdue_days", "recruiter", "why"],
        ["candidate", "what is due", "due", "overdue, days", "recruiter", "why"],
    )
    for alert in alerts:
        days = alert.overdue.total_seconds() / 86_400
        table.add(
            [alert.candidate, alert.rule, rule_label(alert.rule), alert.due_at.isoformat(),
             round(days, 2), alert.recruiter, alert.reason],
            [alert.candidate or alert.candidate_id, rule_label(alert.rule),
             alert.due_at.strftime("%Y-%m-%d"), f"{days:.1f}", alert.recruiter or "-",
             alert.reason],
            f"/journeys/{alert.candidate}" if alert.candidate else None,
        )  # fmt: skip
    return table


def candidates_table(found: Sequence[SegmentCandidate]) -> BoardTable:
    table = BoardTable(
        "candidates",
        ["candidate", "outreach", "engaged", "last_sent_at"],
        ["candidate", "outreach counted", "engaged", "last sent"],
    )
    for c in found:
        table.add(
            [c.candidate, c.outreach, c.engaged, iso(c.last_sent_at)],
            [c.candidate or "-", f"{c.outreach:,}", f"{c.engaged:,}", day(c.last_sent_at)],
            f"/journeys/{c.candidate}" if c.candidate else None,
        )
    return table


def board_segments(
    reader: Reader, by: Sequence[str], at: float, selection: Selection
) -> list[Segment]:
    return engagement_report(reader, by, at, 30, selection)


def query_string(**params: Any) -> str:
    """Query parameters without the empty ones, for the links a page carries."""
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})
