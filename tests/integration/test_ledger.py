"""The ledger on both stores: recording, duplicates enforced by the store, concurrent writers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from domain.refusals import ConsentWithdrawn, UnknownCandidate
from infra.store.ledger import Duplicate, Ledger, Recorded
from tests.support.builders import NOW, at, tp


def test_a_touchpoint_is_recorded_with_its_position_and_both_times(ledger: Ledger) -> None:
    first = ledger.record(tp("candidate_registered"))
    second = ledger.record(tp("outreach_sent", when=at(days=1)))
    assert isinstance(first, Recorded) and isinstance(second, Recorded)
    assert (first.position, second.position) == (1, 2)
    events = list(ledger.history())
    assert [e.touchpoint.type for e in events] == ["candidate_registered", "outreach_sent"]
    assert events[1].timestamp == NOW  # recorded
    assert events[1].touchpoint.occurred_at.isoformat() == at(days=1)  # happened


def test_the_history_survives_a_restart(ledger: Ledger, open_ledger: Callable[[], Ledger]) -> None:
    ledger.record(tp("candidate_registered"))
    ledger.record(tp("opted_out", when=at(days=1)))
    restarted = open_ledger()
    with pytest.raises(ConsentWithdrawn):
        restarted.record(tp("outreach_sent", when=at(days=2)))
    assert restarted.candidate("C-1").version == 2


def test_no_events_for_an_unknown_candidate(ledger: Ledger) -> None:
    with pytest.raises(UnknownCandidate):
        ledger.record(tp("reply_received", candidate="C-404"))
    assert ledger.position() == 0


def test_a_refused_touchpoint_writes_nothing(ledger: Ledger) -> None:
    ledger.record(tp("candidate_registered"))
    ledger.record(tp("opted_out", when=at(days=1)))
    with pytest.raises(ConsentWithdrawn):
        ledger.record(tp("outreach_sent", when=at(days=2), source_id="crm-9"))
    assert ledger.position() == 2
    assert ledger.recorder.lookup(["src:crm-9"], []).recorded_keys == set()  # type: ignore[attr-defined]


def test_the_same_source_id_twice_is_a_duplicate(ledger: Ledger) -> None:
    ledger.record(tp("candidate_registered", source_id="crm-1"))
    ledger.record(tp("reply_received", when=at(days=1), source_id="crm-2"))
    again = ledger.record(tp("reply_received", when=at(days=1), source_id="crm-2"))
    assert again == Duplicate("src:crm-2")
    assert ledger.position() == 2


def test_the_store_itself_refuses_a_second_copy_of_a_key(ledger: Ledger) -> None:
    """Two writers that both decided before either wrote: the unique key stops the second."""
    ledger.record(tp("candidate_registered"))
    ledger.record(tp("candidate_registered", candidate="C-2"))
    first = ledger.decide([(1, tp("reply_received", when=at(days=1), source_id="crm-7"))])
    second = ledger.decide(
        [(1, tp("reply_received", candidate="C-2", when=at(days=1), source_id="crm-7"))]
    )
    ledger.save(*first.aggregates, touchpoint_keys=first.keys)
    with pytest.raises(IntegrityError):
        ledger.save(*second.aggregates, touchpoint_keys=second.keys)
    assert ledger.position() == 3
    # Through the normal path, the loser learns it was a duplicate.
    assert isinstance(
        ledger.record(tp("reply_received", candidate="C-2", when=at(days=1), source_id="crm-7")),
        Duplicate,
    )


def test_concurrent_writers_to_one_candidate_lose_nothing(
    ledger: Ledger, open_ledger: Callable[[], Ledger]
) -> None:
    ledger.record(tp("candidate_registered"))
    writers = [open_ledger() for _ in range(4)]
    outcomes: list[object] = []
    failures: list[BaseException] = []

    def write(writer: Ledger, worker: int) -> None:
        for i in range(10):
            try:
                outcomes.append(
                    writer.record(
                        tp(
                            "reply_received",
                            when=at(days=1, hours=worker * 10 + i),
                            source_id=f"crm-{worker}-{i}",
                        )
                    )
                )
            except BaseException as failure:
                failures.append(failure)

    threads = [threading.Thread(target=write, args=(w, n)) for n, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert all(isinstance(o, Recorded) for o in outcomes)
    assert len(outcomes) == 40
    candidate = ledger.candidate("C-1")
    assert candidate.version == 41
    positions = sorted(o.position for o in outcomes)  # type: ignore[attr-defined]
    assert len(set(positions)) == 40


def test_a_batch_is_decided_candidate_by_candidate_in_the_order_things_happened(
    ledger: Ledger,
) -> None:
    lines = [
        (1, tp("reply_received", when=at(days=3))),
        (2, tp("outreach_sent", when=at(days=1))),
        (3, tp("candidate_registered", when=at(days=0))),
        (4, tp("candidate_registered", candidate="C-2")),
    ]
    decision = ledger.decide(lines)
    assert decision.refusals == []
    report = ledger.write(decision)
    assert report.events == 4 and report.candidates == 2
    history = [e.touchpoint.type for e in ledger.candidate_events("C-1")]
    assert history == ["candidate_registered", "outreach_sent", "reply_received"]


def test_a_touchpoint_recorded_meanwhile_is_a_duplicate_never_a_refusal(
    open_ledger: Callable[[], Ledger],
) -> None:
    """Another writer records the same touchpoints right after this one read the ledger: the
    decision, made on one snapshot, still holds; the write conflicts, the lines are decided
    again, and they are duplicates. Nothing goes into the refusal log."""
    importer, server = open_ledger(), open_ledger()
    importer.record(tp("candidate_registered"))
    outreach = [
        (n, tp("outreach_sent", when=at(days=n), source_id=f"crm-out-{n}")) for n in (1, 2, 3)
    ]
    application = [(4, tp("application_submitted", when=at(days=4), source_id="crm-app"))]
    lines = outreach + application
    real = importer.ledger_recorder.lookup

    def lookup_then_race(*args: Any) -> Any:
        found = real(*args)
        if importer.position() == 1:  # the first decision only: the server records them all
            for _, touchpoint in lines:
                server.record(touchpoint, source="http")
        return found

    importer.ledger_recorder.lookup = lookup_then_race  # type: ignore[method-assign]
    decision = importer.decide(lines)
    assert decision.refusals == [] and decision.event_count == 4
    report = importer.write(decision)
    assert (report.events, report.duplicates) == (0, 4)
    assert importer.position() == 5
    assert importer.ledger_recorder.refusals() == []
