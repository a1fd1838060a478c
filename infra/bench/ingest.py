"""Ingest benchmark: Rapport's import and single-touchpoint paths next to the plain library.

``python -m infra.bench.ingest [--candidates N] [--seed S] [--out FILE] [--skip-postgres]``
(``make bench``). Every path ingests the same generated history into a fresh, empty store:
SQLite files in a temporary folder, and, when ``RAPPORT_TEST_DATABASE_URL`` is set, PostgreSQL
schemas named ``bench_ingest_<pid>_*`` that are dropped at the end. The peers are the
``eventsourcing`` library's own plain path (default mapper and JSONTranscoder) on the same data.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import os
import platform
import random
import sqlite3
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from psycopg import sql
from rich.console import Console
from rich.table import Table

from domain.access import UserRole
from domain.refusals import Refused
from domain.touchpoints import TOUCHPOINT, CandidateRegistered
from infra.core.logging import configure as configure_logging
from infra.core.settings import Settings
from infra.intake.file_import import import_touchpoints
from infra.store.ledger import Ledger, Line, Recorded, bulk_mode
from infra.synthetic import generator

DATABASE_URL_ENV = "RAPPORT_TEST_DATABASE_URL"
DEFAULT_CANDIDATES = 6_000
DEFAULT_SEED = 7
DEFAULT_SINGLE = 3_000
DEFAULT_OUT = Path("var/bench/ingest.md")
LIBRARY_BATCH_EVENTS = 5_000
WARMUP_CANDIDATES = 25
WARMUP_SINGLE = 40
TARGET_BULK_RATE = 30_000.0
TARGET_P99_MS = 5.0

RAPPORT_BULK = "Rapport bulk import"
RAPPORT_SINGLE = "Rapport single touchpoints"
LIBRARY_BATCHED = "library batched save"
LIBRARY_PER_AGGREGATE = "library per-aggregate save"

console = Console(width=None if Console().is_terminal else 150)


class BenchmarkError(RuntimeError):
    """The data did not go in as expected, so the figures would mean nothing."""


# --- stores: a fresh, empty event store for every measurement ----------------------------------


class Store:
    """Where a measurement writes; ``fresh_settings`` gives a new, empty store per label."""

    name = "?"

    def fresh_settings(self, label: str) -> Settings:
        raise NotImplementedError

    def library_env(self, label: str) -> dict[str, str]:
        """The plain library's settings: Rapport's connection settings, the library's defaults."""
        env = self.fresh_settings(label).event_store_environment()
        for key in ("MAPPER_TOPIC", "TRANSCODER_TOPIC", "APPLICATION_RECORDER_TOPIC"):
            env.pop(key, None)
        return env

    def close(self) -> None:
        """Remove what the measurements left behind."""


class SQLiteStore(Store):
    name = "SQLite"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def fresh_settings(self, label: str) -> Settings:
        path = self.folder / f"{label}.db"
        if path.exists():
            raise BenchmarkError(f"{path} already exists")
        return Settings(db=path, database_url=None)


class PostgresStore(Store):
    name = "PostgreSQL"

    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix = f"bench_ingest_{os.getpid()}"
        self.schemas: list[str] = []

    def fresh_settings(self, label: str) -> Settings:
        schema = f"{self.prefix}_{label}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        self.schemas.append(schema)
        return Settings(database_url=self.url, database_schema=schema)

    def server_info(self) -> str:
        with psycopg.connect(self.url, autocommit=True) as conn:
            values = [
                conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                for name in ("server_version", "fsync", "synchronous_commit")
            ]
        return f"{values[0]} (fsync={values[1]}, synchronous_commit={values[2]})"

    def close(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            for schema in self.schemas:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )
        self.schemas.clear()


# --- measurements ------------------------------------------------------------------------------


@dataclass
class Result:
    store: str
    path: str
    touchpoints: int
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.touchpoints / self.seconds if self.seconds else 0.0


def rapport_bulk(store: Store, data: Path, label: str) -> Result:
    """The CLI's import: scan, decide and write in bounded memory (``import_touchpoints``)."""
    ledger = Ledger(store.fresh_settings(label))
    try:
        gc.collect()
        started = time.perf_counter()
        with bulk_mode():  # as ``rapport import`` does
            result = import_touchpoints(ledger, data, "jsonl", frozenset(UserRole))
        elapsed = time.perf_counter() - started
    finally:
        ledger.close()
    if result.duplicates:
        raise BenchmarkError(f"{label}: {result.duplicates} duplicate(s) in generated data")
    return Result(store.name, RAPPORT_BULK, result.events, elapsed, phases=result.seconds)


