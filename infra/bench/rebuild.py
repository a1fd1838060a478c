"""Rebuild benchmark: Rapport's bulk and fold rebuilds and live following next to the library's.

``python -m infra.bench.rebuild [--sizes 50000,200000,1000000] [--deep 200000]
[--skip-postgres] [--out FILE]``.
For each size (events), a generated history (about 11 touchpoints a candidate) is imported with
the real ``Ledger.decide``/``Ledger.write``. SQLite ledgers are cached under ``var/bench/rebuild/``
(re-used when the event count matches); PostgreSQL ledgers go into schemas named
``bench_rebuild_<pid>_<size>`` (``RAPPORT_TEST_DATABASE_URL``) that are dropped at the end, each
vacuumed once imported (``settle``), as autovacuum would have done before a later rebuild.
Every measurement runs in a fresh subprocess so its peak memory (``ru_maxrss``) is its own:

* Rapport bulk: ``Follower.rebuild()``'s steps inside ``bulk_mode()``, as ``rapport rebuild``
  does (``BulkRebuild.run``, then the catch-up), keeping ``BulkRebuild.seconds`` per phase;
* Rapport fold: ``Follower.fold_rebuild()`` inside ``bulk_mode()``: the live fold over the whole
  ledger, what the bulk rebuild replaced;
* library: the ``eventsourcing.projection`` path (a ``Projection`` writing a timeline row and a
  per-candidate counter into a ``TrackingRecorder`` subclass, tracking in the same transaction);
  on PostgreSQL through ``ProjectionRunner``, on SQLite (no ``subscribe()``) by reading
  ``select_notifications`` in batches and decoding with the application's mapper;
* floors: the library's decode alone, and a raw scan of the events table with ``orjson.loads``;
* deep: both rebuilds on a ledger of ``--deep`` events over only ``--deep-candidates``
  candidates (outreach, replies, calls and notes, hundreds each), beside the usual shape of the
  same size: what peak memory follows, candidates or events;
* incremental: ``Ledger.record`` while ``rapport follow --poll 0.01`` runs in another process,
  timing each touchpoint until every view has applied its position.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import pstats
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import InfrastructureFactory, Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from eventsourcing.sqlite import SQLiteTrackingRecorder
from eventsourcing.utils import Environment
from psycopg import sql

from domain.access import UserRole
from domain.touchpoints import TOUCHPOINT, Touchpoint
from infra.bench.ingest import (
    Section,
    console,
    machine_section,
    percentiles,
    show,
    write_report,
)
from infra.core.logging import configure as configure_logging
from infra.core.settings import Settings
from infra.intake.file_import import import_touchpoints
from infra.read.bulk import MEMORY_LIMIT_MB, BulkRebuild, LedgerFacts
from infra.read.follower import Follower
from infra.read.read_side import all_projections
from infra.read.views import ViewStore, views_path
from infra.store.ledger import Ledger, Recorded, bulk_mode
from infra.synthetic import generator

DATABASE_URL_ENV = "RAPPORT_TEST_DATABASE_URL"
DEFAULT_SIZES = (50_000, 200_000, 1_000_000)
DEFAULT_POSTGRES_MAX = 1_000_000
DEFAULT_DEEP = 200_000
DEFAULT_DEEP_CANDIDATES = 500
DEFAULT_LIBRARY_MAX = 20_000
DEFAULT_SEED = 7
DEFAULT_INCREMENTAL = 300
WARMUP = 10
DEFAULT_OUT = Path("var/bench/rebuild.md")
CACHE = Path("var/bench/rebuild")
EVENTS_PER_CANDIDATE = 11.0
IMPORT_CLOCK = generator.DEFAULT_UNTIL + timedelta(days=1)
LIBRARY_NAME = "LibraryTimeline"
LIBRARY_BATCH = 500
"""Notifications per read on the SQLite library path: what the library's subscription pulls."""
FOLLOWER_POLL = 0.01
TARGET_REBUILD_RATE = 100_000.0
"""Bulk rebuild events/s on SQLite at ``TARGET_AT`` events."""
TARGET_POSTGRES_RATE = 50_000.0
TARGET_AT = 1_000_000
TARGET_FLAT = 0.15
"""Bulk rebuild events/s may change by at most this much from the smallest size to the largest."""
TARGET_BULK_OVERHEAD_MB = 256
"""What a bulk rebuild may hold beside DuckDB's buffers (interpreter aside)."""
TARGET_INCREMENTAL_MS = 100.0
RESULT_MARK = "RESULT "

RAPPORT = "Rapport bulk rebuild"
FOLD = "Rapport fold rebuild"
LIBRARY = "library projection"
DECODE = "floor: library decode"
RAW = "floor: raw scan + orjson"


class BenchmarkError(RuntimeError):
    """The data or a measurement did not come out as expected, so the figures would mean nothing."""


# --- the library's projection path --------------------------------------------------------------


class LibraryLedger(Application[UUID]):
    """The ledger as the library sees it: Rapport's stored events and mapper, built from ``env``."""

    name = "Ledger"


class TimelineView(TrackingRecorder):
    """A timeline row per event and a row (with an event counter) per candidate, tracked."""

    @abstractmethod
    def record(
        self, candidate: tuple[Any, ...] | None, step: tuple[Any, ...], tracking: Tracking
    ) -> None:
        """Write the rows and the tracking position in one transaction."""

    @abstractmethod
    def counts(self) -> tuple[int, int]:
        """(timeline rows, sum of the per-candidate counters): a check the work was done."""


_TIMELINE_COLUMNS = (
    "candidate_id TEXT, version BIGINT, position BIGINT, occurred_at DOUBLE PRECISION,"
    " recorded_at DOUBLE PRECISION, type TEXT, by_whom TEXT, personal_touch INTEGER,"
    " detail TEXT, PRIMARY KEY (candidate_id, version)"
)
_CANDIDATE_COLUMNS = (
    "candidate_id TEXT PRIMARY KEY, candidate TEXT, status TEXT, role TEXT, recruiter TEXT,"
    " registered_at DOUBLE PRECISION, events BIGINT NOT NULL"
)


class SQLiteTimelineView(SQLiteTrackingRecorder, TimelineView):
    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS lib_timeline ({_TIMELINE_COLUMNS})",
            f"CREATE TABLE IF NOT EXISTS lib_candidates ({_CANDIDATE_COLUMNS})",
        ]

    def record(
        self, candidate: tuple[Any, ...] | None, step: tuple[Any, ...], tracking: Tracking
    ) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("INSERT INTO lib_timeline VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", step)
            if candidate is not None:
                c.execute("INSERT INTO lib_candidates VALUES (?, ?, ?, ?, ?, ?, 1)", candidate)
            else:
                c.execute(
                    "UPDATE lib_candidates SET events = events + 1 WHERE candidate_id = ?",
                    (step[0],),
                )
            self._insert_tracking(c, tracking)

    def counts(self) -> tuple[int, int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT (SELECT COUNT(*) FROM lib_timeline), SUM(events) FROM lib_candidates")
            row = c.fetchone()
        return int(row[0]), int(row[1] or 0)


class PostgresTimelineView(PostgresTrackingRecorder, TimelineView):
    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        schema = sql.Identifier(self.datastore.schema)
        self.sql_create_statements += [
            sql.SQL(f"CREATE TABLE IF NOT EXISTS {{0}}.lib_timeline ({_TIMELINE_COLUMNS})").format(
                schema
            ),
            sql.SQL(
                f"CREATE TABLE IF NOT EXISTS {{0}}.lib_candidates ({_CANDIDATE_COLUMNS})"
            ).format(schema),
        ]
        self._insert_step = sql.SQL(
            "INSERT INTO {0}.lib_timeline VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        ).format(schema)
        self._insert_candidate = sql.SQL(
            "INSERT INTO {0}.lib_candidates VALUES (%s, %s, %s, %s, %s, %s, 1)"
        ).format(schema)
        self._count = sql.SQL(
            "UPDATE {0}.lib_candidates SET events = events + 1 WHERE candidate_id = %s"
        ).format(schema)
        self._counts = sql.SQL(
            "SELECT (SELECT COUNT(*) FROM {0}.lib_timeline) AS steps,"
            " SUM(events) AS events FROM {0}.lib_candidates"
        ).format(schema)

    def record(
        self, candidate: tuple[Any, ...] | None, step: tuple[Any, ...], tracking: Tracking
    ) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._insert_step, step, prepare=True)
            if candidate is not None:
                curs.execute(self._insert_candidate, candidate, prepare=True)
            else:
                curs.execute(self._count, (step[0],), prepare=True)
            self._insert_tracking(curs, tracking)

    def counts(self) -> tuple[int, int]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._counts)
            row = curs.fetchone()
        return int(row["steps"]), int(row["events"] or 0)


