"""Streaming benchmark: the relay, the consumer group and end-to-end lag, beside kafka-python.

``python -m infra.bench.streaming [--events 200000] [--rate 1000] [--seconds 30]``, with the
broker of ``make kafka-up`` (``RAPPORT_KAFKA_BOOTSTRAP``). A generated history is imported into a
SQLite ledger (cached under ``var/bench/streaming/``); every measurement runs in fresh processes
on fresh topics, in one run:

* floor: kafka-python's own producer sending the relay's very messages (the same keys, values
  and headers, prepared beforehand), keyed with its default partitioner, and with the relay's
  settings (transactions of ``--batch``, partitions given);
* relay: ``Relay.run(until_caught_up=True)``, one process, then two (``--workers 2``), timed from
  the first read of the ledger to the last stored position;
* consumer group: ``ProjectionConsumer`` in one process, then two in one group, from the relay's
  topic into fresh views, folding (its bulk first catch-up turned off), timed from the first
  message to the last partition caught up; then a new group's first catch-up in bulk
  (``consumers.first_catch_up``: the topic read to its end by one process, then by two, the
  views built set-based and swapped in); next to the embedded rebuild (``Follower.rebuild``) of
  the same ledger;
* end-to-end lag: a steady ``--rate`` touchpoints/s recorded for ``--seconds`` (a transaction
  every 20 ms) while ``rapport relay`` and ``rapport consume`` run; an observer polls the views'
  per-partition positions every 5 ms and takes, for each touchpoint, the time from its commit in
  the ledger to the commit of its view rows.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from infra.bench.ingest import (
    Section,
    console,
    machine_section,
    percentiles,
    show,
    write_report,
)
from infra.bench.rebuild import own_peak_kb
from infra.core.logging import configure as configure_logging
from infra.core.settings import Settings
from infra.intake.importing import read_touchpoints
from infra.store.ledger import Ledger, bulk_mode
from infra.synthetic import generator

NEVER = 2**62
"""``bulk_from`` that keeps a group folding from its first message."""
DEFAULT_EVENTS = 200_000
DEFAULT_RATE = 1_000
DEFAULT_SECONDS = 30
DEFAULT_BATCH = 5_000
DEFAULT_OUT = Path("var/bench/streaming.md")
CACHE = Path("var/bench/streaming")
EVENTS_PER_CANDIDATE = 11.4
RESULT_MARK = "RESULT "
TARGET_RELAY = 20_000
TARGET_P99_MS = 1_000.0


def ledger_settings(events: int, seed: int) -> tuple[Settings, int]:
    """The cached SQLite ledger of about ``events`` events (imported when missing)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    settings = Settings(db=CACHE / f"ledger-{events}-{seed}.db", database_url=None)
    if settings.db.exists():
        ledger = Ledger(settings)
        try:
            if ledger.position():
                return settings, ledger.position()
        finally:
            ledger.close()
    for stale in CACHE.glob(f"ledger-{events}-{seed}.db*"):
        stale.unlink()
    data = CACHE / f"touchpoints-{events}-{seed}.jsonl"
    console.print(f"generating and importing about {events:,} events …")
    generator.write_jsonl(data, candidates=max(1, round(events / EVENTS_PER_CANDIDATE)), seed=seed)
    lines, errors = read_touchpoints(data)
    if errors:
        raise SystemExit(f"generated data did not validate: {errors[0]}")
    ledger = Ledger(settings, clock=lambda: generator.DEFAULT_UNTIL + timedelta(days=1))
    try:
        with bulk_mode():
            ledger.write(ledger.decide(lines))
        return settings, ledger.position()
    finally:
        ledger.close()
        data.unlink()


def fresh(settings: Settings, label: str) -> Settings:
    prefix = f"bench-{label}-{uuid.uuid4().hex[:8]}"
    return settings.model_copy(update={"kafka_topic_prefix": prefix})


# --- children (each measurement in a process of its own) -------------------------------------


def child(task: dict[str, Any]) -> dict[str, Any]:
    configure_logging("warning", "console")
    settings = Settings.model_validate(task["settings"])
    kind = task["kind"]
    if kind == "raw":
        return raw_producer(settings, task["mode"], task["batch"])
    if kind == "relay":
        return relay_worker(settings, tuple(task["worker"]), task["batch"])
    if kind == "consumer":
        return consumer_worker(settings, task["group"], task["total"])
    if kind == "first_catch_up":
        return first_catch_up_worker(settings, task["group"], task["readers"])
    if kind == "rebuild":
        return embedded_rebuild(settings)
    raise ValueError(kind)


