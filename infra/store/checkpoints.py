"""Keyed checkpoints: the ledger's position and head link, kept outside its database.

The links alone cannot show a tail cut off together with its links: the shorter chain is as
valid as the longer one. So after every write the ledger leaves its head in a checkpoint file
(``RAPPORT_CHECKPOINT_FILE``), sealed with the chain's secret, and ``rapport audit verify``
checks the ledger against it: the link at the checkpoint's position must be the one sealed.
The file only ever moves forward; a checkpoint vouches for the events up to its position.
The relay also publishes it to the compacted ``<prefix>.checkpoints.v1`` topic, a copy that
whoever can write the ledger's host cannot roll back (``infra.streaming.checkpoint_copy``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

import orjson
import structlog

from infra.store.chain import ChainKey

log = structlog.get_logger("rapport.checkpoints")


class CheckpointInvalid(Exception):
    """The checkpoint file is unreadable, or its seal does not match (it was altered)."""


class CheckpointMissing(CheckpointInvalid):
    """The checkpoints topic holds none of this ledger's checkpoints (yet)."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    position: int
    head: bytes
    keyed_from: int
    key_id: str
    written_at: str

    def message(self) -> bytes:
        return b"%d|%s|%d|%s|%s" % (
            self.position, self.head.hex().encode(), self.keyed_from, self.key_id.encode(),
            self.written_at.encode(),
        )  # fmt: skip


def write_checkpoint(
    path: Path,
    key: ChainKey,
    position: int,
    head: bytes,
    at: str,
    link_at: Callable[[int], bytes | None],
) -> bool:
    """Move the checkpoint forward to (position, head); whether it moved.

    It never moves past evidence: an unreadable or altered file stays as it is, and so does a
    checkpoint whose position no longer holds the sealed link (``link_at`` reads the ledger's
    link at a position): the ledger lost events there, and ``audit verify`` must see it.
    """
    checkpoint = Checkpoint(position, head, key.keyed_from, key.key_id, at)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        try:
            current = read_checkpoint(path, key)
        except CheckpointInvalid:
            log.error("checkpoint.kept_as_evidence", path=str(path), why="altered or unreadable")
            return False
        if current is not None:
            if current.position >= position:
                return False
            if link_at(current.position) != current.head:
                log.error(
                    "checkpoint.kept_as_evidence",
                    path=str(path),
                    why="the ledger no longer holds its link",
                    position=current.position,
                )
                return False
        document = {
            "position": position,
            "head": head.hex(),
            "keyed_from": key.keyed_from,
            "key_id": key.key_id,
            "written_at": at,
            "seal": key.seal(checkpoint.message()).hex(),
        }
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as file:
            file.write(orjson.dumps(document) + b"\n")
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    return True


def read_checkpoint(path: Path, key: ChainKey) -> Checkpoint | None:
    """The checkpoint in the file, its seal checked; None when there is no file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as unreadable:
        raise CheckpointInvalid(f"{path}: cannot read the checkpoint ({unreadable})") from None
    return parse_checkpoint(raw, key, str(path))


def ledger_name(description: str) -> bytes:
    """A ledger's key on the checkpoints topic: names it without saying where it lives."""
    return b"ledger-" + sha256(description.encode()).hexdigest()[:16].encode()


def parse_checkpoint(raw: bytes, key: ChainKey, where: str) -> Checkpoint:
    """A checkpoint document (a file's, or a topic message's), its seal checked."""
    try:
        document = orjson.loads(raw)
        checkpoint = Checkpoint(
            int(document["position"]),
            bytes.fromhex(document["head"]),
            int(document["keyed_from"]),
            str(document["key_id"]),
            str(document["written_at"]),
        )
        seal = bytes.fromhex(document["seal"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as bad:
        raise CheckpointInvalid(f"{where}: not a checkpoint ({type(bad).__name__})") from None
    if checkpoint.key_id != key.key_id:
        raise CheckpointInvalid(f"{where}: sealed with another chain key ({checkpoint.key_id})")
    if not hmac.compare_digest(seal, key.seal(checkpoint.message())):
        raise CheckpointInvalid(f"{where}: its seal does not match: the checkpoint was altered")
    return checkpoint


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
