"""The published JSON Schemas of a topic whose messages have one shape per type."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel

from domain.line_schema import DIALECT, dispatched, schema_id, with_patterns


def typed_schemas(
    topic: str, kinds: Iterable[str], model_of: Callable[[str], type[BaseModel]]
) -> dict[str, dict[str, Any]]:
    """``<topic>.<type>.schema.json`` for each type (``$id`` ``urn:rapport:schema:<topic>.<type>``),
    and ``<topic>.schema.json``: any of them, chosen by ``type``, each embedded under its own
    ``$id`` (one self-contained document)."""
    schemas: dict[str, dict[str, Any]] = {}
    embedded: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        schema = with_patterns(model_of(kind).model_json_schema())
        embedded[kind] = dict(schema)
        schemas[f"{topic}.{kind}.schema.json"] = {
            "$schema": DIALECT,
            "$id": schema_id(f"{topic}.{kind}"),
            **schema,
        }
    name = topic.split(".")[0]
    title = f"Any message on the {name} topic (chosen by `type`)"
    schemas[f"{topic}.schema.json"] = dispatched(topic, title, embedded)
    return schemas
