"""The compliance commands: ``rapport audit ...`` and ``rapport erase``.

They are kept apart from the recruiting commands, each tagged with the operation it performs
(``domain.access``), so the HTTP layer can require the compliance role for exactly these.

Exit codes: 0 done (or the chains are intact); 2 invalid input; 3 refused (an unknown or
already erased candidate); 4 the store could not be reached; 5 verification found a broken link.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from domain.vocabulary import ErasureReason
from infra.cli.common import (
    ExitCode,
    opened_ledger,
    out,
    require_writable,
    say,
    settings_for,
    settings_to_read,
)
from infra.cli.options import DbOption, UrlOption, checked_format

if TYPE_CHECKING:
    from infra.compliance.audit import CandidateRecord
    from infra.store.ledger import Ledger

audit_app = typer.Typer(
    help="Compliance (role: compliance): contact-history and subject-access exports, the"
    " tamper-evidence check, the refusal log and erasures.",
    no_args_is_help=True,
)

OutOption = Annotated[
    Path | None, typer.Option("--out", help="Write to this file (atomically) instead of stdout.")
]


@audit_app.command("export")
def export_command(
    candidate: Annotated[str, typer.Argument(help="The candidate's CRM reference.")],
    fmt: Annotated[str, typer.Option("--format", help="json or csv.")] = "json",
    out_file: OutOption = None,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Every touchpoint of a candidate, in order: what, when, who, channel, consent, fingerprint."""
    checked_format(fmt, ("json", "csv"))
    import orjson

    from domain.refusals import Refused
    from infra.compliance import audit

    with opened_ledger(settings_to_read(db, database_url)) as ledger:
        try:
            export = audit.contact_history_export(ledger, candidate)
        except Refused as unknown:
            say(str(unknown))
            raise typer.Exit(ExitCode.REFUSED) from None
    if fmt == "csv":
        _emit(export.csv().encode(), out_file)
    else:
        _emit(orjson.dumps(export.document(), option=orjson.OPT_INDENT_2) + b"\n", out_file)


