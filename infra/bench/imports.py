"""Import benchmark: ``rapport import`` at 50k, 200k and 1M events beside its peer and its
floor, with peak memory and how each cost grows with size.

``python -m infra.bench.imports [--sizes N ...] [--skip-postgres] [--out FILE]`` (``make
bench``). Every measurement runs in a fresh interpreter (so its peak RSS is its own) and
writes into a fresh, empty store (SQLite files in a temporary folder; PostgreSQL schemas
``bench_imports_<pid>_*`` when ``RAPPORT_TEST_DATABASE_URL`` is set, dropped at the end):

* **Rapport**: ``import_touchpoints`` as ``rapport import`` runs it (worker processes decide
  when the file has 32 MB or more), and the same with one process;
* **peer**: the ``eventsourcing`` library's batched save of the same lines (``infra.bench.
  ingest.library_ingest``: parse, build plain aggregates, save 5,000 events a transaction);
* **floor**: each line decoded by orjson and inserted as it is, one row per event with the
  candidate's id and version, into a table of the ledger's shape, 20,000 rows a transaction.

The data are the generator's histories cached by ``infra.bench.rebuild`` (var/bench/rebuild).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg

from domain.access import UserRole
from domain.touchpoints import candidate_id
from infra.bench.ingest import (
    PostgresStore,
    Section,
    SQLiteStore,
    Store,
    console,
    library_ingest,
    machine_section,
    show,
    write_report,
)
from infra.bench.rebuild import IMPORT_CLOCK, RESULT_MARK, data_file, own_peak_kb, run_child
from infra.core.logging import configure as configure_logging
from infra.core.settings import Settings
from infra.intake.file_import import import_touchpoints
from infra.store.ledger import Ledger, bulk_mode

DATABASE_URL_ENV = "RAPPORT_TEST_DATABASE_URL"
DEFAULT_SIZES = (50_000, 200_000, 1_000_000)
DEFAULT_OUT = Path("var/bench/imports.md")
SEED = 7
FLOOR_BATCH = 20_000
TARGET_RATIO = 1.5
TARGET_FALL = 0.20
TARGET_PEAK_MB = 300

RAPPORT = "Rapport import"
RAPPORT_ONE = "Rapport import, one process"
LIBRARY = "library batched save"
FLOOR = "floor: decode + raw inserts"
PATHS = (RAPPORT, RAPPORT_ONE, LIBRARY, FLOOR)


class BenchmarkError(RuntimeError):
    """The data did not go in as expected, so the figures would mean nothing."""


# --- one measurement, in a fresh interpreter ------------------------------------------------------


def child(spec: dict[str, Any]) -> dict[str, Any]:
    configure_logging("warning", "console")
    data = Path(spec["data"])
    settings = (
        Settings(database_url=spec["url"], database_schema=spec["schema"])
        if spec["url"]
        else Settings(db=Path(spec["db"]), database_url=None)
    )
    path = spec["op"]
    phases: dict[str, float] = {}
    if path in (RAPPORT, RAPPORT_ONE):
        ledger = Ledger(settings, clock=lambda: IMPORT_CLOCK)
        try:
            started = time.perf_counter()
            with bulk_mode():  # as ``rapport import`` runs it
                result = import_touchpoints(
                    ledger,
                    data,
                    "jsonl",
                    frozenset(UserRole),
                    workers=None if path == RAPPORT else 0,
                )
            seconds = time.perf_counter() - started
        finally:
            ledger.close()
        if result.duplicates:
            raise BenchmarkError(f"{result.duplicates} duplicate(s) in generated data")
        events, phases = result.events, result.seconds
    elif path == LIBRARY:
        store = _OneStore(settings)
        measured = library_ingest(store, data, "library", per_aggregate=False)
        events, seconds, phases = measured.touchpoints, measured.seconds, measured.phases
    else:
        events, seconds = _floor(settings, data)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "events": events,
        "seconds": seconds,
        "phases": phases,
        "peak_mb": own_peak_kb() / 1024,
        "workers_peak_mb": children / 1024,
    }


class _OneStore(Store):
    """The store the parent made for this measurement, as ``library_ingest`` takes it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def fresh_settings(self, label: str) -> Settings:
        return self.settings


