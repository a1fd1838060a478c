"""When a consumer must read the candidates topic on before it folds a touchpoint: the relay
commits a batch's records with its touchpoints, and the commit marker reaches the candidates'
partition in its own time (``candidate_records.awaited``)."""

from __future__ import annotations

from typing import Any

from infra.streaming.candidate_records import awaited, identified
from projections.base import Fact

WHO = "6f1c1a52-3d4e-5f60-8a9b-0c1d2e3f4a5b"


def fact(kind: str, position: int, version: int, **data: Any) -> Fact:
    return Fact(position, WHO, version, kind, 0.0, 0.0, {"type": kind, **data})


def record(position: int, gained: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"candidate_id": WHO, "candidate": "C-1", "position": position,
            "profile": {"role": "cra"}, "certifications_gained": gained or []}  # fmt: skip


def test_a_candidate_without_a_record_is_awaited() -> None:
    assert awaited(fact("outreach_sent", 5, 2), {})
    assert awaited(fact("candidate_registered", 1, 1), {})


def test_a_known_candidate_is_not_awaited_except_for_a_newer_enrichment() -> None:
    known = {WHO: record(3)}
    assert not awaited(fact("outreach_sent", 9, 4), known)
    assert not awaited(fact("candidate_registered", 3, 1), known)
    # The certification it noticed is in a record as new as the enrichment, maybe not read yet.
    newer = fact("profile_enriched", 9, 4, change="certification")
    assert awaited(newer, known)
    assert identified(newer, known).data["certification"] is None  # what folding now would do
    caught_up = {WHO: record(9, [{"version": 4, "certification": "gcp"}])}
    assert not awaited(newer, caught_up)
    assert identified(newer, caught_up).data["certification"] == "gcp"
    assert not awaited(fact("profile_enriched", 2, 2, change="promotion"), known)