class LibraryTimeline(Projection[TimelineView]):
    """Comparable work to Rapport's journey projection, one event per transaction (as designed)."""

    name = LIBRARY_NAME

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        touchpoint = domain_event.touchpoint
        data = touchpoint.__dict__
        cid = str(domain_event.originator_id)
        if data.get("automated"):
            by_whom = "automation"
        else:
            by_whom = str(data.get("recruiter") or "candidate")
        step = (
            cid,
            domain_event.originator_version,
            tracking.notification_id,
            touchpoint.occurred_at.timestamp(),
            domain_event.timestamp.timestamp(),
            touchpoint.type,
            by_whom,
            int(touchpoint.is_personal_touch),
            touchpoint.model_dump_json(exclude={"personal"}),
        )
        candidate = None
        if touchpoint.type == "candidate_registered":
            candidate = (
                cid,
                touchpoint.candidate,
                str(touchpoint.status),
                str(touchpoint.role),
                touchpoint.recruiter,
                touchpoint.occurred_at.timestamp(),
            )
        self.view.record(candidate, step, tracking)


# --- stores and ledgers -----------------------------------------------------------------------


@dataclass
class Ledgers:
    """One store's ledgers, one per size."""

    name: str
    url: str | None = None
    schemas: list[str] = field(default_factory=list)

    @property
    def is_postgres(self) -> bool:
        return self.url is not None

    def settings(self, size: int, shape: str = "") -> Settings:
        """``shape``: "" for the generator's usual histories, else a label (``deep500``)."""
        label = f"{shape}-{size}" if shape else str(size)
        if self.url is None:
            return Settings(db=CACHE / f"ledger-{label}.db", database_url=None)
        return Settings(
            database_url=self.url,
            database_schema=f"bench_rebuild_{os.getpid()}_{label.replace('-', '_')}",
        )

    def fresh_schema(self, size: int, shape: str = "") -> Settings:
        settings = self.settings(size, shape)
        with psycopg.connect(self.url, autocommit=True) as conn:  # type: ignore[arg-type]
            name = sql.Identifier(settings.database_schema)
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(name))
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(name))
        self.schemas.append(settings.database_schema)
        return settings

    def close(self) -> None:
        if self.url is None:
            return
        with psycopg.connect(self.url, autocommit=True) as conn:
            for schema in self.schemas:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )
        self.schemas.clear()


def settings_spec(settings: Settings) -> dict[str, Any]:
    return {
        "db": str(settings.db),
        "url": settings.database_url,
        "schema": settings.database_schema,
    }


def settings_from(spec: dict[str, Any]) -> Settings:
    if spec["url"]:
        return Settings(database_url=spec["url"], database_schema=spec["schema"])
    return Settings(db=Path(spec["db"]), database_url=None)


def library_env(settings: Settings) -> dict[str, str]:
    """The projection's view: the ledger's schema on PostgreSQL, a file of its own on SQLite."""
    env = settings.event_store_environment()
    if not settings.database_url:
        # Prefixed by the projection's name, so the application still reads the ledger's file.
        env[f"{LIBRARY_NAME.upper()}_SQLITE_DBNAME"] = str(library_views_path(settings.db))
    return env


def library_views_path(ledger: Path) -> Path:
    return ledger.with_name(f"{ledger.stem}.library{ledger.suffix}")


def data_file(size: int, seed: int) -> tuple[Path, int, int]:
    """The generated JSONL for ``size`` events (cached), its touchpoint and candidate counts."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"touchpoints-{size}-{seed}.jsonl"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        known = json.loads(meta.read_text())
        return path, int(known["events"]), int(known["candidates"])
    candidates = max(1, round(size / EVENTS_PER_CANDIDATE))
    # In a child: the parent stays small, so its children's ``ru_maxrss`` stays their own.
    result = run_child(
        {
            "op": "generate",
            "settings": settings_spec(Settings(database_url=None)),
            "data": str(path),
            "candidates": candidates,
            "seed": seed,
        }
    )
    count = int(result["events"])
    console.print(
        f"generated {count:,} touchpoints for {candidates:,} candidates in {result['seconds']:.1f}s"
    )
    meta.write_text(json.dumps({"events": count, "candidates": candidates, "seed": seed}))
    return path, count, candidates


DEEP_PERIOD = timedelta(days=5)
"""One outreach per cycle: never more than three in 14 days, as the default policy allows."""
DEEP_CYCLES = 100
DEEP_FOLLOW_UPS = ("reply_received", "call_held", "personal_note_sent")


def deep_lines(events: int, candidates: int, seed: int) -> list[dict[str, Any]]:
    """``events`` touchpoints over only ``candidates`` candidates, in the import format.

    The generator keeps about 11 events a candidate whatever the size, so memory per candidate
    and per event cannot be told apart there. Here each candidate is registered, gives consent,
    then gets up to ``DEEP_CYCLES`` cycles of an outreach followed by replies, calls and notes,
    at increasing times: valid for the ledger's rules (consent, frequency cap, no future).
    """
    pick = random.Random(seed)
    recruiters = [f"rec-{i:02d}" for i in range(1, 25)]
    areas = ["oncology", "cardiology", "neurology", "immunology", "rare_disease"]
    lines: list[tuple[float, dict[str, Any]]] = []
    for number in range(candidates):
        count = events // candidates + (1 if number < events % candidates else 0)
        cycle_events = max(1, -(-(count - 2) // DEEP_CYCLES))
        cycles = -(-(count - 2) // cycle_events) if count > 2 else 0
        ref = f"C-DEEP-{number:05d}"
        owner = pick.choice(recruiters)
        at = (
            generator.DEFAULT_UNTIL
            - DEEP_PERIOD * cycles
            - timedelta(days=2, seconds=pick.uniform(0, 86_400))
        )
        own: list[tuple[float, dict[str, Any]]] = [
            (
                at.timestamp(),
                {
                    "type": "candidate_registered",
                    "role": pick.choice(["cra", "crc", "data_manager", "project_manager"]),
                    "status": pick.choice(["active", "passive"]),
                    "therapeutic_areas": pick.sample(areas, 2),
                    "recruiter": owner,
                    "personal": {"name": f"Deep {number}", "email": f"deep{number}@example.org"},
                },
            ),
            (
                (at + timedelta(hours=1)).timestamp(),
                {"type": "consent_given", "basis": "explicit_consent"},
            ),
        ]
        step = DEEP_PERIOD / (cycle_events + 1)
        for cycle in range(cycles):
            begun = at + timedelta(hours=2) + DEEP_PERIOD * cycle
            for j in range(cycle_events):
                if len(own) == count:
                    break
                # The outreach exactly on the cycle (5 days apart), the follow-ups jittered.
                jitter = step * pick.uniform(0, 0.9) if j else timedelta(0)
                moment = (begun + step * j + jitter).timestamp()
                own.append((moment, _deep_touch(pick, j, owner, number)))
        for moment, line in own:
            line["candidate"] = ref
            line["occurred_at"] = datetime.fromtimestamp(moment, UTC).isoformat()
            lines.append((moment, line))
    lines.sort(key=lambda item: item[0])
    result = []
    for number, (_, line) in enumerate(lines, start=1):
        line["source_id"] = f"deep-{number:08d}"
        result.append(line)
    return result


def _deep_touch(pick: random.Random, j: int, owner: str, number: int) -> dict[str, Any]:
    """The ``j``-th touchpoint of a cycle: the outreach first, then the follow-ups in turn."""
    channel = pick.choice(["email", "phone", "linkedin", "sms"])
    if j == 0:
        return {
            "type": "outreach_sent",
            "recruiter": owner,
            "channel": channel,
            "personalization": pick.choice(["personalized", "templated", "generic_blast"]),
            "campaign": "camp-deep",
            "personal": {"body": f"Hi Deep {number}, a new study might suit you."},
        }
    kind = DEEP_FOLLOW_UPS[(j - 1) % len(DEEP_FOLLOW_UPS)]
    if kind == "reply_received":
        sentiment = pick.choice(["interested", "not_now", "not_interested"])
        return {"type": kind, "channel": channel, "sentiment": sentiment}
    if kind == "call_held":
        return {"type": kind, "recruiter": owner, "duration_minutes": pick.randrange(10, 60)}
    return {"type": kind, "recruiter": owner, "occasion": "check_in", "channel": channel}


def deep_data_file(size: int, candidates: int, seed: int) -> tuple[Path, int, int]:
    """The deep ledger's JSONL (cached), its touchpoint and candidate counts."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"touchpoints-deep{candidates}-{size}-{seed}.jsonl"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        known = json.loads(meta.read_text())
        return path, int(known["events"]), int(known["candidates"])
    result = run_child(
        {
            "op": "generate_deep",
            "settings": settings_spec(Settings(database_url=None)),
            "data": str(path),
            "size": size,
            "candidates": candidates,
            "seed": seed,
        }
    )
    count = int(result["events"])
    console.print(
        f"generated {count:,} touchpoints for only {candidates:,} candidates"
        f" in {result['seconds']:.1f}s"
    )
    meta.write_text(json.dumps({"events": count, "candidates": candidates, "seed": seed}))
    return path, count, candidates


