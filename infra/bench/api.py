"""API benchmark: p50/p99 of the metrics, journey and alerts endpoints at 100k candidates.

``python -m infra.bench.api [--candidates 100000] [--seconds 20] [--concurrency 8]``
(``make bench``). A generated history (about 11 touchpoints a candidate, so ~1.1M events) is
imported into a SQLite ledger cached under ``var/bench/api/`` (re-used when its size matches),
its views are rebuilt, ``rapport serve`` is started, and a load generator in a second process
sends requests over loopback from ``--concurrency`` keep-alive connections. Each endpoint is
measured twice: with the requests a team's dashboards send (the same few queries, answered from
the cache until something new is recorded), and with every request different (each computed).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from domain.access import UserRole
from infra.bench.ingest import Section, show
from infra.core.logging import configure as configure_logging
from infra.core.settings import Settings
from infra.http.tokens import add_token
from infra.intake.importing import read_touchpoints
from infra.read.metrics import DIMENSIONS
from infra.read.read_side import following
from infra.store.ledger import Ledger, bulk_mode
from infra.synthetic import generator

FOLDER = Path("var/bench/api")
AS_OF = "2026-10-31"
TARGET_P99_MS = 50.0


def prepare(candidates: int) -> tuple[Settings, int]:
    """A ledger of ``candidates`` generated candidates with its views built (cached)."""
    FOLDER.mkdir(parents=True, exist_ok=True)
    settings = Settings(db=FOLDER / f"rapport-{candidates}.db")
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


def request_paths(kind: str, varied: bool, count: int, seed: int) -> list[str]:
    """The requests of one measurement: a dashboard's few, or every one different."""
    pick = random.Random(seed)
    recruiters = [f"rec-{i:02d}" for i in range(1, 25)]
    if kind == "metrics":
        if not varied:
            return [f"/api/v1/metrics/engagement?as_of={AS_OF}"] * count
        names = [d for d in DIMENSIONS if d != "therapeutic_area"]
        paths = []
        for i in range(count):
            by = ",".join(pick.sample(names, 2))
            paths.append(f"/api/v1/metrics/engagement?by={by}&as_of={AS_OF}&window={10 + i % 997}")
        return paths
    if kind == "journey":
        people = [f"C-{pick.randrange(1, 100_000):06d}" for _ in range(count)]
        return [
            f"/api/v1/journeys/{c}" for c in (people if varied else people[:20] * (count // 20))
        ]
    if not varied:
        return [f"/api/v1/alerts?as_of={AS_OF}&recruiter={r}" for r in recruiters[:4]] * (
            count // 4
        )
    return [
        f"/api/v1/alerts?as_of=2026-{pick.randrange(6, 11):02d}-{pick.randrange(1, 29):02d}"
        f"&recruiter={pick.choice(recruiters)}"
        for _ in range(count)
    ]


def load(
    port: int, token: str, paths: list[str], seconds: float, concurrency: int
) -> dict[str, Any]:
    """The load generator (run in its own process): latencies of every answered request."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    cursor = iter(range(10**9))

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {token}"}
        mine: list[float] = []
        while time.monotonic() < deadline:
            with lock:
                index = next(cursor)
            path = paths[index % len(paths)]
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            answer = connection.getresponse()
            answer.read()
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status == 200:
                mine.append(elapsed)
            else:
                with lock:
                    failures[0] += 1
        with lock:
            latencies.extend(mine)

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
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--load", help=argparse.SUPPRESS)  # the load generator's own process
    args = parser.parse_args()
    if args.load:
        spec = orjson.loads(Path(args.load).read_bytes())
        result = load(
            spec["port"], spec["token"], spec["paths"], spec["seconds"], spec["concurrency"]
        )
        sys.stdout.write(orjson.dumps(result).decode())
        return
    configure_logging("warning", "console")
    began = time.perf_counter()
    settings, events = prepare(args.candidates)
    tokens = FOLDER / "tokens.json"
    tokens.unlink(missing_ok=True)
    token = add_token(tokens, UserRole.VIEWER, "bench")
    server, port = start_server(settings, tokens)
    rows = []
    try:
        wait_ready(port, token)
        for kind in ("metrics", "journey", "alerts"):
            for varied in (False, True):
                spec = FOLDER / "load.json"
                spec.write_bytes(
                    orjson.dumps(
                        {
                            "port": port,
                            "token": token,
                            "paths": request_paths(kind, varied, 20_000, seed=len(rows)),
                            "seconds": args.seconds,
                            "concurrency": args.concurrency,
                        }
                    )
                )
                done = subprocess.run(
                    [sys.executable, "-m", "infra.bench.api", "--load", str(spec)],
                    capture_output=True,
                    check=True,
                )
                result = orjson.loads(done.stdout)
                verdict = "met" if result["p99"] < TARGET_P99_MS else "MISSED"
                rows.append(
                    [
                        kind,
                        "every request different" if varied else "a dashboard's requests",
                        f"{result['requests']:,}",
                        f"{result['rate']:,.0f}/s",
                        f"{result['p50']:.1f}",
                        f"{result['p99']:.1f}",
                        f"{result['max']:.0f}",
                        str(result["failures"]),
                        verdict,
                    ]
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
    section = Section(
        f"API latency at {args.candidates:,} candidates ({events:,} events), {args.concurrency}"
        f" connections from a second process, {args.seconds:g} s each (ms)",
        ["endpoint", "requests", "answered", "rate", "p50", "p99", "max", "failed", "p99 < 50 ms"],
        rows,
    )
    show([section], began)


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
