"""The candidates topic: who a candidate id is, and their profile, apart from what happened.

A touchpoint on the touchpoints topic says what happened and when, keyed by the ledger's
candidate id; the CRM's reference and the profile (role, status, source, areas, phases,
certifications, years, country) are pseudonymous personal data, so they travel only here, on a
compacted topic keyed by the same id, one current record per candidate. An erasure publishes a
tombstone (a null value) under the candidate's key: once the topic is compacted, no record of
the person is left on any topic that is kept, and the ``erasure_requested`` touchpoint tells
every consumer to forget what it derived.

A consumer joins the two by candidate id (``identified``). The relay commits a batch's records
in the same transaction as the batch's touchpoints; a consumer that sees a touchpoint (read
committed) and not its record reads the candidates topic on until no transaction is open below
the end it saw (the commit marker reaches each partition in turn): a record missing then means
the candidate was erased and the topic compacted. A consumer that read a record keeps it until it
has folded the erasure (the tombstone names its ledger position), so it joins the touchpoints
before the erasure as they were published; one that starts after the compaction never learns
who the person was.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any, Literal
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict, Field, create_model

from domain.touchpoints import CandidateRef, CandidateRegistered, Certification
from projections.base import Fact

RECORD_TYPE = "candidate"
RECORD_SCHEMA_VERSION = 1
Header = tuple[str, bytes]
RECORD_HEADERS: list[Header] = [
    ("type", RECORD_TYPE.encode()),
    ("schema_version", str(RECORD_SCHEMA_VERSION).encode()),
]
TOMBSTONE_TYPE = b"candidate_erased"
ERASED_AT = "erased_at_position"
"""A tombstone's header: the ledger position of the ``erasure_requested`` touchpoint."""


def tombstone_headers(position: int) -> list[Header]:
    return [("type", TOMBSTONE_TYPE), (ERASED_AT, str(position).encode())]


PROFILE_FIELDS: tuple[str, ...] = (
    "role",
    "status",
    "source",
    "therapeutic_areas",
    "trial_phases",
    "certifications",
    "years_experience",
    "country",
)
"""What a registration says about the person: on the candidates topic, never on a touchpoint."""

ABOUT_THE_PERSON: dict[str, tuple[str, ...]] = {
    "candidate_registered": PROFILE_FIELDS,
    "profile_enriched": ("certification",),
}
"""The fields of each touchpoint type that describe the person, beyond ``candidate`` (the CRM's
reference, on every type) and ``personal`` (never published at all)."""

IDENTITY = "candidate"
NOT_PUBLISHED: tuple[str, ...] = ("personal", "source_id")
"""Fields no topic carries: personal data, and the CRM's id of the touchpoint, which a CRM may
make of the candidate's own reference (``crm-C-9-2``); consumers deduplicate by ``event_id``."""


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CertificationGained(_Message):
    version: int = Field(ge=1, description="The `profile_enriched` event that noticed it.")
    certification: Certification


@cache
def profile_model() -> type[BaseModel]:
    """A registration's profile fields, with the import format's own types."""
    fields = CandidateRegistered.model_fields
    return create_model(  # type: ignore[call-overload, no-any-return]
        "CandidateProfile",
        __config__=ConfigDict(extra="forbid", frozen=True),
        __doc__="What the candidate's registration says about them (the import format's fields).",
        **{name: (fields[name].annotation, fields[name]) for name in PROFILE_FIELDS},
    )


class CandidateRecord(_Message):
    """A candidate's current record on ``<prefix>.candidates.v1`` (compacted; key:
    ``candidate_id``). A null value under the key is the erasure's tombstone."""

    type: Literal["candidate"] = RECORD_TYPE
    schema_version: Literal[1] = RECORD_SCHEMA_VERSION
    candidate_id: UUID = Field(description="The ledger's candidate id; the message key.")
    candidate: CandidateRef = Field(description="The CRM's reference of the candidate.")
    position: int = Field(
        ge=1, description="Ledger position of the latest event this record reflects."
    )
    profile: Any = Field(description="The registration's profile fields, as in the import format.")
    certifications_gained: list[CertificationGained] = Field(
        default_factory=list,
        description="Certifications `profile_enriched` events noticed later, by event version.",
    )


@cache
def record_model() -> type[CandidateRecord]:
    return create_model(  # type: ignore[call-overload, no-any-return]
        "CandidateRecordMessage",
        __base__=CandidateRecord,
        __doc__=CandidateRecord.__doc__,
        profile=(profile_model(), ...),
    )


# --- the relay's side ------------------------------------------------------------------------


def take_the_person_out(touchpoint: dict[str, Any]) -> dict[str, Any]:
    """Remove (in place) and return what a stored touchpoint says about the person: the CRM's
    reference and its type's profile fields. ``NOT_PUBLISHED`` fields are dropped, never
    returned."""
    for name in NOT_PUBLISHED:
        touchpoint.pop(name, None)
    about = {IDENTITY: touchpoint.pop(IDENTITY, None)}
    for name in ABOUT_THE_PERSON.get(touchpoint["type"], ()):
        if name in touchpoint:
            about[name] = touchpoint.pop(name)
    return about


def record_value(
    candidate_id: str,
    registration: dict[str, Any],
    gained: list[tuple[int, str]],
    position: int,
) -> bytes:
    """A record's JSON from what the registration said about the person (``take_the_person_out``
    of it) and the certifications noticed since, (version, certification) in order."""
    document = {
        "type": RECORD_TYPE,
        "schema_version": RECORD_SCHEMA_VERSION,
        "candidate_id": candidate_id,
        "candidate": registration[IDENTITY],
        "position": position,
        "profile": {name: registration[name] for name in PROFILE_FIELDS if name in registration},
        "certifications_gained": [
            {"version": version, "certification": certification}
            for version, certification in gained
        ],
    }
    return orjson.dumps(document)


# --- the consumer's side ---------------------------------------------------------------------


def awaited(fact: Fact, records: dict[str, dict[str, Any]]) -> bool:
    """Whether ``records`` lack what ``identified`` joins to this touchpoint: the candidate's
    record, or for a ``profile_enriched`` a record as new as it (the certification it noticed,
    if any, is there; the touchpoint does not say whether it noticed one). Such a record may be
    committed and not yet readable (its commit marker on the way), or never come (no
    certification, or compacted after an erasure): the consumer reads on to the high
    watermark, no further."""
    record = records.get(fact.candidate_id)
    if record is None:
        return True
    return fact.type == "profile_enriched" and int(record["position"]) < fact.position


def identified(fact: Fact, records: dict[str, dict[str, Any]]) -> Fact:
    """The touchpoint as the ledger holds it (without the ``NOT_PUBLISHED`` fields, which no
    projection reads), its person joined back from the candidate's record. Without a record
    (the candidate was erased) every field about the person is null: the touchpoint still
    counts, in no segment of the person's."""
    record = records.get(fact.candidate_id)
    data = dict(fact.data)
    data[IDENTITY] = record[IDENTITY] if record else None
    if fact.type == "candidate_registered":
        profile = record["profile"] if record else dict.fromkeys(PROFILE_FIELDS)
        data.update(profile)
    elif fact.type == "profile_enriched":
        gained = (record or {}).get("certifications_gained", ())
        data["certification"] = next(
            (g["certification"] for g in gained if g["version"] == fact.version), None
        )
    return replace(fact, data=data)
