"""The command-line options every read or write command shares, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from infra.read_side import ViewsNotFound, existing_group_views
from infra.settings import Settings

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
    try:
        existing_group_views(settings, group)  # checks the name first
    except ValueError as bad:
        typer.echo(f"--group: {bad}", err=True)
        raise typer.Exit(2) from None
    except ViewsNotFound as missing:
        typer.echo(str(missing), err=True)
        raise typer.Exit(2) from None
    return group
