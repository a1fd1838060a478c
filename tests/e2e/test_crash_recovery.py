"""A crash in the middle of an import (kill -9) leaves no partial candidate, and running the
same import again finishes it exactly: nothing lost, nothing counted twice, no chain broken."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from infra.core.settings import Settings
from tests.support.files import store_env, story, write_jsonl

CANDIDATES = 3000
PER_CANDIDATE = 5


def events_per_candidate(settings: Settings) -> Counter[str]:
    if settings.database_url:
        query = f"SELECT originator_id::text FROM {settings.database_schema}.ledger_events"
        try:
            with psycopg.connect(settings.database_url) as conn:
                return Counter(row[0] for row in conn.execute(query))
        except psycopg.errors.UndefinedTable:
            return Counter()
    if not settings.db.exists():
        return Counter()
    with sqlite3.connect(settings.db, timeout=30) as conn:
        try:
            rows = conn.execute("SELECT originator_id FROM stored_events")
            return Counter(row[0] for row in rows)
        except sqlite3.OperationalError:
            return Counter()


def start_import(settings: Settings, data: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "infra.cli", "import", "--allow-erasures"),
            *(str(data), "--batch-size", "250"),
        ],
        env=os.environ | store_env(settings) | {"RAPPORT_LOG_FORMAT": "json"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def kill_once_writing(process: subprocess.Popen[bytes], settings: Settings, after: int) -> int:
    """SIGKILL the importer once more than ``after`` events are stored; returns the count seen."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        stored = sum(events_per_candidate(settings).values())
        if stored > after or process.poll() is not None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return stored
        time.sleep(0.005)
    process.kill()
    pytest.fail("the import never started writing")


def test_kill_9_mid_import_then_resume(settings: Settings, tmp_path: Path) -> None:
    records = [r for n in range(CANDIDATES) for r in story(f"C-{n:05d}", start=n % 20)]
    data = write_jsonl(tmp_path / "export.jsonl", records)
    total = len(records)
    interrupted = 0
    for round_ in range(3):
        before = sum(events_per_candidate(settings).values())
        process = start_import(settings, data)
        kill_once_writing(process, settings, after=before)
        counts = events_per_candidate(settings)
        # Every candidate is either complete or absent: transactions hold whole candidates.
        assert set(counts.values()) <= {PER_CANDIDATE}, f"round {round_}: partial candidate"
        if sum(counts.values()) < total:
            interrupted += 1
    assert interrupted >= 1, "the import always finished before the kill; the test proved nothing"

    finish = subprocess.run(
        [sys.executable, "-m", "infra.cli", "import", "--allow-erasures", str(data)],
        env=os.environ | store_env(settings) | {"RAPPORT_LOG_FORMAT": "json"},
        capture_output=True,
        check=False,
    )
    assert finish.returncode == 0, finish.stderr.decode()
    counts = events_per_candidate(settings)
    assert len(counts) == CANDIDATES
    assert set(counts.values()) == {PER_CANDIDATE}
    again = subprocess.run(
        [sys.executable, "-m", "infra.cli", "import", "--allow-erasures", str(data)],
        env=os.environ | store_env(settings),
        capture_output=True,
        check=False,
    )
    assert b"recorded 0 touchpoint(s)" in again.stdout
    assert f"{total} duplicate(s) skipped".encode() in again.stdout
    # Every kill fell between transactions of whole candidates: the hash chains never broke.
    verified = subprocess.run(
        [sys.executable, "-m", "infra.cli", "audit", "verify"],
        env=os.environ | store_env(settings),
        capture_output=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr.decode()
    assert f"ledger intact: {total} event(s), {CANDIDATES} candidate(s)".encode() in verified.stdout