def _floor(settings: Settings, data: Path) -> tuple[int, float]:
    """Decode every line and insert it as it is: the least any import of these rows costs."""
    versions: dict[str, int] = {}
    count = 0
    started = time.perf_counter()
    if settings.database_url:
        conn = psycopg.connect(settings.database_url)
        table = f"{settings.database_schema}.floor_events"
        conn.execute(
            f"CREATE TABLE {table} (originator_id uuid, originator_version integer,"
            " topic text, state bytea, notification_id bigserial,"
            " PRIMARY KEY (originator_id, originator_version))"
        )
        insert = f"INSERT INTO {table} VALUES (%s, %s, %s, %s)"
    else:
        conn = sqlite3.connect(settings.db)  # type: ignore[assignment]
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE floor_events (originator_id TEXT, originator_version INTEGER,"
            " topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
        )
        insert = "INSERT INTO floor_events VALUES (?, ?, ?, ?)"
    rows: list[tuple[Any, ...]] = []

    def flush() -> None:
        conn.cursor().executemany(insert, rows)
        conn.commit()
        rows.clear()

    with data.open("rb") as file:
        for raw in file:
            reference = orjson.loads(raw)["candidate"]
            version = versions[reference] = versions.get(reference, 0) + 1
            cid = candidate_id(reference)
            rows.append((cid if settings.database_url else cid.hex, version, "floor", raw))
            count += 1
            if len(rows) >= FLOOR_BATCH:
                flush()
    if rows:
        flush()
    conn.close()
    return count, time.perf_counter() - started


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Measured:
    store: str
    size: int
    path: str
    events: int
    seconds: float
    phases: dict[str, float]
    peak_mb: float
    workers_peak_mb: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def measure(store: Store, size: int, data: Path, path: str) -> Measured:
    label = f"path{PATHS.index(path)}_{size}"
    settings = store.fresh_settings(label)
    spec = {
        "op": path,
        "data": str(data),
        "db": str(settings.db),
        "url": settings.database_url,
        "schema": settings.database_schema,
    }
    measured = Measured(store.name, size, path, **run_child(spec, "infra.bench.imports"))
    console.print(
        f"  {store.name} {size:,} {path}: {measured.events:,} in"
        f" {measured.seconds:.1f}s ({measured.rate:,.0f}/s), peak {measured.peak_mb:.0f} MB"
    )
    return measured


def throughput(results: list[Measured]) -> Section:
    peers = {(r.store, r.size): r.rate for r in results if r.path == LIBRARY}
    rows = []
    for r in results:
        peer = peers.get((r.store, r.size))
        rows.append(
            [
                r.store,
                f"{r.size:,}",
                r.path,
                f"{r.events:,}",
                f"{r.seconds:.1f}",
                f"{r.rate:,.0f}",
                f"{r.rate / peer:.2f}x" if peer else "-",
                f"{r.peak_mb:.0f}",
                f"{r.workers_peak_mb:.0f}" if r.path == RAPPORT and r.workers_peak_mb else "-",
            ]
        )
    return Section(
        "Import throughput (same lines, fresh store each, one interpreter per measurement)",
        [
            "store",
            "size",
            "path",
            "events",
            "seconds",
            "events/s",
            "vs library",
            "peak RSS MB",
            "each worker's peak MB",
        ],
        rows,
    )


def phases(results: list[Measured]) -> Section:
    rows = []
    for r in results:
        if r.path in (RAPPORT, RAPPORT_ONE):
            for phase, seconds in r.phases.items():
                share = f"{seconds / r.seconds:.0%}"
                rate = f"{r.events / seconds:,.0f}"
                rows.append([r.store, f"{r.size:,}", r.path, phase, f"{seconds:.1f}", share, rate])
    return Section(
        "Where Rapport's import spends its time",
        ["store", "size", "path", "step", "seconds", "share", "events/s"],
        rows,
    )


def growth(results: list[Measured], sizes: list[int]) -> Section:
    rows = []
    for store in dict.fromkeys(r.store for r in results):
        for path in PATHS:
            rates = {r.size: r.rate for r in results if r.store == store and r.path == path}
            peaks = {r.size: r.peak_mb for r in results if r.store == store and r.path == path}
            if not rates:
                continue
            first, last = min(rates), max(rates)
            change = f"{rates[last] / rates[first] - 1:+.0%}" if last != first else "-"
            rows.append(
                [store, path]
                + [f"{rates[s]:,.0f}/s, {peaks[s]:.0f} MB" if s in rates else "-" for s in sizes]
                + [change]
            )
    return Section(
        "Growth: events/s and peak RSS by size",
        ["store", "path", *[f"{s:,}" for s in sizes], "rate change, smallest to largest"],
        rows,
    )


