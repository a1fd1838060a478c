"""Why candidates said no, or not now: replies broken down by their reason.

Why here: a query over the replies view (``projections/replies.py``) joined with the journey
header for the candidate's status, role and owner, at any "as of" instant. A reply that gave no
reason (every reply recorded before reasons existed, and many since) counts as ``not said``, so
the shares always add up to the replies of that kind.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from infra.read.reader import Reader
from projections.rates import Rate

NOT_SAID = "not said"
DECLINING = ("not_interested", "not_now")
"""The sentiments a reason explains."""

REASON_DIMENSIONS: dict[str, str] = {
    "channel": "r.channel",
    "status": "c.status",
    "role": "c.role",
    "recruiter": "c.recruiter",
}
"""What the reasons can be broken down by besides the sentiment (the candidate's owner as
``recruiter``)."""


@dataclass(frozen=True, slots=True)
class ReasonShare:
    """One reason's share of the replies of one sentiment (in one segment)."""

    sentiment: str
    values: dict[str, str | None]
    reason: str
    share: Rate
    """Replies giving this reason, out of the segment's replies of this sentiment."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "sentiment": self.sentiment,
            **self.values,
            "reason": self.reason,
            "replies": self.share.successes,
            "share": self.share.as_dict(),
        }


def parse_reason_dimensions(text: str) -> list[str]:
    by = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if unknown := [name for name in by if name not in REASON_DIMENSIONS]:
        raise ValueError(
            f"unknown dimension(s) {', '.join(unknown)}; choose from {', '.join(REASON_DIMENSIONS)}"
        )
    return by


def reply_reasons(store: Reader, as_of: float, by: Sequence[str] = ()) -> list[ReasonShare]:
    """Per sentiment (not interested, not now) and segment: each reason's share of the replies
    that happened by ``as_of``, most given first."""
    parse_reason_dimensions(",".join(by))
    columns = [REASON_DIMENSIONS[name] for name in by]
    head = "".join(f"{c}, " for c in columns)
    rows = store.query(
        f"SELECT r.sentiment, {head}coalesce(r.reason, '{NOT_SAID}'), COUNT(*) FROM view_replies r"
        " LEFT JOIN view_journey_candidates c ON c.candidate_id = r.candidate_id"
        f" WHERE r.replied_at <= ? AND r.sentiment IN ('{DECLINING[0]}', '{DECLINING[1]}')"
        f" GROUP BY r.sentiment, {head}coalesce(r.reason, '{NOT_SAID}')",
        [as_of],
    )
    totals: dict[tuple[Any, ...], int] = defaultdict(int)
    for sentiment, *rest in rows:
        totals[(sentiment, *rest[:-2])] += int(rest[-1])
    found = [
        ReasonShare(
            sentiment=sentiment,
            values=dict(zip(by, rest[:-2], strict=True)),
            reason=rest[-2],
            share=Rate(int(rest[-1]), totals[(sentiment, *rest[:-2])]),
        )
        for sentiment, *rest in rows
    ]
    found.sort(
        key=lambda r: (
            DECLINING.index(r.sentiment),
            tuple((v is not None, v or "") for v in r.values.values()),
            -r.share.successes,
            r.reason,
        )
    )
    return found
