"""``rapport record`` (touchpoints and position facts from standard input) and ``rapport inbound``
(from a topic).

``record`` answers as the write API does, one JSON line per touchpoint on stdout, with the
CLI's exit codes: 0 recorded or duplicate; 2 invalid (each line and field named, nothing
recorded); 3 refused (the reasons; counted; nothing recorded); 4 the store kept conflicting;
6 an ``erasure_requested`` without ``--allow-erasures`` (nothing recorded).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from domain.access import UserRole
from infra.cli.common import ExitCode, err, opened_ledger, require_writable, say, settings_for
from infra.cli.options import DbOption, UrlOption

AllowErasures = Annotated[
    bool,
    typer.Option(
        "--allow-erasures",
        help="Record erasure_requested lines too (compliance's act: it destroys the key).",
    ),
]


def operator_roles(allow_erasures: bool) -> frozenset[UserRole]:
    """Whom the command line acts as: recruiting work, and compliance's only when asked."""
    return frozenset({UserRole.RECRUITER, UserRole.COMPLIANCE} if allow_erasures else {
        UserRole.RECRUITER})  # fmt: skip


def read_items(raw: bytes) -> tuple[list[Any], list[int], list[str]]:
    """One JSON object (or an array of them), or JSON Lines: the items, the line each came from
    (an array's item ``i`` is "line" ``i + 1``), and the problems by line, worded as
    ``rapport import`` words them."""
    from infra.intake.capture import read_body
    from infra.intake.importing import BOM, json_problem, load_json

    whole = read_body(raw)
    if whole is not None:
        return whole, list(range(1, len(whole) + 1)), []
    items, numbers, problems = [], [], []
    for number, line in enumerate(raw.removeprefix(BOM).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(load_json(line))
            numbers.append(number)
        except (ValueError, UnicodeDecodeError):
            problems.append(f"line {number}: (line): {json_problem(line)}")
    return items, numbers, problems


def record_command(
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            help="Identifies touchpoints without a source_id: sent again, a duplicate;"
            " with other content, refused (exit 2).",
        ),
    ] = None,
    allow_erasures: AllowErasures = False,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Record touchpoints from standard input (one JSON object, or JSON Lines) in one go."""
    import orjson

    from infra.intake.capture import CaptureRefused, capture, not_permitted, validate
    from infra.store.ledger import ConflictPersisted, IdempotencyKeyReused

    items, numbers, problems = read_items(sys.stdin.buffer.read())
    if not items and not problems:
        problems = ["(input): no touchpoint on standard input"]
    lines, errors = validate(items, idempotency_key)
    # Lines count from 1 here, as in an import file (e.line is the item's index).
    problems += [f"line {numbers[e.line]}: {e.field}: {e.message}" for e in errors]
    problems.sort(key=lambda text: int(text.split()[1].rstrip(":")) if text[:5] == "line " else 0)
    if problems:
        for problem in problems:
            say(problem)
        err.print("nothing was recorded")
        raise typer.Exit(ExitCode.INVALID)
    forbidden = not_permitted(lines, operator_roles(allow_erasures))
    if forbidden:
        for problem in forbidden:
            say(f"line {numbers[problem.index]}: type: {problem.message} (--allow-erasures)")
        err.print("nothing was recorded")
        raise typer.Exit(ExitCode.NOT_PERMITTED)
    with opened_ledger(settings_for(db, database_url)) as ledger:
        require_writable(ledger)
        try:
            outcomes = capture(ledger, lines, "record")
        except CaptureRefused as refused:
            for index, refusal in refused.refusals:
                err.print(
                    f"line {numbers[index]}: {refusal.field}: {refusal.message} [{refusal.code}]",
                    markup=False,
                    highlight=False,
                )
            err.print("nothing was recorded")
            raise typer.Exit(ExitCode.REFUSED) from None
        except IdempotencyKeyReused as reused:
            say(f"--idempotency-key: {reused}")
            err.print("nothing was recorded")
            raise typer.Exit(ExitCode.INVALID) from None
        except ConflictPersisted as busy:
            say(str(busy))
            raise typer.Exit(ExitCode.STORE) from None
    for outcome in outcomes:
        answer = outcome.as_dict()
        answer["line"] = numbers[answer.pop("index")]
        typer.echo(orjson.dumps(answer).decode())


def inbound_command(
    group: Annotated[
        str, typer.Option("--group", help="The consumer group recording the inbound topic.")
    ] = "capture",
    instance: Annotated[
        str | None,
        typer.Option(help="Static member id: a restarted process takes its partitions back."),
    ] = None,
    batch: Annotated[int, typer.Option(min=1, max=2_000, help="Messages per transaction.")] = 500,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Record the touchpoints other systems produce to <prefix>.inbound.v1, each exactly once."""
    from consumers.inbound import InboundRecorder
    from infra.cli.options import group_name
    from infra.cli.streaming import run_until_stopped

    group = group_name(group)
    settings = settings_for(db, database_url)
    run_until_stopped(
        settings, lambda: InboundRecorder.connect(settings, group, instance=instance, batch=batch)
    )
