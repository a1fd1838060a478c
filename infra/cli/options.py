"""The command-line options commands share, defined and checked once each.

Defining an option imports nothing of the read side (``--help`` would pay for it); checking one
imports what it needs then. The few names a help text lists are copied here for that reason,
and ``tests/unit/test_cli_startup.py`` checks that the copies agree with their originals."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from infra.cli.common import ExitCode, invalid, say

if TYPE_CHECKING:
    from infra.core.settings import Settings
    from infra.read.metrics import Selection
    from infra.read.views import ViewStore

Default = TypeVar("Default", float, None)

DIMENSIONS = (
    "status", "personalization", "channel", "recruiter", "role", "therapeutic_area", "campaign",
    "cohort_week", "cohort_month", "audience", "source",
)  # fmt: skip
"""What a report can be broken down by: the keys of ``infra.read.metrics.DIMENSIONS``."""
HIRING_DIMENSIONS = ("role", "recruiter", "client")
"""What the hiring figures can be broken down by: ``infra.read.payoff.HIRING_DIMENSIONS``."""
SETTLED = "settled"
"""The default --basis: ``infra.read.metrics.SETTLED``."""

DbOption = Annotated[
    Path | None, typer.Option("--db", help="SQLite file of the ledger (env RAPPORT_DB).")
]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="postgresql:// URL: use PostgreSQL (env RAPPORT_DATABASE_URL)."
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="As things stood then: YYYY-MM-DD (the end of that day, UTC) or an ISO instant"
        " with a zone. Default: now.",
    ),
]
KnownAtOption = Annotated[
    str | None,
    typer.Option(
        "--known-at",
        help="As the report stood then: only events recorded by this instant (YYYY-MM-DD: the"
        " end of that day, UTC); --as-of defaults to it.",
    ),
]
BasisOption = Annotated[
    str,
    typer.Option(
        "--basis",
        help="settled: count only outreach whose window had closed (default); all: every"
        " outreach sent, open windows included (reads low).",
    ),
]
WhereOption = Annotated[
    str | None,
    typer.Option(
        "--where", help="Only outreach with these values: DIMENSION=VALUE[,DIMENSION=VALUE]."
    ),
]
SentFromOption = Annotated[
    str | None,
    typer.Option("--sent-from", help="Only outreach sent from this day (or ISO instant) on."),
]
SentUntilOption = Annotated[
    str | None,
    typer.Option("--sent-until", help="Only outreach sent up to this day (its end) or instant."),
]
GroupOption = Annotated[
    str | None,
    typer.Option(
        "--group",
        help="Read the views kept by this consumer group (rapport consume) instead of the"
        " ledger's own.",
    ),
]


def checked_group(group: str | None, settings: Settings) -> str | None:
    """The --group of a read command: a valid name whose views exist, or exit 2 saying why."""
    if group is None:
        return None
    from infra.read.read_side import ViewsNotFound, existing_group_views

    try:
        existing_group_views(settings, group)  # checks the name first
    except ValueError as bad:
        raise invalid("--group", str(bad)) from None
    except ViewsNotFound as missing:
        say(str(missing))
        raise typer.Exit(ExitCode.INVALID) from None
    return group


def group_name(group: str) -> str:
    """The --group of a consumer: a name that can name views and Kafka groups, or exit 2."""
    from infra.read.read_side import check_group

    try:
        return check_group(group)
    except ValueError as bad:
        raise invalid("--group", str(bad)) from None


def checked_format(fmt: str, choices: Sequence[str]) -> str:
    """The --format, one of ``choices``, or exit 2 naming them."""
    if fmt not in choices:
        expected = f"{', '.join(choices[:-1])} or {choices[-1]}"
        raise invalid("--format", f"expected {expected}, got {fmt!r}")
    return fmt


def checked_as_of(as_of: str | None, *, default: Default) -> float | Default:
    """The --as-of instant (seconds since the epoch), ``default`` without one, or exit 2."""
    if as_of is None:
        return default
    from infra.read.read_side import parse_as_of

    try:
        return parse_as_of(as_of)
    except ValueError as bad:
        raise invalid("--as-of", str(bad)) from None


def checked_selection(
    basis: str, where: str | None, sent_from: str | None, sent_until: str | None
) -> Selection:
    """Which outreach a report counts (--basis, --where, --sent-from, --sent-until), or exit 2
    naming the option."""
    from infra.read.metrics import QuestionProblem
    from infra.read.read_side import selection_of

    try:
        return selection_of(basis, where, sent_from, sent_until)
    except QuestionProblem as bad:
        raise invalid("--" + bad.field.replace("_", "-"), str(bad)) from None


def checked_known_at(known_at: str | None) -> float | None:
    """The --known-at instant, None without one, or exit 2."""
    if known_at is None:
        return None
    from infra.read.read_side import parse_as_of

    try:
        return parse_as_of(known_at)
    except ValueError as bad:
        raise invalid("--known-at", str(bad)) from None


@contextmanager
def answering(settings: Settings, group: str | None, known_at: float | None) -> Iterator[ViewStore]:
    """The views a report reads (``known_at.answering_views``); exit 2 naming --known-at when
    they cannot tell what was known then."""
    from infra.read.known_at import CannotTell, answering_views

    try:
        with answering_views(settings, group, known_at) as store:
            yield store
    except CannotTell as cannot:
        raise invalid("--known-at", str(cannot)) from None
