"""Matching benchmark: ``rapport match`` over a pool of 100,000 members, beside a full scan.

``python -m infra.bench.match [--members 100000] [--positions 60] [--skip-postgres]``
(``make bench``). A pool view of ``--members`` candidates is written straight into fresh views
(rows shaped as the pool projection writes them: every role, area, phase and certification
drawn at random, most with consent given and in a pool, some in live processes, warmth over two
years), on SQLite, on PostgreSQL when ``RAPPORT_TEST_DATABASE_URL`` is set (schema
``bench_match_<pid>``, dropped at the end), and in the server's columnar copy (DuckDB). Each
engine answers the same ``--positions`` different openings, one at a time: the match (20 listed,
filters, scores, explanations) and, as its baseline, a plain full scan of the pool view (every
row of every column read back to Python).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import psycopg

from domain.policy import ContactPolicy
from domain.vocabulary import Certification, Role, TherapeuticArea, TrialPhase
from infra.bench.ingest import Section, show, write_report
from infra.core.logging import configure as configure_logging
from infra.core.settings import Settings
from infra.read.columnar import ColumnarCopy
from infra.read.matches import ranked
from infra.read.reader import Reader
from infra.read.views import ViewStore
from projections.base import Upsert
from projections.matching import Opening, Weights
from projections.pool import (
    AREA_BITS,
    CERTIFICATION_BITS,
    PHASE_BITS,
    POOL,
    PoolProjection,
    bits,
)

DATABASE_URL_ENV = "RAPPORT_TEST_DATABASE_URL"
NOW = 1_790_000_000.0
DAY = 86_400.0
TARGET_MS = 50.0


def pool_rows(count: int, rng: random.Random) -> list[Upsert]:
    """``count`` pool view rows, shaped as the projection writes them."""
    roles = [role.value for role in Role]
    areas, phases = list(AREA_BITS), list(PHASE_BITS)
    certifications = list(CERTIFICATION_BITS)
    rows = []
    for n in range(count):
        processes: dict[str, list[Any]] = {}
        if rng.random() < 0.15:
            stage = rng.choice(["applied", "shortlisted", "interviewing", "declined", "hired"])
            processes[f"REQ-{rng.randrange(2_000)}"] = [NOW - rng.uniform(0, 400) * DAY, stage]
        touched = NOW - rng.uniform(0, 730) * DAY
        rows.append(
            Upsert(
                POOL.name,
                {
                    "candidate_id": f"00000000-0000-5000-8000-{n:012d}",
                    "candidate": f"C-{n:07d}",
                    "recruiter": f"rec-{rng.randrange(40):02d}",
                    "status": rng.choice(["active", "passive"]),
                    "role": rng.choice(roles),
                    "areas": bits(rng.sample(areas, rng.randint(1, 3)), AREA_BITS),
                    "phases": bits(rng.sample(phases, rng.randint(0, 3)), PHASE_BITS),
                    "certifications": bits(
                        rng.sample(certifications, rng.randint(0, 3)), CERTIFICATION_BITS
                    ),
                    "country": rng.choice(["DE", "FR", "US", "GB", "ES", "PL", None]),
                    "years": rng.choice([None, *range(0, 25)]),
                    "registered_at": NOW - rng.uniform(730, 1500) * DAY,
                    "pools": orjson.dumps([f"pool-{rng.randrange(30)}"]).decode(),
                    "in_pool": int(rng.random() < 0.95),
                    "consent": rng.choices(["given", "not_recorded", "withdrawn"], [85, 10, 5])[0],
                    "erased": int(rng.random() < 0.005),
                    "last_personal_touch": touched,
                    "last_engagement": touched - rng.uniform(0, 200) * DAY,
                    "last_content_reply": None,
                    "outreach_times": orjson.dumps([touched]).decode(),
                    "processes": orjson.dumps(processes).decode(),
                    "silver": "[]",
                    "hired_at": None,
                    "hired_for": None,
                },
            )
        )
    return rows


def openings(count: int, rng: random.Random) -> list[Opening]:
    """``count`` different positions: a role, one to three areas, phases, certifications."""
    found = []
    for n in range(count):
        required = rng.sample([c.value for c in Certification], rng.randint(0, 2))
        preferred = [c.value for c in Certification if c.value not in required][: rng.randint(0, 1)]
        found.append(
            Opening(
                requisition=f"REQ-B{n}",
                role=rng.choice([role.value for role in Role]),
                areas=tuple(rng.sample([a.value for a in TherapeuticArea], rng.randint(1, 3))),
                phases=tuple(rng.sample([p.value for p in TrialPhase], rng.randint(0, 2))),
                required=tuple(required),
                preferred=tuple(preferred),
                country=rng.choice(["DE", "FR", "US", None]),
                remote=rng.random() < 0.2,
                min_years=rng.choice([None, 2, 5]),
            )
        )
    return [o if o.country or o.remote else replace(o, remote=True) for o in found]


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1_000


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.99 * len(ordered)))]


def measure(engine: str, reader: Reader, positions: list[Opening]) -> list[list[str]]:
    """One row per question: p50 and p99 over the positions, one at a time."""
    weights, policy = Weights(), ContactPolicy()
    columns = ", ".join(POOL.column_names)

    def match(opening: Opening) -> object:
        return ranked(reader, POOL.name, opening, weights, NOW, policy, limit=20,
                      include_past=False)  # fmt: skip

    def scan() -> object:
        return reader.query(f"SELECT {columns} FROM {POOL.name}")

    match(positions[0])  # warm: plans, caches, the first page of the file
    matched = [timed(lambda o=o: match(o)) for o in positions]  # type: ignore[misc]
    scanned = [timed(scan) for _ in range(max(5, len(positions) // 6))]
    (m50, m99), (s50, s99) = percentiles(matched), percentiles(scanned)
    verdict = "met" if m99 <= TARGET_MS else "missed"
    return [
        [engine, "match (20 listed)", f"{m50:.1f}", f"{m99:.1f}", f"{s50 / m50:.1f}x faster",
         f"target p99 <= {TARGET_MS:.0f} ms: {verdict}"],
        [engine, "baseline: full scan of the pool view", f"{s50:.1f}", f"{s99:.1f}", "", ""],
    ]  # fmt: skip


@contextmanager
def filled(settings: Settings, rows: list[Upsert]) -> Iterator[ViewStore]:
    projection = PoolProjection()
    with ViewStore(settings) as store:
        store.create(projection)
        store.commit(projection, 0, 1, {}, rows)
        yield store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--positions", type=int, default=60)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("var/bench/match.md"))
    args = parser.parse_args()
    configure_logging("warning", "console")
    began = time.perf_counter()
    rng = random.Random(5)
    rows = pool_rows(args.members, rng)
    positions = openings(args.positions, rng)
    results: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="rapport-match-") as folder:
        settings = Settings(db=Path(folder) / "rapport.db")
        with filled(settings, rows) as store:
            results += measure("SQLite", store, positions)
            copy = ColumnarCopy([PoolProjection()])
            copy.refresh(store)
            with copy.snapshot() as snapshot:
                results += measure("DuckDB (the server's copy)", snapshot, positions)
        url = os.environ.get(DATABASE_URL_ENV)
        if url and not args.skip_postgres:
            schema = f"bench_match_{os.getpid()}"
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            try:
                pg = Settings(db=Path(folder) / "pg.db", database_url=url, database_schema=schema)
                with filled(pg, rows) as store:
                    results += measure("PostgreSQL", store, positions)
            finally:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {schema} CASCADE")
    section = Section(
        f"Matching {len(positions)} positions against {args.members:,} pool members (ms)",
        ["engine", "question", "p50", "p99", "against the scan", "target"],
        results,
    )
    show([section], began)
    write_report(args.out, ["# Matching benchmark", ""], [section])


if __name__ == "__main__":
    main()
