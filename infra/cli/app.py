"""The ``rapport`` command line: the app that gathers every command family, and the ledger's own
commands (import, generate, schemas, summary, rebuild, follow, demo).

Exit codes are ``infra.cli.common.ExitCode``.
"""

from __future__ import annotations

import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import orjson
import structlog
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from domain.touchpoints import import_schema
from infra.cli.capture import (
    AllowErasures,
    inbound_command,
    operator_roles,
    record_command,
)
from infra.cli.common import ExitCode, err, opened_ledger, out, require_writable, settings_for
from infra.cli.compliance import audit_app, erase_command
from infra.cli.options import DbOption, UrlOption, checked_format
from infra.cli.reading import alerts_command, journey_command, metrics_command
from infra.cli.serve import serve_command, token_app
from infra.cli.streaming import consume_command, kafka_app, relay_command
from infra.core.settings import Settings
from infra.intake.capture import not_permitted
from infra.intake.importing import LineError, read_touchpoints
from infra.read.read_side import current_views, following
from infra.read.views import ViewStore
from infra.store.ledger import BatchRefused, ConflictPersisted, Ledger, bulk_mode
from projections.alert_rules import AlertRulesError
from projections.summary import LedgerSummary

MAX_ERRORS_SHOWN = 50

app = typer.Typer(
    name="rapport",
    help="Rapport: every candidate touchpoint as an immutable event.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = structlog.get_logger("rapport.cli")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
        transient=True,
    )


def _print_errors(header: str, errors: list[LineError]) -> None:
    err.print(f"[red]{header}[/red]")
    for error in errors[:MAX_ERRORS_SHOWN]:
        err.print(f"  {error}", markup=False, highlight=False)
    if len(errors) > MAX_ERRORS_SHOWN:
        err.print(f"  … and {len(errors) - MAX_ERRORS_SHOWN} more")


@app.command("import")
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
    started = time.perf_counter()
    lines, errors = read_touchpoints(file, fmt)  # type: ignore[arg-type]
    if errors:
        _print_errors(f"{file}: {len(errors)} error(s); nothing was written", errors)
        raise typer.Exit(ExitCode.INVALID)
    forbidden = not_permitted(lines, operator_roles(allow_erasures))
    if forbidden:
        _print_errors(
            f"{file}: {len(forbidden)} erasure(s) without --allow-erasures; nothing was written",
            [LineError(p.index, p.field, p.message) for p in forbidden],
        )
        raise typer.Exit(ExitCode.NOT_PERMITTED)
    with opened_ledger(settings) as ledger:
        if not dry_run:
            require_writable(ledger)
        decision = ledger.decide(lines)
        if decision.refusals:
            if not dry_run:
                ledger.note_refusals(lines, decision.refusals, "import")
            _print_errors(
                f"{file}: {len(decision.refusals)} touchpoint(s) refused; nothing was written",
                [LineError(n, r.field, f"{r.message} [{r.code}]") for n, r in decision.refusals],
            )
            raise typer.Exit(ExitCode.REFUSED)
        if dry_run:
            out.print(
                f"{file}: {len(lines)} valid touchpoint(s); would record"
                f" {decision.event_count}, {len(decision.duplicates)} already recorded"
                " (dry run: nothing written)"
            )
            return
        try:
            with _progress() as progress:
                task = progress.add_task("recording", total=decision.event_count)
                report = ledger.write(
                    decision,
                    batch_events=batch_size,
                    on_progress=lambda n: progress.advance(task, n),
                )
        except BatchRefused as late:
            ledger.note_refusals(lines, late.refusals, "import")
            _print_errors(
                "a concurrent writer changed these candidates during the import; earlier"
                " batches were kept and re-running the import resumes exactly",
                [LineError(n, r.field, f"{r.message} [{r.code}]") for n, r in late.refusals],
            )
            raise typer.Exit(ExitCode.REFUSED) from None
        except ConflictPersisted as conflict:
            err.print(f"[red]{conflict}[/red]")
            raise typer.Exit(ExitCode.STORE) from None
    elapsed = time.perf_counter() - started
    rate = report.events / elapsed if elapsed else 0.0
    out.print(
        f"{file}: recorded {report.events} touchpoint(s) for {report.candidates} candidate(s),"
        f" {report.duplicates} duplicate(s) skipped, in {elapsed:.2f}s ({rate:,.0f}/s)"
    )


