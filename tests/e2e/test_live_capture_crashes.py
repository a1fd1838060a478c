"""Nothing sent is lost or counted twice: a producer killed mid-batch and sending everything
again over HTTP, and inbound consumers killed with kill -9 at random points and restarted.
Every count is checked against what was sent; the server and the broker are real."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
from kafka import KafkaProducer

from domain.access import UserRole
from infra.core.settings import Settings
from infra.http.tokens import add_token
from infra.store.ledger import Ledger
from infra.streaming.topics import Topics, ensure_topics
from tests.support.server import Server, producer
from tests.support.streaming import (
    kill,
    read_topic,
    start,
    stop,
    stream_env,
    tails,
    values,
    wait_for,
)


def history_lines(folder: Path, candidates: int, seed: int) -> list[bytes]:
    from infra.synthetic.generator import write_jsonl

    data = folder / f"history-{seed}.jsonl"
    write_jsonl(data, candidates=candidates, seed=seed)
    return data.read_bytes().splitlines()


def recorded(settings: Settings) -> int:
    """Events in the ledger, counted (PostgreSQL positions may skip numbers a rolled-back
    transaction took, so the last position is not a count)."""
    ledger = Ledger(settings)
    try:
        links = ledger.ledger_recorder.link_rows(1, 10**7)
        keys = {(link.candidate_id, link.version) for link in links}
        assert len(keys) == len(links)
        return len(links)
    finally:
        ledger.close()


def test_a_producer_killed_mid_batch_and_sending_again_records_each_touchpoint_once(
    settings: Settings, tmp_path: Path
) -> None:
    # A recruiter's token: the history without its erasures (compliance records those).
    lines = [line for line in history_lines(tmp_path, 60, 4) if b"erasure_requested" not in line]
    data = tmp_path / "send.jsonl"
    data.write_bytes(b"\n".join(lines))
    tokens_file = tmp_path / "tokens.json"
    token = add_token(tokens_file, UserRole.RECRUITER, "crm")
    server = Server(settings, tokens_file, tmp_path / "serve.log")
    server.start()
    url = f"{server.url}/api/v1/touchpoints/batch"
    try:
        # A CRM sending as it goes, so the kill lands mid-run.
        sending = subprocess.Popen(producer(url, token, data, pause=0.05),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        wait_for(lambda: recorded(settings) > len(lines) // 3, 60, "the producer to get going",
                 (server.log,))  # fmt: skip
        sending.send_signal(signal.SIGKILL)  # mid-run: a batch may be in flight
        sending.wait()
        assert 0 < recorded(settings) < len(lines)
        again = subprocess.run(producer(url, token, data), capture_output=True, check=False,
                               timeout=300)  # fmt: skip
        assert again.returncode == 0, again.stderr.decode()[-2000:] + server.logs()
        assert recorded(settings) == len(lines)  # sent = recorded: none lost, none doubled
    finally:
        server.stop()


def test_inbound_consumers_killed_at_random_points_lose_and_double_nothing(
    stream_settings: Settings, tmp_path: Path
) -> None:
    # The generated histories hold erasures, which this inbound topic is trusted to carry.
    settings = stream_settings.model_copy(update={"inbound_erasures": True})
    seed = random.randrange(1_000_000)
    pick = random.Random(seed)
    lines = history_lines(tmp_path, 300, 6)
    bad = [b"{not json", orjson.dumps({"type": "reply_received", "candidate": "C-000001"}),
           orjson.dumps({"type": "reply_received", "candidate": "C-NOBODY",
                         "occurred_at": "2026-01-01T00:00:00Z", "channel": "email",
                         "sentiment": "interested", "source_id": "nobody-1"})]  # fmt: skip
    ensure_topics(settings)
    topic = Topics.of(settings).inbound
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
    sent = 0
    for number, line in enumerate(lines):
        key = orjson.loads(line)["candidate"].encode()
        producer.send(topic, key=key, value=line)
        sent += 1
        if number in (40, 400, 900):
            producer.send(topic, key=b"C-x", value=bad[(40, 400, 900).index(number)])
        if number % 7 == 0:  # a producer that sends again: the same touchpoint twice
            producer.send(topic, key=key, value=line)
    producer.flush()
    producer.close()

    logs = (tmp_path / "c0.log", tmp_path / "c1.log")
    processes = [start(settings, "inbound", "--group", "capture", "--instance", f"i{i}",
                       "--batch", "20", log=logs[i]) for i in (0, 1)]  # fmt: skip
    try:
        mid_work = 0
        for round_ in range(5):
            # Each kill lands while the work is under way: once a random share is recorded.
            share = pick.uniform(round_ / 6, (round_ + 1) / 6)
            wait_for(lambda: recorded(settings) >= share * sent, 120, "progress", logs)  # noqa: B023
            time.sleep(pick.uniform(0, 0.3))
            victim = pick.randrange(2)
            so_far = recorded(settings)
            kill(processes[victim])
            mid_work += 0 < so_far < sent
            processes[victim] = start(settings, "inbound", "--group", "capture", "--instance",
                                      f"i{victim}", "--batch", "20", log=logs[victim])  # fmt: skip
        wait_for(lambda: recorded(settings) >= sent, 180, f"every touchpoint (seed {seed})", logs)
        time.sleep(1.0)  # anything doubled would show now
        assert recorded(settings) == sent, f"seed {seed}"
        assert mid_work >= 1, f"every kill fell before or after the work (seed {seed})"
        letters = list(values(read_topic(settings, Topics.of(settings).deadletter)))
        places = {(d["source"]["partition"], d["source"]["offset"]) for d in letters}
        assert len(places) == 3, (seed, letters)
        reasons = sorted(d["reason"].split(":")[0] for d in letters_by_place(letters))
        assert reasons == ["invalid touchpoint", "invalid touchpoint", "refused"], reasons
        assert all(d["consumer_group"] == "capture" for d in letters)
    finally:
        for process in processes:
            stop(process)
    written = b"".join(path.read_bytes() for path in logs)
    assert b'"inbound.progress"' in written, tails(logs)
    env = stream_env(settings)
    command = [sys.executable, "-m", "infra.cli", "audit", "refusals", "--format", "json"]
    refusals = subprocess.run(command, env=env, capture_output=True, check=True)
    counted = orjson.loads(refusals.stdout)["by_reason"]
    assert counted["unknown_candidate"]["touchpoints"] == 1


def letters_by_place(letters: list[dict]) -> list[dict]:
    """One dead letter per source message (a crash may have sent one twice)."""
    found: dict[tuple[int, int], dict] = {}
    for letter in letters:
        found[(letter["source"]["partition"], letter["source"]["offset"])] = letter
    return list(found.values())
