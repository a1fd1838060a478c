"""Temporary files an import keeps its lines in, so its memory does not grow with the file.

Records are plain tuples (a named tuple or a UUID costs ten times as much to pickle), pickled a
few hundred at a time and compressed with LZ4 (the temporary files shrink by about a third).
``Partitions`` spreads them over files by an index the caller computes, each file small enough
to be grouped in memory; a ``Spill`` is read back in the order it was written. Both live in a
private folder the import removes when it ends: they hold the file's contents, personal data
included.
"""

from __future__ import annotations

import os
import pickle
import shutil
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import lz4.frame

RECORDS_PER_DUMP = 256
_LENGTH = struct.Struct("<I")
BUFFER_BYTES = 1 << 20
PARTITION_BUFFER_BYTES = 64 << 10
"""A 10M-line file has about 200 partitions open at once: their buffers stay small."""


class Spill:
    """Records appended to one file; ``read`` gives them back in order once it is finished."""

    def __init__(self, path: Path, buffering: int = BUFFER_BYTES) -> None:
        self.path = path
        self._file: IO[bytes] | None = path.open("wb", buffering=buffering)
        self._pending: list[Any] = []

    def add(self, record: Any) -> None:
        self._pending.append(record)
        if len(self._pending) >= RECORDS_PER_DUMP:
            self._dump()

    def _dump(self) -> None:
        assert self._file is not None, "added to after it was finished"
        if self._pending:
            packed = lz4.frame.compress(pickle.dumps(self._pending, pickle.HIGHEST_PROTOCOL))
            self._file.write(_LENGTH.pack(len(packed)) + packed)
            self._pending = []

    def finish(self) -> None:
        if self._file is not None:
            self._dump()
            self._file.close()
            self._file = None

    @staticmethod
    def read(path: Path) -> Iterator[Any]:
        with path.open("rb", buffering=BUFFER_BYTES) as file:
            while header := file.read(_LENGTH.size):
                (length,) = _LENGTH.unpack(header)
                yield from pickle.loads(lz4.frame.decompress(file.read(length)))


class Partitions:
    """Records spread over ``count`` spills by an index from 0 to ``count - 1``."""

    def __init__(self, folder: Path, count: int) -> None:
        self.spills = [
            Spill(folder / f"part-{index:04d}", PARTITION_BUFFER_BYTES) for index in range(count)
        ]

    def add(self, index: int, record: Any) -> None:
        self.spills[index].add(record)

    def finish(self) -> list[Path]:
        for spill in self.spills:
            spill.finish()
        return [spill.path for spill in self.spills]


FOLDER_PREFIX = "rapport-import-"
OWNER_FILE = "owner.pid"


@contextmanager
def private_folder() -> Iterator[Path]:
    """A folder (mode 0700) under ``TMPDIR`` for one import, removed when it ends. A process
    killed outright cannot remove its own: the next import removes every folder whose owner
    is gone, since they hold an export's personal data."""
    for stale in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        if not _owner_alive(stale / OWNER_FILE):
            shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=FOLDER_PREFIX) as name:
        folder = Path(name)
        (folder / OWNER_FILE).write_text(str(os.getpid()))
        yield folder


def _owner_alive(owner: Path) -> bool:
    try:
        pid = int(owner.read_text())
    except (OSError, ValueError):
        return True  # being created, or not one of ours: leave it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
