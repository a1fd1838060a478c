"""Soak and fault run: writers over HTTP at a steady rate while ``rapport serve`` is killed with
``kill -9`` and restarted, an import of overlapping touchpoints at the same time, and poison
requests mixed in. At the end every figure that matters is counted, and the run fails unless
there are 0 lost, 0 doubled, 0 false refusals, the chains verify, and the views the server kept
across its deaths equal a rebuild from the ledger.

``python -m infra.bench.soak [--candidates 200] [--rate 80] [--kills 5] [--kill-every 4]
[--database-url URL]`` (``make soak``). Loopback only; bounded by its arguments (about a minute
with the defaults).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from domain.access import UserRole
from infra.bench.api import free_port
from infra.bench.ingest import Section, show
from infra.compliance import audit
from infra.core.settings import Settings
from infra.http.tokens import add_token
from infra.read.read_side import all_projections, following
from infra.read.views import ViewStore
from infra.store.ledger import Ledger
from infra.synthetic.generator import write_jsonl

POISON_KINDS = ("out_of_bounds", "repeated_key", "erasure_by_recruiter", "control_character",
                "unknown_candidate", "oversized")  # fmt: skip
EXPECTED = {"out_of_bounds": 422, "repeated_key": 422, "erasure_by_recruiter": 403,
            "control_character": 422, "unknown_candidate": 409, "oversized": 413}  # fmt: skip


@dataclass
class Tally:
    answers: Counter[int] = field(default_factory=Counter)
    retries: int = 0
    poison: Counter[str] = field(default_factory=Counter)
    poison_wrong: list[str] = field(default_factory=list)
    refused_on_purpose: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Server:
    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "infra.cli", "serve", "--port", str(self.port)],
                env=self.env, stdout=sink, stderr=sink)  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/api/v1/health")
                conn.getresponse().read()
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"rapport serve did not start; see {self.log}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)


def post(port: int, token: str, body: bytes, path: str = "/api/v1/touchpoints") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        # Answered (413) and closed before the whole body was sent: the answer is still there,
        # unless the connection itself is gone (the server was killed): then it is a retry.
        try:
            conn.request("POST", path, body=body, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            if conn.sock is None:
                raise
        answer = conn.getresponse()
        answer.read()
        return answer.status
    finally:
        conn.close()


def writer(lines: list[bytes], port: int, token: str, rate: float, tally: Tally) -> None:
    """Sends each line until it gets an answer that is not the server's death; in order."""
    pause = 1.0 / rate
    for line in lines:
        started = time.monotonic()
        while True:
            try:
                status = post(port, token, line)
            except (OSError, http.client.HTTPException):
                status = 0
            if status in (200, 201, 409, 422):
                break
            with tally.lock:
                tally.retries += 1
            time.sleep(0.05)  # the server is down, or restarting: the same request again
        with tally.lock:
            tally.answers[status] += 1
        time.sleep(max(0.0, pause - (time.monotonic() - started)))


def poison(kind: str, number: int) -> tuple[bytes, str | None]:
    """A bad request of ``kind``; for a refusal the rules must log, its candidate."""
    base = {"type": "reply_received", "candidate": "C-000001", "occurred_at":
            "2026-05-01T09:00:00Z", "channel": "email", "sentiment": "interested",
            "source_id": f"poison-{number}"}  # fmt: skip
    if kind == "out_of_bounds":
        return orjson.dumps(base | {"occurred_at": "0001-01-01T00:00:00+14:00"}), None
    if kind == "repeated_key":
        return orjson.dumps(base)[:-1] + b',"sentiment":"not_interested"}', None
    if kind == "erasure_by_recruiter":
        return orjson.dumps({"type": "erasure_requested", "candidate": "C-000001",
                             "occurred_at": "2026-05-01T09:00:00Z"}), None  # fmt: skip
    if kind == "control_character":
        return orjson.dumps(base | {"source_id": f"poison\x00{number}"}), None
    if kind == "unknown_candidate":
        nobody = f"NOBODY-{number}"
        return orjson.dumps(base | {"candidate": nobody}), nobody
    return b'{"type": "reply_received", "x": "' + b"y" * (11 * 1024 * 1024) + b'"}', None


