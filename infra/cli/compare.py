"""``rapport compare``: two segments' rates, the difference with its interval, in a sentence."""

from __future__ import annotations

import csv
import sys
import time
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
    from infra.read.comparison import Comparison

CSV_FIELDS = [
    "dimension", "metric", "a", "b", "successes_a", "n_a", "rate_a", "pending_a", "successes_b",
    "n_b", "rate_b", "pending_b", "difference", "low", "high", "ratio", "verdict",
]  # fmt: skip


def compare_command(
    by: Annotated[
        str, typer.Option("--by", help=f"The dimension to compare along: {', '.join(DIMENSIONS)}.")
    ],
    a: Annotated[str | None, typer.Option("--a", help="One value (default: every value).")] = None,
    b: Annotated[
        str | None,
        typer.Option("--b", help="The value to compare with (default: every other value)."),
    ] = None,
    metric: Annotated[str, typer.Option("--metric", help="engagement or response.")] = "engagement",
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    window: Annotated[float, typer.Option("--window", help="Attribution window in days.")] = 30.0,
    basis: BasisOption = SETTLED,
    where: WhereOption = None,
    sent_from: SentFromOption = None,
    sent_until: SentUntilOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    group: GroupOption = None,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Compare two rates: the difference with its 95% interval (Newcombe), the ratio, a sentence."""
    checked_format(fmt, ("table", "json", "csv"))
    import orjson

    from infra.read.comparison import UnknownValue, check_question, compare
    from infra.read.metrics import QuestionProblem

    try:
        check_question(by, a, b, metric)
    except QuestionProblem as bad:
        raise invalid(f"--{bad.field}", str(bad)) from None
    if not window > 0:
        raise invalid("--window", "the attribution window must be a positive number of days")
    known = checked_known_at(known_at)
    moment = checked_as_of(as_of, default=time.time() if known is None else known)
    selection = checked_selection(basis, where, sent_from, sent_until)
    settings = settings_for(db, database_url)
    if group is None:
        require_ledger(settings)
    group = checked_group(group, settings)
    with answering(settings, group, known) as store:
        try:
            found = compare(
                store, by, _value(a), _value(b), as_of=moment, window_days=window,
                selection=selection, metric=metric,
            )  # fmt: skip
        except UnknownValue as unknown:
            err.print(str(unknown))
            raise typer.Exit(ExitCode.REFUSED) from None
    if fmt == "json":
        document = {
            "as_of": datetime.fromtimestamp(moment, UTC).isoformat(),
            "known_at": known and datetime.fromtimestamp(known, UTC).isoformat(),
            "window_days": window,
            **selection.as_dict(),
            "comparisons": [c.as_dict() for c in found],
        }
        typer.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(CSV_FIELDS)
        writer.writerows(_csv_row(c) for c in found)
    else:
        _print(found, moment, window)


def _value(text: str | None) -> str | None:
    """``-`` names the segment without a value, as the tables show it."""
    return None if text in (None, "-") else text


def _csv_row(c: Comparison) -> list[object]:
    return [
        c.dimension, c.metric, c.a or "", c.b or "", c.rate_a.successes, c.rate_a.n,
        f"{c.rate_a.value:.6g}", c.pending_a, c.rate_b.successes, c.rate_b.n,
        f"{c.rate_b.value:.6g}", c.pending_b, f"{c.difference:.6g}", f"{c.low:.6g}",
        f"{c.high:.6g}", "" if c.ratio is None else f"{c.ratio:.6g}", c.verdict,
    ]  # fmt: skip


def _print(found: list[Comparison], moment: float, window: float) -> None:
    from rich.table import Table

    if not found:
        say("Nothing to compare: fewer than two values have outreach in this report.")
        return
    when = datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M UTC")
    table = Table(
        "a", "b", "rate a", "rate b", "difference (points) [95%]", "ratio", "verdict",
        title=f"Compared as of {when}, {window:g}-day window, settled outreach unless --basis all",
    )  # fmt: skip
    for c in found:
        table.add_row(
            c.a or "-", c.b or "-", str(c.rate_a), str(c.rate_b),
            f"{c.difference * 100:+.1f} [{c.low * 100:+.1f} to {c.high * 100:+.1f}]",
            "-" if c.ratio is None else f"{c.ratio:.2f}x", c.verdict,
        )  # fmt: skip
    out.print(table)
    for c in found:
        out.print(c.sentence + ".")
