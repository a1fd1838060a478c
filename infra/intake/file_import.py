"""Importing a file: every line validated and every act checked against the operator's roles
before the ledger is touched; then the whole file decided against the ledger, and written in
batches of whole candidates. A file the rules refuse in part is written not at all (the
refusals are counted in the refusal log, except on a dry run)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from domain.access import UserRole
from domain.refusals import Refused
from infra.intake.capture import not_permitted
from infra.intake.importing import LineError, read_touchpoints
from infra.store.ledger import BatchRefused, Ledger, Line


class ImportStopped(Exception):
    """The file was not imported; ``errors`` say why, line by line."""

    def __init__(self, errors: list[LineError]) -> None:
        super().__init__(f"{len(errors)} problem(s)")
        self.errors = errors


class ImportInvalid(ImportStopped):
    """Lines that are not touchpoints (nothing was written)."""


class ImportNotPermitted(ImportStopped):
    """Acts the operator's roles do not allow, such as erasures (nothing was written)."""


class ImportRefused(ImportStopped):
    """Touchpoints the rules refuse. ``after_writing``: a concurrent writer changed candidates
    between the decision and a batch, so earlier batches are kept (a re-run resumes exactly)."""

    def __init__(self, errors: list[LineError], *, after_writing: bool = False) -> None:
        super().__init__(errors)
        self.after_writing = after_writing


@dataclass(frozen=True, slots=True)
class ImportResult:
    lines: int
    events: int
    """Recorded, or on a dry run, that would be."""
    candidates: int
    duplicates: int
    """Lines found already recorded."""
    written: bool


def read_file(
    path: Path, fmt: Literal["auto", "jsonl", "csv"], roles: frozenset[UserRole]
) -> list[Line]:
    """The file's touchpoints, or ``ImportInvalid``/``ImportNotPermitted`` naming every line."""
    lines, errors = read_touchpoints(path, fmt)
    if errors:
        raise ImportInvalid(errors)
    forbidden = not_permitted(lines, roles)
    if forbidden:
        raise ImportNotPermitted([LineError(p.index, p.field, p.message) for p in forbidden])
    return lines


def import_lines(
    ledger: Ledger,
    lines: list[Line],
    *,
    dry_run: bool = False,
    batch_events: int = 20_000,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Decide ``lines`` against the ledger and, unless ``dry_run``, record them."""
    decision = ledger.decide(lines)
    if decision.refusals:
        if not dry_run:
            ledger.note_refusals(lines, decision.refusals, "import")
        raise ImportRefused(_refused(decision.refusals))
    if dry_run:
        return ImportResult(
            len(lines), decision.event_count, len(decision.candidates),
            len(decision.duplicates), written=False,
        )  # fmt: skip
    if on_total is not None:
        on_total(decision.event_count)
    try:
        report = ledger.write(decision, batch_events=batch_events, on_progress=on_progress)
    except BatchRefused as late:
        ledger.note_refusals(lines, late.refusals, "import")
        raise ImportRefused(_refused(late.refusals), after_writing=True) from None
    return ImportResult(
        len(lines), report.events, report.candidates, report.duplicates, written=True
    )


def _refused(refusals: list[tuple[int, Refused]]) -> list[LineError]:
    return [LineError(n, r.field, f"{r.message} [{r.code}]") for n, r in refusals]
