"""kill -9 at random points: the relay and the consumers die mid-batch, again and again, while
touchpoints keep being recorded; and a consumer dies while its group's first catch-up in bulk is
building the views aside. After the restarts the views must be exactly what the ledger follower
builds: no event lost, none counted twice."""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import pytest

from infra.core.settings import Settings
from infra.read.read_side import group_views_settings
from tests.support.files import history, record_lines
from tests.support.stores import staged_tables
from tests.support.streaming import (
    embedded_views,
    group_events,
    group_views,
    kill,
    log_events,
    relay_position,
    start,
    stop,
    wait_for,
)

pytestmark = pytest.mark.kafka

ROUNDS = 6


def test_kill_9_of_relay_and_consumers_at_random_points_loses_nothing_and_doubles_nothing(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    lines = history(1200, seed=31, folder=tmp_path)
    candidates = sorted({touchpoint.candidate for _, touchpoint in lines})
    chunks = [set(candidates[i :: ROUNDS + 1]) for i in range(ROUNDS + 1)]
    logs = {name: tmp_path / f"{name}.log" for name in ("relay", "c0", "c1")}

    def launch(name: str) -> subprocess.Popen[bytes]:
        if name == "relay":
            return start(settings, "relay", "--batch", "100", log=logs[name])
        return start(settings, "consume", "--group", "ops", "--instance", name, "--batch", "100",
                     "--alert-interval", "0.3", log=logs[name])  # fmt: skip

    def progress(name: str) -> int:
        return relay_position(settings) if name == "relay" else group_events(settings, "ops")

    recorded = record_lines(settings, [line for line in lines if line[1].candidate in chunks[0]])
    running = {name: launch(name) for name in logs}
    kills: list[tuple[str, bool]] = []
    plans = [["relay"], ["c0"], ["c1"], ["relay", "c0"], ["c0", "c1"], ["relay", "c1"]]
    rng.shuffle(plans)
    try:
        for chunk, victims in zip(chunks[1:], plans, strict=True):
            relayed, applied = relay_position(settings), group_events(settings, "ops")
            recorded = record_lines(settings, [ln for ln in lines if ln[1].candidate in chunk])
            # Let the victims start on the new work, then kill them a random moment into it.
            if "relay" in victims:
                wait_for(lambda: relay_position(settings) > relayed, 60, "the relay to publish")  # noqa: B023
            else:
                wait_for(lambda: group_events(settings, "ops") > applied, 60, "the consumers")  # noqa: B023
            time.sleep(rng.uniform(0, 0.2))
            for name in victims:
                kill(running[name])
                kills.append((name, progress(name) < recorded))
            for name in victims:
                running[name] = launch(name)
        wait_for(lambda: group_events(settings, "ops") == recorded, 240, "every event in views",
                 tuple(logs.values()))  # fmt: skip
    finally:
        for process in running.values():
            stop(process)
    mid_work = sum(working for _, working in kills)
    note = f"seed {seed}, kills (victim, mid-work) {kills}"
    print(note)
    assert mid_work >= len(kills) // 2, f"too few kills fell mid-work: {note}"
    assert group_views(settings, "ops") == embedded_views(settings), note


def test_kill_9_during_a_groups_first_catch_up_in_bulk_leaves_nothing_half_built(
    stream_settings: Settings, tmp_path: Path
) -> None:
    """Killed while its staged tables exist, the group has no views and no offsets; started
    again, it builds them in bulk from the start and equals the embedded views."""
    settings = stream_settings
    total = record_lines(settings, history(1500, seed=37, folder=tmp_path))
    relay = start(settings, "relay", "--until-caught-up", log=tmp_path / "relay.log")
    assert relay.wait(timeout=180) == 0
    consume = ("consume", "--bulk-from", "1", "--no-alerts")
    killed = None
    for attempt in range(4):
        group, log = f"ops{attempt}", tmp_path / f"consumer{attempt}.log"
        process = start(settings, *consume, "--group", group, log=log)
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            if staged_tables(group_views_settings(settings, group)):
                kill(process)
                killed = group, log
                break
            time.sleep(0.002)
        stop(process)
        if killed:
            break
    assert killed, "the first catch-up always finished before its staged tables were seen"
    group, log = killed
    assert group_events(settings, group) == 0, "killed before the swap: nothing is in the views"
    process = start(settings, *consume, "--group", group, log=log)
    try:
        wait_for(lambda: group_events(settings, group) == total, 120, "the views", (log,))
    finally:
        stop(process)
    assert log_events(log, "consumer.catching_up_in_bulk")
    assert log_events(log, "consumer.caught_up_in_bulk"), "built in bulk again, not folded"
    assert not staged_tables(group_views_settings(settings, group))
    assert group_views(settings, group) == embedded_views(settings)
