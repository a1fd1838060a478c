"""API benchmark: p50/p99 of the metrics, journey and alerts endpoints at 100k candidates.

``python -m infra.bench.api [--candidates 100000] [--seconds 20] [--concurrency 8]
[--breakdowns 200] [--out FILE]`` (``make bench``). A generated history (about 11 touchpoints a
candidate, so ~1.1M events) is imported into a SQLite ledger cached under ``var/bench/api/``
(re-used when its size matches) and its views are rebuilt.

First, in a process of its own (so that its peak memory is its own), the peer comparison of
uncached breakdowns: ``--breakdowns`` different random engagement breakdowns and as many alerts
pages, each answered one at a time by the SQLite views (``ViewStore``, the old path) and by a
columnar copy refreshed from them (``ColumnarCopy``, what the server reads), answers checked
equal; and the copy's initial full refresh, its time and memory.

Then ``rapport serve`` is started and a load generator in a second process sends requests over
loopback from ``--concurrency`` keep-alive connections. Each endpoint is measured twice: with
the requests a team's dashboards send (the same few queries, answered from the cache until
something new is recorded), and with every request different (each computed, from the columnar
copy for breakdowns and alerts). The varied breakdowns and alerts are measured again one
request at a time, for their latency without queueing.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from domain.access import UserRole
from infra.bench.ingest import Section, percentiles, show, write_report
from infra.core.alert_rules_file import load_rules
from infra.core.logging import configure as configure_logging
from infra.core.settings import Settings
from infra.http.tokens import add_token
from infra.intake.importing import read_touchpoints
from infra.read.alerts import count_open_alerts, open_alerts
from infra.read.columnar import ColumnarCopy
from infra.read.metrics import DIMENSIONS, engagement_report
from infra.read.read_side import following
from infra.read.reader import Reader
from infra.store.ledger import Ledger, bulk_mode
from infra.synthetic import generator
from projections.alerts import AlertsProjection
from projections.engagement import EngagementProjection

FOLDER = Path("var/bench/api")
AS_OF = "2026-10-31"
TARGET_P99_MS = 50.0
READABLE_SEGMENTS = 1_000
"""Breakdowns up to this many segments (a table a person reads) are also reported apart from
the larger ones (recruiter x campaign has about 20,000)."""
TARGET_BREAKDOWN_RATE = 60.0
"""Different engagement breakdowns answered per second with ``--concurrency`` connections."""
DEFAULT_OUT = Path("var/bench/api.md")
DEFAULT_PEER = 200
PEER_WARMUP = 5
ALERTS_PAGE = 100
RESULT_MARK = "RESULT "
RECRUITERS = [f"rec-{i:02d}" for i in range(1, 25)]
LATEST = generator.DEFAULT_UNTIL.timestamp()
DAY = 86_400.0


def prepare(candidates: int) -> tuple[Settings, int]:
    """A ledger of ``candidates`` generated candidates with its views built (cached)."""
    FOLDER.mkdir(parents=True, exist_ok=True)
    settings = ledger_settings(candidates)
    marker = FOLDER / f"rapport-{candidates}.ready"
    if marker.exists() and settings.db.exists():
        return settings, int(marker.read_text())
    for stale in FOLDER.glob(f"rapport-{candidates}*"):
        stale.unlink()
    data = FOLDER / f"history-{candidates}.jsonl"
    started = time.perf_counter()
    generator.write_jsonl(data, candidates=candidates, seed=21)
    lines, errors = read_touchpoints(data)
    assert not errors
    ledger = Ledger(settings)
    try:
        with bulk_mode():
            report = ledger.write(ledger.decide(lines))
    finally:
        ledger.close()
    del lines
    with following(settings) as follower, bulk_mode():
        follower.batch = 50_000
        follower.rebuild()
    data.unlink()
    marker.write_text(str(report.events))
    print(f"prepared {report.events:,} events in {time.perf_counter() - started:.0f}s", flush=True)
    return settings, report.events


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def request_paths(
    kind: str, varied: bool, count: int, seed: int, candidates: int = 100_000
) -> list[str]:
    """The requests of one measurement: a dashboard's few, or every one different."""
    pick = random.Random(seed)
    recruiters = RECRUITERS
    if kind == "metrics":
        if not varied:
            return [f"/api/v1/metrics/engagement?as_of={AS_OF}"] * count
        names = [d for d in DIMENSIONS if d != "therapeutic_area"]
        paths = []
        for _ in range(count):
            by = ",".join(pick.sample(names, 2))
            # A window of its own (to the 1/10000 day): no answer is in the server's cache, even
            # one from an earlier measurement.
            window = f"{pick.uniform(10, 1000):.4f}"
            paths.append(f"/api/v1/metrics/engagement?by={by}&as_of={AS_OF}&window={window}")
        return paths
    if kind == "journey":
        people = [f"C-{pick.randrange(1, candidates + 1):06d}" for _ in range(count)]
        return [
            f"/api/v1/journeys/{c}" for c in (people if varied else people[:20] * (count // 20))
        ]
    if not varied:
        return [f"/api/v1/alerts?as_of={AS_OF}&recruiter={r}" for r in recruiters[:4]] * (
            count // 4
        )
    # An instant to the second as ``as_of``: no answer is in the server's cache.
    return [
        f"/api/v1/alerts?as_of=2026-{pick.randrange(6, 11):02d}-{pick.randrange(1, 29):02d}"
        f"T{pick.randrange(24):02d}:{pick.randrange(60):02d}:{pick.randrange(60):02d}Z"
        f"&recruiter={pick.choice(recruiters)}"
        for _ in range(count)
    ]


def load(
    port: int, token: str, paths: list[str], seconds: float, concurrency: int
) -> dict[str, Any]:
    """The load generator (run in its own process): latencies of every answered request, and
    of the breakdowns with at most ``READABLE_SEGMENTS`` segments and those with more."""
    latencies: list[float] = []
    by_size: dict[bool, list[float]] = {True: [], False: []}
    failures = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    cursor = iter(range(10**9))

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {token}"}
        mine: list[tuple[float, int]] = []
        while time.monotonic() < deadline:
            with lock:
                index = next(cursor)
            path = paths[index % len(paths)]
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status == 200:
                mine.append((elapsed, body.count(b'"outreach":')))
            else:
                with lock:
                    failures[0] += 1
        with lock:
            for elapsed, segments in mine:
                latencies.append(elapsed)
                by_size[segments <= READABLE_SEGMENTS].append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cuts = (
        statistics.quantiles(latencies, n=100, method="inclusive")
        if len(latencies) > 1
        else [0] * 99
    )
    return {
        "requests": len(latencies),
        "failures": failures[0],
        "rate": len(latencies) / elapsed,
        "p50": cuts[49],
        "p99": cuts[98],
        "max": max(latencies, default=0.0),
        "readable": _p99_of(by_size[True]),
        "large": _p99_of(by_size[False]),
    }


def _p99_of(latencies: list[float]) -> tuple[int, float | None]:
    """How many, and their 99th percentile."""
    if len(latencies) < 2:
        return len(latencies), latencies[0] if latencies else None
    return len(latencies), statistics.quantiles(latencies, n=100, method="inclusive")[98]


# --- the peer comparison: SQLite views vs the columnar copy, in-process ----------------------


Breakdown = tuple[list[str], float, float]
"""(by, as_of, window_days) of one engagement breakdown."""
AlertsPage = tuple[float, str | None, str | None]
"""(as_of, rule, recruiter) of one alerts page."""


def breakdowns(count: int, seed: int) -> list[Breakdown]:
    """``count`` different breakdowns: 1-2 random dimensions, an ``as_of`` in the last year of
    the history, a window of 1-90 days."""
    pick = random.Random(seed)
    names = list(DIMENSIONS)
    return [
        (
            pick.sample(names, pick.randint(1, 2)),
            LATEST - pick.uniform(0, 365) * DAY,
            float(pick.randint(1, 90)),
        )
        for _ in range(count)
    ]


def alerts_pages(count: int, seed: int, rules: Sequence[str]) -> list[AlertsPage]:
    """``count`` different first pages of open alerts: ``as_of`` in the last five months, any
    rule or one, any recruiter or one."""
    pick = random.Random(seed)
    return [
        (
            LATEST - pick.uniform(0, 150) * DAY,
            pick.choice([None, *rules]),
            pick.choice([None, *RECRUITERS]),
        )
        for _ in range(count)
    ]


def engagement_answer(reader: Reader, query: Breakdown) -> Any:
    by, as_of, window = query
    return [s.as_dict() for s in engagement_report(reader, by, as_of, window)]


def alerts_answer(reader: Reader, query: AlertsPage) -> Any:
    """What the alerts endpoint computes: the first page and the counts per rule."""
    as_of, rule, recruiter = query
    page = open_alerts(reader, as_of, rule=rule, recruiter=recruiter, limit=ALERTS_PAGE)
    counts = count_open_alerts(reader, as_of, rule=rule, recruiter=recruiter)
    return [a.as_record() for a in page], counts


def status_kb(field: str) -> int:
    """A ``/proc/self/status`` figure (``VmRSS``, ``VmHWM``) in kB; 0 where there is none."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return 0


def side_by_side(
    views: Reader, copy: ColumnarCopy, queries: Sequence[Any], answer: Callable[[Reader, Any], Any]
) -> dict[str, Any]:
    """Each query answered by the views, then by a snapshot of the copy (opened per query, as
    the server does per request), one at a time; latencies in ms, and the answers compared."""
    on_views: list[float] = []
    on_copy: list[float] = []
    different = 0
    for number, query in enumerate(queries):
        started = time.perf_counter()
        expected = answer(views, query)
        middle = time.perf_counter()
        with copy.snapshot() as snapshot:
            found = answer(snapshot, query)
        ended = time.perf_counter()
        if number < PEER_WARMUP:
            continue  # first use of each statement and its pages: not what a server sees
        on_views.append((middle - started) * 1000)
        on_copy.append((ended - middle) * 1000)
        different += found != expected
    a, b = percentiles(on_views), percentiles(on_copy)
    return {
        "count": len(on_views),
        "views": {"p50": a[50], "p99": a[99], "max": max(on_views)},
        "copy": {"p50": b[50], "p99": b[99], "max": max(on_copy)},
        "different": different,
    }


def peer(spec: dict[str, Any]) -> dict[str, Any]:
    """The peer comparison (run in its own process): the copy's refresh, then both paths."""
    settings = ledger_settings(int(spec["candidates"]))
    rules = load_rules(settings.alert_rules)
    count, seed = int(spec["count"]) + PEER_WARMUP, int(spec["seed"])
    with following(settings) as follower:
        follower.catch_up()
        before = status_kb("VmRSS")
        copy = ColumnarCopy([EngagementProjection(), AlertsProjection(rules)])
        try:
            started = time.perf_counter()
            copy.refresh(follower.store, follower.recorder)
            refresh = time.perf_counter() - started
            after, peak = status_kb("VmRSS"), status_kb("VmHWM")
            engagement = side_by_side(
                follower.store, copy, breakdowns(count, seed), engagement_answer
            )
            alerts = side_by_side(
                follower.store, copy, alerts_pages(count, seed + 1, rules.names), alerts_answer
            )
        finally:
            copy.close()
    return {
        "refresh_s": refresh,
        "rss_before_mb": before / 1024,
        "rss_after_mb": after / 1024,
        "peak_mb": peak / 1024,
        "engagement": engagement,
        "alerts": alerts,
    }


def run_peer(candidates: int, count: int) -> dict[str, Any]:
    """``peer`` in a fresh interpreter, so that the memory it reports is the copy's own."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.bench.api",
            "--peer",
            orjson.dumps({"candidates": candidates, "count": count, "seed": 5}).decode(),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return dict(orjson.loads(line[len(RESULT_MARK) :]))
    raise RuntimeError(f"the peer comparison failed ({done.returncode}):\n{done.stderr[-3000:]}")


def peer_sections(result: dict[str, Any], events: int) -> list[Section]:
    rows = []
    for label, key in (
        ("engagement_report (1-2 random dimensions, as_of, window)", "engagement"),
        (f"alerts page: open_alerts(limit={ALERTS_PAGE}) + count_open_alerts", "alerts"),
    ):
        r = result[key]
        views, copy = r["views"], r["copy"]
        rows.append(
            [
                label,
                str(r["count"]),
                f"{views['p50']:.1f}",
                f"{views['p99']:.1f}",
                f"{copy['p50']:.1f}",
                f"{copy['p99']:.1f}",
                _times(views["p50"], copy["p50"]),
                _times(views["p99"], copy["p99"]),
                "all" if not r["different"] else f"{r['different']} DIFFERENT",
            ]
        )
    comparison = Section(
        f"Uncached answers in-process, one at a time, {events:,} events: SQLite views"
        " (ViewStore) vs the columnar copy (a snapshot per answer) (ms)",
        ["query", "answered", "views p50", "views p99", "copy p50", "copy p99",
         "views / copy p50", "views / copy p99", "answers equal"],
        rows,
    )  # fmt: skip
    copy = Section(
        "Columnar copy: initial full refresh from the SQLite views",
        ["item", "value"],
        [
            ["refresh (whole tables)", f"{result['refresh_s']:.2f} s"],
            ["process RSS before the copy", f"{result['rss_before_mb']:,.0f} MB"],
            ["process RSS after the refresh", f"{result['rss_after_mb']:,.0f} MB"],
            [
                "copy's memory (RSS after - before)",
                f"{result['rss_after_mb'] - result['rss_before_mb']:,.0f} MB",
            ],
            ["process peak RSS by the end of the refresh (VmHWM)", f"{result['peak_mb']:,.0f} MB"],
        ],
    )
    return [comparison, copy]


# --- the run ------------------------------------------------------------------------------------


def ledger_settings(candidates: int) -> Settings:
    return Settings(db=FOLDER / f"rapport-{candidates}.db")


def http_runs(concurrency: int) -> list[tuple[str, bool, int]]:
    """(endpoint, every request different, connections) of each HTTP measurement."""
    runs = [(kind, varied, concurrency) for kind in ("metrics", "journey", "alerts")
            for varied in (False, True)]  # fmt: skip
    if concurrency != 1:
        runs += [("metrics", True, 1), ("alerts", True, 1)]
    return runs


def targets_section(results: dict[tuple[str, bool, int], dict[str, Any]], many: int) -> Section:
    rows = []
    one = results.get(("metrics", True, 1))
    if one is not None:
        rows.append(
            [
                f"engagement breakdowns, every request different, one at a time: p99 ≤"
                f" {TARGET_P99_MS:g} ms",
                f"{one['p99']:.1f} ms ({_split(one)})",
                _verdict(one["p99"] <= TARGET_P99_MS),
            ]
        )
    loaded = results.get(("metrics", True, many))
    if loaded is not None:
        rows.append(
            [
                f"engagement breakdowns, every request different, {many} connections:"
                f" ≥ {TARGET_BREAKDOWN_RATE:g} answered/s",
                f"{loaded['rate']:,.1f}/s (p99 {loaded['p99']:.1f} ms; {_split(loaded)})",
                _verdict(loaded["rate"] >= TARGET_BREAKDOWN_RATE),
            ]
        )
    page = results.get(("alerts", True, 1))
    if page is not None:
        busy = results.get(("alerts", True, many))
        also = f"; {many} connections: p99 {busy['p99']:.1f} ms" if busy and many != 1 else ""
        rows.append(
            [
                f"alerts page, every request different, one at a time: p99 ≤ {TARGET_P99_MS:g} ms",
                f"{page['p99']:.1f} ms{also}",
                _verdict(page["p99"] <= TARGET_P99_MS),
            ]
        )
    return Section("Targets (HTTP, rapport serve)", ["target", "measured", "verdict"], rows)


def _split(measured: dict[str, Any]) -> str:
    """The p99 of the breakdowns a person reads and of the larger ones, apart."""
    parts = []
    for key, label in (("readable", f"≤ {READABLE_SEGMENTS:,}"), ("large", "more")):
        count, p99 = measured[key]
        if count:
            parts.append(f"{count} with {label} segments: p99 {p99:.1f} ms")
    return "; ".join(parts)


def _times(slower: float, faster: float) -> str:
    """How many times ``faster`` goes into ``slower`` (below 1: the other way round)."""
    return f"{slower / faster:.2f}x" if faster else "-"


def _verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--breakdowns",
        type=int,
        default=DEFAULT_PEER,
        help="different breakdowns (and alerts pages) in the in-process peer comparison"
        " (0: skipped)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report file")
    parser.add_argument("--load", help=argparse.SUPPRESS)  # the load generator's own process
    parser.add_argument("--peer", help=argparse.SUPPRESS)  # the peer comparison's own process
    args = parser.parse_args()
    if args.load:
        spec = orjson.loads(Path(args.load).read_bytes())
        result = load(
            spec["port"], spec["token"], spec["paths"], spec["seconds"], spec["concurrency"]
        )
        sys.stdout.write(orjson.dumps(result).decode())
        return
    if args.peer:
        configure_logging("warning", "console")
        print(RESULT_MARK + orjson.dumps(peer(orjson.loads(args.peer))).decode(), flush=True)
        return
    configure_logging("warning", "console")
    began = time.perf_counter()
    settings, events = prepare(args.candidates)
    sections: list[Section] = []
    if args.breakdowns > 1:
        print(f"peer comparison: {args.breakdowns} breakdowns and alerts pages …", flush=True)
        compared = run_peer(args.candidates, args.breakdowns)
        sections += peer_sections(compared, events)
        for key in ("engagement", "alerts"):
            r = compared[key]
            print(
                f"  {key}: views p50 {r['views']['p50']:.1f} / p99 {r['views']['p99']:.1f} ms,"
                f" copy p50 {r['copy']['p50']:.1f} / p99 {r['copy']['p99']:.1f} ms"
                f" (views / copy: {_times(r['views']['p50'], r['copy']['p50'])} at p50,"
                f" {_times(r['views']['p99'], r['copy']['p99'])} at p99),"
                f" {r['different']} answer(s) different",
                flush=True,
            )
        print(
            f"  copy refreshed in {compared['refresh_s']:.2f}s, RSS"
            f" {compared['rss_before_mb']:,.0f} -> {compared['rss_after_mb']:,.0f} MB",
            flush=True,
        )
    tokens = FOLDER / "tokens.json"
    tokens.unlink(missing_ok=True)
    token = add_token(tokens, UserRole.VIEWER, "bench")
    server, port = start_server(settings, tokens)
    rows = []
    results: dict[tuple[str, bool, int], dict[str, Any]] = {}
    try:
        wait_ready(port, token)
        for kind, varied, concurrency in http_runs(args.concurrency):
            spec = FOLDER / "load.json"
            spec.write_bytes(
                orjson.dumps(
                    {
                        "port": port,
                        "token": token,
                        "paths": request_paths(
                            kind, varied, 20_000, seed=len(rows), candidates=args.candidates
                        ),
                        "seconds": args.seconds,
                        "concurrency": concurrency,
                    }
                )
            )
            done = subprocess.run(
                [sys.executable, "-m", "infra.bench.api", "--load", str(spec)],
                capture_output=True,
                check=True,
            )
            result = orjson.loads(done.stdout)
            results[(kind, varied, concurrency)] = result
            rows.append(
                [
                    kind,
                    "every request different" if varied else "a dashboard's requests",
                    str(concurrency),
                    f"{result['requests']:,}",
                    f"{result['rate']:,.0f}/s",
                    f"{result['p50']:.1f}",
                    f"{result['p99']:.1f}",
                    f"{result['max']:.0f}",
                    str(result["failures"]),
                    "met" if result["p99"] <= TARGET_P99_MS else "MISSED",
                ]
            )
            print(
                f"{kind}, {rows[-1][1]}, {concurrency} connection(s): {result['rate']:,.1f}/s,"
                f" p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
    latency = Section(
        f"API latency at {args.candidates:,} candidates ({events:,} events), from a second"
        f" process over loopback, {args.seconds:g} s each (ms)",
        ["endpoint", "requests", "connections", "answered", "rate", "p50", "p99", "max",
         "failed", f"p99 ≤ {TARGET_P99_MS:g} ms"],
        rows,
    )  # fmt: skip
    sections.append(latency)
    sections.append(targets_section(results, args.concurrency))
    show(sections, began)
    header = [
        "# API benchmark",
        "",
        f"`python -m infra.bench.api --candidates {args.candidates} --seconds {args.seconds:g}"
        f" --concurrency {args.concurrency} --breakdowns {args.breakdowns}`, run"
        f" {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, total {time.perf_counter() - began:.0f}s,"
        f" on a SQLite ledger of {events:,} events.",
        "The in-process comparison answers each query with the SQLite views (`ViewStore`, the"
        " old path of the server) and with a snapshot of a `ColumnarCopy` refreshed from them"
        " (what `rapport serve` now reads breakdowns and alerts from), one query at a time, in"
        f" a process of its own; the first {PEER_WARMUP} queries warm both up and are not"
        " counted, and every answer is compared. The HTTP rows go through `rapport serve`:"
        " a dashboard's requests are answered from its cache after the first, every request"
        " different is computed from the columnar copy (breakdowns, alerts) or the views"
        " (journeys). Targets: a varied breakdown's p99 ≤ 50 ms one request at a time and"
        f" ≥ {TARGET_BREAKDOWN_RATE:g} of them per second with {args.concurrency} connections;"
        " an alerts page's p99 ≤ 50 ms. Figures are from the working tree at run time, on a"
        " shared 2-core machine (the load generator shares it with the server).",
        "",
    ]
    write_report(args.out, header, sections)


def start_server(settings: Settings, tokens: Path) -> tuple[subprocess.Popen[bytes], int]:
    """``rapport serve`` on a SQLite ledger, in its own process, on a free loopback port."""
    port = free_port()
    env = os.environ | {
        "RAPPORT_DB": str(settings.db),
        "RAPPORT_DATABASE_URL": "",
        "RAPPORT_API_TOKENS_FILE": str(tokens),
        "RAPPORT_LOG_LEVEL": "warning",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return server, port


def wait_ready(port: int, token: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/api/v1/ready", headers={"Authorization": f"Bearer {token}"})
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("rapport serve did not become ready")


if __name__ == "__main__":
    main()