@audit_app.command("subject-access")
def subject_access_command(
    candidate: Annotated[str, typer.Argument(help="The candidate's CRM reference.")],
    out_file: OutOption = None,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Everything Rapport holds about the person (GDPR Article 15), personal data opened."""
    import orjson

    from infra.compliance import audit

    with opened_ledger(settings_to_read(db, database_url)) as ledger:
        _loaded(ledger, candidate)
        document = audit.subject_access(ledger, candidate, generated_at=ledger.clock())
    _emit(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n", out_file)


@audit_app.command("verify")
def verify_command(
    candidate: Annotated[
        str | None, typer.Argument(help="Only this candidate's chain (default: the ledger).")
    ] = None,
    anchor: Annotated[
        str | None,
        typer.Option(
            "--anchor",
            help="POSITION:LINK printed by an earlier verification and kept elsewhere: the"
            " ledger must still hold exactly that link there.",
        ),
    ] = None,
    kafka: Annotated[
        bool,
        typer.Option(
            "--kafka",
            help="Also check the ledger against the checkpoint the relay published to"
            " <prefix>.checkpoints.v1 (a copy the ledger's host cannot roll back).",
        ),
    ] = False,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Check the hash chains; name the first broken link (exit 5) or print the head."""
    from domain.refusals import Refused
    from infra.compliance import audit
    from infra.store.chain_key import ChainKeyInvalid

    anchored = _anchor(anchor) if anchor else None
    with opened_ledger(settings_to_read(db, database_url)) as ledger:
        published = None
        if kafka and ledger.chain_key is not None:
            from kafka.errors import KafkaError

            from infra.store.checkpoints import CheckpointInvalid, CheckpointMissing
            from infra.streaming.checkpoint_copy import published_checkpoint

            try:
                published = published_checkpoint(ledger.settings, ledger.chain_key)
            except CheckpointMissing as missing:
                say(f"--kafka: {missing}")
                raise typer.Exit(ExitCode.INVALID) from None
            except CheckpointInvalid as altered:
                say(f"BROKEN: {altered}.")
                raise typer.Exit(ExitCode.BROKEN) from None
            except KafkaError as down:
                bootstrap = ledger.settings.kafka_bootstrap
                say(f"--kafka: no broker answers at {bootstrap} ({type(down).__name__})")
                raise typer.Exit(ExitCode.STORE) from None
        try:
            result = audit.verify(ledger, candidate, anchor=anchored, published=published)
        except Refused as unknown:
            say(str(unknown))
            raise typer.Exit(ExitCode.REFUSED) from None
        except ChainKeyInvalid as unusable:
            say(f"cannot verify: {unusable}")
            raise typer.Exit(ExitCode.INVALID) from None
        if result.broken is not None:
            broken = result.broken
            if not broken.candidate_id:  # the ledger as a whole (its tail, its checkpoint)
                where = f"BROKEN at position {broken.position}" if broken.position else "BROKEN"
                say(f"{where}: {broken.problem}. {result.events} event(s) before it verified.")
                raise typer.Exit(ExitCode.BROKEN)
            reference = audit.reference_of(ledger, broken.candidate_id) or "unknown"
            version = f", version {broken.version}" if broken.version is not None else ""
            say(
                f"BROKEN at position {broken.position}: candidate {reference}"
                f" ({broken.candidate_id}){version}: {broken.problem}."
                f" {result.events} event(s) before it verified."
            )
            raise typer.Exit(ExitCode.BROKEN)
    scope = f"candidate {candidate}" if candidate else "ledger"
    out.print(
        f"{scope} intact: {result.events} event(s), {result.candidates} candidate(s);"
        f" head {result.head_position}:{result.head_link.hex()}",
        markup=False,
        highlight=False,
    )


@audit_app.command("refusals")
def refusals_command(
    candidate: Annotated[str | None, typer.Option(help="Only this candidate's.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Touchpoints the rules refused (consent withdrawn, frequency cap...), counted by reason."""
    checked_format(fmt, ("table", "json"))
    import orjson
    from rich.table import Table

    with opened_ledger(settings_to_read(db, database_url)) as ledger:
        refusals = ledger.ledger_recorder.refusals(candidate)
    by_code: dict[str, list[int]] = {}
    for refusal in refusals:
        counts = by_code.setdefault(refusal.code, [0, 0])
        counts[0] += 1
        counts[1] += refusal.attempts
    if fmt == "json":
        document = {
            "by_reason": {
                code: {"touchpoints": n, "attempts": a} for code, (n, a) in by_code.items()
            },
            "refusals": [asdict(refusal) for refusal in refusals],
        }
        out.print_json(orjson.dumps(document).decode())
        return
    if not refusals:
        say(f"no touchpoint was refused{'' if candidate is None else f' for {candidate}'}")
        return
    summary = Table("reason", "touchpoints refused", "attempts", title="Refused touchpoints")
    for code, (touchpoints, attempts) in sorted(by_code.items()):
        summary.add_row(code, f"{touchpoints:,}", f"{attempts:,}")
    detail = Table("candidate", "type", "happened", "reason", "attempts", "via", "why")
    for refusal in refusals:
        detail.add_row(
            refusal.candidate,
            refusal.type,
            refusal.occurred_at,
            refusal.code,
            str(refusal.attempts),
            refusal.source,
            refusal.message,
        )
    out.print(summary, detail)


@audit_app.command("erasures")
def erasures_command(db: DbOption = None, database_url: UrlOption = None) -> None:
    """Every erasure: when, why, and whether the database files were cleaned of the key."""
    from rich.table import Table

    from infra.compliance import audit

    with opened_ledger(settings_to_read(db, database_url)) as ledger:
        erasures = ledger.ledger_recorder.erasures()
        if not erasures:
            say("no candidate was erased")
            return
        table = Table("candidate", "erased at", "reason", "files scrubbed at")
        for erasure in erasures:
            reference = audit.reference_of(ledger, erasure.candidate_id.hex) or "?"
            table.add_row(
                reference, erasure.erased_at, erasure.reason, erasure.scrubbed_at or "pending"
            )
    out.print(table)


def erase_command(
    candidate: Annotated[str, typer.Argument(help="The candidate's CRM reference.")],
    reason: Annotated[
        ErasureReason, typer.Option("--reason", help="Why the personal data is erased.")
    ],
    by: Annotated[
        str | None,
        typer.Option("--by", help="Your id (the compliance officer), kept in the record."),
    ] = None,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Erase a candidate's personal data (GDPR Article 17): their key is destroyed (compliance)."""
    from pydantic import ValidationError

    from domain.refusals import Refused
    from infra.store.recorder import ErasureRow

    with opened_ledger(settings_for(db, database_url)) as ledger:
        require_writable(ledger)
        try:
            recorded = ledger.erase(candidate, reason, requested_by=by)
        except Refused as refused:
            say(f"{refused.message} [{refused.code}]")
            raise typer.Exit(ExitCode.REFUSED) from None
        except ValidationError as invalid:
            for error in invalid.errors(include_url=False, include_input=False):
                field = ".".join(str(p) for p in error["loc"]) or "candidate"
                say(f"{field}: {error['msg']}")
            raise typer.Exit(ExitCode.INVALID) from None
        pending = [e for e in ledger.ledger_recorder.erasures() if not e.scrubbed_at]
    if isinstance(recorded, ErasureRow):
        out.print(
            f"candidate {candidate} was already erased at {recorded.erased_at}"
            f" ({recorded.reason}); nothing more to do",
            markup=False,
            highlight=False,
        )
        return
    position = recorded.position
    out.print(
        f"erased candidate {candidate} at position {position}: their key is destroyed and their"
        " personal data can no longer be read anywhere it was stored"
        + ("" if not pending else "; the files' clean-up waits for a reader to finish"),
        markup=False,
        highlight=False,
    )


def _loaded(ledger: Ledger, candidate: str) -> CandidateRecord:
    from domain.refusals import Refused
    from infra.compliance import audit

    try:
        return audit.load(ledger, candidate)
    except Refused as unknown:
        say(str(unknown))
        raise typer.Exit(ExitCode.REFUSED) from None


def _anchor(text: str) -> tuple[int, bytes]:
    position, _, link = text.partition(":")
    try:
        anchored = (int(position), bytes.fromhex(link))
    except ValueError:
        anchored = (0, b"")
    if anchored[0] < 1 or len(anchored[1]) != 32:
        typer.echo(f"--anchor: expected POSITION:LINK (64 hex digits), got {text!r}", err=True)
        raise typer.Exit(ExitCode.INVALID)
    return anchored


def _emit(data: bytes, out_file: Path | None) -> None:
    """To stdout, or to a file that appears whole or not at all."""
    if out_file is None:
        typer.echo(data.decode(), nl=False)
        return
    out_file.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=out_file.parent, prefix=f".{out_file.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, out_file)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
