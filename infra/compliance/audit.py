"""What compliance reads: a candidate's contact history, the subject-access export, the chains.

Everything here reads the ledger itself (not the views): what an auditor is shown is what was
recorded, in the order it was recorded, each entry with the fingerprint its chain link covers.
Personal data is opened only for the subject-access export, with the candidate's own key.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import StoredEvent

from domain.candidate import CandidateEvent
from domain.consent import ConsentHistory
from domain.refusals import UnknownCandidate
from domain.touchpoints import (
    CandidateRegistered,
    ConsentGiven,
    OptedOut,
    Touchpoint,
    actor_of,
    candidate_id,
)
from infra.store.chain import (
    Anchor,
    BrokenLink,
    LinkRow,
    SealedRow,
    Verification,
    digest,
    verify_candidate,
    verify_ledger,
)
from infra.store.chain_key import ChainKeyInvalid
from infra.store.checkpoints import Checkpoint, CheckpointInvalid, read_checkpoint
from infra.store.ledger import Ledger
from infra.store.sealing import is_sealed, unseal

AUDIT_COLUMNS = (
    "position",
    "version",
    "type",
    "occurred_at",
    "recorded_at",
    "actor",
    "by",
    "channel",
    "personalization",
    "contact_by_us",
    "consent",
    "fingerprint",
    "link",
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded touchpoint as compliance sees it (no personal data)."""

    position: int
    version: int
    type: str
    occurred_at: str
    recorded_at: str
    actor: str
    """recruiter, automation, candidate, crm (an import without a recruiter) or compliance."""
    by: str | None
    """The recruiter's (or compliance officer's) id, when one is named."""
    channel: str | None
    personalization: str | None
    contact_by_us: bool
    consent: str
    """The consent in force when it happened, as recorded up to this entry."""
    fingerprint: str
    """SHA-256 of the stored event (personal data still sealed): what its chain link covers."""
    link: str
    """The candidate chain link of this entry."""


@dataclass(frozen=True, slots=True)
class CandidateRecord:
    reference: str
    candidate_id: UUID
    rows: list[SealedRow]
    events: list[CandidateEvent]
    links: dict[int, LinkRow]


def load(ledger: Ledger, reference: str) -> CandidateRecord:
    cid = candidate_id(reference)
    recorder = ledger.ledger_recorder
    rows = recorder.sealed_rows_of(cid)
    if not rows:
        raise UnknownCandidate(f"candidate {reference} is not registered")
    events = [ledger.mapper.to_domain_event(_stored(row)) for row in rows]
    links = {link.position: link for link in recorder.link_rows_of(cid)}
    return CandidateRecord(reference, cid, rows, events, links)


def contact_history(record: CandidateRecord) -> list[AuditEntry]:
    """Every touchpoint of the candidate in the order it was recorded."""
    consent = ConsentHistory()
    entries = []
    for row, event in zip(record.rows, record.events, strict=True):
        touchpoint = event.touchpoint
        if isinstance(touchpoint, ConsentGiven):
            consent.given(touchpoint.occurred_at, touchpoint.basis)
        elif isinstance(touchpoint, OptedOut):
            consent.opted_out(touchpoint.occurred_at, touchpoint.scope)
        link = record.links.get(row.position)
        actor, by = _actor(touchpoint)
        entries.append(
            AuditEntry(
                position=row.position,
                version=row.version,
                type=touchpoint.type,
                occurred_at=touchpoint.occurred_at.isoformat(),
                recorded_at=event.timestamp.isoformat(),
                actor=actor,
                by=by,
                channel=_value(getattr(touchpoint, "channel", None)),
                personalization=_value(getattr(touchpoint, "personalization", None)),
                contact_by_us=touchpoint.contact_by_us,
                consent=str(consent.at(touchpoint.occurred_at)),
                fingerprint=digest(row).hex(),
                link=link.candidate_link.hex() if link else "",
            )
        )
    return entries


