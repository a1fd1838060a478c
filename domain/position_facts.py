"""What happens to a position (a client's requisition) while the firm fills it.

A position is opened with what a fitting candidate brings (role, therapeutic areas, trial
phases, certifications, where, experience), changed as the client refines it, and ends filled
by a candidate or closed for a reason. Touchpoints of the hiring process (application,
shortlist, interview, offer, hire) refer to it by the same requisition id in their
``position`` field. Nothing here is personal: a position describes a job, not a person, so its
facts travel whole on the ``positions`` topic.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal, Self
from uuid import UUID, uuid5

from pydantic import Field, StringConstraints, TypeAdapter, model_validator

from domain.touchpoints import (
    CandidateRef,
    Identifier,
    Instant,
    KeyedFact,
    SourceId,
)
from domain.vocabulary import (
    Certification,
    PositionCloseReason,
    Role,
    TherapeuticArea,
    TrialPhase,
)

POSITION_NAMESPACE = UUID("0c8e3f57-6d1a-4b2e-8f49-3a7d5e1b9c62")

JobTitle = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]
"""The title the client advertises ("Senior CRA, oncology, phase II"): about a job, never a
person."""
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Years = Annotated[int, Field(ge=0, le=60)]
Areas = Annotated[list[TherapeuticArea], Field(max_length=11)]
Phases = Annotated[list[TrialPhase], Field(max_length=4)]
Certifications = Annotated[list[Certification], Field(max_length=8)]


@lru_cache(maxsize=1 << 14)
def position_id(requisition: str) -> UUID:
    """The ledger's id of a position, derived from its requisition id so every writer agrees."""
    return uuid5(POSITION_NAMESPACE, requisition)


class PositionFact(KeyedFact):
    """What every position fact says: which requisition, when, and who did it."""

    source_prefix = "position-src:"

    type: str
    position: Identifier
    """The requisition id, as the hiring touchpoints' ``position`` names it."""
    occurred_at: Instant
    source_id: SourceId | None = None
    recruiter: Identifier | None = None

    @property
    def position_id(self) -> UUID:
        return position_id(self.position)

    @property
    def stream_id(self) -> UUID:
        return position_id(self.position)


def _no_overlap(required: list[Certification], preferred: list[Certification]) -> None:
    if both := sorted(set(required) & set(preferred)):
        raise ValueError(
            f"{', '.join(both)} is both required and preferred: name it in one list only"
        )


class PositionOpened(PositionFact):
    """A requisition the firm is asked to fill, and what a fitting candidate brings."""

    type: Literal["position_opened"] = "position_opened"
    recruiter: Identifier
    title: JobTitle
    role: Role
    therapeutic_areas: Areas = Field(default_factory=list)
    trial_phases: Phases = Field(default_factory=list)
    required_certifications: Certifications = Field(default_factory=list)
    preferred_certifications: Certifications = Field(default_factory=list)
    country: Country | None = None
    remote: bool = False
    min_years: Years | None = None
    client: Identifier | None = None
    """The client's or sponsor's reference (an id, never a name of a person)."""

    @model_validator(mode="after")
    def _where(self) -> Self:
        if self.country is None and not self.remote:
            raise ValueError("name the country, or set remote to true")
        _no_overlap(self.required_certifications, self.preferred_certifications)
        return self


class PositionUpdated(PositionFact):
    """The client refined the requisition: each field given replaces the one before; a field
    left out (or null) is unchanged."""

    type: Literal["position_updated"] = "position_updated"
    title: JobTitle | None = None
    role: Role | None = None
    therapeutic_areas: Areas | None = None
    trial_phases: Phases | None = None
    required_certifications: Certifications | None = None
    preferred_certifications: Certifications | None = None
    country: Country | None = None
    remote: bool | None = None
    min_years: Years | None = None
    client: Identifier | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if not self.changes:
            raise ValueError("a position_updated changes at least one field")
        return self

    @property
    def changes(self) -> dict[str, object]:
        """The fields this update replaces."""
        return {name: getattr(self, name) for name in UPDATABLE if getattr(self, name) is not None}


class PositionFilled(PositionFact):
    """The position is filled by a candidate Rapport knows (their CRM reference)."""

    type: Literal["position_filled"] = "position_filled"
    candidate: CandidateRef


class PositionClosed(PositionFact):
    """The position ended without Rapport recording whom it was filled by."""

    type: Literal["position_closed"] = "position_closed"
    reason: PositionCloseReason


UPDATABLE = tuple(
    name for name in PositionOpened.model_fields if name not in PositionFact.model_fields
)
"""What a ``position_updated`` may change: everything an opening describes."""

AnyPositionFact = Annotated[
    PositionOpened | PositionUpdated | PositionFilled | PositionClosed,
    Field(discriminator="type"),
]

POSITION_CATALOGUE: dict[str, type[PositionFact]] = {
    cls.model_fields["type"].default: cls
    for cls in (PositionOpened, PositionUpdated, PositionFilled, PositionClosed)
}
"""Every position fact by its ``type`` name, in the order a position meets them."""

POSITION_FACT = TypeAdapter(AnyPositionFact)
