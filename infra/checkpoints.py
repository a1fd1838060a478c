"""Keyed checkpoints: the ledger's position and head link, kept outside its database.

The links alone cannot show a tail cut off together with its links: the shorter chain is as
valid as the longer one. So after every write the ledger leaves its head in a checkpoint file
(``RAPPORT_CHECKPOINT_FILE``), sealed with the chain's secret, and ``rapport audit verify``
checks the ledger against it: the link at the checkpoint's position must be the one sealed.
The file only ever moves forward; a checkpoint vouches for the events up to its position.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from infra.chain import ChainKey


class CheckpointInvalid(Exception):
    """The checkpoint file is unreadable, or its seal does not match (it was altered)."""


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


def write_checkpoint(path: Path, key: ChainKey, position: int, head: bytes, at: str) -> None:
    """Leave (position, head) in the file, unless it already holds a later checkpoint."""
    checkpoint = Checkpoint(position, head, key.keyed_from, key.key_id, at)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        with contextlib.suppress(CheckpointInvalid):
            current = read_checkpoint(path, key)
            if current is not None and current.position >= position:
                return
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


def read_checkpoint(path: Path, key: ChainKey) -> Checkpoint | None:
    """The checkpoint in the file, its seal checked; None when there is no file."""
    try:
        document = orjson.loads(path.read_bytes())
        checkpoint = Checkpoint(
            int(document["position"]),
            bytes.fromhex(document["head"]),
            int(document["keyed_from"]),
            str(document["key_id"]),
            str(document["written_at"]),
        )
        seal = bytes.fromhex(document["seal"])
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as bad:
        raise CheckpointInvalid(f"{path}: not a checkpoint ({type(bad).__name__})") from None
    if checkpoint.key_id != key.key_id:
        raise CheckpointInvalid(f"{path}: sealed with another chain key ({checkpoint.key_id})")
    if not hmac.compare_digest(seal, key.seal(checkpoint.message())):
        raise CheckpointInvalid(f"{path}: its seal does not match: the checkpoint was altered")
    return checkpoint


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
