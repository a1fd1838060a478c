"""The read commands: ``metrics``, ``alerts`` and ``journey``. Each checks its options, asks one
query of ``infra.read`` and renders the answer as a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from infra.cli.common import ExitCode, err, invalid, out, require_ledger, say, settings_for
from infra.cli.options import (
    DIMENSIONS,
    SETTLED,
    AsOfOption,
    BasisOption,
    DbOption,
    GroupOption,
    KnownAtOption,
    SentFromOption,
    SentUntilOption,
    UrlOption,
    WhereOption,
    answering,
    checked_as_of,
    checked_format,
    checked_group,
    checked_known_at,
    checked_selection,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from infra.read.metrics import CandidateExperience, Segment, Selection
    from infra.read.reasons import ReasonShare
    from projections.journey import FunnelStage

TABLE_JSON_CSV = ("table", "json", "csv")


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
    known_at: KnownAtOption = None,
    basis: BasisOption = SETTLED,
    where: WhereOption = None,
    sent_from: SentFromOption = None,
    sent_until: SentUntilOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    group: GroupOption = None,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Response and engagement rates (95% Wilson interval, 1 in N), the funnel, the SLA."""
    checked_format(fmt, TABLE_JSON_CSV)  # before importing the read side: a typo answers at once
    import orjson

    from infra.read.metrics import candidate_experience, engagement_report, funnel, parse_dimensions
    from infra.read.reasons import reply_reasons

    try:
        dimensions = parse_dimensions(by)
    except ValueError as bad:
        raise invalid("--by", str(bad)) from None
    # No --as-of: now (or the --known-at instant), read at the edge (the queries never look at
    # a clock).
    known = checked_known_at(known_at)
    moment = checked_as_of(as_of, default=time.time() if known is None else known)
    if not window > 0:
        raise invalid("--window", "the attribution window must be a positive number of days")
    if not sla_hours > 0:
        raise invalid("--sla-hours", "must be a positive number of hours")
    selection = checked_selection(basis, where, sent_from, sent_until)
    settings = settings_for(db, database_url)
    if group is None:
        require_ledger(settings)
    group = checked_group(group, settings)

    with answering(settings, group, known) as store:
        segments = engagement_report(store, dimensions, moment, window, selection)
        stages = funnel(store, moment)
        experience = candidate_experience(store, moment, sla_hours)
        reasons = reply_reasons(store, moment)
    if fmt == "json":
        document = {
            "as_of": datetime.fromtimestamp(moment, UTC).isoformat(),
            "known_at": known and datetime.fromtimestamp(known, UTC).isoformat(),
            "window_days": window,
            "by": dimensions,
            **selection.as_dict(),
            "pending": sum(s.pending for s in segments),
            "segments": [s.as_dict() for s in segments],
            "funnel": [s.as_dict() for s in stages],
            "candidate_experience": experience.as_dict(),
            "reasons": [r.as_dict() for r in reasons],
        }
        typer.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    elif fmt == "csv":
        typer.echo(segments_csv(dimensions, segments), nl=False)
    elif not segments and not any(s.candidates for s in stages) and not experience.applications:
        when = datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M UTC")
        by_then = f"by {when}" + ("" if known is None else " as known then")
        say(f"nothing to report: no candidate and no outreach recorded {by_then}")
    else:
        print_tables(
            out, dimensions, segments, stages, experience, moment, window, selection, known
        )
        out.print(reasons_table(reasons))