def rapport_single(store: Store, sample: list[Line], label: str) -> Result:
    """``Ledger.record`` one touchpoint at a time, each in its own transaction."""
    ledger = Ledger(store.fresh_settings(label))
    latencies: list[float] = []
    not_recorded = 0
    try:
        gc.collect()
        started = time.perf_counter()
        for _, touchpoint in sample:
            begun = time.perf_counter()
            try:
                outcome = ledger.record(touchpoint)
            except Refused:
                outcome = None
            latencies.append((time.perf_counter() - begun) * 1000)
            if not isinstance(outcome, Recorded):
                not_recorded += 1
        elapsed = time.perf_counter() - started
    finally:
        ledger.close()
    if not_recorded:
        raise BenchmarkError(f"{label}: {not_recorded} sampled touchpoint(s) not recorded")
    return Result(store.name, RAPPORT_SINGLE, len(sample), elapsed, latencies_ms=latencies)


class PlainCandidate(Aggregate):
    """A candidate as the library's own examples would write it: the raw JSON as data."""

    @event("Registered")
    def __init__(self, ref: str, data: dict[str, Any]) -> None:
        self.ref = ref
        self.touchpoints = 1

    @event("Touched")
    def touch(self, data: dict[str, Any]) -> None:
        self.touchpoints += 1


class PlainApplication(Application[UUID]):
    """The library's plain application: default mapper, default JSONTranscoder."""


def library_ingest(store: Store, data: Path, label: str, *, per_aggregate: bool) -> Result:
    """Parse every line, build plain aggregates, then save them batched or one by one."""
    app = PlainApplication(env=store.library_env(label))
    try:
        gc.collect()
        started = time.perf_counter()
        with bulk_mode():  # the same interpreter conditions as Rapport's import
            candidates: dict[str, PlainCandidate] = {}
            count = 0
            with data.open("rb") as file:
                for raw in file:
                    if not raw.strip():
                        continue
                    record = orjson.loads(raw)
                    ref = record["candidate"]
                    candidate = candidates.get(ref)
                    if candidate is None:
                        candidates[ref] = PlainCandidate(ref, record)
                    else:
                        candidate.touch(record)
                    count += 1
            built = time.perf_counter()
            saved_events = 0
            if per_aggregate:
                for candidate in candidates.values():
                    saved_events += len(app.save(candidate))
            else:
                for batch in _batches(candidates.values(), LIBRARY_BATCH_EVENTS):
                    saved_events += len(app.save(*batch))
            saved = time.perf_counter()
    finally:
        app.close()
    if saved_events != count:
        raise BenchmarkError(f"{label}: saved {saved_events} of {count} touchpoints")
    return Result(
        store.name,
        LIBRARY_PER_AGGREGATE if per_aggregate else LIBRARY_BATCHED,
        count,
        saved - started,
        phases={"parse + build": built - started, "save": saved - built},
    )


def _batches(candidates: Iterable[PlainCandidate], events: int) -> Iterator[list[PlainCandidate]]:
    """Whole aggregates, about ``events`` pending events a batch (as Rapport's write cuts)."""
    batch: list[PlainCandidate] = []
    pending = 0
    for candidate in candidates:
        batch.append(candidate)
        pending += len(candidate.pending_events)
        if pending >= events:
            yield batch
            batch, pending = [], 0
    if batch:
        yield batch


def single_sample(data: Path, size: int, seed: int) -> list[Line]:
    """About ``size`` touchpoints of randomly chosen whole candidates, validated.

    Each candidate's touchpoints come registration first, then as they happened (the order
    ``Ledger.decide`` takes them, so each is accepted); candidates are interleaved by time.
    """
    raw_by_candidate: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
    with data.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            if raw.strip():
                raw_by_candidate[orjson.loads(raw)["candidate"]].append((number, raw))
    references = list(raw_by_candidate)
    random.Random(seed).shuffle(references)
    groups: list[list[Line]] = []
    total = 0
    for reference in references:
        if total >= size:
            break
        group = [(n, TOUCHPOINT.validate_json(raw)) for n, raw in raw_by_candidate[reference]]
        group.sort(key=_chronology)
        groups.append(group)
        total += len(group)
    return list(heapq.merge(*groups, key=lambda line: line[1].occurred_at))


def _chronology(line: Line) -> tuple[bool, datetime, int]:
    number, touchpoint = line
    return (not isinstance(touchpoint, CandidateRegistered), touchpoint.occurred_at, number)


def percentiles(latencies: list[float]) -> dict[int, float]:
    """p50, p95 and p99 of the latencies (inclusive method; at least two values)."""
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {p: cuts[p - 1] for p in (50, 95, 99)}


# --- the run -----------------------------------------------------------------------------------


