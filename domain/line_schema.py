"""The JSON Schema side of the import format: stable ids, the dispatch on ``type``, and the
cross-field rules the models' validators enforce, said again so that any standard validator
(not only pydantic) accepts and refuses the lines the import does.

Schemas are named by URN (``urn:rapport:schema:<name>``): an absolute, stable ``$id`` that no
network serves, so every published document is self-contained: each type's schema is embedded
with its own ``$id`` and every ``$ref`` is absolute, and a validator resolves them from the one
file, wherever it lies. The dispatch is ``if``/``then`` on ``type`` (not ``oneOf``, whose errors
are every alternative's, and not ``discriminator``, which only OpenAPI reads), so a wrong
channel is reported at ``channel``.

What a JSON Schema cannot say, the import alone checks (README, "Import format"): a reply's
``follow_up_on`` after the reply's own day, a certification both required and preferred, and
an instant within a day of the bounds whose offset carries it across one.
"""

from __future__ import annotations

from typing import Any

from domain.position_facts import UPDATABLE, PositionOpened, PositionUpdated
from domain.touchpoints import (
    KeyedFact,
    OutreachSent,
    ProfileEnriched,
    ReplyReceived,
    Shortlisted,
    _ByRecruiter,
    _ByUs,
)

URN = "urn:rapport:schema:"
DIALECT = "https://json-schema.org/draft/2020-12/schema"

INSTANT_PATTERN = (
    r"^(19[7-9][0-9]|20[0-9]{2})-[0-9]{2}-[0-9]{2}[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,6})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
"""RFC 3339 (what ``format: date-time`` means) as the import reads it: years 1970 to 2099 (the
touchpoints' bounds), no leap second, at most microseconds."""
DAY_PATTERN = r"^(19[7-9][0-9]|20[0-9]{2})-[0-9]{2}-[0-9]{2}$"

Schema = dict[str, Any]


def schema_id(name: str) -> str:
    return f"{URN}{name}"


def _given(name: str) -> Schema:
    """``name`` is given, and not null."""
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


def _is(name: str, value: object) -> Schema:
    return {"required": [name], "properties": {name: {"const": value}}}


def _none(*names: str) -> Schema:
    """Each of ``names`` is left out, or null."""
    return {"properties": {name: {"type": "null"} for name in names}}


def _automated(kind: type[KeyedFact]) -> Schema:
    """The line says (or its type's default says) that automation did it."""
    if kind.model_fields["automated"].default:
        return {"not": _is("automated", False)}
    return _is("automated", True)


def rules(kind: type[KeyedFact]) -> list[Schema]:
    """The cross-field rules of a line type, as its model validators enforce them."""
    found: list[Schema] = []
    if issubclass(kind, _ByUs):  # name the recruiter, or set automated to true
        found.append({"if": {"not": _automated(kind)}, "then": _given("recruiter")})
    if issubclass(kind, _ByRecruiter):  # done by a recruiter, not by automation
        found += [{"properties": {"automated": {"const": False}}}, _given("recruiter")]
    if issubclass(kind, ProfileEnriched):  # a certification change names the certification
        found.append({"if": _is("change", "certification"), "then": _given("certification")})
    if issubclass(kind, OutreachSent):  # a personalized message is sent by a recruiter
        found.append(
            {
                "if": _is("personalization", "personalized"),
                "then": {"properties": {"automated": {"const": False}}},
            }
        )
    if issubclass(kind, ReplyReceived):  # a reason for a no or a not-now; a date for a not-now
        found.append({"if": _is("sentiment", "interested"), "then": _none("reason")})
        found.append({"if": {"not": _is("sentiment", "not_now")}, "then": _none("follow_up_on")})
    if issubclass(kind, Shortlisted):  # a pool match gives its rank and score, nothing else does
        found.append(
            {
                "if": _is("source", "pool_match"),
                "then": {"allOf": [_given("match_rank"), _given("match_score")]},
                "else": _none("match_rank", "match_score"),
            }
        )
    if issubclass(kind, PositionOpened):  # name the country, or set remote to true
        found.append({"if": {"not": _is("remote", True)}, "then": _given("country")})
    if issubclass(kind, PositionUpdated):  # changes at least one field
        found.append({"anyOf": [_given(name) for name in UPDATABLE]})
    return found


def with_patterns(schema: Any) -> Any:
    """``schema`` with RFC 3339's shape and the touchpoints' bounds on every instant and day
    (``format`` alone is an annotation to most validators)."""
    if isinstance(schema, dict):
        done = {key: with_patterns(value) for key, value in schema.items()}
        if done.get("format") == "date-time":
            done["pattern"] = INSTANT_PATTERN
        elif done.get("format") == "date":
            done["pattern"] = DAY_PATTERN
        return done
    if isinstance(schema, list):
        return [with_patterns(item) for item in schema]
    return schema


def dispatched(
    name: str, title: str, kinds: dict[str, Schema], shared: dict[str, Schema] | None = None
) -> Schema:
    """One self-contained document ``urn:rapport:schema:<name>``: any of ``kinds`` (each
    embedded under ``$defs`` with its own ``$id``), chosen by ``type``."""
    ids = {kind: schema_id(f"{name}.{kind}") for kind in kinds}
    return {
        "$schema": DIALECT,
        "$id": schema_id(name),
        "title": title,
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": list(kinds)}},
        "allOf": [{"if": _is("type", kind), "then": {"$ref": ids[kind]}} for kind in kinds],
        "$defs": {**(shared or {}), **{kind: {"$id": ids[kind], **kinds[kind]} for kind in kinds}},
    }