def ledger_count(settings: Settings) -> int:
    """Events in the ledger (0 when there is none yet)."""
    if settings.database_url:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            row = conn.execute(
                sql.SQL("SELECT MAX(notification_id) FROM {}.ledger_events").format(
                    sql.Identifier(settings.database_schema)
                )
            ).fetchone()
        return int(row[0] or 0) if row else 0
    if not settings.db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(settings.db)) as conn:
        try:
            row = conn.execute("SELECT MAX(rowid) FROM stored_events").fetchone()
        except sqlite3.OperationalError:
            return 0
    return int(row[0] or 0)


def prepare_ledger(
    ledgers: Ledgers, size: int, data: Path, events: int, shape: str = ""
) -> tuple[Settings, str]:
    """The ledger for ``size``: the cached SQLite file if it holds ``events``, else imported."""
    if ledgers.is_postgres:
        settings = ledgers.fresh_schema(size, shape)
    else:
        settings = ledgers.settings(size, shape)
        if ledger_count(settings) == events:
            return settings, "cached"
        for stale in (settings.db, views_path(settings.db), library_views_path(settings.db)):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{stale}{suffix}").unlink(missing_ok=True)
    what = f"{size:,} ({shape})" if shape else f"{size:,}"
    console.print(f"[bold]{ledgers.name}[/bold] {what}: importing {events:,} touchpoints …")
    result = run_child({"op": "import", "settings": settings_spec(settings), "data": str(data)})
    if result["events"] != events or ledger_count(settings) != events:
        raise BenchmarkError(f"imported {result['events']} of {events} touchpoints")
    console.print(
        f"  imported in {result['seconds']:.1f}s ({result['events'] / result['seconds']:,.0f}/s)"
    )
    if ledgers.is_postgres:
        settle(settings)
    return settings, f"imported in {result['seconds']:.0f}s"


def settle(settings: Settings) -> None:
    """``VACUUM (ANALYZE)`` a freshly imported PostgreSQL ledger, as autovacuum does within
    minutes: until then the first read of each new row checks its transaction and writes the
    row's page again (hint bits), which doubled the load phase of a 1M rebuild measured right
    after its import (11.5 s, against 5 s once vacuumed)."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:  # type: ignore[arg-type]
        schema = sql.Identifier(settings.database_schema)
        for table in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (settings.database_schema,)
        ).fetchall():
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}.{}").format(schema, sql.Identifier(table[0])))


# --- measurements (each in its own subprocess) ---------------------------------------------------


def run_child(spec: dict[str, Any], module: str = "infra.bench.rebuild") -> dict[str, Any]:
    """Run one measurement (``spec["op"]``) in a fresh interpreter running ``module --child``;
    its result (with its own peak memory)."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return dict(json.loads(line[len(RESULT_MARK) :]))
    raise BenchmarkError(f"{spec['op']} failed ({done.returncode}):\n{done.stderr[-3000:]}")


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """The measurement ``spec`` asks for, in this process."""
    configure_logging("warning", "console")
    settings = settings_from(spec["settings"])
    op = spec["op"]
    measure = {
        "generate": child_generate,
        "generate_deep": child_generate_deep,
        "import": child_import,
        "baseline": child_baseline,
        "rapport": child_rapport,
        "fold": child_fold,
        "library": child_library,
        "decode": child_decode,
        "raw": child_raw,
        "profile": child_profile,
    }[op]
    events, seconds, extra = measure(settings, spec)
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "events": events,
        "seconds": seconds,
        "peak_mb": own_peak_kb() / 1024,
        "maxrss_mb": maxrss_kb / 1024,
        **extra,
    }


def own_peak_kb() -> int:
    """This process's peak RSS since its ``exec``: ``VmHWM``, else ``ru_maxrss``.

    Linux carries ``ru_maxrss`` over ``exec`` from the parent's high-water mark (``exec_mmap``),
    so a child of a large parent reports at least the parent's peak; ``VmHWM`` is the new
    address space's own. The two agree whenever the parent stays smaller than the child.
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


Measured = tuple[int, float, dict[str, Any]]


def child_generate(_settings: Settings, spec: dict[str, Any]) -> Measured:
    """Write the generated history (deterministic for a seed)."""
    started = time.perf_counter()
    count = generator.write_jsonl(
        Path(spec["data"]), candidates=int(spec["candidates"]), seed=int(spec["seed"])
    )
    return count, time.perf_counter() - started, {}


def child_generate_deep(_settings: Settings, spec: dict[str, Any]) -> Measured:
    """Write the deep ledger's touchpoints (deterministic for a seed)."""
    started = time.perf_counter()
    lines = deep_lines(int(spec["size"]), int(spec["candidates"]), int(spec["seed"]))
    newline = orjson.OPT_APPEND_NEWLINE
    with Path(spec["data"]).open("wb", buffering=1 << 20) as file:
        for line in lines:
            file.write(orjson.dumps(line, option=newline))
    return len(lines), time.perf_counter() - started, {}


def child_import(settings: Settings, spec: dict[str, Any]) -> Measured:
    """``rapport import``: scan, decide and write in bounded memory (``import_touchpoints``)."""
    ledger = Ledger(settings, clock=lambda: IMPORT_CLOCK)
    try:
        started = time.perf_counter()
        with bulk_mode():
            result = import_touchpoints(ledger, Path(spec["data"]), "jsonl", frozenset(UserRole))
        if result.duplicates:
            raise BenchmarkError(f"{result.duplicates} duplicate touchpoint(s) in generated data")
        return result.events, time.perf_counter() - started, {}
    finally:
        ledger.close()


def child_baseline(settings: Settings, _spec: dict[str, Any]) -> Measured:
    """What the interpreter, the imports and an open ledger and view store take."""
    ledger = Ledger(settings)
    store = ViewStore(settings, ledger=ledger.ledger_recorder)
    Follower(ledger.ledger_recorder, store, all_projections())
    store.close()
    ledger.close()
    return 0, 0.0, {}


def bulk_rebuild(follower: Follower) -> tuple[int, dict[str, float]]:
    """``Follower.rebuild()``'s own steps, holding on to the ``BulkRebuild`` so that its
    ``seconds`` per phase can be read (the catch-up after it timed too)."""
    follower.engine.forget()
    bulk = BulkRebuild(LedgerFacts(follower.recorder), follower.store)
    count = bulk.run(follower.projections)
    began = time.perf_counter()
    caught = follower.catch_up()
    return count + caught, {**bulk.seconds, "catch_up": round(time.perf_counter() - began, 3)}