@dataclass(frozen=True, slots=True)
class ContactHistoryExport:
    """``rapport audit export`` and ``GET /audit/{candidate}``: one document, two formats."""

    record: CandidateRecord
    entries: list[AuditEntry]
    refusals: list[Any]

    def document(self) -> dict[str, Any]:
        return {
            "candidate": self.record.reference,
            "candidate_id": str(self.record.candidate_id),
            "touchpoints": [asdict(entry) for entry in self.entries],
            "refused_touchpoints": [asdict(refusal) for refusal in self.refusals],
        }

    def csv(self) -> str:
        """The touchpoints only: one row each, ``AUDIT_COLUMNS`` in order."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=AUDIT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(asdict(entry) for entry in self.entries)
        return buffer.getvalue()


def contact_history_export(ledger: Ledger, reference: str) -> ContactHistoryExport:
    """The candidate's contact history and refused touchpoints; ``UnknownCandidate`` if none."""
    record = load(ledger, reference)
    refusals = list(ledger.ledger_recorder.refusals(reference))
    return ContactHistoryExport(record, contact_history(record), refusals)


def subject_access(ledger: Ledger, reference: str, *, generated_at: datetime) -> dict[str, Any]:
    """Everything Rapport holds about one person (GDPR Art. 15), as one JSON document."""
    record = load(ledger, reference)
    recorder = ledger.ledger_recorder
    key = recorder.candidate_key(record.candidate_id)
    erasures = recorder.erasures(record.candidate_id)
    registered = record.events[0].touchpoint
    assert isinstance(registered, CandidateRegistered)
    topics = ledger.settings.kafka_topic_prefix
    touchpoints = []
    for row, entry, event in zip(record.rows, contact_history(record), record.events, strict=True):
        details = event.touchpoint.model_dump(mode="json", exclude={"personal"})
        touchpoints.append(
            asdict(entry) | {"details": details, "personal": _opened(row, key, erasures)}
        )
    settings = ledger.settings
    return {
        "subject": {"candidate": reference, "candidate_id": str(record.candidate_id)},
        "generated_at": generated_at.isoformat(),
        "erased": bool(erasures),
        "erasure": asdict(erasures[0]) | {"candidate_id": str(erasures[0].candidate_id)}
        if erasures
        else None,
        "personal_data": _opened(record.rows[0], key, erasures),
        "profile": registered.model_dump(mode="json", exclude={"personal"}),
        "touchpoints": touchpoints,
        "refused_touchpoints": [asdict(r) for r in recorder.refusals(reference)],
        "processing": {
            "purpose": "recruitment for clinical-research roles: contact history, engagement"
            " measurement, candidate-experience follow-up",
            "source": registered.source.value,
            "storage": settings.store_description,
            "recipients": [
                f"Kafka topic {topics}.touchpoints.v2: what happened and when, keyed by the"
                " ledger's candidate id; no name, contact detail, text, CRM reference or profile",
                f"Kafka topic {topics}.candidates.v1: the CRM reference and the registration's"
                " profile, compacted; an erasure publishes a tombstone and the record is"
                " compacted away within about a day",
                f"Kafka topic {topics}.alerts.v2: stale-contact alerts by candidate id and"
                " recruiter, kept 90 days; no CRM reference",
            ],
            "protection": "personal data sealed with AES-256-GCM under a key of this candidate"
            " alone; erasure destroys the key",
        },
    }