def poisoner(port: int, token: str, stop: threading.Event, tally: Tally) -> None:
    number = 0
    while not stop.is_set():
        kind = POISON_KINDS[number % len(POISON_KINDS)]
        if kind == "oversized" and tally.poison["oversized"] >= 2:
            kind = "unknown_candidate"
        body, refused = poison(kind, number)
        try:
            status = post(port, token, body)
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
            continue  # the server died meanwhile: that is not an answer
        if status in (500, 502, 503) or status == 0:
            time.sleep(0.1)  # the server is dying; only answers count
            continue
        with tally.lock:
            tally.poison[kind] += 1
            if status != EXPECTED[kind]:
                tally.poison_wrong.append(f"{kind}: {status}")
            elif refused is not None:
                tally.refused_on_purpose.add(refused)
        number += 1
        time.sleep(0.2)


def dump(store: ViewStore) -> dict[str, list[tuple[Any, ...]]]:
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for projection in all_projections():
        for table in projection.tables:
            order = ", ".join(table.key)
            tables[table.name] = store.query(f"SELECT * FROM {table.name} ORDER BY {order}")
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--rate", type=float, default=80, help="touchpoints/s, all writers")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--kill-every", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="Keep the PostgreSQL schemas.")
    args = parser.parse_args()
    started = time.perf_counter()
    folder = args.workdir or Path(tempfile.mkdtemp(prefix="rapport-soak-"))
    folder.mkdir(parents=True, exist_ok=True)
    schema = f"soak_{uuid.uuid4().hex[:8]}"
    env = os.environ | {"RAPPORT_LOG_FORMAT": "json", "RAPPORT_LOG_LEVEL": "warning",
                        "RAPPORT_CHAIN_KEY_FILE": str(folder / "chain.key"),
                        "RAPPORT_CHECKPOINT_FILE": str(folder / "checkpoint.json"),
                        "RAPPORT_API_TOKENS_FILE": str(folder / "tokens.json")}  # fmt: skip
    if args.database_url:
        import psycopg

        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        env |= {"RAPPORT_DATABASE_URL": args.database_url, "RAPPORT_DATABASE_SCHEMA": schema}
        env.pop("RAPPORT_DB", None)
        settings = Settings(database_url=args.database_url, database_schema=schema,
                            chain_key_file=folder / "chain.key",
                            checkpoint_file=folder / "checkpoint.json")  # fmt: skip
    else:
        env |= {"RAPPORT_DB": str(folder / "soak.db"), "RAPPORT_DATABASE_URL": ""}
        settings = Settings(db=folder / "soak.db", chain_key_file=folder / "chain.key",
                            checkpoint_file=folder / "checkpoint.json")  # fmt: skip

    whole = folder / "history.jsonl"
    write_jsonl(whole, candidates=args.candidates, seed=args.seed)
    lines = [ln for ln in whole.read_bytes().splitlines() if b"erasure_requested" not in ln]
    by_candidate: dict[str, list[bytes]] = {}
    for line in lines:
        by_candidate.setdefault(orjson.loads(line)["candidate"], []).append(line)
    candidates = sorted(by_candidate)
    rng = random.Random(args.seed)
    overlap = set(rng.sample(candidates, len(candidates) // 2))
    imported = folder / "overlap.jsonl"
    imported.write_bytes(b"\n".join(ln for c in sorted(overlap) for ln in by_candidate[c]) + b"\n")

    token = add_token(folder / "tokens.json", UserRole.RECRUITER, "soak")
    port = free_port()
    server = Server(env, port, folder / "serve.log")
    server.start()
    tally = Tally()
    shares = [[ln for c in candidates[i :: args.writers] for ln in by_candidate[c]]
              for i in range(args.writers)]  # fmt: skip
    writers = [threading.Thread(target=writer, args=(share, port, token,
                                                     args.rate / args.writers, tally))
               for share in shares]  # fmt: skip
    stop_poison = threading.Event()
    poisoning = threading.Thread(target=poisoner, args=(port, token, stop_poison, tally))
    for thread in [*writers, poisoning]:
        thread.start()
    time.sleep(args.kill_every / 2)
    importer = subprocess.Popen([sys.executable, "-m", "infra.cli", "import", str(imported),
                                 "--batch-size", "200"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)  # fmt: skip
    kills = 0
    while kills < args.kills and any(t.is_alive() for t in writers):
        time.sleep(args.kill_every)
        server.kill()
        kills += 1
        server.start()
    for thread in writers:
        thread.join()
    stop_poison.set()
    poisoning.join()
    import_output = importer.communicate(timeout=600)[0].decode()
    server.stop()

    ledger = Ledger(settings)
    try:
        keys = [f"src:{orjson.loads(line)['source_id']}" for line in lines]
        found = ledger.ledger_recorder.lookup(keys, []).recorded_keys
        events = sum(1 for _ in ledger.history())  # positions may have gaps on PostgreSQL
        refusals = ledger.ledger_recorder.refusals()
        verification = audit.verify(ledger)
    finally:
        ledger.close()
    false_refusals = [r for r in refusals if r.candidate not in tally.refused_on_purpose]
    with ViewStore(settings) as kept:
        served_views = dump(kept)
    fresh = (settings.model_copy(update={"views_schema": f"{schema}_fresh"})
             if args.database_url else
             settings.model_copy(update={"views_db": folder / "fresh.views.db"}))  # fmt: skip
    with following(fresh) as follower:
        follower.catch_up()
        rebuilt = dump(follower.store)
    if args.database_url and not args.keep:
        import psycopg

        with psycopg.connect(args.database_url, autocommit=True) as conn:
            for name in (schema, f"{schema}_fresh"):
                conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    lost = len(set(keys) - found)
    doubled = events - len(found)
    checks = {
        "lost": lost == 0,
        "doubled": doubled == 0,
        "false refusals": not false_refusals,
        "poison answered as expected": not tally.poison_wrong,
        "no 5xx to a writer": all(s < 500 for s in tally.answers),
        "import exited 0": importer.returncode == 0,
        "chains verify": verification.intact,
        "rebuild identical": served_views == rebuilt,
    }
    rows = [
        ["store", "PostgreSQL" if args.database_url else "SQLite"],
        ["distinct touchpoints sent", f"{len(keys):,}"],
        ["events in the ledger", f"{events:,}"],
        ["lost / doubled", f"{lost} / {doubled}"],
        ["writer answers", ", ".join(f"{s}: {n}" for s, n in sorted(tally.answers.items()))],
        ["requests sent again (server down)", f"{tally.retries:,}"],
        ["kill -9 of rapport serve", str(kills)],
        ["poison requests", ", ".join(f"{k}: {n}" for k, n in sorted(tally.poison.items()))],
        ["poison answered wrongly", ", ".join(tally.poison_wrong) or "none"],
        ["refusal log", f"{len(refusals)} ({len(false_refusals)} false)"],
        ["overlapping import", (re.findall(r"recorded .* skipped", import_output) or ["?"])[-1]],
        ["chains", "intact" if verification.intact else f"BROKEN: {verification.broken}"],
        ["views kept across kills = rebuild", str(served_views == rebuilt)],
    ]
    rows += [[f"check: {name}", "ok" if ok else "FAILED"] for name, ok in checks.items()]
    show([Section("Soak and fault run", ["figure", "value"], rows)], started)
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
