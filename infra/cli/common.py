"""What every command shares: the consoles, the exit codes, the settings, the ledger opened for
one command. A leaf of the command line: command modules import it, never each other.

Imports beyond typer and rich happen inside the functions that need them: ``rapport --help``
and a rejected option must not pay for pydantic, the stores and Kafka (see
``tests/unit/test_cli_startup.py``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from infra.core.settings import Settings
    from infra.store.ledger import Ledger

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)


class ExitCode(IntEnum):
    """What ``rapport`` exits with; scripts and CI branch on these numbers."""

    DONE = 0
    FAILED = 1
    """an unexpected failure"""
    INVALID = 2
    """invalid input or option; nothing written"""
    REFUSED = 3
    """refused by the business rules (or no such candidate); nothing written"""
    STORE = 4
    """the store kept conflicting, could not be reached, or cannot be written"""
    BROKEN = 5
    """the ledger's chain or checkpoint does not verify"""
    NOT_PERMITTED = 6
    """an erasure without ``--allow-erasures``; nothing written"""


def say(message: str) -> None:
    """A line on stderr, printed as it is (no markup: it may quote the user's input)."""
    err.print(message, markup=False, highlight=False)


def invalid(option: str, message: str) -> typer.Exit:
    """Exit 2 naming the option that is wrong."""
    say(f"{option}: {message}")
    return typer.Exit(ExitCode.INVALID)


def settings_for(db: Path | None = None, database_url: str | None = None) -> Settings:
    """The environment's settings, with the command's ``--db``/``--database-url`` on top."""
    from pydantic import ValidationError

    from infra.core.logging import configure as configure_logging
    from infra.core.settings import Settings

    try:
        settings = Settings(database_url=database_url) if database_url else Settings()
    except ValidationError as bad:
        for error in bad.errors(include_url=False):
            name = "--database-url" if database_url else f"RAPPORT_{error['loc'][0]}".upper()
            say(f"setting {name}: {error['msg']}")
        raise typer.Exit(ExitCode.INVALID) from None
    if db is not None and not database_url:
        settings = settings.model_copy(update={"db": db, "database_url": None})
    configure_logging(settings.log_level, settings.log_format)
    return settings


def settings_to_read(db: Path | None = None, database_url: str | None = None) -> Settings:
    """The settings of a command that only reads the ledger, which must exist already."""
    settings = settings_for(db, database_url)
    require_ledger(settings)
    return settings


def require_ledger(settings: Settings) -> None:
    """Exit 2 naming the place when no ledger is there, before anything is opened: opening one
    creates it (and its views), and a typo in --db would answer with empty tables."""
    if not settings.database_url:
        if not settings.db.is_file():
            say(
                f"no ledger at {settings.db} (run rapport import or rapport demo first,"
                " or pass --db)"
            )
            raise typer.Exit(ExitCode.INVALID)
        return
    import psycopg

    from infra.store.ledger import Ledger

    try:
        with psycopg.connect(settings.database_url, connect_timeout=10) as connection:
            found = connection.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s"
                " AND table_name = %s",
                (settings.database_schema, f"{Ledger.name.lower()}_events"),
            ).fetchone()
    except psycopg.Error as down:
        say(f"cannot open the ledger at {settings.store_description}: {down}")
        raise typer.Exit(ExitCode.STORE) from None
    if found is None:
        say(
            f"no ledger in schema {settings.database_schema} at {settings.store_description}"
            " (run rapport import first, or pass another --database-url or"
            " RAPPORT_DATABASE_SCHEMA)"
        )
        raise typer.Exit(ExitCode.INVALID)


@contextmanager
def opened_ledger(settings: Settings) -> Iterator[Ledger]:
    """The ledger for one command, closed after it; exit 4 when it cannot be opened."""
    from eventsourcing.persistence import PersistenceError

    from infra.store.ledger import Ledger

    try:
        ledger = Ledger(settings)
    except PersistenceError as down:
        say(f"cannot open the ledger at {settings.store_description}: {down}")
        raise typer.Exit(ExitCode.STORE) from None
    try:
        yield ledger
    finally:
        ledger.close()


def require_writable(ledger: Ledger) -> None:
    """Exit 4 when the ledger cannot be written: its links are keyed and the key is unusable
    (writing plain links after keyed ones would be forgeable)."""
    if ledger.chain_problem is not None:
        say(f"cannot write to the ledger: {ledger.chain_problem}")
        raise typer.Exit(ExitCode.STORE)
