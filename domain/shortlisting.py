"""Putting candidates on a position's short list, saying where each came from.

The source document's promise is that "any short list of candidates we compile are ideally
suited to the role"; whether the pool delivers them is only measurable if each shortlisting says
whether it came from the pool's match (with the rank and score the candidate had when picked) or
from sourcing of another kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from domain.touchpoints import Shortlisted
from domain.vocabulary import ShortlistSource


class NotAmongMatches(ValueError):
    """Shortlisting "from the match" someone the position's match list does not hold."""

    def __init__(self, candidates: Sequence[str], position: str) -> None:
        self.candidates = list(candidates)
        super().__init__(
            f"not among position {position}'s matches: {', '.join(candidates)}"
            " (shortlist them without --from-match, as sourced)"
        )


def shortlistings(
    position: str,
    candidates: Sequence[str],
    *,
    recruiter: str,
    at: datetime,
    matched: Mapping[str, tuple[int, float]] | None = None,
) -> list[Shortlisted]:
    """One ``shortlisted`` touchpoint per candidate, by ``recruiter`` at ``at``. ``matched``:
    the match list they were picked from (each listed candidate's rank and score): every one of
    them must be in it. Without it, they were sourced otherwise."""
    if matched is not None:
        missing = [candidate for candidate in candidates if candidate not in matched]
        if missing:
            raise NotAmongMatches(missing, position)
    found = []
    for candidate in candidates:
        attribution: dict[str, object] = {"source": ShortlistSource.SOURCED}
        if matched is not None:
            rank, score = matched[candidate]
            attribution = {
                "source": ShortlistSource.POOL_MATCH,
                "match_rank": rank,
                "match_score": score,
            }
        found.append(
            Shortlisted(
                candidate=candidate,
                occurred_at=at,
                recruiter=recruiter,
                position=position,
                **attribution,  # type: ignore[arg-type]
            )
        )
    return found
