"""The ledger's own commands: ``import``, ``generate``, ``schemas``, ``summary``, ``rebuild`` and
``follow``. Each reads its options, calls the ledger, the importer or the follower, and says what
happened."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from infra.cli.capture import AllowErasures, operator_roles
from infra.cli.common import (
    ExitCode,
    err,
    opened_ledger,
    out,
    require_writable,
    say,
    settings_for,
    settings_to_read,
)
from infra.cli.options import DbOption, UrlOption, checked_format

if TYPE_CHECKING:
    from rich.progress import Progress

    from infra.core.settings import Settings
    from infra.intake.file_import import ImportStopped
    from infra.store.ledger import Ledger

MAX_ERRORS_SHOWN = 50


def _progress() -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
        transient=True,
    )


def _print_errors(header: str, stopped: ImportStopped) -> None:
    err.print(f"[red]{header}[/red]")
    for error in stopped.errors[:MAX_ERRORS_SHOWN]:
        say(f"  {error}")
    if stopped.total > MAX_ERRORS_SHOWN:
        err.print(f"  … and {stopped.total - MAX_ERRORS_SHOWN} more")


def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    fmt: Annotated[
        str, typer.Option("--format", help="auto (by extension), jsonl or csv.")
    ] = "auto",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only.")] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Touchpoints per transaction (whole candidates each).")
    ] = 20_000,
    allow_erasures: AllowErasures = False,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Import touchpoints from JSON Lines or CSV: all validated before anything is written."""
    from infra.store.ledger import bulk_mode

    checked_format(fmt, ("auto", "jsonl", "csv"))
    settings = settings_for(db, database_url)
    with bulk_mode():
        _import(
            file,
            fmt,
            dry_run=dry_run,
            batch_size=batch_size,
            settings=settings,
            allow_erasures=allow_erasures,
        )


def _import(
    file: Path,
    fmt: str,
    *,
    dry_run: bool,
    batch_size: int,
    settings: Settings,
    allow_erasures: bool = False,
) -> None:
    from infra.intake.file_import import (
        ImportInvalid,
        ImportNotPermitted,
        ImportRefused,
        import_touchpoints,
    )
    from infra.store.ledger import ConflictPersisted

    started = time.perf_counter()
    with opened_ledger(settings) as ledger:
        if not dry_run:
            require_writable(ledger)
        try:
            with _progress() as progress:
                task = progress.add_task("recording", total=None)
                result = import_touchpoints(
                    ledger,
                    file,
                    fmt,  # type: ignore[arg-type]
                    operator_roles(allow_erasures),
                    dry_run=dry_run,
                    batch_events=batch_size,
                    on_total=lambda total: progress.update(task, total=total),
                    on_progress=lambda n: progress.advance(task, n),
                )
        except ImportInvalid as invalid:
            _print_errors(f"{file}: {invalid.total} error(s); nothing was written", invalid)
            raise typer.Exit(ExitCode.INVALID) from None
        except ImportNotPermitted as forbidden:
            _print_errors(
                f"{file}: {forbidden.total} erasure(s) without --allow-erasures;"
                " nothing was written",
                forbidden,
            )
            raise typer.Exit(ExitCode.NOT_PERMITTED) from None
        except ImportRefused as refused:
            header = (
                "a concurrent writer changed these candidates during the import; earlier"
                " batches were kept and re-running the import resumes exactly"
                if refused.after_writing
                else f"{file}: {refused.total} touchpoint(s) refused; nothing was written"
            )
            _print_errors(header, refused)
            raise typer.Exit(ExitCode.REFUSED) from None
        except ConflictPersisted as conflict:
            err.print(f"[red]{conflict}[/red]")
            raise typer.Exit(ExitCode.STORE) from None
    if not result.written:
        out.print(
            f"{file}: {result.lines} valid touchpoint(s); would record {result.events},"
            f" {result.duplicates} already recorded (dry run: nothing written)"
        )
        _note_unopened(result.unopened)
        return
    elapsed = time.perf_counter() - started
    rate = result.events / elapsed if elapsed else 0.0
    positions = f" and {result.positions} position(s)" if result.positions else ""
    out.print(
        f"{file}: recorded {result.events} touchpoint(s) for {result.candidates} candidate(s)"
        f"{positions}, {result.duplicates} duplicate(s) skipped, in {elapsed:.2f}s"
        f" ({rate:,.0f}/s)"
    )
    _note_unopened(result.unopened)


