"""Live-capture benchmark: a steady 500 touchpoints/s over HTTP for 60 s, and the batch endpoint
at its best rate, with the count checked (sent = recorded, none lost, none doubled).

``python -m infra.bench.capture [--rate 500] [--seconds 60] [--batch-seconds 20]``
(``make bench``). ``rapport serve`` runs on a fresh SQLite ledger; the load generator runs in a
second process on loopback. Every touchpoint registers a new candidate with a name, an email
and a phone number, so each write seals personal data, chains the event and inserts a key. The
steady load is open-loop: each request is due at its own moment, whatever the previous answers.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from domain.access import UserRole
from infra.bench.api import start_server, wait_ready
from infra.bench.ingest import Section, show
from infra.core.logging import configure as configure_logging
from infra.core.settings import Settings
from infra.http.tokens import add_token
from infra.store.ledger import Ledger

TARGET_P99_MS = 50.0
BATCH = 500


def registration(number: int, run: str) -> dict[str, Any]:
    return {
        "type": "candidate_registered",
        "candidate": f"L-{run}-{number:07d}",
        "occurred_at": "2026-11-30T09:00:00Z",
        "source_id": f"live-{run}-{number}",
        "role": "crc",
        "status": "active",
        "source": "career_site",
        "personal": {
            "name": f"Live Person {number}",
            "email": f"live.{number}@example.org",
            "phone": "+1 555 0100",
        },
    }


def _cuts(latencies: list[float]) -> tuple[float, float, float]:
    if len(latencies) < 2:
        return (latencies or [0.0])[0], (latencies or [0.0])[0], max(latencies, default=0.0)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49], cuts[98], max(latencies)


def steady(port: int, token: str, rate: float, seconds: float, workers: int) -> dict[str, Any]:
    """Open loop: request ``i`` is due at ``start + i / rate``."""
    total = int(rate * seconds)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    late = [0.0]
    lock = threading.Lock()
    numbers = iter(range(total))
    started = time.perf_counter() + 0.2

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        while True:
            with lock:
                number = next(numbers, None)
            if number is None:
                return
            due = started + number / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            body = orjson.dumps(registration(number, "s"))
            sent_at = time.perf_counter()
            connection.request("POST", "/api/v1/touchpoints", body=body, headers=headers)
            answer = connection.getresponse()
            answer.read()
            done = time.perf_counter()
            with lock:
                latencies.append((done - sent_at) * 1000)
                late[0] = max(late[0], sent_at - due)
                statuses[answer.status] = statuses.get(answer.status, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    p50, p99, worst = _cuts(latencies)
    return {"sent": total, "statuses": statuses, "rate": total / elapsed, "p50": p50, "p99": p99,
            "max": worst, "late_ms": late[0] * 1000}  # fmt: skip


def batches(port: int, token: str, seconds: float, workers: int) -> dict[str, Any]:
    """Closed loop: each worker sends its next batch as soon as the last one is answered."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sent = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        while time.perf_counter() < deadline:
            with lock:
                first = next(counter) * BATCH
            body = orjson.dumps([registration(first + i, "b") for i in range(BATCH)])
            sent_at = time.perf_counter()
            connection.request("POST", "/api/v1/touchpoints/batch", body=body, headers=headers)
            answer = connection.getresponse()
            answer.read()
            with lock:
                latencies.append((time.perf_counter() - sent_at) * 1000)
                statuses[answer.status] = statuses.get(answer.status, 0) + 1
                sent[0] += BATCH

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    p50, p99, worst = _cuts(latencies)
    return {"sent": sent[0], "statuses": statuses, "rate": sent[0] / elapsed, "p50": p50,
            "p99": p99, "max": worst}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--batch-seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        spec = orjson.loads(Path(args.load).read_bytes())
        if spec["kind"] == "steady":
            result = steady(
                spec["port"], spec["token"], spec["rate"], spec["seconds"], spec["workers"]
            )
        else:
            result = batches(spec["port"], spec["token"], spec["seconds"], spec["workers"])
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS).decode())
        return
    configure_logging("warning", "console")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rapport-capture-") as folder:
        settings = Settings(db=Path(folder) / "rapport.db")
        Ledger(settings).close()
        tokens = Path(folder) / "tokens.json"
        token = add_token(tokens, UserRole.RECRUITER, "bench")
        server, port = start_server(settings, tokens)
        rows = []
        try:
            wait_ready(port, token)
            for kind, seconds, workers in (("steady", args.seconds, args.workers),
                                           ("batch", args.batch_seconds, 2)):  # fmt: skip
                before = _recorded(settings)
                spec = Path(folder) / "load.json"
                spec.write_bytes(orjson.dumps({"kind": kind, "port": port, "token": token,
                                               "rate": args.rate, "seconds": seconds,
                                               "workers": workers}))  # fmt: skip
                done = subprocess.run(
                    [sys.executable, "-m", "infra.bench.capture", "--load", str(spec)],
                    capture_output=True, check=False,
                )  # fmt: skip
                if done.returncode:
                    raise RuntimeError(done.stderr.decode()[-3000:])
                result = orjson.loads(done.stdout)
                recorded = _recorded(settings) - before
                ok = result["statuses"].get("201", 0)
                lost, doubled = max(0, result["sent"] - recorded), max(0, recorded - result["sent"])
                what = (f"single POST, {args.rate:g}/s for {seconds:g} s" if kind == "steady"
                        else f"batches of {BATCH}, 2 connections, {seconds:g} s")  # fmt: skip
                unit = "request" if kind == "steady" else "batch"
                verdict = (
                    ("met" if result["p99"] < TARGET_P99_MS else "MISSED")
                    if kind == "steady"
                    else "-"
                )
                figures = [result["sent"], ok, recorded, lost, doubled]
                rows.append([what, *(f"{n:,}" for n in figures), f"{result['rate']:,.0f}/s",
                             f"{result['p50']:.1f}", f"{result['p99']:.1f}",
                             f"{result['max']:.0f}", unit, verdict])  # fmt: skip
        finally:
            server.terminate()
            server.wait(timeout=30)
    section = Section(
        "Live capture over HTTP (SQLite ledger; latencies in ms, per request or per batch)",
        ["load", "sent", "201", "recorded", "lost", "doubled", "rate", "p50", "p99", "max",
         "per", "p99 < 50 ms"],
        rows,
    )  # fmt: skip
    show([section], began)


def _recorded(settings: Settings) -> int:
    ledger = Ledger(settings)
    try:
        return ledger.position()
    finally:
        ledger.close()


if __name__ == "__main__":
    main()