def verify(
    ledger: Ledger,
    reference: str | None = None,
    *,
    anchor: tuple[int, bytes] | None = None,
    published: Checkpoint | None = None,
    batch: int = 20_000,
) -> Verification:
    """Check the chains: one candidate's, or the whole ledger's (both chains at once, and the
    ledger against its keyed checkpoint). ``ChainKeyInvalid`` when the key cannot be used."""
    if ledger.chain_tampered:
        return Verification(broken=BrokenLink(0, "", None, str(ledger.chain_problem)))
    if ledger.chain_problem is not None:
        raise ChainKeyInvalid(ledger.chain_problem)
    key = ledger.chain_key
    recorder = ledger.ledger_recorder
    if reference is not None:
        cid = candidate_id(reference)
        rows, links = recorder.sealed_rows_of(cid), recorder.link_rows_of(cid)
        if not rows and not links:
            raise UnknownCandidate(f"candidate {reference} is not registered")
        return verify_candidate(rows, links, key)
    anchors = [Anchor(*anchor)] if anchor else []
    path = ledger.settings.checkpoint_path
    try:
        checkpoint = read_checkpoint(path, key) if key else None
    except CheckpointInvalid as altered:
        return Verification(broken=BrokenLink(0, "", None, str(altered)))
    if checkpoint is not None:
        if key is not None and checkpoint.keyed_from != key.keyed_from:
            problem = (
                f"{path} says links are keyed from {checkpoint.keyed_from}, the ledger"
                f" from {key.keyed_from}: one of them was altered"
            )
            return Verification(broken=BrokenLink(0, "", None, problem))
        anchors.append(Anchor(checkpoint.position, checkpoint.head, f"the checkpoint in {path}"))
    if published is not None:  # the copy the relay carried to the checkpoints topic
        if key is not None and published.keyed_from != key.keyed_from:
            problem = (
                f"the checkpoint on Kafka says links are keyed from {published.keyed_from},"
                f" the ledger from {key.keyed_from}: the ledger's record was altered"
            )
            return Verification(broken=BrokenLink(0, "", None, problem))
        anchors.append(Anchor(published.position, published.head, "the checkpoint on Kafka"))
    if checkpoint is None and recorder.chain_head() is not None:
        problem = (
            f"the checkpoint kept outside the database is missing ({path}):"
            " a tail cut off with its links could not be seen (RAPPORT_CHECKPOINT_FILE)"
        )
        return Verification(broken=BrokenLink(0, "", None, problem))
    return verify_ledger(
        _paged(recorder.sealed_rows, batch), _paged(recorder.link_rows, batch), anchors, key
    )


def reference_of(ledger: Ledger, candidate_hex: str) -> str | None:
    """The CRM reference of a candidate id (or a position's requisition id), read from their
    first event that still decodes."""
    try:
        rows = ledger.ledger_recorder.sealed_rows_of(UUID(candidate_hex))
    except ValueError:
        return None
    for row in rows:
        try:
            stored = orjson.loads(row.state)
            if "fact" in stored:
                return f"position {stored['fact']['position']}"
            return str(stored["touchpoint"]["candidate"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue
    return None


def _paged(read: Any, batch: int) -> Iterator[Any]:
    start = 1
    while True:
        rows = read(start, batch)
        if not rows:
            return
        yield from rows
        start = rows[-1].position + 1


def _opened(row: SealedRow, key: bytes | None, erasures: list[Any]) -> Any:
    sealed = orjson.loads(row.state)["touchpoint"].get("personal")
    if sealed is None:
        return None
    if not is_sealed(sealed):
        return sealed  # recorded before personal data was sealed
    if key is None:
        return "erased" if erasures else "unavailable: the candidate's key is missing"
    return orjson.loads(unseal(key, UUID(row.candidate_id), row.version, sealed))


def _stored(row: SealedRow) -> StoredEvent:
    return StoredEvent(
        originator_id=UUID(row.candidate_id),
        originator_version=row.version,
        topic=row.topic,
        state=row.state,
    )


def _actor(touchpoint: Touchpoint) -> tuple[str, str | None]:
    fields = {"recruiter", "automated", "requested_by"} & type(touchpoint).model_fields.keys()
    return actor_of(touchpoint.type, {name: getattr(touchpoint, name) for name in fields})


def _value(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))
