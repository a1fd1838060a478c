"""A realistic, deterministic clinical-staffing history, in the import format.

Why: demos, benchmarks and tests need data whose answers are known in advance. Every touchpoint
here is drawn from ``GROUND_TRUTH``, so the metrics Rapport computes from it (the one-in-five
passive engagement rate, the funnel, the stale-contact alerts) can be checked against the numbers
that produced them. Every line also obeys the Candidate aggregate's rules, so importing a
generated file is never refused.

The history is simulated one candidate at a time, forward in time: registration, consent,
outreach and what it caused, applications and the hiring funnel, talent-pool nurture, profile
enrichment, opt-outs and erasures. A candidate's outreach messages are spaced at least one
attribution window apart (a templated follow-up aside), so an engagement is caused by the
outreach it follows and the measured rates match the ground truth. Lines are then sorted by
``occurred_at``, like a CRM export.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from random import Random
from typing import Any

import orjson

from infra.synthetic.history import History
from infra.synthetic.truth import DAY, DEFAULT_UNTIL
from infra.synthetic.vocabulary import Event
from infra.synthetic.world import World

# --- the public API ------------------------------------------------------------------------------


def generate(
    candidates: int, seed: int, until: datetime = DEFAULT_UNTIL, *, positions: bool = False
) -> Iterator[dict[str, Any]]:
    """The touchpoints of ``candidates`` candidates in the 18 months before ``until``, as lines;
    with ``positions``, the world's positions' facts too (``rapport generate`` writes them; a
    history without them names its requisitions as old data does).

    Deterministic for a ``seed`` (one ``Random``, no clock), sorted by ``occurred_at`` like a CRM
    export, each with a unique ``source_id`` so a re-import is recognised as one.
    """
    if until.tzinfo is None:
        raise ValueError("until needs a time zone")
    world = World(Random(seed), candidates, int(until.timestamp()))
    events = _simulate(world, candidates, positions=positions)
    start, dates, times = world.start, world.calendar.dates, world.calendar.times
    first_day = world.calendar.first_day
    for number, (offset, kind, candidate, keys, values) in enumerate(events, start=1):
        ts = start + offset
        line: dict[str, Any] = {"type": kind}
        if candidate is not None:  # None: a position's fact
            line["candidate"] = candidate
        line["occurred_at"] = dates[ts // DAY - first_day] + times[ts % DAY]
        line["source_id"] = f"crm-{number:07d}"
        line.update(zip(keys, values, strict=True))
        yield line


def _simulate(world: World, candidates: int, *, positions: bool) -> list[Event]:
    """Every candidate's history, cut at ``until``, in the order a CRM export has them.

    The cyclic garbage collector is paused meanwhile: the simulation allocates millions of
    acyclic tuples, which it would otherwise rescan over and over (a third of the run time).
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        events: list[Event] = []
        horizon = world.horizon
        for number in range(1, candidates + 1):
            events.extend(e for e in History(world, number).simulate() if e[0] < horizon)
        if positions:
            events.extend(e for e in world.position_events() if e[0] < horizon)
        events.sort(key=itemgetter(0))
        return events
    finally:
        if paused:
            gc.enable()


def write_jsonl(
    path: Path,
    candidates: int,
    seed: int,
    until: datetime = DEFAULT_UNTIL,
    *,
    positions: bool = False,
) -> int:
    """Write ``generate(...)`` as JSON Lines (orjson, one object per line); returns the count."""
    count = 0
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    with path.open("wb", buffering=1 << 20) as file:
        lines = generate(candidates, seed, until, positions=positions)
        for count, line in enumerate(lines, start=1):  # noqa: B007
            file.write(dumps(line, option=newline))
    return count
