"""The contact policy a team sets for itself: how often a candidate may be approached."""

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class ContactPolicy:
    """Limits that protect the candidate experience.

    ``max_outreach`` outreach messages (of any personalization, blasts included) in any rolling
    ``outreach_window``; touchpoints may not claim to have happened more than ``clock_skew``
    after they were recorded.
    """

    max_outreach: int = 3
    outreach_window: timedelta = timedelta(days=14)
    clock_skew: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if self.max_outreach < 1:
            raise ValueError("max_outreach must be at least 1")
        if self.outreach_window <= timedelta(0):
            raise ValueError("outreach_window must be positive")