def measure_store(
    store: Store, data: Path, sample: list[Line], warmup: Path, warmup_sample: list[Line]
) -> list[Result]:
    """A tiny warm-up of every path, then the four measurements on this store."""
    console.print(f"[bold]{store.name}[/bold]: warm-up")
    rapport_bulk(store, warmup, "warmup_bulk")
    rapport_single(store, warmup_sample, "warmup_single")
    library_ingest(store, warmup, "warmup_batched", per_aggregate=False)
    library_ingest(store, warmup, "warmup_per_aggregate", per_aggregate=True)
    results = []
    steps = [
        (RAPPORT_BULK, lambda: rapport_bulk(store, data, "rapport_bulk")),
        (RAPPORT_SINGLE, lambda: rapport_single(store, sample, "rapport_single")),
        (LIBRARY_BATCHED, lambda: library_ingest(store, data, "lib_batched", per_aggregate=False)),
        (
            LIBRARY_PER_AGGREGATE,
            lambda: library_ingest(store, data, "lib_per_aggregate", per_aggregate=True),
        ),
    ]
    for path, run in steps:
        console.print(f"[bold]{store.name}[/bold]: {path} …")
        result = run()
        console.print(
            f"  {result.touchpoints:,} touchpoints in {result.seconds:.2f}s ({result.rate:,.0f}/s)"
        )
        results.append(result)
    return results


@dataclass
class Section:
    title: str
    headers: list[str]
    rows: list[list[str]]

    def to_rich(self) -> Table:
        table = Table(*self.headers, title=self.title, title_justify="left")
        for row in self.rows:
            table.add_row(*row)
        return table

    def to_markdown(self) -> str:
        lines = [
            f"## {self.title}",
            "",
            "| " + " | ".join(self.headers) + " |",
            "|" + "|".join("---" for _ in self.headers) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines) + "\n"


def show(sections: list[Section], started: float, notes: Iterable[str] = ()) -> float:
    """Print the sections (and notes) as tables; returns the run's seconds since ``started``."""
    console.print()
    for section in sections:
        console.print(section.to_rich())
    for note in notes:
        console.print(f"[yellow]{note}[/yellow]")
    total = time.perf_counter() - started
    console.print(f"total run time {total:.0f}s")
    return total