def child_rapport(settings: Settings, _spec: dict[str, Any]) -> Measured:
    """``rapport rebuild``: every view built in bulk and swapped in, with the cyclic GC held."""
    ledger = Ledger(settings)
    store = ViewStore(settings, ledger=ledger.ledger_recorder)
    try:
        follower = Follower(ledger.ledger_recorder, store, all_projections())
        with bulk_mode():
            started = time.perf_counter()
            count, phases = bulk_rebuild(follower)
            seconds = time.perf_counter() - started
        _check_views(ledger, store, count)
        names = [p.name for p in follower.projections]
        return count, seconds, {"phases": phases, "projections": names}
    finally:
        store.close()
        ledger.close()


def child_fold(settings: Settings, _spec: dict[str, Any]) -> Measured:
    """The fold over the whole ledger (``Follower.fold_rebuild``), with the cyclic GC held.

    ``bulk_from=None``: otherwise the catch-up builds views that start from nothing in bulk."""
    ledger = Ledger(settings)
    store = ViewStore(settings, ledger=ledger.ledger_recorder)
    try:
        follower = Follower(ledger.ledger_recorder, store, all_projections(), bulk_from=None)
        with bulk_mode():
            started = time.perf_counter()
            count = follower.fold_rebuild()
            seconds = time.perf_counter() - started
        _check_views(ledger, store, count)
        states = follower.engine.cached()
        if count and not states:
            raise BenchmarkError("fold_rebuild held no candidate state: it did not fold")
        names = [p.name for p in follower.projections]
        return count, seconds, {"states": states, "projections": names}
    finally:
        store.close()
        ledger.close()


def _check_views(ledger: Ledger, store: ViewStore, count: int) -> None:
    """Every view reached the ledger's last position, and every event was read once."""
    last = ledger.position()
    done = store.query("SELECT MIN(position) FROM view_positions")[0][0]
    if done != last or count != last:
        raise BenchmarkError(f"views at {done} after {count} events; the ledger ends at {last}")


def child_library(settings: Settings, spec: dict[str, Any]) -> Measured:
    """The library's projection: ``ProjectionRunner`` on PostgreSQL, a batch reader on SQLite.

    It stops at position ``spec['limit']``: its rate does not depend on the ledger's size
    (one transaction per event), and a million events would take many minutes.
    """
    last = min(ledger_count(settings), int(spec.get("limit") or 2**62))
    env = library_env(settings)
    if settings.database_url:
        return _library_runner(env, last)
    library_views_path(settings.db).unlink(missing_ok=True)
    app = LibraryLedger(env=env)
    started = time.perf_counter()
    view = (
        InfrastructureFactory[SQLiteTimelineView]
        .construct(env=Environment(LIBRARY_NAME, env))
        .tracking_recorder(SQLiteTimelineView)
    )
    projection = LibraryTimeline(view=view)
    start = (view.max_tracking_id(app.name) or 0) + 1
    while start <= last:
        notifications = app.recorder.select_notifications(
            start, min(LIBRARY_BATCH, last - start + 1)
        )
        if not notifications:
            break
        for notification in notifications:
            domain_event = app.mapper.to_domain_event(notification)
            projection.process_event(domain_event, Tracking(app.name, notification.id))
        start = notifications[-1].id + 1
    seconds = time.perf_counter() - started
    _check_library(view, last)
    app.close()
    return last, seconds, {}


def _library_runner(env: dict[str, str], last: int) -> Measured:
    started = time.perf_counter()
    runner = ProjectionRunner(
        application_class=LibraryLedger,
        projection_class=LibraryTimeline,
        view_class=PostgresTimelineView,
        env=env,
    )
    with runner:
        # The runner's own wait() backs off up to 0.8 s; poll the view's position finely instead.
        while not runner.view.has_tracking_id(LibraryLedger.name, last):
            if runner.is_interrupted.is_set():
                runner.run_forever(timeout=0)
                raise BenchmarkError("the projection runner stopped")
            time.sleep(0.005)
        seconds = time.perf_counter() - started
    _check_library(runner.view, last)
    return last, seconds, {}


def _check_library(view: TimelineView, last: int) -> None:
    """Every event up to ``last`` has its timeline row and was counted once."""
    steps, counted = view.counts()
    if steps < last or steps != counted:
        raise BenchmarkError(f"library view: {steps} rows, {counted} counted, {last} events")


def child_decode(settings: Settings, _spec: dict[str, Any]) -> Measured:
    """Floor (i): the library's notifications, decoded by the application's mapper."""
    app = LibraryLedger(env=settings.event_store_environment())
    started = time.perf_counter()
    count = 0
    start = 1
    while True:
        notifications = app.recorder.select_notifications(start, 10_000)
        if not notifications:
            break
        for notification in notifications:
            app.mapper.to_domain_event(notification)
        count += len(notifications)
        start = notifications[-1].id + 1
    seconds = time.perf_counter() - started
    app.close()
    return count, seconds, {}


def child_raw(settings: Settings, _spec: dict[str, Any]) -> Measured:
    """Floor (ii): every stored state, in order, through ``orjson.loads``; nothing else."""
    loads = orjson.loads
    count = 0
    started = time.perf_counter()
    if settings.database_url:
        statement = sql.SQL("SELECT state FROM {}.ledger_events ORDER BY notification_id")
        with psycopg.connect(settings.database_url) as conn, conn.cursor(name="scan") as cur:
            cur.itersize = 10_000
            cur.execute(statement.format(sql.Identifier(settings.database_schema)))
            for (state,) in cur:
                loads(state)
                count += 1
    else:
        with contextlib.closing(sqlite3.connect(settings.db)) as conn:
            for (state,) in conn.execute("SELECT state FROM stored_events ORDER BY rowid"):
                loads(state)
                count += 1
    return count, time.perf_counter() - started, {}


def child_profile(settings: Settings, spec: dict[str, Any]) -> Measured:
    """``child_rapport`` under cProfile; the stats go to ``spec['out']``."""
    profiler = cProfile.Profile()
    profiler.enable()
    events, seconds, extra = child_rapport(settings, spec)
    profiler.disable()
    profiler.dump_stats(spec["out"])
    return events, seconds, extra


# --- incremental latency ------------------------------------------------------------------------