@app.command()
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
    count = generator.write_jsonl(out_file, candidates=candidates, seed=seed, until=end)
    out.print(f"{out_file}: {count} touchpoint(s) for {candidates} candidate(s), seed {seed}")


@app.command()
def schemas(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the schema files.")] = Path(
        "schemas"
    ),
) -> None:
    """Write the JSON Schemas: the import format, and every message type on the topics."""
    from infra.streaming.messages import message_schemas

    out_dir.mkdir(parents=True, exist_ok=True)
    documents = {"touchpoint.schema.json": import_schema(), **message_schemas()}
    for name, schema in documents.items():
        (out_dir / name).write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2) + b"\n")
    out.print(f"wrote {len(documents)} schemas to {out_dir}/ (import: touchpoint.schema.json)")


@app.command()
def summary(db: DbOption = None, database_url: UrlOption = None) -> None:
    """What the ledger holds: touchpoints by type, candidates by status and role."""
    with opened_ledger(settings_for(db, database_url)) as ledger:
        _print_summary(ledger)


@app.command()
def rebuild(
    batch: Annotated[int, typer.Option(min=1, help="Events per view transaction.")] = 50_000,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Drop every view and rebuild it from the first event."""
    with following(settings_for(db, database_url)) as follower:
        follower.batch = batch
        total = follower.recorder.max_notification_id() or 0
        started = time.perf_counter()
        with bulk_mode(), _progress() as progress:
            task = progress.add_task("rebuilding", total=total)
            count = follower.rebuild(on_progress=lambda n: progress.advance(task, n))
    elapsed = time.perf_counter() - started
    out.print(f"rebuilt every view from {count} event(s) in {elapsed:.2f}s")


@app.command()
def follow(
    poll: Annotated[float, typer.Option(min=0.01, help="Seconds between polls.")] = 0.05,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Keep the views current as touchpoints are recorded (until interrupted)."""
    with following(settings_for(db, database_url)) as follower:
        try:
            follower.follow(poll_seconds=poll)
        except KeyboardInterrupt:
            out.print(f"stopped at positions {follower.positions()}")


app.command("journey")(journey_command)
app.command("metrics")(metrics_command)
app.command("alerts")(alerts_command)
app.add_typer(kafka_app, name="kafka")
app.command("relay")(relay_command)
app.command("consume")(consume_command)
# Compliance, apart from the recruiting commands above (see domain.access).
app.add_typer(audit_app, name="audit")
app.command("erase")(erase_command)
app.command("serve")(serve_command)
app.command("record")(record_command)
app.command("inbound")(inbound_command)
app.add_typer(token_app, name="token")


@app.command()
def demo(
    candidates: Annotated[int, typer.Option(min=1)] = 2000,
    seed: Annotated[int, typer.Option()] = 42,
    workdir: Annotated[Path, typer.Option(help="Where the demo's files go.")] = Path("var/demo"),
    serve: Annotated[
        bool, typer.Option("--serve", help="Then serve the dashboard on 127.0.0.1:8080.")
    ] = False,
) -> None:
    """Generate a history, import it into a fresh embedded ledger, summarise it; the dashboard."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    data = workdir / "touchpoints.jsonl"
    generate(out_file=data, candidates=candidates, seed=seed, until=None)
    import_file(file=data, db=workdir / "rapport.db", allow_erasures=True)
    settings = settings_for(workdir / "rapport.db")
    with opened_ledger(settings) as ledger:
        _print_summary(ledger)
    with current_views(settings) as store:
        _print_engagement_report(store)
    out.print(
        f"\nExplore: rapport metrics --db {workdir / 'rapport.db'} --by role,channel"
        f" | rapport alerts --db {workdir / 'rapport.db'} --as-of 2026-10-31"
        f" | rapport journey C-000042 --db {workdir / 'rapport.db'}"
    )
    out.print(
        f"Audit it: rapport audit verify --db {workdir / 'rapport.db'}"
        f" | rapport audit export C-000042 --db {workdir / 'rapport.db'} --format csv"
    )
    out.print(
        f"Stream it: rapport kafka up; rapport relay --db {workdir / 'rapport.db'};"
        f" rapport consume --group ops --db {workdir / 'rapport.db'}"
    )
    from domain.access import UserRole
    from infra.http.tokens import add_token

    token = add_token(settings.tokens_path, UserRole.VIEWER, "demo")
    out.print(
        f"Dashboard: rapport serve --db {workdir / 'rapport.db'} (or make demo-serve), then open"
        " http://127.0.0.1:8080/login and paste the viewer token"
        f" {token} (only its digest is kept, in {settings.tokens_path})",
        markup=False,
        highlight=False,
    )
    if serve:
        serve_command(db=workdir / "rapport.db")


def _print_engagement_report(store: ViewStore) -> None:
    """The source document's claims, measured on the generated history."""
    from infra.read.alerts import open_alerts
    from infra.read.metrics import candidate_experience, engagement_report
    from infra.synthetic import generator

    end = generator.DEFAULT_UNTIL
    as_of = end.timestamp()
    report = Table(
        "status",
        "personalization",
        "engagement (95% interval, 1 in N)",
        "generator's truth",
        "inside?",
        title=f"Engagement within 30 days of an outreach, as of {end:%Y-%m-%d}",
    )
    for segment in engagement_report(store, ["status", "personalization"], as_of=as_of):
        status, kind = segment.values["status"], segment.values["personalization"]
        truth = generator.GROUND_TRUTH.engagement.get((status, kind))  # type: ignore[call-overload]
        low, high = segment.engagement.interval
        inside = "" if truth is None else ("yes" if low <= truth <= high else "no")
        report.add_row(
            str(status),
            str(kind),
            str(segment.engagement),
            f"{truth:.0%}" if truth else "-",
            inside,
        )
    out.print(report)
    out.print(
        "Templated messages measure above their per-message truth: an automated follow-up inside"
        " the first message's 30 days can engage too (about 8.5% passive, 18% active expected)."
    )
    experience = candidate_experience(store, as_of=as_of)
    out.print(
        f"Candidate experience: {experience.personal_within_sla} of {experience.applications:,}"
        f" applications got a personal touch within {experience.sla_hours:g} hours;"
        f" {experience.automated_only:,} got only an automated acknowledgement."
    )
    alerts = open_alerts(store, as_of)
    by_rule = Table("rule", "open alerts", title=f"Stale-contact alerts open on {end:%Y-%m-%d}")
    for rule in sorted({a.rule for a in alerts}):
        by_rule.add_row(rule, f"{sum(a.rule == rule for a in alerts):,}")
    out.print(by_rule)


def _print_summary(ledger: Ledger) -> None:
    result = LedgerSummary()
    for event in ledger.history():
        result.apply(event)
    out.print(
        f"\n[bold]Ledger[/bold] {ledger.settings.store_description}: {result.events} touchpoints,"
        f" {result.candidates} candidates, from {_day(result.first_occurred)}"
        f" to {_day(result.last_occurred)}"
    )
    out.print(f"personal touches {result.personal_touches}, automated {result.automated_touches}")
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


def main() -> None:
    try:
        app()
    except AlertRulesError as bad_rules:
        err.print(f"RAPPORT_ALERT_RULES: {bad_rules}", markup=False, highlight=False)
        sys.exit(ExitCode.INVALID)


if __name__ == "__main__":
    main()
