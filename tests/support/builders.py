"""Builders of test data: the instants every story starts from, and touchpoints with sensible
defaults (validated like an import line)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.position_facts import POSITION_FACT, PositionFact
from domain.touchpoints import TOUCHPOINT, Touchpoint

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
"""The ledger's clock in tests that fix it."""


def at(days: float = 0, hours: float = 0) -> str:
    """An ISO instant ``days`` after 2026-05-01, the start of every test story."""
    return (datetime(2026, 5, 1, 9, 0, tzinfo=UTC) + timedelta(days=days, hours=hours)).isoformat()


def tp(kind: str, candidate: str = "C-1", when: str | None = None, **fields: Any) -> Touchpoint:
    """A touchpoint of ``kind`` with sensible defaults, validated like an import line."""
    defaults: dict[str, dict[str, Any]] = {
        "candidate_registered": {
            "role": "cra",
            "status": "passive",
            "personal": {"name": "Ada Okafor", "email": "ada.okafor@example.org"},
        },
        "outreach_sent": {
            "channel": "email",
            "personalization": "personalized",
            "recruiter": "rec-1",
        },
        "reply_received": {"channel": "email", "sentiment": "interested"},
        "call_held": {"recruiter": "rec-1"},
        "application_acknowledged": {"automated": True, "position": "REQ-1"},
        "added_to_talent_pool": {"pool": "pool-onc", "recruiter": "rec-1"},
        "removed_from_talent_pool": {
            "pool": "pool-onc",
            "reason": "not_a_fit",
            "recruiter": "rec-1",
        },
        "content_shared": {"content": "trial_news", "automated": True},
        "personal_note_sent": {"occasion": "check_in", "recruiter": "rec-1"},
        "application_submitted": {"position": "REQ-1"},
        "shortlisted": {"position": "REQ-1", "recruiter": "rec-1"},
        "interview_scheduled": {"position": "REQ-1", "recruiter": "rec-1"},
        "offer_extended": {"position": "REQ-1", "recruiter": "rec-1"},
        "offer_accepted": {"position": "REQ-1"},
        "offer_declined": {"position": "REQ-1", "reason": "compensation"},
        "hired": {"position": "REQ-1", "recruiter": "rec-1"},
        "profile_enriched": {"change": "promotion"},
        "match_dismissed": {"position": "REQ-1", "reason": "not_a_fit", "recruiter": "rec-1"},
    }
    data = {"type": kind, "candidate": candidate, "occurred_at": when or at()}
    data |= defaults.get(kind, {})
    data |= fields
    return TOUCHPOINT.validate_python(data)


def pf(kind: str, position: str = "REQ-1", when: str | None = None, **fields: Any) -> PositionFact:
    """A position fact of ``kind`` with sensible defaults, validated like an import line."""
    defaults: dict[str, dict[str, Any]] = {
        "position_opened": {
            "title": "Senior CRA, oncology",
            "role": "cra",
            "therapeutic_areas": ["oncology"],
            "trial_phases": ["phase_ii"],
            "required_certifications": ["gcp"],
            "country": "DE",
            "min_years": 3,
            "client": "sponsor-7",
            "recruiter": "rec-1",
        },
        "position_updated": {"min_years": 5, "recruiter": "rec-1"},
        "position_filled": {"candidate": "C-1", "recruiter": "rec-1"},
        "position_closed": {"reason": "cancelled", "recruiter": "rec-1"},
    }
    data = {"type": kind, "position": position, "occurred_at": when or at()}
    data |= defaults.get(kind, {})
    data |= fields
    return POSITION_FACT.validate_python(data)
