"""``rapport payoff``: does the talent pool pay off; ``rapport positions``: the positions and
their funnels."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from infra.cli.common import invalid, out, say, settings_to_read
from infra.cli.options import (
    HIRING_DIMENSIONS,
    AsOfOption,
    DbOption,
    UrlOption,
    checked_as_of,
    checked_format,
)

if TYPE_CHECKING:
    from infra.read.payoff import Payoff, PositionLine

STATUSES = ("open", "filled", "closed", "all")


def payoff_command(
    as_of: AsOfOption = None,
    window: Annotated[float, typer.Option("--window", help="Attribution window in days.")] = 30.0,
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help=f"Break the hiring figures down by the position's {', '.join(HIRING_DIMENSIONS)}"
            " (comma-separated; default: none).",
        ),
    ] = "",
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Pool against cold outreach, positions filled from the pool, content, the pool's health."""
    checked_format(fmt, ("table", "json"))
    import orjson

    from infra.read.payoff import parse_hiring_dimensions, payoff_as_of
    from infra.read.read_side import current_views, now_minute

    moment = checked_as_of(as_of, default=None)
    if not window > 0:
        raise invalid("--window", "the attribution window must be a positive number of days")
    try:
        dimensions = parse_hiring_dimensions(by)
    except ValueError as bad:
        raise invalid("--by", str(bad)) from None
    settings = settings_to_read(db, database_url)
    with current_views(settings) as store:
        assert store.ledger is not None  # beside the ledger
        report = payoff_as_of(
            store, store.ledger, as_of=now_minute() if moment is None else moment,
            now=moment is None, window_days=window, by=dimensions,
        )  # fmt: skip
    if fmt == "json":
        typer.echo(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode())
    elif not report.audience and not report.positions and not report.health.members:
        when = datetime.fromtimestamp(report.as_of, UTC).strftime("%Y-%m-%d %H:%M UTC")
        say(f"nothing to report: no outreach, no position and no pool member by {when}")
    else:
        print_payoff(report)


def print_payoff(report: Payoff) -> None:
    """The payoff report as tables and sentences (``rapport payoff`` and ``rapport demo``)."""
    from rich.table import Table

    from infra.read.payoff import ORIGINS
    from projections.requisitions import STEPS

    day = datetime.fromtimestamp(report.as_of, UTC).strftime("%Y-%m-%d %H:%M")
    audience = Table(
        "audience", "outreach", "pending", "response", "engagement",
        title=f"Outreach to pool members against cold outreach, as of {day} UTC"
        f" ({report.window_days:g}-day window)",
        caption="Settled outreach only (its window closed by then); pending: not counted yet.",
    )  # fmt: skip
    for s in report.audience:
        audience.add_row(
            str(s.values["audience"]), f"{s.outreach:,}", f"{s.pending:,}", str(s.response),
            str(s.engagement),
        )  # fmt: skip
    out.print(audience)
    out.print(
        f"Content shared, followed within {report.window_days:g} days by a reply or an"
        f" engagement (settled): {report.content}; {report.content_pending:,} still pending"
    )
    for segment in report.hiring:
        named = ", ".join(f"{k} {v or '-'}" for k, v in segment.values.items())
        table = Table(
            "step", "from the pool", *(f"days to it: {o}" for o in ORIGINS),
            title=f"Hiring{f' ({named})' if named else ''}: {report.positions:,} positions"
            " opened",
        )  # fmt: skip
        for step in STEPS:
            days = {"shortlisted": segment.to_first_shortlist, "hired": segment.to_hire}.get(step)
            table.add_row(
                step,
                str(segment.from_pool[step]),
                *(
                    "-" if days is None or not days[o].positions
                    else f"median {days[o].median:.1f}, p90 {days[o].p90:.1f}"
                    f" (n={days[o].positions})"
                    for o in ORIGINS
                ),
            )  # fmt: skip
        out.print(table)
    if report.unopened:
        out.print(f"{report.unopened:,} steps for positions never opened in Rapport (old data).")
    health = report.health
    bands = ", ".join(f"{name} {n:,}" for name, n in health.bands.items())
    out.print(
        f"Pool health: {health.members:,} members ({bands});"
        f" {health.overdue:,} overdue a personal touch"
    )


def positions_command(
    status: Annotated[
        str, typer.Option("--status", help=f"Which positions: {', '.join(STATUSES)}.")
    ] = "open",
    as_of: AsOfOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Positions with their funnels: shortlisted, interviewing, hired, how many from the pool."""
    if status not in STATUSES:
        raise invalid("--status", f"expected {', '.join(STATUSES)}, got {status!r}")
    checked_format(fmt, ("table", "json"))
    import orjson

    from infra.read.payoff import position_lines
    from infra.read.read_side import current_views, now_minute

    moment = checked_as_of(as_of, default=now_minute())
    settings = settings_to_read(db, database_url)
    with current_views(settings) as store:
        lines = position_lines(store, moment, None if status == "all" else status)
    if fmt == "json":
        document = [line.as_dict(moment) for line in lines]
        typer.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
        return
    if not lines:
        say(f"no {'' if status == 'all' else status + ' '}positions as of that moment")
        return
    _print_positions(lines, moment)


def _print_positions(lines: list[PositionLine], moment: float) -> None:
    from rich.table import Table

    from projections.requisitions import STEPS

    table = Table(
        "requisition", "title", "role", "recruiter", "status", "days open",
        *(f"{step} (pool)" for step in STEPS),
    )  # fmt: skip
    for line in lines:
        table.add_row(
            line.requisition, line.title or "-", line.role or "-", line.recruiter or "-",
            line.status, f"{line.days_open(moment):.0f}",
            *(f"{n} ({pooled})" for n, pooled in line.reached.values()),
        )  # fmt: skip
    out.print(table)