def write_report(out: Path, header: list[str], sections: list[Section]) -> None:
    """The same report as Markdown: the header's lines, then every section."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(header) + "\n" + "\n".join(s.to_markdown() for s in sections))
    console.print(f"wrote {out}")


def throughput_section(results: list[Result]) -> Section:
    baseline = {r.store: r.rate for r in results if r.path == LIBRARY_BATCHED}
    rows = []
    for r in results:
        base = baseline.get(r.store)
        ratio = f"{r.rate / base:.2f}x" if base else "-"
        target = ""
        if r.path == RAPPORT_BULK and r.store == SQLiteStore.name:
            target = f"≥ {TARGET_BULK_RATE:,.0f}/s: {_verdict(r.rate >= TARGET_BULK_RATE)}"
        rows.append(
            [
                r.store,
                r.path,
                f"{r.touchpoints:,}",
                f"{r.seconds:.2f}",
                f"{r.rate:,.0f}",
                ratio,
                target,
            ]
        )
    return Section(
        "Ingest throughput (same data, fresh store each)",
        [
            "store",
            "path",
            "touchpoints",
            "seconds",
            "touchpoints/s",
            "vs library batched",
            "target",
        ],
        rows,
    )


def phases_section(results: list[Result]) -> Section:
    rows = []
    for r in results:
        for phase, seconds in r.phases.items():
            share = f"{seconds / r.seconds:.0%}" if r.seconds else "-"
            rate = f"{r.touchpoints / seconds:,.0f}" if seconds else "-"
            rows.append([r.store, r.path, phase, f"{seconds:.2f}", share, rate])
    return Section("Phases", ["store", "path", "phase", "seconds", "share", "touchpoints/s"], rows)


def latency_section(results: list[Result]) -> Section:
    rows = []
    for r in results:
        if len(r.latencies_ms) < 2:
            continue
        p = percentiles(r.latencies_ms)
        rows.append(
            [
                r.store,
                f"{r.touchpoints:,}",
                f"{r.seconds:.2f}",
                f"{r.rate:,.0f}",
                f"{p[50]:.2f}",
                f"{p[95]:.2f}",
                f"{p[99]:.2f}",
                f"{max(r.latencies_ms):.2f}",
                _verdict(p[99] < TARGET_P99_MS),
            ]
        )
    return Section(
        "Single touchpoints: Ledger.record, one transaction each (latency in ms)",
        [
            "store",
            "touchpoints",
            "seconds",
            "touchpoints/s",
            "p50",
            "p95",
            "p99",
            "max",
            f"p99 < {TARGET_P99_MS:g} ms",
        ],
        rows,
    )


def targets_section(results: list[Result]) -> Section:
    rows = []
    for r in results:
        if r.path == RAPPORT_BULK and r.store == SQLiteStore.name:
            rows.append(
                [
                    f"bulk import on SQLite ≥ {TARGET_BULK_RATE:,.0f} touchpoints/s",
                    f"{r.rate:,.0f} touchpoints/s",
                    _verdict(r.rate >= TARGET_BULK_RATE),
                ]
            )
    for r in results:
        if len(r.latencies_ms) >= 2:
            p99 = percentiles(r.latencies_ms)[99]
            rows.append(
                [
                    f"single-touchpoint p99 < {TARGET_P99_MS:g} ms ({r.store})",
                    f"{p99:.2f} ms",
                    _verdict(p99 < TARGET_P99_MS),
                ]
            )
    return Section("Targets", ["target", "measured", "verdict"], rows)


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def machine_section(postgres_version: str, data_info: list[list[str]]) -> Section:
    cpu = "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    rows = [
        ["cores", f"{os.cpu_count()} ({cpu})"],
        ["platform", platform.platform()],
        ["Python", f"{platform.python_implementation()} {platform.python_version()}"],
        ["SQLite", sqlite3.sqlite_version],
        ["PostgreSQL", postgres_version],
        [
            "libraries",
            ", ".join(
                f"{name} {version(name)}"
                for name in ("eventsourcing", "pydantic", "pydantic-core", "orjson", "psycopg")
            ),
        ],
        *data_info,
    ]
    return Section("Machine and data", ["item", "value"], rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench.ingest", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--candidates", type=int, default=DEFAULT_CANDIDATES, help="candidates to generate"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed")
    parser.add_argument(
        "--single", type=int, default=DEFAULT_SINGLE, help="touchpoints recorded one by one"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report file")
    parser.add_argument(
        "--skip-postgres", action="store_true", help=f"SQLite only (else uses {DATABASE_URL_ENV})"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    configure_logging("warning", "console")
    run_started = time.perf_counter()
    url = os.environ.get(DATABASE_URL_ENV)
    postgres: PostgresStore | None = None
    postgres_version = "not measured"
    if args.skip_postgres:
        console.print("[yellow]PostgreSQL skipped (--skip-postgres)[/yellow]")
    elif not url:
        console.print(f"[yellow]PostgreSQL skipped: {DATABASE_URL_ENV} is not set[/yellow]")
    else:
        try:
            postgres = PostgresStore(url)
            postgres_version = postgres.server_info()
        except psycopg.OperationalError as down:
            postgres = None
            console.print(f"[yellow]PostgreSQL skipped: cannot connect ({down})[/yellow]")

    with tempfile.TemporaryDirectory(prefix="rapport-bench-") as tmp:
        folder = Path(tmp)
        data = folder / "touchpoints.jsonl"
        begun = time.perf_counter()
        count = generator.write_jsonl(data, candidates=args.candidates, seed=args.seed)
        generated = time.perf_counter() - begun
        console.print(
            f"generated {count:,} touchpoints for {args.candidates:,} candidates"
            f" (seed {args.seed}) in {generated:.1f}s"
        )
        warmup = folder / "warmup.jsonl"
        generator.write_jsonl(warmup, candidates=WARMUP_CANDIDATES, seed=args.seed + 1)
        sample = single_sample(data, args.single, args.seed)
        warmup_sample = single_sample(warmup, WARMUP_SINGLE, args.seed)

        stores: list[Store] = [SQLiteStore(folder / "sqlite")]
        (folder / "sqlite").mkdir()
        if postgres is not None:
            stores.append(postgres)
        results: list[Result] = []
        try:
            for store in stores:
                results += measure_store(store, data, sample, warmup, warmup_sample)
            data_info = [
                [
                    "data",
                    f"{count:,} touchpoints, {args.candidates:,} candidates, seed {args.seed},"
                    f" {data.stat().st_size / 1e6:.1f} MB JSONL",
                ],
                ["single sample", f"{len(sample):,} touchpoints"],
            ]
            sections = [
                machine_section(postgres_version, data_info),
                throughput_section(results),
                phases_section(results),
                latency_section(results),
                targets_section(results),
            ]
        finally:
            for store in stores:
                store.close()

    total = show(sections, run_started)
    notes = [
        "# Ingest benchmark",
        "",
        f"`python -m infra.bench.ingest --candidates {args.candidates} --seed {args.seed}`,"
        f" run {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, total {total:.0f}s.",
        "Seconds are end to end per path, from reading the file to the last commit; opening the"
        " store is not counted. Rapport's import validates with pydantic; the library paths"
        " parse with orjson only. Bulk paths (Rapport's and the library's) run with the cyclic"
        " GC held, as `rapport import` does (`bulk_mode`); single touchpoints run with it on."
        " Ratios compare with the library's batched save on the same store.",
        "",
    ]
    write_report(args.out, notes, sections)


if __name__ == "__main__":
    main()
