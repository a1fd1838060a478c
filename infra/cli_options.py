"""The command-line options every read or write command shares, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
