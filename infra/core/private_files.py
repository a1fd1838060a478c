"""Files only their owner may read: the ledger (it holds every candidate's key), its views,
their SQLite journals, and the chain's secret."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PRIVATE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_sqlite_file(path: Path) -> None:
    """Create the database file (empty: SQLite makes it a database) owner-only, before SQLite
    would create it with the umask's 0644, and tighten one made before this rule.

    SQLite creates the write-ahead log and the shared-memory file with the database's mode.
    """
    if str(path) in ("", ":memory:") or str(path).startswith("file:"):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Never open (and close) a descriptor on the database itself: closing any descriptor
        # of a file drops every POSIX lock this process holds on it, SQLite's included (its
        # "how to corrupt" page, 2.2). An empty private file is made aside and linked in.
        fd, aside = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        os.close(fd)
        try:
            os.link(aside, path)
        except FileExistsError:
            pass  # another process or thread made it meanwhile
        finally:
            os.unlink(aside)
    for companion in (path, *(path.with_name(path.name + s) for s in SQLITE_COMPANIONS)):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if companion.stat().st_mode & 0o777 != PRIVATE:
                companion.chmod(PRIVATE)
