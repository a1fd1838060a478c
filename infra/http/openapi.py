"""The OpenAPI document as the server really behaves, so strangers' tools can rely on it.

FastAPI documents what it sees: the write endpoints read their bodies themselves (strictly, see
``infra.intake.capture.read_body``), the door answers 401/413/404 before any route runs, and our own
answers (409 refusals, 503 while busy) are built by hand. Here the document gets the import
format as components its bodies refer to, the two ways to present a token, and every answer an
operation can give, with its body.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from domain.position_facts import POSITION_FACT
from domain.touchpoints import TOUCHPOINT
from infra.http.bodies import ErasureRequest, ShortlistRequest
from infra.http.guard import TOKEN_COOKIE
from infra.intake.capture import MAX_BATCH

REF = "#/components/schemas/{model}"
PROBES = frozenset({"/api/v1/health", "/api/v1/ready"})
"""Answered without a token (an orchestrator's liveness and readiness checks)."""
NAMING = frozenset({"/api/v1/erasures", "/api/v1/metrics/compare"})
"""Operations without a path parameter that still name something that may not exist (404)."""
PROBLEM = {
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "anyOf": [
                {"type": "string"},
                {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["loc", "msg", "type"],
                        "properties": {
                            "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                            "msg": {"type": "string"},
                            "type": {"type": "string"},
                        },
                    },
                },
            ]
        }
    },
}
"""Every error of the API: ``detail`` is a sentence, or the fields at fault (``loc``)."""
REFUSED = {
    "type": "object",
    "required": ["status", "recorded"],
    "properties": {
        "status": {"enum": ["refused", "conflict"]},
        "recorded": {"const": 0},
        "code": {"type": "string"},
        "field": {"type": ["string", "null"]},
        "message": {"type": "string"},
        "refusals": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "code", "message"],
                "properties": {
                    "index": {"type": "integer"},
                    "code": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                    "message": {"type": "string"},
                },
            },
        },
    },
}
"""A write the rules refused, or an idempotency key reused with other content."""

ANSWERS = {
    "401": "No valid token (answered before any body is read).",
    "403": "The token's role may not do this (for a write: an item it may not record).",
    "404": "No such candidate or position, a compared value the report does not hold, or a"
    " path with an encoded slash.",
    "409": "Refused by the rules, or an Idempotency-Key reused with other content.",
    "413": "The body is over RAPPORT_MAX_BODY_BYTES, or a batch over the batch limit.",
    "422": "A parameter or a field is invalid (named in detail[].loc).",
    "503": "Not ready, or the store kept conflicting (Retry-After).",
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _problem(status: str) -> dict[str, Any]:
    return {"description": ANSWERS[status]} | _json({"$ref": REF.format(model="Problem")})


def _add(schemas: dict[str, Any], parts: dict[str, Any]) -> None:
    """The import format's parts beside the answers' models: one name, one schema (an answer
    named like a touchpoint type would silently lose its schema)."""
    for name, schema in parts.items():
        if schemas.get(name, schema) != schema:
            raise ValueError(f"two schemas named {name} in the OpenAPI document")
        schemas[name] = schema


def document(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    touchpoint = TOUCHPOINT.json_schema(ref_template=REF)
    _add(schemas, touchpoint.pop("$defs", {}))
    schemas["Touchpoint"] = touchpoint | {"title": "Touchpoint (one line of an import file)"}
    position = POSITION_FACT.json_schema(ref_template=REF)
    _add(schemas, position.pop("$defs", {}))
    schemas["PositionFact"] = position | {"title": "A position's fact (an import file's line)"}
    schemas["Problem"] = PROBLEM
    schemas["Refused"] = REFUSED
    doc["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "rapport token add"},
        "cookie": {"type": "apiKey", "in": "cookie", "name": TOKEN_COOKIE,
                   "description": "set by POST /login"},
    }  # fmt: skip
    doc["security"] = [{"bearer": []}, {"cookie": []}]
    one = {"$ref": REF.format(model="Touchpoint")}
    fact = {"$ref": REF.format(model="PositionFact")}
    erasure = ErasureRequest.model_json_schema(ref_template=REF)
    _add(schemas, erasure.pop("$defs", {}))
    schemas["ErasureRequest"] = erasure
    shortlist = ShortlistRequest.model_json_schema(ref_template=REF)
    _add(schemas, shortlist.pop("$defs", {}))
    schemas["ShortlistRequest"] = shortlist
    bodies = {
        "/api/v1/erasures": {"$ref": REF.format(model="ErasureRequest")},
        "/api/v1/touchpoints": one,
        "/api/v1/touchpoints/batch": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                                      "items": one},
        "/api/v1/positions": fact,
        "/api/v1/positions/{position}/shortlist": {"$ref": REF.format(model="ShortlistRequest")},
        "/api/v1/positions/batch": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                                    "items": fact},
    }  # fmt: skip
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            answers = operation.setdefault("responses", {})
            if path in PROBES:  # no token, no parameter: only their own answers
                operation["security"] = []
                answers.pop("422", None)
                continue
            statuses = ["401", "403", "422"]
            if "{" in path or path in NAMING:
                statuses.append("404")
            if method == "post":
                statuses += ["409", "413"]
            if method == "post":
                statuses.append("503")
            for status in statuses:
                answers[status] = _problem(status)
            if method == "post" and path in bodies:
                operation["requestBody"] = {"required": True} | _json(bodies[path])
            if method == "post" and path in bodies and path != "/api/v1/erasures":
                answers["409"] = {"description": ANSWERS["409"]} | _json(
                    {"$ref": REF.format(model="Refused")}
                )
    app.openapi_schema = doc
    return doc
