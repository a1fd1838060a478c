"""Locks that die with their process: who may publish a partition, who publishes the alerts.

On PostgreSQL they are session advisory locks (the server drops them when the connection goes);
beside a SQLite file they are byte ranges of a lock file (the kernel drops them when the process
goes, ``kill -9`` included). Either way a crashed holder never leaves a lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from infra.core.settings import Settings


class ProcessLocks:
    def __init__(self, settings: Settings, name: str, beside: Path | None) -> None:
        """``beside``: the SQLite file the lock file goes next to (unused on PostgreSQL)."""
        self.name = name
        self.is_postgres = bool(settings.database_url)
        self.held: set[int] = set()
        self._conn: Any = None
        self._fd: int | None = None
        if self.is_postgres:
            import psycopg

            self._conn = psycopg.connect(
                settings.database_url,  # type: ignore[arg-type]
                autocommit=True,
                connect_timeout=10,
            )
        else:
            if beside is None:
                raise ValueError("a lock beside a SQLite file needs that file's path")
            path = beside.with_name(f"{beside.name}.{name}.lock")
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def _key(self, slot: int) -> str:
        return f"rapport:{self.name}:{slot}"

    def try_lock(self, slots: Iterable[int]) -> bool:
        """Take every slot or none of them."""
        taken: list[int] = []
        for slot in sorted(set(slots) - self.held):
            if not self._take(slot):
                for back in taken:
                    self._give(back)
                return False
            taken.append(slot)
        self.held.update(taken)
        return True

    def unlock(self) -> None:
        for slot in sorted(self.held):
            self._give(slot)
        self.held.clear()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._fd is not None:
            os.close(self._fd)
        self._conn, self._fd = None, None
        self.held.clear()

    def _take(self, slot: int) -> bool:
        if self._conn is not None:
            row = self._conn.execute(
                "SELECT pg_try_advisory_lock(hashtext(%s))", (self._key(slot),)
            ).fetchone()
            return bool(row[0])
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, slot)  # type: ignore[arg-type]
        except OSError:
            return False
        return True

    def _give(self, slot: int) -> None:
        if self._conn is not None:
            self._conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (self._key(slot),))
        else:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, slot)  # type: ignore[arg-type]
