"""Compliance benchmark: verifying the hash chains, exporting and erasing, at ~100k events.

``python -m infra.bench.audit [--candidates 9000] [--skip-postgres]`` (``make bench``).
A generated history (about 11 touchpoints a candidate) is imported into a fresh SQLite file
and, when ``RAPPORT_TEST_DATABASE_URL`` is set, a PostgreSQL schema ``bench_audit_<pid>``
(dropped at the end). The peer of a full verification is its floor: reading the same event
and link rows without hashing anything.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from domain.vocabulary import ErasureReason
from infra.bench.ingest import Section, show
from infra.compliance import audit
from infra.core.logging import configure as configure_logging
from infra.core.settings import Settings
from infra.intake.importing import read_touchpoints
from infra.store.ledger import Ledger, bulk_mode
from infra.synthetic import generator

DATABASE_URL_ENV = "RAPPORT_TEST_DATABASE_URL"
SAMPLES = 100


def best_of(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def median_ms(samples: list[str], work: Callable[[str], object]) -> float:
    times = []
    for sample in samples:
        started = time.perf_counter()
        work(sample)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(store: str, settings: Settings, data: Path) -> list[list[str]]:
    lines, errors = read_touchpoints(data)
    assert not errors
    ledger = Ledger(settings)
    try:
        started = time.perf_counter()
        with bulk_mode():
            report = ledger.write(ledger.decide(lines))
        imported = time.perf_counter() - started
        recorder = ledger.ledger_recorder

        def read_only() -> None:
            for read in (recorder.sealed_rows, recorder.link_rows):
                start = 1
                while rows := read(start, 20_000):
                    start = rows[-1].position + 1

        floor = best_of(3, read_only)
        result = audit.verify(ledger)
        assert result.intact and result.events == report.events, result.broken
        full = best_of(3, lambda: audit.verify(ledger))
        people = sorted({touchpoint.candidate for _, touchpoint in lines})
        sample = random.Random(5).sample(people, min(SAMPLES, len(people)))
        one = median_ms(sample, lambda c: audit.verify(ledger, c))
        export = median_ms(sample, lambda c: audit.contact_history(audit.load(ledger, c)))
        access = median_ms(
            sample, lambda c: audit.subject_access(ledger, c, generated_at=ledger.clock())
        )
        erasable = [
            c for c in sample[:20] if not recorder.erasures(audit.load(ledger, c).candidate_id)
        ]
        erase = median_ms(erasable, lambda c: ledger.erase(c, ErasureReason.DATA_SUBJECT_REQUEST))
        assert audit.verify(ledger).intact
    finally:
        ledger.close()
    events = report.events
    return [
        [store, "import (sealing + chaining included)", f"{imported:.2f} s",
         f"{events / imported:,.0f} events/s"],
        [store, f"audit verify, whole ledger ({events:,} events)", f"{full:.2f} s",
         f"{full / floor:.2f}x reading the rows alone ({floor:.2f} s)"],
        [store, "audit verify CANDIDATE (median)", f"{one:.1f} ms", ""],
        [store, "audit export CANDIDATE (median)", f"{export:.1f} ms", ""],
        [store, "subject-access export (median)", f"{access:.1f} ms", ""],
        [store, "erase, key destroyed and files scrubbed (median)", f"{erase:.1f} ms", ""],
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candidates", type=int, default=9_000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    configure_logging("warning", "console")
    began = time.perf_counter()
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="rapport-audit-") as folder:
        data = Path(folder) / "history.jsonl"
        generator.write_jsonl(data, candidates=args.candidates, seed=3)
        rows += measure("sqlite", Settings(db=Path(folder) / "rapport.db"), data)
        url = os.environ.get(DATABASE_URL_ENV)
        if url and not args.skip_postgres:
            schema = f"bench_audit_{os.getpid()}"
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            try:
                settings = Settings(database_url=url, database_schema=schema)
                rows += measure("postgres", settings, data)
            finally:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {schema} CASCADE")
    section = Section(
        f"Compliance at {args.candidates:,} candidates", ["store", "what", "time", "compared"], rows
    )
    show([section], began, ["target: an untouched ledger of 100k events verifies in seconds"])


if __name__ == "__main__":
    main()
