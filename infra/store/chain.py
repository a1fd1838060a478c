"""The hash chains that make the ledger tamper-evident.

Every stored event gets a digest of exactly what is stored (candidate id, version, event type
and the stored bytes, personal data still sealed), and two links in ``ledger_chain``:

* the **candidate link** commits to the candidate's previous link, so a candidate's history
  cannot be edited, shortened, extended in the middle or reordered without breaking it;
* the **ledger link** commits to the previous position's link, so no event can be removed or
  slipped in anywhere in the ledger, whoever it is about.

The links are written in the same transaction as the events. Because the digest covers the
ciphertext, an erasure (which destroys the key, not the bytes) leaves every link valid.

The links are keyed (HMAC-SHA-256) with a secret kept outside the database (``ChainKey``): the
algorithm is public, so plain hashes could be recomputed by anyone who can write the tables,
after an edit or a cut. A keyed checkpoint (position, head) kept outside the database, too,
then shows a tail cut off together with its links (``infra.store.checkpoints``).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Iterator, Sequence
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


@dataclass(frozen=True, slots=True)
class ChainKey:
    """The chain's secret, and the position from which links are keyed with it.

    Links before ``keyed_from`` were made before keys existed (plain SHA-256): anyone who can
    write the database can recompute those. The first keyed ledger link commits to the last
    plain one, so once a keyed event exists, the plain prefix cannot be rewritten either.
    """

    secret: bytes
    keyed_from: int

    def keys(self, position: int) -> bytes | None:
        return self.secret if position >= self.keyed_from else None

    @property
    def key_id(self) -> str:
        """Names the secret without revealing it (to tell a wrong key from a forged link)."""
        return hmac.digest(self.secret, b"rapport chain key id", "sha256")[:8].hex()

    def seal(self, message: bytes) -> bytes:
        """A MAC only the key's holder can make (checkpoints, the ``keyed_from`` row)."""
        return hmac.digest(self.secret, b"rapport checkpoint|" + message, "sha256")


def digest(row: SealedRow) -> bytes:
    """The content fingerprint of one stored event."""
    head = b"%s|%d|%s|" % (row.candidate_id.encode(), row.version, row.topic.encode())
    return sha256(head + row.state).digest()


def _link(key: bytes | None, message: bytes) -> bytes:
    return hmac.digest(key, message, "sha256") if key else sha256(message).digest()


def candidate_link(previous: bytes, fingerprint: bytes, key: bytes | None = None) -> bytes:
    return _link(key, previous + fingerprint)


def ledger_link(
    previous: bytes, position: int, fingerprint: bytes, key: bytes | None = None
) -> bytes:
    return _link(key, previous + position.to_bytes(8, "big") + fingerprint)


def links_for(
    rows: Iterable[SealedRow],
    previous_ledger: bytes,
    previous_of: dict[str, bytes],
    chain_key: ChainKey | None = None,
    fingerprints: Sequence[bytes] | None = None,
) -> list[LinkRow]:
    """The links of newly stored events, in position order (keyed from ``keyed_from`` on).

    ``previous_of`` maps each candidate whose first new event is not version 1 to its last
    stored candidate link; it is updated as the links are made. ``fingerprints``: each row's
    ``digest``, when a bulk import computed them beforehand (in its worker processes).
    """
    made = []
    for index, row in enumerate(rows):
        fingerprint = digest(row) if fingerprints is None else fingerprints[index]
        key = chain_key.keys(row.position) if chain_key else None
        previous = GENESIS if row.version == 1 else previous_of[row.candidate_id]
        mine = candidate_link(previous, fingerprint, key)
        previous_ledger = ledger_link(previous_ledger, row.position, fingerprint, key)
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


class Anchor(NamedTuple):
    """A (position, ledger link) kept outside the database, and what it is called."""

    position: int
    link: bytes
    name: str = "the anchor"


def verify_ledger(
    events: Iterator[SealedRow],
    links: Iterator[LinkRow],
    anchors: Iterable[Anchor] = (),
    chain_key: ChainKey | None = None,
) -> Verification:
    """Walk the events and their links side by side, both in position order.

    Stops at the first broken link. ``anchor`` is a (position, ledger link) kept somewhere
    else (a keyed checkpoint, or a head printed by an earlier verification): it catches a
    ledger cut short after the anchor's position. It vouches for nothing after that position.
    """
    result = Verification()
    at_position: dict[int, list[Anchor]] = {}
    for anchor in anchors:
        at_position.setdefault(anchor.position, []).append(anchor)
    last_link: dict[str, tuple[int, bytes]] = {}
    previous = GENESIS
    event, link = next(events, None), next(links, None)
    while event is not None or link is not None:
        if link is None or (event is not None and event.position < link.position):
            assert event is not None
            return _broken(result, event, "the event has no link: it was inserted after the fact")
        if event is None or link.position < event.position:
            return _broken(result, link, "the event is missing: it was deleted")
        skipped = [a for p, here in at_position.items() if p < event.position for a in here]
        if skipped:  # positions can have gaps (PostgreSQL's sequence), an anchor's never
            anchor = min(skipped, key=lambda a: a.position)
            result.broken = BrokenLink(
                anchor.position, "", None,
                f"the ledger has no event at position {anchor.position}, which {anchor.name}"
                " vouches for: events were removed (and the ledger written on since)",
            )  # fmt: skip
            return result
        fingerprint = digest(event)
        key = chain_key.keys(event.position) if chain_key else None
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
        if candidate_link(before, fingerprint, key) != link.candidate_link:
            return _broken(
                result,
                event,
                "the stored event differs from what was chained: it was edited"
                + (" (or chained anew without the key)" if key else ""),
            )
        previous = ledger_link(previous, event.position, fingerprint, key)
        if previous != link.ledger_link:
            return _broken(result, event, "the ledger link does not follow from the previous one")
        for anchor in at_position.pop(event.position, ()):
            if previous != anchor.link:
                return _broken(result, event, f"the ledger link differs from {anchor.name}")
        last_link[event.candidate_id] = (event.version, link.candidate_link)
        result.events += 1
        result.head_position, result.head_link = event.position, previous
        event, link = next(events, None), next(links, None)
    result.candidates = len(last_link)
    beyond = [a for here in at_position.values() for a in here]  # all left are past the end
    if beyond:
        anchor = max(beyond, key=lambda a: a.position)
        result.broken = BrokenLink(
            anchor.position,
            "",
            None,
            f"the ledger ends at position {result.head_position}, before {anchor.name}"
            f" (position {anchor.position}): its tail was cut off",
        )
    return result


def verify_candidate(
    events: list[SealedRow], links: list[LinkRow], chain_key: ChainKey | None = None
) -> Verification:
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
        mine = candidate_link(
            before, digest(event), chain_key.keys(event.position) if chain_key else None
        )
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