def alerts_command(
    as_of: AsOfOption = None,
    rule: Annotated[str | None, typer.Option("--rule", help="Only this rule.")] = None,
    recruiter: Annotated[
        str | None, typer.Option("--recruiter", help="Only this recruiter's candidates.")
    ] = None,
    known_at: KnownAtOption = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", min=1, help="Only the N most overdue (the table says how many more)."
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    group: GroupOption = None,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Open stale-contact alerts as of a date: who to contact, under which rule, since when."""
    checked_format(fmt, TABLE_JSON_CSV)
    import orjson
    from eventsourcing.persistence import PersistenceError
    from rich.table import Table

    from infra.core.alert_rules_file import load_rules
    from infra.read.alerts import count_open_alerts, duration_text, open_alerts
    from projections.alert_rules import AlertRulesError
    from projections.alerts import CANDIDATES

    settings = settings_for(db, database_url)
    if group is None:
        require_ledger(settings)
    try:
        rules = load_rules(settings.alert_rules)
    except AlertRulesError as bad:
        say(str(bad))
        raise typer.Exit(ExitCode.INVALID) from None
    if rule is not None and rule not in rules.names:
        raise invalid("--rule", f"unknown rule {rule!r} (known: {', '.join(rules.names)})")
    known = checked_known_at(known_at)
    moment = checked_as_of(as_of, default=datetime.now(UTC).timestamp() if known is None else known)
    group = checked_group(group, settings)
    try:
        with answering(settings, group, known) as store:
            alerts = open_alerts(store, moment, rule=rule, recruiter=recruiter, limit=limit)
            total = len(alerts)
            if limit is not None and total == limit:
                total = sum(count_open_alerts(store, moment, rule, recruiter).values())
            # No alert for a recruiter: say whether the views know them at all.
            unknown_recruiter = (
                not alerts
                and recruiter is not None
                and not store.query(
                    f"SELECT 1 FROM {CANDIDATES} WHERE recruiter = ? LIMIT 1", (recruiter,)
                )
            )
    except PersistenceError as down:
        say(f"cannot open the ledger at {settings.store_description}: {down}")
        raise typer.Exit(ExitCode.STORE) from None
    records = [alert.as_record() for alert in alerts]
    if fmt == "json":
        sys.stdout.write(orjson.dumps(records, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=ALERT_CSV_FIELDS)
        writer.writeheader()
        writer.writerows(records)
    elif not alerts:
        when = datetime.fromtimestamp(moment, UTC)
        pairs = (("rule", rule), ("recruiter", recruiter))
        only = ", ".join(f"{name} {value}" for name, value in pairs if value)
        said = f" ({only})" if only else ""
        if unknown_recruiter:
            say(f"--recruiter: no candidate is owned by {recruiter!r}, so no open alert either")
        else:
            say(f"no open alert{said} as of {when:%Y-%m-%d %H:%M} UTC")
    else:
        when = datetime.fromtimestamp(moment, UTC)
        shown = f"the {len(alerts)} most overdue of " if total > len(alerts) else ""
        title = f"{shown}{total} open alert(s) as of {when:%Y-%m-%d %H:%M} UTC"
        table = Table("candidate", "rule", "due", "overdue", "recruiter", "reason", title=title)
        for alert in alerts:
            table.add_row(
                alert.candidate or alert.candidate_id,
                alert.rule,
                f"{alert.due_at:%Y-%m-%d %H:%M}",
                duration_text(alert.overdue.total_seconds()),
                alert.recruiter or "-",
                alert.reason,
            )
        out.print(table)
        if total > len(alerts):
            out.print(f"{total - len(alerts):,} more left out (--limit {limit})")


ALERT_CSV_FIELDS = [
    "candidate", "candidate_id", "recruiter", "rule", "due_at", "anchor_at", "overdue_days",
    "opened_by", "reason",
]  # fmt: skip


def journey_command(
    candidate: Annotated[str, typer.Argument(help="The candidate's CRM reference.")],
    as_of: AsOfOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    group: GroupOption = None,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """A candidate's timeline, stage, last (personal) touch and next due action."""
    checked_format(fmt, ("table", "json"))
    import orjson
    from rich.table import Table

    from infra.read.journeys import NoSuchCandidate, journey
    from infra.read.read_side import current_views

    moment = checked_as_of(as_of, default=None)
    settings = settings_for(db, database_url)
    if group is None:
        require_ledger(settings)
    group = checked_group(group, settings)
    with current_views(settings, group) as store:
        try:
            found = journey(store, candidate, moment)
        except NoSuchCandidate as missing:
            err.print(str(missing))
            raise typer.Exit(ExitCode.REFUSED) from None
    if fmt == "json":
        out.print_json(orjson.dumps(found.as_dict()).decode())
        return
    if not found.steps:
        by = "now" if moment is None else f"{minute(moment)} UTC"
        say(f"no touchpoint of {candidate} recorded as happening by {by}")
        return
    next_action = found.next_due and found.next_due.text
    out.print(
        f"[bold]{found.candidate}[/bold] {found.status} {found.role}, owner"
        f" {found.recruiter or '-'} — stage [bold]{found.stage}[/bold]"
    )
    out.print(
        f"last touch {minute(found.last_touch and found.last_touch.occurred_at)},"
        f" last personal touch"
        f" {minute(found.last_personal_touch and found.last_personal_touch.occurred_at)};"
        f" next due: {next_action or 'nothing'}"
    )
    timeline = Table("happened", "recorded", "touchpoint", "by", "personal", "detail")
    for column in timeline.columns[:5]:
        column.no_wrap = True
    for step in found.steps:
        timeline.add_row(
            minute(step.occurred_at),
            minute(step.recorded_at),
            step.type,
            step.by_whom,
            "yes" if step.personal_touch else "",
            step.detail,
        )
    out.print(timeline)


def minute(seconds: float | None) -> str:
    """An instant to the minute, UTC; ``-`` for none."""
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M")


def segments_csv(by: Sequence[str], segments: Sequence[Segment]) -> str:
    """The segments as CSV, one flat row each (rates as fractions)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [*by, "outreach", "pending", "sent", "bounced", "bounce_rate", "responses",
         "response_rate", "response_low", "response_high", "engagements", "engagement_rate",
         "engagement_low", "engagement_high", "engagement_one_in", "response_hours_median",
         "response_hours_p90"]
    )  # fmt: skip
    for s in segments:
        writer.writerow(
            [*(s.values[name] or "" for name in by), s.outreach, s.pending, s.sent, s.bounced,
             _f(s.bounce.value), s.response.successes, _f(s.response.value),
             *map(_f, s.response.interval), s.engagement.successes, _f(s.engagement.value),
             *map(_f, s.engagement.interval), s.engagement.one_in or "",
             _f(s.response_hours_median), _f(s.response_hours_p90)]
        )  # fmt: skip
    return buffer.getvalue()


def reasons_table(reasons: Sequence[ReasonShare]) -> Table:
    """Why candidates said no or not now: each reason's share of those replies."""
    from rich.table import Table

    table = Table(
        "reply", "reason", "replies", "share of the replies",
        title="Why candidates said no, or not now",
        caption=None if reasons else "No declining replies by then.",
    )  # fmt: skip
    for r in reasons:
        table.add_row(
            r.sentiment.replace("_", " "), r.reason.replace("_", " "), f"{r.share.successes:,}",
            str(r.share),
        )  # fmt: skip
    return table


def basis_caption(selection: Selection, window_days: float, pending: int) -> str:
    """What the rates count, said under every table of them."""
    if selection.basis == SETTLED:
        said = (
            f"Delivered, settled outreach only (not bounced; its {window_days:g}-day window"
            f" closed by then); {pending:,} still pending, not counted."
        )
    else:
        said = (
            f"All delivered outreach (bounced left out), {pending:,} with the window still open"
            " (their rates read low)."
        )
    if selection.where:
        said += " Only " + ", ".join(f"{k}={v or '-'}" for k, v in selection.where.items()) + "."
    if selection.sent_from is not None or selection.sent_until is not None:
        start, end = (
            "…" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")
            for t in (selection.sent_from, selection.sent_until)
        )
        said += f" Sent {start} to {end} UTC."
    return said


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
    selection: Selection,
    known_at: float | None = None,
) -> None:
    from rich.table import Table

    when = datetime.fromtimestamp(as_of, UTC).strftime("%Y-%m-%d %H:%M UTC")
    known = (
        ""
        if known_at is None
        else f", as known at {datetime.fromtimestamp(known_at, UTC):%Y-%m-%d %H:%M} UTC"
    )
    report = Table(
        *by, "outreach", "pending", "bounced", "response", "engagement",
        "1st response h (median / p90)",
        title=f"Engagement as of {when}{known}, {window_days:g}-day window",
        caption=basis_caption(selection, window_days, sum(s.pending for s in segments)),
    )  # fmt: skip
    for s in segments:
        report.add_row(
            *(s.values[name] or "-" for name in by),
            f"{s.outreach:,}",
            f"{s.pending:,}",
            f"{s.bounced:,} ({s.bounce.value:.1%})" if s.bounced else "0",
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
    if segments:
        console.print(report)
    else:
        selected = selection.where or (selection.sent_from, selection.sent_until) != (None, None)
        console.print(
            f"No outreach sent by {when}{known}" + (" matches this selection." if selected else ".")
        )
    console.print(path, sla)
