"""Request bodies as the server reads them: raw, after the caller is known, and strictly.

FastAPI would parse a body itself, leniently (a key given twice: the last wins; ``"yes"`` for
``true``) and before the endpoint's dependencies run. The endpoints that take a body read it
here instead, with the JSON reader the import uses (``infra.intake.importing.load_json``).
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.touchpoints import CandidateRef, readable_errors
from domain.vocabulary import ErasureReason
from infra.intake.importing import BOM, load_json, repeated_keys

Model = TypeVar("Model", bound=BaseModel)


async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]
"""The body as sent (the door has already checked who sent it and its size)."""


class ErasureRequest(BaseModel):
    """Who asked is the token's holder: the body does not say (it could say anyone)."""

    model_config = ConfigDict(extra="forbid")

    candidate: CandidateRef
    reason: ErasureReason


class ShortlistRequest(BaseModel):
    """Whom to shortlist; who does it is the token's holder."""

    model_config = ConfigDict(extra="forbid")

    candidates: list[CandidateRef] = Field(min_length=1, max_length=500)
    from_match: bool = False
    """Picked from the position's match list as it ranks them now (rank and score recorded)."""
    include_past_candidates: bool = False
    """The match list they were picked from had silver medallists too."""


def invalid_body(*problems: tuple[list[str | int], str]) -> HTTPException:
    """A 422 shaped like FastAPI's own: each place in the body, and what is wrong there."""
    detail = [{"loc": ["body", *where], "msg": message, "type": "value_error"}
              for where, message in problems]  # fmt: skip
    return HTTPException(422, detail=detail)


def strict_body(raw: bytes, model: type[Model]) -> Model:
    """``raw`` as one ``model``: strict JSON, strict types, or a 422 naming the fields."""
    raw = raw.removeprefix(BOM)
    try:
        repeated = repeated_keys(load_json(raw))
    except (ValueError, UnicodeDecodeError):
        raise invalid_body(([], "the body is not JSON")) from None
    if repeated:
        raise invalid_body(*(([*key.split(".")], "given more than once") for key in repeated))
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as bad:
        # As the import says them: no "Value error, " prefix, no union member's name.
        problems = [(list(loc), message) for loc, message in readable_errors(bad)]
        raise invalid_body(*problems) from None
