"""``rapport match``: who in the talent pool fits a position, ranked, every score explained;
``rapport shortlist``: putting candidates on its short list, saying where each came from."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from infra.cli.common import (
    ExitCode,
    err,
    invalid,
    opened_ledger,
    out,
    require_writable,
    say,
    settings_for,
    settings_to_read,
)
from infra.cli.options import AsOfOption, DbOption, UrlOption, checked_as_of, checked_format

if TYPE_CHECKING:
    from infra.read.matches import MatchList


def match_command(
    position: Annotated[str, typer.Argument(help="The position's requisition id.")],
    limit: Annotated[int, typer.Option("--limit", help="How many to list (1-500).")] = 20,
    as_of: AsOfOption = None,
    include_past_candidates: Annotated[
        bool,
        typer.Option(
            "--include-past-candidates",
            help="Also those who reached a shortlist or an interview for another position"
            " (silver medallists), in a pool or not.",
        ),
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Rank the pool for a position: hard filters, then fit and warmth, term by term."""
    if not 1 <= limit <= 500:
        raise invalid("--limit", f"expected 1 to 500, got {limit}")
    checked_format(fmt, ("table", "json"))
    import orjson
    from eventsourcing.persistence import PersistenceError

    from infra.core.match_weights_file import load_weights
    from infra.read.matches import NoSuchPosition, match_position
    from infra.read.read_side import current_views, now_minute
    from projections.matching import MatchWeightsError

    moment = checked_as_of(as_of, default=None)
    settings = settings_to_read(db, database_url)
    try:
        weights = load_weights(settings.match_weights)
    except MatchWeightsError as bad:
        say(str(bad))
        raise typer.Exit(ExitCode.INVALID) from None
    try:
        with current_views(settings) as store:
            assert store.ledger is not None  # beside the ledger: positions are read from it
            found = match_position(
                store, store.ledger, position, now=now_minute(), as_of=moment, weights=weights,
                policy=settings.policy, limit=limit, include_past=include_past_candidates,
            )  # fmt: skip
    except NoSuchPosition as unknown:
        say(str(unknown))
        raise typer.Exit(ExitCode.INVALID) from None
    except PersistenceError as down:
        say(f"cannot open the ledger at {settings.store_description}: {down}")
        raise typer.Exit(ExitCode.STORE) from None
    if fmt == "json":
        sys.stdout.write(orjson.dumps(found.as_record(), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
    else:
        _print(found)


def _print(found: MatchList) -> None:
    from rich.table import Table

    record = found.as_record()
    asks = record["asks"]
    where = "remote" if asks["remote"] else asks["country"]
    out.print(
        f"position {found.position} ({found.status}) as of {record['as_of'][:16]} UTC: a"
        f" {asks['role']}, areas {', '.join(asks['therapeutic_areas']) or '-'}, phases"
        f" {', '.join(asks['trial_phases']) or '-'}, required"
        f" {', '.join(asks['required_certifications']) or '-'}, {where},"
        f" {asks['min_years'] or 0}+ years"
    )
    title = f"{len(found.matches)} match(es) of {found.considered} considered"
    table = Table("#", "candidate", "score", "why (points)", "pools", "outreach left", title=title)
    for match in found.matches:
        why = "\n".join(f"{t.name} {t.points:g}: {t.why}" for t in match.terms if t.points)
        table.add_row(
            str(match.rank), match.candidate, f"{match.score:.2f}", why or "-",
            ", ".join(match.pools) or "-", str(match.outreach_left),
        )  # fmt: skip
    out.print(table)
    if found.left_out:
        left = "; ".join(f"{why}: {n}" for why, n in found.left_out.items())
        out.print(f"not considered: {left}")
    if found.passed_over:
        over = "; ".join(f"{why}: {n}" for why, n in found.passed_over.items())
        out.print(f"ranked higher but passed over: {over}")


def shortlist_command(
    position: Annotated[str, typer.Argument(help="The position's requisition id.")],
    candidates: Annotated[list[str], typer.Argument(help="The candidates' CRM references.")],
    recruiter: Annotated[
        str, typer.Option("--recruiter", help="Who shortlists them (a staff id).")
    ],
    from_match: Annotated[
        bool,
        typer.Option(
            "--from-match",
            help="They were picked from the position's match list (as rapport match ranks it"
            " now): each is recorded with their rank and score; one not in it is refused.",
        ),
    ] = False,
    include_past_candidates: Annotated[
        bool,
        typer.Option(
            "--include-past-candidates", help="The match list they were picked from had them."
        ),
    ] = False,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Shortlist candidates for a position, as a pool match or sourced otherwise."""
    from pydantic import ValidationError

    from domain.shortlisting import NotAmongMatches, shortlistings
    from infra.core.match_weights_file import load_weights
    from infra.intake.capture import CaptureRefused, capture
    from infra.read.matches import NoSuchPosition, picked_from
    from infra.read.read_side import current_views, now_minute
    from projections.matching import MatchWeightsError

    settings = settings_for(db, database_url)
    try:
        weights = load_weights(settings.match_weights)
    except MatchWeightsError as bad:
        say(str(bad))
        raise typer.Exit(ExitCode.INVALID) from None
    now = now_minute()
    with current_views(settings) as store:
        assert store.ledger is not None  # beside the ledger: positions are read from it
        try:
            status, matched = picked_from(
                store, store.ledger, position, from_match=from_match, now=now,
                weights=weights, policy=settings.policy, include_past=include_past_candidates,
            )  # fmt: skip
        except NoSuchPosition as unknown:
            raise invalid("POSITION", str(unknown)) from None
    if status != "open":
        raise invalid("POSITION", f"position {position} is {status}: nobody is shortlisted")
    try:
        lines = shortlistings(
            position, candidates, recruiter=recruiter,
            at=datetime.fromtimestamp(time.time(), UTC), matched=matched,
        )  # fmt: skip
    except NotAmongMatches as missing:
        raise invalid("CANDIDATE", str(missing)) from None
    except ValidationError as bad:  # the only free text given: the recruiter's id
        raise invalid("--recruiter", bad.errors()[0]["msg"]) from None
    with opened_ledger(settings) as ledger:
        require_writable(ledger)
        try:
            outcomes = capture(ledger, list(enumerate(lines)), "shortlist")
        except CaptureRefused as refused:
            for index, refusal in refused.refusals:
                say(f"{candidates[index]}: {refusal.message} [{refusal.code}]")
            err.print("nobody was shortlisted")
            raise typer.Exit(ExitCode.REFUSED) from None
    for outcome, line in zip(outcomes, lines, strict=True):
        how = (
            f"pool match #{line.match_rank}, {line.match_score:g} points"
            if line.match_rank is not None
            else "sourced"
        )
        done = "already recorded" if outcome.status == "duplicate" else f"at {outcome.position}"
        out.print(f"{line.candidate}: shortlisted for {position} ({how}), {done}")
