"""A first read model: what the ledger holds, at a glance (the demo's summary).

Like every projection it is a fold, ``summary.apply(event)``, and knows nothing of where the
events come from.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.touchpoints import CandidateRegistered, OutreachSent


@dataclass
class LedgerSummary:
    events: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    candidates_by_status: Counter[str] = field(default_factory=Counter)
    candidates_by_role: Counter[str] = field(default_factory=Counter)
    outreach_by_personalization: Counter[str] = field(default_factory=Counter)
    personal_touches: int = 0
    automated_touches: int = 0
    first_occurred: datetime | None = None
    last_occurred: datetime | None = None

    positions_by_type: Counter[str] = field(default_factory=Counter)
    """Facts about positions (their own streams), by type: not touchpoints."""

    def apply(self, event: Any) -> None:
        touchpoint = getattr(event, "touchpoint", None)
        if touchpoint is None:  # a position's fact
            self.positions_by_type[event.fact.type] += 1
            return
        self.events += 1
        self.by_type[touchpoint.type] += 1
        if isinstance(touchpoint, CandidateRegistered):
            self.candidates_by_status[touchpoint.status.value] += 1
            self.candidates_by_role[touchpoint.role.value] += 1
        elif isinstance(touchpoint, OutreachSent):
            self.outreach_by_personalization[touchpoint.personalization.value] += 1
        if touchpoint.is_personal_touch:
            self.personal_touches += 1
        elif getattr(touchpoint, "automated", False):
            self.automated_touches += 1
        moment = touchpoint.occurred_at
        if self.first_occurred is None or moment < self.first_occurred:
            self.first_occurred = moment
        if self.last_occurred is None or moment > self.last_occurred:
            self.last_occurred = moment

    @property
    def candidates(self) -> int:
        return self.by_type["candidate_registered"]