def targets(results: list[Measured]) -> Section:
    rows = []
    sqlite = [r for r in results if r.store == SQLiteStore.name]
    peers = {r.size: r.rate for r in sqlite if r.path == LIBRARY}
    mine = {r.size: r for r in sqlite if r.path == RAPPORT}
    for size, r in sorted(mine.items()):
        if size in peers:
            ratio = r.rate / peers[size]
            rows.append(
                [
                    f"import ≥ {TARGET_RATIO}x the library's batched save, SQLite {size:,}",
                    f"{ratio:.2f}x ({r.rate:,.0f}/s vs {peers[size]:,.0f}/s)",
                    _verdict(ratio >= TARGET_RATIO),
                ]
            )
    if len(mine) > 1:
        first, last = mine[min(mine)], mine[max(mine)]
        fall = 1 - last.rate / first.rate
        rows.append(
            [
                f"falling ≤ {TARGET_FALL:.0%} from {first.size:,} to {last.size:,}",
                f"{fall:.0%} lower" if fall >= 0 else f"{-fall:.0%} higher",
                _verdict(fall <= TARGET_FALL),
            ]
        )
    largest = mine.get(max(mine)) if mine else None
    if largest is not None:
        rows.append(
            [
                f"peak RSS ≤ {TARGET_PEAK_MB} MB at {largest.size:,} lines",
                f"{largest.peak_mb:.0f} MB"
                + (
                    f" (each worker ≤ {largest.workers_peak_mb:.0f} MB)"
                    if largest.workers_peak_mb
                    else " (no workers)"
                ),
                _verdict(largest.peak_mb <= TARGET_PEAK_MB),
            ]
        )
    return Section("Targets", ["target", "measured", "verdict"], rows)


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench.imports", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        print(RESULT_MARK + json.dumps(child(json.loads(args.child))), flush=True)
        return
    configure_logging("warning", "console")
    started = time.perf_counter()
    sizes = sorted(args.sizes)
    url = os.environ.get(DATABASE_URL_ENV)
    postgres: PostgresStore | None = None
    version = "not measured"
    if args.skip_postgres or not url:
        console.print("[yellow]PostgreSQL skipped[/yellow]")
    else:
        try:
            postgres = PostgresStore(url)
            postgres.prefix = f"bench_imports_{os.getpid()}"
            version = postgres.server_info()
        except psycopg.OperationalError as down:
            postgres = None
            console.print(f"[yellow]PostgreSQL skipped: cannot connect ({down})[/yellow]")
    results: list[Measured] = []
    data_info = []
    with tempfile.TemporaryDirectory(prefix="rapport-bench-imports-") as tmp:
        stores: list[Store] = [SQLiteStore(Path(tmp))]
        if postgres is not None:
            stores.append(postgres)
        try:
            for size in sizes:
                data, events, candidates = data_file(size, SEED)
                data_info.append(
                    [
                        f"data {size:,}",
                        f"{events:,} lines, {candidates:,}"
                        f" candidates, {data.stat().st_size / 1e6:.0f} MB",
                    ]
                )
                for store in stores:
                    for path in PATHS:
                        results.append(measure(store, size, data, path))
        finally:
            for store in stores:
                store.close()
    sections = [
        machine_section(version, data_info),
        throughput(results),
        phases(results),
        growth(results, sizes),
        targets(results),
    ]
    total = show(sections, started)
    header = [
        "# Import benchmark",
        "",
        f"`python -m infra.bench.imports --sizes {' '.join(map(str, sizes))}`, run"
        f" {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, total {total:.0f}s.",
        "Seconds are end to end, from opening the file to the last commit. Peak RSS is each"
        " measurement's own (VmHWM); a worker's (ru_maxrss) starts from its parent's size"
        " when it was spawned.",
        "",
    ]
    write_report(args.out, header, sections)


if __name__ == "__main__":
    main()