@contextlib.contextmanager
def follow_process(settings: Settings, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``rapport follow --poll 0.01`` on this ledger, stopped (SIGINT, by its pid) afterwards."""
    env = {**os.environ, "RAPPORT_LOG_LEVEL": "warning"}
    command = [
        str(Path(sys.executable).with_name("rapport")),
        "follow",
        "--poll",
        str(FOLLOWER_POLL),
    ]
    if settings.database_url:
        env |= {
            "RAPPORT_DATABASE_URL": settings.database_url,
            "RAPPORT_DATABASE_SCHEMA": settings.database_schema,
        }
    else:
        env.pop("RAPPORT_DATABASE_URL", None)
        command += ["--db", str(settings.db)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.send_signal(2)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class ViewProbe:
    """A reader of the views' positions, separate from the follower's connection."""

    def __init__(self, settings: Settings) -> None:
        self.postgres = bool(settings.database_url)
        if self.postgres:
            self.conn: Any = psycopg.connect(
                settings.database_url,  # type: ignore[arg-type]
                autocommit=True,
                options=f"-c search_path={settings.database_schema}",
            )
        else:
            self.conn = sqlite3.connect(views_path(settings.db), isolation_level=None)

    def has(self, recorded: Recorded) -> bool:
        """Whether every view has applied the event."""
        return self.position() >= recorded.position

    def position(self) -> int:
        try:
            row = self.conn.execute("SELECT MIN(position) FROM view_positions").fetchone()
        except (sqlite3.OperationalError, psycopg.errors.UndefinedTable):
            return 0
        return int(row[0] or 0) if row else 0

    def close(self) -> None:
        self.conn.close()


def incremental_touchpoints(count: int) -> list[Touchpoint]:
    """New candidates, each registered then given consent: touchpoints the rules always accept."""
    moment = generator.DEFAULT_UNTIL + timedelta(hours=2)
    touchpoints: list[Touchpoint] = []
    for i in range(count):
        reference = f"C-INC-{os.getpid()}-{i // 2:05d}"
        at = (moment + timedelta(seconds=i)).isoformat()
        if i % 2 == 0:
            raw: dict[str, Any] = {
                "type": "candidate_registered",
                "candidate": reference,
                "occurred_at": at,
                "role": "cra",
                "status": "passive",
                "recruiter": "rec-01",
                "personal": {"name": "Bench Mark", "email": f"bench{i}@example.org"},
            }
        else:
            raw = {"type": "consent_given", "candidate": reference, "occurred_at": at}
        touchpoints.append(TOUCHPOINT.validate_python(raw))
    return touchpoints


def measure_incremental(settings: Settings, count: int, folder: Path) -> dict[str, Any]:
    """Latency from ``Ledger.record`` returning to the row being visible in the view."""
    ledger = Ledger(settings)
    probe = ViewProbe(settings)
    latencies: list[float] = []
    record_ms: list[float] = []
    try:
        with follow_process(settings, folder / "follow.log") as process:
            last = ledger.position()
            deadline = time.monotonic() + 300
            while probe.position() < last:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (folder / "follow.log").read_text()[-2000:]
                    raise BenchmarkError(f"the follower did not catch up:\n{log}")
                time.sleep(0.05)
            # The first touchpoints show the follower is up (its start-up is not measured).
            pause = random.Random(count)
            for number, touchpoint in enumerate(incremental_touchpoints(count + WARMUP)):
                # Arrivals at random moments, not in step with the follower's polling.
                time.sleep(pause.uniform(0, 2 * FOLLOWER_POLL))
                begun = time.perf_counter()
                recorded = ledger.record(touchpoint)
                returned = time.perf_counter()
                if not isinstance(recorded, Recorded):
                    raise BenchmarkError(f"{touchpoint.type} was a duplicate")
                while not probe.has(recorded):
                    if process.poll() is not None or time.perf_counter() - returned > 60:
                        raise BenchmarkError(f"position {recorded.position} never reached the view")
                    time.sleep(0.0005)
                if number >= WARMUP:
                    latencies.append((time.perf_counter() - returned) * 1000)
                    record_ms.append((returned - begun) * 1000)
    finally:
        probe.close()
        ledger.close()
    p = percentiles(latencies)
    r = percentiles(record_ms)
    return {
        "count": count,
        "p50": p[50],
        "p99": p[99],
        "max": max(latencies),
        "record_p50": r[50],
        "record_p99": r[99],
    }


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Row:
    store: str
    size: int
    path: str
    events: int
    seconds: float
    peak_mb: float
    candidates: int
    note: str = ""
    maxrss_mb: float = 0.0
    shape: str = ""
    """"" for the generator's usual histories, else the deep ledger's label (``deep500``)."""
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def where(self) -> str:
        return f"{self.size:,} ({self.shape})" if self.shape else f"{self.size:,}"


@dataclass
class Run:
    rows: list[Row] = field(default_factory=list)
    baselines: dict[str, float] = field(default_factory=dict)
    incremental: dict[str, dict[str, Any]] = field(default_factory=dict)
    data_info: list[list[str]] = field(default_factory=list)
    profile: Section | None = None
    notes: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    """The sizes asked for (the deep comparison may add a usual-shaped ledger of its own size)."""

    def find(self, store: str, size: int, path: str, shape: str = "") -> Row | None:
        for row in self.rows:
            if (row.store, row.size, row.path, row.shape) == (store, size, path, shape):
                return row
        return None


ALL_OPS = (
    ("rapport", RAPPORT),
    ("fold", FOLD),
    ("library", LIBRARY),
    ("decode", DECODE),
    ("raw", RAW),
)
REBUILD_OPS = ALL_OPS[:2]


def measure_size(run: Run, ledgers: Ledgers, size: int, seed: int, library_max: int) -> Settings:
    """Every rebuild path on this store and size, each in a fresh process."""
    return measure_ledger(run, ledgers, size, data_file(size, seed), ALL_OPS, library_max)


def measure_deep(run: Run, ledgers: Ledgers, size: int, candidates: int, seed: int) -> None:
    """Both rebuilds on the deep ledger, and on a usual-shaped one of the same size if the
    sizes asked for do not include it."""
    shape = f"deep{candidates}"
    measure_ledger(
        run, ledgers, size, deep_data_file(size, candidates, seed), REBUILD_OPS, 0, shape
    )
    if run.find(ledgers.name, size, RAPPORT) is None:
        measure_ledger(run, ledgers, size, data_file(size, seed), REBUILD_OPS, 0)


def measure_ledger(
    run: Run,
    ledgers: Ledgers,
    size: int,
    data: tuple[Path, int, int],
    ops: tuple[tuple[str, str], ...],
    library_max: int,
    shape: str = "",
) -> Settings:
    """The ``ops`` on this store's ledger of ``data``, each in a fresh process."""
    path_of_data, events, candidates = data
    settings, how = prepare_ledger(ledgers, size, path_of_data, events, shape)
    spec = settings_spec(settings)
    if ledgers.name not in run.baselines:
        run.baselines[ledgers.name] = run_child({"op": "baseline", "settings": spec})["peak_mb"]
    for op, path in ops:
        row = Row(ledgers.name, size, path, 0, 0.0, 0.0, candidates, shape=shape)
        console.print(f"[bold]{ledgers.name}[/bold] {row.where}: {path} …")
        result = run_child({"op": op, "settings": spec, "limit": library_max})
        expected = min(events, library_max) if op == "library" else events
        if result["events"] != expected:
            raise BenchmarkError(f"{path}: {result['events']} of {expected} events")
        row.events, row.seconds = result["events"], result["seconds"]
        row.peak_mb, row.maxrss_mb = result["peak_mb"], result["maxrss_mb"]
        if "phases" in result:
            row.phases = {str(k): float(v) for k, v in result["phases"].items()}
            row.note = "phases (s): " + ", ".join(f"{k} {v:.2f}" for k, v in row.phases.items())
        if "states" in result:
            row.note = (
                f"projections {', '.join(result['projections'])};"
                f" {result['states']:,} candidate states held per projection"
            )
        if op == "library" and expected < events:
            row.note = f"first {expected:,} events only"
        run.rows.append(row)
        console.print(
            f"  {row.events:,} events in {row.seconds:.2f}s ({row.rate:,.0f}/s),"
            f" peak {row.peak_mb:,.0f} MB"
        )
        if row.phases:
            console.print(f"  {row.note}")
    fold = run.find(ledgers.name, size, FOLD, shape)
    bulk = run.find(ledgers.name, size, RAPPORT, shape)
    if fold and bulk and fold.rate:
        console.print(f"  bulk / fold: {bulk.rate / fold.rate:.1f}x the events/s")
    label = f"{ledgers.name} {size:,}" + (f" ({shape})" if shape else "")
    run.data_info.append(
        [label, f"{candidates:,} candidates ({events / candidates:,.0f} events each); ledger {how}"]
    )
    return settings


def measure_incremental_on(run: Run, ledgers: Ledgers, settings: Settings, count: int) -> None:
    """On a copy of a cached SQLite ledger (the cache keeps its count); in place on PostgreSQL."""
    console.print(f"[bold]{ledgers.name}[/bold]: incremental, {count} touchpoints …")
    with tempfile.TemporaryDirectory(prefix="rapport-bench-rebuild-") as tmp:
        folder = Path(tmp)
        if not ledgers.is_postgres:
            copy = folder / "ledger.db"
            shutil.copyfile(settings.db, copy)
            if views_path(settings.db).exists():
                shutil.copyfile(views_path(settings.db), views_path(copy))
            # The copy's links are keyed with the original's chain key; its checkpoint moves on
            # from the original's.
            checkpoint = folder / "ledger.checkpoint.json"
            if settings.checkpoint_path.exists():
                shutil.copyfile(settings.checkpoint_path, checkpoint)
            settings = Settings(
                db=copy, database_url=None, chain_key_file=settings.chain_key_path,
                checkpoint_file=checkpoint,
            )  # fmt: skip
        result = measure_incremental(settings, count, folder)
    run.incremental[ledgers.name] = result
    console.print(
        f"  p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms, max {result['max']:.1f} ms"
    )


def profile_rebuild(run: Run, settings: Settings, out: Path) -> None:
    console.print("[bold]SQLite[/bold]: profiling the Rapport rebuild …")
    result = run_child({"op": "profile", "settings": settings_spec(settings), "out": str(out)})
    run.profile = profile_section(out, result["events"], result["seconds"])


# Functions worth showing inclusively: (label, function name, part of the file's path).
_KEY_FUNCTIONS = (
    ("whole rebuild (BulkRebuild.run + catch-up)", "bulk_rebuild", "infra/bench/rebuild.py"),
    ("load: ledger rows into DuckDB", "_load", "infra/read/bulk.py"),
    ("load: read_raw (recorder)", "read_raw", ""),
    ("load: rows into Arrow", "_arrow_chunk", "infra/read/bulk.py"),
    ("set-based views (journey, engagement)", "_select", "infra/read/bulk.py"),
    ("alerts (registrations in SQL, episodes folded)", "_alerts", "infra/read/bulk.py"),
    ("alerts: episode_rows (the rules)", "episode_rows", "projections/alerts.py"),
    ("ViewStore.fill (staged rows)", "fill", "infra/read/views.py"),
    ("ViewStore.index_staged", "index_staged", "infra/read/views.py"),
    ("ViewStore.swap", "swap", "infra/read/views.py"),
    ("catch-up after the swap", "catch_up", "infra/read/follower.py"),
)
ROOT = ("bulk_rebuild", "infra/bench/rebuild.py")
"""What the profile covers: ``child_rapport``'s timed call."""


def _category(file: str, name: str) -> str:
    """Which part of a rebuild a function's own time belongs to.

    DuckDB (pybind11) and pyarrow (Cython) calls are not seen by cProfile: their time is the
    own time of the ``infra/read/bulk.py`` function that makes them. cProfile sees only the
    main thread: where the ledger is read by a thread of its own, the main thread's wait for
    it shows as lock acquisitions."""
    if name == "<method 'acquire' of '_thread.lock' objects>" or file.endswith(
        ("/queue.py", "/threading.py")
    ):
        return "waiting for another thread (the ledger reader)"
    if file.endswith("infra/read/bulk.py") and name == "_arrow_chunk":
        return "Arrow building (bulk._arrow_chunk, pyarrow inside)"
    if name in ("<orjson.loads>", "<built-in method orjson.loads>"):
        return "JSON decoding (orjson.loads)"
    if "executemany" in name or "'commit'" in name:
        return "SQL writes (executemany, commit)"
    if "fetch" in name or "sqlite3.Cursor' objects>" in name or "psycopg" in file:
        return "SQL reads and other statements"
    if file.startswith("/") and "/projections/" in file:
        return f"projection: {Path(file).stem}"
    if file.endswith("infra/read/bulk.py"):
        return "bulk.py with the DuckDB calls it makes (load, SQL, fetch)"
    if file.endswith("infra/read/views.py"):
        return "views: staging, filling, swapping"
    if file.endswith("infra/store/recorder.py") or file.endswith("infra/store/persistence.py"):
        return "read: recorder code"
    if "eventsourcing" in file:
        return "read: library code"
    if file.endswith("infra/read/follower.py") or file.endswith("infra/read/engine.py"):
        return "catch-up (follower, engine)"
    return "other"


def profile_section(stats_file: Path, events: int, seconds: float) -> Section:
    """The bulk rebuild's time by part (own time of every function) and by key function."""
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(  # type: ignore[attr-defined]
        str(stats_file)
    ).stats
    rebuild = [v for (f, _, n), v in stats.items() if n == ROOT[0] and ROOT[1] in f]
    total = sum(v[3] for v in rebuild) or seconds
    inside = _callees_of(stats, *ROOT)
    parts: dict[str, float] = {}
    for key, value in stats.items():
        if key in inside:
            label = _category(key[0], key[2])
            parts[label] = parts.get(label, 0.0) + value[2]
    rows = [
        [label, "self", f"{own:.2f}", f"{own / total:.0%}", f"{own / events * 1e6:.2f}"]
        for label, own in sorted(parts.items(), key=lambda item: -item[1])
    ]
    for label, function, where in _KEY_FUNCTIONS:
        found = [v for (f, _, n), v in stats.items() if n == function and where in f]
        if found:
            cumulative = sum(v[3] for v in found)
            rows.append(
                [
                    label,
                    "inclusive",
                    f"{cumulative:.2f}",
                    f"{cumulative / total:.0%}",
                    f"{cumulative / events * 1e6:.2f}",
                ]
            )
    return Section(
        f"Profile: Rapport bulk rebuild on SQLite, {events:,} events under cProfile"
        f" ({total:.1f}s profiled, main thread only; DuckDB and pyarrow calls are not seen by"
        " cProfile: they count as the own time of the bulk.py function making them)",
        ["part", "time", "seconds", "share", "µs per event"],
        rows,
    )


def _callees_of(
    stats: dict[tuple[str, int, str], tuple[Any, ...]], function: str, where: str
) -> set[tuple[str, int, str]]:
    """Every function called (directly or not) from ``function``, and itself."""
    callers: dict[tuple[str, int, str], set[tuple[str, int, str]]] = {}
    for key, value in stats.items():
        for caller in value[4]:
            callers.setdefault(caller, set()).add(key)
    todo = [k for k in stats if k[2] == function and where in k[0]]
    seen = set(todo)
    while todo:
        for callee in callers.get(todo.pop(), ()):
            if callee not in seen:
                seen.add(callee)
                todo.append(callee)
    return seen


def results_section(run: Run) -> Section:
    library = {(r.store, r.size): r.rate for r in run.rows if r.path == LIBRARY}
    rows = []
    for r in run.rows:
        base = library.get((r.store, r.size)) if not r.shape else None
        rows.append(
            [
                r.store,
                r.where,
                r.path,
                f"{r.events:,}",
                f"{r.seconds:.2f}",
                f"{r.rate:,.0f}",
                f"{r.rate / base:.1f}x" if base else "-",
                f"{r.peak_mb:,.0f}",
                r.note,
            ]
        )
    return Section(
        "Rebuild throughput (each row a fresh process)",
        ["store", "size", "path", "events", "seconds", "events/s", "vs library projection",
         "peak MB", "note"],
        rows,
    )  # fmt: skip


def bulk_fold_section(run: Run) -> Section:
    """The bulk rebuild beside the fold it replaced, on the same ledger in the same run."""
    rows = []
    for bulk in run.rows:
        fold = run.find(bulk.store, bulk.size, FOLD, bulk.shape) if bulk.path == RAPPORT else None
        if fold is None:
            continue
        rows.append(
            [
                bulk.store,
                bulk.where,
                f"{bulk.seconds:.2f}",
                f"{fold.seconds:.2f}",
                f"{bulk.rate:,.0f}",
                f"{fold.rate:,.0f}",
                f"{bulk.rate / fold.rate:.2f}x" if fold.rate else "-",
                f"{bulk.peak_mb:,.0f}",
                f"{fold.peak_mb:,.0f}",
            ]
        )
    return Section(
        "Bulk rebuild vs fold rebuild (same ledger, same run)",
        ["store", "size", "bulk s", "fold s", "bulk events/s", "fold events/s",
         "bulk / fold (events/s)", "bulk peak MB", "fold peak MB"],
        rows,
    )  # fmt: skip


def phases_section(run: Run) -> Section:
    """Where the bulk rebuild's time goes (``BulkRebuild.seconds``, then the catch-up)."""
    bulk = [r for r in run.rows if r.path == RAPPORT and r.phases]
    names = list(dict.fromkeys(name for r in bulk for name in r.phases))
    rows = []
    for r in bulk:
        spent = sum(r.phases.values())
        rows.append(
            [
                r.store,
                r.where,
                *[f"{r.phases[n]:.2f}" if n in r.phases else "-" for n in names],
                f"{spent:.2f}",
                f"{r.seconds:.2f}",
                f"{r.phases.get('load', 0.0) / r.events * 1e6:.2f}" if r.events else "-",
            ]
        )
    return Section(
        "Bulk rebuild phases (seconds; load = ledger into DuckDB, one per projection = staged"
        " and indexed, swap = staged tables in with the position, catch_up = folded after)",
        ["store", "size", *names, "sum", "measured", "load µs/event"],
        rows,
    )


GROWTH_PATHS = (RAPPORT, FOLD, RAW, DECODE, LIBRARY)


def growth_section(run: Run) -> Section:
    """Each path's events/s and peak RSS at each size, and their change smallest -> largest."""
    sizes = sorted(set(run.sizes))
    rows = []
    for store in dict.fromkeys(r.store for r in run.rows):
        for path in GROWTH_PATHS:
            found = [run.find(store, size, path) for size in sizes]
            measured = [r for r in found if r is not None]
            if not measured:
                continue
            first, last = measured[0], measured[-1]
            rows.append(
                [
                    store,
                    path,
                    *[f"{r.rate:,.0f}" if r else "-" for r in found],
                    _change(first.rate, last.rate) if len(measured) > 1 else "-",
                    *[f"{r.peak_mb:,.0f}" if r else "-" for r in found],
                    _change(first.peak_mb, last.peak_mb) if len(measured) > 1 else "-",
                ]
            )
    return Section(
        "Growth with ledger size (events/s and peak MB at each size; change = largest vs"
        " smallest size measured; the library projection reads only its first --library-max"
        " events at every size)",
        ["store", "path", *[f"events/s @{s:,}" for s in sizes], "events/s change",
         *[f"peak MB @{s:,}" for s in sizes], "peak MB change"],
        rows,
    )  # fmt: skip


def _change(first: float, last: float) -> str:
    return f"{(last - first) / first:+.0%}" if first else "-"


def deep_section(run: Run) -> Section:
    """Peak RSS of the same number of events over many candidates and over few."""
    rows = []
    for deep in run.rows:
        if not deep.shape:
            continue
        usual = run.find(deep.store, deep.size, deep.path)
        for r in (usual, deep):
            if r is None:
                continue
            above = max(r.peak_mb - run.baselines.get(r.store, 0.0), 0.0)
            rows.append(
                [
                    r.store,
                    r.path,
                    f"{r.events:,}",
                    r.shape or "usual (generator)",
                    f"{r.candidates:,}",
                    f"{r.events / r.candidates:,.0f}",
                    f"{r.rate:,.0f}",
                    f"{r.peak_mb:,.0f}",
                    f"{above:,.0f}",
                    f"{above * 1024 * 1024 / r.candidates:,.0f}",
                ]
            )
    return Section(
        "Few candidates, many events each: peak RSS at the same number of events",
        ["store", "path", "events", "shape", "candidates", "events/candidate", "events/s",
         "peak MB", "above baseline MB", "bytes/candidate above baseline"],
        rows,
    )  # fmt: skip


def memory_section(run: Run) -> Section:
    rows = []
    for r in run.rows:
        if r.path not in (RAPPORT, FOLD):
            continue
        above = max(r.peak_mb - run.baselines.get(r.store, 0.0), 0.0)
        rows.append(
            [
                r.store,
                r.where,
                r.path,
                f"{r.candidates:,}",
                f"{r.events:,}",
                f"{r.peak_mb:,.0f}",
                f"{r.maxrss_mb:,.0f}",
                f"{run.baselines.get(r.store, 0.0):,.0f}",
                f"{above:,.0f}",
                f"{above * 1024 * 1024 / r.candidates:,.0f}",
                f"{above * 1024 * 1024 / r.events:,.0f}",
            ]
        )
    return Section(
        "Rebuild memory (peak RSS of the process; baseline = interpreter, imports, open ledger"
        " and views)",
        ["store", "size", "path", "candidates", "events", "peak MB (VmHWM)", "ru_maxrss MB",
         "baseline MB", "above baseline MB", "bytes/candidate", "bytes/event"],
        rows,
    )  # fmt: skip


def incremental_section(run: Run) -> Section:
    rows = []
    for store, r in run.incremental.items():
        rows.append(
            [
                store,
                f"{r['count']}",
                f"{r['p50']:.1f}",
                f"{r['p99']:.1f}",
                f"{r['max']:.1f}",
                f"{r['record_p50']:.1f} / {r['record_p99']:.1f}",
                _verdict(r["p99"] <= TARGET_INCREMENTAL_MS),
            ]
        )
    return Section(
        f"Incremental: Ledger.record -> applied by every view, with `rapport follow --poll"
        f" {FOLLOWER_POLL}` in another process (ms)",
        ["store", "touchpoints", "p50", "p99", "max", "record() p50 / p99",
         f"p99 ≤ {TARGET_INCREMENTAL_MS:g} ms"],
        rows,
    )  # fmt: skip


def targets_section(run: Run) -> Section:
    rows = []
    for store in dict.fromkeys(r.store for r in run.rows):
        mine = sorted(
            (r for r in run.rows if r.path == RAPPORT and r.store == store and not r.shape),
            key=lambda r: r.size,
        )
        mine = [r for r in mine if r.size in run.sizes] or mine
        if not mine:
            continue
        target = TARGET_REBUILD_RATE if store == "SQLite" else TARGET_POSTGRES_RATE
        largest = mine[-1]
        at = run.find(store, TARGET_AT, RAPPORT)
        if at is not None:
            rows.append(
                [
                    f"bulk rebuild on {store} ≥ {target:,.0f} events/s at {TARGET_AT:,} events",
                    f"{at.rate:,.0f} events/s",
                    _verdict(at.rate >= target),
                ]
            )
        else:
            rows.append(
                [
                    f"bulk rebuild on {store} ≥ {target:,.0f} events/s at {TARGET_AT:,} events",
                    f"{TARGET_AT:,} not measured; {largest.rate:,.0f} events/s at"
                    f" {largest.size:,} (largest measured)",
                    "NOT MEASURED" + (" (met at the largest)" if largest.rate >= target else ""),
                ]
            )
        if len(mine) > 1:
            first = mine[0]
            change = (largest.rate - first.rate) / first.rate if first.rate else float("inf")
            rows.append(
                [
                    f"bulk rebuild throughput on {store} flat within ±{TARGET_FLAT:.0%} from"
                    f" {first.size:,} to {largest.size:,} events",
                    f"{first.rate:,.0f} → {largest.rate:,.0f} events/s ({change:+.1%})",
                    _verdict(abs(change) <= TARGET_FLAT),
                ]
            )
        else:
            rows.append(
                [
                    f"bulk rebuild throughput on {store} flat within ±{TARGET_FLAT:.0%}",
                    f"one size only ({largest.size:,}): no growth to compare",
                    "NOT MEASURED",
                ]
            )
        base = run.baselines.get(store, 0.0)
        above = largest.peak_mb - base
        rows.append(
            [
                f"bulk rebuild memory bounded ({store}: above baseline at {largest.size:,} events"
                f" ≤ DuckDB's memory limit + {TARGET_BULK_OVERHEAD_MB} MB ="
                f" {MEMORY_LIMIT_MB + TARGET_BULK_OVERHEAD_MB} MB)",
                f"{above:,.0f} MB",
                _verdict(above <= MEMORY_LIMIT_MB + TARGET_BULK_OVERHEAD_MB),
            ]
        )
        for deep in (r for r in run.rows if r.store == store and r.shape and r.path == RAPPORT):
            usual = run.find(store, deep.size, RAPPORT)
            if usual is None:
                continue
            deep_above, usual_above = deep.peak_mb - base, usual.peak_mb - base
            ratio = deep_above / usual_above if usual_above > 0 else float("inf")
            candidates = deep.candidates / usual.candidates
            rows.append(
                [
                    f"bulk rebuild peak RSS proportional to candidates ({store},"
                    f" {deep.size:,} events: {deep.candidates:,} candidates of"
                    f" {deep.events / deep.candidates:,.0f} events vs {usual.candidates:,} of"
                    f" {usual.events / usual.candidates:,.0f}; above baseline ≤ 2 x the"
                    f" candidates' ratio, {candidates:.3f})",
                    f"{deep_above:,.0f} MB vs {usual_above:,.0f} MB (x{ratio:.2f})",
                    _verdict(ratio <= 2 * candidates),
                ]
            )
    for store, r in run.incremental.items():
        rows.append(
            [
                f"incremental update within {TARGET_INCREMENTAL_MS:g} ms (p99, {store})",
                f"{r['p99']:.1f} ms",
                _verdict(r["p99"] <= TARGET_INCREMENTAL_MS),
            ]
        )
    return Section("Targets", ["target", "measured", "verdict"], rows)


def _verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


def postgres_version(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        values = [
            conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("server_version", "fsync", "synchronous_commit")
        ]
    return f"{values[0]} (fsync={values[1]}, synchronous_commit={values[2]})"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench.rebuild", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(s) for s in text.split(",") if s],
        default=list(DEFAULT_SIZES),
        help="events per ledger, comma-separated (default 50000,200000,1000000)",
    )
    parser.add_argument(
        "--deep",
        type=int,
        default=DEFAULT_DEEP,
        help="events of the few-candidates ledger (0: not measured); a usual-shaped ledger of"
        " the same size is measured beside it",
    )
    parser.add_argument(
        "--deep-candidates",
        type=int,
        default=DEFAULT_DEEP_CANDIDATES,
        help="candidates the --deep ledger's events are spread over",
    )
    parser.add_argument(
        "--postgres-max",
        type=int,
        default=DEFAULT_POSTGRES_MAX,
        help="largest size measured on PostgreSQL (its import and the library's one-transaction-"
        "per-event projection take minutes per 100k events)",
    )
    parser.add_argument(
        "--library-max",
        type=int,
        default=DEFAULT_LIBRARY_MAX,
        help="events the library projection processes at most (one transaction per event:"
        " its rate does not depend on the ledger's size)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed")
    parser.add_argument(
        "--incremental", type=int, default=DEFAULT_INCREMENTAL, help="touchpoints for latency"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the smallest SQLite rebuild"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report file")
    parser.add_argument(
        "--skip-postgres", action="store_true", help=f"SQLite only (else uses {DATABASE_URL_ENV})"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.deep and args.deep < 3 * args.deep_candidates:
        parser.error("--deep needs at least 3 events per --deep-candidates candidate")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        print(RESULT_MARK + json.dumps(child(json.loads(args.child))), flush=True)
        return
    configure_logging("warning", "console")
    run_started = time.perf_counter()
    stores = [Ledgers("SQLite")]
    version = "not measured"
    url = os.environ.get(DATABASE_URL_ENV)
    if args.skip_postgres:
        console.print("[yellow]PostgreSQL skipped (--skip-postgres)[/yellow]")
    elif not url:
        console.print(f"[yellow]PostgreSQL skipped: {DATABASE_URL_ENV} is not set[/yellow]")
    else:
        try:
            version = postgres_version(url)
            stores.append(Ledgers("PostgreSQL", url=url))
        except psycopg.OperationalError as down:
            console.print(f"[yellow]PostgreSQL skipped: cannot connect ({down})[/yellow]")
    sizes = sorted(args.sizes)
    run = Run(sizes=sizes)
    try:
        for size in sizes:
            for ledgers in stores:
                if ledgers.is_postgres and size > args.postgres_max:
                    run.notes.append(
                        f"PostgreSQL {size:,} not measured (above --postgres-max"
                        f" {args.postgres_max:,}): its import runs at ~7k events/s and the"
                        " library projection at one transaction per event."
                    )
                    continue
                settings = measure_size(run, ledgers, size, args.seed, args.library_max)
                if size == sizes[0]:
                    measure_incremental_on(run, ledgers, settings, args.incremental)
                    if args.profile and not ledgers.is_postgres:
                        profile_rebuild(run, settings, args.out.with_suffix(".prof"))
                if ledgers.is_postgres:
                    ledgers.close()  # one size at a time on the server
        for ledgers in stores if args.deep else ():
            if ledgers.is_postgres and args.deep > args.postgres_max:
                run.notes.append(
                    f"PostgreSQL deep ledger not measured (--deep {args.deep:,} is above"
                    f" --postgres-max {args.postgres_max:,})."
                )
                continue
            measure_deep(run, ledgers, args.deep, args.deep_candidates, args.seed)
            ledgers.close()
    finally:
        for ledgers in stores:
            ledgers.close()
    sections = [
        machine_section(version, run.data_info),
        results_section(run),
        bulk_fold_section(run),
        phases_section(run),
        growth_section(run),
        memory_section(run),
        deep_section(run),
        incremental_section(run),
        targets_section(run),
    ]
    if run.profile is not None:
        sections.append(run.profile)
    total = show(sections, run_started, run.notes)
    header = [
        "# Rebuild benchmark",
        "",
        f"`python -m infra.bench.rebuild --sizes {','.join(map(str, sizes))}"
        f" --deep {args.deep} --deep-candidates {args.deep_candidates}`,"
        f" run {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, total {total:.0f}s.",
        "Every row runs in a fresh process on the same ledger; seconds are from the first read"
        " to the last commit (view creation included). Peak MB is that process's own peak RSS"
        " (`VmHWM`; `resource.getrusage(RUSAGE_SELF).ru_maxrss` is shown beside it: Linux carries"
        " ru_maxrss over exec from the parent, so the parent generates and imports in children"
        " and stays small)."
        " **Rapport bulk rebuild** is `Follower.rebuild()`'s steps inside `bulk_mode()`, as"
        " `rapport rebuild` runs them:"
        " `BulkRebuild(LedgerFacts(recorder), views).run(projections)` (every event loaded"
        " into DuckDB, journey and engagement set-based, alerts folded a"
        " candidate at a time, staged tables swapped in), then the catch-up; its phases are"
        " `BulkRebuild.seconds`. **Rapport fold rebuild** is `Follower.fold_rebuild()` inside"
        " `bulk_mode()`: the live fold run over the whole ledger, batch by batch. Both with"
        f" `all_projections()` = {[p.name for p in all_projections()]}."
        " **library projection** is an `eventsourcing.projection.Projection` that keeps a"
        " timeline row per event and a row with an event counter per candidate in a"
        " `TrackingRecorder` subclass, the tracking position in the same transaction (one"
        " transaction per event, as the library's `process_event` is designed). On PostgreSQL"
        " it runs under `ProjectionRunner` (LISTEN/NOTIFY subscription); the library's SQLite"
        " recorder has no `subscribe()`, so on SQLite the same projection and view are driven by"
        f" reading `select_notifications` in batches of {LIBRARY_BATCH} (the subscription's own"
        " batch) and decoding with the application's mapper. The **floors** do nothing but"
        " read: (i) `select_notifications` + the application's mapper (pydantic events),"
        " (ii) a raw scan of the events table with `orjson.loads` of each state."
        f" The library projection stops after --library-max ({args.library_max:,}) events: one"
        " transaction per event makes its rate independent of the ledger's size."
        " Ratios compare events/s with the library projection on the same store and size."
        " The generator makes about 11 events per candidate at every size, so memory per"
        " candidate and per event move together there; the **deep** ledger (--deep events over"
        " --deep-candidates candidates: registration, consent, then cycles of an outreach every"
        " 5 days followed by replies, calls and notes, written by this benchmark and imported"
        " with the same `Ledger.decide`/`Ledger.write`) tells them apart."
        f" Targets: bulk rebuild ≥ {TARGET_REBUILD_RATE:,.0f} events/s on SQLite and"
        f" ≥ {TARGET_POSTGRES_RATE:,.0f} on PostgreSQL at {TARGET_AT:,} events, throughput"
        f" within ±{TARGET_FLAT:.0%} from the smallest size to the largest."
        " Figures are from the working tree at run time, on a shared 2-core machine"
        " (repeat runs vary by about ±20%).",
        "",
        *[f"- {note}" for note in run.notes],
        "",
    ]
    write_report(args.out, header, sections)


if __name__ == "__main__":
    main()