def raw_producer(settings: Settings, mode: str, batch: int) -> dict[str, Any]:
    """kafka-python sending the relay's messages: the floor under the relay."""
    from kafka import KafkaProducer

    from infra.streaming.messages import touchpoint_message
    from infra.streaming.topics import Topics, ensure_topics, partition_of

    ledger = Ledger(settings)
    rows = ledger.ledger_recorder.read_stored(1, 10**9)
    ledger.close()
    messages = [
        (*touchpoint_message(row), partition_of(row.candidate_id, settings.kafka_partitions))
        for row in rows
    ]
    ensure_topics(settings)
    topic = Topics.of(settings).touchpoints
    common: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap.split(","),
        "acks": "all",
        "compression_type": "lz4",
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "max_request_size": 8 * 1024 * 1024,
    }
    if mode == "keyed":
        producer = KafkaProducer(**common)
        started = time.perf_counter()
        for key, value, headers, _ in messages:
            producer.send(topic, value=value, key=key, headers=headers)
        producer.flush()
    else:
        producer = KafkaProducer(**common, transactional_id=f"bench-{uuid.uuid4().hex}")
        producer.init_transactions()
        started = time.perf_counter()
        for i in range(0, len(messages), batch):
            producer.begin_transaction()
            for key, value, headers, partition in messages[i : i + batch]:
                producer.send(topic, value=value, key=key, headers=headers, partition=partition)
            producer.commit_transaction()
    seconds = time.perf_counter() - started
    producer.close()
    return {"events": len(messages), "started": started, "seconds": seconds}


def relay_worker(settings: Settings, worker: tuple[int, int], batch: int) -> dict[str, Any]:
    from consumers.relay import Relay
    from infra.streaming.topics import ensure_topics

    ensure_topics(settings)
    ledger = Ledger(settings)
    try:
        with Relay.connect(settings, ledger.ledger_recorder, batch=batch, worker=worker) as relay:
            relay.producer.connect()  # the producer's start-up is not publishing
            started = time.time()
            stats = relay.run(until_caught_up=True)
            ended = time.time()
    finally:
        ledger.close()
    return {"events": stats.published, "started": started, "ended": ended}


def consumer_worker(settings: Settings, group: str, total: int) -> dict[str, Any]:
    """Consume until every partition this process holds is caught up (and the group has all)."""
    from consumers.projection_consumer import ProjectionConsumer
    from infra.read.read_side import all_projections, group_views_settings

    where = group_views_settings(settings, group)
    consumer = ProjectionConsumer.connect(
        where, group, all_projections(timeline=True), publish_alerts=False, bulk_from=NEVER
    )
    first: list[float] = []
    original = consumer.process

    def timed(records: Any) -> None:
        if not first:
            first.append(time.time())
        original(records)

    consumer.process = timed  # type: ignore[method-assign]

    def done() -> bool:
        if not consumer.consumer.assignment() or not first:
            return False
        lag = consumer.lag()
        return len(lag) == len(consumer.consumer.assignment()) and not any(lag.values())

    try:
        consumer.run(done)
        ended = time.time()
    finally:
        consumer.close()
    return {"events": consumer.stats.applied, "started": first[0], "ended": ended}


def first_catch_up_worker(settings: Settings, group: str, readers: int) -> dict[str, Any]:
    """A new group's views built in bulk from the whole topic (what ``connect`` does first),
    the topic read by ``readers`` processes."""
    from consumers.dead_letters import DeadLetters
    from consumers.first_catch_up import first_catch_up
    from infra.read.read_side import all_projections, group_views_settings
    from infra.read.stream_views import StreamViews
    from infra.read.views import ViewStore
    from infra.streaming.topics import Topics

    where = group_views_settings(settings, group)
    topic = Topics.of(where).touchpoints
    views = StreamViews(ViewStore(where), all_projections(timeline=True), group, topic)
    views.prepare()
    letters = DeadLetters(where, group)
    try:
        started = time.time()
        count = first_catch_up(where, views, letters, bulk_from=1, readers=readers)
        ended = time.time()
    finally:
        letters.close()
        views.store.close()
    return {"events": count, "started": started, "ended": ended, "peak_mb": own_peak_kb() / 1024}


