"""One line of an import file (and of a live capture): any touchpoint, or a position's fact.

Both kinds share the file because a CRM export holds both, and both are told apart by their
``type``; each goes to its own aggregate's stream in the ledger.
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field, TypeAdapter

from domain.line_schema import URN, dispatched, rules, with_patterns
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


IMPORT_LINE = "import-line"
"""The import line's schema is ``urn:rapport:schema:import-line``."""


def import_schema() -> dict[str, object]:
    """The JSON Schema of one import line: any type, chosen by ``type``, each with its
    cross-field rules (``domain.line_schema``); one self-contained document."""
    generated = LINE.json_schema(ref_template=f"{URN}{IMPORT_LINE}#/$defs/{{model}}")
    shared = generated["$defs"]
    kinds = {
        kind: {**shared.pop(model.__name__), "allOf": rules(model)}
        for kind, model in LINE_CATALOGUE.items()
    }
    for kind_schema in kinds.values():
        if not kind_schema["allOf"]:
            del kind_schema["allOf"]
    return with_patterns(  # type: ignore[no-any-return]
        dispatched(
            IMPORT_LINE, "Rapport import line: a touchpoint or a position's fact", kinds, shared
        )
    )
