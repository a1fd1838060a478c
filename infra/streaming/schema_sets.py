"""The published JSON Schemas of a topic whose messages have one shape per type."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel


def typed_schemas(
    topic: str, kinds: Iterable[str], model_of: Callable[[str], type[BaseModel]], dialect: str
) -> dict[str, dict[str, Any]]:
    """``<topic>.<type>.schema.json`` for each type, and ``<topic>.schema.json``: any of them
    (a consumer chooses the schema by ``type``)."""
    schemas: dict[str, dict[str, Any]] = {}
    union: list[dict[str, Any]] = []
    for kind in kinds:
        schema = model_of(kind).model_json_schema()
        schema["$schema"] = dialect
        schemas[f"{topic}.{kind}.schema.json"] = schema
        union.append({"$ref": f"{topic}.{kind}.schema.json"})
    name = topic.split(".")[0]
    schemas[f"{topic}.schema.json"] = {
        "$schema": dialect,
        "$id": f"{topic}.schema.json",
        "title": f"Any message on the {name} topic (choose the schema by `type`)",
        "oneOf": union,
    }
    return schemas