def embedded_rebuild(settings: Settings) -> dict[str, Any]:
    from infra.read.read_side import following

    with following(settings) as follower:
        started = time.perf_counter()
        with bulk_mode():
            count = follower.rebuild()
        seconds = time.perf_counter() - started
    return {"events": count, "seconds": seconds}


def run_children(tasks: list[dict[str, Any]], timeout: float = 900) -> list[dict[str, Any]]:
    """Run the tasks at the same time, each in a fresh process; their results in order."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "infra.bench.streaming", "--child", json.dumps(task)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for task in tasks
    ]
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=timeout)
        if process.returncode != 0:
            raise SystemExit(f"a benchmark child failed ({process.returncode})")
        line = next(x for x in out.splitlines() if x.startswith(RESULT_MARK))
        results.append(json.loads(line.removeprefix(RESULT_MARK)))
    return results


def task(kind: str, settings: Settings, **more: Any) -> dict[str, Any]:
    return {"kind": kind, "settings": settings.model_dump(mode="json")} | more


def span_rate(results: list[dict[str, Any]]) -> tuple[int, float, float]:
    events = sum(r["events"] for r in results)
    seconds = max(r["ended"] for r in results) - min(r["started"] for r in results)
    return events, seconds, events / seconds


# --- end-to-end lag ---------------------------------------------------------------------------


def end_to_end(
    base: Settings, rate: int, seconds: int, seed: int, consume: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Record a steady ``rate`` while a relay and a consumer run; time each touchpoint to its
    view rows."""
    from infra.read.read_side import group_views_settings
    from infra.streaming.topics import ensure_topics, partition_of

    folder = CACHE / "lag"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    settings = fresh(base, "lag").model_copy(update={"db": folder / "rapport.db"})
    ensure_topics(settings)
    data = folder / "touchpoints.jsonl"
    wanted = rate * seconds
    generator.write_jsonl(
        data, candidates=max(1, round(wanted * 1.2 / EVENTS_PER_CANDIDATE)), seed=seed
    )
    lines, errors = read_touchpoints(data)
    assert not errors
    lines = lines[:wanted]
    env = os.environ | {
        "RAPPORT_DB": str(settings.db),
        "RAPPORT_DATABASE_URL": "",
        "RAPPORT_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "RAPPORT_KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "RAPPORT_LOG_FORMAT": "json",
        "RAPPORT_LOG_LEVEL": "warning",
    }
    ledger = Ledger(settings)
    recorder = ledger.ledger_recorder
    ledger.record(lines[0][1])  # the warm-up touchpoint creates the ledger and starts the flow
    lines = lines[1:]
    processes = [
        subprocess.Popen([sys.executable, "-m", "infra.cli", *arguments], env=env)
        for arguments in (["relay"], ["consume", "--group", "lag", *consume])
    ]
    views = group_views_settings(settings, "lag").views_db
    assert views is not None

    def positions() -> dict[int, int]:
        try:
            with sqlite3.connect(f"file:{views}?mode=ro", uri=True, timeout=1) as conn:
                rows = conn.execute("SELECT partition, position FROM view_stream_offsets")
                return {int(p): int(pos) for p, pos in rows}
        except sqlite3.Error:
            return {}

    deadline = time.monotonic() + 120
    while max(positions().values(), default=0) < 1:
        if time.monotonic() > deadline:
            raise SystemExit("the relay and consumer did not start within 120 s")
        time.sleep(0.05)
    pending: dict[int, collections.deque[tuple[int, float]]] = collections.defaultdict(
        collections.deque
    )
    lags: list[float] = []
    lock = threading.Lock()
    recording = threading.Event()
    recording.set()

    def observe() -> None:
        while recording.is_set() or any(pending.values()):
            seen = positions()
            now = time.perf_counter()  # after the read: a lag is never under-stated
            with lock:
                for partition, queue in pending.items():
                    done = seen.get(partition, 0)
                    while queue and queue[0][0] <= done:
                        lags.append(now - queue.popleft()[1])
            if time.perf_counter() > stop_observing[0]:
                return
            time.sleep(0.005)

    stop_observing = [float("inf")]
    observer = threading.Thread(target=observe, daemon=True)
    observer.start()
    per_tick = max(1, rate // 50)
    started = time.perf_counter()
    recorded = 0
    for tick, at in enumerate(range(0, len(lines), per_tick)):
        due = started + tick * 0.02
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        chunk = lines[at : at + per_tick]
        report = ledger.write(ledger.decide(chunk))
        committed = time.perf_counter()
        if report.first_position is not None:
            # Which partition each new event goes to (one read of the rows just written).
            rows = recorder.read_stored(report.first_position, report.events)
            with lock:
                for row in rows:
                    partition = partition_of(row.candidate_id, settings.kafka_partitions)
                    pending[partition].append((row.position, committed))
        recorded += report.events
    elapsed = time.perf_counter() - started
    recording.clear()
    stop_observing[0] = time.perf_counter() + 60
    observer.join()
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(timeout=60)
    ledger.close()
    missing = sum(len(q) for q in pending.values())
    return {
        "recorded": recorded,
        "seconds": elapsed,
        "rate": recorded / elapsed,
        "lags": lags,
        "missing": missing,
    }


# --- the report -------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def _verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench.streaming", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="ledger size")
    parser.add_argument("--rate", type=int, default=DEFAULT_RATE, help="touchpoints/s for lag")
    parser.add_argument("--seconds", type=int, default=DEFAULT_SECONDS, help="lag run length")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="relay transaction size")
    parser.add_argument("--seed", type=int, default=7, help="generator seed")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        print(RESULT_MARK + json.dumps(child(json.loads(args.child))), flush=True)
        return
    configure_logging("warning", "console")
    from infra.streaming.topics import admin_client

    run_started = time.perf_counter()
    base, events = ledger_settings(args.events, args.seed)
    base = base.model_copy(update={"kafka_bootstrap": Settings().kafka_bootstrap})
    with admin_client(base):
        pass  # fails clearly when no broker answers
    console.print(f"ledger {base.db}: {events:,} events; broker {base.kafka_bootstrap}")

    console.print("floor: kafka-python producer …")
    keyed = run_children([task("raw", fresh(base, "raw"), mode="keyed", batch=args.batch)])[0]
    floor = run_children([task("raw", fresh(base, "tx"), mode="tx", batch=args.batch)])[0]
    console.print("relay, 1 and 2 processes …")
    one = fresh(base, "relay1")
    relay_one = span_rate(run_children([task("relay", one, worker=[0, 1], batch=args.batch)]))
    two = fresh(base, "relay2")
    relay_two = span_rate(
        run_children([task("relay", two, worker=[i, 2], batch=args.batch) for i in (0, 1)])
    )
    console.print("consumer group, 1 and 2 processes; embedded rebuild …")
    rebuild_settings = base.model_copy(update={"views_db": CACHE / "rebuild.views.db"})
    for stale in CACHE.glob("rebuild.views.db*"):
        stale.unlink()
    rebuild = run_children([task("rebuild", rebuild_settings)])[0]
    consumed = {}
    for count in (1, 2):
        group = f"bench{count}_{uuid.uuid4().hex[:6]}"
        consumed[count] = span_rate(
            run_children([task("consumer", one, group=group, total=events) for _ in range(count)])
        )
        for stale in CACHE.glob(f"*.{group}.views.db*"):
            stale.unlink()
    bulk = {}
    for readers in (1, 2):
        group = f"bulk{readers}_{uuid.uuid4().hex[:6]}"
        bulk[readers] = run_children([task("first_catch_up", one, group=group, readers=readers)])
        for stale in CACHE.glob(f"*.{group}.views.db*"):
            stale.unlink()
    console.print(f"end-to-end lag at {args.rate:,}/s for {args.seconds}s …")
    lag = end_to_end(base, args.rate, args.seconds, args.seed + 1)

    keyed_rate = keyed["events"] / keyed["seconds"]
    floor_rate = floor["events"] / floor["seconds"]
    relay_rows = [
        ["kafka-python producer, keyed (default partitioner), same messages", keyed, keyed_rate],
        [f"kafka-python producer, transactions of {args.batch:,}, partitions given (floor)",
         floor, floor_rate],
    ]  # fmt: skip
    relay_section = Section(
        "Relay throughput (ledger → touchpoints topic)",
        ["path", "events", "seconds", "events/s", "vs keyed producer", "vs floor", "target"],
        [
            [name, f"{r['events']:,}", f"{r['seconds']:.2f}", f"{rate:,.0f}",
             f"{rate / keyed_rate:.2f}x", f"{rate / floor_rate:.2f}x", ""]
            for name, r, rate in relay_rows
        ]
        + [
            [name, f"{n:,}", f"{sec:.2f}", f"{rate:,.0f}", f"{rate / keyed_rate:.2f}x",
             f"{rate / floor_rate:.2f}x",
             f"≥ {TARGET_RELAY:,}/s: {_verdict(rate >= TARGET_RELAY)}"]
            for name, (n, sec, rate) in (
                ("**Rapport relay**, 1 process", relay_one),
                ("**Rapport relay**, 2 processes (`--workers 2`)", relay_two),
            )
        ],
    )  # fmt: skip
    rebuild_rate = rebuild["events"] / rebuild["seconds"]
    consumer_section = Section(
        "Projection throughput (touchpoints topic → journey, engagement and alert views)",
        ["path", "facts", "seconds", "facts/s", "vs embedded rebuild"],
        [["embedded rebuild of the same ledger (`Follower.rebuild`)", f"{rebuild['events']:,}",
          f"{rebuild['seconds']:.2f}", f"{rebuild_rate:,.0f}", "1.00x"]]
        + [
            [f"**consumer group**, {count} process{'es' if count > 1 else ''}", f"{n:,}",
             f"{sec:.2f}", f"{rate:,.0f}", f"{rate / rebuild_rate:.2f}x"]
            for count, (n, sec, rate) in consumed.items()
        ]
        + [[f"**a new group's first catch-up in bulk** (`first_catch_up`), {readers}"
            f" reading process{'es' if readers > 1 else ''}, peak {r[0]['peak_mb']:,.0f} MB",
            f"{n:,}", f"{sec:.2f}", f"{rate:,.0f}", f"{rate / rebuild_rate:.2f}x"]
           for readers, r in bulk.items()
           for n, sec, rate in [span_rate(r)]],
    )  # fmt: skip
    cuts = percentiles(lag["lags"]) if len(lag["lags"]) > 1 else {50: 0.0, 95: 0.0, 99: 0.0}
    lag_section = Section(
        "End-to-end lag (recorded in the ledger → its view rows committed)",
        ["asked", "achieved", "touchpoints", "p50", "p95", "p99", "max", "never seen", "target"],
        [[f"{args.rate:,}/s for {args.seconds}s", f"{lag['rate']:,.0f}/s",
          f"{lag['recorded']:,}", _ms(cuts[50]), _ms(cuts[95]), _ms(cuts[99]),
          _ms(max(lag["lags"], default=0.0)), str(lag["missing"]),
          f"p99 < 1 s: {_verdict(cuts[99] * 1000 < TARGET_P99_MS and not lag['missing'])}"]],
    )  # fmt: skip
    kafka_version = next(
        line.split(">")[1].split("<")[0]
        for line in (Path(__file__).parents[1] / "ops" / "kafka" / "pom.xml")
        .read_text()
        .splitlines()
        if "<kafka.version>" in line
    )
    machine = machine_section(
        "not used",
        [
            ["Kafka", f"Apache Kafka {kafka_version} (KRaft, one broker on 127.0.0.1)"],
            ["kafka-python", version("kafka-python")],
            ["ledger", f"{events:,} events (SQLite), {base.kafka_partitions} partitions"],
        ],
    )
    sections = [machine, relay_section, consumer_section, lag_section]
    total = show(sections, run_started)
    header = [
        "# Streaming benchmark",
        "",
        f"`python -m infra.bench.streaming --events {args.events} --rate {args.rate}"
        f" --seconds {args.seconds}`, run {time.strftime('%Y-%m-%d %H:%M:%S %Z')},"
        f" total {total:.0f}s. " + " ".join(__doc__.split("\n\n", 1)[1].split()),
        "",
    ]
    write_report(args.out, header, sections)


if __name__ == "__main__":
    main()
