"""One line of an import file (and of a live capture): any touchpoint, or a position's fact.

Both kinds share the file because a CRM export holds both, and both are told apart by their
``type``; each goes to its own aggregate's stream in the ledger.
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field, TypeAdapter

from domain.position_facts import POSITION_CATALOGUE, PositionFact
from domain.touchpoints import CATALOGUE, KeyedFact, Touchpoint

LINE_CATALOGUE: dict[str, type[KeyedFact]] = {**CATALOGUE, **POSITION_CATALOGUE}
"""Every type a line may have: the touchpoints, then the position facts."""

AnyLine = Annotated[
    Union[tuple(LINE_CATALOGUE.values())],  # noqa: UP007 (a Union built from the catalogue)
    Field(discriminator="type"),
]
LINE = TypeAdapter[Touchpoint | PositionFact](AnyLine)
"""Validates one line of any type (the import format)."""


def import_schema() -> dict[str, object]:
    """The JSON Schema of one import line, generated from the models."""
    schema = LINE.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Rapport import line: a touchpoint or a position's fact"
    return schema