def _note_unopened(requisitions: list[str], shown: int = 10) -> None:
    """Positions the touchpoints name that Rapport was never told were opened: accepted (old
    data), and said, since matching and time-to-fill know nothing of them."""
    if requisitions:
        names = ", ".join(requisitions[:shown]) + (", ..." if len(requisitions) > shown else "")
        err.print(
            f"note: {len(requisitions)} position(s) named by touchpoints were never opened"
            f" (recorded all the same): {names}"
        )


def generate(
    out_file: Annotated[Path, typer.Option("--out", help="JSON Lines file to write.")],
    candidates: Annotated[int, typer.Option(min=1)] = 2000,
    seed: Annotated[int, typer.Option()] = 42,
    until: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S%z"], help="End of the history."),
    ] = None,
) -> None:
    """Write a synthetic clinical-staffing history (deterministic for a seed)."""
    from infra.synthetic import generator

    end = generator.DEFAULT_UNTIL if until is None else _aware(until)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    count = generator.write_jsonl(
        out_file, candidates=candidates, seed=seed, until=end, positions=True
    )
    out.print(f"{out_file}: {count} touchpoint(s) for {candidates} candidate(s), seed {seed}")


def schemas(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the schema files.")] = Path(
        "schemas"
    ),
) -> None:
    """Write the JSON Schemas: the import format, and every message type on the topics."""
    import orjson

    from domain.lines import import_schema
    from infra.streaming.messages import message_schemas

    out_dir.mkdir(parents=True, exist_ok=True)
    documents = {"touchpoint.schema.json": import_schema(), **message_schemas()}
    for name, schema in documents.items():
        (out_dir / name).write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2) + b"\n")
    out.print(f"wrote {len(documents)} schemas to {out_dir}/ (import: touchpoint.schema.json)")


def summary(db: DbOption = None, database_url: UrlOption = None) -> None:
    """What the ledger holds: touchpoints by type, candidates by status and role."""
    with opened_ledger(settings_to_read(db, database_url)) as ledger:
        print_summary(ledger)


def rebuild(
    batch: Annotated[
        int, typer.Option(min=1, help="Events read from the ledger per step.")
    ] = 100_000,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Rebuild every view from the first event, in bulk, and swap it in whole (readers see the
    old views until then; an interrupted rebuild leaves them as they were)."""
    from infra.read.read_side import following
    from infra.store.ledger import bulk_mode

    with following(settings_for(db, database_url)) as follower:
        total = follower.recorder.max_notification_id() or 0
        started = time.perf_counter()
        with bulk_mode(), _progress() as progress:
            task = progress.add_task("rebuilding", total=total)
            count = follower.rebuild(on_progress=lambda n: progress.advance(task, n), chunk=batch)
    elapsed = time.perf_counter() - started
    out.print(f"rebuilt every view from {count} event(s) in {elapsed:.2f}s")


def follow(
    poll: Annotated[float, typer.Option(min=0.01, help="Seconds between polls.")] = 0.05,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Keep the views current as touchpoints are recorded (until interrupted)."""
    from infra.read.read_side import following

    with following(settings_for(db, database_url)) as follower:
        try:
            follower.follow(poll_seconds=poll)
        except KeyboardInterrupt:
            out.print(f"stopped at positions {follower.positions()}")


def print_summary(ledger: Ledger) -> None:
    from rich.table import Table

    from projections.summary import LedgerSummary

    result = LedgerSummary()
    for event in ledger.history():
        result.apply(event)
    out.print(
        f"\n[bold]Ledger[/bold] {ledger.settings.store_description}: {result.events} touchpoints,"
        f" {result.candidates} candidates, from {_day(result.first_occurred)}"
        f" to {_day(result.last_occurred)}"
    )
    out.print(f"personal touches {result.personal_touches}, automated {result.automated_touches}")
    if result.positions_by_type:
        facts = ", ".join(f"{kind} {n}" for kind, n in sorted(result.positions_by_type.items()))
        out.print(f"positions: {facts}")
    types = Table("touchpoint", "count", title="Touchpoints by type")
    for kind, count in result.by_type.most_common():
        types.add_row(kind, str(count))
    people = Table("status", "candidates", title="Candidates by status")
    for status, count in result.candidates_by_status.most_common():
        people.add_row(status, str(count))
    outreach = Table("personalization", "messages", title="Outreach by personalization")
    for kind, count in result.outreach_by_personalization.most_common():
        outreach.add_row(kind, str(count))
    out.print(types, people, outreach)


def _day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment else "-"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
