"""The ``rapport`` command line: thin commands over the ledger, the importer and the generator.

Exit codes: 0 done; 1 unexpected failure; 2 invalid input (nothing written); 3 refused by the
business rules (nothing written); 4 the store kept conflicting or could not be reached; 6 not
permitted (an erasure without ``--allow-erasures``; nothing written).
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import orjson
import structlog
import typer
from eventsourcing.persistence import PersistenceError
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from domain.touchpoints import import_schema
from infra.alerts import alerts_command
from infra.capture import not_permitted
from infra.cli_capture import (
    EXIT_NOT_PERMITTED,
    AllowErasures,
    inbound_command,
    operator_roles,
    record_command,
)
from infra.cli_compliance import audit_app, erase_command
from infra.cli_options import AsOfOption, DbOption, GroupOption, UrlOption, checked_group
from infra.cli_serve import serve_command, token_app
from infra.cli_streaming import consume_command, kafka_app, relay_command
from infra.importing import LineError, read_touchpoints
from infra.journeys import NoSuchCandidate, journey, next_due_action
from infra.ledger import BatchRefused, ConflictPersisted, Ledger, bulk_mode
from infra.logging import configure as configure_logging
from infra.metrics import metrics_command
from infra.read_side import current_views, following, parse_as_of
from infra.settings import Settings
from infra.views import ViewStore
from projections.alert_rules import AlertRulesError
from projections.summary import LedgerSummary

EXIT_INVALID, EXIT_REFUSED, EXIT_STORE = 2, 3, 4
MAX_ERRORS_SHOWN = 50

app = typer.Typer(
    name="rapport",
    help="Rapport: every candidate touchpoint as an immutable event.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)
log = structlog.get_logger("rapport.cli")


def _settings(db: Path | None = None, database_url: str | None = None) -> Settings:
    try:
        settings = Settings(database_url=database_url) if database_url else Settings()
    except ValidationError as invalid:
        for error in invalid.errors(include_url=False):
            name = "--database-url" if database_url else f"RAPPORT_{error['loc'][0]}".upper()
            err.print(f"setting {name}: {error['msg']}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INVALID) from None
    if db is not None and not database_url:
        settings = settings.model_copy(update={"db": db, "database_url": None})
    configure_logging(settings.log_level, settings.log_format)
    return settings


@contextmanager
def _ledger(settings: Settings) -> Iterator[Ledger]:
    try:
        ledger = Ledger(settings)
    except PersistenceError as down:
        err.print(f"[red]cannot open the ledger at {settings.store_description}: {down}[/red]")
        raise typer.Exit(EXIT_STORE) from None
    try:
        yield ledger
    finally:
        ledger.close()


def _writable(ledger: Ledger) -> None:
    """Exit 4 when the ledger cannot be written: its links are keyed and the key is unusable
    (writing plain links after keyed ones would be forgeable)."""
    if ledger.chain_problem is not None:
        err.print(f"cannot write to the ledger: {ledger.chain_problem}", markup=False,
                  highlight=False)  # fmt: skip
        raise typer.Exit(EXIT_STORE)


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
    if fmt not in ("auto", "jsonl", "csv"):
        err.print(f"--format: expected auto, jsonl or csv, got {fmt!r}")
        raise typer.Exit(EXIT_INVALID)
    settings = _settings(db, database_url)
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
        raise typer.Exit(EXIT_INVALID)
    forbidden = not_permitted(lines, operator_roles(allow_erasures))
    if forbidden:
        _print_errors(
            f"{file}: {len(forbidden)} erasure(s) without --allow-erasures; nothing was written",
            [LineError(p.index, p.field, p.message) for p in forbidden],
        )
        raise typer.Exit(EXIT_NOT_PERMITTED)
    with _ledger(settings) as ledger:
        if not dry_run:
            _writable(ledger)
        decision = ledger.decide(lines)
        if decision.refusals:
            if not dry_run:
                ledger.note_refusals(lines, decision.refusals, "import")
            _print_errors(
                f"{file}: {len(decision.refusals)} touchpoint(s) refused; nothing was written",
                [LineError(n, r.field, f"{r.message} [{r.code}]") for n, r in decision.refusals],
            )
            raise typer.Exit(EXIT_REFUSED)
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
            raise typer.Exit(EXIT_REFUSED) from None
        except ConflictPersisted as conflict:
            err.print(f"[red]{conflict}[/red]")
            raise typer.Exit(EXIT_STORE) from None
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
    from infra import generator

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
    from infra.messages import message_schemas

    out_dir.mkdir(parents=True, exist_ok=True)
    documents = {"touchpoint.schema.json": import_schema(), **message_schemas()}
    for name, schema in documents.items():
        (out_dir / name).write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2) + b"\n")
    out.print(f"wrote {len(documents)} schemas to {out_dir}/ (import: touchpoint.schema.json)")


@app.command()
def summary(db: DbOption = None, database_url: UrlOption = None) -> None:
    """What the ledger holds: touchpoints by type, candidates by status and role."""
    with _ledger(_settings(db, database_url)) as ledger:
        _print_summary(ledger)


FormatOption = Annotated[str, typer.Option("--format", help="table or json.")]


def _as_of(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_as_of(text)
    except ValueError as bad:
        err.print(f"--as-of: {bad}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INVALID) from None


@app.command("journey")
def journey_command(
    candidate: Annotated[str, typer.Argument(help="The candidate's CRM reference.")],
    as_of: AsOfOption = None,
    fmt: FormatOption = "table",
    group: GroupOption = None,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """A candidate's timeline, stage, last (personal) touch and next due action."""
    moment = _as_of(as_of)
    if fmt not in ("table", "json"):
        err.print(f"--format: expected table or json, got {fmt!r}")
        raise typer.Exit(EXIT_INVALID)
    settings = _settings(db, database_url)
    group = checked_group(group, settings)
    with current_views(settings, group) as store:
        try:
            found = journey(store, candidate, moment)
        except NoSuchCandidate as missing:
            err.print(str(missing))
            raise typer.Exit(EXIT_REFUSED) from None
        next_action = next_due_action(store, found, moment)
    if fmt == "json":
        document = asdict(found) | {"next_due_action": next_action}
        out.print_json(orjson.dumps(document).decode())
        return
    out.print(
        f"[bold]{found.candidate}[/bold] {found.status} {found.role}, owner"
        f" {found.recruiter or '-'} — stage [bold]{found.stage}[/bold]"
    )
    out.print(
        f"last touch {_moment(found.last_touch and found.last_touch.occurred_at)},"
        f" last personal touch"
        f" {_moment(found.last_personal_touch and found.last_personal_touch.occurred_at)};"
        f" next due: {next_action or 'nothing'}"
    )
    timeline = Table("happened", "recorded", "touchpoint", "by", "personal", "detail")
    for column in timeline.columns[:5]:
        column.no_wrap = True
    for step in found.steps:
        timeline.add_row(
            _moment(step.occurred_at),
            _moment(step.recorded_at),
            step.type,
            step.by_whom,
            "yes" if step.personal_touch else "",
            step.detail,
        )
    out.print(timeline)


@app.command()
def rebuild(
    batch: Annotated[int, typer.Option(min=1, help="Events per view transaction.")] = 50_000,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Drop every view and rebuild it from the first event."""
    with following(_settings(db, database_url)) as follower:
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
    with following(_settings(db, database_url)) as follower:
        try:
            follower.follow(poll_seconds=poll)
        except KeyboardInterrupt:
            out.print(f"stopped at positions {follower.positions()}")


def _moment(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M")


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
    settings = _settings(workdir / "rapport.db")
    with _ledger(settings) as ledger:
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
    from infra.api_tokens import add_token

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
    from infra import generator
    from infra.alerts import open_alerts
    from infra.metrics import candidate_experience, engagement_report

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
        sys.exit(EXIT_INVALID)


if __name__ == "__main__":
    main()
