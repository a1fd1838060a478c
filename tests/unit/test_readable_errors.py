"""Validation errors as people read them: fields named as the import format names them, none of
pydantic's internals (union members, "Value error, "), and type names after the right article."""

import orjson
import pytest
from pydantic import ValidationError

from domain.access import with_article
from domain.lines import LINE
from domain.touchpoints import readable_errors


def _readable(line: dict[str, object]) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as invalid:
        LINE.validate_json(orjson.dumps(line), strict=True)
    return readable_errors(invalid.value)


REGISTERED = {"type": "candidate_registered", "candidate": "C-1", "role": "cra",
              "status": "passive", "occurred_at": "2026-01-01T00:00:00Z"}  # fmt: skip


def test_union_members_are_left_out_of_paths_and_hidden_ones_out_of_the_list() -> None:
    said = _readable(REGISTERED | {"personal": {"name": 5}})
    assert said == [
        (("candidate_registered", "personal", "name"), "Input should be a valid string")
    ]
    said = _readable(REGISTERED | {"personal": "x"})
    assert said == [(("candidate_registered", "personal"), "Input should be an object")]


def test_the_prefixes_of_validators_are_removed() -> None:
    (said,) = _readable(
        REGISTERED | {"personal": {"name": "A"}, "occurred_at": "1960-01-01T00:00:00Z"}
    )
    assert said[1].startswith("must be from 1970-01-01")


@pytest.mark.parametrize(
    ("word", "said"),
    [("erasure_requested", "an erasure_requested"), ("outreach_sent", "an outreach_sent"),
     ("offer_extended", "an offer_extended"), ("shortlisted", "a shortlisted")],
)  # fmt: skip
def test_type_names_get_their_article(word: str, said: str) -> None:
    assert with_article(word) == said
