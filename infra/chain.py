"""The hash chains that make the ledger tamper-evident.

Every stored event gets a digest of exactly what is stored (candidate id, version, event type
and the stored bytes, personal data still sealed), and two links in ``ledger_chain``:

* the **candidate link** commits to the candidate's previous link, so a candidate's history
  cannot be edited, shortened, extended in the middle or reordered without breaking it;
* the **ledger link** commits to the previous position's link, so no event can be removed or
  slipped in anywhere in the ledger, whoever it is about.

The links are written in the same transaction as the events. Because the digest covers the
ciphertext, an erasure (which destroys the key, not the bytes) leaves every link valid.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from hashlib import sha256
from typing import NamedTuple

GENESIS = bytes(32)
"""The link before the first one (of the ledger, and of each candidate)."""


class SealedRow(NamedTuple):
    """A stored event exactly as it is stored."""

    position: int
    candidate_id: str
    """The candidate's id as 32 hex digits."""
    version: int
    topic: str
    state: bytes


class LinkRow(NamedTuple):
    position: int
    candidate_id: str
    version: int
    candidate_link: bytes
    ledger_link: bytes


def digest(row: SealedRow) -> bytes:
    """The content fingerprint of one stored event."""
    head = b"%s|%d|%s|" % (row.candidate_id.encode(), row.version, row.topic.encode())
    return sha256(head + row.state).digest()


def candidate_link(previous: bytes, fingerprint: bytes) -> bytes:
    return sha256(previous + fingerprint).digest()


def ledger_link(previous: bytes, position: int, fingerprint: bytes) -> bytes:
    return sha256(previous + position.to_bytes(8, "big") + fingerprint).digest()


def links_for(
    rows: Iterable[SealedRow], previous_ledger: bytes, previous_of: dict[str, bytes]
) -> list[LinkRow]:
    """The links of newly stored events, in position order.

    ``previous_of`` maps each candidate whose first new event is not version 1 to its last
    stored candidate link; it is updated as the links are made.
    """
    made = []
    for row in rows:
        fingerprint = digest(row)
        previous = GENESIS if row.version == 1 else previous_of[row.candidate_id]
        mine = candidate_link(previous, fingerprint)
        previous_ledger = ledger_link(previous_ledger, row.position, fingerprint)
        previous_of[row.candidate_id] = mine
        made.append(LinkRow(row.position, row.candidate_id, row.version, mine, previous_ledger))
    return made


@dataclass(frozen=True, slots=True)
class BrokenLink:
    """The first place where what is stored no longer matches its chain."""

    position: int
    candidate_id: str
    version: int | None
    problem: str


@dataclass(slots=True)
class Verification:
    events: int = 0
    candidates: int = 0
    head_position: int = 0
    head_link: bytes = GENESIS
    broken: BrokenLink | None = None

    @property
    def intact(self) -> bool:
        return self.broken is None


def verify_ledger(
    events: Iterator[SealedRow],
    links: Iterator[LinkRow],
    anchor: tuple[int, bytes] | None = None,
) -> Verification:
    """Walk the events and their links side by side, both in position order.

    Stops at the first broken link. ``anchor`` is a (position, ledger link) kept somewhere
    else, for example printed by an earlier verification: it catches a ledger that was cut
    short, or rewritten and chained anew, by someone with write access to the database.
    """
    result = Verification()
    last_link: dict[str, tuple[int, bytes]] = {}
    previous = GENESIS
    event, link = next(events, None), next(links, None)
    while event is not None or link is not None:
        if link is None or (event is not None and event.position < link.position):
            assert event is not None
            return _broken(result, event, "the event has no link: it was inserted after the fact")
        if event is None or link.position < event.position:
            return _broken(result, link, "the event is missing: it was deleted")
        fingerprint = digest(event)
        version, before = last_link.get(event.candidate_id, (0, GENESIS))
        if (event.candidate_id, event.version) != (link.candidate_id, link.version):
            problem = (
                f"the link belongs to version {link.version} of candidate {link.candidate_id}:"
                " the event was moved"
            )
            return _broken(result, event, problem)
        if event.version != version + 1:
            problem = (
                f"version {event.version} follows version {version} of this candidate:"
                " events were removed or reordered"
            )
            return _broken(result, event, problem)
        if candidate_link(before, fingerprint) != link.candidate_link:
            return _broken(
                result, event, "the stored event differs from what was chained: it was edited"
            )
        previous = ledger_link(previous, event.position, fingerprint)
        if previous != link.ledger_link:
            return _broken(result, event, "the ledger link does not follow from the previous one")
        last_link[event.candidate_id] = (event.version, link.candidate_link)
        result.events += 1
        result.head_position, result.head_link = event.position, previous
        if anchor is not None and event.position == anchor[0] and previous != anchor[1]:
            return _broken(result, event, "the ledger link differs from the anchor kept elsewhere")
        event, link = next(events, None), next(links, None)
    result.candidates = len(last_link)
    if anchor is not None and result.head_position < anchor[0]:
        result.broken = BrokenLink(
            anchor[0],
            "",
            None,
            f"the ledger ends at position {result.head_position}, before the anchor",
        )
    return result


def verify_candidate(events: list[SealedRow], links: list[LinkRow]) -> Verification:
    """One candidate's chain: versions 1..n, each link following from the one before."""
    result = Verification(candidates=1 if events or links else 0)
    by_version = {link.version: link for link in links}
    before = GENESIS
    for expected, event in enumerate(events, start=1):
        link = by_version.pop(event.version, None)
        if event.version != expected:
            missing = f"version {expected} is missing: it was deleted or moved"
            result.broken = BrokenLink(event.position, event.candidate_id, expected, missing)
            return result
        if link is None or link.position != event.position:
            return _broken(
                result, event, "the event has no link at its position: it was inserted or moved"
            )
        mine = candidate_link(before, digest(event))
        if mine != link.candidate_link:
            return _broken(
                result, event, "the stored event differs from what was chained: it was edited"
            )
        before = mine
        result.events += 1
        result.head_position, result.head_link = event.position, mine
    leftover = min(by_version.values(), default=None)
    if leftover is not None:
        return _broken(result, leftover, "the event is missing: it was deleted")
    return result


def _broken(result: Verification, at: SealedRow | LinkRow, problem: str) -> Verification:
    result.broken = BrokenLink(at.position, at.candidate_id, at.version, problem)
    return result
